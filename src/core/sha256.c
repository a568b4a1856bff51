/* sha256.c: SHA-256 from FIPS 180-4 and HMAC from RFC 2104 (see sha256.h); no third-party
 * code. */
#include "core/sha256.h"

#include <string.h>

/* ---- SHA-256 (FIPS 180-4, section 6.2) --------------------------------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* One 64-byte block into the state h (section 6.2.2). */
static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      K256[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
    /* the message schedule holds input words (key material under HMAC) */
    explicit_bzero(w, sizeof w);
}

void rec_sha256_init(struct rec_sha256_ctx *c)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->bytes = 0;
    c->fill = 0;
}

void rec_sha256_update(struct rec_sha256_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (n == 0)
        return;
    c->bytes += n;
    if (c->fill) {
        size_t take = REC_SHA256_BLOCK - c->fill < n ? REC_SHA256_BLOCK - c->fill : n;
        memcpy(c->buf + c->fill, p, take);
        c->fill += take;
        p += take;
        n -= take;
        if (c->fill < REC_SHA256_BLOCK)
            return;
        sha256_block(c->h, c->buf);
        c->fill = 0;
    }
    for (; n >= REC_SHA256_BLOCK; n -= REC_SHA256_BLOCK, p += REC_SHA256_BLOCK)
        sha256_block(c->h, p);
    if (n)
        memcpy(c->buf, p, n);
    c->fill = n;
}

void rec_sha256_final(struct rec_sha256_ctx *c, uint8_t out[REC_SHA256_SIZE])
{
    /* padding (section 5.1.1): 0x80, zeros, the length in bits as 64-bit big endian */
    uint64_t bits = c->bytes * 8;
    c->buf[c->fill++] = 0x80;
    if (c->fill > REC_SHA256_BLOCK - 8) {
        memset(c->buf + c->fill, 0, REC_SHA256_BLOCK - c->fill);
        sha256_block(c->h, c->buf);
        c->fill = 0;
    }
    memset(c->buf + c->fill, 0, REC_SHA256_BLOCK - 8 - c->fill);
    for (int i = 0; i < 8; i++)
        c->buf[REC_SHA256_BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha256_block(c->h, c->buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void rec_sha256(const void *data, size_t n, uint8_t out[REC_SHA256_SIZE])
{
    struct rec_sha256_ctx c;
    rec_sha256_init(&c);
    rec_sha256_update(&c, data, n);
    rec_sha256_final(&c, out);
    rec_sha256_wipe(&c);
}

void rec_sha256_wipe(struct rec_sha256_ctx *c) { explicit_bzero(c, sizeof *c); }

/* ---- HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || text)) ------------------------------ */

void rec_hmac_sha256_init(struct rec_hmac_sha256_ctx *h, const void *key, size_t klen)
{
    uint8_t k[REC_SHA256_BLOCK] = {0}, pad[REC_SHA256_BLOCK];
    if (klen > REC_SHA256_BLOCK)
        rec_sha256(key, klen, k);   /* the key becomes its digest, zero-padded */
    else if (klen)
        memcpy(k, key, klen);
    for (int i = 0; i < REC_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    rec_sha256_init(&h->inner);
    rec_sha256_update(&h->inner, pad, sizeof pad);
    for (int i = 0; i < REC_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    rec_sha256_init(&h->outer);
    rec_sha256_update(&h->outer, pad, sizeof pad);
    explicit_bzero(k, sizeof k);
    explicit_bzero(pad, sizeof pad);
}

void rec_hmac_sha256_update(struct rec_hmac_sha256_ctx *h, const void *data, size_t n)
{
    rec_sha256_update(&h->inner, data, n);
}

void rec_hmac_sha256_final(struct rec_hmac_sha256_ctx *h, uint8_t out[REC_SHA256_SIZE])
{
    uint8_t inner[REC_SHA256_SIZE];
    rec_sha256_final(&h->inner, inner);
    rec_sha256_update(&h->outer, inner, sizeof inner);
    rec_sha256_final(&h->outer, out);
    explicit_bzero(inner, sizeof inner);
    explicit_bzero(h, sizeof *h);
}

void rec_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
                     uint8_t out[REC_SHA256_SIZE])
{
    struct rec_hmac_sha256_ctx h;
    rec_hmac_sha256_init(&h, key, klen);
    rec_hmac_sha256_update(&h, msg, n);
    rec_hmac_sha256_final(&h, out);
}
