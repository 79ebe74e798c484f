/*
 * names.c - the namespace: how a tree of files is laid out in sop stores.
 *
 * Data (DESIGN.md section 3).  The root lists the stores.  In store S, the
 * file "a/b/c" is the item with key "a/b/c" and its value is the file's
 * content, byte for byte; a symbolic link is an item whose value is its
 * target.  Nothing else is kept in a user's store, so the C API, the `sop`
 * tool and search/vector stores see exactly the bytes that were written,
 * and user.sop.count counts files.
 *
 * Metadata lives in the store ".sopfs" (hidden: names starting with ".sop"
 * are reserved), one record per entry, keyed so that an entry's record and
 * the records of its whole subtree form one key range:
 *
 *     "/"        the mount root
 *     "S"        store S, the directory (store names hold no '/')
 *     "S/a/b"    file or symbolic link a/b of store S
 *     "S/a/b/"   directory a/b of store S (a trailing '/')
 *
 * Record value, little-endian, 56 bytes (records of 40, written before the
 * last two fields existed, read with those zero; longer values are read,
 * the tail ignored, so fields can be added):
 *
 *     offset size meaning
 *     0      1    format version, 1
 *     1      1    type: 1 file, 2 directory, 3 symbolic link, 4 FIFO,
 *                 5 socket, 6 character device, 7 block device
 *     2      1    flags: bit 0, a directory's subdirectories are counted
 *     3      1    reserved, 0
 *     4      4    permission bits (07777)
 *     8      4    uid
 *     12     4    gid
 *     16     8    atime, ns since the epoch (signed)
 *     24     8    mtime
 *     32     8    ctime
 *     40     8    device number (character and block devices)
 *     48     8    directories: number of subdirectories (signed), valid
 *                 when flag bit 0 is set: st_nlink is then 2 + it; a
 *                 hard-linked file's inode record: its number of names
 *     56     16   flag bit 1 (a name of a hard-linked file): its link;
 *                 flag bit 2 (a directory made deep): its base
 *
 * Hard links.  A file that gets a second name (link(2)) moves its value and
 * record to its inode: the item ".sop-inodes/LINK" of its store (a reserved
 * name: never listed) and that key's record, which counts its names.  Each
 * name is then an empty item with a record of flag bit 1 and the link; its
 * other fields are those of the file when it was linked, and unused.
 * Everything about the file (bytes, mode, owner, times) is the inode's, so
 * every name shows the same; unlink takes one from the count and removes
 * the inode with the last.  Hard links stay in their store: a link or a
 * rename to another store answers EXDEV.  Through the C API, the bytes of
 * such a file are at ".sop-inodes/LINK", each name an empty value.
 *
 * Depth.  A key is the whole path inside its store, and keys are at most
 * SOP_MAX_KEY bytes; a tree must be as deep as programs make it (one may
 * chdir deep and create PATH_MAX-long paths from there).  So a directory
 * made where its key would pass FS_REBASE_AT bytes is made at a base of its
 * own: its record and everything below it are under ".sop-d/BASE" of the
 * store (a reserved name), and its name is a record saying where (flag bit
 * 2 and the base).  Paths below it are short again, and so on down.  A
 * rename moves the name only; the base stays where it is.  A directory
 * holding a hard-linked file or a base cannot move to another store
 * (EXDEV).  Through the C API, such a subtree's keys start ".sop-d/BASE/".
 *
 * A special file (FIFO, socket, device) is an empty item with its record,
 * as a symbolic link is an item holding its target.  A directory's record
 * is updated by merges (sop_merge: fs_ns_dir_touch) whenever an entry is
 * made, removed or renamed in it: its mtime and ctime become the latest of
 * the merged times and its count of subdirectories the sum, so parallel
 * creates in one directory do not conflict on its record.  Directories
 * made by mkdir count their subdirectories; a directory that exists
 * through keys written with the C API gets a record at the first change in
 * it, with the subdirectories uncounted (st_nlink 1, as btrfs says for
 * "unknown"), since keys below it may make subdirectories sopfs never saw.
 *
 * A directory exists when its record does (mkdir) or when any key lies below
 * it (records written through the C API, "x/y" with no metadata); an entry
 * without a record gets defaults: 0644 files, 0755 directories, owned by
 * the mount's user, times of the store.  A file record without its item (a
 * store dropped and re-created through the API) is ignored.
 *
 * Order.  Keys sort by memcmp, so a child named x sorts as "x" when it is a
 * file and as "x/" when it is a directory (all its keys start so); this
 * "sort key" is what readdir resumes after.  Listing a directory merges two
 * cursor walks, over its data keys and over its metadata keys, each jumping
 * over a child directory's subtree with one seek (to "x0", '0' being the
 * byte after '/'): a listing costs a seek per child, not per key below.
 *
 * Every function takes the transaction it works in and returns 0 or -errno.
 */
#include "names.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "path.h"
#include "sop.h"
#include "types.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define META_LEN 72
/* Where hard-linked files' inodes are, in their store (a reserved name). */
#define FS_INODES ".sop-inodes/"
#define META_LEN_V0 40 /* records written before rdev and subdirs */
#define META_COUNTED 1u
#define META_LINKED 2u
#define META_BASED 4u /* a directory made deep: the link is its base */
#define FS_BASES ".sop-d/"
#define META_LEN_V1 56 /* ... and before links */
#define META_VERSION 1

