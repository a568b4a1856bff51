/* test_seqknn.c: sequence-local co-occurrence by hand on a tiny history: the window (pairs
 * farther apart than it do not count), the time order (not the item order), distance decay,
 * user weights, normalisation, scoring, and a fit without times. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/csr.h"
#include "model/seqknn.h"

#define T (&rec_model_seqknn)

/* Two users; rows of ui are sorted by item, times given per entry:
 *   u0: item 0 at 40, 1 at 10, 2 at 30, 3 at 20  -> time order 1 3 2 0
 *   u1: item 0 at  6, 3 at  5                    -> time order 3 0
 * In item order u0 would pair 0-1, 1-2, 2-3: the time order pairs 1-3, 3-2, 2-0 instead. */
static const int64_t TS[] = {40, 10, 30, 20, 6, 5};

static void tiny(struct rec_csr *ui)
{
    static const struct rec_triplet t[] = {
        {0, 0, 1}, {0, 1, 1}, {0, 2, 1}, {0, 3, 1}, {1, 0, 1}, {1, 3, 1},
    };
    assert_int_equal(rec_csr_from_triplets(ui, 2, 4, t, sizeof t / sizeof t[0]), REC_OK);
}

static struct rec_model *fit_tiny(const char *spec, const int64_t *ts, int *rc_out)
{
    double p[REC_MODEL_MAX_PARAMS];
    char err[256] = "";
    rec_model_params_default(T, p);
    assert_int_equal(rec_model_params_parse(T, spec, p, err, sizeof err), REC_OK);
    struct rec_csr ui;
    tiny(&ui);
    struct rec_train_input in = {.ui = &ui, .ui_ts = ts, .threads = 1};
    struct rec_model *m = NULL;
    *rc_out = T->fit(&in, p, &m, err, sizeof err);
    rec_csr_free(&ui);
    return m;
}

static void sims(const struct rec_model *m, int32_t item, float s[4])
{
    assert_int_equal(T->similar(m, item, s), REC_OK);
}

/* w_u = 1/log(1 + |history|): a = w_u0, b = w_u1; n_0 = n_3 = a + b, n_1 = n_2 = a. */
#define A (1.0 / log(5.0))
#define B (1.0 / log(3.0))
#define RAW "shrink=0,asym_alpha=0.5,sim_pow=1,neighbors=100"

static void test_window_one(void **state)
{
    (void)state;
    int rc;
    struct rec_model *m = fit_tiny(RAW ",window=1,decay=0", TS, &rc);
    assert_int_equal(rc, REC_OK);
    float s[4];
    sims(m, 0, s);
    /* item 0 sits next to 2 (u0) and 3 (u1), never next to 1 */
    double s2 = A / sqrt((A + B) * A), s3 = B / (A + B);
    assert_float_equal(s[1], 0.0f, 0.0f);
    assert_float_equal(s[2], s2 / (s2 + s3), 1e-6);
    assert_float_equal(s[3], s3 / (s2 + s3), 1e-6);
    assert_float_equal(s[0], 0.0f, 0.0f);
    sims(m, 1, s); /* 1's only neighbour in time is 3 (in item order it would be 0 and 2) */
    assert_float_equal(s[3], 1.0f, 1e-6);
    assert_float_equal(s[0] + s[2], 0.0f, 0.0f);
    T->destroy(m);
}

static void test_window_and_decay(void **state)
{
    (void)state;
    int rc;
    /* window 2, pairs at distance d weigh 1/d: item 0 (last in u0) gets 2 at d=1 and 3 at d=2
     * from u0, 3 at d=1 from u1; 1 (d=3) stays out */
    struct rec_model *m = fit_tiny(RAW ",window=2,decay=1", TS, &rc);
    assert_int_equal(rc, REC_OK);
    float s[4];
    sims(m, 0, s);
    double s2 = A / sqrt((A + B) * A), s3 = (A / 2 + B) / (A + B);
    assert_float_equal(s[1], 0.0f, 0.0f);
    assert_float_equal(s[2], s2 / (s2 + s3), 1e-6);
    assert_float_equal(s[3], s3 / (s2 + s3), 1e-6);
    T->destroy(m);
    /* a window as long as the history counts every pair: 0-1 appears */
    m = fit_tiny(RAW ",window=3,decay=0", TS, &rc);
    assert_int_equal(rc, REC_OK);
    sims(m, 0, s);
    double c1 = A / sqrt((A + B) * A), c2 = c1, c3 = (A + B) / (A + B);
    assert_float_equal(s[1], c1 / (c1 + c2 + c3), 1e-6);
    T->destroy(m);
}

static void test_score(void **state)
{
    (void)state;
    int rc;
    struct rec_model *m = fit_tiny(RAW ",window=1,decay=0", TS, &rc);
    assert_int_equal(rc, REC_OK);
    float s1[4], s2[4], sc[4];
    sims(m, 1, s1);
    sims(m, 2, s2);
    const int32_t items[] = {2, 1, 2}; /* a repeated item counts once */
    struct rec_user_query q = {.user = -1, .items = items, .n = 3};
    assert_int_equal(T->score(m, &q, sc), REC_OK);
    for (int j = 0; j < 4; j++)
        assert_float_equal(sc[j], s1[j] + s2[j], 1e-6);
    T->destroy(m);
}

static void test_needs_times(void **state)
{
    (void)state;
    int rc;
    struct rec_model *m = fit_tiny(RAW, NULL, &rc);
    assert_int_equal(rc, REC_EINVAL);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_one),
        cmocka_unit_test(test_window_and_decay),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_needs_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
