/* Item-side online learning: an item the model has never seen, with no document to guess from,
 * becomes recommendable from its first events, to the users who resemble those who touched it
 * and not to the others; a training run then takes over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "serve/engine.h"

#define USERS_PER_GROUP 30
#define BLOCK 12

static int64_t seq, ts = 1700000000;

static void add(struct rec_engine *e, const char *user, const char *item)
{
    struct rec_event ev = {NULL, user, item, REC_EVENT_VIEW, 0, ts++, NULL, ++seq, NULL};
    assert_int_equal(rec_engine_apply_events(e, &ev, 1, NULL), 0);
}

/* Group a (a0..a29) watches items x0..x11, group b (b0..b29) watches y0..y11, each skipping a
 * quarter; no documents anywhere, so content cannot help. */
static struct rec_engine *two_groups(void)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.als.factors = 8;
    p.als.iters = 10;
    p.als.threads = 1;
    p.blend_knn = 0; /* iALS alone ranks: what is measured here is the item's factor row */
    p.blend_popular = 0;
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), 0);
    char user[32], item[32];
    for (int u = 0; u < 2 * USERS_PER_GROUP; u++) {
        int a = u < USERS_PER_GROUP;
        snprintf(user, sizeof user, "%c%d", a ? 'a' : 'b', u);
        for (int i = 0; i < BLOCK; i++) {
            if ((i + u) % 4 == 0)
                continue;
            snprintf(item, sizeof item, "%c%d", a ? 'x' : 'y', i);
            add(e, user, item);
        }
    }
    assert_int_equal(rec_engine_train_now(e), 0);
    return e;
}

static int rank_of(struct rec_engine *e, const char *user, const char *id)
{
    struct rec_result r[2 * BLOCK + 4];
    int n = 0;
    const char *model;
    assert_int_equal(rec_engine_recommend(e, user, 2 * BLOCK + 4, r, &n, &model), 0);
    for (int j = 0; j < n; j++)
        if (!strcmp(r[j].id, id))
            return j;
    return -1;
}

static void test_new_item_learns_from_its_events(void **state)
{
    struct rec_engine *e = two_groups();
    /* before any event the new item has no factors: nobody gets it from iALS */
    assert_int_equal(rec_engine_put_item(e, "fresh", "Fresh"), 0);
    assert_int_equal(rank_of(e, "a1", "fresh"), -1);
    /* five group-a users take it */
    for (int u = 2; u < 7; u++) {
        char user[32];
        snprintf(user, sizeof user, "a%d", u);
        add(e, user, "fresh");
    }
    /* other group-a users now see it near the top; group b does not see it above their items */
    int ra = rank_of(e, "a20", "fresh"), rb = rank_of(e, "b40", "fresh");
    assert_true(ra >= 0 && ra < 5);
    assert_true(rb < 0 || rb > ra + 3);
    /* the next training learns it for real and the online sums are forgotten */
    assert_int_equal(rec_engine_train_now(e), 0);
    ra = rank_of(e, "a21", "fresh");
    assert_true(ra >= 0 && ra < 6);
    rec_engine_destroy(e);
}

static void test_trained_items_keep_their_rows(void **state)
{
    struct rec_engine *e = two_groups();
    int before = rank_of(e, "b31", "y3");
    /* one odd event of a group-a user on a trained group-b item must not move that item's row */
    add(e, "a5", "y3");
    assert_int_equal(rank_of(e, "b31", "y3"), before);
    rec_engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_item_learns_from_its_events),
        cmocka_unit_test(test_trained_items_keep_their_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
