/* Experiments file: validation messages, deterministic and sticky assignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/uid.h"
#include "exp/experiment.h"

/* JSON in C literals is written with ' for ", and so are expected messages: this swaps them. */
static char *dq(const char *s)
{
    char *t = strdup(s);
    assert_non_null(t);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static int parse_sq(const char *sq, rec_exp_settings_check_fn check, struct rec_experiments **x,
                    char *err, size_t errlen)
{
    char *text = dq(sq);
    int rc = rec_experiments_parse(text, strlen(text), check, x, err, errlen);
    free(text);
    return rc;
}

static struct rec_experiments *parse_ok(const char *sq)
{
    struct rec_experiments *x = NULL;
    char err[512] = "";
    int rc = parse_sq(sq, NULL, &x, err, sizeof err);
    if (rc)
        fail_msg("unexpected error: %s", err);
    assert_non_null(x);
    return x;
}

static void expect_error(const char *sq, const char *msg_sq)
{
    struct rec_experiments *x = (void *)1;
    char err[512] = "";
    assert_int_equal(parse_sq(sq, NULL, &x, err, sizeof err), REC_EINVAL);
    assert_null(x);
    char *msg = dq(msg_sq);
    if (strcmp(err, msg) != 0)
        fail_msg("for %s\n  expected: %s\n  got:      %s", sq, msg, err);
    free(msg);
}

/* The caller's view of a pipeline setting: blend_knn (a number) and mode (a string). */
static int check_pipeline(const void *settings, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)settings, key, v) {
        if (strcmp(key, "blend_knn") == 0 && json_is_number(v))
            continue;
        if (strcmp(key, "mode") == 0 && json_is_string(v))
            continue;
        return rec_errf(err, errlen, REC_EINVAL, "unknown key \"%s\"", key);
    }
    return 0;
}

static int check_no_mode(const void *settings, char *err, size_t errlen)
{
    if (json_object_get(settings, "mode"))
        return rec_errf(err, errlen, REC_EINVAL, "unknown key \"mode\"");
    return 0;
}

static int check_oom(const void *settings, char *err, size_t errlen)
{
    return REC_ENOMEM;
}

static int check_silent(const void *settings, char *err, size_t errlen)
{
    return 1; /* fails without a message */
}

/* The hash is the contract of stickiness: a user keeps their variant across restarts, machines
 * and versions only while these values hold. They were computed by an independent Python
 * reimplementation of the documented algorithm (FNV-1a 64 over salt 0 purpose 0 user, then
 * splitmix64's finalizer). Never change them; change the algorithm's users' salts instead. */
static void test_hash_golden(void **state)
{
    assert_true(rec_exp_hash("blend-2026-11", "variant", "user-42") == 0x6eb214914a968dffULL);
    assert_true(rec_exp_hash("", "", "") == 0x7bc210046bd616ccULL);
    assert_true(rec_exp_hash("s", "traffic", "u") == 0x4fafcdd674fd33c0ULL);
    assert_true(rec_exp_hash(NULL, NULL, NULL) == 0x7bc210046bd616ccULL);
    /* (0x6eb214914a968dff >> 11) * 2^-53 = 0.43240479037430124 */
    assert_true(rec_exp_unit(0x6eb214914a968dffULL) == 0.43240479037430124);
    assert_true(rec_exp_unit(0) == 0.0);
    assert_true(rec_exp_unit(UINT64_MAX) < 1.0); /* 1 - 2^-53 */
    /* the 0 separators keep the fields apart */
    assert_true(rec_exp_hash("ab", "", "x") != rec_exp_hash("a", "b", "x"));
    assert_true(rec_exp_hash("a", "b", "") != rec_exp_hash("a", "", "b"));
}