bool fs_name_reserved(const char *name, size_t len, bool root)
{
    if (len < 4 || memcmp(name, ".sop", 4))
        return false;
    if (root)
        return true;
    if (len == 4)
        return true;
    if (name[4] != '-')
        return false;
    for (size_t i = 5; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-'))
            return false;
    return true;
}

int fs_name_check(const char *name, bool root)
{
    size_t n = strlen(name);
    if (n == 0)
        return -EINVAL;
    if (n > FS_MAX_NAME)
        return -ENAMETOOLONG;
    if (fs_name_reserved(name, n, root))
        return -EPERM;
    return 0;
}

/* ------------------------------------------------------------ records */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void meta_encode(const struct fs_meta *m, uint8_t out[META_LEN])
{
    memset(out, 0, META_LEN);
    out[0] = META_VERSION;
    out[1] = m->type;
    out[2] = (m->counted ? META_COUNTED : 0) |
             (m->linked ? (m->type == FS_T_DIR ? META_BASED : META_LINKED) : 0);
    put32(out + 4, m->mode & 07777);
    put32(out + 8, m->uid);
    put32(out + 12, m->gid);
    put64(out + 16, (uint64_t)m->atime_ns);
    put64(out + 24, (uint64_t)m->mtime_ns);
    put64(out + 32, (uint64_t)m->ctime_ns);
    put64(out + 40, m->rdev);
    put64(out + 48, (uint64_t)m->subdirs);
    if (m->linked)
        memcpy(out + 56, m->link, 16);
}

static int meta_decode(const void *v, size_t vl, struct fs_meta *m)
{
    const uint8_t *p = v;
    if (vl < META_LEN_V0 || p[0] != META_VERSION || p[1] < FS_T_FILE || p[1] > FS_T_MAX)
        return -EBADMSG;
    memset(m, 0, sizeof(*m));
    m->type = p[1];
    m->mode = get32(p + 4) & 07777;
    m->uid = get32(p + 8);
    m->gid = get32(p + 12);
    m->atime_ns = (int64_t)get64(p + 16);
    m->mtime_ns = (int64_t)get64(p + 24);
    m->ctime_ns = (int64_t)get64(p + 32);
    if (vl >= META_LEN_V1) {
        m->rdev = get64(p + 40);
        m->subdirs = (int64_t)get64(p + 48);
        m->counted = (p[2] & META_COUNTED) && m->subdirs >= 0;
    }
    if (vl >= META_LEN && (p[2] & (m->type == FS_T_DIR ? META_BASED : META_LINKED))) {
        m->linked = true;
        memcpy(m->link, p + 56, 16);
    }
    return 0;
}

void fs_meta_default(const struct fs *fs, uint8_t type, struct fs_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->mode = type == FS_T_DIR ? 0755 : type == FS_T_LINK ? 0777 : 0644;
    m->counted = false;
    m->uid = (uint32_t)fs->uid;
    m->gid = (uint32_t)fs->gid;
    m->atime_ns = m->mtime_ns = m->ctime_ns = fs->start_ns;
}

/* The metadata key of p taken as `type` (see the table above); malloc'd. */
static char *meta_key(const struct fs_path *p, uint8_t type, size_t *len)
{
    if (!p->store) {
        *len = 1;
        return strdup("/");
    }
    size_t sl = strlen(p->store);
    if (p->klen == 0) {
        *len = sl;
        return strdup(p->store);
    }
    size_t l = sl + 1 + p->klen + (type == FS_T_DIR ? 1 : 0);
    char *k = malloc(l + 1);
    if (!k)
        return NULL;
    memcpy(k, p->store, sl);
    k[sl] = '/';
    memcpy(k + sl + 1, p->key, p->klen);
    if (type == FS_T_DIR)
        k[l - 1] = '/';
    k[l] = '\0';
    *len = l;
    return k;
}

int fs_ns_open_store(struct fs *fs, sop_txn *t, const char *name, sop_store **s)
{
    int rc = sop_store_open(t, name, s);
    return rc ? fs_sop_err(fs, t, rc, name) : 0;
}

/*
 * Damaged metadata stays local: a record of ".sopfs" that does not read
 * (SOP_ECORRUPT: a bad sector, a flipped byte) is taken as absent, so the
 * entries it described show the defaults and their data stays reachable,
 * and a listing whose metadata walk hits damage lists the data keys alone.
 * Only changes that must rewrite the damaged part fail (EIO).  It is said
 * in the log, at most once every ten seconds; `sop check` tells what and
 * where, `sop check --repair` salvages.
 */
static void meta_damaged(struct fs *fs, sop_txn *t, const char *what)
{
    static uint64_t last_ns, quiet;
    int64_t now = fs_now_ns();
    if (last_ns && (uint64_t)now - __atomic_load_n(&last_ns, __ATOMIC_RELAXED) < 10000000000ull) {
        __atomic_fetch_add(&quiet, 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_store_n(&last_ns, (uint64_t)now, __ATOMIC_RELAXED);
    FS_STAT_ADD(fs, errors, 1);
    fs_log(LOG_ERR,
           "%s: the metadata store %s is damaged (%s); the entries it describes show "
           "default attributes until it is repaired (sop check); %llu more such reads since "
           "the last message",
           what, FS_META_STORE, sop_txn_errmsg(t),
           (unsigned long long)__atomic_exchange_n(&quiet, 0, __ATOMIC_RELAXED));
}

static int meta_get(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type,
                    struct fs_meta *m)
{
    sop_store *ms;
    size_t kl;
    const void *v;
    size_t vl;
    int rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms);
    if (rc)
        return rc;
    char *k = meta_key(p, type, &kl);
    if (!k)
        return -ENOMEM;
    rc = sop_get(ms, k, kl, &v, &vl);
    if (rc == 0) {
        rc = meta_decode(v, vl, m);
        if (rc)
            fs_log(LOG_WARNING, "metadata record '%s' is malformed; using defaults", k);
    } else if (rc == SOP_ECORRUPT) {
        meta_damaged(fs, t, "read metadata");
        rc = -ENOENT;
    } else {
        rc = fs_sop_err(fs, t, rc, "read metadata");
    }
    free(k);
    return rc;
}

int fs_ns_meta_put(struct fs *fs, sop_txn *t, const struct fs_path *p, const struct fs_meta *m)
{
    sop_store *ms;
    size_t kl;
    uint8_t v[META_LEN];
    int rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms);
    if (rc)
        return rc;
    char *k = meta_key(p, m->type, &kl);
    if (!k)
        return -ENOMEM;
    meta_encode(m, v);
    rc = sop_upsert(ms, k, kl, v, sizeof(v));
    free(k);
    return rc ? fs_sop_err(fs, t, rc, "write metadata") : 0;
}

int fs_ns_meta_del(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type)
{
    sop_store *ms;
    size_t kl;
    int rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms);
    if (rc)
        return rc;
    char *k = meta_key(p, type, &kl);
    if (!k)
        return -ENOMEM;
    rc = sop_remove(ms, k, kl);
    free(k);
    if (rc == SOP_ENOTFOUND)
        return -ENOENT;
    return rc ? fs_sop_err(fs, t, rc, "remove metadata") : 0;
}

/* The merge of a directory record (fs_ns_dir_touch): upd is the record to
 * make when there is none (a directory that exists through keys below it,
 * subdirectories uncounted), then the signed change of the count. */
static int dir_merge(const void *cur, size_t cl, const void *upd, size_t ul, void *out, size_t cap,
                     size_t *ol, void *arg)
{
    struct fs_meta now, m;
    (void)arg;
    if (ul != META_LEN + 8 || cap < META_LEN || meta_decode(upd, META_LEN, &now) != 0)
        return SOP_EINVAL;
    int64_t dsub = (int64_t)get64((const uint8_t *)upd + META_LEN);
    if (!cur || meta_decode(cur, cl, &m) != 0 || m.type != FS_T_DIR) {
        m = now; /* no record yet, or a damaged one: made anew */
    } else {
        if (now.mtime_ns > m.mtime_ns)
            m.mtime_ns = now.mtime_ns;
        if (now.ctime_ns > m.ctime_ns)
            m.ctime_ns = now.ctime_ns;
        if (m.counted && (m.subdirs += dsub) < 0)
            m.subdirs = 0;
    }
    meta_encode(&m, out);
    *ol = META_LEN;
    return 0;
}

