/* test_beyond.c: beyond-accuracy metrics on tiny hand-computed cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eval/beyond.h"
#include "model/csr.h"

#define EPS 1e-12

static void assert_close(double got, double want, const char *what)
{
    if (fabs(got - want) > EPS) {
        print_error("%s: got %.15f, want %.15f\n", what, got, want);
        fail();
    }
}

/* Items' category sets as a CSR, built from (item, category) pairs. */
static void make_cats(struct rec_csr *m, int32_t n_items, int32_t n_cats, const int32_t (*pairs)[2],
                      int n)
{
    struct rec_triplet t[32];
    assert_true(n <= 32);
    for (int i = 0; i < n; i++)
        t[i] = (struct rec_triplet){pairs[i][0], pairs[i][1], 1.0f};
    assert_int_equal(rec_csr_from_triplets(m, n_items, n_cats, t, n), 0);
}

/* Catalog of 5 items, 4 training users, counts {4, 2, 1, 1, 0}; head = ceil(20% of 5) = item 0.
 * Categories: 0 {0,1}, 1 {1}, 2 {2}, 3 {}, 4 {1,2}. Lists: A = [0 1 4], B = [1 2], C = [].
 *   coverage  {0,1,2,4} / 5 = 0.8
 *   diversity A: d(0,1) = 1 - 1/2, d(0,4) = 1 - 1/3, d(1,4) = 1 - 1/2 -> (1/2 + 2/3 + 1/2) / 3
 *             = 5/9; B: d(1,2) = 1; mean (5/9 + 1) / 2 = 7/9
 *   novelty   self-info: 0 -> log2(4/4) = 0, 1 -> 1, 2 -> 2, 4 -> count 0 taken as 1 -> 2;
 *             A (0 + 1 + 2) / 3 = 1, B (1 + 2) / 2 = 1.5 -> 1.25
 *   ARP       A (4 + 2 + 0) / 3 = 2, B (2 + 1) / 2 = 1.5 -> 1.75
 *   head      A 1/3, B 0 -> 1/6
 *   Gini      counts {1, 2, 1, 0, 1} sorted 0 1 1 1 2, sum 5:
 *             (-4*0 - 2*1 + 0*1 + 2*1 + 4*2) / (5 * 5) = 8 / 25 = 0.32 */
static void test_hand_case(void **state)
{
    const int64_t count[5] = {4, 2, 1, 1, 0};
    const int32_t pairs[][2] = {{0, 0}, {0, 1}, {1, 1}, {2, 2}, {4, 1}, {4, 2}};
    struct rec_csr cats;
    make_cats(&cats, 5, 3, pairs, 6);
    struct rec_beyond *b = NULL;
    assert_int_equal(rec_beyond_create(5, count, 4, &cats, &b), 0);
    const int32_t la[] = {0, 1, 4}, lb[] = {1, 2};
    assert_int_equal(rec_beyond_add(b, la, 3), 0);
    assert_int_equal(rec_beyond_add(b, lb, 2), 0);
    assert_int_equal(rec_beyond_add(b, NULL, 0), 0);
    struct rec_beyond_result r;
    assert_int_equal(rec_beyond_finish(b, &r), 0);
    assert_close(r.coverage, 0.8, "coverage");
    assert_close(r.diversity, 7.0 / 9.0, "diversity");
    assert_close(r.novelty, 1.25, "novelty");
    assert_close(r.arp, 1.75, "arp");
    assert_close(r.head_share, 1.0 / 6.0, "head share");
    assert_close(r.gini, 0.32, "gini");
    assert_int_equal(r.n_lists, 2);
    assert_int_equal(r.n_recs, 5);
    assert_int_equal(r.n_diversity_lists, 2);

    /* finish leaves the sums alone: a third list [3 3] (uncategorised twice: distance 0; item 3
     * has count 1 -> self-info 2, not head) moves every mean. Lists: A, B, [3 3]:
     *   coverage 1; diversity (5/9 + 1 + 0) / 3 = 14/27; novelty (1 + 1.5 + 2) / 3 = 1.5;
     *   ARP (2 + 1.5 + 1) / 3 = 1.5; head (1/3) / 3 = 1/9;
     *   Gini counts {1, 2, 1, 2, 1} sorted 1 1 1 2 2, sum 7: (-4 - 2 + 0 + 4 + 8) / 35 = 6/35 */
    const int32_t lc[] = {3, 3};
    assert_int_equal(rec_beyond_add(b, lc, 2), 0);
    assert_int_equal(rec_beyond_finish(b, &r), 0);
    assert_close(r.coverage, 1.0, "coverage 2");
    assert_close(r.diversity, 14.0 / 27.0, "diversity 2");
    assert_close(r.novelty, 1.5, "novelty 2");
    assert_close(r.arp, 1.5, "arp 2");
    assert_close(r.head_share, 1.0 / 9.0, "head share 2");
    assert_close(r.gini, 6.0 / 35.0, "gini 2");
    rec_beyond_destroy(b);
    rec_csr_free(&cats);
}

/* Gini extremes: every recommendation on one item of n gives (n - 1) / n; equal counts give 0.
 * Without categories diversity is 0 and no list enters it. */
