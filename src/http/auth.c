/* auth.c: API keys, rate limits and CORS origins (see auth.h). Keys are held as their SHA-256
 * (core/sha256.c). */
#include "http/auth.h"

#include "core/err.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rec_auth_equal(const void *a, const void *b, size_t n)
{
    /* volatile: the compiler may not turn the loop into memcmp or stop at the first difference */
    const volatile uint8_t *x = a, *y = b;
    uint32_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint32_t)(x[i] ^ y[i]);
    return (int)(1 & ((d - 1) >> 8));   /* d is 0..255: 1 iff d == 0, without a branch */
}

/* ---- API keys ------------------------------------------------------------------------------ */

struct auth_key {
    uint8_t hash[REC_SHA256_SIZE];
    unsigned scopes;    /* REC_SCOPE_* bits */
};

struct rec_auth {
    struct auth_key *keys;
    int n_keys;
    atomic_ulong compares;
};

static const struct {
    const char *name;
    int scope;
} scope_names[] = {
    {"read", REC_SCOPE_READ},
    {"write", REC_SCOPE_WRITE},
    {"admin", REC_SCOPE_ADMIN},
};

const char *rec_auth_scope_name(int scope)
{
    if (scope == REC_SCOPE_OPEN)
        return "open";
    for (size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
        if (scope_names[i].scope == scope)
            return scope_names[i].name;
    return "?";
}

static bool key_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           strchr("-._~+/=", ch) != NULL;
}

static bool blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* Adds hash with scope to a (an existing key gains the scope). 0 or REC_ENOMEM. */
static int add_key(struct rec_auth *a, int *cap, const uint8_t hash[REC_SHA256_SIZE], int scope)
{
    for (int i = 0; i < a->n_keys; i++)
        if (memcmp(a->keys[i].hash, hash, REC_SHA256_SIZE) == 0) {
            a->keys[i].scopes |= (unsigned)scope;
            return 0;
        }
    if (a->n_keys == *cap) {
        int ncap = *cap ? *cap * 2 : 8;
        struct auth_key *k = realloc(a->keys, (size_t)ncap * sizeof *k);
        if (!k)
            return REC_ENOMEM;
        a->keys = k;
        *cap = ncap;
    }
    memcpy(a->keys[a->n_keys].hash, hash, REC_SHA256_SIZE);
    a->keys[a->n_keys++].scopes = (unsigned)scope;
    return 0;
}

/* One line of a key file (without its '\n'): 0 after adding its key or when it holds none,
 * REC_EINVAL / REC_ENOMEM with the message in err. */
static int parse_line(struct rec_auth *a, int *cap, const char *p, const char *end,
                      const char *name, int lineno, char *err, size_t errlen)
{
    while (p < end && blank(*p))
        p++;
    if (p == end || *p == '#')
        return 0;
    const char *word = p;
    while (p < end && !blank(*p))
        p++;
    size_t wlen = (size_t)(p - word);
    int scope = -1;
    for (size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
        if (strlen(scope_names[i].name) == wlen && memcmp(scope_names[i].name, word, wlen) == 0)
            scope = scope_names[i].scope;
    if (scope < 0)
        return rec_errf(err, errlen, REC_EINVAL,
                        "%s:%d: unknown scope '%.*s' (read, write or admin; lines are "
                        "'<scope> <key>')", name, lineno, wlen > 32 ? 32 : (int)wlen, word);
    while (p < end && blank(*p))
        p++;
    const char *key = p;
    while (p < end && !blank(*p))
        p++;
    size_t klen = (size_t)(p - key);
    while (p < end && blank(*p))
        p++;
    if (klen == 0)
        return rec_errf(err, errlen, REC_EINVAL, "%s:%d: no key after the scope '%s'", name,
                        lineno, rec_auth_scope_name(scope));
    if (p < end && *p != '#')
        return rec_errf(err, errlen, REC_EINVAL,
                        "%s:%d: unexpected text after the key (lines are '<scope> <key>')", name,
                        lineno);
    for (size_t i = 0; i < klen; i++)
        if (!key_char(key[i]))
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s:%d: the key has a character outside A-Z a-z 0-9 - . _ ~ + / = "
                            "(at position %zu)", name, lineno, i + 1);
    if (klen < REC_AUTH_KEY_MIN || klen > REC_AUTH_KEY_MAX)
        return rec_errf(err, errlen, REC_EINVAL,
                        "%s:%d: a key must be %d..%d characters long, this one has %zu", name,
                        lineno, REC_AUTH_KEY_MIN, REC_AUTH_KEY_MAX, klen);
    uint8_t hash[REC_SHA256_SIZE];
    rec_sha256(key, klen, hash);
    if (add_key(a, cap, hash, scope))
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    return 0;
}

