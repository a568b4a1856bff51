/* Business rules: jsonpos line lookup, rule semantics on hand-made candidates, validation
 * messages with their exact line and JSON path, pins, blocks, and loading from a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "rank/jsonpos.h"
#include "rank/rules.h"

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

static json_t *J(const char *sq)
{
    if (!sq)
        return NULL;
    char *text = dq(sq);
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v)
        fail_msg("bad test JSON %s: %s", sq, jerr.text);
    free(text);
    return v;
}

static struct rec_rules *parse_ok(const char *sq)
{
    char *text = dq(sq);
    struct rec_rules *r = NULL;
    char err[1024] = "";
    int rc = rec_rules_parse(text, strlen(text), "rules.json", &r, err, sizeof err);
    if (rc)
        fail_msg("unexpected error: %s", err);
    assert_non_null(r);
    free(text);
    return r;
}

static void expect_error(const char *sq, const char *msg_sq)
{
    char *text = dq(sq), *msg = dq(msg_sq);
    struct rec_rules *r = (void *)1;
    char err[1024] = "";
    assert_int_equal(rec_rules_parse(text, strlen(text), "rules.json", &r, err, sizeof err),
                     REC_EINVAL);
    assert_null(r);
    if (strcmp(err, msg) != 0)
        fail_msg("for %s\n  expected: %s\n  got:      %s", text, msg, err);
    free(text);
    free(msg);
}

/* Applies r to the candidate given as JSON texts (NULL: no object). */
static struct rec_rule_effect apply(const struct rec_rules *r, const char *item_sq,
                                    const char *user_sq, const char *ctx_sq)
{
    json_t *item = J(item_sq), *user = J(user_sq), *ctx = J(ctx_sq);
    struct rec_rule_effect e;
    memset(&e, 0xAB, sizeof e); /* every field must be set */
    rec_rules_apply(r, item, NULL, user, ctx, &e);
    json_decref(item);
    json_decref(user);
    json_decref(ctx);
    return e;
}

/* Whether condition cond holds for the candidate: a one-filter file keeps exactly those. */
static int holds(const char *cond, const char *item, const char *user, const char *ctx)
{
    size_t cap = strlen(cond) + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap, "{'rules': [{'name': 'f', 'filter': %s}]}", cond);
    struct rec_rules *r = parse_ok(text);
    free(text);
    struct rec_rule_effect e = apply(r, item, user, ctx);
    assert_true(e.keep == 0 || e.keep == 1);
    assert_int_equal(e.removed_by, e.keep ? -1 : 0);
    assert_true(e.multiplier == 1.0);
    assert_true(e.applied_mask == (e.keep ? 0 : 1));
    rec_rules_free(r);
    return e.keep;
}

/* ---- jsonpos ------------------------------------------------------------------------------ */

static void test_jsonpos_nested(void **state)
{
    const char *t = "{\n"                                  /* 1 */
                    "  \"a\": [1, [2, 3],\n"               /* 2 */
                    "        {\"b\": {\"c\": [\n"          /* 3 */
                    "           true,\n"                   /* 4 */
                    "           null, {\"d\": \"x\"}]}}],\n" /* 5 */
                    "  \"e\": {\"f\": [[], [[\n"           /* 6 */
                    "     7]]]},\n"                        /* 7 */
                    "  \"g\":\n"                           /* 8 */
                    "\n"                                   /* 9 */
                    "    -1.5e3\n"                         /* 10 */
                    "}\n";
    size_t n = strlen(t);
    assert_int_equal(rec_jsonpos_line(t, n, ""), 1);
    assert_int_equal(rec_jsonpos_line(t, n, "a"), 2);
    assert_int_equal(rec_jsonpos_line(t, n, "a[0]"), 2);
    assert_int_equal(rec_jsonpos_line(t, n, "a[1][1]"), 2);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2]"), 3);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2].b.c"), 3);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2].b.c[0]"), 4);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2].b.c[1]"), 5);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2].b.c[2].d"), 5);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2][\"b\"][\"c\"][2][\"d\"]"), 5);
    /* after skipping multi-line containers the count is still right */
    assert_int_equal(rec_jsonpos_line(t, n, "e"), 6);
    assert_int_equal(rec_jsonpos_line(t, n, "e.f[1][0][0]"), 7);
    assert_int_equal(rec_jsonpos_line(t, n, "g"), 10); /* the value, not the key */
    /* not there: 0 */
    assert_int_equal(rec_jsonpos_line(t, n, "a[3]"), 0);
    assert_int_equal(rec_jsonpos_line(t, n, "a[2].b.x"), 0);
    assert_int_equal(rec_jsonpos_line(t, n, "a.b"), 0);      /* a key into an array */
    assert_int_equal(rec_jsonpos_line(t, n, "[0]"), 0);      /* an index into an object */
    assert_int_equal(rec_jsonpos_line(t, n, "g.h"), 0);      /* into a number */
    assert_int_equal(rec_jsonpos_line(t, n, "e.f[0][0]"), 0); /* into an empty array */
    /* malformed paths: 0 */
    assert_int_equal(rec_jsonpos_line(t, n, "a["), 0);
    assert_int_equal(rec_jsonpos_line(t, n, "a[x]"), 0);
    assert_int_equal(rec_jsonpos_line(t, n, "a..b"), 0);
    assert_int_equal(rec_jsonpos_line(t, n, ".a"), 2); /* a leading dot is allowed */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"a\"]x"), 0);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"a]"), 0);
    assert_int_equal(rec_jsonpos_line(t, n, "a[99999999999999999999999]"), 0);
    /* text cut short or empty: 0, never a read past len */
    assert_int_equal(rec_jsonpos_line(t, 20, "e"), 0);
    assert_int_equal(rec_jsonpos_line(t, 0, ""), 0);
    assert_int_equal(rec_jsonpos_line("  \n ", 4, ""), 0);
    assert_int_equal(rec_jsonpos_line(NULL, 0, ""), 0);
}

static void test_jsonpos_keys(void **state)
{
    /* keys with escapes, dots, brackets, quotes, non-ASCII; brackets and braces inside strings
     * must not confuse the skipping */
    const char *t = "{\"s\": \"}]{[\\\" \\\\\",\n"                  /* 1 */
                    " \"x.y\": 1,\n"                                /* 2 */
                    " \"a\\\"b\": 2,\n"                             /* 3 */
                    " \"caf\\u00e9\": 3,\n"                         /* 4 */
                    " \"na\xc3\xafve\": 4,\n"                       /* 5 */
                    " \"\\ud83d\\ude00\": 5,\n"                     /* 6 */
                    " \"\": 6,\n"                                   /* 7 */
                    " \"[0]\": {\"\\\\\": 7},\n"                    /* 8 */
                    " \"tab\\there\": 8,\n"                         /* 9 */
                    " \"x\": \"multi\\nline \\\"string\\\"\", \"y\":\n" /* 10 */
                    " 9}";                                          /* 11 */
    size_t n = strlen(t);
    assert_int_equal(rec_jsonpos_line(t, n, "s"), 1);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"x.y\"]"), 2);
    assert_int_equal(rec_jsonpos_line(t, n, "x.y"), 0); /* that is x, then y */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"a\\\"b\"]"), 3);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"caf\xc3\xa9\"]"), 4);     /* raw vs \u00e9 */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"caf\\u00E9\"]"), 4);      /* both escaped */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"na\\u00efve\"]"), 5);     /* escaped vs raw */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"\xf0\x9f\x98\x80\"]"), 6); /* surrogate pair */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"\"]"), 7);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"[0]\"][\"\\\\\"]"), 8);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"tab\\there\"]"), 9);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"tab\there\"]"), 9); /* raw tab in the path */
    assert_int_equal(rec_jsonpos_line(t, n, "x"), 10);
    assert_int_equal(rec_jsonpos_line(t, n, "y"), 11);
    assert_int_equal(rec_jsonpos_line(t, n, "[\"caf\"]"), 0); /* a prefix is not a match */
    assert_int_equal(rec_jsonpos_line(t, n, "[\"cafe\"]"), 0);

    /* CRLF counts one line per '\n'; a top-level array */
    const char *u = "[\r\n 1,\r\n {\"k\": [\r\n 2]}]";
    assert_int_equal(rec_jsonpos_line(u, strlen(u), "[1].k[0]"), 4);
    assert_int_equal(rec_jsonpos_line(u, strlen(u), "[1]"), 3);
}