static void test_defaults_and_shares(void **state)
{
    struct rec_experiments *x = parse_ok(
        "{'experiments': [{'name': 'e1', 'variants': [{'name': 'c', 'weight': 1},"
        " {'name': 't', 'weight': 3, 'settings': {'blend_knn': 1.0}}]}]}");
    assert_int_equal(x->n, 1);
    const struct rec_experiment *e = rec_experiments_find(x, "e1");
    assert_ptr_equal(e, &x->list[0]);
    assert_null(rec_experiments_find(x, "e2"));
    assert_null(rec_experiments_find(NULL, "e1"));
    assert_string_equal(e->salt, "e1");
    assert_true(e->traffic == 1.0);
    assert_true(e->holdout == 0.0);
    assert_int_equal(e->impressions, REC_EXP_IMPRESSIONS_SERVED);
    assert_string_equal(json_string_value(json_object_get(e->holdout_settings, "mode")),
                        "popular");
    assert_int_equal(json_object_size(e->holdout_settings), 1);
    assert_int_equal(e->n_variants, 2);
    /* weights 1 and 3: shares 1/4 and 3/4 */
    assert_true(e->variants[0].share == 0.25);
    assert_true(e->variants[1].share == 0.75);
    assert_true(json_is_object((json_t *)e->variants[0].settings)); /* no settings: {} */
    assert_int_equal(json_object_size(e->variants[0].settings), 0);
    assert_true(json_number_value(json_object_get(e->variants[1].settings, "blend_knn")) == 1.0);
    assert_int_equal(rec_exp_variant_find(e, "t"), 1);
    assert_int_equal(rec_exp_variant_find(e, "holdout"), REC_EXP_HOLDOUT);
    assert_int_equal(rec_exp_variant_find(e, "x"), REC_EXP_NONE);
    rec_experiments_free(x);

    x = parse_ok("{'experiments': [{'name': 'e.1_-X', 'salt': 'other', 'traffic': 0.5, "
                 "'holdout': 0, 'impressions': 'events', 'holdout_settings': {'mode': 'x'}, "
                 "'variants': [{'name': 'c', 'weight': 1e300}, {'name': 't', 'weight': 1e300}]}]}");
    e = &x->list[0];
    assert_string_equal(e->salt, "other");
    assert_true(e->traffic == 0.5);
    assert_int_equal(e->impressions, REC_EXP_IMPRESSIONS_EVENTS);
    assert_string_equal(json_string_value(json_object_get(e->holdout_settings, "mode")), "x");
    /* huge weights do not overflow: 1e300/1e300 = 1 each, shares 1/2 */
    assert_true(e->variants[0].share == 0.5);
    assert_true(e->variants[1].share == 0.5);
    rec_experiments_free(x);

    x = parse_ok("{'experiments': []}");
    assert_int_equal(x->n, 0);
    struct rec_exp_assignment a;
    rec_experiments_assign(x, "u", &a);
    assert_null(a.exp);
    assert_int_equal(a.variant, REC_EXP_NONE);
    assert_string_equal(a.variant_name, "default");
    assert_null(a.settings);
    rec_experiments_free(x);
    rec_experiments_free(NULL);
}

/* Golden assignments, from the Python reimplementation's buckets (salt "blend-2026-11"):
 *   user     traffic  holdout  variant   with traffic 0.5, holdout 0.1, shares .5/.3/.2
 *   user-1   0.4357   0.8776   0.2376 -> admitted, not held out, 0.2376 < 0.5 -> control
 *   user-2   0.0770   0.0965      -   -> admitted, 0.0965 < 0.1 -> holdout
 *   user-4   0.7030      -        -   -> 0.7030 >= 0.5, not admitted -> default
 *   user-7   0.0329   0.6214   0.6921 -> 0.5 <= 0.6921 < 0.8 -> knn
 *   user-29  0.0093   0.3198   0.9166 -> 0.9166 >= 0.8 -> als */