int fs_ns_dir_touch(struct fs *fs, sop_txn *t, const struct fs_path *dir, int64_t now, int dsub)
{
    sop_store *ms;
    size_t kl;
    uint8_t upd[META_LEN + 8];
    struct fs_meta m;
    int rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms);
    if (rc)
        return rc;
    char *k = meta_key(dir, FS_T_DIR, &kl);
    if (!k)
        return -ENOMEM;
    fs_meta_default(fs, FS_T_DIR, &m);
    m.mtime_ns = m.ctime_ns = now;
    meta_encode(&m, upd);
    put64(upd + META_LEN, (uint64_t)(int64_t)dsub);
    rc = sop_merge(ms, k, kl, upd, sizeof(upd), dir_merge, NULL);
    free(k);
    return rc ? fs_sop_err(fs, t, rc, "update the directory's record") : 0;
}

/* Does any key of s start with prefix pfx (other than `except`, if set)? */
/* Append '/' to the metadata prefix *pfx of *len bytes (a store's "S" ->
 * "S/": its entries, not the store's own record). */
static int add_slash(char **pfx, size_t *len)
{
    char *m = realloc(*pfx, *len + 2);
    if (!m)
        return -ENOMEM;
    *pfx = m;
    m[(*len)++] = '/';
    m[*len] = '\0';
    return 0;
}

static int has_prefix(struct fs *fs, sop_txn *t, sop_store *s, const char *pfx, size_t plen,
                      bool except_exact)
{
    sop_cursor *c;
    const void *k;
    size_t kl;
    int rc = sop_cursor_open(s, &c);
    if (rc)
        return fs_sop_err(fs, t, rc, "open cursor");
    rc = plen ? sop_cursor_seek(c, pfx, plen) : sop_cursor_first(c);
    if (rc == 0 && (rc = sop_cursor_key(c, &k, &kl)) == 0 && except_exact && kl == plen &&
        !memcmp(k, pfx, plen)) {
        rc = sop_cursor_next(c);
        if (rc == 0)
            rc = sop_cursor_key(c, &k, &kl);
    }
    int found = 0;
    if (rc == 0)
        found = kl >= plen && !memcmp(k, pfx, plen);
    else if (rc == SOP_ENOTFOUND)
        rc = 0;
    sop_cursor_close(c);
    if (rc)
        return fs_sop_err(fs, t, rc, "walk keys");
    return found;
}

int fs_ns_inode_path(const char *store, const uint8_t link[16], struct fs_path *out)
{
    static const char hex[] = "0123456789abcdef";
    memset(out, 0, sizeof(*out));
    out->store = strdup(store);
    out->key = malloc(sizeof(FS_INODES) + 32);
    if (!out->store || !out->key) {
        fs_path_free(out);
        return -ENOMEM;
    }
    memcpy(out->key, FS_INODES, sizeof(FS_INODES) - 1);
    char *k = out->key + sizeof(FS_INODES) - 1;
    for (int i = 0; i < 16; i++) {
        k[2 * i] = hex[link[i] >> 4];
        k[2 * i + 1] = hex[link[i] & 15];
    }
    k[32] = '\0';
    out->klen = sizeof(FS_INODES) - 1 + 32;
    return 0;
}

int fs_ns_base_path(const char *store, const uint8_t link[16], struct fs_path *out)
{
    int rc = fs_ns_inode_path(store, link, out); /* the same hex, another prefix */
    if (rc)
        return rc;
    size_t hl = out->klen - (sizeof(FS_INODES) - 1);
    memmove(out->key + sizeof(FS_BASES) - 1, out->key + sizeof(FS_INODES) - 1, hl + 1);
    memcpy(out->key, FS_BASES, sizeof(FS_BASES) - 1);
    out->klen = sizeof(FS_BASES) - 1 + hl;
    return 0;
}

int fs_ns_dir_path(const struct fs_path *p, const struct fs_attr *a, struct fs_path *out)
{
    if (a->m.type == FS_T_DIR && a->m.linked && p->store)
        return fs_ns_base_path(p->store, a->m.link, out);
    return fs_path_copy(p, out);
}

int fs_ns_mkdir(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_meta *m)
{
    if (!p->store || p->klen <= FS_REBASE_AT) {
        m->linked = false;
        return fs_ns_meta_put(fs, t, p, m);
    }
    struct fs_path bp;
    if (getrandom(m->link, sizeof(m->link), 0) != (ssize_t)sizeof(m->link))
        return -EIO;
    int rc = fs_ns_base_path(p->store, m->link, &bp);
    if (rc)
        return rc;
    m->linked = false;
    rc = fs_ns_meta_put(fs, t, &bp, m); /* the directory, at its base */
    fs_path_free(&bp);
    m->linked = true;
    if (rc == 0)
        rc = fs_ns_meta_put(fs, t, p, m); /* its name says where */
    return rc;
}

/* a->m is the record of a name of a hard-linked file: the file is its
 * inode's record and value. */
static int resolve_inode(struct fs *fs, sop_txn *t, const char *store, struct fs_attr *a)
{
    struct fs_path ip;
    sop_store *ds;
    uint8_t link[16];
    memcpy(link, a->m.link, 16);
    int rc = fs_ns_inode_path(store, link, &ip);
    if (rc)
        return rc;
    if ((rc = meta_get(fs, t, &ip, FS_T_FILE, &a->m)) == 0 &&
        (rc = fs_ns_open_store(fs, t, store, &ds)) == 0) {
        rc = sop_value_size(ds, ip.key, ip.klen, &a->size);
        if (rc == SOP_ENOTFOUND) {
            a->size = 0;
            rc = 0;
        }
        rc = rc ? fs_sop_err(fs, t, rc, "value size") : 0;
    }
    if (rc == -ENOENT || rc == -EBADMSG)
        fs_log(LOG_ERR, "a name in store %s refers to the missing inode %s", store, ip.key);
    fs_path_free(&ip);
    if (rc)
        return rc == -EBADMSG ? -EIO : rc;
    a->m.linked = true;
    memcpy(a->m.link, link, 16);
    a->has_meta = true;
    return 0;
}

