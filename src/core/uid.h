/* uid.h: keyed user ids (--user-id-key, docs/PRIVACY.md).
 *
 * With a secret key, every user id that enters recd is replaced at the boundary (HTTP bodies and
 * paths, Kafka messages, imports, `recd recommend --user`) by
 *
 *     lowercase hex of the first 16 bytes of HMAC-SHA256(key, id)      (32 characters)
 *
 * so the store, the model files and memory hold only that. 128 bits: distinct ids collide with
 * probability about n^2 / 2^129 (1e-21 at a billion users), and without the key nobody can
 * compute the keyed id of a guessed raw id, which a plain hash would allow. The mapping is a
 * pure function of (key, id): the same on every node and after every restart, and lost with the
 * key.
 */
#ifndef REC_CORE_UID_H
#define REC_CORE_UID_H

#include <stddef.h>

#define REC_UID_HEX 32          /* characters of a keyed id */
#define REC_UID_BUF (REC_UID_HEX + 1)
#define REC_UID_KEY_MIN 32      /* shortest key, bytes */
#define REC_UID_KEY_MAX 4096    /* longest key file, bytes */
#define REC_UID_FINGERPRINT 16  /* hex characters of rec_uid_key_fingerprint */

/* A loaded key (only HMAC state derived from it, never the key bytes). Immutable once built, so
 * any number of threads may hash with it at once. */
struct rec_uid_key;

/* A key from n bytes at key: REC_UID_KEY_MIN or more, else REC_EINVAL with a message in err.
 * Returns 0 with *out (rec_uid_key_destroy), or REC_EINVAL / REC_ENOMEM. The bytes are not kept;
 * the caller wipes its copy. */
int rec_uid_key_create(const void *key, size_t n, struct rec_uid_key **out, char *err,
                       size_t errlen);
/* Reads the key file at path: its bytes, less one trailing "\n" or "\r\n" (so a key written by
 * `openssl rand -hex 32 > FILE` or `head -c 32 /dev/urandom > FILE` both work), at least
 * REC_UID_KEY_MIN and at most REC_UID_KEY_MAX bytes. Returns 0 with *out, REC_EIO (missing or
 * unreadable, message naming path), REC_EINVAL (too short or too long) or REC_ENOMEM. What was
 * read is wiped before returning. */
int rec_uid_key_load(const char *path, struct rec_uid_key **out, char *err, size_t errlen);
/* Wipes and frees. NULL is a no-op. */
void rec_uid_key_destroy(struct rec_uid_key *k);

/* The id to store for user id: with k, its keyed id written into buf (REC_UID_HEX lowercase hex
 * characters and a NUL) and buf returned; with k NULL, id itself (buf untouched). id is a
 * NUL-terminated string, already checked as an id. Thread-safe. */
const char *rec_uid_map(const struct rec_uid_key *k, const char *id, char buf[REC_UID_BUF]);

/* A short public name of the key, REC_UID_FINGERPRINT hex characters (the keyed hash of a fixed
 * label), into out: kept in the store to notice a data directory written under another key.
 * It reveals nothing about the key nor about any id. */
void rec_uid_key_fingerprint(const struct rec_uid_key *k, char out[REC_UID_FINGERPRINT + 1]);

#endif