static void test_assign_golden(void **state)
{
    struct rec_experiments *x = parse_ok(
        "{'experiments': [{'name': 'blend-2026-11', 'traffic': 0.5, 'holdout': 0.1,"
        " 'variants': [{'name': 'control', 'weight': 50}, {'name': 'knn', 'weight': 30},"
        " {'name': 'als', 'weight': 20}]}]}");
    const struct rec_experiment *e = &x->list[0];
    struct rec_exp_assignment a;
    rec_experiments_assign(x, "user-1", &a);
    assert_ptr_equal(a.exp, e);
    assert_int_equal(a.variant, 0);
    assert_string_equal(a.variant_name, "control");
    assert_ptr_equal(a.settings, e->variants[0].settings);
    assert_int_equal(a.overridden, 0);
    rec_experiments_assign(x, "user-2", &a);
    assert_int_equal(a.variant, REC_EXP_HOLDOUT);
    assert_string_equal(a.variant_name, "holdout");
    assert_ptr_equal(a.settings, e->holdout_settings);
    rec_experiments_assign(x, "user-4", &a);
    assert_null(a.exp);
    assert_string_equal(a.variant_name, "default");
    rec_experiments_assign(x, "user-7", &a);
    assert_string_equal(a.variant_name, "knn");
    rec_experiments_assign(x, "user-29", &a);
    assert_string_equal(a.variant_name, "als");
    assert_int_equal(a.variant, 2);
    rec_experiments_assign(x, NULL, &a);
    assert_null(a.exp);
    rec_experiments_assign(NULL, "user-1", &a);
    assert_null(a.exp);
    rec_experiments_free(x);
}

#define N_USERS 100000

static void test_shares_over_many_users(void **state)
{
    struct rec_experiments *x = parse_ok(
        "{'experiments': [{'name': 'split', 'holdout': 0.1,"
        " 'variants': [{'name': 'a', 'weight': 50}, {'name': 'b', 'weight': 30},"
        " {'name': 'c', 'weight': 20}]}]}");
    int count[3] = {0}, held = 0;
    char user[32];
    for (int i = 0; i < N_USERS; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        struct rec_exp_assignment a;
        rec_experiments_assign(x, user, &a);
        assert_non_null(a.exp); /* traffic 1: everybody is in */
        if (a.variant == REC_EXP_HOLDOUT)
            held++;
        else
            count[a.variant]++;
    }
    /* holdout 0.1 of everyone; the other 0.9 split 50/30/20: 0.45, 0.27, 0.18.
     * Binomial sd at n = 1e5 is <= 0.0016, so +-1% is > 6 sd (+-0.5% for the holdout: 5 sd). */
    assert_true(fabs(held / (double)N_USERS - 0.10) < 0.005);
    assert_true(fabs(count[0] / (double)N_USERS - 0.45) < 0.01);
    assert_true(fabs(count[1] / (double)N_USERS - 0.27) < 0.01);
    assert_true(fabs(count[2] / (double)N_USERS - 0.18) < 0.01);
    /* and exactly, as the Python reimplementation counts them: a shifted boundary between
     * variants or a change of the hash fails here even when it stays within 1% */
    assert_int_equal(held, 10110);
    assert_int_equal(count[0], 44949);
    assert_int_equal(count[1], 27038);
    assert_int_equal(count[2], 17903);
    rec_experiments_free(x);
}

static void test_traffic_gate(void **state)
{
    struct rec_experiments *x = parse_ok(
        "{'experiments': [{'name': 'small', 'traffic': 0.3,"
        " 'variants': [{'name': 'a', 'weight': 1}, {'name': 'b', 'weight': 1}]}]}");
    int in = 0;
    char user[32];
    for (int i = 0; i < N_USERS; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        struct rec_exp_assignment a;
        rec_experiments_assign(x, user, &a);
        in += a.exp != NULL;
    }
    assert_true(fabs(in / (double)N_USERS - 0.30) < 0.01);
    assert_int_equal(in, 30170); /* exact, from the Python reimplementation */
    rec_experiments_free(x);
}

#define EXP_A "{'name': 'A', 'traffic': 0.5, 'holdout': 0.2, 'variants': [{'name': 'a1', " \
              "'weight': 1}, {'name': 'a2', 'weight': 1}]}"
#define EXP_B "{'name': 'B', 'variants': [{'name': 'b1', 'weight': 1}]}"

/* Sticky: the same text always gives the same answers, and appending an experiment moves only
 * users that were in none. */
