/* core/uid: keyed user ids. The mapping's known answer (computed independently as
 * HMAC-SHA256(key, id) truncated to 16 bytes), its format, what differs between keys, the key
 * file rules (length, line end, unreadable files) and the fingerprint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/uid.h"

#define KEY32 "0123456789abcdef0123456789abcdef"

static struct rec_uid_key *key_of(const char *text)
{
    struct rec_uid_key *k = NULL;
    char err[256];
    assert_int_equal(rec_uid_key_create(text, strlen(text), &k, err, sizeof err), 0);
    assert_non_null(k);
    return k;
}

/* Writes n bytes to a new temporary file; its path goes to path (a "...XXXXXX" template). */
static void write_file(char *path, const void *data, size_t n)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void test_known_answer_and_format(void **state)
{
    struct rec_uid_key *k = key_of(KEY32);
    char buf[REC_UID_BUF];
    const char *h = rec_uid_map(k, "alice-raw-id", buf);
    assert_ptr_equal(h, buf);
    assert_string_equal(h, "b9c9563bf7314728be6bbb32ceaa9b7e");
    assert_string_equal(rec_uid_map(k, "caf\xc3\xa9", buf), "f378639c6acea38b43691c3e23345f3d");
    /* every id maps to REC_UID_HEX lowercase hex characters, and the mapping is stable */
    char first[REC_UID_BUF], again[REC_UID_BUF];
    const char *ids[] = {"1", "alice-raw-id", "a much longer id, with spaces, over one SHA-256 "
                         "block of sixty-four bytes, to cross the block edge"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        rec_uid_map(k, ids[i], first);
        assert_int_equal(strlen(first), REC_UID_HEX);
        assert_int_equal(strspn(first, "0123456789abcdef"), REC_UID_HEX);
        assert_string_equal(rec_uid_map(k, ids[i], again), first);
    }
    /* without a key the id is used as given */
    const char *raw = "alice-raw-id";
    assert_ptr_equal(rec_uid_map(NULL, raw, buf), raw);
    rec_uid_key_destroy(k);
    rec_uid_key_destroy(NULL);
}

static void test_keys_differ(void **state)
{
    struct rec_uid_key *a = key_of(KEY32), *b = key_of(KEY32 "!");
    char x[REC_UID_BUF], y[REC_UID_BUF];
    assert_string_not_equal(rec_uid_map(a, "alice-raw-id", x), rec_uid_map(b, "alice-raw-id", y));
    assert_string_not_equal(rec_uid_map(a, "alice", x), rec_uid_map(a, "alice2", y));
    char fa[REC_UID_FINGERPRINT + 1], fb[REC_UID_FINGERPRINT + 1], fa2[REC_UID_FINGERPRINT + 1];
    rec_uid_key_fingerprint(a, fa);
    rec_uid_key_fingerprint(b, fb);
    assert_int_equal(strlen(fa), REC_UID_FINGERPRINT);
    assert_string_not_equal(fa, fb);
    struct rec_uid_key *a2 = key_of(KEY32);
    rec_uid_key_fingerprint(a2, fa2);
    assert_string_equal(fa, fa2);   /* a name for the key: the same key, the same name */
    rec_uid_key_destroy(a);
    rec_uid_key_destroy(b);
    rec_uid_key_destroy(a2);
}

static void test_key_length(void **state)
{
    struct rec_uid_key *k = NULL;
    char err[256];
    assert_int_equal(rec_uid_key_create("short", 5, &k, err, sizeof err), REC_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "at least 32"));
    assert_int_equal(rec_uid_key_create(KEY32, 31, &k, err, sizeof err), REC_EINVAL);
    assert_int_equal(rec_uid_key_create(KEY32, 32, &k, err, sizeof err), 0);
    rec_uid_key_destroy(k);
}

static void test_key_file(void **state)
{
    struct rec_uid_key *k = NULL, *plain = key_of(KEY32);
    char err[256], want[REC_UID_BUF], got[REC_UID_BUF];
    rec_uid_map(plain, "u1", want);

    /* missing: the message names the file */
    assert_int_equal(rec_uid_key_load("/nonexistent/recd-key", &k, err, sizeof err), REC_EIO);
    assert_null(k);
    assert_non_null(strstr(err, "/nonexistent/recd-key"));

    /* one trailing line end is not part of the key, whichever kind */
    const char *texts[] = {KEY32, KEY32 "\n", KEY32 "\r\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char path[] = "/tmp/recd-test-uid-XXXXXX";
        write_file(path, texts[i], strlen(texts[i]));
        assert_int_equal(rec_uid_key_load(path, &k, err, sizeof err), 0);
        assert_string_equal(rec_uid_map(k, "u1", got), want);
        rec_uid_key_destroy(k);
        unlink(path);
    }

    /* too short once the line end is gone; and empty */
    const char *bad[] = {"0123456789abcdef0123456789abcde\n", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[] = "/tmp/recd-test-uid-XXXXXX";
        write_file(path, bad[i], strlen(bad[i]));
        k = NULL;
        assert_int_equal(rec_uid_key_load(path, &k, err, sizeof err), REC_EINVAL);
        assert_null(k);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, "at least 32"));
        unlink(path);
    }

    /* binary keys are taken as they are, NUL bytes included */
    uint8_t bin[40];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 7);
    char path[] = "/tmp/recd-test-uid-XXXXXX";
    write_file(path, bin, sizeof bin);
    assert_int_equal(rec_uid_key_load(path, &k, err, sizeof err), 0);
    struct rec_uid_key *direct = NULL;
    assert_int_equal(rec_uid_key_create(bin, sizeof bin, &direct, err, sizeof err), 0);
    char a[REC_UID_BUF], b[REC_UID_BUF];
    assert_string_equal(rec_uid_map(k, "u1", a), rec_uid_map(direct, "u1", b));
    rec_uid_key_destroy(k);
    rec_uid_key_destroy(direct);

    /* a directory opens but cannot be read */
    k = NULL;
    assert_int_equal(rec_uid_key_load("/tmp", &k, err, sizeof err), REC_EIO);
    assert_null(k);
    assert_non_null(strstr(err, "/tmp"));

    /* unreadable (unless the tests run as root, who reads anything) */
    if (geteuid() != 0) {
        chmod(path, 0);
        k = NULL;
        assert_int_equal(rec_uid_key_load(path, &k, err, sizeof err), REC_EIO);
        assert_null(k);
        assert_non_null(strstr(err, "cannot read"));
    }
    unlink(path);

    /* too long */
    size_t big = REC_UID_KEY_MAX + 2;
    char *long_key = malloc(big);
    assert_non_null(long_key);
    memset(long_key, 'k', big);
    char path2[] = "/tmp/recd-test-uid-XXXXXX";
    write_file(path2, long_key, big);
    assert_int_equal(rec_uid_key_load(path2, &k, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "longer than"));
    unlink(path2);
    free(long_key);
    rec_uid_key_destroy(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer_and_format),
        cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_key_length),
        cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
