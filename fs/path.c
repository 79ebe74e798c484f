/*
 * path.c - paths (store, key): copied, extended by a name, compared.
 *
 * Calls nothing of the layer; path.h says what a path is and who owns its
 * strings.  Invariants: store NULL is the root, whose key is never looked
 * at; otherwise key holds klen bytes and a NUL ("" for the store itself),
 * and fs_path_child never makes one longer than FS_MAX_KEY.
 */
#include "path.h"
#include "sop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fs_path_free(struct fs_path *p)
{
    if (!p)
        return;
    free(p->store);
    free(p->key);
    p->store = p->key = NULL;
    p->klen = 0;
}

int fs_path_copy(const struct fs_path *p, struct fs_path *out)
{
    memset(out, 0, sizeof(*out));
    if (!p->store)
        return 0;
    out->store = strdup(p->store);
    out->key = malloc(p->klen + 1);
    if (!out->store || !out->key) {
        fs_path_free(out);
        return -ENOMEM;
    }
    memcpy(out->key, p->key, p->klen + 1);
    out->klen = p->klen;
    return 0;
}

int fs_path_child(const struct fs_path *dir, const char *name, struct fs_path *out)
{
    size_t nl = strlen(name);
    memset(out, 0, sizeof(*out));
    if (!dir->store) {
        if (nl > SOP_MAX_STORE_NAME)
            return -ENAMETOOLONG;
        out->store = strdup(name);
        out->key = strdup("");
        if (!out->store || !out->key) {
            fs_path_free(out);
            return -ENOMEM;
        }
        return 0;
    }
    size_t kl = dir->klen + (dir->klen ? 1 : 0) + nl;
    if (kl > FS_MAX_KEY)
        return -ENAMETOOLONG;
    out->store = strdup(dir->store);
    out->key = malloc(kl + 1);
    if (!out->store || !out->key) {
        fs_path_free(out);
        return -ENOMEM;
    }
    memcpy(out->key, dir->key, dir->klen);
    size_t at = dir->klen;
    if (at)
        out->key[at++] = '/';
    memcpy(out->key + at, name, nl + 1);
    out->klen = kl;
    return 0;
}

bool fs_path_equal(const struct fs_path *a, const struct fs_path *b)
{
    if (!a->store || !b->store)
        return !a->store && !b->store;
    return !strcmp(a->store, b->store) && a->klen == b->klen && !memcmp(a->key, b->key, a->klen);
}

bool fs_path_under(const struct fs_path *p, const struct fs_path *dir)
{
    if (!dir->store)
        return true;
    if (!p->store || strcmp(p->store, dir->store))
        return false;
    if (dir->klen == 0)
        return true;
    return p->klen >= dir->klen && !memcmp(p->key, dir->key, dir->klen) &&
           (p->klen == dir->klen || p->key[dir->klen] == '/');
}