static void test_sticky(void **state)
{
    struct rec_experiments *x1 = parse_ok("{'experiments': [" EXP_A "]}");
    struct rec_experiments *x2 = parse_ok("{'experiments': [" EXP_A "]}");
    struct rec_experiments *x3 = parse_ok("{'experiments': [" EXP_A ", " EXP_B "]}");
    int in_a = 0, in_b = 0;
    char user[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(user, sizeof user, "u%d", i);
        struct rec_exp_assignment a1, a2, a3;
        rec_experiments_assign(x1, user, &a1);
        rec_experiments_assign(x2, user, &a2);
        rec_experiments_assign(x3, user, &a3);
        assert_int_equal(a1.variant, a2.variant);
        assert_string_equal(a1.variant_name, a2.variant_name);
        if (a1.exp) {
            in_a++;
            assert_string_equal(a3.exp->name, "A");
            assert_int_equal(a3.variant, a1.variant);
        } else {
            in_b++;
            assert_string_equal(a3.exp->name, "B");
            assert_string_equal(a3.variant_name, "b1");
        }
    }
    /* both branches ran: about 10000 each */
    assert_true(in_a > 9000 && in_b > 9000);
    rec_experiments_free(x1);
    rec_experiments_free(x2);
    rec_experiments_free(x3);
}

static void test_salt_reshuffles(void **state)
{
    struct rec_experiments *x1 = parse_ok(
        "{'experiments': [{'name': 'e', 'variants': [{'name': 'a', 'weight': 1},"
        " {'name': 'b', 'weight': 1}]}]}");
    struct rec_experiments *x2 = parse_ok(
        "{'experiments': [{'name': 'e', 'salt': 'e-v2', 'variants': [{'name': 'a', 'weight': 1},"
        " {'name': 'b', 'weight': 1}]}]}");
    int agree = 0;
    char user[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(user, sizeof user, "u%d", i);
        struct rec_exp_assignment a1, a2;
        rec_experiments_assign(x1, user, &a1);
        rec_experiments_assign(x2, user, &a2);
        agree += a1.variant == a2.variant;
    }
    /* independent 50/50 splits agree for half the users: 10000 +- 71 (sd) */
    assert_true(agree < 12000);
    assert_true(agree > 8000);
    rec_experiments_free(x1);
    rec_experiments_free(x2);
}

static void test_overrides_win(void **state)
{
    /* "first" admits everybody, "pinned" nobody (traffic 1e-12), yet the pins reach "pinned". */
    struct rec_experiments *x = parse_ok(
        "{'experiments': ["
        " {'name': 'first', 'variants': [{'name': 'f', 'weight': 1}],"
        "  'overrides': {'qa-3': 'f'}},"
        " {'name': 'pinned', 'traffic': 1e-12, 'variants': [{'name': 'c', 'weight': 1},"
        "  {'name': 't', 'weight': 1, 'settings': {'blend_knn': 1}}],"
        "  'overrides': {'qa-1': 't', 'qa-2': 'holdout', 'zz': 'c', 'a': 'c'}}]}");
    const struct rec_experiment *p = &x->list[1];
    assert_int_equal(p->n_overrides, 4);
    struct rec_exp_assignment a;
    rec_experiments_assign(x, "qa-1", &a);
    assert_ptr_equal(a.exp, p);
    assert_int_equal(a.variant, 1);
    assert_string_equal(a.variant_name, "t");
    assert_ptr_equal(a.settings, p->variants[1].settings);
    assert_int_equal(a.overridden, 1);
    rec_experiments_assign(x, "qa-2", &a);
    assert_ptr_equal(a.exp, p);
    assert_int_equal(a.variant, REC_EXP_HOLDOUT); /* holdout 0 in the file, still pinnable */
    assert_ptr_equal(a.settings, p->holdout_settings);
    assert_int_equal(a.overridden, 1);
    rec_experiments_assign(x, "zz", &a); /* the sort keeps every pin findable */
    assert_string_equal(a.variant_name, "c");
    rec_experiments_assign(x, "a", &a);
    assert_string_equal(a.variant_name, "c");
    rec_experiments_assign(x, "qa-3", &a);
    assert_string_equal(a.exp->name, "first");
    assert_int_equal(a.overridden, 1);
    rec_experiments_assign(x, "someone", &a);
    assert_string_equal(a.exp->name, "first");
    assert_int_equal(a.overridden, 0);
    rec_experiments_free(x);
}

