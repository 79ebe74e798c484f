/*
 * codec.h - little-endian fixed-width integers, varints, and crc32 (zlib),
 * the building blocks of every on-disk encoding.  A `struct wbuf` grows as
 * it is written; a `struct rbuf` is read with bounds checks so a damaged
 * record gives an error, never an overrun.
 */
#ifndef SOP_CODEC_H
#define SOP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint32_t codec_crc32(uint32_t crc, const void *p, size_t n);

/* A growable write buffer.  `err` latches an allocation failure. */
struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool err;
};
void wb_init(struct wbuf *w);
void wb_free(struct wbuf *w);
bool wb_reserve(struct wbuf *w, size_t more);
void wb_bytes(struct wbuf *w, const void *p, size_t n);
void wb_u8(struct wbuf *w, uint8_t v);
void wb_u16(struct wbuf *w, uint16_t v);
void wb_u32(struct wbuf *w, uint32_t v);
void wb_u64(struct wbuf *w, uint64_t v);
void wb_varint(struct wbuf *w, uint64_t v);
/* varint length, then the bytes */
void wb_blob(struct wbuf *w, const void *p, size_t n);

/* A new random (version 4) UUID, libuuid's uuid_t layout, from a
 * per-thread xoshiro256** generator seeded by libuuid's uuid_generate_random
 * (again in a forked child): uuid_generate itself makes about five system
 * calls per ID, which cost more than the insert that needed it. */
void codec_uuid4(uint8_t out[16]);

/* A bounds-checked reader.  `err` latches a read past the end or a bad
 * varint; values read after that are zero. */
struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    bool err;
};
void rb_init(struct rbuf *r, const void *p, size_t len);
uint16_t rb_u16(struct rbuf *r);
uint32_t rb_u32(struct rbuf *r);
uint64_t rb_u64(struct rbuf *r);
/* a varint of more than one byte, or at the end (rb_varint's slow path) */
uint64_t rb_varint_long(struct rbuf *r);

/* Decoding a node reads a few of these per item: they are inline. */
static inline const uint8_t *rb_bytes(struct rbuf *r, size_t n)
{
    if (r->err || n > r->len - r->pos) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static inline uint8_t rb_u8(struct rbuf *r)
{
    const uint8_t *p = rb_bytes(r, 1);
    return p ? p[0] : 0;
}

static inline uint64_t rb_varint(struct rbuf *r)
{
    if (!r->err && r->pos < r->len && r->p[r->pos] < 0x80)
        return r->p[r->pos++];
    return rb_varint_long(r);
}

/* a varint-length blob; *n gets its length */
static inline const uint8_t *rb_blob(struct rbuf *r, size_t *n)
{
    uint64_t len = rb_varint(r);
    if (r->err || len > r->len - r->pos) {
        r->err = true;
        *n = 0;
        return NULL;
    }
    *n = (size_t)len;
    return rb_bytes(r, (size_t)len);
}

#endif
