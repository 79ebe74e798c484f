/*
 * xattr.c - store options as extended attributes of a store's directory.
 *
 *   user.sop.slot_length    items per node, 4..65535            (empty store only)
 *   user.sop.unique         1/0 (also true/false, yes/no, on/off) (empty store only)
 *   user.sop.value_in_node  1/0                                  (empty store only)
 *   user.sop.chunk_size     bytes, 4 KiB..64 MiB (k/m suffixes)  (empty store only)
 *   user.sop.kind           records, search or vector
 *   user.sop.description    free text
 *   user.sop.relations      JSON text ("" clears it)
 *   user.sop.count          number of items, read-only
 *
 * Values read back as text without a trailing newline.  The engine answers
 * EBUSY for options that cannot change once the store holds items, EINVAL
 * for values out of range; a malformed value is refused here (EINVAL)
 * before the engine sees it.  Each change is one transaction (tx.c).
 * Other nodes have no extended attributes: reads answer ENODATA, writes
 * ENOTSUP, as a filesystem without xattr support does (cp -a and rsync -X
 * then go on without them).  The FUSE operations (fs_op_*xattr, at the
 * end) treat the control files the same way; listing theirs gives nothing.
 */
#include "xattr.h"
#include "errors.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "sop.h"
#include "tx.h"
#include "types.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <syslog.h>

enum { X_SLOT, X_UNIQUE, X_VIN, X_CHUNK, X_KIND, X_DESC, X_REL, X_COUNT, X_N };

static const char *const xnames[X_N] = {
    "user.sop.slot_length", "user.sop.unique",      "user.sop.value_in_node", "user.sop.chunk_size",
    "user.sop.kind",        "user.sop.description", "user.sop.relations",     "user.sop.count",
};

static int xattr_index(const char *name)
{
    for (int i = 0; i < X_N; i++)
        if (!strcmp(name, xnames[i]))
            return i;
    return -1;
}

/* ------------------------------------------------------------ parsing */

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    if (*end == 'k' || *end == 'K') {
        v <<= 10;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v <<= 20;
        end++;
    }
    if (*end || v == 0 || v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

/* A small JSON syntax check (RFC 8259), so relations hold valid JSON. */
struct json {
    const char *p, *end;
    int depth;
};

static void json_ws(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool json_lit(struct json *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
        return false;
    j->p += n;
    return true;
}

static bool json_string(struct json *j)
{
    if (j->p >= j->end || *j->p != '"')
        return false;
    for (j->p++; j->p < j->end; j->p++) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++j->p >= j->end)
                return false;
            if (*j->p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p))
                        return false;
            } else if (!strchr("\"\\/bfnrt", *j->p)) {
                return false;
            }
        }
    }
    return false;
}

static bool json_number(struct json *j)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return false;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    } else {
        return false;
    }
    if (j->p < j->end && *j->p == '.') {
        const char *d = ++j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == d)
            return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        const char *d = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == d)
            return false;
    }
    return j->p > s;
}

static bool json_value(struct json *j)
{
    json_ws(j);
    if (j->p >= j->end || ++j->depth > 64)
        return false;
    bool ok;
    char c = *j->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        json_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            ok = true;
        } else {
            for (ok = false;;) {
                if (c == '{') {
                    json_ws(j);
                    if (!json_string(j))
                        break;
                    json_ws(j);
                    if (j->p >= j->end || *j->p++ != ':')
                        break;
                }
                if (!json_value(j))
                    break;
                json_ws(j);
                if (j->p < j->end && *j->p == ',') {
                    j->p++;
                    continue;
                }
                ok = j->p < j->end && *j->p++ == close;
                break;
            }
        }
    } else if (c == '"') {
        ok = json_string(j);
    } else if (c == 't') {
        ok = json_lit(j, "true");
    } else if (c == 'f') {
        ok = json_lit(j, "false");
    } else if (c == 'n') {
        ok = json_lit(j, "null");
    } else {
        ok = json_number(j);
    }
    j->depth--;
    return ok;
}

static bool json_valid(const char *s, size_t n)
{
    struct json j = {.p = s, .end = s + n, .depth = 0};
    if (!json_value(&j))
        return false;
    json_ws(&j);
    return j.p == j.end;
}

/* ------------------------------------------------------------ get */