static void test_gini_extremes_and_no_categories(void **state)
{
    int64_t count[4] = {1, 1, 1, 1};
    struct rec_beyond *b = NULL;
    assert_int_equal(rec_beyond_create(4, count, 10, NULL, &b), 0);
    const int32_t one[] = {2};
    for (int i = 0; i < 7; i++)
        assert_int_equal(rec_beyond_add(b, one, 1), 0);
    struct rec_beyond_result r;
    assert_int_equal(rec_beyond_finish(b, &r), 0);
    assert_close(r.gini, 0.75, "gini concentrated");
    assert_close(r.coverage, 0.25, "coverage concentrated");
    assert_close(r.diversity, 0.0, "diversity without categories");
    assert_int_equal(r.n_diversity_lists, 0);
    /* novelty -log2(1/10) */
    assert_close(r.novelty, log2(10.0), "novelty");
    rec_beyond_destroy(b);

    assert_int_equal(rec_beyond_create(4, count, 10, NULL, &b), 0);
    const int32_t all[] = {3, 1, 0, 2};
    assert_int_equal(rec_beyond_add(b, all, 4), 0);
    assert_int_equal(rec_beyond_add(b, all, 4), 0);
    assert_int_equal(rec_beyond_finish(b, &r), 0);
    assert_close(r.gini, 0.0, "gini uniform");
    assert_close(r.coverage, 1.0, "coverage uniform");
    rec_beyond_destroy(b);

    /* Nothing added: all zero. */
    assert_int_equal(rec_beyond_create(4, count, 10, NULL, &b), 0);
    assert_int_equal(rec_beyond_finish(b, &r), 0);
    assert_close(r.gini + r.coverage + r.novelty + r.arp + r.head_share, 0.0, "empty");
    assert_int_equal(r.n_lists, 0);
    rec_beyond_destroy(b);
}

/* Head = ceil(20% of n) items by count, ties by lower index: with 15 items that is 3 items
 * (0.2 * 15 in doubles is 3.0000000000000004, so a floating ceil would take 4). Counts put
 * items 7, 2 and 9 on top (2 and 9 tie with 11; the lower indexes win). */
static void test_head_items(void **state)
{
    int64_t count[15] = {0};
    count[7] = 50;
    count[2] = count[9] = count[11] = 20;
    count[4] = 5;
    struct rec_beyond_result r;
    for (int32_t i = 0; i < 15; i++) {
        struct rec_beyond *one = NULL;
        assert_int_equal(rec_beyond_create(15, count, 60, NULL, &one), 0);
        assert_int_equal(rec_beyond_add(one, &i, 1), 0);
        assert_int_equal(rec_beyond_finish(one, &r), 0);
        int want = i == 7 || i == 2 || i == 9;
        if (r.head_share != (double)want)
            fail_msg("item %d: head share %g, want %d", i, r.head_share, want);
        assert_close(r.arp, (double)count[i], "arp of one item");
        rec_beyond_destroy(one);
    }
}

/* Item counts from a training matrix are column counts. */
static void test_item_counts(void **state)
{
    const struct rec_triplet t[] = {{0, 1, 1}, {0, 3, 2}, {1, 1, 1}, {2, 0, 5}, {2, 1, 1}};
    struct rec_csr ui;
    assert_int_equal(rec_csr_from_triplets(&ui, 3, 5, t, 5), 0);
    int64_t c[5];
    rec_beyond_item_counts(&ui, c);
    const int64_t want[5] = {1, 3, 0, 1, 0};
    assert_memory_equal(c, want, sizeof want);
    rec_csr_free(&ui);
}

static void test_bad_arguments(void **state)
{
    int64_t count[3] = {1, 2, 3}, neg[3] = {1, -1, 0};
    struct rec_beyond *b = NULL;
    assert_int_equal(rec_beyond_create(0, count, 5, NULL, &b), REC_EINVAL);
    assert_int_equal(rec_beyond_create(3, NULL, 5, NULL, &b), REC_EINVAL);
    assert_int_equal(rec_beyond_create(3, count, 0, NULL, &b), REC_EINVAL);
    assert_int_equal(rec_beyond_create(3, neg, 5, NULL, &b), REC_EINVAL);
    assert_int_equal(rec_beyond_create(3, count, 5, NULL, NULL), REC_EINVAL);
    assert_null(b);
    assert_int_equal(rec_beyond_create(3, count, 5, NULL, &b), 0);
    /* An out-of-range item rejects the whole list: nothing counted. */
    const int32_t bad[] = {0, 3}, neg_item[] = {-1};
    assert_int_equal(rec_beyond_add(b, bad, 2), REC_EINVAL);
    assert_int_equal(rec_beyond_add(b, neg_item, 1), REC_EINVAL);
    assert_int_equal(rec_beyond_add(b, NULL, 2), REC_EINVAL);
    struct rec_beyond_result r;
    assert_int_equal(rec_beyond_finish(b, &r), 0);
    assert_int_equal(r.n_lists, 0);
    assert_close(r.coverage, 0.0, "coverage after rejected lists");
    assert_int_equal(rec_beyond_finish(b, NULL), REC_EINVAL);
    rec_beyond_destroy(b);
    rec_beyond_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_case),
        cmocka_unit_test(test_gini_extremes_and_no_categories),
        cmocka_unit_test(test_head_items),
        cmocka_unit_test(test_item_counts),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
