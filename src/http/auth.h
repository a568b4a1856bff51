/* auth.h: the HTTP security policy of recd: API keys with scopes, per-client rate limits (token
 * buckets) and the CORS origin list. server.c applies them in on_headers, before a body byte is
 * read; this file decides, it never touches a socket. Keys are held as their SHA-256
 * (core/sha256.h).
 *
 * Scopes are per route (the route table in api.c). A key has one or more of read, write and
 * admin; admin allows every route, read and write only routes of their own scope (write does
 * not imply read). docs/SECURITY.md is the user's description.
 */
#ifndef REC_HTTP_AUTH_H
#define REC_HTTP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/sha256.h"

#define REC_AUTH_KEY_MIN 16    /* shortest key a key file may hold, characters */
#define REC_AUTH_KEY_MAX 256   /* longest */

/* 1 when the n bytes at a and b are equal, else 0, in time that depends only on n (no early
 * exit, no data-dependent branch). */
int rec_auth_equal(const void *a, const void *b, size_t n);

/* What a route needs (one value) and what a key holds (a bit mask). */
enum rec_auth_scope {
    REC_SCOPE_OPEN = 0,    /* route: no key needed and never rate-limited (GET /health) */
    REC_SCOPE_READ = 1,    /* recommendations, similar, popular, reading an item */
    REC_SCOPE_WRITE = 2,   /* sending events */
    REC_SCOPE_ADMIN = 4,   /* everything */
};

/* "read", "write", "admin" or "open"; "?" for anything else. Static. */
const char *rec_auth_scope_name(int scope);

/* A set of API keys, each held as its SHA-256 with its scopes. Immutable once built, so any
 * number of threads may check against it at once. */
struct rec_auth;

/* Parses a key file's text (len bytes; need not be NUL-terminated): lines "<scope> <key>", scope
 * read, write or admin, key REC_AUTH_KEY_MIN..REC_AUTH_KEY_MAX characters of [A-Za-z0-9-._~+/=];
 * blank lines and lines starting with '#' are skipped, and so is a "# comment" after the key.
 * The same key on several lines holds all their scopes. name prefixes messages
 * ("keys.txt:3: unknown scope 'raed' (read, write or admin)"). At least one key is required.
 * Returns 0 with *out owned by the caller (rec_auth_destroy), or REC_EINVAL / REC_ENOMEM with
 * the message in err. The key text is not kept. */
int rec_auth_parse(const char *text, size_t len, const char *name, struct rec_auth **out,
                   char *err, size_t errlen);
/* Reads and parses the key file at path (as rec_auth_parse; REC_EIO when it cannot be read). */
int rec_auth_load(const char *path, struct rec_auth **out, char *err, size_t errlen);
/* NULL is a no-op. */
void rec_auth_destroy(struct rec_auth *a);
/* Distinct keys held. */
int rec_auth_n_keys(const struct rec_auth *a);
/* Key comparisons made by rec_auth_check since creation: every check compares the presented
 * key's hash with every key held, found or not, so this grows by rec_auth_n_keys per check
 * (tests use it to see that no lookup stops early). Thread-safe. */
unsigned long rec_auth_compares(const struct rec_auth *a);

/* Checks the value of an Authorization header (NULL: none) for a route needing scope need.
 * Returns 0 when allowed (id, when not NULL, gets the key's SHA-256, which names its rate-limit
 * bucket), REC_EUNAUTHORIZED when the header is missing or malformed or the key is unknown, or
 * REC_EFORBIDDEN when the key lacks the scope; msg gets a message for the client that never
 * repeats the key. need REC_SCOPE_OPEN always passes. Thread-safe. */
int rec_auth_check(const struct rec_auth *a, const char *authorization, int need,
                   uint8_t id[REC_SHA256_SIZE], char *msg, size_t msglen);

/* Token buckets, one per client id (a key's hash, or a client address): each holds up to burst
 * tokens, refills at rate tokens per second, and a request takes one. A fixed table of
 * RL_SHARDS x RL_SLOTS buckets, a mutex per shard; when a shard's probe window is full the
 * bucket idle longest is reused (that client starts again with a full bucket). */
struct rec_ratelimit;

/* rate > 0 requests per second, burst >= 1. Returns 0 with *out (rec_ratelimit_destroy), or
 * REC_EINVAL / REC_ENOMEM. */
int rec_ratelimit_create(double rate, int burst, struct rec_ratelimit **out);
/* NULL is a no-op. */
void rec_ratelimit_destroy(struct rec_ratelimit *rl);
/* Takes a token from id's bucket at time now (seconds on any clock that never goes back; a
 * smaller now than the bucket's last counts as no time passed). Returns 0, or REC_ERATELIMIT
 * with *retry_after_s = whole seconds (>= 1) until a token is back. Thread-safe. */
int rec_ratelimit_take(struct rec_ratelimit *rl, const uint8_t id[REC_SHA256_SIZE], double now,
                       int *retry_after_s);

/* The browser origins allowed to call the API (CORS). Immutable once built. */
struct rec_cors;

/* origins: "*" (any) or a comma-separated list of origins "scheme://host[:port]" (http or https,
 * no path; spaces around commas allowed). Returns 0 with *out (rec_cors_destroy), or REC_EINVAL
 * with the message in err, or REC_ENOMEM. */
int rec_cors_create(const char *origins, struct rec_cors **out, char *err, size_t errlen);
/* NULL is a no-op. */
void rec_cors_destroy(struct rec_cors *c);
/* The Access-Control-Allow-Origin value for a request's Origin header: "*" when any origin is
 * allowed, origin itself when it is listed (ASCII case-insensitive), NULL when origin is NULL or
 * not allowed. Borrowed: valid while origin is. Thread-safe. */
const char *rec_cors_allow(const struct rec_cors *c, const char *origin);
/* 1 when configured with "*" (the reply then need not vary by Origin). */
int rec_cors_any(const struct rec_cors *c);

#endif