static void test_jsonpos_build(void **state)
{
    char buf[128];
    size_t n = 0;
    buf[0] = '\0';
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, "rules"), 0);
    assert_int_equal(rec_jsonpos_add_index(buf, sizeof buf, &n, 2), 0);
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, "when"), 0);
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, "all"), 0);
    assert_int_equal(rec_jsonpos_add_index(buf, sizeof buf, &n, 0), 0);
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, "context.hour"), 0);
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, "between"), 0);
    assert_string_equal(buf, "rules[2].when.all[0][\"context.hour\"].between");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(rec_jsonpos_parent(buf), strlen("rules[2].when.all[0][\"context.hour\"]"));
    assert_int_equal(rec_jsonpos_parent("rules[2]"), 5);
    assert_int_equal(rec_jsonpos_parent("rules"), 0);
    assert_int_equal(rec_jsonpos_parent(""), 0);
    assert_int_equal(rec_jsonpos_parent("a[\"x]y\"]"), 1);
    assert_int_equal(rec_jsonpos_parent("a[\"x\\\"]\"].b"), 9);

    /* escaping: quote, backslash, control characters; the empty key */
    n = 0;
    buf[0] = '\0';
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, "a\"b\\c\n\x7f"), 0);
    assert_int_equal(rec_jsonpos_add_key(buf, sizeof buf, &n, ""), 0);
    assert_string_equal(buf, "[\"a\\\"b\\\\c\\u000a\\u007f\"][\"\"]");
    const char *t = "{\"a\\\"b\\\\c\\n\x7f\": {\"\": 1}}";
    assert_int_equal(rec_jsonpos_line(t, strlen(t), buf), 1);

    /* too small: REC_ETOOBIG, buf and n unchanged */
    char small[12];
    n = 0;
    small[0] = '\0';
    assert_int_equal(rec_jsonpos_add_key(small, sizeof small, &n, "abcdef"), 0);
    assert_int_equal(rec_jsonpos_add_key(small, sizeof small, &n, "ghijk"), REC_ETOOBIG);
    assert_int_equal(rec_jsonpos_add_key(small, sizeof small, &n, "g.h"), REC_ETOOBIG);
    assert_int_equal(rec_jsonpos_add_index(small, sizeof small, &n, 12345), REC_ETOOBIG);
    assert_string_equal(small, "abcdef");
    assert_int_equal(n, 6);
    assert_int_equal(rec_jsonpos_add_key(small, sizeof small, &n, "ghij"), 0);
    assert_string_equal(small, "abcdef.ghij");
}

/* A document written one value per line by jansson: every path the builder writes for it must
 * resolve to the line where jansson put the value. */
static void test_jsonpos_roundtrip(void **state)
{
    static const char *const keys[] = {"plain", "with.dot", "br[0]", "qu\"ote", "back\\slash",
                                       "", "sp ace", "\xc3\xa9t\xc3\xa9", "ctl\x01", "-_09"};
    const size_t nk = sizeof keys / sizeof keys[0];
    json_t *root = json_object();
    for (size_t i = 0; i < nk; i++)
        json_object_set_new(root, keys[i], json_pack("[i, {s:i}]", (int)i, keys[i], (int)i));
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    assert_non_null(text);
    /* the lines: "{", then per key: `key: [`, i, `{`, `key: i`, `}`, `]` */
    for (size_t i = 0; i < nk; i++) {
        char path[128];
        size_t n = 0;
        path[0] = '\0';
        assert_int_equal(rec_jsonpos_add_key(path, sizeof path, &n, keys[i]), 0);
        assert_int_equal(rec_jsonpos_line(text, strlen(text), path), 2 + 6 * (int)i);
        assert_int_equal(rec_jsonpos_add_index(path, sizeof path, &n, 1), 0);
        assert_int_equal(rec_jsonpos_line(text, strlen(text), path), 4 + 6 * (int)i);
        assert_int_equal(rec_jsonpos_add_key(path, sizeof path, &n, keys[i]), 0);
        assert_int_equal(rec_jsonpos_line(text, strlen(text), path), 5 + 6 * (int)i);
    }
    free(text);
    json_decref(root);
}

/* ---- the example file ---------------------------------------------------------------------- */

static const char *const EXAMPLE =
    "{'rules': [\n"
    "  {'name': 'available-only', 'filter': {'item.attributes.available': {'eq': true}}},\n"
    "  {'name': 'fresh-news', 'filter': {'any': [{'item.categories': {'contains': 'news'}},"
    " {'item.age_days': {'lte': 365}}]}},\n"
    "  {'name': 'kids', 'filter': {'not': {'all': [{'user.attributes.age': {'lt': 13}},"
    " {'item.categories': {'contains': 'horror'}}]}}},\n"
    "  {'name': 'short-on-mobile-evening', 'boost': 1.5, 'when': {'all': ["
    "{'context.device': {'eq': 'mobile'}}, {'context.hour': {'between': [17, 22]}},"
    " {'item.attributes.duration_min': {'lt': 10}}]}},\n"
    "  {'name': 'bury-seen-categories', 'bury': 0.5, 'when': {'item.age_days': {'gt': 30}}},\n"
    "  {'name': 'promo', 'pin': [{'item': 'i42', 'position': 1}], 'when': {'context.region':"
    " {'in': ['FR', 'BE']}}},\n"
    "  {'name': 'recalled', 'block': ['i13', 'i14']}\n"
    "]}";

#define ITEM(id, avail, cats, age, dur)                                                       \
    "{'id': '" id "', 'categories': " cats ", 'age_days': " #age ", 'attributes': "          \
    "{'available': " #avail ", 'duration_min': " #dur "}}"

