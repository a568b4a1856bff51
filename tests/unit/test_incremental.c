/* The incremental models: decayed popularity, co-occurrence kNN, and the top-k heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "model/knn.h"
#include "model/popularity.h"
#include "serve/topk.h"

static void test_popularity_decay(void **state)
{
    struct rec_pop p;
    rec_pop_init(&p, 3600.0); /* one hour half-life */
    /* item 0: 4 events two hours ago; item 1: 2 events now */
    for (int k = 0; k < 4; k++)
        rec_pop_add(&p, 0, 1.0, 10000);
    rec_pop_add(&p, 1, 1.0, 10000 + 7200);
    rec_pop_add(&p, 1, 1.0, 10000 + 7200);
    /* 4 * 2^-2 = 1 < 2: the recent item ranks first */
    assert_true(rec_pop_key(&p, 1) > rec_pop_key(&p, 0));
    assert_true(fabs(rec_pop_value(&p, 0, 10000 + 7200) - 1.0) < 1e-9);
    assert_true(fabs(rec_pop_value(&p, 1, 10000 + 7200) - 2.0) < 1e-9);
    /* a late-arriving old event adds its decayed weight, not its full weight */
    rec_pop_add(&p, 1, 1.0, 10000 + 3600);
    assert_true(fabs(rec_pop_value(&p, 1, 10000 + 7200) - 2.5) < 1e-9);
    /* keys do not depend on when they are read and survive decades without underflow */
    rec_pop_add(&p, 2, 1.0, 2000000000);
    assert_true(isfinite(rec_pop_key(&p, 2)));
    assert_true(rec_pop_key(&p, 2) > rec_pop_key(&p, 1));
    assert_true(rec_pop_key(&p, 7) == -INFINITY); /* never seen */
    rec_pop_add(&p, 3, -1.0, 10000);
    assert_true(rec_pop_key(&p, 3) == -INFINITY); /* only negative feedback */
    rec_pop_free(&p);
}

struct collect {
    int n;
    int32_t j[16];
    float sim[16];
};

static void collect(void *ctx, int32_t j, float sim)
{
    struct collect *c = ctx;
    if (c->n < 16) {
        c->j[c->n] = j;
        c->sim[c->n++] = sim;
    }
}

/* A row keeps at most max_nbrs neighbours; the frequent ones survive a stream of one-off pairs
 * (Space-Saving), a new neighbour of a full row takes the smallest count plus its own, and a
 * decrement of a pair the row dropped changes nothing. */
static void test_knn_bounded_rows(void **state)
{
    struct rec_knn k;
    rec_knn_init(&k, 0.0f, 8);
    assert_int_equal(k.max_nbrs, 8);
    /* item 0: neighbours 1..3 334 times each, 1000 others once each, interleaved. Space-Saving
     * keeps every neighbour whose count exceeds the row's total / 8 = 2002 / 8 = 250. */
    for (int t = 0; t < 1000; t++) {
        rec_knn_add_pair(&k, 0, 100 + t, 1);
        if (t % 3 == 0)
            for (int j = 1; j <= 3; j++)
                rec_knn_add_pair(&k, 0, j, 1);
    }
    assert_int_equal(rec_knn_degree(&k, 0), 8);
    struct rec_knn_view v;
    rec_knn_row_view(&k, 0, &v);
    assert_int_equal(v.n, 8);
    int heavy = 0;
    for (int32_t p = 0; p < v.n; p++)
        if (rec_knn_view_nbr(&v, p) >= 1 && rec_knn_view_nbr(&v, p) <= 3) {
            heavy++;
            assert_true(rec_knn_view_cnt(&v, p) >= 334); /* possibly overestimated, never under */
        }
    assert_int_equal(heavy, 3);
    /* the other side of each pair holds it too: item 500 saw item 0 once */
    assert_true(rec_knn_degree(&k, 500) == 1);
    /* a full row: the newcomer replaces the smallest count and starts above it */
    uint32_t min_before = rec_knn_view_cnt(&v, 0);
    for (int32_t p = 1; p < v.n; p++)
        if (rec_knn_view_cnt(&v, p) < min_before)
            min_before = rec_knn_view_cnt(&v, p);
    rec_knn_add_pair(&k, 0, 5000, 1);
    rec_knn_row_view(&k, 0, &v);
    assert_int_equal(v.n, 8);
    int found = 0;
    for (int32_t p = 0; p < v.n; p++)
        if (rec_knn_view_nbr(&v, p) == 5000) {
            found = 1;
            assert_true(rec_knn_view_cnt(&v, p) == min_before + 1);
        }
    assert_true(found);
    /* a decrement for a pair no longer held: nothing changes */
    uint32_t before[8][2];
    for (int32_t p = 0; p < v.n; p++) {
        assert_true(rec_knn_view_nbr(&v, p) != 101);
        before[p][0] = (uint32_t)rec_knn_view_nbr(&v, p);
        before[p][1] = rec_knn_view_cnt(&v, p);
    }
    rec_knn_add_pair(&k, 0, 101, -1);
    rec_knn_row_view(&k, 0, &v);
    for (int32_t p = 0; p < v.n; p++) {
        assert_int_equal(rec_knn_view_nbr(&v, p), before[p][0]);
        assert_int_equal(rec_knn_view_cnt(&v, p), before[p][1]);
    }
    /* the bound is clamped, 0 is the default */
    rec_knn_free(&k);
    rec_knn_init(&k, 0.0f, 1);
    assert_int_equal(k.max_nbrs, REC_KNN_MAX_NBRS_MIN);
    rec_knn_init(&k, 0.0f, 0);
    assert_int_equal(k.max_nbrs, REC_KNN_MAX_NBRS_DEFAULT);
    rec_knn_free(&k);
}

