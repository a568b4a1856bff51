/* Beta sampling, Thompson sampling over items and LinUCB (src/rank/bandit.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rand.h"
#include "rank/bandit.h"

static double unif(uint64_t *rng) { return (double)(rec_splitmix64(rng) >> 11) * 0x1.0p-53; }

/* Mean and variance of n draws from Beta(a, b) against a / (a + b) and
 * a b / ((a + b)^2 (a + b + 1)). */
static void check_beta_moments(double a, double b, uint64_t seed)
{
    const int n = 200000;
    uint64_t rng = seed;
    double sum = 0.0, sum2 = 0.0;
    for (int i = 0; i < n; i++) {
        double x = rec_beta_sample(a, b, &rng);
        assert_true(x >= 0.0 && x <= 1.0);
        sum += x;
        sum2 += x * x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    double want_mean = a / (a + b), want_var = a * b / ((a + b) * (a + b) * (a + b + 1.0));
    /* standard errors at n = 200k: mean ~ sqrt(var / n) < 8e-4, variance ~ 2e-4 for (.5, .5) */
    assert_float_equal(mean, want_mean, 0.003);
    assert_float_equal(var, want_var, 0.03 * want_var);
}

static void test_beta_moments(void **state)
{
    check_beta_moments(2.0, 5.0, 1);    /* both Gamma shapes >= 1 */
    check_beta_moments(0.5, 0.5, 2);    /* both < 1: the log-scale path */
    check_beta_moments(0.7, 30.0, 3);   /* mixed */
    check_beta_moments(51.0, 953.0, 4); /* a well-measured item: narrow around 5% */
}

/* Empirical CDF of 200k draws against the exact one at x = .1, .2, ..., .9: a wrong normal or
 * Gamma sampler that still matched two moments would show here (standard error <= .0012). */
static void check_beta_cdf(double a, double b, double (*cdf)(double), uint64_t seed)
{
    const int n = 200000;
    int below[9] = {0};
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        double x = rec_beta_sample(a, b, &rng);
        for (int j = 0; j < 9; j++)
            below[j] += x <= 0.1 * (j + 1);
    }
    for (int j = 0; j < 9; j++)
        assert_float_equal((double)below[j] / n, cdf(0.1 * (j + 1)), 0.005);
}

/* Beta(2, 5): I_x(2, 5) = 1 - (1 - x)^6 - 6 x (1 - x)^5. */
static double cdf_2_5(double x) { return 1.0 - pow(1.0 - x, 6) - 6.0 * x * pow(1.0 - x, 5); }
/* Beta(1/2, 1/2), the arcsine law: (2 / pi) asin(sqrt(x)). */
static double cdf_arcsine(double x) { return 2.0 / 3.14159265358979323846 * asin(sqrt(x)); }
/* Beta(3, 3): 10 x^3 - 15 x^4 + 6 x^5. */
static double cdf_3_3(double x) { return x * x * x * (10.0 - 15.0 * x + 6.0 * x * x); }

static void test_beta_cdf(void **state)
{
    check_beta_cdf(2.0, 5.0, cdf_2_5, 21);
    check_beta_cdf(0.5, 0.5, cdf_arcsine, 22);
    check_beta_cdf(3.0, 3.0, cdf_3_3, 23);
}

static void test_beta_edges(void **state)
{
    uint64_t rng = 7, again = 7;
    assert_true(isnan(rec_beta_sample(0.0, 1.0, &rng)));
    assert_true(isnan(rec_beta_sample(1.0, -1.0, &rng)));
    assert_true(isnan(rec_beta_sample(NAN, 1.0, &rng)));
    assert_true(isnan(rec_beta_sample(1.0, INFINITY, &rng)));
    /* tiny shapes: mass at the ends, never NaN; P(near 1) = a / (a + b) = 1/4 */
    int ones = 0;
    for (int i = 0; i < 20000; i++) {
        double x = rec_beta_sample(1e-3, 3e-3, &rng);
        assert_false(isnan(x));
        assert_true(x >= 0.0 && x <= 1.0);
        ones += x > 0.5;
    }
    assert_in_range(ones, 4400, 5600);
    /* the same seed repeats the same draws */
    rng = 7;
    for (int i = 0; i < 100; i++)
        assert_true(rec_beta_sample(3.0, 4.0, &rng) == rec_beta_sample(3.0, 4.0, &again));
}

