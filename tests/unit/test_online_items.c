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

#include "test_two_groups.h"

static struct rec_engine *two_groups(void)
{
    struct rec_engine_params p = two_groups_params();
    return two_groups_engine(&p);
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
