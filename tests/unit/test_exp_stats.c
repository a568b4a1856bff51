/* Experiment statistics: normal distribution, Wilson, Newcombe, z-test, mSPRT, mean CI.
 * Reference values were worked by hand (arithmetic in the comments) and checked with mpmath at
 * 30 digits. z below is the two-sided 95% quantile 1.959963985. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "core/err.h"
#include "exp/stats.h"

#define near(a, b, tol) assert_true(fabs((a) - (b)) < (tol))

static void test_norm_cdf_quantile(void **state)
{
    /* Phi(1.959963985) = 0.97500000003 (mpmath) */
    near(rec_norm_cdf(1.959963985), 0.975, 1e-9);
    near(rec_norm_cdf(-1.959963985), 0.025, 1e-9);
    assert_true(rec_norm_cdf(0) == 0.5);
    /* deep tail keeps relative accuracy: Phi(-10) = 7.6198530241605e-24 (mpmath) */
    near(rec_norm_cdf(-10) / 7.6198530241605e-24, 1, 1e-10);

    near(rec_norm_quantile(0.975), 1.959963985, 1e-8);
    near(rec_norm_quantile(0.025), -1.959963985, 1e-8);
    assert_true(rec_norm_quantile(0.5) == 0);
    /* both of Acklam's regions: the tail (p < 0.02425) and beyond 1e-9 of it */
    near(rec_norm_quantile(0.001), -3.090232306167814, 1e-12);
    near(rec_norm_quantile(1e-10), -6.361340902404056, 1e-12);
    near(rec_norm_quantile(1 - 1e-10), 6.361340902404056, 1e-5); /* 1 - 1e-10 is inexact */
    assert_true(isfinite(rec_norm_quantile(1e-300)));
    assert_true(isfinite(rec_norm_quantile(1e-320))); /* subnormal: no inf/NaN from the step */
    assert_true(rec_norm_quantile(0) == -INFINITY);
    assert_true(rec_norm_quantile(1) == INFINITY);
    assert_true(isnan(rec_norm_quantile(-0.1)));
    assert_true(isnan(rec_norm_quantile(1.5)));
    assert_true(isnan(rec_norm_quantile(NAN)));
    /* round trip over a grid; above x = 5 the cdf is within 3e-7 of 1, where doubles are too
     * coarse for 1e-9 in x, so the grid stops there */
    for (double x = -8; x <= 5; x += 0.125)
        near(rec_norm_quantile(rec_norm_cdf(x)), x, 1e-9);
}

