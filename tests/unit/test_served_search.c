/* test_served_search.c: the rules of `recd tune`'s search over the served knobs
 * (app/served_search.c) against made-up objectives: it starts from every knob at 0, not from the
 * configured values; a knob moves only for a gain above REC_SERVED_MIN_GAIN; a clear gain is
 * found; each setting is scored once; an error stops the search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "app/served_search.h"
#include "core/err.h"

struct fake {
    double gain_knn;     /* NDCG added at blend-knn 0.3 */
    double gain_conf;    /* NDCG added at exactly the configured values */
    int calls;
    int fail_at;         /* return an error at this call (0: never) */
    struct rec_served_knobs seen[64];
};

static const struct rec_served_knobs configured = {0.1, 0.01, 1};

static int fake_score(void *ctx, const struct rec_served_knobs *kn, double *ndcg)
{
    struct fake *f = ctx;
    if (++f->calls == f->fail_at)
        return REC_EIO;
    for (int j = 0; j + 1 < f->calls && j < 64; j++) /* never the same setting twice */
        assert_false(f->seen[j].blend_knn == kn->blend_knn &&
                     f->seen[j].blend_popular == kn->blend_popular &&
                     f->seen[j].cold_weight == kn->cold_weight);
    if (f->calls <= 64)
        f->seen[f->calls - 1] = *kn;
    *ndcg = 0.3;
    if (kn->blend_knn == 0.3)
        *ndcg += f->gain_knn;
    if (kn->blend_knn == configured.blend_knn && kn->blend_popular == configured.blend_popular &&
        kn->cold_weight == configured.cold_weight)
        *ndcg += f->gain_conf;
    return 0;
}

static void small_gains_leave_every_knob_at_zero(void **state)
{
    (void)state;
    /* the configured values score a hair better (noise): the search must not keep them */
    struct fake f = {.gain_knn = REC_SERVED_MIN_GAIN / 2, .gain_conf = REC_SERVED_MIN_GAIN / 2};
    struct rec_served_knobs best;
    double best_ndcg, start_ndcg;
    int n = 0;
    assert_int_equal(rec_served_search(fake_score, &f, 10, &configured, &best, &best_ndcg,
                                       &start_ndcg, &n), 0);
    assert_true(best.blend_knn == 0 && best.blend_popular == 0 && best.cold_weight == 0);
    assert_true(best_ndcg == 0.3);
    assert_true(start_ndcg > 0.3);
    assert_int_equal(n, f.calls);
}

static void a_clear_gain_moves_its_knob(void **state)
{
    (void)state;
    struct fake f = {.gain_knn = 0.01};
    struct rec_served_knobs best;
    double best_ndcg, start_ndcg;
    assert_int_equal(rec_served_search(fake_score, &f, 10, &configured, &best, &best_ndcg,
                                       &start_ndcg, NULL), 0);
    assert_true(best.blend_knn == 0.3);
    assert_true(best.blend_popular == 0 && best.cold_weight == 0);
    assert_true(best_ndcg > 0.309);
    /* start, zero, 4 + 3 + 3 moves in round 1; round 2 only revisits (memo) */
    assert_int_equal(f.calls, 12);
}

static void an_error_stops_the_search(void **state)
{
    (void)state;
    struct fake f = {.fail_at = 3};
    struct rec_served_knobs best;
    double best_ndcg, start_ndcg;
    assert_int_equal(rec_served_search(fake_score, &f, 10, &configured, &best, &best_ndcg,
                                       &start_ndcg, NULL), REC_EIO);
    assert_int_equal(f.calls, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_gains_leave_every_knob_at_zero),
        cmocka_unit_test(a_clear_gain_moves_its_knob),
        cmocka_unit_test(an_error_stops_the_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