/* Under --user-id-key the pins name raw ids in the file and match the keyed ids recd assigns;
 * the raw ids no longer match, and the pins stay sorted for the search. */
static void test_overrides_keyed(void **state)
{
    struct rec_experiments *x = parse_ok(
        "{'experiments': ["
        " {'name': 'e', 'traffic': 1e-12, 'variants': [{'name': 'c', 'weight': 1},"
        "  {'name': 't', 'weight': 1}],"
        "  'overrides': {'qa-1': 't', 'qa-2': 'holdout', 'zz': 'c', 'a': 'c'}}]}");
    struct rec_uid_key *k = NULL;
    char err[256];
    assert_int_equal(rec_uid_key_create("0123456789abcdef0123456789abcdef", 32, &k, err,
                                        sizeof err), 0);
    assert_int_equal(rec_experiments_key_users(x, NULL), 0); /* no key: nothing changes */
    assert_int_equal(rec_experiments_key_users(x, k), 0);
    const char *raw[] = {"qa-1", "qa-2", "zz", "a"};
    const char *want[] = {"t", "holdout", "c", "c"};
    for (int i = 0; i < 4; i++) {
        char buf[REC_UID_BUF];
        struct rec_exp_assignment a;
        rec_experiments_assign(x, rec_uid_map(k, raw[i], buf), &a);
        assert_int_equal(a.overridden, 1);
        assert_string_equal(a.variant_name, want[i]);
        rec_experiments_assign(x, raw[i], &a);
        assert_int_equal(a.overridden, 0);
        assert_null(a.exp); /* traffic 1e-12: only pins get in */
    }
    rec_uid_key_destroy(k);
    rec_experiments_free(x);
}

#define V1 "'variants': [{'name': 'c', 'weight': 1}]"

/* An experiment with n variants of weight 1. */
static void many_variants(char *json, size_t len, int n)
{
    size_t k = (size_t)snprintf(json, len, "{'experiments': [{'name': 'a', 'variants': [");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(json + k, len - k, "%s{'name': 'v%d', 'weight': 1}", i ? ", " : "",
                              i);
    snprintf(json + k, len - k, "]}]}");
}

