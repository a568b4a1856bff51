/* http/auth: the key file, scope checks, the constant-time compare, token bucket refill math on
 * a fake clock, CORS origins, and the scopes of the API's routes. SHA-256 itself is tested in
 * test_sha256.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "http/api.h"
#include "http/auth.h"

static void test_constant_time_equal(void **state)
{
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++)
        a[i] = b[i] = (uint8_t)(i * 37 + 1);
    assert_int_equal(rec_auth_equal(a, b, 32), 1);
    assert_int_equal(rec_auth_equal(a, b, 0), 1);
    for (int i = 0; i < 32; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1 << bit);
            assert_int_equal(rec_auth_equal(a, b, 32), 0);
            b[i] ^= (uint8_t)(1 << bit);
        }
    memset(b, 0, sizeof b);
    assert_int_equal(rec_auth_equal(a, b, 32), 0);
}

#define KR "read-0123456789abcdef"
#define KW "write-0123456789abcdef"
#define KA "admin+0123456789/abcdef=="
#define KRW "both_0123456789.abcdef~"

static struct rec_auth *parse_ok(const char *text)
{
    struct rec_auth *a = NULL;
    char err[256] = "";
    int rc = rec_auth_parse(text, strlen(text), "keys.txt", &a, err, sizeof err);
    if (rc)
        fail_msg("parse failed: %s", err);
    return a;
}

static void assert_parse_error(const char *text, const char *fragment)
{
    struct rec_auth *a = NULL;
    char err[256] = "";
    assert_int_equal(rec_auth_parse(text, strlen(text), "keys.txt", &a, err, sizeof err),
                     REC_EINVAL);
    assert_null(a);
    if (!strstr(err, fragment))
        fail_msg("error '%s' lacks '%s'", err, fragment);
}

static void test_key_file_errors_name_the_line(void **state)
{
    assert_parse_error("read short\n", "keys.txt:1: a key must be 16..256 characters");
    assert_parse_error("# keys\n\nreed " KR "\n", "keys.txt:3: unknown scope 'reed'");
    assert_parse_error("read " KR "\nadmin\n", "keys.txt:2: no key after the scope 'admin'");
    assert_parse_error("read " KR " extra\n", "keys.txt:1: unexpected text after the key");
    assert_parse_error("write " KW "\n\n\nread bad*key*0123456789\n",
                       "keys.txt:4: the key has a character outside");
    assert_parse_error("Bearer " KR "\n", "keys.txt:1: unknown scope 'Bearer'");
    assert_parse_error("", "keys.txt: no keys");
    assert_parse_error("# nothing but comments\n   \n", "keys.txt: no keys");
    char longkey[400] = "admin ";
    memset(longkey + 6, 'k', 257);
    assert_parse_error(longkey, "keys.txt:1: a key must be 16..256 characters long, this one has 257");
    struct rec_auth *nul = NULL;
    char nerr[256];
    const char withnul[] = "read " KR "\n\0\n";
    assert_int_equal(rec_auth_parse(withnul, sizeof withnul - 1, "keys.txt", &nul, nerr,
                                    sizeof nerr), REC_EINVAL);
    assert_non_null(strstr(nerr, "NUL"));

    /* CRLF, tabs, indentation, trailing comments and a key twice are fine */
    struct rec_auth *a = parse_ok("# recd keys\r\n\tread\t" KR "\r\n  write " KW "   # the SDK\n"
                                  "admin " KA "\nread " KRW "\nwrite " KRW "\nread " KR "\n");
    assert_int_equal(rec_auth_n_keys(a), 4);
    rec_auth_destroy(a);

    a = NULL;
    char err[256];
    assert_int_equal(rec_auth_load("/nonexistent/keys", &a, err, sizeof err), REC_EIO);
    assert_non_null(strstr(err, "/nonexistent/keys"));
    char path[] = "/tmp/recd-test-keys-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "read " KR "\nwrite\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(rec_auth_load(path, &a, err, sizeof err), REC_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "%s:2:", path);
    assert_non_null(strstr(err, want));
    unlink(path);
}

