/* test_knn.c: the packed kNN rows of src/model/knn.c. Their vector scan must find a neighbour at
 * every position of rows of every length (blocks of 10 and 5 entries, ragged ends, ids whose
 * 16-bit halves repeat in other entries' ids and counts), and the 16-bit counts stop at 0 and
 * at REC_KNN_CNT_MAX. test_incremental.c covers the Space-Saving rule itself. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/knn.h"

static uint16_t count_of(const struct rec_knn *k, int32_t i, int32_t j, int *found)
{
    const struct rec_knn_entry *e;
    int32_t n;
    rec_knn_row_view(k, i, &e, &n);
    *found = 0;
    for (int32_t p = 0; p < n; p++)
        if (e[p].nbr == j) {
            *found = 1;
            return e[p].cnt;
        }
    return 0;
}

/* Rows of 1..60 neighbours whose ids share halves with each other and with the counts: every
 * neighbour is found (its count grows, the row does not), and an absent id never matches. */
static void test_find_every_position(void **state)
{
    for (int32_t len = 1; len <= 60; len++) {
        struct rec_knn k;
        rec_knn_init(&k, 0.0f, 64);
        /* ids 0x00010000 + p and 0x0000 0001-ish lookalikes: low half p, high half 1; counts p */
        for (int32_t p = 0; p < len; p++)
            for (int32_t c = 0; c <= p; c++)
                assert_int_equal(rec_knn_add_pair(&k, 0, 0x10000 + p, 1), 0);
        assert_int_equal(rec_knn_degree(&k, 0), len);
        for (int32_t p = 0; p < len; p++) {
            assert_int_equal(rec_knn_add_pair(&k, 0, 0x10000 + p, 1), 0);
            int found;
            assert_int_equal(count_of(&k, 0, 0x10000 + p, &found), p + 2);
            assert_true(found);
        }
        assert_int_equal(rec_knn_degree(&k, 0), len);
        /* the halves of these ids occur in the row, but not together at an entry's start: in
         * words (id low, id high, count) the row holds (3, 1, 5), (4, 1, 6); 0x50001 and
         * 0x40005 straddle them */
        const int32_t absent[] = {1, 0x10000 + len, 0x10000 + len + 7, 0x50001, 0x40005, 0};
        for (size_t a = 0; a < sizeof absent / sizeof absent[0]; a++) {
            if (absent[a] >= 0x10000 && absent[a] < 0x10000 + len)
                continue;
            int found;
            count_of(&k, 0, absent[a], &found);
            assert_false(found);
            assert_true(rec_knn_sim(&k, 0, absent[a]) == 0.0f);
        }
        rec_knn_free(&k);
    }
}

/* Counts are integers that stop at 0 and at REC_KNN_CNT_MAX; similarity follows them. */
static void test_counts_clamp(void **state)
{
    struct rec_knn k;
    rec_knn_init(&k, 0.0f, 8);
    assert_int_equal(rec_knn_add_item(&k, 0, 1), 0);
    assert_int_equal(rec_knn_add_item(&k, 1, 1), 0);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, 3), 0);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, -5), 0); /* below zero: 0, and skipped */
    int found;
    assert_int_equal(count_of(&k, 0, 1, &found), 0);
    assert_true(found);
    assert_true(rec_knn_sim(&k, 0, 1) == 0.0f);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, 1), 0); /* back from 0, not from -2 */
    assert_int_equal(count_of(&k, 1, 0, &found), 1);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, 70000), 0);
    assert_int_equal(count_of(&k, 0, 1, &found), REC_KNN_CNT_MAX);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, 1), 0);
    assert_int_equal(count_of(&k, 1, 0, &found), REC_KNN_CNT_MAX);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, -1), 0);
    assert_int_equal(count_of(&k, 0, 1, &found), REC_KNN_CNT_MAX - 1);
    assert_true(fabsf(rec_knn_sim(&k, 0, 1) - (float)(REC_KNN_CNT_MAX - 1)) < 1e-2f);
    assert_int_equal(rec_knn_add_pair(&k, 1, 1, 1), REC_EINVAL);
    assert_int_equal(rec_knn_add_pair(&k, -1, 1, 1), REC_EINVAL);
    rec_knn_free(&k);
}

/* A full row replaces the first of its smallest counts, wherever it is (every block position,
 * zero counts included), and the newcomer starts from that count plus its own. */
static void test_full_row_replaces_first_smallest(void **state)
{
    enum { MAX = 37 };
    for (int32_t at = 0; at < MAX; at++) {
        struct rec_knn k;
        rec_knn_init(&k, 0.0f, MAX);
        for (int32_t p = 0; p < MAX; p++) /* counts 5, except 2 at `at` and at the last entry */
            assert_int_equal(rec_knn_add_pair(&k, 0, 100 + p, p == at || p == MAX - 1 ? 2 : 5), 0);
        assert_int_equal(rec_knn_add_pair(&k, 0, 999, 1), 0);
        const struct rec_knn_entry *e;
        int32_t n;
        rec_knn_row_view(&k, 0, &e, &n);
        assert_int_equal(n, MAX);
        assert_int_equal(e[at].nbr, 999);
        assert_int_equal(e[at].cnt, 3);
        if (at != MAX - 1) {
            assert_int_equal(e[MAX - 1].nbr, 100 + MAX - 1); /* the later equal one stays */
            /* a count taken back to 0 is the next one replaced */
            assert_int_equal(rec_knn_add_pair(&k, 0, 100 + (at + 1) % (MAX - 1), -5), 0);
            assert_int_equal(rec_knn_add_pair(&k, 0, 998, 1), 0);
            rec_knn_row_view(&k, 0, &e, &n);
            int32_t q = (at + 1) % (MAX - 1);
            assert_int_equal(e[q].nbr, 998);
            assert_int_equal(e[q].cnt, 1);
        }
        rec_knn_free(&k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_every_position),
        cmocka_unit_test(test_counts_clamp),
        cmocka_unit_test(test_full_row_replaces_first_smallest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