static void test_wilson(void **state)
{
    double lo, hi;
    /* 40/100 at 95%: p = 0.4, z^2 = 3.841459, z^2/n = 0.03841459, denom = 1.03841459,
     * center = (0.4 + 0.01920729) / 1.03841459 = 0.40369936,
     * half = 1.959964 * sqrt(0.4 * 0.6 / 100 + 3.841459 / 40000) / 1.03841459
     *      = 1.959964 * sqrt(0.0024960365) / 1.03841459 = 1.959964 * 0.04996035 / 1.03841459
     *      = 0.09429807,
     * lo = 0.30940129, hi = 0.49799741 */
    rec_wilson(40, 100, 0.95, &lo, &hi);
    near(lo, 0.3094013, 1e-6);
    near(hi, 0.4979974, 1e-6);
    /* 0/10: lo is 0, center = half = (3.841459/20) / 1.3841459 = 0.1387664, hi = 0.2775328 */
    rec_wilson(0, 10, 0.95, &lo, &hi);
    assert_true(lo == 0);
    near(hi, 0.2775328, 1e-6);
    rec_wilson(10, 10, 0.95, &lo, &hi); /* the mirror image */
    near(lo, 1 - 0.2775328, 1e-6);
    assert_true(hi == 1);
    rec_wilson(0, 0, 0.95, &lo, &hi);
    assert_true(lo == 0 && hi == 1);
    rec_wilson(11, 10, 0.95, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
    rec_wilson(1, 10, 1.0, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
}

static void test_mean_ci(void **state)
{
    double mean, lo, hi;
    /* {1,2,3,4}: n = 4, sum = 10, sumsq = 30; mean 2.5, var = (30 - 100/4) / 3 = 5/3,
     * sd = 1.2909944, half = 1.959964 * 1.2909944 / sqrt(4) = 1.2651513 */
    rec_mean_ci(4, 10, 30, 0.95, &mean, &lo, &hi);
    assert_true(mean == 2.5);
    near(lo, 2.5 - 1.2651513, 1e-6);
    near(hi, 2.5 + 1.2651513, 1e-6);
    rec_mean_ci(1, 7, 49, 0.95, &mean, &lo, &hi);
    assert_true(mean == 7 && lo == 7 && hi == 7);
    rec_mean_ci(0, 0, 0, 0.95, &mean, &lo, &hi);
    assert_true(isnan(mean) && isnan(lo) && isnan(hi));
    /* constant values whose sums round: the variance is clamped at 0, not NaN */
    rec_mean_ci(3, 0.3, 0.03, 0.95, &mean, &lo, &hi);
    near(mean, 0.1, 1e-15);
    near(lo, 0.1, 1e-7);
    near(hi, 0.1, 1e-7);
}

static void test_two_prop_z_and_newcombe(void **state)
{
    struct rec_two_prop r;
    /* 200/1000 vs 250/1000: pooled p = 450/2000 = 0.225,
     * se = sqrt(0.225 * 0.775 * (1/1000 + 1/1000)) = sqrt(0.000348750) = 0.01867485,
     * z = 0.05 / 0.01867485 = 2.677398, p = erfc(2.677398 / sqrt 2) = 0.0074196 */
    assert_int_equal(rec_two_prop_test(200, 1000, 250, 1000, 0.95, 0.05, 0.01, &r), 0);
    near(r.p_a, 0.2, 1e-15);
    near(r.p_b, 0.25, 1e-15);
    near(r.diff, 0.05, 1e-15);
    near(r.lift, 0.25, 1e-12); /* 0.25 / 0.2 - 1 */
    near(r.z, 2.677398, 1e-4);
    near(r.p_value, 0.0074196, 1e-4);
    near(r.p_value, 0.0074196, 1e-6);

    /* Newcombe (1998), Stat Med 17:873, example (a): 56/70 - 48/80 = 0.8 - 0.6 = 0.2,
     * method 10 interval 0.0524 to 0.3339. Wilson 95%: 56/70 -> [0.691834, 0.876953],
     * 48/80 -> [0.490455, 0.700382];
     * lo = 0.2 - sqrt((0.8 - 0.691834)^2 + (0.700382 - 0.6)^2) = 0.2 - sqrt(0.011700 + 0.010077)
     *    = 0.2 - 0.147571 = 0.052429,
     * hi = 0.2 + sqrt((0.876953 - 0.8)^2 + (0.6 - 0.490455)^2) = 0.2 + sqrt(0.005922 + 0.012000)
     *    = 0.2 + 0.133873 = 0.333873.
     * The control (a) is 48/80, the treatment (b) 56/70. */
    assert_int_equal(rec_two_prop_test(48, 80, 56, 70, 0.95, 0.05, 0.01, &r), 0);
    near(r.diff, 0.2, 1e-12);
    near(r.diff_lo, 0.0524315, 1e-6);
    near(r.diff_hi, 0.3338727, 1e-6);
    near(r.lift, 1.0 / 3, 1e-12); /* 0.8 / 0.6 - 1 */
}

static void test_two_prop_sequential(void **state)
{
    struct rec_two_prop r;
    /* 200/1000 vs 250/1000, tau = 0.05:
     * V = 0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1000 = 0.00016 + 0.0001875 = 0.0003475,
     * tau^2 = 0.0025, V + tau^2 = 0.0028475, sqrt(V / (V + tau^2)) = sqrt(0.12203687) = 0.3493378,
     * exponent = tau^2 theta^2 / (2 V (V + tau^2)) = 0.0025 * 0.0025 / (2 * 0.0003475 * 0.0028475)
     *          = 6.25e-6 / 1.97901e-6 = 3.1581407,
     * Lambda = 0.3493378 * e^3.1581407 = 0.3493378 * 23.526812 = 8.218804, p = 1/Lambda = 0.1216722 */
    assert_int_equal(rec_two_prop_test(200, 1000, 250, 1000, 0.95, 0.05, 0.05, &r), 0);
    near(r.p_sequential, 0.1216722, 1e-6);
    assert_int_equal(r.significant, 0);
    assert_int_equal(rec_two_prop_test(200, 1000, 250, 1000, 0.95, 0.2, 0.05, &r), 0);
    assert_int_equal(r.significant, 1); /* 0.1217 < 0.2 */
    /* tau = 0.01: V / (V + 1e-4) = 0.7765363, sqrt = 0.8812130, exponent = 1e-4 * 0.0025 /
     * (2 * 0.0003475 * 0.0004475) = 2.5e-7 / 3.110125e-7 = 0.8038262, Lambda = 0.8812130 *
     * 2.2340726 = 1.9686938, p = 0.5079510: the fixed-horizon p of 0.0074 would claim a win,
     * the always-valid one does not yet */
    assert_int_equal(rec_two_prop_test(200, 1000, 250, 1000, 0.95, 0.05, 0.01, &r), 0);
    near(r.p_sequential, 0.5079510, 1e-6);
    assert_true(r.p_value < 0.01);
    assert_int_equal(r.significant, 0);

    /* a clear effect on a large sample: 5% vs 6% of 1e5, theta = 0.01,
     * V = (0.05 * 0.95 + 0.06 * 0.94) / 1e5 = 1.039e-6, exponent = 1e-4 * 1e-4 /
     * (2 * 1.039e-6 * 1.01039e-4) = 47.63, sqrt(V / (V + tau^2)) = 0.1009: p = 2.0e-20 */
    assert_int_equal(rec_two_prop_test(5000, 100000, 6000, 100000, 0.95, 0.05, 0.01, &r), 0);
    near(r.p_sequential / 2.038041e-20, 1, 1e-6);
    assert_int_equal(r.significant, 1);

    /* equal rates on a large sample: theta = 0, Lambda = sqrt(V / (V + tau^2)) < 1, p = 1 */
    assert_int_equal(rec_two_prop_test(5000, 100000, 5000, 100000, 0.95, 0.05, 0.01, &r), 0);
    assert_true(r.p_sequential == 1);
    assert_int_equal(r.significant, 0);
    assert_true(r.z == 0 && r.p_value == 1);
    /* nearly equal: 5000 vs 5030 of 1e5, theta = 0.0003, Lambda ~ 0.1 -> p = 1 */
    assert_int_equal(rec_two_prop_test(5000, 100000, 5030, 100000, 0.95, 0.05, 0.01, &r), 0);
    assert_true(r.p_sequential == 1);
    assert_int_equal(r.significant, 0);
}

static void test_two_prop_degenerate(void **state)
{
    struct rec_two_prop r;
    /* both 0%: V = 0 and the pooled rate is 0 too -> p_sequential 1, z 0, lift NaN */
    assert_int_equal(rec_two_prop_test(0, 100, 0, 100, 0.95, 0.05, 0.01, &r), 0);
    assert_true(r.p_sequential == 1 && r.p_value == 1 && r.z == 0);
    assert_true(isnan(r.lift));
    assert_true(r.diff == 0 && r.diff_lo < 0 && r.diff_hi > 0);
    /* 0/10 vs 10/10: plug-in V = 0, pooled rate 0.5: V = 0.25 * (1/10 + 1/10) = 0.05;
     * tau = 0.05: sqrt(0.05 / 0.0525) = 0.9759001, exponent = 0.0025 * 1 / (2 * 0.05 * 0.0525)
     * = 0.4761905, Lambda = 0.9759001 * 1.6099297 = 1.5711305, p = 0.6364844 */
    assert_int_equal(rec_two_prop_test(0, 10, 10, 10, 0.95, 0.05, 0.05, &r), 0);
    near(r.p_sequential, 0.6364844, 1e-6);

    /* invalid input: REC_EINVAL and NaNs */
    assert_int_equal(rec_two_prop_test(0, 0, 5, 10, 0.95, 0.05, 0.01, &r), REC_EINVAL);
    assert_true(isnan(r.p_a) && isnan(r.diff_lo) && isnan(r.p_sequential));
    assert_int_equal(r.significant, 0);
    assert_int_equal(rec_two_prop_test(5, 10, 0, 0, 0.95, 0.05, 0.01, &r), REC_EINVAL);
    assert_int_equal(rec_two_prop_test(11, 10, 5, 10, 0.95, 0.05, 0.01, &r), REC_EINVAL);
    assert_int_equal(rec_two_prop_test(-1, 10, 5, 10, 0.95, 0.05, 0.01, &r), REC_EINVAL);
    assert_int_equal(rec_two_prop_test(5, 10, 5, 10, 0.95, 0.05, 0, &r), REC_EINVAL);
    assert_int_equal(rec_two_prop_test(5, 10, 5, 10, 0.95, 0, 0.01, &r), REC_EINVAL);
    assert_int_equal(rec_two_prop_test(5, 10, 5, 10, 1, 0.05, 0.01, &r), REC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_cdf_quantile),
        cmocka_unit_test(test_wilson),
        cmocka_unit_test(test_mean_ci),
        cmocka_unit_test(test_two_prop_z_and_newcombe),
        cmocka_unit_test(test_two_prop_sequential),
        cmocka_unit_test(test_two_prop_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