static void test_validation_errors(void **state)
{
    /* the file */
    expect_error("[]", "top level: must be an object {'experiments': [...]}");
    expect_error("{}", "experiments: missing");
    expect_error("{'experiments': {}}", "experiments: must be an array");
    expect_error("{'experiments': [], 'x': 1}",
                 "top level: unknown key 'x' (expected: experiments)");
    expect_error("{'experiments': [1]}", "experiments[0]: must be an object");
    /* experiments */
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'traffc': 0.5}]}",
                 "experiments[0]: unknown key 'traffc' (expected: name, salt, traffic, holdout, "
                 "holdout_settings, impressions, variants, overrides)");
    expect_error("{'experiments': [{" V1 "}]}", "experiments[0].name: missing");
    const char *bad_name = "experiments[0].name: must be a string of 1..63 bytes of [A-Za-z0-9_.-]";
    expect_error("{'experiments': [{'name': 'a b', " V1 "}]}", bad_name);
    expect_error("{'experiments': [{'name': '', " V1 "}]}", bad_name);
    expect_error("{'experiments': [{'name': 7, " V1 "}]}", bad_name);
    expect_error("{'experiments': [{'name': 'caf\xc3\xa9', " V1 "}]}", bad_name);
    /* 63 bytes pass, 64 do not */
    char name63[64], json[1024], msg[512];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    snprintf(json, sizeof json, "{'experiments': [{'name': '%s', " V1 "}]}", name63);
    struct rec_experiments *x = parse_ok(json);
    assert_string_equal(x->list[0].name, name63);
    rec_experiments_free(x);
    snprintf(json, sizeof json, "{'experiments': [{'name': '%sn', " V1 "}]}", name63);
    expect_error(json, bad_name);
    expect_error("{'experiments': [{'name': 'a', " V1 "}, {'name': 'b', " V1 "}, {'name': 'a', " V1
                 "}]}", "experiments[2].name: 'a' is already used by experiments[0]");
    expect_error("{'experiments': [{'name': 'a', 'salt': '', " V1 "}]}",
                 "experiments[0].salt: must be a string of 1..255 bytes");
    expect_error("{'experiments': [{'name': 'a', 'salt': 1, " V1 "}]}",
                 "experiments[0].salt: must be a string of 1..255 bytes");
    const char *bad_traffic = "experiments[0].traffic: must be a number in (0, 1]";
    expect_error("{'experiments': [{'name': 'a', 'traffic': 0, " V1 "}]}", bad_traffic);
    expect_error("{'experiments': [{'name': 'a', 'traffic': 1.01, " V1 "}]}", bad_traffic);
    expect_error("{'experiments': [{'name': 'a', 'traffic': '0.5', " V1 "}]}", bad_traffic);
    expect_error("{'experiments': [{'name': 'a', 'traffic': true, " V1 "}]}", bad_traffic);
    const char *bad_holdout = "experiments[0].holdout: must be a number in [0, 1)";
    expect_error("{'experiments': [{'name': 'a', 'holdout': 1, " V1 "}]}", bad_holdout);
    expect_error("{'experiments': [{'name': 'a', 'holdout': -0.1, " V1 "}]}", bad_holdout);
    expect_error("{'experiments': [{'name': 'a', 'holdout': null, " V1 "}]}", bad_holdout);
    expect_error("{'experiments': [{'name': 'a', 'impressions': 'clicks', " V1 "}]}",
                 "experiments[0].impressions: must be 'served' or 'events'");
    expect_error("{'experiments': [{'name': 'a', 'holdout_settings': [], " V1 "}]}",
                 "experiments[0].holdout_settings: must be an object");
    /* variants */
    const char *bad_variants = "experiments[0].variants: must be an array of 1..16 variants";
    expect_error("{'experiments': [{'name': 'a'}]}", bad_variants);
    expect_error("{'experiments': [{'name': 'a', 'variants': []}]}", bad_variants);
    expect_error("{'experiments': [{'name': 'a', 'variants': {}}]}", bad_variants);
    many_variants(json, sizeof json, 17);
    expect_error(json, bad_variants);
    many_variants(json, sizeof json, 16);
    x = parse_ok(json);
    assert_int_equal(x->list[0].n_variants, 16);
    assert_true(x->list[0].variants[15].share == 1.0 / 16);
    rec_experiments_free(x);
    expect_error("{'experiments': [{'name': 'a', 'variants': [1]}]}",
                 "experiments[0].variants[0]: must be an object");
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'c', 'wieght': 1}]}]}",
                 "experiments[0].variants[0]: unknown key 'wieght' (expected: name, weight, "
                 "settings)");
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'weight': 1}]}]}",
                 "experiments[0].variants[0].name: missing");
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'c/d', 'weight': 1}]}]}",
                 "experiments[0].variants[0].name: must be a string of 1..63 bytes of "
                 "[A-Za-z0-9_.-]");
    const char *reserved = " is reserved (holdout and default name the users outside the variants)";
    snprintf(msg, sizeof msg, "experiments[0].variants[1].name: 'holdout'%s", reserved);
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'c', 'weight': 1},"
                 " {'name': 'holdout', 'weight': 1}]}]}", msg);
    snprintf(msg, sizeof msg, "experiments[0].variants[0].name: 'default'%s", reserved);
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'default', 'weight': 1}]}]}",
                 msg);
    snprintf(msg, sizeof msg, "experiments[0].variants[0].name: 'HoldOut'%s", reserved);
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'HoldOut', 'weight': 1}]}]}",
                 msg);
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'c', 'weight': 1},"
                 " {'name': 'c', 'weight': 2}]}]}",
                 "experiments[0].variants[1].name: 'c' is already used by "
                 "experiments[0].variants[0]");
    const char *bad_weight = "experiments[1].variants[0].weight: must be a number > 0";
    expect_error("{'experiments': [{'name': 'a', " V1 "}, {'name': 'b', 'variants': "
                 "[{'name': 'c', 'weight': 0}]}]}", bad_weight);
    expect_error("{'experiments': [{'name': 'a', " V1 "}, {'name': 'b', 'variants': "
                 "[{'name': 'c', 'weight': -1}]}]}", bad_weight);
    expect_error("{'experiments': [{'name': 'a', " V1 "}, {'name': 'b', 'variants': "
                 "[{'name': 'c', 'weight': '1'}]}]}", bad_weight);
    expect_error("{'experiments': [{'name': 'a', " V1 "}, {'name': 'b', 'variants': "
                 "[{'name': 'c'}]}]}",
                 "experiments[1].variants[0].weight: missing, must be a number > 0");
    expect_error("{'experiments': [{'name': 'a', 'variants': [{'name': 'c', 'weight': 1,"
                 " 'settings': [1]}]}]}",
                 "experiments[0].variants[0].settings: must be an object");
    /* overrides */
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'overrides': ['u']}]}",
                 "experiments[0].overrides: must be an object mapping user ids to variant names");
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'overrides': {'u1': 'x'}}]}",
                 "experiments[0].overrides['u1']: must name a variant of a or 'holdout'");
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'overrides': {'u1': 0}}]}",
                 "experiments[0].overrides['u1']: must name a variant of a or 'holdout'");
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'overrides': {'': 'c'}}]}",
                 "experiments[0].overrides['']: a user id must be 1..256 bytes without control "
                 "characters");
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'overrides': {'a\\u0001b': 'c'}}]}",
                 "experiments[0].overrides['a\x01" "b']: a user id must be 1..256 bytes without "
                 "control characters");
    char user[258];
    memset(user, 'u', 257);
    user[257] = '\0';
    char big[700];
    snprintf(big, sizeof big, "{'experiments': [{'name': 'a', " V1 ", 'overrides': {'%s': 'c'}}]}",
             user);
    /* the id is cut to 40 bytes in the message */
    expect_error(big, "experiments[0].overrides['uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu']: a "
                      "user id must be 1..256 bytes without control characters");
    user[256] = '\0'; /* 256 bytes are fine */
    snprintf(big, sizeof big, "{'experiments': [{'name': 'a', " V1 ", 'overrides': {'%s': 'c'}}]}",
             user);
    x = parse_ok(big);
    rec_experiments_free(x);
    expect_error("{'experiments': [{'name': 'a', " V1 ", 'overrides': {'u1': 'c'}},"
                 " {'name': 'b', " V1 ", 'overrides': {'u2': 'c', 'u1': 'holdout'}}]}",
                 "experiments[1].overrides['u1']: already pinned by experiments[0] (a); a user "
                 "is in at most one experiment");
}

