/* Core pieces: error table, idmap, config precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/idmap.h"
#include "core/utf8.h"
#include "ingest/event.h"

static void test_err_table(void **state)
{
    assert_int_equal(rec_err_http_status(REC_EINVAL), 400);
    assert_int_equal(rec_err_http_status(REC_ENOTFOUND), 404);
    assert_int_equal(rec_err_http_status(REC_ETOOBIG), 413);
    assert_string_equal(rec_err_code(REC_ENOTFOUND), "not_found");
    assert_int_equal(rec_err_http_status(-999), 500);
    char buf[32];
    assert_int_equal(rec_errf(buf, sizeof buf, REC_EINVAL, "n must be %d..%d", 1, 1000), REC_EINVAL);
    assert_string_equal(buf, "n must be 1..1000");
}

static void test_messages_stay_valid_utf8(void **state)
{
    char buf[8];
    /* 7 bytes fit as they are */
    rec_errf(buf, sizeof buf, REC_EINVAL, "%s", "xcaf\xc3\xa9s");
    assert_string_equal(buf, "xcaf\xc3\xa9s");
    /* the buffer's end cuts the two-byte e-acute: its lead byte becomes '?' */
    rec_errf(buf, sizeof buf, REC_EINVAL, "%s", "xyzcaf\xc3\xa9");
    assert_string_equal(buf, "xyzcaf?");
    /* a precision cuts it in the middle of the message */
    rec_errf(buf, sizeof buf, REC_EINVAL, "%.3s!", "ab\xc3\xa9");
    assert_string_equal(buf, "ab?!");
    char s[] = "ok \xed\xa0\x80 \xf0\x9f\x98\x80";  /* a surrogate, then a valid emoji */
    rec_utf8_sanitize(s);
    assert_string_equal(s, "ok ??? \xf0\x9f\x98\x80");
}

/* Names live in shared blocks: names of every length (some longer than a block) keep their
 * bytes as blocks fill up, and a removed name is wiped (an erased user's id leaves no copy). */
static size_t make_name(char *out, int i)
{
    static const size_t huge[] = {REC_IDMAP_BLOCK / 4, 2 * REC_IDMAP_BLOCK + 5, 70000};
    size_t len = i % 1000 == 7 ? huge[i / 1000 % 3] : (size_t)(1 + i * 7919 % 300);
    size_t n = (size_t)snprintf(out, 16, "%d-", i); /* unique */
    for (; n < len; n++)
        out[n] = (char)('a' + (i + (int)n) % 26);
    out[n] = 0;
    return n;
}

static void test_idmap_name_blocks(void **state)
{
    struct rec_idmap m;
    rec_idmap_init(&m);
    enum { N = 20000 };
    static char name[3 * REC_IDMAP_BLOCK];
    for (int i = 0; i < N; i++) {
        make_name(name, i);
        assert_int_equal(rec_idmap_put(&m, name, NULL), i);
    }
    for (int i = 0; i < N; i++) {
        size_t len = make_name(name, i);
        const char *s = rec_idmap_name(&m, i);
        assert_non_null(s);
        assert_int_equal(strlen(s), len);
        assert_string_equal(s, name);
        assert_int_equal(rec_idmap_get(&m, name), i);
    }
    const char *kept = rec_idmap_name(&m, 1234);
    size_t len = make_name(name, 1234);
    assert_int_equal(rec_idmap_remove(&m, name), 1234);
    for (size_t c = 0; c < len; c++)
        assert_int_equal(kept[c], 0);
    assert_int_equal(rec_idmap_get(&m, name), -1);
    assert_int_equal(rec_idmap_put(&m, name, NULL), N);
    assert_string_equal(rec_idmap_name(&m, N), name);
    rec_idmap_free(&m);
}

static void test_idmap_put_get_remove(void **state)
{
    struct rec_idmap m;
    rec_idmap_init(&m);
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "id-%d", i);
        int created = 0;
        assert_int_equal(rec_idmap_put(&m, name, &created), i);
        assert_true(created);
    }
    int created = 1;
    assert_int_equal(rec_idmap_put(&m, "id-42", &created), 42);
    assert_false(created);
    assert_int_equal(rec_idmap_get(&m, "id-9999"), 9999);
    assert_int_equal(rec_idmap_get(&m, "nope"), -1);
    assert_int_equal(rec_idmap_remove(&m, "id-42"), 42);
    assert_null(rec_idmap_name(&m, 42));
    assert_int_equal(rec_idmap_get(&m, "id-42"), -1);
    /* a removed id comes back under a new index; the old one is never reused */
    assert_int_equal(rec_idmap_put(&m, "id-42", &created), 10000);
    assert_string_equal(rec_idmap_name(&m, 10000), "id-42");
    /* many removals leave tombstones; lookups still work after the table rehashes */
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "id-%d", i);
        if (i != 42)
            assert_int_equal(rec_idmap_remove(&m, name), i);
    }
    for (int i = 20000; i < 26000; i++) {
        snprintf(name, sizeof name, "new-%d", i);
        assert_true(rec_idmap_put(&m, name, NULL) >= 0);
    }
    assert_int_equal(rec_idmap_get(&m, "id-7777"), 7777);
    assert_int_equal(rec_idmap_get(&m, "id-100"), -1);
    rec_idmap_free(&m);
}