static void test_scopes(void **state)
{
    struct rec_auth *a = parse_ok("read " KR "\nwrite " KW "\nadmin " KA "\nread " KRW
                                  "\nwrite " KRW "\n");
    char msg[256];
    uint8_t id[REC_SHA256_SIZE], want[REC_SHA256_SIZE];
#define CHECK(key, need) rec_auth_check(a, "Bearer " key, need, id, msg, sizeof msg)
    assert_int_equal(CHECK(KR, REC_SCOPE_READ), 0);
    rec_sha256(KR, strlen(KR), want);
    assert_memory_equal(id, want, sizeof id);   /* the rate limit bucket is the key's hash */
    assert_int_equal(CHECK(KR, REC_SCOPE_WRITE), REC_EFORBIDDEN);
    assert_non_null(strstr(msg, "'write' scope"));
    assert_null(strstr(msg, KR));
    assert_int_equal(CHECK(KR, REC_SCOPE_ADMIN), REC_EFORBIDDEN);
    assert_non_null(strstr(msg, "'admin' scope"));
    /* write does not imply read */
    assert_int_equal(CHECK(KW, REC_SCOPE_WRITE), 0);
    assert_int_equal(CHECK(KW, REC_SCOPE_READ), REC_EFORBIDDEN);
    assert_int_equal(CHECK(KW, REC_SCOPE_ADMIN), REC_EFORBIDDEN);
    /* admin allows everything */
    assert_int_equal(CHECK(KA, REC_SCOPE_READ), 0);
    assert_int_equal(CHECK(KA, REC_SCOPE_WRITE), 0);
    assert_int_equal(CHECK(KA, REC_SCOPE_ADMIN), 0);
    /* a key on two lines holds both scopes */
    assert_int_equal(CHECK(KRW, REC_SCOPE_READ), 0);
    assert_int_equal(CHECK(KRW, REC_SCOPE_WRITE), 0);
    assert_int_equal(CHECK(KRW, REC_SCOPE_ADMIN), REC_EFORBIDDEN);
    /* unknown keys, a key that is a prefix or an extension of a real one */
    assert_int_equal(CHECK("nope-0123456789abcdef", REC_SCOPE_READ), REC_EUNAUTHORIZED);
    assert_string_equal(msg, "invalid API key");
    assert_int_equal(CHECK("read-0123456789abcde", REC_SCOPE_READ), REC_EUNAUTHORIZED);
    assert_int_equal(CHECK(KR "f", REC_SCOPE_READ), REC_EUNAUTHORIZED);
#undef CHECK
    /* the header's form */
    assert_int_equal(rec_auth_check(a, NULL, REC_SCOPE_READ, id, msg, sizeof msg),
                     REC_EUNAUTHORIZED);
    assert_non_null(strstr(msg, "Authorization: Bearer"));
    assert_int_equal(rec_auth_check(a, "", REC_SCOPE_READ, id, msg, sizeof msg), REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_check(a, KR, REC_SCOPE_READ, id, msg, sizeof msg), REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_check(a, "Basic " KR, REC_SCOPE_READ, id, msg, sizeof msg),
                     REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_check(a, "Bearer   ", REC_SCOPE_READ, id, msg, sizeof msg),
                     REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_check(a, "Bearer" KR, REC_SCOPE_READ, id, msg, sizeof msg),
                     REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_check(a, "bearer  " KR " ", REC_SCOPE_READ, id, msg, sizeof msg), 0);
    /* open routes need nothing */
    assert_int_equal(rec_auth_check(a, NULL, REC_SCOPE_OPEN, id, msg, sizeof msg), 0);
    rec_auth_destroy(a);

    assert_string_equal(rec_auth_scope_name(REC_SCOPE_READ), "read");
    assert_string_equal(rec_auth_scope_name(REC_SCOPE_WRITE), "write");
    assert_string_equal(rec_auth_scope_name(REC_SCOPE_ADMIN), "admin");
    assert_int_equal(rec_err_http_status(REC_EUNAUTHORIZED), 401);
    assert_int_equal(rec_err_http_status(REC_EFORBIDDEN), 403);
    assert_int_equal(rec_err_http_status(REC_ERATELIMIT), 429);
    assert_string_equal(rec_err_code(REC_EUNAUTHORIZED), "unauthorized");
    assert_string_equal(rec_err_code(REC_EFORBIDDEN), "forbidden");
    assert_string_equal(rec_err_code(REC_ERATELIMIT), "rate_limited");
}

/* A check compares with every key, in constant time, whether the key is the first one held, the
 * last one, or none: no early exit tells an attacker how far a guess got. */
static void test_check_compares_every_key(void **state)
{
    struct rec_auth *a = parse_ok("admin " KA "\nread " KR "\nwrite " KW "\n");
    char msg[256];
    uint8_t id[REC_SHA256_SIZE];
    unsigned long c0 = rec_auth_compares(a);
    assert_int_equal(rec_auth_check(a, "Bearer " KA, REC_SCOPE_READ, id, msg, sizeof msg), 0);
    assert_int_equal(rec_auth_compares(a) - c0, 3);
    assert_int_equal(rec_auth_check(a, "Bearer " KW, REC_SCOPE_WRITE, id, msg, sizeof msg), 0);
    assert_int_equal(rec_auth_compares(a) - c0, 6);
    assert_int_equal(rec_auth_check(a, "Bearer unknown-key-0123456", REC_SCOPE_READ, id, msg,
                                    sizeof msg), REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_compares(a) - c0, 9);
    /* no header, no comparison to make */
    assert_int_equal(rec_auth_check(a, NULL, REC_SCOPE_READ, id, msg, sizeof msg),
                     REC_EUNAUTHORIZED);
    assert_int_equal(rec_auth_compares(a) - c0, 9);
    rec_auth_destroy(a);
}