static void test_example_rules(void **state)
{
    struct rec_rules *r = parse_ok(EXAMPLE);
    assert_int_equal(rec_rules_count(r), 7);
    assert_string_equal(rec_rules_name(r, 0), "available-only");
    assert_string_equal(rec_rules_name(r, 6), "recalled");
    assert_null(rec_rules_name(r, 7));
    assert_null(rec_rules_name(r, -1));
    assert_null(rec_rules_name(NULL, 0));
    assert_int_equal(rec_rules_count(NULL), 0);

    const char *adult = "{'id': 'u1', 'attributes': {'age': 30}}";
    const char *child = "{'id': 'u2', 'attributes': {'age': 10}}";
    const char *evening = "{'device': 'mobile', 'hour': 20, 'region': 'FR'}";
    const char *morning = "{'device': 'mobile', 'hour': 9}";
    struct rec_rule_effect e;

    /* a fresh short news item in a mobile evening: boosted, not buried */
    e = apply(r, ITEM("i1", true, "['news']", 3, 5), adult, evening);
    assert_int_equal(e.keep, 1);
    assert_int_equal(e.removed_by, -1);
    assert_true(e.multiplier == 1.5);
    assert_true(e.applied_mask == (1u << 3));
    /* the same item in the morning: no boost; between is inclusive at both ends */
    e = apply(r, ITEM("i1", true, "['news']", 3, 5), adult, morning);
    assert_true(e.multiplier == 1.0);
    assert_true(e.applied_mask == 0);
    e = apply(r, ITEM("i1", true, "['news']", 3, 5), adult, "{'device': 'mobile', 'hour': 17}");
    assert_true(e.multiplier == 1.5);
    e = apply(r, ITEM("i1", true, "['news']", 3, 5), adult, "{'device': 'mobile', 'hour': 22}");
    assert_true(e.multiplier == 1.5);
    e = apply(r, ITEM("i1", true, "['news']", 3, 5), adult, "{'device': 'mobile', 'hour': 23}");
    assert_true(e.multiplier == 1.0);
    /* a long video: not short, no boost */
    e = apply(r, ITEM("i1", true, "['news']", 3, 10), adult, evening);
    assert_true(e.multiplier == 1.0);
    /* 40 days old: boosted and buried, 1.5 * 0.5 */
    e = apply(r, ITEM("i2", true, "['news']", 40, 5), adult, evening);
    assert_int_equal(e.keep, 1);
    assert_true(e.multiplier == 0.75);
    assert_true(e.applied_mask == ((1u << 3) | (1u << 4)));
    /* unavailable: filtered by rule 0, and nothing after it is evaluated */
    e = apply(r, ITEM("i3", false, "['news']", 40, 5), adult, evening);
    assert_int_equal(e.keep, 0);
    assert_int_equal(e.removed_by, 0);
    assert_true(e.applied_mask == 1u);
    assert_true(e.multiplier == 1.0);
    /* no "available" attribute: eq true is false on a missing field, so filtered */
    e = apply(r, "{'id': 'i3', 'categories': ['news'], 'age_days': 1}", adult, evening);
    assert_int_equal(e.removed_by, 0);
    /* old and not news: fresh-news removes it */
    e = apply(r, ITEM("i4", true, "['sport']", 400, 5), adult, evening);
    assert_int_equal(e.keep, 0);
    assert_int_equal(e.removed_by, 1);
    assert_true(e.applied_mask == (1u << 1));
    /* old news stays (any), recent sport stays */
    assert_int_equal(apply(r, ITEM("i4", true, "['news']", 400, 5), adult, NULL).keep, 1);
    assert_int_equal(apply(r, ITEM("i4", true, "['sport']", 365, 5), adult, NULL).keep, 1);
    /* horror: removed for a child, kept for an adult and for a user without an age */
    e = apply(r, ITEM("i5", true, "['horror', 'news']", 1, 50), child, morning);
    assert_int_equal(e.keep, 0);
    assert_int_equal(e.removed_by, 2);
    assert_int_equal(apply(r, ITEM("i5", true, "['horror', 'news']", 1, 50), adult, morning).keep,
                     1);
    assert_int_equal(apply(r, ITEM("i5", true, "['horror', 'news']", 1, 50),
                           "{'id': 'u3', 'attributes': {}}", morning).keep, 1);
    assert_int_equal(apply(r, ITEM("i5", true, "['horror', 'news']", 1, 50), NULL, NULL).keep, 1);
    /* a child and a non-horror item */
    assert_int_equal(apply(r, ITEM("i6", true, "['news']", 1, 50), child, morning).keep, 1);
    /* recalled items are blocked whatever else holds */
    e = apply(r, ITEM("i13", true, "['news']", 1, 5), adult, evening);
    assert_int_equal(e.keep, 0);
    assert_int_equal(e.removed_by, 6);
    assert_true(e.applied_mask == ((1u << 3) | (1u << 6)));
    assert_int_equal(apply(r, ITEM("i14", true, "['news']", 1, 5), adult, evening).removed_by, 6);
    assert_int_equal(apply(r, ITEM("i15", true, "['news']", 1, 5), adult, evening).keep, 1);

    /* the pin holds in FR and BE only */
    struct rec_rule_pin pins[4];
    json_t *fr = J("{'region': 'FR'}"), *be = J("{'region': 'BE'}"), *de = J("{'region': 'DE'}");
    assert_int_equal(rec_rules_pins(r, NULL, fr, pins, 4), 1);
    assert_string_equal(pins[0].item, "i42");
    assert_int_equal(pins[0].position, 1);
    assert_int_equal(pins[0].rule, 5);
    assert_int_equal(rec_rules_pins(r, NULL, be, pins, 4), 1);
    assert_int_equal(rec_rules_pins(r, NULL, de, pins, 4), 0);
    assert_int_equal(rec_rules_pins(r, NULL, NULL, pins, 4), 0);
    json_decref(fr);
    json_decref(be);
    json_decref(de);

    /* NULL rules keep everything */
    e = apply(NULL, ITEM("i13", false, "[]", 1, 1), NULL, NULL);
    assert_int_equal(e.keep, 1);
    assert_int_equal(e.removed_by, -1);
    assert_true(e.multiplier == 1.0);
    assert_true(e.applied_mask == 0);
    assert_int_equal(rec_rules_pins(NULL, NULL, NULL, pins, 4), 0);
    rec_rules_free(r);
    rec_rules_free(NULL);
}

/* ---- conditions ---------------------------------------------------------------------------- */

