/* The approximate index in serving (serve/recommend.c, serve/trainer.c): built at training
 * from ann-min-items on, used by requests (and said so), the same lists as the exact scan
 * when every list is probed, a part of the catalog scored otherwise, items learned online
 * after the build still found, and the exact scan below the threshold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "serve/engine.h"

#include "test_two_groups.h"

#define N 10

/* The two groups (test_two_groups.h), trained, with the given index settings. */
static struct rec_engine *two_groups(int min_items, int lists, int nprobe)
{
    struct rec_engine_params p = two_groups_params();
    p.ann_min_items = min_items;
    p.ann_lists = lists;
    p.ann_nprobe = nprobe;
    return two_groups_engine(&p);
}

/* user's top N of the iALS source alone (scores are its dot products) into r[], count
 * returned; *search and *scanned from the request. */
static int top(struct rec_engine *e, const char *user, struct rec_result *r, int *search,
               int *scanned)
{
    struct rec_request_opts o;
    rec_request_opts_default(&o);
    o.mode = REC_MODE_ALS;
    int n = 0;
    const char *model;
    assert_int_equal(rec_engine_recommend_opts(e, user, N, &o, r, &n, &model), 0);
    *search = o.als_search;
    *scanned = o.ann_scanned;
    return n;
}

static void test_all_lists_match_exact(void **state)
{
    struct rec_engine *exact = two_groups(0, 0, 1), *ann = two_groups(1, 4, 4);
    const char *users[] = {"a1", "a17", "b33", "b59"};
    for (int k = 0; k < 4; k++) {
        struct rec_result want[N], got[N];
        int s1, s2, c1, c2;
        int n1 = top(exact, users[k], want, &s1, &c1), n2 = top(ann, users[k], got, &s2, &c2);
        assert_int_equal(s1, 1); /* ann-min-items 0: never an index */
        assert_int_equal(c1, 0);
        assert_int_equal(s2, 2);
        assert_int_equal(c2, 2 * BLOCK); /* every list probed: every item */
        assert_int_equal(n1, n2);
        /* the same scores rank by rank (items of a block tie up to rounding, and the two
         * paths round differently: their order may differ, not their scores) */
        for (int j = 0; j < n1; j++)
            assert_true(fabs(want[j].score - got[j].score) <= 1e-5 * (1 + fabs(want[j].score)));
        assert_true(n1 > 3 && want[0].score > want[n1 - 1].score + 1e-3); /* not all tied */
    }
    rec_engine_destroy(exact);
    rec_engine_destroy(ann);
}

static void test_probes_part_and_finds_online_items(void **state)
{
    struct rec_engine *e = two_groups(1, 4, 2);
    struct rec_result r[N];
    int search, scanned;
    int n = top(e, "a20", r, &search, &scanned);
    assert_int_equal(search, 2);
    assert_true(scanned > 0 && scanned < 2 * BLOCK);
    assert_true(n > 0);
    for (int j = 0; j < n; j++)
        assert_int_equal(r[j].id[0], 'x'); /* the nearest lists hold the user's own block */
    /* an item new since the build, learned from five group-a users' events, is not in the
     * index: it is scored with the cold set and still comes up near the top */
    assert_int_equal(rec_engine_put_item(e, "fresh", "Fresh"), 0);
    for (int u = 2; u < 7; u++) {
        char user[32];
        snprintf(user, sizeof user, "a%d", u);
        add(e, user, "fresh");
    }
    n = top(e, "a20", r, &search, &scanned);
    assert_int_equal(search, 2);
    int rank = -1;
    for (int j = 0; j < n; j++)
        if (!strcmp(r[j].id, "fresh"))
            rank = j;
    assert_true(rank >= 0 && rank < 5);
    /* a retrain indexes it like any other item */
    assert_int_equal(rec_engine_train_now(e), 0);
    n = top(e, "a21", r, &search, &scanned);
    assert_int_equal(search, 2);
    rank = -1;
    for (int j = 0; j < n; j++)
        if (!strcmp(r[j].id, "fresh"))
            rank = j;
    assert_true(rank >= 0 && rank < 5);
    rec_engine_destroy(e);
}

static void test_below_threshold_is_exact(void **state)
{
    struct rec_engine *e = two_groups(1000, 0, 32);
    struct rec_result r[N];
    int search, scanned;
    assert_true(top(e, "b40", r, &search, &scanned) > 0);
    assert_int_equal(search, 1);
    assert_int_equal(scanned, 0);
    /* a user without factors gets no iALS list at all */
    top(e, "nobody", r, &search, &scanned);
    assert_int_equal(search, 0);
    rec_engine_destroy(e);
}

static void test_bad_params(void **state)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    assert_int_equal(p.ann_min_items, 50000); /* the documented defaults */
    assert_int_equal(p.ann_nprobe, 32);
    assert_int_equal(p.ann_lists, 0);
    struct rec_engine *e = NULL;
    p.ann_nprobe = 0;
    assert_int_equal(rec_engine_create(&p, NULL, &e), REC_EINVAL);
    p.ann_nprobe = 1;
    p.ann_min_items = -1;
    assert_int_equal(rec_engine_create(&p, NULL, &e), REC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_lists_match_exact),
        cmocka_unit_test(test_probes_part_and_finds_online_items),
        cmocka_unit_test(test_below_threshold_is_exact),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
