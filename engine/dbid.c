/*
 * dbid.c - DATA/id, the database's UUID (see dbid.h).
 */
#include "dbid.h"

#include "corrupt.h"
#include "sop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#define DBID_TAG "sop database id "

static int read_id(const struct os_ops *os, const char *p, char out[DBID_LEN + 1], char *why,
                   size_t whylen)
{
    char buf[128] = {0};
    int fd = os->open(os, p, O_RDONLY, 0);
    if (fd < 0) {
        if (fd != -ENOENT)
            snprintf(why, whylen, "read %s: %s", p, strerror(-fd));
        return fd == -ENOENT ? SOP_ENOTFOUND : os_err(fd);
    }
    ssize_t n = os->pread(os, fd, buf, sizeof(buf) - 1, 0);
    os->close(os, fd);
    if (n < 0) {
        snprintf(why, whylen, "read %s: %s", p, strerror((int)-n));
        return os_err((int)n);
    }
    size_t tag = strlen(DBID_TAG);
    uuid_t u;
    char id[DBID_LEN + 1];
    if ((size_t)n != tag + DBID_LEN + 1 || memcmp(buf, DBID_TAG, tag) != 0 ||
        buf[tag + DBID_LEN] != '\n') {
        snprintf(why, whylen, "%s does not hold a database id (\"%s<uuid>\")", p, DBID_TAG);
        return SOP_CORRUPT("dbid: the id file is not \"" DBID_TAG "<uuid>\\n\"");
    }
    memcpy(id, buf + tag, DBID_LEN);
    id[DBID_LEN] = 0;
    if (uuid_parse(id, u) != 0) {
        snprintf(why, whylen, "%s: \"%s\" is not a UUID", p, id);
        return SOP_CORRUPT("dbid: the id is not a UUID");
    }
    memcpy(out, id, DBID_LEN + 1);
    return 0;
}

static int write_id(const struct os_ops *os, const char *dir, const char *p, char *why,
                    size_t whylen)
{
    char text[sizeof(DBID_TAG) + DBID_LEN + 1];
    uuid_t u;
    char id[DBID_LEN + 1], tag[9];
    uuid_generate_random(u);
    uuid_unparse_lower(u, id);
    snprintf(text, sizeof(text), "%s%s\n", DBID_TAG, id);
    snprintf(tag, sizeof(tag), "%.8s", id);
    /* two members of a new clustered database making it at once agree on
     * the first one's */
    int r = os_make_once(os, dir, "id", text, tag);
    if (r < 0) {
        snprintf(why, whylen, "write %s: %s", p, strerror(-r));
        return os_err(r);
    }
    return 0;
}

int dbid_load(const struct os_ops *os, const char *dir, bool make, char out[DBID_LEN + 1],
              char *why, size_t whylen)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/id", dir);
    why[0] = 0;
    int rc = read_id(os, p, out, why, whylen);
    if (rc != SOP_ENOTFOUND || !make)
        return rc;
    if ((rc = write_id(os, dir, p, why, whylen)) != 0)
        return rc;
    return read_id(os, p, out, why, whylen);
}
