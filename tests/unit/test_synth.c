/* test_synth.c: the synthetic data generator: parameter checks, determinism, the shape of the
 * stream (counts, documents, ids, types, time order), heavy-tailed popularity, taste, speed. */
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

#include "core/clock.h"
#include "core/err.h"
#include "gen/synth.h"

/* ---- a sink that checks and summarizes the stream ---------------------------------------- */

struct summary {
    uint64_t hash;              /* FNV-1a over every record */
    uint64_t catalog_hash;      /* items and users only */
    int64_t n_items, n_users, n_events;
    int64_t max_items, max_users, n_cats; /* the params, for range checks */
    int64_t start_ts, span_s;
    int64_t last_ts;
    int out_of_order, bad;      /* counts of violations */
    int64_t type_count[REC_EVENT__COUNT];
    int64_t *item_events;       /* per item index */
    int32_t *item_cat;          /* per item index, from the documents */
    int64_t *user_cat;          /* n_users x n_cats event counts */
    int64_t abort_events;       /* event callback fails after this many; -1 never */
    int n_progress;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
    return (h ^ 0xFF) * 0x100000001B3ULL; /* field separator */
}

/* "u123" -> 123 when prefix matches and the number is in [0, max), else -1. */
static int64_t id_index(const char *id, char prefix, int64_t max)
{
    if (id[0] != prefix || id[1] < '0' || id[1] > '9' || (id[1] == '0' && id[2]))
        return -1;
    char *end;
    long long v = strtoll(id + 1, &end, 10);
    return *end == '\0' && v >= 0 && v < max ? v : -1;
}

static int s_item(void *ctx, const char *id, const char *doc)
{
    struct summary *s = ctx;
    s->hash = fnv(fnv(s->hash, id), doc);
    s->catalog_hash = fnv(fnv(s->catalog_hash, id), doc);
    s->n_items++;
    int64_t i = id_index(id, 'i', s->max_items);
    json_t *d = json_loads(doc, 0, NULL);
    json_t *cats = json_object_get(d, "categories");
    json_t *tags = json_object_get(d, "tags");
    const char *c = json_string_value(json_array_get(cats, 0));
    int64_t ci = c ? id_index(c, 'c', s->n_cats) : -1;
    if (i < 0 || !d || json_array_size(cats) != 1 || ci < 0 || json_array_size(tags) != 2 ||
        strcmp(json_string_value(json_object_get(d, "id")), id) != 0 ||
        !json_is_string(json_object_get(d, "title")) ||
        !json_is_object(json_object_get(d, "attributes")) ||
        json_integer_value(json_object_get(d, "published_at")) > s->start_ts ||
        strcmp(json_string_value(json_array_get(tags, 0)),
               json_string_value(json_array_get(tags, 1))) == 0) {
        s->bad++;
    } else {
        s->item_cat[i] = (int32_t)ci;
    }
    json_decref(d);
    return 0;
}

static int s_user(void *ctx, const char *id, const char *doc)
{
    struct summary *s = ctx;
    s->hash = fnv(fnv(s->hash, id), doc);
    s->catalog_hash = fnv(fnv(s->catalog_hash, id), doc);
    s->n_users++;
    json_t *d = json_loads(doc, 0, NULL);
    json_t *a = json_object_get(d, "attributes");
    json_int_t age = json_integer_value(json_object_get(a, "age"));
    const char *country = json_string_value(json_object_get(a, "country"));
    if (id_index(id, 'u', s->max_users) < 0 || !d ||
        strcmp(json_string_value(json_object_get(d, "id")), id) != 0 || age < 10 || age > 100 ||
        !country || strlen(country) != 2)
        s->bad++;
    json_decref(d);
    return 0;
}