static void test_nested_conditions(void **state)
{
    /* (a or (b and not c)) and not (d or e), over context flags */
    const char *cond = "{'all': [{'any': [{'context.a': {'eq': 1}}, {'all': [{'context.b':"
                       " {'eq': 1}}, {'not': {'context.c': {'eq': 1}}}]}]}, {'not': {'any':"
                       " [{'context.d': {'eq': 1}}, {'context.e': {'eq': 1}}]}}]}";
    for (int m = 0; m < 32; m++) {
        char ctx[128];
        int a = m & 1, b = (m >> 1) & 1, c = (m >> 2) & 1, d = (m >> 3) & 1, e = (m >> 4) & 1;
        snprintf(ctx, sizeof ctx, "{'a': %d, 'b': %d, 'c': %d, 'd': %d, 'e': %d}", a, b, c, d, e);
        int want = (a || (b && !c)) && !(d || e);
        assert_int_equal(holds(cond, NULL, NULL, ctx), want);
    }
    /* all/any of one; not not */
    assert_int_equal(holds("{'all': [{'context.x': {'eq': 1}}]}", NULL, NULL, "{'x': 1}"), 1);
    assert_int_equal(holds("{'any': [{'context.x': {'eq': 1}}]}", NULL, NULL, "{'x': 2}"), 0);
    assert_int_equal(holds("{'not': {'not': {'context.x': {'eq': 1}}}}", NULL, NULL, "{'x': 1}"),
                     1);
    /* 16 levels are allowed */
    char deep[1024];
    size_t n = 0;
    for (int i = 0; i < 15; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{'not': ");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{'context.x': {'exists': true}}");
    for (int i = 0; i < 15; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "}");
    assert_int_equal(holds(deep, NULL, NULL, "{'x': 1}"), 0); /* 15 nots of true */
}

static void test_operators(void **state)
{
    const char *item = "{'id': 'i1', 'title': 'Hello', 'categories': ['news', 'tech'],"
                       " 'tags': [], 'age_days': 12.5, 'published_at': 1700000000,"
                       " 'attributes': {'n': 3, 's': 'x', 'b': false, 'arr': [1, 'y', true],"
                       " 'a.b': 'dotted', 'nul': null}}";
    const char *user = "{'id': 'u9', 'attributes': {'tier': 'gold'}}";
    const char *ctx = "{'hour': 17, 'weekday': 'sat', 'mobile': true}";
#define H(cond) holds(cond, item, user, ctx)
    assert_int_equal(H("{'item.id': {'eq': 'i1'}}"), 1);
    assert_int_equal(H("{'item.id': {'ne': 'i1'}}"), 0);
    assert_int_equal(H("{'item.id': {'in': ['i0', 'i1']}}"), 1);
    assert_int_equal(H("{'item.id': {'not_in': ['i0', 'i1']}}"), 0);
    assert_int_equal(H("{'item.title': {'eq': 'hello'}}"), 0); /* byte-wise */
    assert_int_equal(H("{'item.categories': {'contains': 'tech'}}"), 1);
    assert_int_equal(H("{'item.categories': {'contains': 'te'}}"), 0);
    assert_int_equal(H("{'item.tags': {'contains': 'tech'}}"), 0);
    assert_int_equal(H("{'item.tags': {'exists': true}}"), 1); /* empty, but there */
    assert_int_equal(H("{'item.age_days': {'lt': 12.5}}"), 0);
    assert_int_equal(H("{'item.age_days': {'lte': 12.5}}"), 1);
    assert_int_equal(H("{'item.age_days': {'gt': 12}}"), 1);
    assert_int_equal(H("{'item.age_days': {'gte': 13}}"), 0);
    assert_int_equal(H("{'item.age_days': {'eq': 12.5}}"), 1);
    assert_int_equal(H("{'item.published_at': {'between': [1700000000, 1700000000]}}"), 1);
    assert_int_equal(H("{'item.published_at': {'in': [1, 1700000000, 3]}}"), 1);
    assert_int_equal(H("{'item.published_at': {'not_in': [1, 3]}}"), 1);
    /* integers and reals compare as numbers */
    assert_int_equal(H("{'item.attributes.n': {'eq': 3.0}}"), 1);
    assert_int_equal(H("{'item.attributes.n': {'eq': '3'}}"), 0);
    assert_int_equal(H("{'item.attributes.n': {'ne': '3'}}"), 1);
    assert_int_equal(H("{'item.attributes.s': {'lt': 5}}"), 0); /* a string is not a number */
    assert_int_equal(H("{'item.attributes.b': {'eq': false}}"), 1);
    assert_int_equal(H("{'item.attributes.b': {'eq': 0}}"), 0);
    assert_int_equal(H("{'item.attributes.b': {'in': [true]}}"), 0);
    assert_int_equal(H("{'item.attributes.b': {'in': ['x', false, 2]}}"), 1);
    assert_int_equal(H("{'item.attributes.arr': {'contains': 1}}"), 1);
    assert_int_equal(H("{'item.attributes.arr': {'contains': true}}"), 1);
    assert_int_equal(H("{'item.attributes.arr': {'contains': 'y'}}"), 1);
    assert_int_equal(H("{'item.attributes.arr': {'contains': 'z'}}"), 0);
    assert_int_equal(H("{'item.attributes.s': {'contains': 'x'}}"), 0); /* not an array */
    assert_int_equal(H("{'item.attributes.a.b': {'eq': 'dotted'}}"), 1); /* the name is 'a.b' */
    assert_int_equal(H("{'user.id': {'eq': 'u9'}}"), 1);
    assert_int_equal(H("{'user.attributes.tier': {'in': ['gold', 'silver']}}"), 1);
    assert_int_equal(H("{'context.weekday': {'in': ['sat', 'sun']}}"), 1);
    assert_int_equal(H("{'context.mobile': {'eq': true}}"), 1);
    assert_int_equal(H("{'context.hour': {'between': [9, 17]}}"), 1);
    assert_int_equal(H("{'context.hour': {'between': [18, 23]}}"), 0);
    /* a large in set is searched correctly wherever the value sorts */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "{'item.id': {'in': [");
    for (int i = 400; i >= 0; i--)
        n += (size_t)snprintf(big + n, sizeof big - n, "'i%d'%s", i * 7 % 401, i ? ", " : "");
    snprintf(big + n, sizeof big - n, "]}}");
    assert_int_equal(H(big), 1);
    assert_int_equal(holds(big, "{'id': 'i400'}", NULL, NULL), 1);
    assert_int_equal(holds(big, "{'id': 'i401'}", NULL, NULL), 0);
#undef H
}

/* A missing field makes every operator false but ne, not_in and exists:false. Missing: the
 * object is NULL, the key is absent, the value is null, or a parent is not an object. */
static void test_missing_fields(void **state)
{
    static const struct {
        const char *op;
        int when_missing;
    } ops[] = {
        {"{'eq': 1}", 0},          {"{'ne': 1}", 1},          {"{'lt': 1}", 0},
        {"{'lte': 1}", 0},         {"{'gt': 1}", 0},          {"{'gte': 1}", 0},
        {"{'between': [0, 9]}", 0}, {"{'in': [1, 'a']}", 0},  {"{'not_in': [1, 'a']}", 1},
        {"{'contains': 1}", 0},    {"{'exists': true}", 0},   {"{'exists': false}", 1},
    };
    static const char *const items[] = {NULL, "{}", "{'attributes': {}}",
                                        "{'attributes': {'x': null}}", "{'attributes': 5}",
                                        "{'attributes': [1]}"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char cond[128];
        snprintf(cond, sizeof cond, "{'item.attributes.x': %s}", ops[i].op);
        for (size_t k = 0; k < sizeof items / sizeof items[0]; k++)
            if (holds(cond, items[k], "{'attributes': {'x': 1}}", "{'x': 1}") !=
                ops[i].when_missing)
                fail_msg("%s on item %s", cond, items[k] ? items[k] : "NULL");
    }
    /* user and context fields likewise */
    assert_int_equal(holds("{'user.id': {'ne': 'u1'}}", NULL, NULL, NULL), 1);
    assert_int_equal(holds("{'user.id': {'eq': 'u1'}}", NULL, NULL, NULL), 0);
    assert_int_equal(holds("{'user.attributes.age': {'lt': 13}}", NULL, "{'id': 'u'}", NULL), 0);
    assert_int_equal(holds("{'context.hour': {'exists': false}}", NULL, NULL, "{}"), 1);
    assert_int_equal(holds("{'context.hour': {'exists': true}}", NULL, NULL, "{'hour': 0}"), 1);
    /* wrong type behaves as missing: a string age is not < 13, but is ne 13 */
    assert_int_equal(holds("{'item.age_days': {'lt': 13}}", "{'age_days': '5'}", NULL, NULL), 0);
    assert_int_equal(holds("{'item.age_days': {'ne': 13}}", "{'age_days': '13'}", NULL, NULL), 1);
    assert_int_equal(holds("{'item.categories': {'contains': 'a'}}", "{'categories': 'a'}", NULL,
                           NULL), 0);
}

/* ---- rules --------------------------------------------------------------------------------- */

