/* test_knn.c: the kNN rows of src/model/knn.c, byte planes of 16-bit low ids, 8-bit middle ids
 * and 8-bit counts, with a top-id plane and a high-count plane added to a row only when one of
 * its ids reaches 2^24 or one of its counts 256. Their vector scan must find a neighbour at every
 * position of rows of every length (blocks of 32 and 16 ids, ragged ends, ids that share their
 * low half or all but their top byte), the smallest count must be found from both count planes,
 * counts stop at 0 and at REC_KNN_CNT_MAX, and adding a plane keeps every entry. test_incremental.c
 * covers the Space-Saving rule itself. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/knn.h"

static uint32_t count_in(const struct rec_knn_view *v, int32_t j, int *found)
{
    *found = 0;
    for (int32_t p = 0; p < v->n; p++)
        if (rec_knn_view_nbr(v, p) == j) {
            *found = 1;
            return rec_knn_view_cnt(v, p);
        }
    return 0;
}

static uint32_t count_of(const struct rec_knn *k, int32_t i, int32_t j, int *found)
{
    struct rec_knn_view v;
    rec_knn_row_view(k, i, &v);
    return count_in(&v, j, found);
}

/* Rows of 1..80 neighbours 0x10000 + p (low half p, middle byte 1), counts p + 1: every neighbour
 * is found (its count grows, the row does not), and ids that share a low half, or a low half and
 * a middle byte, with one of them never match. */
static void test_find_every_position(void **state)
{
    for (int32_t len = 1; len <= 80; len++) {
        struct rec_knn k;
        rec_knn_init(&k, 0.0f, 128);
        for (int32_t p = 0; p < len; p++)
            assert_int_equal(rec_knn_add_pair(&k, 0, 0x10000 + p, p + 1), 0);
        assert_int_equal(rec_knn_degree(&k, 0), len);
        for (int32_t p = 0; p < len; p++) {
            assert_int_equal(rec_knn_add_pair(&k, 0, 0x10000 + p, 1), 0);
            int found;
            assert_int_equal(count_of(&k, 0, 0x10000 + p, &found), p + 2);
            assert_true(found);
        }
        assert_int_equal(rec_knn_degree(&k, 0), len);
        const int32_t absent[] = {0, len - 1, 0x20000 + len - 1, 0x1010000 + len - 1,
                                  0x10000 + len, 0x10000 + len + 31, 1};
        for (size_t a = 0; a < sizeof absent / sizeof absent[0]; a++) {
            int found;
            count_of(&k, 0, absent[a], &found);
            assert_false(found);
            assert_true(rec_knn_sim(&k, 0, absent[a]) == 0.0f);
        }
        rec_knn_free(&k);
    }
}

/* Counts are integers that stop at 0 and at REC_KNN_CNT_MAX, across the step from one count
 * byte to two; similarity follows them. */
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
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, 254), 0);
    assert_int_equal(count_of(&k, 0, 1, &found), 255);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, 1), 0);
    assert_int_equal(count_of(&k, 0, 1, &found), 256);
    assert_int_equal(rec_knn_add_pair(&k, 0, 1, -2), 0);
    assert_int_equal(count_of(&k, 1, 0, &found), 254);
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
 * zero counts included), and the newcomer starts from that count plus its own; with counts of
 * one byte (5 and 2) and of two (261 and 258, whose low bytes are 5 and 2 again, and one 512:
 * the smallest low byte, 0, but not the smallest count). */
static void test_full_row_replaces_first_smallest(void **state)
{
    enum { MAX = 70 };
    for (int wide = 0; wide <= 1; wide++)
        for (int32_t at = 0; at < MAX; at++) {
            struct rec_knn k;
            rec_knn_init(&k, 0.0f, MAX);
            int32_t base = wide ? 256 : 0, big = !wide ? -1 : at == 0 ? 1 : 0;
            for (int32_t p = 0; p < MAX; p++) { /* 5, but 2 at `at` and at the last; 512 at big */
                int32_t c = p == big ? 512 : base + (p == at || p == MAX - 1 ? 2 : 5);
                assert_int_equal(rec_knn_add_pair(&k, 0, 100 + p, c), 0);
            }
            assert_int_equal(rec_knn_add_pair(&k, 0, 999, 1), 0);
            struct rec_knn_view v;
            rec_knn_row_view(&k, 0, &v);
            assert_int_equal(v.n, MAX);
            assert_int_equal(rec_knn_view_nbr(&v, at), 999);
            assert_int_equal(rec_knn_view_cnt(&v, at), base + 3);
            if (at != MAX - 1) {
                assert_int_equal(rec_knn_view_nbr(&v, MAX - 1), 100 + MAX - 1); /* the later equal one stays */
                /* a count taken back to 0 is the next one replaced */
                int32_t q = (at + 2) % (MAX - 1);
                assert_int_equal(rec_knn_add_pair(&k, 0, 100 + q, -600), 0);
                assert_int_equal(rec_knn_add_pair(&k, 0, 998, 1), 0);
                rec_knn_row_view(&k, 0, &v);
                assert_int_equal(rec_knn_view_nbr(&v, q), 998);
                assert_int_equal(rec_knn_view_cnt(&v, q), 1);
            }
            rec_knn_free(&k);
        }
}