static void test_ts_counts_and_errors(void **state)
{
    struct rec_ts *t;
    assert_int_equal(rec_ts_new(0.0, 1.0, &t), REC_EINVAL);
    assert_null(t);
    assert_int_equal(rec_ts_new(1.0, 3.0, &t), 0);
    int64_t imp = -1, clk = -1;
    rec_ts_counts(t, 5, &imp, &clk);
    assert_true(imp == 0 && clk == 0);
    assert_int_equal(rec_ts_update(t, 5, 10, 0), 0);
    assert_int_equal(rec_ts_update(t, 5, 0, 3), 0); /* clicks arrive on their own */
    assert_int_equal(rec_ts_update(t, 100000, 2, 1), 0); /* grows */
    rec_ts_counts(t, 5, &imp, &clk);
    assert_true(imp == 10 && clk == 3);
    rec_ts_counts(t, 100000, &imp, NULL);
    assert_true(imp == 2);
    rec_ts_counts(t, 99999, &imp, &clk);
    assert_true(imp == 0 && clk == 0);
    assert_int_equal(rec_ts_update(t, -1, 1, 0), REC_EINVAL);
    assert_int_equal(rec_ts_update(t, 1, -1, 0), REC_EINVAL);
    assert_int_equal(rec_ts_update(t, REC_TS_MAX_ITEMS, 1, 0), REC_EINVAL);
    /* more clicks than impressions: still a valid draw */
    assert_int_equal(rec_ts_update(t, 6, 1, 5), 0);
    uint64_t rng = 3;
    double x = rec_ts_sample(t, 6, &rng);
    assert_true(x >= 0.0 && x <= 1.0);
    /* an unknown item draws from the prior Beta(1, 3): mean 1/4 */
    double sum = 0.0;
    for (int i = 0; i < 20000; i++)
        sum += rec_ts_sample(t, 424242, &rng);
    assert_float_equal(sum / 20000, 0.25, 0.01);
    int32_t out[4];
    assert_int_equal(rec_ts_choose(t, NULL, 0, 3, &rng, out), 0);
    assert_int_equal(rec_ts_choose(t, NULL, 2, 1, &rng, out), REC_EINVAL);
    rec_ts_free(t);
    rec_ts_free(NULL);
}

static void test_ts_choose_prefers_good_and_explores(void **state)
{
    struct rec_ts *t;
    /* prior Beta(1, 3) (mean .25): item 0 at 50/100, item 1 at 1/100, item 2 never shown.
     * P(draw of item 2 > draw of item 0) = E[(1 - X)^3], X ~ Beta(51, 53),
     * = 53 * 54 * 55 / (104 * 105 * 106) = .136; item 1 (Beta(2, 102)) practically never wins. */
    assert_int_equal(rec_ts_new(1.0, 3.0, &t), 0);
    assert_int_equal(rec_ts_update(t, 0, 100, 50), 0);
    assert_int_equal(rec_ts_update(t, 1, 100, 1), 0);
    const int32_t pool[] = {0, 1, 2};
    uint64_t rng = 42;
    int wins[3] = {0, 0, 0};
    const int trials = 10000;
    for (int i = 0; i < trials; i++) {
        int32_t out[1];
        assert_int_equal(rec_ts_choose(t, pool, 3, 1, &rng, out), 1);
        assert_in_range(out[0], 0, 2);
        wins[out[0]]++;
    }
    assert_true(wins[0] > trials * 3 / 4);           /* exploits: ~86% */
    assert_in_range(wins[2], trials / 12, trials / 5); /* explores: ~13.6% */
    assert_true(wins[1] < trials / 100);
    /* 50/100 against 1/100 alone: the better item nearly always */
    int good = 0;
    for (int i = 0; i < trials; i++) {
        int32_t out[1];
        rec_ts_choose(t, pool, 2, 1, &rng, out);
        good += out[0] == 0;
    }
    assert_true(good > trials * 99 / 100);
    /* k >= n returns each pool item once */
    int32_t all[5];
    assert_int_equal(rec_ts_choose(t, pool, 3, 5, &rng, all), 3);
    assert_int_equal(all[0] + all[1] + all[2], 3);
    assert_true(all[0] != all[1] && all[1] != all[2] && all[0] != all[2]);
    rec_ts_free(t);
}