static void test_disabled_rules(void **state)
{
    struct rec_rules *r = parse_ok(
        "{'rules': [\n"
        " {'name': 'f', 'enabled': false, 'filter': {'item.id': {'eq': 'never'}}},\n"
        " {'name': 'b', 'enabled': false, 'boost': 3, 'when': {'item.id': {'exists': true}}},\n"
        " {'name': 'k', 'enabled': false, 'block': ['i1']},\n"
        " {'name': 'p', 'enabled': false, 'pin': [{'item': 'i9', 'position': 2}]},\n"
        " {'name': 'on', 'enabled': true, 'bury': 0.25, 'when': {'item.id': {'eq': 'i1'}}}\n"
        "]}");
    assert_int_equal(rec_rules_count(r), 5); /* disabled rules keep their index */
    struct rec_rule_effect e = apply(r, "{'id': 'i1'}", NULL, NULL);
    assert_int_equal(e.keep, 1);
    assert_true(e.multiplier == 0.25);
    assert_true(e.applied_mask == (1u << 4));
    assert_int_equal(rec_rules_pins(r, NULL, NULL, NULL, 8), 0);
    rec_rules_free(r);
    /* disabled rules are still validated */
    expect_error("{'rules': [{'name': 'f', 'enabled': false, 'boost': 0.5, 'when':"
                 " {'item.id': {'eq': 'x'}}}]}",
                 "rules.json:1: rules[0].boost: must be a number > 1 (a score multiplier)");
}

static void test_pins(void **state)
{
    struct rec_rules *r = parse_ok(
        "{'rules': [\n"
        " {'name': 'b', 'boost': 2, 'when': {'user.id': {'exists': true}}},\n"
        " {'name': 'p1', 'pin': [{'item': 'a', 'position': 3}, {'item': 'b', 'position': 1}]},\n"
        " {'name': 'p2', 'pin': [{'item': 'c', 'position': 1}], 'when': {'user.attributes.vip':"
        " {'eq': true}}},\n"
        " {'name': 'p3', 'pin': [{'position': 2, 'item': 'd'}], 'when': {'context.page':"
        " {'eq': 'home'}}}\n"
        "]}");
    struct rec_rule_pin p[8];
    json_t *vip = J("{'id': 'u', 'attributes': {'vip': true}}"), *home = J("{'page': 'home'}");
    /* in rule order, and within a rule in file order */
    assert_int_equal(rec_rules_pins(r, vip, home, p, 8), 4);
    const char *items[] = {"a", "b", "c", "d"};
    int pos[] = {3, 1, 1, 2}, rule[] = {1, 1, 2, 3};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(p[i].item, items[i]);
        assert_int_equal(p[i].position, pos[i]);
        assert_int_equal(p[i].rule, rule[i]);
    }
    /* when: only the unconditional rule and the one whose when holds */
    assert_int_equal(rec_rules_pins(r, NULL, home, p, 8), 3);
    assert_string_equal(p[2].item, "d");
    assert_int_equal(rec_rules_pins(r, vip, NULL, p, 8), 3);
    assert_string_equal(p[2].item, "c");
    /* max: writes no more than max, and says how many it wrote */
    memset(p, 0, sizeof p);
    assert_int_equal(rec_rules_pins(r, vip, home, p, 3), 3);
    assert_string_equal(p[2].item, "c");
    assert_null(p[3].item);
    assert_int_equal(rec_rules_pins(r, vip, home, p, 1), 1);
    assert_string_equal(p[0].item, "a");
    assert_int_equal(rec_rules_pins(r, vip, home, NULL, 0), 0);
    /* pins do not touch rec_rules_apply */
    struct rec_rule_effect e = apply(r, "{'id': 'a'}", "{'id': 'u'}", "{'page': 'home'}");
    assert_int_equal(e.keep, 1);
    assert_true(e.multiplier == 2.0);
    assert_true(e.applied_mask == 1u);
    json_decref(vip);
    json_decref(home);
    rec_rules_free(r);
}

static void test_blocks(void **state)
{
    struct rec_rules *r = parse_ok(
        "{'rules': [\n"
        " {'name': 'always', 'block': ['z', 'a', 'm']},\n"
        " {'name': 'in-fr', 'block': ['x'], 'when': {'context.region': {'eq': 'FR'}}},\n"
        " {'name': 'old-y', 'block': ['y'], 'when': {'item.age_days': {'gt': 10}}}\n"
        "]}");
    const char *ids[] = {"a", "m", "z"};
    for (int i = 0; i < 3; i++) {
        char item[64];
        snprintf(item, sizeof item, "{'id': '%s'}", ids[i]);
        struct rec_rule_effect e = apply(r, item, NULL, NULL);
        assert_int_equal(e.keep, 0);
        assert_int_equal(e.removed_by, 0);
    }
    assert_int_equal(apply(r, "{'id': 'b'}", NULL, NULL).keep, 1);
    assert_int_equal(apply(r, "{'id': 'x'}", NULL, "{'region': 'FR'}").removed_by, 1);
    assert_int_equal(apply(r, "{'id': 'x'}", NULL, "{'region': 'DE'}").keep, 1);
    assert_int_equal(apply(r, "{'id': 'x'}", NULL, NULL).keep, 1);
    assert_int_equal(apply(r, "{'id': 'y', 'age_days': 11}", NULL, NULL).removed_by, 2);
    assert_int_equal(apply(r, "{'id': 'y', 'age_days': 9}", NULL, NULL).keep, 1);
    /* no id, or not a string: nothing to block */
    assert_int_equal(apply(r, "{}", NULL, NULL).keep, 1);
    assert_int_equal(apply(r, "{'id': ['a']}", NULL, NULL).keep, 1);
    assert_int_equal(apply(r, NULL, NULL, "{'region': 'FR'}").keep, 1);
    rec_rules_free(r);
}

static void test_many_rules_mask(void **state)
{
    /* 70 boosts of 2 (exact in binary up to 2^70): the mask holds the first 64 */
    char *text = malloc(16384);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, 16384, "{'rules': [");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(text + n, 16384 - n, "%s{'name': 'r%d', 'boost': 2, 'when':"
                              " {'context.on': {'eq': true}}}", i ? ", " : "", i);
    snprintf(text + n, 16384 - n, "]}");
    struct rec_rules *r = parse_ok(text);
    struct rec_rule_effect e = apply(r, NULL, NULL, "{'on': true}");
    assert_true(e.multiplier == 0x1p70);
    assert_true(e.applied_mask == UINT64_MAX);
    rec_rules_free(r);
    free(text);
}

/* The caller's per-request item fields (id, age_days) come in item_extra, which shadows the
 * shared item document without a copy of it. */
static void test_item_extra(void **state)
{
    struct rec_rules *r = parse_ok(
        "{'rules': [\n"
        " {'name': 'fresh', 'filter': {'item.age_days': {'lte': 30}}},\n"
        " {'name': 'no-x', 'block': ['x']},\n"
        " {'name': 'red', 'boost': 2, 'when': {'item.attributes.colour': {'eq': 'red'}}}\n"
        "]}");
    json_t *doc = J("{'title': 'T', 'age_days': 1000, 'attributes': {'colour': 'red'}}");
    json_t *young = J("{'id': 'y', 'age_days': 3}"), *old = J("{'id': 'y', 'age_days': 31}");
    json_t *blocked = J("{'id': 'x', 'age_days': 3}"), *unknown = J("{'age_days': null}");
    struct rec_rule_effect e;
    rec_rules_apply(r, doc, young, NULL, NULL, &e);
    assert_int_equal(e.keep, 1);
    assert_true(e.multiplier == 2.0); /* attributes still come from the document */
    rec_rules_apply(r, doc, old, NULL, NULL, &e);
    assert_int_equal(e.removed_by, 0);
    rec_rules_apply(r, doc, blocked, NULL, NULL, &e);
    assert_int_equal(e.removed_by, 1);
    rec_rules_apply(r, doc, NULL, NULL, NULL, &e); /* the document's own age_days */
    assert_int_equal(e.removed_by, 0);
    rec_rules_apply(r, doc, unknown, NULL, NULL, &e); /* null in extra: missing */
    assert_int_equal(e.removed_by, 0);
    rec_rules_apply(r, NULL, young, NULL, NULL, &e); /* no document at all */
    assert_int_equal(e.keep, 1);
    assert_true(e.multiplier == 1.0);
    json_decref(doc);
    json_decref(young);
    json_decref(old);
    json_decref(blocked);
    json_decref(unknown);
    rec_rules_free(r);
}