int fs_ns_resolve(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_attr *a)
{
    sop_store *ds;
    sop_store_info info;
    int rc;

    memset(a, 0, sizeof(*a));
    if (!p->store) {
        rc = meta_get(fs, t, p, FS_T_DIR, &a->m);
        if (rc == 0) {
            a->m.type = FS_T_DIR;
            a->has_meta = true;
            return 0;
        }
        fs_meta_default(fs, FS_T_DIR, &a->m);
        return rc == -ENOENT || rc == -EBADMSG ? 0 : rc;
    }
    if (!strncmp(p->store, ".sop", 4))
        return -ENOENT;
    if ((rc = fs_ns_open_store(fs, t, p->store, &ds)) != 0)
        return rc;
    if (p->klen == 0) {
        rc = meta_get(fs, t, p, FS_T_DIR, &a->m);
        if (rc == 0) {
            a->m.type = FS_T_DIR;
            a->has_meta = true;
            return 0;
        }
        if (rc != -ENOENT && rc != -EBADMSG)
            return rc;
        fs_meta_default(fs, FS_T_DIR, &a->m);
        if (sop_store_get_info(ds, &info) == 0) {
            a->m.mtime_ns = a->m.atime_ns = (int64_t)info.modified_ns;
            a->m.ctime_ns = (int64_t)info.modified_ns;
        }
        return 0;
    }
    /* a file or symbolic link with its record */
    rc = meta_get(fs, t, p, FS_T_FILE, &a->m);
    if (rc == 0 && a->m.type != FS_T_DIR) {
        rc = sop_value_size(ds, p->key, p->klen, &a->size);
        if (rc == 0 && a->m.linked)
            return resolve_inode(fs, t, p->store, a);
        if (rc == 0) {
            a->has_meta = true;
            return 0;
        }
        if (rc != SOP_ENOTFOUND)
            return fs_sop_err(fs, t, rc, "value size");
    } else if (rc && rc != -ENOENT && rc != -EBADMSG) {
        return rc;
    }
    /* a directory with its record (at its base, for one made deep) */
    rc = meta_get(fs, t, p, FS_T_DIR, &a->m);
    if (rc == 0 && a->m.type == FS_T_DIR && a->m.linked) {
        struct fs_path bp;
        uint8_t base[16];
        memcpy(base, a->m.link, 16);
        if ((rc = fs_ns_base_path(p->store, base, &bp)) != 0)
            return rc;
        rc = meta_get(fs, t, &bp, FS_T_DIR, &a->m);
        fs_path_free(&bp);
        if (rc)
            return rc == -EBADMSG ? -EIO : rc;
        a->m.linked = true;
        memcpy(a->m.link, base, 16);
    }
    if (rc == 0 && a->m.type == FS_T_DIR) {
        a->has_meta = true;
        a->size = 0;
        return 0;
    }
    if (rc && rc != -ENOENT && rc != -EBADMSG)
        return rc;
    /* written through the C API: no record */
    uint8_t type = FS_T_NONE;
    rc = sop_value_size(ds, p->key, p->klen, &a->size);
    if (rc == 0) {
        type = FS_T_FILE;
    } else if (rc != SOP_ENOTFOUND) {
        return fs_sop_err(fs, t, rc, "value size");
    } else {
        char *pfx = malloc(p->klen + 2);
        if (!pfx)
            return -ENOMEM;
        memcpy(pfx, p->key, p->klen);
        pfx[p->klen] = '/';
        rc = has_prefix(fs, t, ds, pfx, p->klen + 1, false);
        free(pfx);
        if (rc < 0)
            return rc;
        if (rc > 0)
            type = FS_T_DIR;
        a->size = 0;
    }
    if (type == FS_T_NONE)
        return -ENOENT;
    fs_meta_default(fs, type, &a->m);
    if (sop_store_get_info(ds, &info) == 0)
        a->m.mtime_ns = a->m.atime_ns = a->m.ctime_ns = (int64_t)info.modified_ns;
    return 0;
}

int fs_ns_empty(struct fs *fs, sop_txn *t, const struct fs_path *p)
{
    sop_store *ds, *ms;
    size_t kl;
    int rc;

    if ((rc = fs_ns_open_store(fs, t, p->store, &ds)) != 0 ||
        (rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms)) != 0)
        return rc;
    char *dpfx = malloc(p->klen + 2);
    char *mpfx = meta_key(p, FS_T_DIR, &kl); /* "S" for a store, "S/key/" else */
    if (!dpfx || !mpfx) {
        rc = -ENOMEM;
        goto out;
    }
    size_t dl = 0;
    if (p->klen) {
        memcpy(dpfx, p->key, p->klen);
        dpfx[p->klen] = '/';
        dl = p->klen + 1;
    }
    if ((rc = has_prefix(fs, t, ds, dpfx, dl, false)) != 0)
        goto out;
    if (p->klen == 0 && (rc = add_slash(&mpfx, &kl)) != 0) /* "S" -> "S/" */
        goto out;
    rc = has_prefix(fs, t, ms, mpfx, kl, p->klen != 0);
out:
    free(dpfx);
    free(mpfx);
    if (rc > 0)
        return -ENOTEMPTY;
    return rc;
}

/* One name of hard-linked file `link` in store `store` is gone: its count
 * goes down, and the inode with the last.  *left: the names left. */
static int inode_unlinked(struct fs *fs, sop_txn *t, const char *store, const uint8_t *link,
                          uint64_t *left)
{
    struct fs_path ip;
    struct fs_meta im;
    sop_store *ds;
    int rc = fs_ns_inode_path(store, link, &ip);
    if (rc)
        return rc;
    if ((rc = meta_get(fs, t, &ip, FS_T_FILE, &im)) != 0)
        goto out;
    if (im.counted && im.subdirs > 1) {
        im.subdirs--;
        im.ctime_ns = fs_now_ns();
        *left = (uint64_t)im.subdirs;
        rc = fs_ns_meta_put(fs, t, &ip, &im);
        goto out;
    }
    *left = 0;
    if ((rc = fs_ns_open_store(fs, t, store, &ds)) != 0)
        goto out;
    int drc = sop_remove(ds, ip.key, ip.klen);
    if (drc && drc != SOP_ENOTFOUND) {
        rc = fs_sop_err(fs, t, drc, "remove the inode");
        goto out;
    }
    rc = fs_ns_meta_del(fs, t, &ip, FS_T_FILE);
out:
    fs_path_free(&ip);
    return rc;
}