static int s_event(void *ctx, const struct rec_event *ev)
{
    struct summary *s = ctx;
    if (s->abort_events >= 0 && s->n_events >= s->abort_events)
        return REC_EBUSY;
    char buf[64];
    snprintf(buf, sizeof buf, "%d|%lld|%.17g", ev->type, (long long)ev->ts, ev->value);
    s->hash = fnv(fnv(fnv(s->hash, ev->user), ev->item), buf);
    s->n_events++;
    int64_t u = id_index(ev->user, 'u', s->max_users), i = id_index(ev->item, 'i', s->max_items);
    if (u < 0 || i < 0 || ev->type < 0 || ev->type >= REC_EVENT__COUNT || ev->id ||
        ev->context || ev->ts < s->start_ts || ev->ts >= s->start_ts + s->span_s) {
        s->bad++;
        return 0;
    }
    if (ev->ts < s->last_ts)
        s->out_of_order++;
    s->last_ts = ev->ts;
    s->type_count[ev->type]++;
    s->item_events[i]++;
    if (s->user_cat && s->item_cat[i] >= 0)
        s->user_cat[u * s->n_cats + s->item_cat[i]]++;
    return 0;
}

static void s_progress(void *ctx, const char *what, uint64_t done, uint64_t total)
{
    ((struct summary *)ctx)->n_progress++;
}

/* Runs the generator into a fresh summary (freed with summary_free); returns its code. */
static int run(const struct rec_synth_params *p, struct summary *s, int per_user)
{
    memset(s, 0, sizeof *s);
    s->hash = s->catalog_hash = 0xCBF29CE484222325ULL;
    s->max_items = p->n_items;
    s->max_users = p->n_users;
    s->n_cats = p->n_categories;
    s->start_ts = p->start_ts;
    s->span_s = p->span_s;
    s->abort_events = -1;
    s->item_events = calloc((size_t)p->n_items, sizeof *s->item_events);
    s->item_cat = malloc((size_t)p->n_items * sizeof *s->item_cat);
    assert_non_null(s->item_events);
    assert_non_null(s->item_cat);
    memset(s->item_cat, 0xFF, (size_t)p->n_items * sizeof *s->item_cat); /* -1 */
    if (per_user) {
        s->user_cat = calloc((size_t)(p->n_users * p->n_categories), sizeof *s->user_cat);
        assert_non_null(s->user_cat);
    }
    struct rec_import_sink sink = {s, s_item, s_user, s_event, s_progress};
    return rec_synth_generate(p, &sink);
}

