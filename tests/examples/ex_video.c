/*
 * ex_video.c - the cookbook's big objects, two ways.
 *
 * The split-store pattern: `video_catalog` holds small metadata per video
 * id, `video_chunks` the data in 1 MiB records under the composite key
 * {video id (16 bytes), chunk index (4 bytes, big-endian so keys sort by
 * index)}; a video is read back by a seek to {id, 0} and a walk while the
 * key starts with the id, and a chapter is replaced by updating just its
 * chunks.
 *
 * The engine's own streaming: one value of 8 MiB in a store with
 * chunk_size 1 MiB, written with sop_value_write, 3 MiB of its middle
 * rewritten at an unaligned offset, and ranges read back with
 * sop_value_read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024u * 1024u)
#define CHUNK MiB

static sop_db *open_db(void)
{
    sop_db *db = NULL;
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    return db;
}

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = tl_rand(&s);
        memcpy(b + i, &x, n - i < 8 ? n - i : 8);
    }
}

/* ------------------------------------------------------------ split stores */

struct video_key {
    uint8_t b[20]; /* id[16], chunk index big-endian[4] */
};

static struct video_key vkey(const uint8_t id[16], uint32_t idx)
{
    struct video_key k;
    memcpy(k.b, id, 16);
    k.b[16] = (uint8_t)(idx >> 24);
    k.b[17] = (uint8_t)(idx >> 16);
    k.b[18] = (uint8_t)(idx >> 8);
    k.b[19] = (uint8_t)idx;
    return k;
}

static void make_id(uint8_t id[16], uint64_t seed)
{
    fill(id, 16, seed);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* shaped as a version 4 uuid */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* UploadVideo: the chunks and the metadata in one transaction. */
static void upload_video(sop_db *db, const uint8_t id[16], const char *title, const uint8_t *data,
                         size_t len)
{
    sop_txn *t;
    sop_store *catalog, *chunks;
    char meta[256];
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    if (sop_store_open(t, "video_catalog", &catalog) == SOP_ENOTFOUND) {
        sop_store_options co = {.slot_length = 2000, .unique = true, .value_in_node = true};
        sop_store_options ko = {.slot_length = 2000, .unique = true, .value_in_node = false};
        assert_int_equal(sop_store_create(t, "video_catalog", &co, &catalog), 0);
        assert_int_equal(sop_store_create(t, "video_chunks", &ko, &chunks), 0);
    } else {
        assert_int_equal(sop_store_open(t, "video_chunks", &chunks), 0);
    }
    uint32_t n = 0;
    for (size_t off = 0; off < len; off += CHUNK, n++) {
        size_t cl = len - off < CHUNK ? len - off : CHUNK;
        struct video_key k = vkey(id, n);
        assert_int_equal(sop_add(chunks, k.b, sizeof(k.b), data + off, cl), 0);
    }
    int ml = snprintf(meta, sizeof(meta),
                      "{\"Title\":\"%s\",\"Rating\":\"PG-13\",\"ChunkCount\":%u,\"Size\":%zu}",
                      title, n, len);
    assert_int_equal(sop_add(catalog, id, 16, meta, (size_t)ml), 0);
    assert_int_equal(sop_txn_commit(t), 0);
}

/* The whole video, from its metadata and a walk over its chunks. */
static uint8_t *download_video(sop_db *db, const uint8_t id[16], size_t *len)
{
    sop_txn *t;
    sop_store *catalog, *chunks;
    sop_cursor *c;
    const void *v, *k;
    size_t vl, kl;
    char meta[256];
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "video_catalog", &catalog), 0);
    assert_int_equal(sop_store_open(t, "video_chunks", &chunks), 0);
    assert_int_equal(sop_get(catalog, id, 16, &v, &vl), 0);
    assert_true(vl < sizeof(meta));
    memcpy(meta, v, vl);
    meta[vl] = 0;
    const char *cc = strstr(meta, "\"ChunkCount\":"), *sz = strstr(meta, "\"Size\":");
    assert_true(cc && sz);
    uint32_t count = (uint32_t)strtoul(cc + 13, NULL, 10);
    size_t size = (size_t)strtoull(sz + 7, NULL, 10);
    uint8_t *out = malloc(size ? size : 1);
    assert_non_null(out);
    size_t got = 0;
    uint32_t idx = 0;
    struct video_key k0 = vkey(id, 0);
    assert_int_equal(sop_cursor_open(chunks, &c), 0);
    int rc;
    for (rc = sop_cursor_seek(c, k0.b, sizeof(k0.b)); rc == 0; rc = sop_cursor_next(c), idx++) {
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        if (kl != sizeof(k0.b) || memcmp(k, id, 16))
            break; /* the next video's chunks */
        struct video_key want = vkey(id, idx);
        assert_memory_equal(k, want.b, kl);
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        assert_true(got + vl <= size);
        assert_int_equal(vl, size - got < CHUNK ? size - got : CHUNK);
        memcpy(out + got, v, vl);
        got += vl;
    }
    assert_true(rc == 0 || rc == SOP_ENOTFOUND);
    sop_cursor_close(c);
    assert_int_equal(idx, count);
    assert_int_equal(got, size);
    assert_int_equal(sop_txn_commit(t), 0);
    *len = size;
    return out;
}