/* Ids that differ only in their top byte or their middle one, up to INT32_MAX, in one row: the
 * top plane comes with the first id of 2^24 or more, entries before it keep their ids and
 * counts, and each id is found as itself only. The count plane also comes and keeps them. */
static void test_ids_of_every_size(void **state)
{
    const int32_t ids[] = {5, 0x10005, 0x20005, 0x1000005, 0x7f000005, 0x7f010005, INT32_MAX,
                           0x00ff0005, 0xffff};
    enum { N = sizeof ids / sizeof ids[0] };
    struct rec_knn_row r = {0};
    struct rec_knn_view v;
    for (int a = 0; a < N; a++) {
        assert_int_equal(rec_knn_row_add(&r, ids[a], a + 1, 16), 0);
        rec_knn_row_view_of(&r, &v);
        assert_int_equal(v.top != NULL, ids[a] >= 0x1000000 || (a > 3));
        for (int b = 0; b <= a; b++) {
            int found;
            assert_int_equal(count_in(&v, ids[b], &found), b + 1);
            assert_true(found);
        }
    }
    for (int a = 0; a < N; a++) /* found in place: each count grows by 300 */
        assert_int_equal(rec_knn_row_add(&r, ids[a], 300, 16), 0);
    rec_knn_row_view_of(&r, &v);
    assert_int_equal(v.n, N);
    assert_non_null(v.cnt_hi);
    for (int a = 0; a < N; a++) {
        assert_int_equal(rec_knn_view_nbr(&v, a), ids[a]);
        assert_int_equal(rec_knn_view_cnt(&v, a), a + 301);
    }
    const int32_t absent[] = {0x3000005, 0x7e000005, 0x7f020005, 0x10000005, 0x1ffff, 6};
    for (size_t a = 0; a < sizeof absent / sizeof absent[0]; a++) {
        int found;
        count_in(&v, absent[a], &found);
        assert_false(found);
    }
    rec_knn_row_free(&r);
    assert_int_equal(rec_knn_row_add(&r, -1, 1, 16), REC_EINVAL);
}

/* The memory the layout is for: a full row of 256 neighbours below 2^24 with counts below 256
 * takes 4 bytes per entry; each extra plane one more. Counts crossing 255 in a row of every
 * length keep all the others (the step copies the planes). */
static void test_row_bytes(void **state)
{
    struct rec_knn_row r = {0};
    for (int32_t p = 0; p < 300; p++)
        assert_int_equal(rec_knn_row_add(&r, 1000 * p, 1 + p % 200, 256), 0);
    assert_int_equal(r.n, 256);
    assert_int_equal(r.cap, 256);
    assert_int_equal(rec_knn_row_bytes(&r), 4 * 256);
    assert_int_equal(rec_knn_row_add(&r, 1000 * 299, 255, 256), 0);
    assert_int_equal(rec_knn_row_bytes(&r), 5 * 256);
    assert_int_equal(rec_knn_row_add(&r, 1 << 30, 1, 256), 0);
    assert_int_equal(rec_knn_row_bytes(&r), 6 * 256);
    rec_knn_row_free(&r);
    for (int32_t len = 1; len <= 70; len++) {
        for (int32_t p = 0; p < len; p++)
            assert_int_equal(rec_knn_row_add(&r, 7 * p, 1 + p, 128), 0);
        assert_true(rec_knn_row_bytes(&r) <= 4u * (len + len / 8 + 4));
        assert_int_equal(rec_knn_row_add(&r, 7 * (len / 2), 256, 128), 0);
        struct rec_knn_view v;
        rec_knn_row_view_of(&r, &v);
        assert_int_equal(v.n, len);
        for (int32_t p = 0; p < len; p++) {
            assert_int_equal(rec_knn_view_nbr(&v, p), 7 * p);
            assert_int_equal(rec_knn_view_cnt(&v, p), 1 + p + (p == len / 2 ? 256 : 0));
        }
        rec_knn_row_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_every_position),
        cmocka_unit_test(test_counts_clamp),
        cmocka_unit_test(test_full_row_replaces_first_smallest),
        cmocka_unit_test(test_ids_of_every_size),
        cmocka_unit_test(test_row_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
