/* test_coldstart.c: cold start for users (attrs model on planted attribute groups) and for
 * items (factors from content neighbours land near their planted cluster). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/attrs.h"
#include "model/coldstart.h"
#include "model/content.h"
#include "model/csr.h"

/* ---- attrs ---------------------------------------------------------------------------------- */

/* 200 users: 50 "F" have each of items 0..9 with probability 0.7, 150 "M" each of items
 * 10..19 (so popularity favours 10..19); everyone has item 20. Ages: even users 20, odd users
 * 40; odd users also have item 21 + u % 4 (22 or 24). "score" numbers 1..200 split in
 * quartiles: users with score >= 151 (the top quartile) all have item 25. Zip codes are unique
 * (below min_users). */
enum { A_USERS = 200, A_ITEMS = 30 };
#define A_PARAMS "shrink=30,weight=0.7,min_users=5"

static int is_f(int32_t u) { return u < 50; }

static void attrs_data(struct rec_csr *ui, char docs[A_USERS][160])
{
    struct rec_triplet t[A_USERS * 14];
    int64_t n = 0;
    uint32_t s = 777;
    for (int32_t u = 0; u < A_USERS; u++) {
        int32_t base = is_f(u) ? 0 : 10;
        for (int32_t i = 0; i < 10; i++) {
            s = s * 1664525u + 1013904223u;
            if ((s >> 8) % 100 < 70)
                t[n++] = (struct rec_triplet){u, base + i, 1.0f};
        }
        t[n++] = (struct rec_triplet){u, 20, 1.0f};
        if (u % 2)
            t[n++] = (struct rec_triplet){u, 21 + u % 4, 1.0f};
        if (u >= 150)
            t[n++] = (struct rec_triplet){u, 25, 1.0f};
        snprintf(docs[u], 160,
                 "{\"attributes\":{\"Gender\":\"%s\",\"age\":%d,\"score\":%d,\"zip\":\"z%d\"}}",
                 is_f(u) ? "F" : "m", u % 2 ? 40 : 20, u + 1, u);
    }
    assert_int_equal(rec_csr_from_triplets(ui, A_USERS, A_ITEMS, t, n), REC_OK);
}

static struct rec_model *fit_attrs(const char *params, const char *const *docs,
                                   const struct rec_csr *ui)
{
    struct rec_train_input in = {.ui = ui, .user_docs = docs};
    double p[REC_MODEL_MAX_PARAMS];
    char err[128];
    rec_model_params_default(&rec_model_attrs, p);
    assert_int_equal(rec_model_params_parse(&rec_model_attrs, params, p, err, sizeof err), 0);
    struct rec_model *m = NULL;
    assert_int_equal(rec_model_attrs.fit(&in, p, &m, err, sizeof err), REC_OK);
    return m;
}

/* 1 when every item of [lo, lo + 10) scores above every item of [hi, hi + 10). */
static int block_above(const float *s, int32_t lo, int32_t hi)
{
    for (int32_t i = lo; i < lo + 10; i++)
        for (int32_t j = hi; j < hi + 10; j++)
            if (!(s[i] > s[j]))
                return 0;
    return 1;
}

static float score_doc(const struct rec_model *m, const char *doc, int32_t item)
{
    float s[A_ITEMS];
    struct rec_user_query q = {.user = -1, .user_doc = doc};
    assert_int_equal(rec_model_attrs.score(m, &q, s), REC_OK);
    return s[item];
}

