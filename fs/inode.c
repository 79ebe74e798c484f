/*
 * inode.c - the inode table.
 *
 * The kernel knows files by the numbers this table hands out.  A node is one
 * name the kernel looked up: (parent node, name), with the kind of thing it
 * is.  The store name and key of a node are the names on its way up to the
 * root, so a rename is a change of one node's parent and name and its whole
 * subtree follows.  Two hashes find nodes by number and by (parent, name).
 *
 * Invariants (under fs->mu):
 *  - a node lives while the kernel holds lookups on it (nlookup > 0) or
 *    anything references it (refs: open handles, in-flight operations, and
 *    each child, which references its parent); the root lives always;
 *  - a detached node is out of the name hash (its name was unlinked or now
 *    names another node) but keeps its parent and name, so open handles can
 *    still reach the old key in their own snapshot;
 *  - a hard-linked file is one node whatever name it is looked up by (a
 *    third hash finds it by its link); it is in the name hash under one of
 *    its names at most (unnamed once that name is gone), and its path is its
 *    inode's (names.c), so nothing of it depends on which name it has;
 *  - inode numbers are never reused while the daemon runs.
 */
#include "inode.h"
#include "names.h"
#include "path.h"
#include "sop.h"
#include "types.h"
#include "wgroup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Deepest path: every component at least one byte and a slash. */
#define CHAIN_MAX (SOP_MAX_KEY / 2 + 2)

static size_t hash_ino(const struct fs *fs, fuse_ino_t ino)
{
    return (size_t)(ino * 0x9E3779B97F4A7C15ull) % fs->nbuckets;
}

static size_t hash_name(const struct fs *fs, const struct fs_node *parent, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)parent;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % fs->nbuckets);
}

static size_t hash_link(const struct fs *fs, const uint8_t *link)
{
    uint64_t h;
    memcpy(&h, link, 8);
    return (size_t)(h % fs->nbuckets);
}

static void link_insert(struct fs *fs, struct fs_node *n)
{
    size_t b = hash_link(fs, n->link);
    n->next_link = fs->by_link[b];
    fs->by_link[b] = n;
}

static void link_remove(struct fs *fs, struct fs_node *n)
{
    for (struct fs_node **pp = &fs->by_link[hash_link(fs, n->link)]; *pp; pp = &(*pp)->next_link)
        if (*pp == n) {
            *pp = n->next_link;
            return;
        }
}

static struct fs_node *find_link(struct fs *fs, const uint8_t *link)
{
    for (struct fs_node *n = fs->by_link[hash_link(fs, link)]; n; n = n->next_link)
        if (!memcmp(n->link, link, 16) && !n->detached)
            return n;
    return NULL;
}

static void ino_insert(struct fs *fs, struct fs_node *n)
{
    size_t b = hash_ino(fs, n->ino);
    n->next_ino = fs->by_ino[b];
    fs->by_ino[b] = n;
}

static void name_insert(struct fs *fs, struct fs_node *n)
{
    size_t b = hash_name(fs, n->parent, n->name);
    n->next_name = fs->by_name[b];
    fs->by_name[b] = n;
}

static void ino_remove(struct fs *fs, struct fs_node *n)
{
    for (struct fs_node **pp = &fs->by_ino[hash_ino(fs, n->ino)]; *pp; pp = &(*pp)->next_ino)
        if (*pp == n) {
            *pp = n->next_ino;
            return;
        }
}

static void name_remove(struct fs *fs, struct fs_node *n)
{
    for (struct fs_node **pp = &fs->by_name[hash_name(fs, n->parent, n->name)]; *pp;
         pp = &(*pp)->next_name)
        if (*pp == n) {
            *pp = n->next_name;
            return;
        }
}

/* Grow both hashes when they get crowded; failure to grow is harmless. */
static void maybe_grow(struct fs *fs)
{
    if (fs->nnodes < fs->nbuckets * 2)
        return;
    size_t nb = fs->nbuckets * 4;
    struct fs_node **bi = calloc(nb, sizeof(*bi));
    struct fs_node **bn = calloc(nb, sizeof(*bn));
    struct fs_node **bl = calloc(nb, sizeof(*bl));
    if (!bi || !bn || !bl) {
        free(bi);
        free(bn);
        free(bl);
        return;
    }
    struct fs_node **oi = fs->by_ino, **on = fs->by_name, **ol = fs->by_link;
    size_t ob = fs->nbuckets;
    fs->by_ino = bi;
    fs->by_name = bn;
    fs->by_link = bl;
    fs->nbuckets = nb;
    for (size_t i = 0; i < ob; i++) {
        for (struct fs_node *n = oi[i], *next; n; n = next) {
            next = n->next_ino;
            ino_insert(fs, n);
        }
        for (struct fs_node *n = on[i], *next; n; n = next) {
            next = n->next_name;
            name_insert(fs, n);
        }
        for (struct fs_node *n = ol[i], *next; n; n = next) {
            next = n->next_link;
            link_insert(fs, n);
        }
    }
    free(oi);
    free(on);
    free(ol);
}