/* ---- validation ---------------------------------------------------------------------------- */

#define OPS "eq, ne, lt, lte, gt, gte, between, in, not_in, contains, exists"
#define RULE_KEYS "name, enabled, filter, boost, bury, pin, block, when"
#define FIELDS                                                                                 \
    "item.id, item.categories, item.tags, item.age_days, item.published_at, item.title, "      \
    "item.attributes.<name>, user.id, user.attributes.<name>, context.<name>"

static void test_errors_file(void **state)
{
    expect_error("[\n]", "rules.json:1: top level: must be an object {'rules': [...]}");
    expect_error("{\n 'rules': [],\n 'version': 2}",
                 "rules.json:3: top level: unknown key 'version' (expected: rules)");
    expect_error("\n\n{}", "rules.json:3: rules: missing");
    expect_error("{'rules':\n {}}", "rules.json:2: rules: must be an array of at most 1024 rules");
    expect_error("{'rules': [\n {'name': 'a', 'block': ['x']},\n 7]}",
                 "rules.json:3: rules[1]: must be an object {'name': ..., ACTION: ...}");
    /* syntax errors: line and column from jansson */
    char err[512];
    struct rec_rules *r = (void *)1;
    const char *bad = "{\"rules\": [\n  {\"name\": \"a\",}\n]}";
    assert_int_equal(rec_rules_parse(bad, strlen(bad), "rules.json", &r, err, sizeof err),
                     REC_EINVAL);
    assert_null(r);
    assert_true(strncmp(err, "rules.json:2:", 13) == 0);
    const char *dup = "{\"rules\": [\n  {\"name\": \"a\",\n   \"name\": \"b\"}]}";
    assert_int_equal(rec_rules_parse(dup, strlen(dup), "rules.json", &r, err, sizeof err),
                     REC_EINVAL);
    assert_true(strncmp(err, "rules.json:3:", 13) == 0);
    assert_non_null(strstr(err, "duplicate"));
    /* no source: "rules" */
    assert_int_equal(rec_rules_parse("[]", 2, NULL, &r, err, sizeof err), REC_EINVAL);
    assert_string_equal(err, "rules:1: top level: must be an object {\"rules\": [...]}");
    /* an empty file of rules is fine */
    r = parse_ok("{'rules': []}");
    assert_int_equal(rec_rules_count(r), 0);
    assert_int_equal(apply(r, "{'id': 'a'}", NULL, NULL).keep, 1);
    rec_rules_free(r);
}

static void test_errors_rule(void **state)
{
    /* unknown key in a rule: the line of that key */
    expect_error("{'rules': [\n"
                 "  {'name': 'a',\n"
                 "   'filter': {'item.id': {'eq': 'x'}},\n"
                 "   'priority': 3}\n"
                 "]}",
                 "rules.json:4: rules[0]: unknown key 'priority' (expected: " RULE_KEYS ")");
    /* name: missing (the line of the rule), wrong, too long, duplicate */
    expect_error("{'rules': [\n"
                 "  {'name': 'a', 'block': ['x']},\n"
                 "  {\n"
                 "   'block': ['y']}]}",
                 "rules.json:3: rules[1].name: missing");
    const char *bad_name = "rules[0].name: must be a string of 1..63 bytes of [A-Za-z0-9_.-]";
    char json[1024], msg[512];
    snprintf(msg, sizeof msg, "rules.json:2: %s", bad_name);
    expect_error("{'rules': [{'block': ['x'],\n 'name': 'a b'}]}", msg);
    expect_error("{'rules': [{'block': ['x'],\n 'name': ''}]}", msg);
    expect_error("{'rules': [{'block': ['x'],\n 'name': 3}]}", msg);
    char name63[64];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    snprintf(json, sizeof json, "{'rules': [{'block': ['x'], 'name': '%s'}]}", name63);
    struct rec_rules *r = parse_ok(json);
    assert_string_equal(rec_rules_name(r, 0), name63);
    rec_rules_free(r);
    snprintf(json, sizeof json, "{'rules': [{'block': ['x'],\n 'name': '%sn'}]}", name63);
    expect_error(json, msg);
    expect_error("{'rules': [\n"
                 "  {'name': 'a', 'block': ['x']},\n"
                 "  {'name': 'b', 'block': ['x']},\n"
                 "  {'block': ['x'],\n"
                 "   'name': 'a'}]}",
                 "rules.json:5: rules[2].name: 'a' is already used by rules[0]");
    expect_error("{'rules': [\n  {'name': 'a', 'block': ['x'], 'enabled':\n 'yes'}]}",
                 "rules.json:3: rules[0].enabled: must be true or false");
    /* actions: none, two */
    expect_error("{'rules': [\n  {'name': 'a', 'when': {'item.id': {'eq': 'x'}}}]}",
                 "rules.json:2: rules[0]: needs an action: one of filter, boost, bury, pin, block");
    expect_error("{'rules': [\n  {'name': 'a', 'boost': 2,\n   'bury': 0.5,\n"
                 "   'when': {'item.id': {'eq': 'x'}}}]}",
                 "rules.json:3: rules[0]: has both 'boost' and 'bury': a rule takes exactly one "
                 "action");
    /* when: refused with filter, required with boost and bury */
    expect_error("{'rules': [\n  {'name': 'a', 'filter': {'item.id': {'eq': 'x'}},\n"
                 "   'when': {'item.id': {'eq': 'x'}}}]}",
                 "rules.json:3: rules[0].when: a filter takes no 'when': the filter itself is the "
                 "condition");
    expect_error("{'rules': [\n  {'name': 'a',\n   'boost': 2}]}",
                 "rules.json:2: rules[0].when: missing: a boost needs a condition");
    expect_error("{'rules': [\n  {'name': 'a', 'bury': 0.5}]}",
                 "rules.json:2: rules[0].when: missing: a bury needs a condition");
    /* boost and bury values */
    const char *W = "'when': {'context.x': {'eq': 1}}";
    const char *boost_msg = "rules.json:2: rules[0].boost: must be a number > 1 (a score "
                            "multiplier)";
    const char *bury_msg = "rules.json:2: rules[0].bury: must be a number in (0, 1) (a score "
                           "multiplier)";
    const char *boosts[] = {"1", "0.5", "'2'", "true", "null", "-3"};
    const char *buries[] = {"0", "1", "1.5", "-0.5", "'0.5'", "false"};
    for (int i = 0; i < 6; i++) {
        snprintf(json, sizeof json, "{'rules': [{'name': 'a', %s,\n 'boost': %s}]}", W,
                 boosts[i]);
        expect_error(json, boost_msg);
        snprintf(json, sizeof json, "{'rules': [{'name': 'a', %s,\n 'bury': %s}]}", W, buries[i]);
        expect_error(json, bury_msg);
    }
}

