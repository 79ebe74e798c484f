/*
 * codec.c - see codec.h.
 */
#include "codec.h"

#include "os.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <zlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CRC_FOLD 1

#define CRC_TARGET __attribute__((target("pclmul,sse4.1")))

/* x carried 64 bytes (k = k1k2) or 16 bytes (k = k3k4) forward, plus next */
CRC_TARGET static inline __m128i crc_fold1(__m128i x, __m128i k, __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00), hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/*
 * The same CRC-32 as zlib's (polynomial 0x04C11DB7, bit-reflected), by
 * carry-less multiplication (Gopal, Ozturk et al., "Fast CRC computation
 * for generic polynomials using PCLMULQDQ", Intel, 2009): four 128-bit lanes
 * folded 64 bytes at a time, then folded into one, reduced to 64 and then 32
 * bits (Barrett).  n is a multiple of 16, at least 64; crc is the register
 * (zlib's value inverted), in and out.  About ten times zlib's table-driven
 * speed, which made crc32 half of what sopfs spent reading a big file.
 */
CRC_TARGET static uint32_t crc_fold(uint32_t crc, const uint8_t *p, size_t n)
{
    const __m128i k12 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4); /* x^(512+-32) mod P */
    const __m128i k34 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0); /* x^(128+-32) mod P */
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);            /* x^64 mod P        */
    const __m128i pmu = _mm_set_epi64x(0x1f7011641, 0x1db710641); /* mu, P             */
    const __m128i lo32 = _mm_set_epi32(0, -1, 0, -1);
    __m128i l[4];
    for (int i = 0; i < 4; i++)
        l[i] = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
    l[0] = _mm_xor_si128(l[0], _mm_cvtsi32_si128((int)crc));
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64)
        for (int i = 0; i < 4; i++)
            l[i] =
                crc_fold1(l[i], k12, _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)));
    __m128i x = l[0];
    for (int i = 1; i < 4; i++)
        x = crc_fold1(x, k34, l[i]);
    for (; n >= 16; p += 16, n -= 16)
        x = crc_fold1(x, k34, _mm_loadu_si128((const __m128i *)(const void *)p));
    /* 128 bits to 64 */
    __m128i t = _mm_clmulepi64_si128(x, k34, 0x10);
    x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
    t = _mm_srli_si128(x, 4);
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, lo32), k5, 0x00), t);
    /* 64 bits to 32 */
    t = _mm_clmulepi64_si128(_mm_and_si128(x, lo32), pmu, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, lo32), pmu, 0x00);
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
}
#endif

uint32_t codec_crc32(uint32_t crc, const void *p, size_t n)
{
    const Bytef *b = p;
#ifdef CRC_FOLD
    if (n >= 64 && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
        size_t bulk = n & ~(size_t)15;
        crc = ~crc_fold(~crc, b, bulk);
        b += bulk;
        n -= bulk;
    }
#endif
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return crc;
}

/* ------------------------------------------------------------ UUIDs */

static unsigned fork_gen; /* bumped in a forked child: threads reseed */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static __thread uint64_t rs[4]; /* xoshiro256** state */
static __thread bool rs_seeded;
static __thread unsigned rs_gen;

static void after_fork(void)
{
    fork_gen++;
}

static void register_fork(void)
{
    pthread_atfork(NULL, NULL, after_fork);
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rs_seed(void)
{
    uuid_t u[2];
    pthread_once(&fork_once, register_fork);
    /* 32 bytes from libuuid's generator (getrandom(2) underneath), mixed
     * with the time, the thread and the process through splitmix */
    uuid_generate_random(u[0]);
    uuid_generate_random(u[1]);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    x ^= (uint64_t)(uintptr_t)&rs ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < 4; i++) {
        uint64_t v;
        memcpy(&v, (const uint8_t *)u + 8 * i, 8);
        rs[i] = v ^ splitmix(&x);
    }
    if (!(rs[0] | rs[1] | rs[2] | rs[3]))
        rs[0] = 1;
    rs_seeded = true;
    rs_gen = fork_gen;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rs_next(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

void codec_uuid4(uint8_t out[16])
{
    if (!rs_seeded || rs_gen != fork_gen)
        rs_seed();
    uint64_t a = rs_next(), b = rs_next();
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40); /* version 4 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void wb_init(struct wbuf *w)
{
    memset(w, 0, sizeof(*w));
}

void wb_free(struct wbuf *w)
{
    os_free(w->p);
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
    uint8_t *p = os_realloc(w->p, cap);
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

uint64_t rb_varint_long(struct rbuf *r)
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