int rec_auth_parse(const char *text, size_t len, const char *name, struct rec_auth **out,
                   char *err, size_t errlen)
{
    struct rec_auth *a = calloc(1, sizeof *a);
    if (!a)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    atomic_init(&a->compares, 0);
    int cap = 0, rc = 0, lineno = 0;
    const char *p = text, *end = text + len;
    if (memchr(text, '\0', len))
        rc = rec_errf(err, errlen, REC_EINVAL, "%s: holds a NUL byte; is it a text file?", name);
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        rc = parse_line(a, &cap, p, stop, name, ++lineno, err, errlen);
        p = nl ? nl + 1 : end;
    }
    if (rc == 0 && a->n_keys == 0)
        rc = rec_errf(err, errlen, REC_EINVAL, "%s: no keys (lines '<scope> <key>', scope read, "
                      "write or admin)", name);
    if (rc) {
        rec_auth_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

int rec_auth_load(const char *path, struct rec_auth **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return rec_errf(err, errlen, REC_EIO, "cannot read the key file %s", path);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    for (size_t n; buf && (n = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += n;
        if (len == cap) {
            if (cap >= (64u << 20)) {   /* far beyond any real key file */
                rc = rec_errf(err, errlen, REC_EINVAL, "%s: larger than 64 MiB", path);
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                explicit_bzero(buf, cap);
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (rc == 0 && !buf)
        rc = rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    else if (rc == 0 && ferror(f))
        rc = rec_errf(err, errlen, REC_EIO, "error reading the key file %s", path);
    fclose(f);
    if (rc == 0)
        rc = rec_auth_parse(buf, len, path, out, err, errlen);
    if (buf) {
        explicit_bzero(buf, cap);   /* the keys in clear do not outlive the load */
        free(buf);
    }
    return rc;
}

void rec_auth_destroy(struct rec_auth *a)
{
    if (!a)
        return;
    free(a->keys);
    free(a);
}

int rec_auth_n_keys(const struct rec_auth *a) { return a ? a->n_keys : 0; }

unsigned long rec_auth_compares(const struct rec_auth *a)
{
    return a ? atomic_load_explicit(&a->compares, memory_order_relaxed) : 0;
}

int rec_auth_check(const struct rec_auth *a, const char *authorization, int need,
                   uint8_t id[REC_SHA256_SIZE], char *msg, size_t msglen)
{
    if (need == REC_SCOPE_OPEN)
        return 0;
    if (!authorization || !*authorization)
        return rec_errf(msg, msglen, REC_EUNAUTHORIZED,
                        "an API key is required: send the header 'Authorization: Bearer <key>'");
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return rec_errf(msg, msglen, REC_EUNAUTHORIZED,
                        "the Authorization header must be 'Bearer <key>'");
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return rec_errf(msg, msglen, REC_EUNAUTHORIZED,
                        "the Authorization header has no key after 'Bearer'");

    /* Every key is compared, in constant time, whether or not an earlier one matched, so the
     * time taken says nothing about which keys exist. Hashing first makes the comparison length
     * fixed and means the key text itself is never compared. */
    uint8_t h[REC_SHA256_SIZE];
    rec_sha256(p, n, h);
    unsigned scopes = 0;
    for (int i = 0; i < a->n_keys; i++) {
        unsigned eq = (unsigned)rec_auth_equal(h, a->keys[i].hash, REC_SHA256_SIZE);
        scopes |= a->keys[i].scopes & (0u - eq);
    }
    atomic_fetch_add_explicit(&((struct rec_auth *)a)->compares, (unsigned long)a->n_keys,
                              memory_order_relaxed);
    if (scopes == 0)
        return rec_errf(msg, msglen, REC_EUNAUTHORIZED, "invalid API key");
    if (!(scopes & (unsigned)need) && !(scopes & REC_SCOPE_ADMIN))
        return rec_errf(msg, msglen, REC_EFORBIDDEN, "this API key lacks the '%s' scope",
                        rec_auth_scope_name(need));
    if (id)
        memcpy(id, h, REC_SHA256_SIZE);
    return 0;
}

/* ---- rate limits ---------------------------------------------------------------------------- */

#define RL_SHARDS 16     /* a mutex each: threads rarely wait for one another */
#define RL_SLOTS  512    /* buckets per shard: 8192 clients tracked at once */
#define RL_PROBE  8      /* slots a client may occupy from its home slot */
#define RL_RETRY_MAX 86400

struct bucket {
    uint8_t id[REC_SHA256_SIZE];
    double tokens;       /* 0..burst */
    double last;         /* the `now` of the bucket's latest take */
    bool used;           /* false: slot free */
};

struct shard {
    pthread_mutex_t lock;
    struct bucket b[RL_SLOTS];
};

struct rec_ratelimit {
    double rate;         /* tokens per second, > 0 */
    double burst;        /* bucket size, >= 1 */
    struct shard shards[RL_SHARDS];
};

int rec_ratelimit_create(double rate, int burst, struct rec_ratelimit **out)
{
    if (!(rate > 0) || burst < 1)
        return REC_EINVAL;
    struct rec_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return REC_ENOMEM;
    rl->rate = rate;
    rl->burst = burst;
    for (int s = 0; s < RL_SHARDS; s++)
        pthread_mutex_init(&rl->shards[s].lock, NULL);
    *out = rl;
    return 0;
}

void rec_ratelimit_destroy(struct rec_ratelimit *rl)
{
    if (!rl)
        return;
    for (int s = 0; s < RL_SHARDS; s++)
        pthread_mutex_destroy(&rl->shards[s].lock);
    free(rl);
}

/* FNV-1a over the id: a key's hash is already uniform, an address is not. */
static uint64_t id_hash(const uint8_t *id)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < REC_SHA256_SIZE; i++)
        h = (h ^ id[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

int rec_ratelimit_take(struct rec_ratelimit *rl, const uint8_t id[REC_SHA256_SIZE], double now,
                       int *retry_after_s)
{
    uint64_t h = id_hash(id);
    struct shard *sh = &rl->shards[h % RL_SHARDS];
    size_t home = (size_t)(h / RL_SHARDS) % RL_SLOTS;
    int rc = 0;
    pthread_mutex_lock(&sh->lock);
    /* visits at most RL_PROBE slots, so the lock is held for a few hundred nanoseconds */
    struct bucket *b = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < RL_PROBE && !b; i++) {
        struct bucket *x = &sh->b[(home + i) % RL_SLOTS];
        if (!x->used) {
            if (!free_slot)
                free_slot = x;
        } else if (memcmp(x->id, id, REC_SHA256_SIZE) == 0) {
            b = x;
        } else if (!oldest || x->last < oldest->last) {
            oldest = x;
        }
    }
    if (!b) {
        b = free_slot ? free_slot : oldest;
        memcpy(b->id, id, REC_SHA256_SIZE);
        b->tokens = rl->burst;
        b->last = now;
        b->used = true;
    }
    double elapsed = now > b->last ? now - b->last : 0;
    b->tokens += elapsed * rl->rate;
    if (b->tokens > rl->burst)
        b->tokens = rl->burst;
    if (now > b->last)
        b->last = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        double wait = ceil((1 - b->tokens) / rl->rate);
        *retry_after_s = wait < 1 ? 1 : wait > RL_RETRY_MAX ? RL_RETRY_MAX : (int)wait;
        rc = REC_ERATELIMIT;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

/* ---- CORS origins --------------------------------------------------------------------------- */

struct rec_cors {
    bool any;
    int n;
    char **origins;
};

void rec_cors_destroy(struct rec_cors *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->origins[i]);
    free(c->origins);
    free(c);
}

/* "scheme://host[:port]" with scheme http or https, a non-empty host and nothing after. */
static bool origin_ok(const char *s, size_t n)
{
    size_t skip = n >= 8 && !strncasecmp(s, "https://", 8) ? 8
                  : n >= 7 && !strncasecmp(s, "http://", 7) ? 7 : 0;
    if (skip == 0 || skip == n)
        return false;
    for (size_t i = skip; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == ':' || ch == '[' || ch == ']'))
            return false;
    }
    return true;
}

int rec_cors_create(const char *origins, struct rec_cors **out, char *err, size_t errlen)
{
    struct rec_cors *c = calloc(1, sizeof *c);
    if (!c)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    int rc = 0;
    for (const char *p = origins ? origins : ""; rc == 0 && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == 0) {
            p += n;
            continue;
        }
        if (m == 1 && p[0] == '*') {
            c->any = true;
        } else if (!origin_ok(p, m)) {
            rc = rec_errf(err, errlen, REC_EINVAL,
                          "--cors-origins: '%.*s' is not an origin like https://app.example or "
                          "http://localhost:3000 (no path, no trailing slash), nor *",
                          m > 100 ? 100 : (int)m, p);
        } else {
            char **o = realloc(c->origins, (size_t)(c->n + 1) * sizeof *o);
            char *dup = o ? strndup(p, m) : NULL;
            if (o)
                c->origins = o;
            if (!dup)
                rc = rec_errf(err, errlen, REC_ENOMEM, "out of memory");
            else
                c->origins[c->n++] = dup;
        }
        p += n;
    }
    if (rc == 0 && !c->any && c->n == 0)
        rc = rec_errf(err, errlen, REC_EINVAL, "--cors-origins: no origin given");
    if (rc == 0 && c->any && c->n > 0)
        rc = rec_errf(err, errlen, REC_EINVAL, "--cors-origins: '*' already allows every origin; "
                      "give either '*' or a list");
    if (rc) {
        rec_cors_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

const char *rec_cors_allow(const struct rec_cors *c, const char *origin)
{
    if (!c || !origin)
        return NULL;
    if (c->any)
        return "*";
    for (int i = 0; i < c->n; i++)
        if (strcasecmp(c->origins[i], origin) == 0)
            return origin;
    return NULL;
}

int rec_cors_any(const struct rec_cors *c) { return c && c->any; }