int fs_ns_remove(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type, uint64_t *left)
{
    sop_store *ds;
    struct fs_meta m;
    int rc;
    uint64_t dummy;
    if (!left)
        left = &dummy;
    *left = 0;
    if ((rc = fs_ns_open_store(fs, t, p->store, &ds)) != 0)
        return rc;
    if (type == FS_T_DIR) {
        if (meta_get(fs, t, p, FS_T_DIR, &m) == 0 && m.linked) { /* its base goes too */
            struct fs_path bp;
            if ((rc = fs_ns_base_path(p->store, m.link, &bp)) != 0)
                return rc;
            rc = fs_ns_meta_del(fs, t, &bp, FS_T_DIR);
            fs_path_free(&bp);
            if (rc && rc != -ENOENT)
                return rc;
        }
        rc = fs_ns_meta_del(fs, t, p, FS_T_DIR);
        return rc == -ENOENT ? 0 : rc;
    }
    int mrc = meta_get(fs, t, p, FS_T_FILE, &m);
    int drc = sop_remove(ds, p->key, p->klen);
    if (drc && drc != SOP_ENOTFOUND)
        return fs_sop_err(fs, t, drc, "remove");
    rc = fs_ns_meta_del(fs, t, p, FS_T_FILE);
    if (rc == 0 && mrc == 0 && m.linked)
        return inode_unlinked(fs, t, p->store, m.link, left);
    if (rc == -ENOENT)
        return drc ? -ENOENT : 0;
    return rc;
}

int fs_ns_link(struct fs *fs, sop_txn *t, const struct fs_path *src, const struct fs_path *dst,
               struct fs_attr *a)
{
    struct fs_attr sa, da;
    struct fs_path ip = {0};
    sop_store *ds;
    int rc;
    if (strcmp(src->store, dst->store))
        return -EXDEV; /* a file's names stay in its store (names.c, top) */
    if ((rc = fs_ns_open_store(fs, t, src->store, &ds)) != 0)
        return rc;
    rc = fs_ns_resolve(fs, t, dst, &da);
    if (rc == 0)
        return -EEXIST;
    if (rc != -ENOENT)
        return rc;
    bool is_inode =
        src->klen > sizeof(FS_INODES) - 1 && !memcmp(src->key, FS_INODES, sizeof(FS_INODES) - 1);
    struct fs_meta im, nm;
    if (is_inode) { /* the node is hard-linked already: its inode's path */
        if ((rc = meta_get(fs, t, src, FS_T_FILE, &im)) != 0)
            return rc;
        if (!im.counted || im.subdirs >= FS_LINK_MAX)
            return im.counted ? -EMLINK : -EIO;
        if ((rc = fs_path_copy(src, &ip)) != 0)
            return rc;
        nm = im;
        const char *hexid = src->key + sizeof(FS_INODES) - 1;
        for (int i = 0; i < 16; i++) {
            unsigned b;
            sscanf(hexid + 2 * i, "%2x", &b);
            nm.link[i] = (uint8_t)b;
        }
        im.subdirs++;
    } else {
        if ((rc = fs_ns_resolve(fs, t, src, &sa)) != 0)
            goto out;
        if (sa.m.type == FS_T_DIR) {
            rc = -EPERM;
            goto out;
        }
        if (sa.m.linked) { /* named by another name of a linked file */
            if ((rc = fs_ns_inode_path(src->store, sa.m.link, &ip)) != 0)
                goto out;
            im = sa.m;
            im.linked = false;
            if (im.subdirs >= FS_LINK_MAX) {
                rc = -EMLINK;
                goto out;
            }
            nm = sa.m;
            im.subdirs++;
        } else {
            /* the first link: the file's value and record move to its inode */
            uint8_t link[16];
            if (getrandom(link, sizeof(link), 0) != (ssize_t)sizeof(link)) {
                rc = -EIO;
                goto out;
            }
            if ((rc = fs_ns_inode_path(src->store, link, &ip)) != 0)
                goto out;
            int mr = sop_move(ds, src->key, src->klen, ds, ip.key, ip.klen);
            if (mr == 0)
                mr = sop_upsert(ds, src->key, src->klen, "", 0);
            if (mr) {
                rc = fs_sop_err(fs, t, mr, "link");
                goto out;
            }
            im = sa.m;
            im.linked = false;
            im.counted = true;
            im.subdirs = 2;
            nm = sa.m;
            nm.linked = true;
            memcpy(nm.link, link, 16);
            if ((rc = fs_ns_meta_put(fs, t, src, &nm)) != 0)
                goto out;
        }
    }
    im.ctime_ns = fs_now_ns();
    nm.linked = true;
    if ((rc = fs_ns_meta_put(fs, t, &ip, &im)) != 0)
        goto out;
    int ur = sop_upsert(ds, dst->key, dst->klen, "", 0);
    if (ur) {
        rc = fs_sop_err(fs, t, ur, "link");
        goto out;
    }
    if ((rc = fs_ns_meta_put(fs, t, dst, &nm)) != 0)
        goto out;
    rc = fs_ns_resolve(fs, t, dst, a);
out:
    fs_path_free(&ip);
    return rc;
}

/* ------------------------------------------------------------ moving */

/* Copy the value of (ss, sk) to (ds, dk), a piece at a time. */
static int copy_value(struct fs *fs, sop_txn *t, sop_store *ss, const void *sk, size_t skl,
                      sop_store *ds, const void *dk, size_t dkl)
{
    uint64_t size, off;
    size_t got;
    int rc = sop_value_size(ss, sk, skl, &size);
    if (rc)
        return fs_sop_err(fs, t, rc, "copy: value size");
    size_t piece = size < FS_PIECE ? (size_t)size : FS_PIECE;
    char *buf = malloc(piece ? piece : 1);
    if (!buf)
        return -ENOMEM;
    got = 0;
    if (piece && (rc = sop_value_read(ss, sk, skl, 0, buf, piece, &got)) != 0)
        goto out;
    if ((rc = sop_upsert(ds, dk, dkl, buf, got)) != 0)
        goto out;
    for (off = got; off < size && got > 0; off += got) {
        size_t n = size - off < FS_PIECE ? (size_t)(size - off) : FS_PIECE;
        if ((rc = sop_value_read(ss, sk, skl, off, buf, n, &got)) != 0 ||
            (got && (rc = sop_value_write(ds, dk, dkl, off, buf, got)) != 0))
            goto out;
    }
out:
    free(buf);
    return rc ? fs_sop_err(fs, t, rc, "copy value") : 0;
}

struct keybatch {
    char *k[64];
    size_t kl[64];
    size_t n;
};

static void batch_clear(struct keybatch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->k[i]);
    b->n = 0;
}