static void test_syntax_errors(void **state)
{
    struct rec_experiments *x = (void *)1;
    char err[512];
    /* line 3, the ']' in column 3 where a value should be */
    const char *text = "{\"experiments\": [\n  {\"name\": \"a\",\n  ]}";
    assert_int_equal(rec_experiments_parse(text, strlen(text), NULL, &x, err, sizeof err),
                     REC_EINVAL);
    assert_null(x);
    assert_string_equal(err, "line 3, column 3: string or '}' expected near ']'");
    /* a duplicate key would silently shadow the first: rejected */
    text = "{\"experiments\": [],\n \"experiments\": []}";
    assert_int_equal(rec_experiments_parse(text, strlen(text), NULL, &x, err, sizeof err),
                     REC_EINVAL);
    assert_non_null(strstr(err, "line 2, column"));
    assert_non_null(strstr(err, "duplicate object key"));
    /* len is honoured: the text after it is not read */
    text = "{\"experiments\": []}garbage";
    assert_int_equal(rec_experiments_parse(text, 19, NULL, &x, err, sizeof err), 0);
    rec_experiments_free(x);
    assert_int_equal(rec_experiments_parse("", 0, NULL, &x, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "line 1, column"));
}

static void test_settings_check(void **state)
{
    struct rec_experiments *x = NULL;
    char err[512];
    const char *ok = "{'experiments': [{'name': 'a', 'holdout_settings': {'mode': 'popular'},"
                     " 'variants': [{'name': 'c', 'weight': 1, 'settings': {}},"
                     " {'name': 't', 'weight': 1, 'settings': {'blend_knn': 0.5}}]}]}";
    assert_int_equal(parse_sq(ok, check_pipeline, &x, err, sizeof err), 0);
    rec_experiments_free(x);

    assert_int_equal(parse_sq("{'experiments': [{'name': 'a', 'variants': [{'name': 'c', "
                              "'weight': 1}, {'name': 't', 'weight': 1, 'settings': {'foo': 1}}]}]}",
                              check_pipeline, &x, err, sizeof err), REC_EINVAL);
    assert_string_equal(err, "experiments[0].variants[1].settings: unknown key \"foo\"");
    assert_int_equal(parse_sq("{'experiments': [{'name': 'a', 'holdout_settings': {'bar': 1}, "
                              V1 "}]}", check_pipeline, &x, err, sizeof err), REC_EINVAL);
    assert_string_equal(err, "experiments[0].holdout_settings: unknown key \"bar\"");
    /* the default holdout settings go through the check as well, and say they are the default */
    assert_int_equal(parse_sq("{'experiments': [{'name': 'a', " V1 "}]}", check_no_mode, &x, err,
                              sizeof err), REC_EINVAL);
    assert_string_equal(err, "experiments[0].holdout_settings (default {\"mode\":\"popular\"}): "
                             "unknown key \"mode\"");
    /* the callback's code is kept when it is a REC_E* code */
    assert_int_equal(parse_sq("{'experiments': [{'name': 'a', " V1 "}]}", check_oom, &x, err,
                              sizeof err), REC_ENOMEM);
    assert_int_equal(parse_sq("{'experiments': [{'name': 'a', " V1 "}]}", check_silent, &x, err,
                              sizeof err), REC_EINVAL);
    assert_string_equal(err, "experiments[0].holdout_settings (default {\"mode\":\"popular\"}): "
                             "invalid settings");
    assert_null(x);
}