static void id_of(uint8_t id[REC_SHA256_SIZE], unsigned n)
{
    memset(id, 0, REC_SHA256_SIZE);
    memcpy(id, &n, sizeof n);
}

static void test_token_bucket_refill(void **state)
{
    struct rec_ratelimit *rl = NULL;
    assert_int_equal(rec_ratelimit_create(0, 1, &rl), REC_EINVAL);
    assert_int_equal(rec_ratelimit_create(1, 0, &rl), REC_EINVAL);
    assert_int_equal(rec_ratelimit_create(2, 3, &rl), 0);   /* 2/s, bursts of 3 */
    uint8_t x[REC_SHA256_SIZE], y[REC_SHA256_SIZE];
    id_of(x, 1);
    id_of(y, 2);
    int retry = 0;
    double t = 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(rec_ratelimit_take(rl, x, t, &retry), 0);
    assert_int_equal(rec_ratelimit_take(rl, x, t, &retry), REC_ERATELIMIT);
    assert_int_equal(retry, 1);                              /* a token in 0.5 s: 1 s */
    assert_int_equal(rec_ratelimit_take(rl, y, t, &retry), 0);  /* another client: own bucket */
    assert_int_equal(rec_ratelimit_take(rl, x, t + 0.25, &retry), REC_ERATELIMIT); /* 0.5 */
    assert_int_equal(rec_ratelimit_take(rl, x, t + 0.5, &retry), 0);   /* 1 token, taken */
    assert_int_equal(rec_ratelimit_take(rl, x, t + 0.5, &retry), REC_ERATELIMIT);
    assert_int_equal(rec_ratelimit_take(rl, x, t + 0.4, &retry), REC_ERATELIMIT); /* clock back */
    /* a long pause refills up to the burst, not beyond */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rec_ratelimit_take(rl, x, t + 100, &retry), 0);
    assert_int_equal(rec_ratelimit_take(rl, x, t + 100, &retry), REC_ERATELIMIT);
    /* a steady 2/s passes, 4/s gets half through */
    int ok = 0;
    for (int i = 1; i <= 40; i++)
        ok += rec_ratelimit_take(rl, x, t + 100 + i * 0.25, &retry) == 0;
    assert_int_equal(ok, 20);
    rec_ratelimit_destroy(rl);

    /* Retry-After is the wait for a whole token, rounded up */
    assert_int_equal(rec_ratelimit_create(0.25, 1, &rl), 0);
    assert_int_equal(rec_ratelimit_take(rl, x, 0, &retry), 0);
    assert_int_equal(rec_ratelimit_take(rl, x, 0, &retry), REC_ERATELIMIT);
    assert_int_equal(retry, 4);
    assert_int_equal(rec_ratelimit_take(rl, x, 2, &retry), REC_ERATELIMIT);
    assert_int_equal(retry, 2);
    assert_int_equal(rec_ratelimit_take(rl, x, 3.5, &retry), REC_ERATELIMIT);
    assert_int_equal(retry, 1);   /* 0.5 s left: still a whole second */
    assert_int_equal(rec_ratelimit_take(rl, x, 4, &retry), 0);
    rec_ratelimit_destroy(rl);

    /* more clients than the table holds: each new one still starts with a full bucket */
    assert_int_equal(rec_ratelimit_create(1, 1, &rl), 0);
    for (unsigned i = 0; i < 20000; i++) {
        id_of(x, 100 + i);
        assert_int_equal(rec_ratelimit_take(rl, x, 5, &retry), 0);
    }
    rec_ratelimit_destroy(rl);
    rec_ratelimit_destroy(NULL);
}

struct race {
    struct rec_ratelimit *rl;
    int granted;
};

static void *race_thread(void *arg)
{
    struct race *r = arg;
    uint8_t id[REC_SHA256_SIZE];
    id_of(id, 7);
    int retry;
    for (int i = 0; i < 5000; i++)
        r->granted += rec_ratelimit_take(r->rl, id, 50, &retry) == 0;
    return NULL;
}