/* Up to 64 keys of s starting with pfx, from `from` (NULL: from pfx). */
static int batch_fill(struct fs *fs, sop_txn *t, sop_store *s, const char *pfx, size_t plen,
                      const char *from, size_t flen, struct keybatch *b)
{
    sop_cursor *c;
    const void *k;
    size_t kl;
    int rc = sop_cursor_open(s, &c);
    if (rc)
        return fs_sop_err(fs, t, rc, "open cursor");
    if (from)
        rc = sop_cursor_seek(c, from, flen);
    else
        rc = plen ? sop_cursor_seek(c, pfx, plen) : sop_cursor_first(c);
    while (rc == 0 && b->n < 64) {
        if ((rc = sop_cursor_key(c, &k, &kl)) != 0)
            break;
        if (kl < plen || memcmp(k, pfx, plen))
            break;
        if (!(b->k[b->n] = malloc(kl + 1))) {
            sop_cursor_close(c);
            return -ENOMEM;
        }
        memcpy(b->k[b->n], k, kl);
        b->kl[b->n++] = kl;
        rc = sop_cursor_next(c);
    }
    sop_cursor_close(c);
    if (rc && rc != SOP_ENOTFOUND)
        return fs_sop_err(fs, t, rc, "walk keys");
    return 0;
}

/*
 * Move (or copy, when !remove) every item of store sname whose key starts
 * with spfx to store dname, the prefix replaced by dpfx.  With remove the
 * walk restarts at the prefix each batch (the moved keys are gone).
 */
static int move_range(struct fs *fs, sop_txn *t, const char *sname, const char *spfx, size_t splen,
                      const char *dname, const char *dpfx, size_t dplen, bool remove)
{
    struct keybatch b = {.n = 0};
    char *from = NULL, *nk = malloc(SOP_MAX_KEY + 1);
    size_t flen = 0;
    int rc = 0;

    if (!nk)
        return -ENOMEM;
    for (;;) {
        sop_store *ss, *ds;
        if ((rc = fs_ns_open_store(fs, t, sname, &ss)) != 0 ||
            (rc = fs_ns_open_store(fs, t, dname, &ds)) != 0)
            break;
        if ((rc = batch_fill(fs, t, ss, spfx, splen, from, flen, &b)) != 0 || b.n == 0)
            break;
        for (size_t i = 0; i < b.n && !rc; i++) {
            size_t nl = dplen + b.kl[i] - splen;
            if (nl > SOP_MAX_KEY) {
                rc = -ENAMETOOLONG;
                break;
            }
            memcpy(nk, dpfx, dplen);
            memcpy(nk + dplen, b.k[i] + splen, b.kl[i] - splen);
            if (remove) { /* the item moves with its value: no byte copied */
                if ((rc = sop_move(ss, b.k[i], b.kl[i], ds, nk, nl)) != 0)
                    rc = fs_sop_err(fs, t, rc, "move");
            } else if ((rc = copy_value(fs, t, ss, b.k[i], b.kl[i], ds, nk, nl)) != 0) {
                break;
            }
        }
        if (rc)
            break;
        if (!remove) { /* resume just after the last key */
            free(from);
            flen = b.kl[b.n - 1] + 1;
            if (!(from = malloc(flen))) {
                rc = -ENOMEM;
                break;
            }
            memcpy(from, b.k[b.n - 1], flen - 1);
            from[flen - 1] = '\0';
        }
        batch_clear(&b);
    }
    batch_clear(&b);
    free(from);
    free(nk);
    return rc;
}

/* The longest key of store sname starting with pfx, in *max. */
static int longest_key(struct fs *fs, sop_txn *t, const char *sname, const char *pfx, size_t plen,
                       size_t *max)
{
    sop_store *s;
    sop_cursor *c;
    const void *k;
    size_t kl;
    int rc = fs_ns_open_store(fs, t, sname, &s);
    if (rc)
        return rc;
    if ((rc = sop_cursor_open(s, &c)) != 0)
        return fs_sop_err(fs, t, rc, "open cursor");
    *max = 0;
    for (rc = sop_cursor_seek(c, pfx, plen); rc == 0; rc = sop_cursor_next(c)) {
        if ((rc = sop_cursor_key(c, &k, &kl)) != 0 || kl < plen || memcmp(k, pfx, plen))
            break;
        if (kl > *max)
            *max = kl;
    }
    sop_cursor_close(c);
    return rc && rc != SOP_ENOTFOUND ? fs_sop_err(fs, t, rc, "walk keys") : 0;
}

/* Does a record with prefix pfx name a hard-linked file or a base (they
 * stay in their store)?  1, 0, or -errno. */
static int links_below(struct fs *fs, sop_txn *t, const char *pfx, size_t plen)
{
    sop_store *ms;
    sop_cursor *c;
    const void *k, *v;
    size_t kl, vl;
    struct fs_meta m;
    int rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms);
    if (rc || (rc = sop_cursor_open(ms, &c)) != 0)
        return rc ? rc : fs_sop_err(fs, t, rc, "open cursor");
    int found = 0;
    for (rc = sop_cursor_seek(c, pfx, plen); rc == 0 && !found; rc = sop_cursor_next(c)) {
        if ((rc = sop_cursor_key(c, &k, &kl)) != 0 || kl < plen || memcmp(k, pfx, plen))
            break;
        if ((rc = sop_cursor_value(c, &v, &vl)) == 0 && meta_decode(v, vl, &m) == 0)
            found = m.linked;
    }
    sop_cursor_close(c);
    if (found)
        return 1;
    return rc && rc != SOP_ENOTFOUND ? fs_sop_err(fs, t, rc, "walk metadata") : 0;
}