static void test_knn_cosine(void **state)
{
    struct rec_knn k;
    rec_knn_init(&k, 0.0f, 0);
    /* items 0 and 1 seen by 4 users each, together by 2 */
    rec_knn_add_item(&k, 0, 4);
    rec_knn_add_item(&k, 1, 4);
    rec_knn_add_item(&k, 2, 1);
    rec_knn_add_pair(&k, 0, 1, 1);
    rec_knn_add_pair(&k, 1, 0, 1);
    rec_knn_add_pair(&k, 0, 2, 1);
    assert_true(fabsf(rec_knn_sim(&k, 0, 1) - 0.5f) < 1e-6f);
    assert_true(fabsf(rec_knn_sim(&k, 1, 0) - 0.5f) < 1e-6f);
    assert_true(fabsf(rec_knn_sim(&k, 0, 2) - 0.5f) < 1e-6f);
    assert_true(rec_knn_sim(&k, 1, 2) == 0.0f);
    struct collect c = {0};
    rec_knn_each(&k, 0, collect, &c);
    assert_int_equal(c.n, 2);
    /* removing a pair (a deleted user) takes its count back */
    rec_knn_add_pair(&k, 0, 2, -1);
    c.n = 0;
    rec_knn_each(&k, 0, collect, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.j[0], 1);
    /* shrinkage lowers similarity supported by few users */
    k.shrink = 10.0f;
    assert_true(rec_knn_sim(&k, 0, 1) < 0.2f);
    /* many neighbours, under the largest bound: the row grows and keeps every count */
    rec_knn_free(&k);
    rec_knn_init(&k, 0.0f, REC_KNN_MAX_NBRS_MAX);
    for (int32_t j = 10; j < 4000; j++) {
        rec_knn_add_item(&k, j, 1);
        rec_knn_add_pair(&k, 3, j, (float)(j % 7 + 1));
    }
    rec_knn_add_item(&k, 3, 1);
    assert_int_equal(rec_knn_degree(&k, 3), 3990);
    assert_true(fabsf(rec_knn_sim(&k, 3, 3999) - (float)(3999 % 7 + 1)) < 1e-4f);
    rec_knn_free(&k);
}

static void test_topk(void **state)
{
    struct rec_topk_entry buf[5];
    struct rec_topk t;
    rec_topk_init(&t, buf, 5);
    float scores[] = {0.3f, 0.9f, 0.1f, 0.5f, 0.9f, 0.7f, 0.2f, 0.8f};
    for (int i = 0; i < 8; i++)
        rec_topk_push(&t, scores[i], i);
    assert_int_equal(rec_topk_sort(&t), 5);
    int32_t want[] = {1, 4, 7, 5, 3}; /* ties keep the lower index first */
    for (int r = 0; r < 5; r++)
        assert_int_equal(buf[r].idx, want[r]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_popularity_decay),
        cmocka_unit_test(test_knn_cosine),
        cmocka_unit_test(test_knn_bounded_rows),
        cmocka_unit_test(test_topk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
