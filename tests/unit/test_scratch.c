/* Requests' reusable per-item memory (serve/scratch.h): whatever a request wrote is gone when
 * the next one takes the scratch, growing keeps every slot reset, and concurrent requests get
 * distinct scratches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "serve/scratch.h"

static void assert_all_reset(const struct rec_scratch *s, int32_t n)
{
    assert_true(s->cap >= n);
    assert_int_equal(s->n_touched, 0);
    for (int32_t i = 0; i < n; i++) {
        const struct rec_item_slot *sl = &s->slot[i];
        assert_true(sl->acc == 0 && sl->seed_sim == 0 && sl->fused == 0 && sl->best_contrib == 0);
        assert_int_equal(sl->seed, -1);
        assert_int_equal(sl->best_src, 0);
        assert_int_equal(sl->mark, 0);
    }
}

static void test_release_resets_what_was_touched(void **state)
{
    (void)state;
    struct rec_scratch_pool pool;
    rec_scratch_pool_init(&pool);
    struct rec_scratch *s = NULL;
    assert_int_equal(rec_scratch_acquire(&pool, 1000, &s), 0);
    assert_all_reset(s, 1000);
    for (int32_t i = 0; i < 1000; i += 3) {
        struct rec_item_slot *sl = rec_scratch_touch(s, i);
        sl->acc += 1.5f;
        sl->seed = i / 2;
        sl->mark |= REC_SLOT_BLOCKED;
        rec_scratch_touch(s, i)->fused = 2; /* a second touch is not listed twice */
    }
    assert_int_equal(s->n_touched, 334);
    rec_scratch_release(&pool, s);
    struct rec_scratch *again = NULL;
    assert_int_equal(rec_scratch_acquire(&pool, 1000, &again), 0);
    assert_ptr_equal(again, s); /* reused, not reallocated */
    assert_all_reset(again, 1000);
    rec_scratch_release(&pool, again);
    rec_scratch_pool_free(&pool);
}

static void test_growth_and_concurrent_holders(void **state)
{
    (void)state;
    struct rec_scratch_pool pool;
    rec_scratch_pool_init(&pool);
    struct rec_scratch *a = NULL, *b = NULL;
    assert_int_equal(rec_scratch_acquire(&pool, 10, &a), 0);
    assert_int_equal(rec_scratch_acquire(&pool, 10, &b), 0);
    assert_ptr_not_equal(a, b); /* two requests at once: two scratches */
    rec_scratch_touch(a, 5)->acc = 1;
    rec_scratch_release(&pool, a);
    rec_scratch_release(&pool, b);
    /* the catalog grew: old and new slots alike start reset */
    struct rec_scratch *c = NULL;
    assert_int_equal(rec_scratch_acquire(&pool, 50000, &c), 0);
    assert_all_reset(c, 50000);
    assert_non_null(rec_scratch_scores(c, 50000));
    rec_scratch_release(&pool, c);
    rec_scratch_pool_free(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_resets_what_was_touched),
        cmocka_unit_test(test_growth_and_concurrent_holders),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
