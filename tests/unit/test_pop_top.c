/* The kept top list of popularity (model/pop_top.h) against a full ranking of every item's
 * key, through the events that move it: rises, falls (a deleted user's share taken back),
 * items losing all popularity, old events, a catalog larger than the list, and time passing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include <stdlib.h>

#include "model/popularity.h"

#define N_ITEMS 5000 /* more than REC_POP_TOP_CAP: the list must evict and bound */

/* (ka, ia) ranks above (kb, ib), as serve/topk.h orders */
static int above(float ka, int32_t ia, float kb, int32_t ib)
{
    return ka > kb || (ka == kb && ia < ib);
}

/* The list is what ranking every item gives, as far as it goes: its prefix is the exact top,
 * every listed item ranks above the bound, every other item with a key at or below it, and
 * "complete" means no item with a key is left out. */
static void check(const struct rec_pop *p)
{
    const struct rec_pop_top *t = &p->top;
    int32_t n_finite = 0;
    for (int32_t i = 0; i < p->n_items; i++)
        n_finite += (float)rec_pop_key(p, i) > -INFINITY;
    for (int32_t r = 0; r < t->n; r++) {
        int32_t i = t->item[r];
        assert_int_equal(t->pos[i], r);
        assert_true(t->key[r] == (float)rec_pop_key(p, i));
        assert_true(above(t->key[r], i, t->bound_key, t->bound_item));
        if (r > 0)
            assert_true(above(t->key[r - 1], t->item[r - 1], t->key[r], i));
    }
    for (int32_t i = 0; i < p->n_items; i++) {
        float k = (float)rec_pop_key(p, i);
        if (t->pos[i] >= 0)
            continue;
        if (k > -INFINITY) /* unlisted: at or below the bound */
            assert_false(above(k, i, t->bound_key, t->bound_item));
    }
    if (rec_pop_top_complete(t))
        assert_int_equal(t->n, n_finite);
    else /* the bound's item may have risen back into the list since: not necessarily fewer */
        assert_true(t->n <= n_finite);
    /* the prefix is the true top: count items that rank above each listed one */
    for (int32_t r = 0; r < t->n; r += 97) {
        int32_t better = 0;
        for (int32_t i = 0; i < p->n_items; i++) {
            float k = (float)rec_pop_key(p, i);
            better += k > -INFINITY && above(k, i, t->key[r], t->item[r]);
        }
        assert_int_equal(better, r);
    }
}

static void test_events_keep_list_exact(void **state)
{
    (void)state;
    struct rec_pop p;
    rec_pop_init(&p, 3600.0);
    srand(7);
    int64_t now = 1700000000;
    /* what each item received, so a share can be taken back exactly as a user deletion does */
    double *given = calloc(N_ITEMS, sizeof *given);
    int64_t *given_ts = calloc(N_ITEMS, sizeof *given_ts);
    assert_non_null(given);
    assert_non_null(given_ts);
    for (int step = 0; step < 60000; step++) {
        /* skewed item choice: a head of popular items and a long tail */
        int32_t i = rand() % 4 ? rand() % 300 : rand() % N_ITEMS;
        int op = rand() % 20;
        now += rand() % 120;
        if (op == 0 && given[i] > 0) {
            /* take back everything given so far: the item may lose all popularity */
            assert_int_equal(rec_pop_add(&p, i, -given[i], given_ts[i]), 0);
            given[i] = 0;
        } else if (op == 1) {
            /* a late event, older than the item's reference time */
            assert_int_equal(rec_pop_add(&p, i, 1.0, now - 86400), 0);
        } else {
            double w = 1.0 + rand() % 5;
            assert_int_equal(rec_pop_add(&p, i, w, now), 0);
            if (given[i] == 0) {
                given[i] = w;
                given_ts[i] = now;
            }
        }
        if (step % 5000 == 4999)
            check(&p);
    }
    check(&p);
    /* a burst of removals (two items in three lose everything): the list gets short and is
     * rebuilt from the keys, still exact */
    assert_int_equal(p.top.n, REC_POP_TOP_CAP);
    assert_false(rec_pop_top_complete(&p.top));
    for (int32_t i = 0; i < N_ITEMS; i++)
        if (i % 3)
            assert_int_equal(rec_pop_add(&p, i, -1e12, now), 0);
    check(&p);
    assert_true(p.top.n > REC_POP_TOP_CAP / 2);
    /* and further events on the survivors move them as before */
    for (int step = 0; step < 5000; step++)
        assert_int_equal(rec_pop_add(&p, 3 * (rand() % (N_ITEMS / 3)), 1.0, now + step), 0);
    check(&p);
    free(given);
    free(given_ts);
    rec_pop_free(&p);
}

static void test_small_catalog_is_complete(void **state)
{
    (void)state;
    struct rec_pop p;
    rec_pop_init(&p, 3600.0);
    for (int32_t i = 0; i < 50; i++)
        assert_int_equal(rec_pop_add(&p, i, 1.0 + i % 7, 1700000000 + i), 0);
    assert_true(rec_pop_top_complete(&p.top));
    assert_int_equal(p.top.n, 50);
    /* an item whose only event is taken back has no popularity: it leaves the list */
    assert_int_equal(rec_pop_add(&p, 3, -(1.0 + 3 % 7), 1700000000 + 3), 0);
    assert_int_equal(p.top.n, 49);
    assert_int_equal(p.top.pos[3], -1);
    check(&p);
    rec_pop_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_keep_list_exact),
        cmocka_unit_test(test_small_catalog_is_complete),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