static void summary_free(struct summary *s)
{
    free(s->item_events);
    free(s->item_cat);
    free(s->user_cat);
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Share of all events that went to the most popular 10% of items. */
static double top_decile_share(const struct summary *s, int64_t n_items)
{
    int64_t *c = malloc((size_t)n_items * sizeof *c);
    assert_non_null(c);
    memcpy(c, s->item_events, (size_t)n_items * sizeof *c);
    qsort(c, (size_t)n_items, sizeof *c, cmp_desc);
    int64_t top = 0, all = 0;
    for (int64_t i = 0; i < n_items; i++) {
        all += c[i];
        if (i < n_items / 10)
            top += c[i];
    }
    free(c);
    return (double)top / (double)all;
}

/* Mean over users with at least 50 events of the share of their events in their own 3 most
 * frequent categories. */
static double taste_share(const struct summary *s, int64_t n_users)
{
    double sum = 0;
    int n = 0;
    for (int64_t u = 0; u < n_users; u++) {
        const int64_t *row = s->user_cat + u * s->n_cats;
        int64_t c[1024], total = 0;
        for (int64_t k = 0; k < s->n_cats; k++)
            total += c[k] = row[k];
        if (total < 50)
            continue;
        qsort(c, (size_t)s->n_cats, sizeof c[0], cmp_desc);
        sum += (double)(c[0] + c[1] + c[2]) / (double)total;
        n++;
    }
    assert_true(n > 0);
    return sum / n;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_params(void **state)
{
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    assert_int_equal(p.n_users, 1000);
    assert_int_equal(p.n_items, 500);
    assert_int_equal(p.n_events, 50000);
    assert_int_equal(p.n_categories, 20);
    assert_true(p.zipf_s == 1.0);
    assert_int_equal(p.taste_dims, 8);
    assert_true(p.taste_weight == 0.7);
    assert_int_equal(p.start_ts, 1700000000);
    assert_int_equal(p.span_s, 30 * 86400);
    assert_int_equal(p.seed, 42);
    assert_null(rec_synth_check_params(&p));

    struct rec_synth_params q;
#define EXPECT_BAD(stmt, word)                                   \
    do {                                                         \
        q = p;                                                   \
        stmt;                                                    \
        const char *msg = rec_synth_check_params(&q);            \
        assert_non_null(msg);                                    \
        assert_non_null(strstr(msg, word));                      \
    } while (0)
    EXPECT_BAD(q.n_users = 0, "n_users");
    EXPECT_BAD(q.n_items = -5, "n_items");
    EXPECT_BAD(q.n_events = -1, "n_events");
    EXPECT_BAD(q.n_categories = 0, "n_categories");
    EXPECT_BAD(q.zipf_s = -0.5, "zipf_s");
    EXPECT_BAD(q.zipf_s = NAN, "zipf_s");
    EXPECT_BAD(q.taste_dims = 0, "taste_dims");
    EXPECT_BAD(q.taste_weight = 1.5, "taste_weight");
    EXPECT_BAD(q.span_s = 0, "span_s");
    EXPECT_BAD(q.start_ts = -1, "start_ts");
#undef EXPECT_BAD

    /* invalid parameters: nothing is emitted */
    struct summary s;
    q = p;
    q.n_users = 0;
    assert_int_equal(run(&q, &s, 0), REC_EINVAL);
    assert_int_equal(s.n_items + s.n_users + s.n_events, 0);
    summary_free(&s);
}

static void small_params(struct rec_synth_params *p)
{
    rec_synth_params_default(p);
    p->n_users = 300;
    p->n_items = 400;
    p->n_events = 20000;
    p->seed = 7;
}

static void test_determinism(void **state)
{
    struct rec_synth_params p;
    small_params(&p);
    struct summary a, b;
    assert_int_equal(run(&p, &a, 0), 0);
    assert_int_equal(run(&p, &b, 0), 0);
    assert_true(a.hash == b.hash);
    assert_int_equal(a.n_events, 20000);
    summary_free(&b);

    p.seed = 8;
    assert_int_equal(run(&p, &b, 0), 0);
    assert_true(a.hash != b.hash);
    assert_true(a.catalog_hash != b.catalog_hash);
    summary_free(&b);

    /* the catalog does not depend on how many events follow it */
    p.seed = 7;
    p.n_events = 10;
    assert_int_equal(run(&p, &b, 0), 0);
    assert_true(a.catalog_hash == b.catalog_hash);
    assert_true(a.hash != b.hash);
    summary_free(&b);
    summary_free(&a);

    /* Golden value: the stream of the default parameters is the same on every platform and
     * build. If the generator is changed on purpose, update this number (and say so). */
    rec_synth_params_default(&p);
    assert_int_equal(run(&p, &a, 0), 0);
    printf("    default stream checksum: 0x%016llx\n", (unsigned long long)a.hash);
    assert_true(a.hash == 0x22e62f51373445a7ULL);
    summary_free(&a);
}

static void test_stream_shape(void **state)
{
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    struct summary s;
    assert_int_equal(run(&p, &s, 0), 0);
    assert_int_equal(s.n_items, p.n_items);
    assert_int_equal(s.n_users, p.n_users);
    assert_int_equal(s.n_events, p.n_events);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.out_of_order, 0);
    assert_true(s.n_progress >= 1);
    /* the timestamps cover the span */
    assert_true(s.last_ts >= p.start_ts + p.span_s - p.span_s / 100);
    /* mostly views and clicks, some stronger signals, a few negatives; no other types */
    double n = (double)s.n_events;
    const int64_t *t = s.type_count;
    double vc = (double)(t[REC_EVENT_VIEW] + t[REC_EVENT_CLICK]) / n;
    double neg = (double)(t[REC_EVENT_DISLIKE] + t[REC_EVENT_SKIP]) / n;
    printf("    view+click %.3f, negative %.3f, purchase %.3f\n", vc, neg,
           (double)t[REC_EVENT_PURCHASE] / n);
    assert_true(vc > 0.6 && vc < 0.9);
    assert_true(neg > 0.01 && neg < 0.15);
    assert_true(t[REC_EVENT_VIEW] > t[REC_EVENT_CLICK]);
    assert_true(t[REC_EVENT_LIKE] > 0 && t[REC_EVENT_ADD_TO_CART] > 0 && t[REC_EVENT_PURCHASE] > 0);
    assert_true(t[REC_EVENT_PURCHASE] < t[REC_EVENT_ADD_TO_CART]);
    assert_int_equal(t[REC_EVENT_RATING] + t[REC_EVENT_DWELL] + t[REC_EVENT_IMPRESSION], 0);
    summary_free(&s);

    /* more events than seconds: still in order and inside the span */
    p.n_events = 5000;
    p.span_s = 10;
    assert_int_equal(run(&p, &s, 0), 0);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.out_of_order, 0);
    summary_free(&s);

    /* a single category and a single item still work */
    p.n_categories = 1;
    p.n_items = 1;
    p.n_events = 100;
    assert_int_equal(run(&p, &s, 0), 0);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.item_events[0], 100);
    summary_free(&s);
}