static struct fs_node *node_new(struct fs *fs, struct fs_node *parent, const char *name, int kind,
                                uint8_t type)
{
    struct fs_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    if (!(n->name = strdup(name))) {
        free(n);
        return NULL;
    }
    pthread_mutex_init(&n->mu, NULL);
    n->ino = fs->next_ino++;
    n->parent = parent;
    n->kind = kind;
    n->type = type;
    n->gen = 1;
    if (parent)
        parent->refs++;
    ino_insert(fs, n);
    if (parent)
        name_insert(fs, n);
    fs->nnodes++;
    maybe_grow(fs);
    return n;
}

/* Free n if nothing holds it, then its parent if that was its last hold. */
static void maybe_free(struct fs *fs, struct fs_node *n)
{
    while (n && n != fs->root && n->nlookup == 0 && n->refs == 0) {
        struct fs_node *parent = n->parent;
        ino_remove(fs, n);
        if (!n->detached && !n->unnamed)
            name_remove(fs, n);
        if (n->linked)
            link_remove(fs, n);
        fs_wgroup_free_all(n); /* none: writers hold references */
        pthread_mutex_destroy(&n->mu);
        free(n->name);
        free(n);
        fs->nnodes--;
        if (parent)
            parent->refs--;
        n = parent;
    }
}

int fs_nodes_init(struct fs *fs)
{
    fs->nbuckets = 1024;
    fs->by_ino = calloc(fs->nbuckets, sizeof(*fs->by_ino));
    fs->by_name = calloc(fs->nbuckets, sizeof(*fs->by_name));
    fs->by_link = calloc(fs->nbuckets, sizeof(*fs->by_link));
    if (!fs->by_ino || !fs->by_name || !fs->by_link)
        return -ENOMEM;
    fs->next_ino = FUSE_ROOT_ID;
    fs->root = node_new(fs, NULL, "", K_ROOT, FS_T_DIR);
    if (!fs->root)
        return -ENOMEM;
    fs->root->nlookup = 1;
    return 0;
}

void fs_nodes_free(struct fs *fs)
{
    if (fs->by_ino) {
        for (size_t i = 0; i < fs->nbuckets; i++)
            for (struct fs_node *n = fs->by_ino[i], *next; n; n = next) {
                next = n->next_ino;
                fs_wgroup_free_all(n);
                pthread_mutex_destroy(&n->mu);
                free(n->name);
                free(n);
            }
    }
    free(fs->by_ino);
    free(fs->by_name);
    free(fs->by_link);
    fs->by_ino = fs->by_name = fs->by_link = NULL;
    fs->root = NULL;
}

static struct fs_node *find_ino(struct fs *fs, fuse_ino_t ino)
{
    for (struct fs_node *n = fs->by_ino[hash_ino(fs, ino)]; n; n = n->next_ino)
        if (n->ino == ino)
            return n;
    return NULL;
}

static struct fs_node *find_name(struct fs *fs, struct fs_node *parent, const char *name)
{
    for (struct fs_node *n = fs->by_name[hash_name(fs, parent, name)]; n; n = n->next_name)
        if (n->parent == parent && !strcmp(n->name, name))
            return n;
    return NULL;
}

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_ino(fs, ino);
    if (n)
        n->refs++;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

void fs_node_ref(struct fs *fs, struct fs_node *n)
{
    pthread_mutex_lock(&fs->mu);
    n->refs++;
    pthread_mutex_unlock(&fs->mu);
}

void fs_node_put(struct fs *fs, struct fs_node *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&fs->mu);
    n->refs--;
    maybe_free(fs, n);
    pthread_mutex_unlock(&fs->mu);
}

