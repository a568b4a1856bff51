/* binio.c: little-endian, FNV-1a-checksummed binary files; see binio.h. */
#include "model/binio.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define FNV_PRIME 0x100000001b3ull
#define GROW_MIN 256
#define READ_WORDS 1024 /* 4-byte words per fread of an array */

uint64_t rec_binio_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

static void put_le(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- writer -------------------------------------------------------------------------------- */

void rec_binw_init(struct rec_binw *w, FILE *f)
{
    w->f = f;
    w->h = REC_BINIO_FNV_OFFSET;
    w->err = 0;
    w->len = 0;
}

static void flush(struct rec_binw *w)
{
    if (w->len > 0 && !w->err && fwrite(w->buf, 1, w->len, w->f) != w->len)
        w->err = 1;
    w->len = 0;
}

void rec_binw_bytes(struct rec_binw *w, const void *p, size_t n)
{
    const unsigned char *s = p;
    w->h = rec_binio_fnv1a(w->h, s, n);
    while (n > 0) {
        if (w->len == sizeof w->buf)
            flush(w);
        size_t take = sizeof w->buf - w->len < n ? sizeof w->buf - w->len : n;
        memcpy(w->buf + w->len, s, take);
        w->len += take;
        s += take;
        n -= take;
    }
}

static void put(struct rec_binw *w, uint64_t v, int n)
{
    unsigned char b[8];
    put_le(b, v, n);
    rec_binw_bytes(w, b, (size_t)n);
}

void rec_binw_u32(struct rec_binw *w, uint32_t v) { put(w, v, 4); }
void rec_binw_i32(struct rec_binw *w, int32_t v) { put(w, (uint32_t)v, 4); }
void rec_binw_u64(struct rec_binw *w, uint64_t v) { put(w, v, 8); }
void rec_binw_f32(struct rec_binw *w, float v) { put(w, f32_bits(v), 4); }

void rec_binw_f64(struct rec_binw *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put(w, u, 8);
}

/* n 4-byte words from v (floats or int32s, read through memcpy) encoded straight into buf. */
static void put_words(struct rec_binw *w, const void *v, size_t n)
{
    const unsigned char *src = v;
    while (n > 0) {
        if (sizeof w->buf - w->len < 4)
            flush(w);
        size_t take = (sizeof w->buf - w->len) / 4;
        take = take < n ? take : n;
        unsigned char *dst = w->buf + w->len;
        for (size_t i = 0; i < take; i++) {
            uint32_t u;
            memcpy(&u, src + 4 * i, 4);
            put_le(dst + 4 * i, u, 4);
        }
        w->h = rec_binio_fnv1a(w->h, dst, 4 * take);
        w->len += 4 * take;
        src += 4 * take;
        n -= take;
    }
}

void rec_binw_f32s(struct rec_binw *w, const float *v, size_t n) { put_words(w, v, n); }
void rec_binw_i32s(struct rec_binw *w, const int32_t *v, size_t n) { put_words(w, v, n); }

void rec_binw_head(struct rec_binw *w, const char magic[8], uint32_t version)
{
    rec_binw_bytes(w, magic, 8);
    rec_binw_u32(w, version);
}

void rec_binw_params(struct rec_binw *w, const double *p, int n)
{
    rec_binw_u32(w, (uint32_t)n);
    for (int j = 0; j < n; j++)
        rec_binw_f64(w, p[j]);
}

void rec_binw_str(struct rec_binw *w, const char *s, size_t len)
{
    rec_binw_u32(w, (uint32_t)len);
    rec_binw_bytes(w, s, len);
}

int rec_binw_finish(struct rec_binw *w)
{
    rec_binw_u64(w, w->h);
    flush(w);
    if (w->err || fflush(w->f) != 0 || ferror(w->f))
        return REC_EIO;
    return REC_OK;
}

/* ---- reader -------------------------------------------------------------------------------- */

void rec_binr_init(struct rec_binr *r, FILE *f)
{
    r->f = f;
    r->h = REC_BINIO_FNV_OFFSET;
    r->rc = REC_OK;
}

int rec_binr_fail(struct rec_binr *r, int rc)
{
    if (!r->rc)
        r->rc = rc;
    return r->rc;
}

int rec_binr_bytes(struct rec_binr *r, void *p, size_t n)
{
    if (r->rc)
        return r->rc;
    if (fread(p, 1, n, r->f) != n)
        return rec_binr_fail(r, ferror(r->f) ? REC_EIO : REC_EFORMAT);
    r->h = rec_binio_fnv1a(r->h, p, n);
    return REC_OK;
}

static uint64_t get(struct rec_binr *r, int n)
{
    unsigned char b[8] = {0};
    rec_binr_bytes(r, b, (size_t)n);
    return r->rc ? 0 : get_le(b, n);
}

uint32_t rec_binr_u32(struct rec_binr *r) { return (uint32_t)get(r, 4); }
uint64_t rec_binr_u64(struct rec_binr *r) { return get(r, 8); }
float rec_binr_f32(struct rec_binr *r) { return bits_f32((uint32_t)get(r, 4)); }

int32_t rec_binr_i32(struct rec_binr *r)
{
    uint32_t u = (uint32_t)get(r, 4);
    return u <= INT32_MAX ? (int32_t)u : -1 - (int32_t)(UINT32_MAX - u);
}

double rec_binr_f64(struct rec_binr *r)
{
    uint64_t u = get(r, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

uint32_t rec_binr_head(struct rec_binr *r, const char magic[8])
{
    char b[8];
    if (rec_binr_bytes(r, b, sizeof b) == REC_OK && memcmp(b, magic, sizeof b) != 0)
        rec_binr_fail(r, REC_EFORMAT);
    uint32_t version = rec_binr_u32(r);
    return r->rc ? 0 : version;
}

int rec_binr_params(struct rec_binr *r, double *p, int n)
{
    if (rec_binr_u32(r) != (uint32_t)n)
        rec_binr_fail(r, REC_EFORMAT);
    for (int j = 0; j < n; j++)
        p[j] = rec_binr_f64(r);
    return r->rc;
}

/* rec_binr_grow that never goes past limit elements (limit >= need). */
static int grow_to(struct rec_binr *r, void **v, size_t *cap, size_t need, size_t limit,
                   size_t size)
{
    if (need <= *cap)
        return REC_OK;
    size_t c = *cap > GROW_MIN ? *cap : GROW_MIN;
    while (c < need && c <= SIZE_MAX / 2)
        c *= 2;
    c = c < limit ? c : limit;
    void *nv = c >= need && c <= SIZE_MAX / size ? realloc(*v, c * size) : NULL;
    if (!nv)
        return rec_binr_fail(r, REC_ENOMEM);
    *v = nv;
    *cap = c;
    return REC_OK;
}

int rec_binr_grow(struct rec_binr *r, void **v, size_t *cap, size_t need, size_t size)
{
    return grow_to(r, v, cap, need, SIZE_MAX, size);
}

/* n words into a new array of n + 1 elements of 4 bytes, decoding each block of raw
 * little-endian bytes with decode; grows only as the blocks arrive. NULL once r->rc is set. */
static void *read_words(struct rec_binr *r, size_t n,
                        void (*decode)(void *dst, size_t at, const unsigned char *src, size_t k))
{
    void *v = NULL;
    size_t cap = 0, got = 0;
    unsigned char b[4 * READ_WORDS];
    size_t limit = n < SIZE_MAX ? n + 1 : n;
    grow_to(r, &v, &cap, 1, limit, 4);
    while (got < n && !r->rc) {
        size_t take = n - got < READ_WORDS ? n - got : READ_WORDS;
        if (rec_binr_bytes(r, b, 4 * take) != REC_OK ||
            grow_to(r, &v, &cap, got + take + 1, limit, 4) != REC_OK)
            break;
        decode(v, got, b, take);
        got += take;
    }
    if (r->rc) {
        free(v);
        return NULL;
    }
    return v;
}

static void decode_f32(void *dst, size_t at, const unsigned char *src, size_t k)
{
    float *v = (float *)dst + at;
    for (size_t i = 0; i < k; i++)
        v[i] = bits_f32((uint32_t)get_le(src + 4 * i, 4));
}

static void decode_u32(void *dst, size_t at, const unsigned char *src, size_t k)
{
    uint32_t *v = (uint32_t *)dst + at;
    for (size_t i = 0; i < k; i++)
        v[i] = (uint32_t)get_le(src + 4 * i, 4);
}

float *rec_binr_f32s(struct rec_binr *r, size_t n, int finite_only)
{
    float *v = read_words(r, n, decode_f32);
    for (size_t i = 0; v && finite_only && i < n; i++) {
        if (!isfinite(v[i])) {
            rec_binr_fail(r, REC_EFORMAT);
            free(v);
            return NULL;
        }
    }
    return v;
}

uint32_t *rec_binr_u32s(struct rec_binr *r, size_t n) { return read_words(r, n, decode_u32); }

int rec_binr_str(struct rec_binr *r, char *buf, size_t min, size_t max, size_t *len)
{
    uint32_t n = rec_binr_u32(r);
    *len = 0;
    if (!r->rc && (n < min || n > max))
        rec_binr_fail(r, REC_EFORMAT);
    if (rec_binr_bytes(r, buf, n) != REC_OK)
        return r->rc;
    buf[n] = '\0';
    *len = n;
    if (memchr(buf, '\0', n))
        rec_binr_fail(r, REC_EFORMAT);
    return r->rc;
}

int rec_binr_finish(struct rec_binr *r)
{
    uint64_t want = r->h;
    if (rec_binr_u64(r) != want)
        rec_binr_fail(r, REC_EFORMAT);
    return r->rc;
}

int rec_binio_file_tag(FILE *f, uint64_t *tag)
{
    unsigned char b[8];
    *tag = 0;
    if (fseek(f, -8, SEEK_END) != 0)
        return errno == EINVAL ? REC_EFORMAT : REC_EIO;
    if (fread(b, 1, sizeof b, f) != sizeof b)
        return ferror(f) ? REC_EIO : REC_EFORMAT;
    *tag = get_le(b, 8);
    return REC_OK;
}
