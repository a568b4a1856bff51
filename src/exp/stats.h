/* stats.h: the statistics of the experiment report: normal distribution, confidence intervals
 * for rates and means, and the comparison of a treatment's rate with the control's, both as a
 * classical fixed-horizon test and as an always-valid (sequential) p-value that may be watched
 * every day without inflating false positives.
 *
 * Pure functions of their arguments: no globals, no allocation, all thread-safe.
 * Confidence levels are two-sided (0.95 -> z = 1.959964).
 */
#ifndef REC_EXP_STATS_H
#define REC_EXP_STATS_H

#include <stdint.h>

/* Standard normal CDF, 0.5 * erfc(-z / sqrt 2): accurate to a few ulps in both tails. */
double rec_norm_cdf(double z);

/* Inverse of rec_norm_cdf for p in (0,1): Acklam's rational approximation refined by one Halley
 * step, |error| < 1e-9 (in practice ~1e-15). Returns -INFINITY for p == 0, +INFINITY for p == 1
 * and NAN otherwise outside [0,1]. */
double rec_norm_quantile(double p);

/* Wilson score interval at confidence conf (e.g. 0.95) for x successes out of n trials: lo and
 * hi within [0,1] (lo == 0 when x == 0, hi == 1 when x == n). n == 0 gives [0, 1]; x < 0, x > n
 * or conf outside (0,1) give NANs. */
void rec_wilson(int64_t x, int64_t n, double conf, double *lo, double *hi);

/* Mean and normal-approximation confidence interval mean -+ z * sd / sqrt(n) from the count n,
 * the sum and the sum of squares of the values (sd: sample standard deviation, n - 1). n == 1
 * gives lo = hi = mean, n <= 0 gives NANs. Sums of squares lose precision when the mean is
 * large next to the spread (the variance is clamped at 0); shift the values first if so. */
void rec_mean_ci(int64_t n, double sum, double sumsq, double conf, double *mean, double *lo,
                 double *hi);

struct rec_two_prop {
    double p_a, p_b;               /* rates: a = control, b = treatment */
    double diff, diff_lo, diff_hi; /* p_b - p_a and its CI (Newcombe's hybrid score interval,
                                    * method 10, from the two Wilson intervals) */
    double lift;                   /* p_b / p_a - 1; NAN when p_a == 0 */
    double z, p_value;             /* pooled two-proportion z-test, two-sided; valid only at a
                                    * sample size fixed in advance, not when peeking */
    double p_sequential;           /* always-valid p-value (mSPRT, normal mixture) at this look */
    int significant;               /* p_sequential < alpha */
};

/* Compares treatment b (x_b of n_b) with control a (x_a of n_a).
 *
 * p_sequential is 1/Lambda for the mSPRT's mixture likelihood ratio now: under no difference,
 * the chance that it ever falls below alpha, at any of any number of looks, is at most alpha.
 * The running minimum over the looks (what the paper calls the always-valid p-value) has the
 * same guarantee; a caller that stores the previous value may report min(previous, now).
 *
 * tau is the standard deviation of the mSPRT's normal prior on the difference p_b - p_a, in
 * rate units, fixed before the data are seen (any tau > 0 keeps the guarantee). Choose it about
 * the size of the differences you expect or care to find: for CTRs around a few percent, lifts
 * of 5-20% are differences of 0.001-0.01, so 0.005-0.01. A tau far above the real difference
 * costs power on small effects; one far below delays detecting large ones.
 *
 * Returns 0, or REC_EINVAL (out filled with NANs, significant = 0) when n_a or n_b <= 0,
 * an x is < 0 or > its n, conf or alpha is outside (0,1), or tau <= 0. Thread-safe. */
int rec_two_prop_test(int64_t x_a, int64_t n_a, int64_t x_b, int64_t n_b, double conf,
                      double alpha, double tau, struct rec_two_prop *out);

#endif