struct fs_node *fs_node_lookup(struct fs *fs, struct fs_node *parent, const char *name, int kind,
                               uint8_t type, const uint8_t *link)
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_name(fs, parent, name);
    if (n && (n->kind != kind || n->type != type || n->linked != (link != NULL) ||
              (link && memcmp(n->link, link, 16)))) {
        name_remove(fs, n); /* the name now maps to another file */
        n->unnamed = true;
        if (!n->linked)
            n->detached = true;
        n = NULL;
    }
    if (!n && link && (n = find_link(fs, link)) != NULL && n->type != type)
        n = NULL; /* cannot happen: one file, one type */
    if (!n && (n = node_new(fs, parent, name, kind, type)) != NULL && link) {
        n->linked = true;
        memcpy(n->link, link, 16);
        link_insert(fs, n);
    }
    if (n)
        n->nlookup++;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

struct fs_node *fs_node_by_link(struct fs *fs, const uint8_t link[16])
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_link(fs, link);
    if (n)
        n->refs++;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

void fs_node_set_link(struct fs *fs, struct fs_node *n, const uint8_t link[16])
{
    pthread_mutex_lock(&fs->mu);
    if (!n->linked) {
        n->linked = true;
        memcpy(n->link, link, 16);
        link_insert(fs, n);
    }
    pthread_mutex_unlock(&fs->mu);
}

void fs_node_unname(struct fs *fs, struct fs_node *parent, const char *name)
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_name(fs, parent, name);
    if (n) {
        name_remove(fs, n);
        n->unnamed = true;
    }
    pthread_mutex_unlock(&fs->mu);
}

void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_ino(fs, ino);
    if (n && n != fs->root) {
        n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
        maybe_free(fs, n);
    }
    pthread_mutex_unlock(&fs->mu);
}

struct fs_node *fs_node_child(struct fs *fs, struct fs_node *parent, const char *name)
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_name(fs, parent, name);
    if (n)
        n->refs++;
    pthread_mutex_unlock(&fs->mu);
    return n;
}

void fs_node_detach(struct fs *fs, struct fs_node *parent, const char *name)
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_name(fs, parent, name);
    if (n) {
        name_remove(fs, n);
        n->unnamed = true;
        n->detached = true;
    }
    pthread_mutex_unlock(&fs->mu);
}

void fs_node_detach_link(struct fs *fs, const uint8_t link[16])
{
    pthread_mutex_lock(&fs->mu);
    struct fs_node *n = find_link(fs, link);
    if (n) {
        if (!n->unnamed)
            name_remove(fs, n);
        n->unnamed = true;
        n->detached = true;
    }
    pthread_mutex_unlock(&fs->mu);
}

int fs_node_move(struct fs *fs, struct fs_node *parent, const char *name, struct fs_node *np,
                 const char *nname)
{
    char *copy = strdup(nname);
    if (!copy)
        return -ENOMEM;
    pthread_mutex_lock(&fs->mu);
    struct fs_node *old = find_name(fs, np, nname);
    if (old) { /* replaced by the rename (a hard-linked file may live on by
                  other names: fs_node_detach_link if it does not) */
        name_remove(fs, old);
        old->unnamed = true;
        if (!old->linked)
            old->detached = true;
    }
    struct fs_node *n = find_name(fs, parent, name);
    if (n) {
        name_remove(fs, n);
        np->refs++;
        struct fs_node *op = n->parent;
        free(n->name);
        n->name = copy;
        copy = NULL;
        n->parent = np;
        name_insert(fs, n);
        op->refs--;
        maybe_free(fs, op);
    }
    pthread_mutex_unlock(&fs->mu);
    free(copy);
    return 0;
}

