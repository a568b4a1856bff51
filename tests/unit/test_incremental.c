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

static void test_knn_cosine(void **state)
{
    struct rec_knn k;
    rec_knn_init(&k, 0.0f);
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
    /* many neighbours: the per-item map grows and keeps every count */
    for (int32_t j = 10; j < 5000; j++) {
        rec_knn_add_item(&k, j, 1);
        rec_knn_add_pair(&k, 3, j, (float)(j % 7 + 1));
    }
    rec_knn_add_item(&k, 3, 1);
    assert_int_equal(rec_knn_degree(&k, 3), 4990);
    k.shrink = 0;
    assert_true(fabsf(rec_knn_sim(&k, 3, 4999) - (float)(4999 % 7 + 1)) < 1e-4f);
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
        cmocka_unit_test(test_topk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