static void test_attrs_prefers_matching_users(void **state)
{
    struct rec_csr ui;
    static char buf[A_USERS][160];
    const char *docs[A_USERS];
    attrs_data(&ui, buf);
    for (int u = 0; u < A_USERS; u++)
        docs[u] = buf[u];
    struct rec_model *m = fit_attrs(A_PARAMS, docs, &ui);
    float pop[A_ITEMS], s[A_ITEMS];

    /* no attributes: popularity, which prefers the majority's items */
    struct rec_user_query q = {.user = -1};
    assert_int_equal(rec_model_attrs.score(m, &q, pop), REC_OK);
    assert_true(block_above(pop, 10, 0));
    for (int32_t i = 0; i < A_ITEMS; i++)
        if (i != 20)
            assert_true(pop[20] > pop[i]);

    /* a new "F" user (case differs from the data) gets the F items */
    q.user_doc = "{\"attributes\":{\"gender\":\"f\"}}";
    assert_int_equal(rec_model_attrs.score(m, &q, s), REC_OK);
    assert_true(block_above(s, 0, 10));
    q.user_doc = "{\"attributes\":{\"gender\":\"M\"}}";
    assert_int_equal(rec_model_attrs.score(m, &q, s), REC_OK);
    assert_true(block_above(s, 10, 0));

    /* age 36 falls in 35-44 with the age-40 users, who have items 21..24 */
    const char *old = "{\"attributes\":{\"age\":36}}", *young = "{\"attributes\":{\"age\":22}}";
    assert_true(score_doc(m, old, 22) > score_doc(m, young, 22));
    assert_true(score_doc(m, old, 22) > score_doc(m, old, 26)); /* 26: nobody has it */
    /* 17 is another bucket no training user is in: popularity again */
    assert_float_equal(score_doc(m, "{\"attributes\":{\"age\":17}}", 22), pop[22], 1e-6);

    /* quartiles of "score": 175 is in the top one, where item 25 lives; 5 is not */
    assert_true(score_doc(m, "{\"attributes\":{\"score\":175}}", 25) >
                score_doc(m, "{\"attributes\":{\"score\":5}}", 25));
    assert_true(score_doc(m, "{\"attributes\":{\"score\":175}}", 25) > pop[25]);

    /* unique zip codes are below min_users = 5: ignored; unknown keys and junk too */
    assert_float_equal(score_doc(m, "{\"attributes\":{\"zip\":\"z3\"}}", 3), pop[3], 1e-6);
    assert_float_equal(score_doc(m, "{\"attributes\":{\"hobby\":\"chess\"}}", 3), pop[3], 1e-6);
    assert_float_equal(score_doc(m, "not json", 3), pop[3], 1e-6);

    /* a fitted user without a query document uses their own fitted attributes */
    float own[A_ITEMS];
    q = (struct rec_user_query){.user = 3};
    assert_int_equal(rec_model_attrs.score(m, &q, own), REC_OK);
    q = (struct rec_user_query){.user = -1, .user_doc = docs[3]};
    assert_int_equal(rec_model_attrs.score(m, &q, s), REC_OK);
    for (int32_t i = 0; i < A_ITEMS; i++)
        assert_float_equal(own[i], s[i], 1e-5);
    rec_model_attrs.destroy(m);

    /* min_users = 1 lets the zip through: user 3's zip-mates (only user 3) pull item 3's peers */
    m = fit_attrs(A_PARAMS ",min_users=1", docs, &ui);
    int32_t liked = -1;
    for (int64_t e = ui.indptr[3]; e < ui.indptr[4]; e++)
        if (ui.indices[e] < 10)
            liked = ui.indices[e];
    assert_true(liked >= 0);
    q = (struct rec_user_query){.user = -1};
    assert_int_equal(rec_model_attrs.score(m, &q, pop), REC_OK);
    assert_true(score_doc(m, "{\"attributes\":{\"zip\":\"z3\"}}", liked) > pop[liked]);
    rec_model_attrs.destroy(m);

    /* weight 0: popularity whatever the attributes */
    m = fit_attrs(A_PARAMS ",weight=0", docs, &ui);
    assert_int_equal(rec_model_attrs.score(m, &(struct rec_user_query){.user = -1}, pop), REC_OK);
    assert_float_equal(score_doc(m, "{\"attributes\":{\"gender\":\"F\"}}", 2), pop[2], 1e-6);
    rec_model_attrs.destroy(m);
    rec_csr_free(&ui);
}

/* ---- cold-start item factors ---------------------------------------------------------------- */

/* 30 items in 3 genres (10 each) with 2-d factors planted per genre: sci-fi (1, 0),
 * romance (0, 1), western (-1, -1)/sqrt2, plus a little noise; item 5 (sci-fi) has junk factors
 * and no history. Titles add a shared word per pair of items so similarities differ. */