struct xget {
    const struct fs_path *p;
    int which;
    char *val;
    size_t len;
};

static int xget_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct xget *x = arg;
    sop_store *s;
    sop_store_info info;
    uint64_t count;
    char num[32];
    const char *v = num;
    int rc = fs_ns_open_store(fs, tx->t, x->p->store, &s);
    if (rc)
        return rc;
    if ((rc = sop_store_get_info(s, &info)) != 0)
        return fs_sop_err(fs, tx->t, rc, "store info");
    switch (x->which) {
    case X_SLOT:
        snprintf(num, sizeof(num), "%u", info.options.slot_length);
        break;
    case X_UNIQUE:
        snprintf(num, sizeof(num), "%d", info.options.unique ? 1 : 0);
        break;
    case X_VIN:
        snprintf(num, sizeof(num), "%d", info.options.value_in_node ? 1 : 0);
        break;
    case X_CHUNK:
        snprintf(num, sizeof(num), "%u", info.options.chunk_size);
        break;
    case X_KIND:
        v = info.options.kind && *info.options.kind ? info.options.kind : "records";
        break;
    case X_DESC:
        v = info.options.description ? info.options.description : "";
        break;
    case X_REL:
        v = info.options.relations ? info.options.relations : "";
        break;
    default:
        if ((rc = sop_store_count(s, &count)) != 0)
            return fs_sop_err(fs, tx->t, rc, "store count");
        snprintf(num, sizeof(num), "%llu", (unsigned long long)count);
        break;
    }
    free(x->val);
    x->len = strlen(v);
    if (!(x->val = malloc(x->len + 1)))
        return -ENOMEM;
    memcpy(x->val, v, x->len + 1);
    return 0;
}

int fs_xattr_get(struct fs *fs, const struct fs_path *p, const char *name, char **val, size_t *len)
{
    int which = xattr_index(name);
    if (!p->store || p->klen || which < 0)
        return -ENODATA;
    struct xget x = {.p = p, .which = which, .val = NULL, .len = 0};
    int rc = fs_run(fs, p, NULL, false, xget_fn, &x);
    if (rc) {
        free(x.val);
        return rc;
    }
    *val = x.val;
    *len = x.len;
    return 0;
}

int fs_xattr_list(struct fs *fs, const struct fs_path *p, char **list, size_t *len)
{
    size_t n = 0;
    (void)fs; /* the options are the same for every store */
    *list = NULL;
    *len = 0;
    if (!p->store || p->klen)
        return 0;
    for (int i = 0; i < X_N; i++)
        n += strlen(xnames[i]) + 1;
    char *buf = malloc(n);
    if (!buf)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < X_N; i++) {
        size_t l = strlen(xnames[i]) + 1;
        memcpy(buf + at, xnames[i], l);
        at += l;
    }
    *list = buf;
    *len = n;
    return 0;
}

/* ------------------------------------------------------------ set */

struct xset {
    const struct fs_path *p;
    int which;
    const char *text; /* NUL-terminated, trimmed for non-text options */
    uint32_t num;
    bool flag;
};

static int xset_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct xset *x = arg;
    sop_store *s;
    sop_store_info info;
    sop_store_options o;
    char *desc = NULL, *rel = NULL, *kind = NULL;
    int rc = fs_ns_open_store(fs, tx->t, x->p->store, &s);
    if (rc)
        return rc;
    if ((rc = sop_store_get_info(s, &info)) != 0)
        return fs_sop_err(fs, tx->t, rc, "store info");
    /* every field given with its current value: the strings are copied,
     * they die with the next change of the transaction */
    o = info.options;
    o.alter_flags = SOP_ALTER_UNIQUE | SOP_ALTER_VALUE_IN_NODE; /* the bools as given */
    desc = strdup(info.options.description ? info.options.description : "");
    rel = strdup(info.options.relations ? info.options.relations : "");
    kind = strdup(info.options.kind && *info.options.kind ? info.options.kind : "records");
    if (!desc || !rel || !kind) {
        rc = -ENOMEM;
        goto out;
    }
    o.description = desc;
    o.relations = rel;
    o.kind = kind;
    switch (x->which) {
    case X_SLOT:
        o.slot_length = x->num;
        break;
    case X_UNIQUE:
        o.unique = x->flag;
        break;
    case X_VIN:
        o.value_in_node = x->flag;
        break;
    case X_CHUNK:
        o.chunk_size = x->num;
        break;
    case X_KIND:
        o.kind = x->text;
        break;
    case X_DESC:
        o.description = x->text;
        break;
    default:
        o.relations = x->text;
        break;
    }
    rc = sop_store_alter(s, &o);
    if (rc)
        rc = fs_sop_err(fs, tx->t, rc, "set store option");