static void test_ts_choose_large_k_and_pool(void **state)
{
    /* k > 64 (heap buffer) and a pool over several 256-item chunks: item i has a CTR of
     * i / 1000 measured over 10^6 impressions, so draws sit at their rates and the top 100
     * come out in order 999, 998, ... */
    struct rec_ts *t;
    assert_int_equal(rec_ts_new(1.0, 1.0, &t), 0);
    int32_t pool[1000], out[100];
    for (int i = 0; i < 1000; i++) {
        pool[i] = i;
        assert_int_equal(rec_ts_update(t, i, 1000000, (int64_t)i * 1000), 0);
    }
    uint64_t rng = 9;
    assert_int_equal(rec_ts_choose(t, pool, 1000, 100, &rng, out), 100);
    for (int j = 0; j < 100; j++)
        assert_int_equal(out[j], 999 - j);
    rec_ts_free(t);
}

struct worker {
    struct rec_ts *t;
    int32_t base;
};

static void *ts_worker(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = (uint64_t)w->base;
    for (int i = 0; i < 20000; i++) {
        rec_ts_update(w->t, (w->base + i) % 3000, 1, i % 2);
        (void)rec_ts_sample(w->t, i % 3000, &rng);
    }
    return NULL;
}

static void test_ts_concurrent_updates(void **state)
{
    struct rec_ts *t;
    assert_int_equal(rec_ts_new(1.0, 1.0, &t), 0);
    pthread_t th[2];
    struct worker w[2] = {{t, 0}, {t, 1500}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ts_worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int64_t total_imp = 0, total_clk = 0;
    for (int32_t item = 0; item < 3000; item++) {
        int64_t imp, clk;
        rec_ts_counts(t, item, &imp, &clk);
        total_imp += imp;
        total_clk += clk;
    }
    assert_true(total_imp == 40000);
    assert_true(total_clk == 20000);
    rec_ts_free(t);
}

static void test_linucb_learns_contextual_best_arm(void **state)
{
    /* 3 contexts (one-hot) plus a bias feature; arm (c + 1) % 3 clicks with p .8 in context c,
     * the others with p .2. */
    struct rec_linucb *l;
    assert_int_equal(rec_linucb_new(3, 4, 0.5, &l), 0);
    uint64_t rng = 11;
    const int rounds = 6000, tail = 1000;
    int right = 0;
    for (int r = 0; r < rounds; r++) {
        int c = (int)(rec_splitmix64(&rng) % 3);
        float x[4] = {0, 0, 0, 1};
        x[c] = 1;
        int arm = rec_linucb_choose(l, x);
        assert_in_range(arm, 0, 2);
        int best = (c + 1) % 3;
        double reward = unif(&rng) < (arm == best ? 0.8 : 0.2) ? 1.0 : 0.0;
        assert_int_equal(rec_linucb_update(l, arm, x, reward), 0);
        if (r >= rounds - tail)
            right += arm == best;
    }
    assert_true(right > tail * 9 / 10);
    /* the means (no bonus) rank the best arm first in every context, near .8 */
    for (int c = 0; c < 3; c++) {
        float x[4] = {0, 0, 0, 1};
        x[c] = 1;
        double mean[3], ucb[3];
        rec_linucb_means(l, x, mean);
        rec_linucb_scores(l, x, ucb);
        int best = (c + 1) % 3;
        for (int a = 0; a < 3; a++) {
            assert_true(ucb[a] >= mean[a]);
            if (a != best)
                assert_true(mean[best] > mean[a]);
        }
        assert_float_equal(mean[best], 0.8, 0.1);
    }
    rec_linucb_free(l);
}

/* Inverts the n x n matrix a (destroyed) into inv by Gauss-Jordan with partial pivoting. */
static void gauss_jordan(double *a, double *inv, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            inv[i * n + j] = i == j;
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(a[r * n + col]) > fabs(a[piv * n + col]))
                piv = r;
        for (int j = 0; j < n; j++) {
            double t = a[col * n + j];
            a[col * n + j] = a[piv * n + j];
            a[piv * n + j] = t;
            t = inv[col * n + j];
            inv[col * n + j] = inv[piv * n + j];
            inv[piv * n + j] = t;
        }
        double p = a[col * n + col];
        assert_true(fabs(p) > 1e-12);
        for (int j = 0; j < n; j++) {
            a[col * n + j] /= p;
            inv[col * n + j] /= p;
        }
        for (int r = 0; r < n; r++) {
            if (r == col)
                continue;
            double f = a[r * n + col];
            for (int j = 0; j < n; j++) {
                a[r * n + j] -= f * a[col * n + j];
                inv[r * n + j] -= f * inv[col * n + j];
            }
        }
    }
}