static void test_config_precedence(void **state)
{
    char path[] = "/tmp/recd-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\nport = 9000\nhalf_life = 24\nfactors=32\nweight-purchase = 9.5\n");
    fclose(f);

    setenv("RECD_PORT", "9100", 1);
    setenv("RECD_FACTORS", "48", 1);
    char *argv[] = {"--config", path, "--port", "9200", "--no-exclude-seen", "extra"};
    struct rec_config c;
    const char *pos[2];
    int np, help;
    char err[256];
    assert_int_equal(rec_config_load(&c, REC_CMD_SERVE, 6, argv, pos, 2, &np, &help, err, sizeof err), 0);
    assert_int_equal(c.port, 9200);         /* flag beats env beats file */
    assert_int_equal(c.factors, 48);        /* env beats file */
    assert_true(c.half_life == 24.0);       /* file beats default */
    assert_true(c.weights[REC_EVENT_PURCHASE] == 9.5);
    assert_true(c.weights[REC_EVENT_DISLIKE] < 0);
    assert_int_equal(c.exclude_seen, 0);
    assert_string_equal(c.data, "./recd-data");
    assert_int_equal(np, 1);
    assert_string_equal(pos[0], "extra");
    assert_false(help);
    rec_config_free(&c);
    unsetenv("RECD_PORT");
    unsetenv("RECD_FACTORS");

    char *bad1[] = {"--port", "eighty"};
    assert_int_equal(rec_config_load(&c, REC_CMD_SERVE, 2, bad1, pos, 2, &np, &help, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "port"));
    rec_config_free(&c);
    char *bad2[] = {"--no-such-option"};
    assert_int_equal(rec_config_load(&c, REC_CMD_SERVE, 1, bad2, pos, 2, &np, &help, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "unknown option"));
    rec_config_free(&c);
    char *bad3[] = {"--users", "5"}; /* a gen option is not a serve option */
    assert_int_equal(rec_config_load(&c, REC_CMD_SERVE, 2, bad3, pos, 2, &np, &help, err, sizeof err), REC_EINVAL);
    rec_config_free(&c);
    unlink(path);
}

static void test_event_types_and_ids(void **state)
{
    assert_int_equal(rec_event_type_parse("purchase"), REC_EVENT_PURCHASE);
    assert_int_equal(rec_event_type_parse("Purchase"), -1);
    assert_string_equal(rec_event_type_name(REC_EVENT_ADD_TO_CART), "add_to_cart");
    double w[REC_EVENT__COUNT];
    for (int t = 0; t < REC_EVENT__COUNT; t++)
        w[t] = rec_event_default_weight(t);
    assert_true(rec_event_weight(w, REC_EVENT_DISLIKE, 0) < 0);
    assert_true(rec_event_weight(w, REC_EVENT_SKIP, 0) < 0);
    assert_true(rec_event_weight(w, REC_EVENT_DWELL, 30) == 0.5 * w[REC_EVENT_DWELL]);
    assert_true(rec_event_weight(w, REC_EVENT_DWELL, 600) == w[REC_EVENT_DWELL]);
    char err[128];
    assert_int_equal(rec_event_check_id("user-1", "user", err, sizeof err), 0);
    assert_int_equal(rec_event_check_id("caf\xc3\xa9", "user", err, sizeof err), 0);
    assert_int_equal(rec_event_check_id("", "user", err, sizeof err), REC_EINVAL);
    assert_int_equal(rec_event_check_id("a\nb", "user", err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "control"));
    assert_int_equal(rec_event_check_id("bad\xc3", "item", err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(rec_event_check_id("\xed\xa0\x80", "item", err, sizeof err), REC_EINVAL);
    char longid[REC_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(rec_event_check_id(longid, "item", err, sizeof err), REC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_messages_stay_valid_utf8),
        cmocka_unit_test(test_idmap_put_get_remove),
        cmocka_unit_test(test_idmap_name_blocks),
        cmocka_unit_test(test_config_precedence),
        cmocka_unit_test(test_event_types_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