/* Four threads on one bucket at a frozen clock: exactly the burst is granted. */
static void test_token_bucket_threads(void **state)
{
    struct rec_ratelimit *rl;
    assert_int_equal(rec_ratelimit_create(1, 1000, &rl), 0);
    struct race r[4] = {{rl, 0}, {rl, 0}, {rl, 0}, {rl, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += r[i].granted;
    }
    assert_int_equal(total, 1000);
    rec_ratelimit_destroy(rl);
}

static void test_cors_origins(void **state)
{
    struct rec_cors *c = NULL;
    char err[256];
    assert_int_equal(rec_cors_create(" https://a.example , http://localhost:3000,", &c, err,
                                     sizeof err), 0);
    assert_false(rec_cors_any(c));
    assert_string_equal(rec_cors_allow(c, "https://a.example"), "https://a.example");
    assert_string_equal(rec_cors_allow(c, "HTTPS://A.example"), "HTTPS://A.example");
    assert_string_equal(rec_cors_allow(c, "http://localhost:3000"), "http://localhost:3000");
    assert_null(rec_cors_allow(c, "https://a.example.evil.com"));
    assert_null(rec_cors_allow(c, "http://a.example"));
    assert_null(rec_cors_allow(c, "null"));
    assert_null(rec_cors_allow(c, NULL));
    rec_cors_destroy(c);
    assert_int_equal(rec_cors_create("*", &c, err, sizeof err), 0);
    assert_true(rec_cors_any(c));
    assert_string_equal(rec_cors_allow(c, "https://anything.example"), "*");
    assert_null(rec_cors_allow(c, NULL));
    rec_cors_destroy(c);
    const char *bad[] = {"https://a.example/", "a.example", "ftp://a.example", "https://",
                         "", " , ", "*,https://a.example", "https://a.example/path"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = NULL;
        assert_int_equal(rec_cors_create(bad[i], &c, err, sizeof err), REC_EINVAL);
        assert_null(c);
        assert_non_null(strstr(err, "--cors-origins"));
    }
    rec_cors_destroy(NULL);
}

static int scope_of(const char *method, const char *pattern)
{
    int n;
    const struct rec_http_route *r = rec_api_routes(&n);
    const unsigned char *sc = rec_api_route_scopes();
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].method, method) && !strcmp(r[i].pattern, pattern))
            return sc[i];
    fail_msg("no route %s %s", method, pattern);
    return -1;
}

/* The table: read, write, admin; /health and the dashboard page open. */
static void test_route_scopes(void **state)
{
    assert_int_equal(scope_of("GET", "/health"), REC_SCOPE_OPEN);
    assert_int_equal(scope_of("GET", "/v1/recommend/{user}"), REC_SCOPE_READ);
    assert_int_equal(scope_of("POST", "/v1/recommend/{user}"), REC_SCOPE_READ);
    assert_int_equal(scope_of("GET", "/v1/items/{id}/similar"), REC_SCOPE_READ);
    assert_int_equal(scope_of("GET", "/v1/popular"), REC_SCOPE_READ);
    assert_int_equal(scope_of("GET", "/v1/items/{id}"), REC_SCOPE_READ);
    assert_int_equal(scope_of("POST", "/v1/events"), REC_SCOPE_WRITE);
    int n, n_read = 0, n_write = 0, n_open = 0;
    rec_api_routes(&n);
    const unsigned char *sc = rec_api_route_scopes();
    for (int i = 0; i < n; i++) {
        n_read += sc[i] == REC_SCOPE_READ;
        n_write += sc[i] == REC_SCOPE_WRITE;
        n_open += sc[i] == REC_SCOPE_OPEN;
        assert_true(sc[i] == REC_SCOPE_OPEN || sc[i] == REC_SCOPE_READ ||
                    sc[i] == REC_SCOPE_WRITE || sc[i] == REC_SCOPE_ADMIN);
    }
    assert_int_equal(n_read, 5);
    assert_int_equal(n_write, 1);
    assert_int_equal(n_open, 2);   /* everything else is admin */
    assert_int_equal(scope_of("GET", "/dashboard"), REC_SCOPE_OPEN); /* a page without data */
    assert_int_equal(scope_of("DELETE", "/v1/users/{id}"), REC_SCOPE_ADMIN);
    assert_int_equal(scope_of("GET", "/v1/users/{id}/export"), REC_SCOPE_ADMIN);
    assert_int_equal(scope_of("GET", "/metrics"), REC_SCOPE_ADMIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_time_equal),
        cmocka_unit_test(test_key_file_errors_name_the_line),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_check_compares_every_key),
        cmocka_unit_test(test_token_bucket_refill),
        cmocka_unit_test(test_token_bucket_threads),
        cmocka_unit_test(test_cors_origins),
        cmocka_unit_test(test_route_scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