static void test_linucb_sherman_morrison_matches_direct_inverse(void **state)
{
    enum { D = 8, UPDATES = 50 };
    const double alpha = 0.7;
    struct rec_linucb *l;
    assert_int_equal(rec_linucb_new(2, D, alpha, &l), 0);
    double a[D * D], bvec[D] = {0};
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++)
            a[i * D + j] = i == j;
    uint64_t rng = 5;
    for (int u = 0; u < UPDATES; u++) {
        float x[D];
        for (int i = 0; i < D; i++)
            x[i] = (float)(unif(&rng) * 4.0 - 2.0);
        double r = unif(&rng);
        assert_int_equal(rec_linucb_update(l, 1, x, r), 0);
        for (int i = 0; i < D; i++) {
            bvec[i] += r * x[i];
            for (int j = 0; j < D; j++)
                a[i * D + j] += (double)x[i] * x[j];
        }
    }
    double direct[D * D], got[D * D], theta[D];
    gauss_jordan(a, direct, D);
    assert_int_equal(rec_linucb_arm_state(l, 1, got, theta), 0);
    for (int i = 0; i < D * D; i++)
        assert_float_equal(got[i], direct[i], 1e-4);
    for (int i = 0; i < D; i++) {
        double want = 0.0;
        for (int j = 0; j < D; j++)
            want += direct[i * D + j] * bvec[j];
        assert_float_equal(theta[i], want, 1e-4);
    }
    /* the UCB of a new context from the direct inverse */
    float x[D];
    double xd[D];
    for (int i = 0; i < D; i++)
        xd[i] = x[i] = (float)(unif(&rng) - 0.5);
    double mean = 0.0, q = 0.0;
    for (int i = 0; i < D; i++) {
        for (int j = 0; j < D; j++) {
            q += xd[i] * direct[i * D + j] * xd[j];
            mean += xd[i] * direct[i * D + j] * bvec[j];
        }
    }
    double ucb[2], means[2];
    rec_linucb_scores(l, x, ucb);
    rec_linucb_means(l, x, means);
    assert_float_equal(means[1], mean, 1e-4);
    assert_float_equal(ucb[1], mean + alpha * sqrt(q), 1e-4);
    /* the untouched arm is still A = I, b = 0 */
    double xx = 0.0;
    for (int i = 0; i < D; i++)
        xx += xd[i] * xd[i];
    assert_float_equal(means[0], 0.0, 0.0);
    assert_float_equal(ucb[0], alpha * sqrt(xx), 1e-9);
    rec_linucb_free(l);
}

static void test_linucb_errors(void **state)
{
    struct rec_linucb *l;
    assert_int_equal(rec_linucb_new(0, 4, 1.0, &l), REC_EINVAL);
    assert_null(l);
    assert_int_equal(rec_linucb_new(2, REC_LINUCB_MAX_D + 1, 1.0, &l), REC_EINVAL);
    assert_int_equal(rec_linucb_new(2, 4, -1.0, &l), REC_EINVAL);
    assert_int_equal(rec_linucb_new(2, 2, 1.0, &l), 0);
    const float x[2] = {1, 0}, bad[2] = {NAN, 0};
    assert_int_equal(rec_linucb_update(l, 2, x, 1.0), REC_EINVAL);
    assert_int_equal(rec_linucb_update(l, 0, bad, 1.0), REC_EINVAL);
    assert_int_equal(rec_linucb_update(l, 0, x, INFINITY), REC_EINVAL);
    assert_int_equal(rec_linucb_arm_state(l, -1, NULL, NULL), REC_EINVAL);
    /* a fresh model ties: arm 0; after a zero reward its bonus shrinks and arm 1 is next */
    assert_int_equal(rec_linucb_choose(l, x), 0);
    assert_int_equal(rec_linucb_update(l, 0, x, 0.0), 0);
    assert_int_equal(rec_linucb_choose(l, x), 1);
    rec_linucb_free(l);
    rec_linucb_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beta_moments),
        cmocka_unit_test(test_beta_cdf),
        cmocka_unit_test(test_beta_edges),
        cmocka_unit_test(test_ts_counts_and_errors),
        cmocka_unit_test(test_ts_choose_prefers_good_and_explores),
        cmocka_unit_test(test_ts_choose_large_k_and_pool),
        cmocka_unit_test(test_ts_concurrent_updates),
        cmocka_unit_test(test_linucb_learns_contextual_best_arm),
        cmocka_unit_test(test_linucb_sherman_morrison_matches_direct_inverse),
        cmocka_unit_test(test_linucb_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