enum { C_ITEMS = 30, K = 2 };
static const char *const GENRE[3] = {"Sci-Fi", "Romance", "Western"};
static const float CENTER[3][K] = {{1.0f, 0.0f}, {0.0f, 1.0f}, {-0.70710678f, -0.70710678f}};

struct cold {
    struct rec_model *content;
    float y[C_ITEMS * K];
    uint8_t has[C_ITEMS];
    char docs[C_ITEMS][128];
};

static void cold_setup(struct cold *c)
{
    const char *docs[C_ITEMS];
    uint32_t s = 99;
    for (int32_t i = 0; i < C_ITEMS; i++) {
        int g = i / 10;
        snprintf(c->docs[i], sizeof c->docs[i], "{\"categories\":[\"%s\"],\"title\":\"w%d w%d\"}",
                 GENRE[g], i / 2, 100 + i);
        docs[i] = c->docs[i];
        for (int f = 0; f < K; f++) {
            s = s * 1664525u + 1013904223u;
            c->y[i * K + f] = CENTER[g][f] + ((float)((s >> 8) % 1000) / 1000.0f - 0.5f) * 0.1f;
        }
        c->has[i] = 1;
    }
    c->y[5 * K] = -9.0f;
    c->y[5 * K + 1] = 9.0f;
    c->has[5] = 0;
    struct rec_csr ui;
    assert_int_equal(rec_csr_from_triplets(&ui, 1, C_ITEMS, NULL, 0), REC_OK);
    struct rec_train_input in = {.ui = &ui, .item_docs = docs};
    double p[REC_MODEL_MAX_PARAMS];
    char err[128];
    rec_model_params_default(&rec_model_content, p);
    assert_int_equal(rec_model_content.fit(&in, p, &c->content, err, sizeof err), REC_OK);
    rec_csr_free(&ui);
}

static float dist(const float *a, const float *b)
{
    return sqrtf((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]));
}

static void test_cold_item_factors(void **state)
{
    struct cold c;
    cold_setup(&c);
    float out[K];

    /* by index: item 5 has no history, its neighbours are the other sci-fi items */
    assert_int_equal(rec_coldstart_item_factors(c.content, 5, c.y, K, c.has, 5, out), REC_OK);
    assert_true(dist(out, CENTER[0]) < 0.1f);

    /* the nearest neighbour alone: item 4 shares the title word "w2" with item 5 */
    assert_int_equal(rec_coldstart_item_factors(c.content, 5, c.y, K, c.has, 1, out), REC_OK);
    assert_float_equal(out[0], c.y[4 * K], 1e-6);
    assert_float_equal(out[1], c.y[4 * K + 1], 1e-6);

    /* by document: a new item in each genre lands at that genre's centre */
    for (int g = 0; g < 3; g++) {
        char doc[96];
        snprintf(doc, sizeof doc, "{\"categories\":[\"%s\"],\"title\":\"brand new\"}", GENRE[g]);
        assert_int_equal(rec_coldstart_doc_factors(c.content, doc, c.y, K, c.has, 10, out),
                         REC_OK);
        for (int h = 0; h < 3; h++)
            if (h == g)
                assert_true(dist(out, CENTER[h]) < 0.1f);
            else
                assert_true(dist(out, CENTER[h]) > 1.0f);
    }

    /* the weights are the similarities: a romance item also titled like items 0/1 (w0) */
    const char *mixed = "{\"categories\":[\"Romance\"],\"title\":\"w0\"}";
    int32_t items[3];
    float sims[3];
    int n;
    assert_int_equal(rec_content_neighbors_of_doc(c.content, mixed, c.has, 3, items, sims, &n),
                     REC_OK);
    assert_int_equal(n, 3);
    double wx = 0, wy = 0, ws = 0;
    for (int j = 0; j < n; j++) {
        wx += sims[j] * c.y[items[j] * K];
        wy += sims[j] * c.y[items[j] * K + 1];
        ws += sims[j];
    }
    assert_int_equal(rec_coldstart_doc_factors(c.content, mixed, c.y, K, c.has, 3, out), REC_OK);
    assert_float_equal(out[0], wx / ws, 1e-5);
    assert_float_equal(out[1], wy / ws, 1e-5);

    /* nothing in common: the mean of the items with history, REC_ENOTFOUND */
    double mx = 0, my = 0;
    for (int32_t i = 0; i < C_ITEMS; i++)
        if (c.has[i]) {
            mx += c.y[i * K];
            my += c.y[i * K + 1];
        }
    assert_int_equal(rec_coldstart_doc_factors(c.content, "{\"title\":\"zzz\"}", c.y, K, c.has, 4,
                                               out), REC_ENOTFOUND);
    assert_float_equal(out[0], mx / 29, 1e-5);
    assert_float_equal(out[1], my / 29, 1e-5);

    /* items without history are never neighbours: with no sci-fi left, no sci-fi factor */
    uint8_t few[C_ITEMS];
    memcpy(few, c.has, sizeof few);
    memset(few, 0, 10);
    assert_int_equal(rec_coldstart_item_factors(c.content, 5, c.y, K, few, 5, out),
                     REC_ENOTFOUND);
    assert_true(dist(out, CENTER[0]) > 0.5f);

    /* bad arguments */
    assert_int_equal(rec_coldstart_item_factors(c.content, C_ITEMS, c.y, K, c.has, 5, out),
                     REC_EINVAL);
    assert_int_equal(rec_coldstart_item_factors(c.content, 5, c.y, K, c.has, 0, out), REC_EINVAL);
    assert_int_equal(rec_coldstart_doc_factors(c.content, "[]", c.y, K, c.has, 5, out),
                     REC_EFORMAT);
    assert_int_equal(rec_coldstart_doc_factors(NULL, "{}", c.y, K, c.has, 5, out), REC_EINVAL);
    rec_model_content.destroy(c.content);
}