static void test_load_file(void **state)
{
    struct rec_experiments *x = (void *)1;
    char err[512];
    const char *missing = "/nonexistent-recd-dir/experiments.json";
    assert_int_equal(rec_experiments_load(missing, NULL, &x, err, sizeof err), REC_ENOTFOUND);
    assert_null(x);
    assert_string_equal(err, "/nonexistent-recd-dir/experiments.json: cannot open: No such file "
                             "or directory");
    assert_int_equal(rec_experiments_load("/tmp", NULL, &x, err, sizeof err), REC_EIO);
    assert_true(strncmp(err, "/tmp: cannot read: ", 19) == 0);

    char path[] = "/tmp/recd-test-exp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("{\"experiments\": [\n {\"name\": \"e\", \"variants\": [{\"name\": \"c\", \"weight\": 0}]}]}",
          f);
    fclose(f);
    assert_int_equal(rec_experiments_load(path, NULL, &x, err, sizeof err), REC_EINVAL);
    char want[512];
    snprintf(want, sizeof want, "%s: experiments[0].variants[0].weight: must be a number > 0",
             path);
    assert_string_equal(err, want);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"experiments\": [{\"name\": \"e\", \"variants\": [{\"name\": \"c\", \"weight\": 1}]}]}\n",
          f);
    fclose(f);
    assert_int_equal(rec_experiments_load(path, NULL, &x, err, sizeof err), 0);
    assert_int_equal(x->n, 1);
    assert_string_equal(x->list[0].variants[0].name, "c");
    rec_experiments_free(x);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"experiments\": [\n\n}", f);
    fclose(f);
    assert_int_equal(rec_experiments_load(path, NULL, &x, err, sizeof err), REC_EINVAL);
    snprintf(want, sizeof want, "%s: line 3, column 1:", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_golden),
        cmocka_unit_test(test_defaults_and_shares),
        cmocka_unit_test(test_assign_golden),
        cmocka_unit_test(test_shares_over_many_users),
        cmocka_unit_test(test_traffic_gate),
        cmocka_unit_test(test_sticky),
        cmocka_unit_test(test_salt_reshuffles),
        cmocka_unit_test(test_overrides_win),
        cmocka_unit_test(test_overrides_keyed),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_settings_check),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