int fs_node_path(struct fs *fs, struct fs_node *n, struct fs_path *p)
{
    const struct fs_node *chain[CHAIN_MAX];
    size_t depth = 0, klen = 0;
    int rc = 0;

    memset(p, 0, sizeof(*p));
    pthread_mutex_lock(&fs->mu);
    if (fs_kind_ctl(n->kind))
        n = n->parent;
    /* up to the store, or to the nearest directory made deep (names.c: its
     * base starts the key of everything below it) */
    const struct fs_node *based = NULL;
    for (const struct fs_node *x = n; x && x->kind != K_ROOT; x = x->parent) {
        if (depth == sizeof(chain) / sizeof(chain[0])) {
            rc = -ENAMETOOLONG;
            goto out;
        }
        chain[depth++] = x;
        if (!based && x->linked && x->type == FS_T_DIR && x->kind == K_ENTRY)
            based = x;
    }
    if (depth == 0) /* the root */
        goto out;
    const char *store = chain[depth - 1]->name;
    if (n->linked && n->kind == K_ENTRY && n->type != FS_T_DIR) { /* a hard-linked file */
        char *sc = strdup(store);
        pthread_mutex_unlock(&fs->mu);
        rc = sc ? fs_ns_inode_path(sc, n->link, p) : -ENOMEM;
        free(sc);
        return rc;
    }
    if (based) {
        /* names below the base, then the base's path in front of them */
        size_t below = 0;
        while (chain[below] != based)
            below++;
        char *sc = strdup(store);
        struct fs_path bp = {0};
        uint8_t base[16];
        memcpy(base, based->link, 16);
        size_t nl = 0;
        for (size_t i = 0; i < below; i++)
            nl += strlen(chain[i]->name) + 1;
        char *tail = malloc(nl + 1), *w = tail;
        for (size_t i = below; tail && i-- > 0;) {
            size_t l = strlen(chain[i]->name);
            *w++ = '/';
            memcpy(w, chain[i]->name, l);
            w += l;
        }
        if (tail)
            *w = '\0';
        pthread_mutex_unlock(&fs->mu);
        rc = sc && tail ? fs_ns_base_path(sc, base, &bp) : -ENOMEM;
        free(sc);
        if (rc == 0 && bp.klen + nl > FS_MAX_KEY)
            rc = -ENAMETOOLONG;
        if (rc == 0) {
            char *k = realloc(bp.key, bp.klen + nl + 1);
            if (!k) {
                rc = -ENOMEM;
            } else {
                memcpy(k + bp.klen, tail, nl + 1);
                bp.key = k;
                bp.klen += nl;
                *p = bp;
                bp.store = bp.key = NULL;
            }
        }
        free(tail);
        fs_path_free(&bp);
        return rc;
    }
    /* chain[depth-1] is the store; the rest are key components */
    for (size_t i = depth - 1; i-- > 0;)
        klen += strlen(chain[i]->name) + (klen ? 1 : 0);
    if (klen > FS_MAX_KEY) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    p->store = strdup(chain[depth - 1]->name);
    p->key = malloc(klen + 1);
    if (!p->store || !p->key) {
        rc = -ENOMEM;
        goto out;
    }
    size_t at = 0;
    for (size_t i = depth - 1; i-- > 0;) {
        size_t l = strlen(chain[i]->name);
        if (at)
            p->key[at++] = '/';
        memcpy(p->key + at, chain[i]->name, l);
        at += l;
    }
    p->key[at] = '\0';
    p->klen = at;
out:
    pthread_mutex_unlock(&fs->mu);
    if (rc)
        fs_path_free(p);
    return rc;
}

/* Is n (not the root) at or below the store/key path p?  Under fs->mu. */
static bool node_under(struct fs_node *n, const struct fs_path *p, const struct fs_node **chain)
{
    size_t depth = 0;
    for (const struct fs_node *x = n; x && x->kind != K_ROOT; x = x->parent) {
        if (fs_kind_ctl(x->kind))
            continue;
        if (depth == CHAIN_MAX)
            return false;
        chain[depth++] = x;
    }
    if (!p->store)
        return true;
    if (depth == 0 || strcmp(chain[depth - 1]->name, p->store))
        return false;
    /* compare the key components with p->key */
    const char *k = p->key;
    size_t left = p->klen;
    size_t i = depth - 1;
    while (left > 0) {
        if (i == 0)
            return false; /* n is above p */
        i--;
        size_t l = strlen(chain[i]->name);
        if (l > left || memcmp(k, chain[i]->name, l) || (l < left && k[l] != '/'))
            return false;
        k += l;
        left -= l;
        if (left) {
            k++;
            left--;
        }
    }
    return true;
}

void fs_nodes_under(struct fs *fs, const struct fs_path *p,
                    void (*fn)(struct fs *, struct fs_node *, void *), void *arg)
{
    const struct fs_node **chain = malloc(CHAIN_MAX * sizeof(*chain));
    if (!chain)
        return;
    pthread_mutex_lock(&fs->mu);
    for (size_t i = 0; i < fs->nbuckets; i++)
        for (struct fs_node *n = fs->by_ino[i]; n; n = n->next_ino)
            if (n != fs->root && node_under(n, p, chain))
                fn(fs, n, arg);
    pthread_mutex_unlock(&fs->mu);
    free(chain);
}
