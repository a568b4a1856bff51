/* sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), written from the standards.
 *
 * Used for API keys (http/auth.c holds their hashes) and for keyed user ids (core/uid.c).
 * Every function is pure: no globals, no allocation, thread-safe on distinct contexts. A context
 * may be copied by assignment (HMAC keyed once, then copied per message). Contexts that held key
 * material are wiped by rec_hmac_sha256_final and rec_sha256_wipe.
 */
#ifndef REC_CORE_SHA256_H
#define REC_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define REC_SHA256_SIZE 32     /* bytes of a digest */
#define REC_SHA256_BLOCK 64    /* bytes of a block; HMAC keys longer than this are hashed */

/* An incremental SHA-256 computation. Fields are internal. */
struct rec_sha256_ctx {
    uint32_t h[8];                    /* chaining state */
    uint64_t bytes;                   /* message bytes absorbed so far */
    uint8_t buf[REC_SHA256_BLOCK];    /* a partial block */
    size_t fill;                      /* bytes in buf, 0..63 */
};

void rec_sha256_init(struct rec_sha256_ctx *c);
/* Absorbs n bytes at data (data may be NULL when n is 0). */
void rec_sha256_update(struct rec_sha256_ctx *c, const void *data, size_t n);
/* Writes the digest of everything absorbed into out; c is spent (init it again to reuse). */
void rec_sha256_final(struct rec_sha256_ctx *c, uint8_t out[REC_SHA256_SIZE]);
/* SHA-256 of n bytes at data into out, in one call. */
void rec_sha256(const void *data, size_t n, uint8_t out[REC_SHA256_SIZE]);
/* Overwrites c with zeros in a way the compiler may not drop. */
void rec_sha256_wipe(struct rec_sha256_ctx *c);

/* An incremental HMAC-SHA256: the inner and outer hashes, each started with the key block. */
struct rec_hmac_sha256_ctx {
    struct rec_sha256_ctx inner, outer;
};

/* Starts an HMAC under the key (klen bytes, any length; RFC 2104 hashes keys longer than a
 * block). The context then holds key-derived state, not the key; copy it to MAC many messages
 * under one key without hashing the key each time. */
void rec_hmac_sha256_init(struct rec_hmac_sha256_ctx *h, const void *key, size_t klen);
void rec_hmac_sha256_update(struct rec_hmac_sha256_ctx *h, const void *data, size_t n);
/* Writes the MAC into out and wipes h. */
void rec_hmac_sha256_final(struct rec_hmac_sha256_ctx *h, uint8_t out[REC_SHA256_SIZE]);
/* HMAC-SHA256(key, msg) into out, in one call. */
void rec_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
                     uint8_t out[REC_SHA256_SIZE]);

#endif
