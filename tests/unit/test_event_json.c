/* Event validation from JSON: what is accepted, and the message for what is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/uid.h"
#include "ingest/event_batch.h"
#include "ingest/event_json.h"

static int parse(const char *text, struct rec_event *ev, char **ctx, char *err, size_t errlen)
{
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    int rc = rec_event_from_json(o, 1000, ev, ctx, err, errlen);
    if (rc == 0) {
        /* keep the strings alive past the json: copy what the test reads */
        static char user[300], item[300];
        snprintf(user, sizeof user, "%s", ev->user);
        snprintf(item, sizeof item, "%s", ev->item);
        ev->user = user;
        ev->item = item;
        ev->id = NULL;
    }
    json_decref(o);
    return rc;
}

static void expect_error(const char *text, const char *fragment)
{
    struct rec_event ev;
    char *ctx = NULL, err[256] = "";
    assert_int_equal(parse(text, &ev, &ctx, err, sizeof err), REC_EINVAL);
    if (!strstr(err, fragment))
        fail_msg("error for %s was '%s', expected it to mention '%s'", text, err, fragment);
    assert_null(ctx);
}

static void test_valid_event(void **state)
{
    struct rec_event ev;
    char *ctx = NULL, err[256];
    assert_int_equal(parse("{\"user\":\"u1\",\"item\":\"i9\",\"type\":\"rating\",\"value\":4.5,"
                           "\"ts\":1700000000,\"context\":{\"device\":\"ios\"}}",
                           &ev, &ctx, err, sizeof err), 0);
    assert_string_equal(ev.user, "u1");
    assert_string_equal(ev.item, "i9");
    assert_int_equal(ev.type, REC_EVENT_RATING);
    assert_true(ev.value == 4.5);
    assert_int_equal(ev.ts, 1700000000);
    assert_string_equal(ctx, "{\"device\":\"ios\"}");
    free(ctx);
}

static void test_defaults_and_ms(void **state)
{
    struct rec_event ev;
    char *ctx = NULL, err[256];
    assert_int_equal(parse("{\"user\":\"u\",\"item\":\"i\",\"type\":\"click\"}", &ev, &ctx, err, sizeof err), 0);
    assert_int_equal(ev.ts, 1000); /* now */
    assert_null(ctx);
    assert_int_equal(parse("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"ts\":1700000000123}",
                           &ev, &ctx, err, sizeof err), 0);
    assert_int_equal(ev.ts, 1700000000);
}

static void test_rejections(void **state)
{
    expect_error("{\"item\":\"i\",\"type\":\"view\"}", "\"user\"");
    expect_error("{\"user\":\"u\",\"type\":\"view\"}", "\"item\"");
    expect_error("{\"user\":\"u\",\"item\":\"i\"}", "\"type\"");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"teleport\"}", "type");
    expect_error("{\"user\":5,\"item\":\"i\",\"type\":\"view\"}", "\"user\" must be a string");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"ts\":\"yesterday\"}", "ts");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"ts\":-5}", "ts");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"rating\"}", "value");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"rating\",\"value\":11}", "0..10");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"value\":\"x\"}", "value");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"context\":[1]}", "context");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"colour\":1}", "unknown field");
    expect_error("{\"user\":\"\",\"item\":\"i\",\"type\":\"view\"}", "non-empty");
    expect_error("{\"user\":\"a\\u0001b\",\"item\":\"i\",\"type\":\"view\"}", "control");
    expect_error("{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"id\":7}", "\"id\"");
}

/* A batch under --user-id-key: every valid event's user, in the events and in the JSON they
 * borrow from, is the keyed id; bad events still go to rejected; other fields are untouched. */
static void test_batch_keys_user_ids(void **state)
{
    struct rec_uid_key *k = NULL;
    char err[256], want[REC_UID_BUF];
    assert_int_equal(rec_uid_key_create("0123456789abcdef0123456789abcdef", 32, &k, err,
                                        sizeof err), 0);
    rec_uid_map(k, "alice-raw-id", want);
    const char *text = "[{\"user\":\"alice-raw-id\",\"item\":\"i1\",\"type\":\"view\","
                       "  \"id\":\"e1\"},"
                       " {\"user\":\"alice-raw-id\",\"type\":\"view\"},"
                       " {\"user\":\"alice-raw-id\",\"item\":\"i2\",\"type\":\"like\"}]";
    struct rec_event_batch b;
    assert_int_equal(rec_event_batch_parse(&b, text, strlen(text), 10, 1000, k, err, sizeof err),
                     0);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.n_rejected, 1);
    assert_string_equal(b.events[0].user, want);
    assert_string_equal(b.events[1].user, want);
    assert_string_equal(b.events[0].item, "i1");
    assert_string_equal(b.events[0].id, "e1");
    assert_string_equal(b.events[1].item, "i2");
    /* the valid elements now hold the keyed id; the rejected one is left as it came (it is
     * never stored) */
    const char *users[3];
    for (int j = 0; j < 3; j++)
        users[j] = json_string_value(json_object_get(json_array_get(b.root, (size_t)j), "user"));
    assert_string_equal(users[0], want);
    assert_string_equal(users[1], "alice-raw-id");
    assert_string_equal(users[2], want);
    assert_ptr_equal(b.events[1].user, users[2]);
    rec_event_batch_free(&b);
    /* without a key, ids stay as given */
    assert_int_equal(rec_event_batch_parse(&b, text, strlen(text), 10, 1000, NULL, err,
                                           sizeof err), 0);
    assert_string_equal(b.events[0].user, "alice-raw-id");
    rec_event_batch_free(&b);
    rec_uid_key_destroy(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_event),
        cmocka_unit_test(test_defaults_and_ms),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_batch_keys_user_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