static void test_popularity_heavy_tail(void **state)
{
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    p.n_items = 1000;
    p.n_events = 100000;
    struct summary s;
    assert_int_equal(run(&p, &s, 0), 0);
    double share = top_decile_share(&s, p.n_items);
    summary_free(&s);

    /* control: no popularity skew and no taste gives about 10% */
    p.zipf_s = 0;
    p.taste_weight = 0;
    assert_int_equal(run(&p, &s, 0), 0);
    double flat = top_decile_share(&s, p.n_items);
    summary_free(&s);
    printf("    top 10%% of items get %.3f of events (flat control %.3f)\n", share, flat);
    assert_true(share > 0.4);
    assert_true(flat < 0.15);
}

static void test_taste(void **state)
{
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    p.n_users = 200;
    p.n_items = 2000;
    p.n_events = 100000;
    p.taste_weight = 0.8;
    struct summary s;
    assert_int_equal(run(&p, &s, 1), 0);
    double taste = taste_share(&s, p.n_users);
    summary_free(&s);

    p.taste_weight = 0; /* popularity only */
    assert_int_equal(run(&p, &s, 1), 0);
    double pop = taste_share(&s, p.n_users);
    summary_free(&s);
    printf("    events in a user's top 3 of 20 categories: %.3f with taste, %.3f without "
           "(uniform 0.15)\n", taste, pop);
    assert_true(taste > 0.6);
    assert_true(taste > pop + 0.2);
}

static void test_sink_abort(void **state)
{
    struct rec_synth_params p;
    small_params(&p);
    struct summary s;
    memset(&s, 0, sizeof s); /* run() would reset abort_events: set up by hand */
    s.max_items = p.n_items;
    s.max_users = p.n_users;
    s.n_cats = p.n_categories;
    s.start_ts = p.start_ts;
    s.span_s = p.span_s;
    s.abort_events = 123;
    s.item_events = calloc((size_t)p.n_items, sizeof *s.item_events);
    s.item_cat = calloc((size_t)p.n_items, sizeof *s.item_cat);
    struct rec_import_sink sink = {&s, s_item, s_user, s_event, NULL};
    assert_int_equal(rec_synth_generate(&p, &sink), REC_EBUSY);
    assert_int_equal(s.n_events, 123);
    summary_free(&s);
}

static int nop_item(void *ctx, const char *id, const char *doc) { return 0; }
static int nop_event(void *ctx, const struct rec_event *ev) { return 0; }

static void test_speed(void **state)
{
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    p.n_items = 100000;
    p.n_users = 10000;
    p.n_events = 1000000;
    struct rec_import_sink sink = {NULL, nop_item, nop_item, nop_event, NULL};
    double t0 = rec_mono_s();
    assert_int_equal(rec_synth_generate(&p, &sink), 0);
    double dt = rec_mono_s() - t0;
    printf("    1M events over 100K items, 10K users, null sink: %.3f s\n", dt);
    /* O(n_items) work per event would take minutes here */
    assert_true(dt < 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_stream_shape),
        cmocka_unit_test(test_popularity_heavy_tail),
        cmocka_unit_test(test_taste),
        cmocka_unit_test(test_sink_abort),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
