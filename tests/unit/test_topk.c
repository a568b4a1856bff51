/* The top-k heap (src/serve/topk.c): against a full sort of the same stream, with ties (which
 * keep the lower index), fewer entries than k, k of 0, and a stream offered in either order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "serve/topk.h"

#define N 2000

static int reference_order(const void *a, const void *b)
{
    const struct rec_topk_entry *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Pushes stream[0..n) forwards or backwards into a top-k of buffer cap (k: a heap) and
 * compares with the sort. */
static void check_cap(const struct rec_topk_entry *stream, int n, int k, int cap, int backwards)
{
    struct rec_topk_entry *want = malloc((size_t)n * sizeof *want);
    struct rec_topk_entry *buf = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *buf);
    assert_non_null(want);
    assert_non_null(buf);
    for (int i = 0; i < n; i++)
        want[i] = stream[i];
    qsort(want, (size_t)n, sizeof *want, reference_order);
    struct rec_topk t;
    rec_topk_init_buffered(&t, buf, k, cap);
    for (int i = 0; i < n; i++) {
        const struct rec_topk_entry *e = &stream[backwards ? n - 1 - i : i];
        rec_topk_push(&t, e->score, e->idx);
    }
    int got = rec_topk_sort(&t);
    assert_int_equal(got, k < n ? k : n);
    for (int r = 0; r < got; r++) {
        assert_true(buf[r].score == want[r].score);
        assert_int_equal(buf[r].idx, want[r].idx);
    }
    free(want);
    free(buf);
}

static void check(const struct rec_topk_entry *stream, int n, int k, int backwards)
{
    check_cap(stream, n, k, k, backwards);         /* heap */
    check_cap(stream, n, k, 2 * k, backwards);     /* buffered, compacted often */
    check_cap(stream, n, k, 3 * k + 1, backwards);
    check_cap(stream, n, k, 2 * k - 1, backwards); /* too small for buffered: a heap */
}

static void test_matches_sort(void **state)
{
    (void)state;
    static struct rec_topk_entry stream[N];
    srand(7);
    for (int i = 0; i < N; i++) /* few distinct scores: many ties, decided by the index */
        stream[i] = (struct rec_topk_entry){(float)(rand() % 50) * 0.25f - 3.0f, i};
    static const int ks[] = {0, 1, 2, 7, 100, N - 1, N, N + 5};
    for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
        check(stream, N, ks[j], 0);
        check(stream, N, ks[j], 1);
    }
    for (int i = 0; i < N; i++) /* distinct scores */
        stream[i].score = (float)rand() / (float)RAND_MAX;
    check(stream, N, 10, 0);
    check(stream, N, 10, 1);
    check(stream, 5, 10, 0);
    for (int i = 0; i < N; i++) /* all equal: the order is the index's */
        stream[i].score = 2.0f;
    check(stream, N, 10, 0);
    check(stream, N, 10, 1);
    for (int i = 0; i < N; i++) /* ascending: every offer beats the floor */
        stream[i].score = (float)i;
    check(stream, N, 10, 0);
    check(stream, N, 10, 1);
}

static void test_floor(void **state)
{
    (void)state;
    struct rec_topk_entry buf[8];
    struct rec_topk t;
    rec_topk_init(&t, buf, 2);
    assert_true(rec_topk_floor(&t) == -INFINITY);
    rec_topk_push(&t, 1.0f, 0);
    rec_topk_push(&t, 3.0f, 1);
    assert_true(rec_topk_floor(&t) == 1.0f);
    rec_topk_init_buffered(&t, buf, 2, 4);
    for (int i = 0; i < 5; i++)
        rec_topk_push(&t, (float)i, i);
    assert_true(rec_topk_floor(&t) >= 2.0f); /* compacted once: the floor rose */
    rec_topk_push(&t, NAN, 9);               /* never enters */
    assert_int_equal(rec_topk_sort(&t), 2);
    assert_int_equal(buf[0].idx, 4);
    assert_int_equal(buf[1].idx, 3);
}

static void test_equal_scores_keep_lower_index(void **state)
{
    (void)state;
    struct rec_topk_entry buf[3];
    struct rec_topk t;
    rec_topk_init(&t, buf, 3);
    for (int32_t i = 9; i >= 0; i--)
        rec_topk_push(&t, 1.0f, i);
    assert_int_equal(rec_topk_sort(&t), 3);
    assert_int_equal(buf[0].idx, 0);
    assert_int_equal(buf[1].idx, 1);
    assert_int_equal(buf[2].idx, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_sort),
        cmocka_unit_test(test_equal_scores_keep_lower_index),
        cmocka_unit_test(test_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