int fs_ns_move(struct fs *fs, sop_txn *t, const struct fs_path *src, uint8_t type,
               const struct fs_path *dst)
{
    sop_store *ss, *ds;
    struct fs_meta m;
    int rc;

    if ((rc = fs_ns_open_store(fs, t, src->store, &ss)) != 0 ||
        (rc = fs_ns_open_store(fs, t, dst->store, &ds)) != 0)
        return rc;
    if (type != FS_T_DIR) {
        /* the record moves with its value, whatever its size: no byte copied */
        if ((rc = sop_move(ss, src->key, src->klen, ds, dst->key, dst->klen)) != 0)
            return fs_sop_err(fs, t, rc, "rename");
        rc = meta_get(fs, t, src, FS_T_FILE, &m);
        if (rc == -ENOENT || rc == -EBADMSG)
            return 0;
        if (rc)
            return rc;
        m.ctime_ns = fs_now_ns();
        if ((rc = fs_ns_meta_put(fs, t, dst, &m)) != 0)
            return rc;
        return fs_ns_meta_del(fs, t, src, FS_T_FILE);
    }
    /* a directory: its data keys, then its records (its own included) */
    size_t sml, dml;
    char *smk = meta_key(src, FS_T_DIR, &sml), *dmk = meta_key(dst, FS_T_DIR, &dml);
    char *sdk = malloc(src->klen + 2), *ddk = malloc(dst->klen + 2);
    if (!smk || !dmk || !sdk || !ddk) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(sdk, src->key, src->klen);
    sdk[src->klen] = '/';
    memcpy(ddk, dst->key, dst->klen);
    ddk[dst->klen] = '/';
    if (strcmp(src->store, dst->store) && (rc = links_below(fs, t, smk, sml)) != 0) {
        rc = rc > 0 ? -EXDEV : rc; /* hard links and bases stay in their store */
        goto out;
    }
    if (dst->klen > src->klen) { /* refuse before changing anything, not halfway */
        size_t dmax, mmax;
        if ((rc = longest_key(fs, t, src->store, sdk, src->klen + 1, &dmax)) != 0 ||
            (rc = longest_key(fs, t, FS_META_STORE, smk, sml, &mmax)) != 0)
            goto out;
        if (dmax + dst->klen - src->klen > FS_MAX_KEY || mmax + dml - sml > SOP_MAX_KEY) {
            rc = -ENAMETOOLONG;
            goto out;
        }
    }
    rc = move_range(fs, t, src->store, sdk, src->klen + 1, dst->store, ddk, dst->klen + 1, true);
    if (rc == 0)
        rc = move_range(fs, t, FS_META_STORE, smk, sml, FS_META_STORE, dmk, dml, true);
out:
    free(smk);
    free(dmk);
    free(sdk);
    free(ddk);
    return rc;
}

int fs_ns_move_store(struct fs *fs, sop_txn *t, const char *src, const char *dst)
{
    sop_store *ss, *ds;
    sop_store_info info;
    sop_store_options o;
    char *desc = NULL, *rel = NULL, *kind = NULL, *sp = NULL, *dp = NULL;
    struct fs_meta m;
    struct fs_path spath = {.store = (char *)src, .key = (char *)"", .klen = 0};
    struct fs_path dpath = {.store = (char *)dst, .key = (char *)"", .klen = 0};
    int rc;

    if ((rc = fs_ns_open_store(fs, t, src, &ss)) != 0)
        return rc;
    if ((rc = sop_store_get_info(ss, &info)) != 0)
        return fs_sop_err(fs, t, rc, "store info");
    desc = strdup(info.options.description ? info.options.description : "");
    rel = strdup(info.options.relations ? info.options.relations : "");
    kind = strdup(info.options.kind && *info.options.kind ? info.options.kind : "records");
    size_t sl = strlen(src), dl = strlen(dst);
    sp = malloc(sl + 2);
    dp = malloc(dl + 2);
    if (!desc || !rel || !kind || !sp || !dp) {
        rc = -ENOMEM;
        goto out;
    }
    o = info.options;
    o.description = desc;
    o.relations = rel;
    o.kind = kind;
    if ((rc = sop_store_create(t, dst, &o, &ds)) != 0) {
        rc = fs_sop_err(fs, t, rc, "rename store: create");
        goto out;
    }
    if ((rc = move_range(fs, t, src, "", 0, dst, "", 0, true)) != 0)
        goto out;
    memcpy(sp, src, sl);
    sp[sl] = '/';
    memcpy(dp, dst, dl);
    dp[dl] = '/';
    if ((rc = move_range(fs, t, FS_META_STORE, sp, sl + 1, FS_META_STORE, dp, dl + 1, true)) != 0)
        goto out;
    rc = meta_get(fs, t, &spath, FS_T_DIR, &m);
    if (rc == 0) {
        m.type = FS_T_DIR;
        m.ctime_ns = fs_now_ns();
        if ((rc = fs_ns_meta_put(fs, t, &dpath, &m)) != 0 ||
            (rc = fs_ns_meta_del(fs, t, &spath, FS_T_DIR)) != 0)
            goto out;
    } else if (rc != -ENOENT && rc != -EBADMSG) {
        goto out;
    }
    rc = sop_store_drop(t, src);
    if (rc)
        rc = fs_sop_err(fs, t, rc, "rename store: drop");
out:
    free(desc);
    free(rel);
    free(kind);
    free(sp);
    free(dp);
    return rc;
}

/* ------------------------------------------------------------ listing */

/* A walk over the children of one prefix in one store (see the top). */
struct lister {
    sop_cursor *c;
    const char *pfx;
    size_t plen;
    bool meta;   /* walking ".sopfs": only records name children */
    bool valid;  /* a child is under the cursor                   */
    bool broken; /* the metadata walk hit damage: it lists nothing more */
    char sk[FS_MAX_NAME + 2];
    size_t sklen, nlen;
    bool isdir;
    uint8_t type;
    char *scratch; /* pfx + a key tail + 1 */
};

static int lister_eval(struct fs *fs, sop_txn *t, struct lister *l, int rc);

/* Seek to pfx + rel + tail (tail 0: none) and evaluate. */
static int lister_seek(struct fs *fs, sop_txn *t, struct lister *l, const char *rel, size_t rlen,
                       int tail)
{
    size_t n = l->plen;
    memcpy(l->scratch, l->pfx, l->plen);
    memcpy(l->scratch + n, rel, rlen);
    n += rlen;
    if (tail >= 0)
        l->scratch[n++] = (char)tail;
    int rc = n ? sop_cursor_seek(l->c, l->scratch, n) : sop_cursor_first(l->c);
    return lister_eval(fs, t, l, rc);
}