static void test_errors_pin_block(void **state)
{
    const char *pin_arr = "must be a non-empty array of {'item': ID, 'position': N}";
    char msg[512];
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].pin: %s", pin_arr);
    expect_error("{'rules': [{'name': 'a',\n 'pin': []}]}", msg);
    expect_error("{'rules': [{'name': 'a',\n 'pin': {'item': 'x', 'position': 1}}]}", msg);
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'item': 'x', 'position': 1},\n 'y']}]}",
                 "rules.json:3: rules[0].pin[1]: must be an object {'item': ID, 'position': N}");
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'item': 'x', 'position': 1,\n"
                 "  'pos': 2}]}]}",
                 "rules.json:3: rules[0].pin[0]: unknown key 'pos' (expected: item, position)");
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'position': 1}]}]}",
                 "rules.json:2: rules[0].pin[0].item: missing");
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'position': 1,\n 'item': 42}]}]}",
                 "rules.json:3: rules[0].pin[0].item: must be an item id (a string)");
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'position': 1,\n 'item': 'a\\nb'}]}]}",
                 "rules.json:3: rules[0].pin[0].item: an item id contains a control character at "
                 "byte 1");
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'item': 'x'}]}]}",
                 "rules.json:2: rules[0].pin[0].position: missing");
    const char *positions[] = {"0", "-1", "1.0", "'1'", "10001"};
    for (int i = 0; i < 5; i++) {
        char json[256];
        snprintf(json, sizeof json, "{'rules': [{'name': 'a', 'pin': [\n {'item': 'x',\n"
                 " 'position': %s}]}]}", positions[i]);
        expect_error(json, "rules.json:3: rules[0].pin[0].position: must be an integer in "
                           "1..10000");
    }
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'item': 'x', 'position': 2},\n"
                 " {'item': 'y',\n  'position': 2}]}]}",
                 "rules.json:4: rules[0].pin[1]: position 2 is already taken by pin[0]");
    expect_error("{'rules': [{'name': 'a', 'pin': [\n {'item': 'x', 'position': 2},\n"
                 " {'item': 'x', 'position': 3}]}]}",
                 "rules.json:3: rules[0].pin[1]: 'x' is already pinned by pin[0]");
    /* a pin's when is per request: no item fields, however deep */
    expect_error("{'rules': [{'name': 'a', 'pin': [{'item': 'x', 'position': 1}],\n"
                 " 'when': {'any': [{'context.x': {'eq': 1}},\n"
                 "   {'not': {'item.age_days': {'lt': 3}}}]}}]}",
                 "rules.json:3: rules[0].when.any[1].not: the 'when' of a pin cannot use item "
                 "fields (item.age_days): pins are chosen once per request, not per item");
    /* block */
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].block: must be a non-empty array of item "
                              "ids");
    expect_error("{'rules': [{'name': 'a',\n 'block': []}]}", msg);
    expect_error("{'rules': [{'name': 'a',\n 'block': 'x'}]}", msg);
    expect_error("{'rules': [{'name': 'a', 'block': [\n 'x',\n 3]}]}",
                 "rules.json:3: rules[0].block[1]: must be an item id (a string)");
    expect_error("{'rules': [{'name': 'a', 'block': [\n 'x',\n '']}]}",
                 "rules.json:3: rules[0].block[1]: an item id must be a non-empty string");
    expect_error("{'rules': [{'name': 'a', 'block': ['x'],\n 'when': {}}]}",
                 "rules.json:2: rules[0].when: a condition must be an object with exactly one "
                 "key: 'all', 'any', 'not' or a field such as 'item.categories'");
}