/* UpdateChapter: replace the chunks from startChunk on, each an update. */
static int update_chapter(sop_db *db, const uint8_t id[16], uint32_t start, const uint8_t *data,
                          size_t len)
{
    sop_txn *t;
    sop_store *chunks;
    int rc;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "video_chunks", &chunks), 0);
    for (size_t off = 0; off < len; off += CHUNK, start++) {
        size_t cl = len - off < CHUNK ? len - off : CHUNK;
        struct video_key k = vkey(id, start);
        if ((rc = sop_update(chunks, k.b, sizeof(k.b), data + off, cl)) != 0) {
            sop_txn_rollback(t);
            return rc;
        }
    }
    return sop_txn_commit(t);
}

static void split_store_upload_download_and_chapter_update(void **state)
{
    (void)state;
    size_t alen = 5 * MiB + MiB / 2, blen = 2 * MiB + 12345;
    uint8_t ida[16], idb[16];
    uint8_t *a = malloc(alen), *b = malloc(blen);
    assert_true(a && b);
    make_id(ida, 1);
    make_id(idb, 2);
    fill(a, alen, 11);
    fill(b, blen, 22);
    sop_db *db = open_db();
    upload_video(db, ida, "The Matrix", a, alen);
    upload_video(db, idb, "Brazil", b, blen);
    sop_db_close(db);

    db = open_db();
    size_t len;
    uint8_t *got = download_video(db, ida, &len);
    assert_int_equal(len, alen);
    assert_memory_equal(got, a, alen);
    free(got);
    got = download_video(db, idb, &len);
    assert_int_equal(len, blen);
    assert_memory_equal(got, b, blen);
    free(got);

    /* chapter 3 = chunks 2 and 3 of the first video */
    uint8_t *chapter = malloc(2 * CHUNK);
    assert_non_null(chapter);
    fill(chapter, 2 * CHUNK, 33);
    assert_int_equal(update_chapter(db, ida, 2, chapter, 2 * CHUNK), 0);
    memcpy(a + 2 * CHUNK, chapter, 2 * CHUNK);
    /* a chapter past the end is refused whole: chunk 5 exists, 6 does not */
    assert_int_equal(update_chapter(db, ida, 5, chapter, 2 * CHUNK), SOP_ENOTFOUND);
    sop_db_close(db);

    db = open_db();
    got = download_video(db, ida, &len);
    assert_int_equal(len, alen);
    for (size_t i = 0; i < alen; i += CHUNK) { /* chunk by chunk, to say which */
        size_t n = alen - i < CHUNK ? alen - i : CHUNK;
        if (memcmp(got + i, a + i, n))
            fail_msg("video a, chunk %zu differs after the chapter update", i / CHUNK);
    }
    free(got);
    got = download_video(db, idb, &len);
    assert_int_equal(len, blen);
    assert_memory_equal(got, b, blen);
    free(got);
    sop_db_close(db);
    free(chapter);
    free(a);
    free(b);
}