/* The bulk fit's batch: every row equals the one-item function's, bit for bit, on any number
 * of threads; an item with nothing alike gets REC_ENOTFOUND and a zero row. */
static void test_cold_batch_matches_single(void **state)
{
    struct cold c;
    cold_setup(&c);
    int32_t items[C_ITEMS];
    for (int32_t i = 0; i < C_ITEMS; i++)
        items[i] = C_ITEMS - 1 - i; /* any order */
    uint8_t few[C_ITEMS];
    memcpy(few, c.has, sizeof few);
    memset(few, 0, 10); /* the sci-fi items have nothing alike with history */
    for (int threads = 1; threads <= 3; threads++) {
        for (int variant = 0; variant < 2; variant++) {
            const uint8_t *has = variant ? few : c.has;
            float out[C_ITEMS * K], one[K];
            int status[C_ITEMS];
            memset(out, 0x7f, sizeof out);
            assert_int_equal(rec_coldstart_items_factors(c.content, items, C_ITEMS, c.y, K, has,
                                                         4, threads, out, status), REC_OK);
            int found = 0;
            for (int32_t j = 0; j < C_ITEMS; j++) {
                int rc = rec_coldstart_item_factors(c.content, items[j], c.y, K, has, 4, one);
                assert_int_equal(status[j], rc);
                if (rc == REC_OK) {
                    found++;
                    assert_memory_equal(out + j * K, one, sizeof one);
                } else {
                    assert_true(out[j * K] == 0.0f && out[j * K + 1] == 0.0f);
                }
            }
            assert_int_equal(found, variant ? C_ITEMS - 10 : C_ITEMS);
        }
    }
    int status[1];
    float out[K];
    int32_t bad = C_ITEMS;
    assert_int_equal(rec_coldstart_items_factors(c.content, &bad, 1, c.y, K, c.has, 4, 1, out,
                                                 status), REC_OK);
    assert_int_equal(status[0], REC_EINVAL);
    assert_int_equal(rec_coldstart_items_factors(c.content, &bad, 1, c.y, K, c.has, 0, 1, out,
                                                 status), REC_EINVAL);
    assert_int_equal(rec_coldstart_items_factors(c.content, items, 0, c.y, K, c.has, 4, 1, out,
                                                 NULL), REC_OK);
    rec_model_content.destroy(c.content);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attrs_prefers_matching_users),
        cmocka_unit_test(test_cold_item_factors),
        cmocka_unit_test(test_cold_batch_matches_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