static void test_errors_conditions(void **state)
{
    const char *one_key = "a condition must be an object with exactly one key: 'all', 'any', "
                          "'not' or a field such as 'item.categories'";
    char msg[1024];
    /* the example from the brief: an unknown operator, on its own line */
    expect_error("{'rules': [\n"
                 "  {'name': 'a', 'filter': {'item.id': {'eq': 'x'}}},\n"
                 "  {'name': 'b', 'filter': {'item.id': {'eq': 'x'}}},\n"
                 "  {'name': 'c', 'filter': {'item.id': {'eq': 'x'}}},\n"
                 "  {'name': 'short', 'boost': 1.5, 'when': {'all': [\n"
                 "     {'context.device': {'eq': 'mobile'}},\n"
                 "     {'item.age_days':\n"
                 "        {'lte2': 10}}]}}\n"
                 "]}",
                 "rules.json:8: rules[3].when.all[1]['item.age_days']: unknown operator 'lte2' "
                 "(known: " OPS ")");
    /* shapes */
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].filter: %s", one_key);
    expect_error("{'rules': [{'name': 'a',\n 'filter': []}]}", msg);
    expect_error("{'rules': [{'name': 'a',\n 'filter': {}}]}", msg);
    expect_error("{'rules': [{'name': 'a',\n 'filter': {'context.a': {'eq': 1}, 'context.b':"
                 " {'eq': 1}}}]}", msg);
    snprintf(msg, sizeof msg, "rules.json:3: rules[0].filter.any[1]: %s", one_key);
    expect_error("{'rules': [{'name': 'a', 'filter': {'any': [\n {'context.a': {'eq': 1}},\n"
                 " 'context.b']}}]}", msg);
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'all': []}}]}",
                 "rules.json:2: rules[0].filter.all: must be a non-empty array of conditions");
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'any': {'context.a': {'eq': 1}}}}]}",
                 "rules.json:2: rules[0].filter.any: must be a non-empty array of conditions");
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].filter.not: %s", one_key);
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'not': [{'context.a': {'eq': 1}}]}}]}",
                 msg);
    /* fields */
    expect_error("{'rules': [{'name': 'a', 'filter': {'all': [\n {'context.a': {'eq': 1}},\n"
                 " {'item.colour':\n {'eq': 'red'}}]}}]}",
                 "rules.json:4: rules[0].filter.all[1]: unknown field 'item.colour' (a condition "
                 "is all, any, not or one of: " FIELDS ")");
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'Any': []}}]}",
                 "rules.json:2: rules[0].filter: unknown field 'Any' (a condition is all, any, "
                 "not or one of: " FIELDS ")");
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'context.': {'eq': 1}}}]}",
                 "rules.json:2: rules[0].filter: unknown field 'context.' (a condition is all, "
                 "any, not or one of: " FIELDS ")");
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'user.attributes': {'eq': 1}}}]}",
                 "rules.json:2: rules[0].filter: unknown field 'user.attributes' (a condition "
                 "is all, any, not or one of: " FIELDS ")");
    char json[1024], field[200];
    memset(field, 'f', sizeof field);
    memcpy(field, "context.", 8);
    field[129] = '\0'; /* 129 bytes: one too many */
    snprintf(json, sizeof json, "{'rules': [{'name': 'a', 'filter': {\n '%s': {'eq': 1}}}]}",
             field);
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].filter: field path '%.64s...' is longer "
             "than 128 bytes", field);
    expect_error(json, msg);
    field[128] = '\0';
    snprintf(json, sizeof json, "{'rules': [{'name': 'a', 'filter': {'%s': {'eq': 1}}}]}",
             field);
    rec_rules_free(parse_ok(json));
    /* the field's value */
    const char *one_op = "must be an object with one operator, such as {'eq': ...} (known: " OPS
                         ")";
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].filter['context.x']: %s", one_op);
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'context.x': 1}}]}", msg);
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'context.x': {}}}]}", msg);
    expect_error("{'rules': [{'name': 'a', 'filter': {\n 'context.x': {'gt': 1, 'lt': 5}}}]}",
                 msg);
    /* operators that do not fit the field */
    expect_error("{'rules': [{'name': 'a', 'filter': {'item.title':\n {'lt': 'b'}}}]}",
                 "rules.json:2: rules[0].filter['item.title']: 'lt' does not apply to "
                 "item.title, which is a string (use: eq, ne, in, not_in, exists)");
    expect_error("{'rules': [{'name': 'a', 'filter': {'item.categories':\n {'eq': 'news'}}}]}",
                 "rules.json:2: rules[0].filter['item.categories']: 'eq' does not apply to "
                 "item.categories, which is an array (use: contains, exists)");
    expect_error("{'rules': [{'name': 'a', 'filter': {'item.age_days':\n {'contains': 3}}}]}",
                 "rules.json:2: rules[0].filter['item.age_days']: 'contains' does not apply to "
                 "item.age_days, which is a number (use: eq, ne, lt, lte, gt, gte, between, in, "
                 "not_in, exists)");
    /* operands */
    static const struct {
        const char *field, *op, *why;
    } bad[] = {
        {"item.age_days", "{'eq': '3'}", "must be a number"},
        {"item.id", "{'eq': 3}", "must be a string"},
        {"item.id", "{'ne': null}", "must be a string"},
        {"context.x", "{'eq': null}", "must be a string, a number or a boolean"},
        {"context.x", "{'eq': [1]}", "must be a string, a number or a boolean"},
        {"item.tags", "{'contains': 1}", "must be a string"},
        {"context.x", "{'contains': {}}", "must be a string, a number or a boolean"},
        {"context.x", "{'lt': '3'}", "must be a number"},
        {"context.x", "{'gte': true}", "must be a number"},
        {"context.x", "{'between': [3, 1]}", "must be [lo, hi]: two numbers with lo <= hi"},
        {"context.x", "{'between': [1]}", "must be [lo, hi]: two numbers with lo <= hi"},
        {"context.x", "{'between': [1, 2, 3]}", "must be [lo, hi]: two numbers with lo <= hi"},
        {"context.x", "{'between': ['a', 'b']}", "must be [lo, hi]: two numbers with lo <= hi"},
        {"context.x", "{'between': 1}", "must be [lo, hi]: two numbers with lo <= hi"},
        {"context.x", "{'in': []}", "must be a non-empty array of strings, numbers or booleans"},
        {"context.x", "{'not_in': 'FR'}",
         "must be a non-empty array of strings, numbers or booleans"},
        {"item.id", "{'in': []}", "must be a non-empty array of strings"},
        {"item.age_days", "{'not_in': {}}", "must be a non-empty array of numbers"},
        {"context.x", "{'exists': 1}", "must be true or false"},
        {"context.x", "{'exists': 'true'}", "must be true or false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char opname[16];
        sscanf(bad[i].op, "{'%15[a-z_]'", opname);
        snprintf(json, sizeof json, "{'rules': [{'name': 'a', 'filter': {\n '%s':\n %s}}]}",
                 bad[i].field, bad[i].op);
        snprintf(msg, sizeof msg, "rules.json:3: rules[0].filter['%s'].%s: %s", bad[i].field,
                 opname, bad[i].why);
        expect_error(json, msg);
    }
    /* a bad element of an in list: its own path and line */
    expect_error("{'rules': [{'name': 'a', 'filter': {'context.region': {'in': [\n 'FR',\n"
                 " 'BE',\n ['DE']]}}}]}",
                 "rules.json:4: rules[0].filter['context.region'].in[2]: must be a string, a "
                 "number or a boolean");
    expect_error("{'rules': [{'name': 'a', 'filter': {'user.id': {'not_in': [\n 'u1',\n 2]}}}]}",
                 "rules.json:3: rules[0].filter['user.id'].not_in[1]: must be a string");
    /* nesting: 16 is the limit */
    size_t n = (size_t)snprintf(json, sizeof json, "{'rules': [{'name': 'a', 'filter':\n");
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "{'not': ");
    n += (size_t)snprintf(json + n, sizeof json - n, "{'context.x': {'exists': true}}");
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "}");
    snprintf(json + n, sizeof json - n, "}]}");
    snprintf(msg, sizeof msg, "rules.json:2: rules[0].filter%s: conditions are nested more than "
             "16 deep", ".not.not.not.not.not.not.not.not.not.not.not.not.not.not.not.not");
    expect_error(json, msg);
    /* keys that need escaping in the path still find their line */
    expect_error("{'rules': [{'name': 'a', 'filter': {'all': [{'context.x': {'eq': 1}},\n"
                 " {'context.we\\'ird[0]':\n {'eq': {}}}]}}]}",
                 "rules.json:3: rules[0].filter.all[1]['context.we\\'ird[0]'].eq: must be a "
                 "string, a number or a boolean");
}

/* ---- loading ------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *sq)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char *text = dq(sq);
    fputs(text, f);
    free(text);
    fclose(f);
}

static void test_load(void **state)
{
    struct rec_rules *r = (void *)1;
    char err[1024];
    const char *missing = "/nonexistent-recd-dir/rules.json";
    assert_int_equal(rec_rules_load(missing, &r, err, sizeof err), REC_ENOTFOUND);
    assert_null(r);
    assert_string_equal(err, "/nonexistent-recd-dir/rules.json: cannot open: No such file or "
                             "directory");
    assert_int_equal(rec_rules_load("/tmp", &r, err, sizeof err), REC_EIO);
    assert_true(strncmp(err, "/tmp: cannot read: ", 19) == 0);

    char path[] = "/tmp/recd-test-rules-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, EXAMPLE);
    assert_int_equal(rec_rules_load(path, &r, err, sizeof err), 0);
    assert_int_equal(rec_rules_count(r), 7);
    assert_string_equal(rec_rules_name(r, 5), "promo");
    rec_rules_free(r);

    /* errors name the file as the source */
    write_file(path, "{'rules': [\n {'name': 'a',\n  'boost': 2,\n  'when': {'context.x':"
                     " {'between': [2, 1]}}}]}");
    assert_int_equal(rec_rules_load(path, &r, err, sizeof err), REC_EINVAL);
    assert_null(r);
    char want[1024];
    snprintf(want, sizeof want, "%s:4: rules[0].when[\"context.x\"].between: must be [lo, hi]: "
             "two numbers with lo <= hi", path);
    assert_string_equal(err, want);
    write_file(path, "{'rules': [\n\n}");
    assert_int_equal(rec_rules_load(path, &r, err, sizeof err), REC_EINVAL);
    snprintf(want, sizeof want, "%s:3:1: ", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonpos_nested),
        cmocka_unit_test(test_jsonpos_keys),
        cmocka_unit_test(test_jsonpos_build),
        cmocka_unit_test(test_jsonpos_roundtrip),
        cmocka_unit_test(test_example_rules),
        cmocka_unit_test(test_nested_conditions),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_disabled_rules),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_many_rules_mask),
        cmocka_unit_test(test_item_extra),
        cmocka_unit_test(test_errors_file),
        cmocka_unit_test(test_errors_rule),
        cmocka_unit_test(test_errors_pin_block),
        cmocka_unit_test(test_errors_conditions),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
