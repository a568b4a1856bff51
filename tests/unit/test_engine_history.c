/* test_engine_history.c: the compact user histories of src/serve/engine.c (engine_impl.h's
 * struct hist_entry). An item first seen without positive weight moves to the end when it gets
 * some, counted entries keep the order they were counted in, and deleting a user takes back
 * exactly the co-occurrence counts it brought (and its popularity share, to a half's
 * precision), whatever mix of skips, dislikes and likes it had. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app/app.h"
#include "core/half.h"
#include "core/rand.h"
#include "serve/engine_impl.h"

static struct rec_engine *make_engine(int window)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.knn_window = window;
    p.knn_neighbors = 4096; /* no evictions: counts are exact, so they must come back exactly */
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), 0);
    return e;
}

static void add(struct rec_engine *e, const char *user, const char *item, int type, int64_t ts)
{
    static int64_t seq;
    struct rec_event ev = {NULL, user, item, type, 0, ts, NULL, ++seq, NULL};
    assert_int_equal(rec_engine_apply_events(e, &ev, 1, NULL), 0);
}

static const char *item_name(const struct rec_engine *e, const struct hist_entry *h)
{
    return rec_idmap_name(&e->item_ids, h->item);
}

static void test_history_order_and_size(void **state)
{
    assert_int_equal(sizeof(struct hist_entry), 16);
    struct rec_engine *e = make_engine(2);
    add(e, "u", "x", REC_EVENT_SKIP, 100);     /* x: weight -1, not counted */
    add(e, "u", "y", REC_EVENT_VIEW, 101);     /* y counted */
    add(e, "u", "z", REC_EVENT_DISLIKE, 102);  /* z: not counted */
    add(e, "u", "x", REC_EVENT_CLICK, 103);    /* x: weight 1, counted now: moves last */
    add(e, "u", "y", REC_EVENT_VIEW, 104);     /* y again: stays where it is */
    const struct user *us = &e->users[rec_idmap_get(&e->user_ids, "u")];
    assert_int_equal(us->n_hist, 3);
    assert_string_equal(item_name(e, &us->hist[0]), "y");
    assert_string_equal(item_name(e, &us->hist[1]), "z");
    assert_string_equal(item_name(e, &us->hist[2]), "x");
    assert_int_equal(us->hist[0].knn, 1);
    assert_int_equal(us->hist[1].knn, 0);
    assert_int_equal(us->hist[2].knn, 1);
    assert_true(us->hist[0].weight == 2.0f && us->hist[2].weight == 1.0f);
    assert_int_equal(us->hist[0].ts, 104);
    assert_int_equal(us->hist[2].type, REC_EVENT_CLICK);
    /* x co-occurs with y (counted before it); z never co-occurs */
    int32_t x = rec_idmap_get(&e->item_ids, "x"), y = rec_idmap_get(&e->item_ids, "y"),
            z = rec_idmap_get(&e->item_ids, "z");
    assert_true(rec_knn_sim(&e->knn, x, y) > 0);
    assert_int_equal(rec_knn_degree(&e->knn, z), 0);
    /* the popularity share: y's two views, a half's exact 2 */
    assert_true(rec_half_to_float(us->hist[0].pop_mass) == 2.0f);
    rec_engine_destroy(e);
}

/* All kNN state as a comparable array: per item its count and its (neighbour, count) pairs. */
struct knn_dump {
    double *v;
    size_t n;
};

static struct knn_dump dump(const struct rec_engine *e)
{
    struct knn_dump d = {malloc(sizeof(double) * 1000000), 0};
    assert_non_null(d.v);
    for (int32_t i = 0; i < e->knn.n_items; i++) {
        d.v[d.n++] = e->knn.count[i];
        struct rec_knn_view nb;
        rec_knn_row_view(&e->knn, i, &nb);
        for (int32_t q = 0; q < nb.n; q++)
            if (rec_knn_view_cnt(&nb, q) > 0) { /* a pair taken back to 0 may stay in the row */
                d.v[d.n++] = rec_knn_view_nbr(&nb, q);
                d.v[d.n++] = rec_knn_view_cnt(&nb, q);
            }
        d.v[d.n++] = -1;
        assert_true(d.n < 900000);
    }
    return d;
}

/* Users with random streams of likes, views, skips and dislikes over 40 items; deleting one
 * leaves the kNN counts exactly as they were without it, for several windows. */
static void test_delete_takes_back_exact_counts(void **state)
{
    for (int window = 1; window <= 8; window *= 2) {
        struct rec_engine *e = make_engine(window);
        uint64_t st = (uint64_t)window;
        static const int types[] = {REC_EVENT_VIEW, REC_EVENT_LIKE, REC_EVENT_SKIP,
                                    REC_EVENT_DISLIKE, REC_EVENT_CLICK, REC_EVENT_IMPRESSION};
        char user[16], item[16];
        int64_t ts = 1700000000;
        for (int u = 0; u < 6; u++) {
            snprintf(user, sizeof user, "u%d", u);
            for (int t = 0; t < 120; t++) {
                snprintf(item, sizeof item, "i%d", (int)(rec_splitmix64(&st) % 40));
                add(e, user, item, types[rec_splitmix64(&st) % 6], ts++);
            }
        }
        /* every item now exists, so the victim's events create no new item indexes */
        struct knn_dump before = dump(e);
        /* the expected history, kept by the rule: append on the first event with a weight,
         * move last when the weight first turns positive */
        static const float weight[] = {1, 4, -1, -4, 2, 0};
        int order[40], n_order = 0, moved = 0, counted[40] = {0};
        float w[40] = {0};
        for (int t = 0; t < 300; t++) {
            int i = (int)(rec_splitmix64(&st) % 40), ty = (int)(rec_splitmix64(&st) % 6);
            snprintf(item, sizeof item, "i%d", i);
            add(e, "victim", item, types[ty], ts++);
            if (weight[ty] == 0)
                continue;
            int at = -1;
            for (int q = 0; q < n_order; q++)
                at = order[q] == i ? q : at;
            if (at < 0)
                order[at = n_order++] = i;
            w[i] += weight[ty];
            if (!counted[i] && w[i] > 0) {
                counted[i] = 1;
                moved += at != n_order - 1;
                memmove(&order[at], &order[at + 1], (size_t)(n_order - 1 - at) * sizeof *order);
                order[n_order - 1] = i;
            }
        }
        assert_true(moved > 0); /* the case where the order matters happened */
        const struct user *v = &e->users[rec_idmap_get(&e->user_ids, "victim")];
        assert_int_equal(v->n_hist, n_order);
        for (int q = 0; q < n_order; q++) {
            snprintf(item, sizeof item, "i%d", order[q]);
            assert_string_equal(item_name(e, &v->hist[q]), item);
            assert_int_equal(v->hist[q].knn, counted[order[q]]);
        }
        assert_int_equal(rec_engine_delete_user(e, "victim"), 0);
        struct knn_dump after = dump(e);
        assert_int_equal(after.n, before.n);
        for (size_t q = 0; q < before.n; q++)
            assert_true(after.v[q] == before.v[q]);
        free(before.v);
        free(after.v);
        rec_engine_destroy(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_order_and_size),
        cmocka_unit_test(test_delete_takes_back_exact_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