/* The cursor was just moved with result rc: find the child it is on. */
static int lister_eval(struct fs *fs, sop_txn *t, struct lister *l, int rc)
{
    const void *kv, *v;
    size_t kl, vl;
    struct fs_meta m;

    for (;;) {
        l->valid = false;
        if (rc == SOP_ENOTFOUND || l->broken)
            return 0;
        if (rc == 0)
            rc = sop_cursor_key(l->c, &kv, &kl);
        if (rc == SOP_ECORRUPT && l->meta) { /* list by the data alone (meta_damaged) */
            meta_damaged(fs, t, "list");
            l->broken = true;
            return 0;
        }
        if (rc)
            return fs_sop_err(fs, t, rc, "list");
        const char *k = kv;
        if (kl < l->plen || memcmp(k, l->pfx, l->plen))
            return 0;
        const char *rest = k + l->plen;
        size_t rl = kl - l->plen;
        const char *slash = memchr(rest, '/', rl);
        size_t nlen = slash ? (size_t)(slash - rest) : rl;
        bool isdir = slash != NULL;
        bool skip = nlen == 0 || nlen > FS_MAX_NAME || memchr(rest, '\0', nlen) ||
                    fs_name_reserved(rest, nlen, false);
        uint8_t type = isdir ? FS_T_DIR : FS_T_FILE;
        if (!skip && l->meta) {
            if (isdir) {
                skip = nlen + 1 != rl; /* below a directory that has no record */
            } else {
                rc = sop_cursor_value(l->c, &v, &vl);
                if (rc == SOP_ECORRUPT) {
                    meta_damaged(fs, t, "list");
                    l->broken = true;
                    return 0;
                }
                if (rc)
                    return fs_sop_err(fs, t, rc, "list: read metadata");
                skip = meta_decode(v, vl, &m) != 0 || m.type == FS_T_DIR;
                type = m.type;
            }
        }
        if (!skip) {
            memcpy(l->sk, rest, nlen);
            l->nlen = nlen;
            l->sklen = nlen;
            if (isdir)
                l->sk[l->sklen++] = '/';
            l->sk[l->sklen] = '\0';
            l->isdir = isdir;
            l->type = type;
            l->valid = true;
            return 0;
        }
        if (!isdir) {
            rc = sop_cursor_next(l->c);
            continue;
        }
        /* jump over the subtree: pfx + name + '0' */
        memcpy(l->scratch, k, l->plen + nlen);
        l->scratch[l->plen + nlen] = '0';
        rc = sop_cursor_seek(l->c, l->scratch, l->plen + nlen + 1);
    }
}

static int lister_advance(struct fs *fs, sop_txn *t, struct lister *l)
{
    if (!l->isdir)
        return lister_eval(fs, t, l, sop_cursor_next(l->c));
    return lister_seek(fs, t, l, l->sk, l->nlen, '0');
}

/* Position at the first child after sort key `after`. */
static int lister_start(struct fs *fs, sop_txn *t, struct lister *l, const char *after, size_t alen)
{
    if (alen == 0)
        return lister_seek(fs, t, l, "", 0, -1);
    if (after[alen - 1] == '/')
        return lister_seek(fs, t, l, after, alen - 1, '0');
    return lister_seek(fs, t, l, after, alen, '\0');
}

static int sk_cmp(const struct lister *a, const struct lister *b)
{
    size_t n = a->sklen < b->sklen ? a->sklen : b->sklen;
    int c = memcmp(a->sk, b->sk, n);
    if (c)
        return c;
    return a->sklen < b->sklen ? -1 : a->sklen > b->sklen;
}

static int emit(const struct lister *l, unsigned dtype, fs_list_fn fn, void *arg)
{
    char name[FS_MAX_NAME + 1];
    memcpy(name, l->sk, l->nlen);
    name[l->nlen] = '\0';
    return fn(name, l->nlen, dtype, l->sk, l->sklen, arg);
}

struct store_walk {
    const char *after;
    size_t alen;
    fs_list_fn fn;
    void *arg;
};

static int store_cb(const char *name, void *arg)
{
    struct store_walk *w = arg;
    size_t nl = strlen(name);
    if (!strncmp(name, ".sop", 4))
        return 0;
    if (w->alen) {
        size_t n = nl < w->alen ? nl : w->alen;
        int c = memcmp(name, w->after, n);
        if (c < 0 || (c == 0 && nl <= w->alen))
            return 0;
    }
    return w->fn(name, nl, DT_DIR, name, nl, w->arg);
}

int fs_ns_list(struct fs *fs, sop_txn *t, const struct fs_path *p, const char *after,
               size_t after_len, fs_list_fn fn, void *arg)
{
    struct lister d = {.c = NULL}, m = {.c = NULL};
    sop_store *ds, *ms;
    size_t mpl;
    int rc;

    if (!p->store) {
        struct store_walk w = {.after = after, .alen = after_len, .fn = fn, .arg = arg};
        rc = sop_store_list(t, store_cb, &w);
        return rc < 0 ? fs_sop_err(fs, t, rc, "list stores") : rc;
    }
    if ((rc = fs_ns_open_store(fs, t, p->store, &ds)) != 0 ||
        (rc = fs_ns_open_store(fs, t, FS_META_STORE, &ms)) != 0)
        return rc;
    char *dpfx = malloc(p->klen + 2);
    char *mpfx = meta_key(p, FS_T_DIR, &mpl);
    d.scratch = malloc(SOP_MAX_KEY + 2 + FS_MAX_NAME + 2);
    m.scratch = malloc(SOP_MAX_KEY + 2 + FS_MAX_NAME + 2);
    if (!dpfx || !mpfx || !d.scratch || !m.scratch) {
        rc = -ENOMEM;
        goto out;
    }
    if (p->klen == 0 && (rc = add_slash(&mpfx, &mpl)) != 0) /* store: "S" -> "S/" */
        goto out;
    memcpy(dpfx, p->key, p->klen);
    d.plen = 0;
    if (p->klen) {
        dpfx[p->klen] = '/';
        d.plen = p->klen + 1;
    }
    d.pfx = dpfx;
    m.pfx = mpfx;
    m.plen = mpl;
    m.meta = true;
    if ((rc = sop_cursor_open(ds, &d.c)) != 0 || (rc = sop_cursor_open(ms, &m.c)) != 0) {
        rc = fs_sop_err(fs, t, rc, "open cursor");
        goto out;
    }
    if ((rc = lister_start(fs, t, &d, after, after_len)) != 0 ||
        (rc = lister_start(fs, t, &m, after, after_len)) != 0)
        goto out;
    while (d.valid || m.valid) {
        int c = !m.valid ? 1 : !d.valid ? -1 : sk_cmp(&m, &d);
        if (c < 0) { /* a record alone: a directory made by mkdir, or an orphan */
            if (m.isdir && (rc = emit(&m, DT_DIR, fn, arg)) != 0)
                goto out;
            rc = lister_advance(fs, t, &m);
        } else if (c > 0) { /* an item alone: written through the C API */
            if ((rc = emit(&d, d.isdir ? DT_DIR : DT_REG, fn, arg)) != 0)
                goto out;
            rc = lister_advance(fs, t, &d);
        } else {
            unsigned dt = m.isdir ? DT_DIR : fs_type_ifmt(m.type) >> 12;
            if ((rc = emit(&m, dt, fn, arg)) != 0)
                goto out;
            rc = lister_advance(fs, t, &m);
            if (rc == 0)
                rc = lister_advance(fs, t, &d);
        }
        if (rc)
            goto out;
    }
out:
    if (d.c)
        sop_cursor_close(d.c);
    if (m.c)
        sop_cursor_close(m.c);
    free(dpfx);
    free(mpfx);
    free(d.scratch);
    free(m.scratch);
    return rc;
}