/* ------------------------------------------------------------ one big value */

static void check_range(sop_store *s, const uint8_t *want, uint64_t size, uint64_t off, size_t len,
                        uint8_t *buf)
{
    size_t got = 0;
    assert_int_equal(sop_value_read(s, "matrix.mp4", 10, off, buf, len, &got), 0);
    size_t exp = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
    assert_int_equal(got, exp);
    if (exp && memcmp(buf, want + off, exp))
        fail_msg("range [%llu, +%zu) differs", (unsigned long long)off, len);
}

static void big_value_written_rewritten_and_read_in_ranges(void **state)
{
    (void)state;
    const size_t size = 8 * MiB, mid = 2 * MiB + MiB / 2 + 123, midlen = 3 * MiB;
    uint8_t *want = malloc(size), *buf = malloc(size + 100);
    assert_true(want && buf);
    fill(want, size, 44);
    sop_db *db = open_db();
    sop_txn *t;
    sop_store *s;
    uint64_t vs;

    /* written in pieces that do not line up with the chunks */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = 0, .unique = true, .chunk_size = CHUNK};
    assert_int_equal(sop_store_create(t, "videos", &o, &s), 0);
    for (size_t off = 0; off < size; off += 700 * 1024) {
        size_t n = size - off < 700 * 1024 ? size - off : 700 * 1024;
        assert_int_equal(sop_value_write(s, "matrix.mp4", 10, off, want + off, n), 0);
    }
    assert_int_equal(sop_value_size(s, "matrix.mp4", 10, &vs), 0);
    assert_int_equal(vs, size);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);

    db = open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "videos", &s), 0);
    assert_int_equal(sop_value_size(s, "matrix.mp4", 10, &vs), 0);
    assert_int_equal(vs, size);
    check_range(s, want, size, 0, size + 100, buf);
    assert_int_equal(sop_txn_commit(t), 0);

    /* 3 MiB of the middle, rewritten: then rolled back, then committed */
    uint8_t *scene = malloc(midlen);
    assert_non_null(scene);
    fill(scene, midlen, 55);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        assert_int_equal(sop_store_open(t, "videos", &s), 0);
        assert_int_equal(sop_value_write(s, "matrix.mp4", 10, mid, scene, midlen), 0);
        if (pass == 0) {
            sop_txn_rollback(t);
            continue;
        }
        assert_int_equal(sop_txn_commit(t), 0);
    }
    memcpy(want + mid, scene, midlen);
    sop_db_close(db);

    db = open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "videos", &s), 0);
    assert_int_equal(sop_value_size(s, "matrix.mp4", 10, &vs), 0);
    assert_int_equal(vs, size);
    /* the edges of the rewrite, chunk boundaries, the end, random ranges */
    check_range(s, want, size, mid - 10, 20, buf);
    check_range(s, want, size, mid + midlen - 10, 20, buf);
    check_range(s, want, size, 3 * MiB - 1, 2, buf);
    check_range(s, want, size, MiB, MiB, buf);
    check_range(s, want, size, size - 5, 100, buf);
    check_range(s, want, size, size, 100, buf);
    uint64_t rng = 77;
    for (int i = 0; i < 30; i++) {
        uint64_t off = tl_rand(&rng) % size;
        size_t len = (size_t)(tl_rand(&rng) % (2 * MiB));
        check_range(s, want, size, off, len, buf);
    }
    check_range(s, want, size, 0, size, buf);
    /* whole, through sop_get too */
    const void *v;
    size_t vl;
    assert_int_equal(sop_get(s, "matrix.mp4", 10, &v, &vl), 0);
    assert_int_equal(vl, size);
    assert_memory_equal(v, want, size);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    free(scene);
    free(want);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(split_store_upload_download_and_chapter_update,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(big_value_written_rewritten_and_read_in_ranges,
                                        tl_dir_setup, tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