out:
    free(desc);
    free(rel);
    free(kind);
    return rc;
}

int fs_xattr_set(struct fs *fs, const struct fs_path *p, const char *name, const char *val,
                 size_t len, int flags)
{
    int which = xattr_index(name);
    if (!p->store || p->klen || which < 0)
        return -ENOTSUP;
    if (which == X_COUNT)
        return -EPERM;
    if (flags & XATTR_CREATE)
        return -EEXIST; /* every option always exists */
    while (len && val[len - 1] == '\0')
        len--;
    if (memchr(val, '\0', len))
        return -EINVAL;
    char *text = malloc(len + 1);
    if (!text)
        return -ENOMEM;
    memcpy(text, val, len);
    text[len] = '\0';
    struct xset x = {.p = p, .which = which, .text = text};
    int rc = 0;
    if (which != X_DESC && which != X_REL) { /* trim blanks around a word */
        char *s = text, *e = text + len;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            e--;
        *e = '\0';
        x.text = s;
    }
    switch (which) {
    case X_SLOT:
    case X_CHUNK:
        rc = parse_u32(x.text, &x.num);
        break;
    case X_UNIQUE:
    case X_VIN:
        rc = parse_bool(x.text, &x.flag);
        break;
    case X_KIND:
        if (strcmp(x.text, "records") && strcmp(x.text, "search") && strcmp(x.text, "vector"))
            rc = -EINVAL;
        break;
    case X_REL:
        if (len && !json_valid(text, len))
            rc = -EINVAL;
        break;
    default:
        break;
    }
    if (rc == 0)
        rc = fs_run(fs, p, NULL, true, xset_fn, &x);
    free(text);
    return rc;
}

int fs_xattr_remove(struct fs *fs, const struct fs_path *p, const char *name)
{
    int which = xattr_index(name);
    if (!p->store || p->klen || which < 0)
        return -ENODATA;
    if (which == X_DESC || which == X_REL)
        return fs_xattr_set(fs, p, name, "", 0, 0);
    return -EPERM;
}

/* ------------------------------------------------------------ operations */

static int node_path_of(struct fs *fs, fuse_ino_t ino, struct fs_path *p)
{
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n)
        return -ENOENT;
    int rc = fs_kind_ctl(n->kind) ? -ENODATA : fs_node_path(fs, n, p);
    fs_node_put(fs, n);
    return rc;
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    int rc = node_path_of(fs, ino, &p);
    if (rc == -ENODATA)
        rc = -ENOTSUP;
    if (rc == 0)
        rc = fs_xattr_set(fs, &p, name, value, size, flags);
    fs_log(LOG_DEBUG, "setxattr %llu %s: %s", (unsigned long long)ino, name,
           rc ? strerror(-rc) : "ok");
    fs_path_free(&p);
    fuse_reply_err(req, -rc);
}

static void reply_xattr(fuse_req_t req, int rc, const char *val, size_t len, size_t size)
{
    if (rc)
        fuse_reply_err(req, -rc);
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else if (len > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, val, len);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    char *val = NULL;
    size_t len = 0;
    int rc = node_path_of(fs, ino, &p);
    if (rc == 0)
        rc = fs_xattr_get(fs, &p, name, &val, &len);
    reply_xattr(req, rc, val, len, size);
    free(val);
    fs_path_free(&p);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    char *val = NULL;
    size_t len = 0;
    int rc = node_path_of(fs, ino, &p);
    if (rc == -ENODATA)
        rc = 0;
    else if (rc == 0)
        rc = fs_xattr_list(fs, &p, &val, &len);
    reply_xattr(req, rc, val, len, size);
    free(val);
    fs_path_free(&p);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    int rc = node_path_of(fs, ino, &p);
    if (rc == 0)
        rc = fs_xattr_remove(fs, &p, name);
    fs_path_free(&p);
    fuse_reply_err(req, -rc);
}
