/*
 * codec.c - see codec.h.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

uint32_t codec_crc32(uint32_t crc, const void *p, size_t n)
{
    const Bytef *b = p;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return crc;
}

void wb_init(struct wbuf *w)
{
    memset(w, 0, sizeof(*w));
}

void wb_free(struct wbuf *w)
{
    free(w->p);
    wb_init(w);
}

bool wb_reserve(struct wbuf *w, size_t more)
{
    if (w->err)
        return false;
    if (w->len + more <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more)
        cap *= 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
        w->err = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

void wb_bytes(struct wbuf *w, const void *p, size_t n)
{
    if (n == 0 || !wb_reserve(w, n))
        return;
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

void wb_u8(struct wbuf *w, uint8_t v)
{
    wb_bytes(w, &v, 1);
}

void wb_u16(struct wbuf *w, uint16_t v)
{
    uint8_t b[2];
    put_u16(b, v);
    wb_bytes(w, b, 2);
}

void wb_u32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    wb_bytes(w, b, 4);
}

void wb_u64(struct wbuf *w, uint64_t v)
{
    uint8_t b[8];
    put_u64(b, v);
    wb_bytes(w, b, 8);
}

void wb_varint(struct wbuf *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    wb_bytes(w, b, n);
}

void wb_blob(struct wbuf *w, const void *p, size_t n)
{
    wb_varint(w, n);
    wb_bytes(w, p, n);
}

void rb_init(struct rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = false;
}

const uint8_t *rb_bytes(struct rbuf *r, size_t n)
{
    if (r->err || n > r->len - r->pos) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint8_t rb_u8(struct rbuf *r)
{
    const uint8_t *p = rb_bytes(r, 1);
    return p ? p[0] : 0;
}

uint16_t rb_u16(struct rbuf *r)
{
    const uint8_t *p = rb_bytes(r, 2);
    return p ? get_u16(p) : 0;
}

uint32_t rb_u32(struct rbuf *r)
{
    const uint8_t *p = rb_bytes(r, 4);
    return p ? get_u32(p) : 0;
}

uint64_t rb_u64(struct rbuf *r)
{
    const uint8_t *p = rb_bytes(r, 8);
    return p ? get_u64(p) : 0;
}

uint64_t rb_varint(struct rbuf *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = rb_bytes(r, 1);
        if (!p)
            return 0;
        v |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p & 0x80))
            return v;
    }
    r->err = true;
    return 0;
}

const uint8_t *rb_blob(struct rbuf *r, size_t *n)
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
