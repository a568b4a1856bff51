/* stats.c: statistics for the experiment report (see stats.h).
 *
 * Always-valid p-value: the mSPRT with a normal mixture.
 *   Johari, Koomen, Pekelis, Walsh, "Peeking at A/B Tests: Why it matters, and what to do about
 *   it", KDD 2017; Johari, Koomen, Pekelis, Walsh, "Always Valid Inference: Continuous
 *   Monitoring of A/B Tests", Operations Research 70(3), 2022.
 *
 * Let theta = p_b - p_a and theta^ = x_b/n_b - x_a/n_a, approximately N(theta, V) with
 * V = p_a(1 - p_a)/n_a + p_b(1 - p_b)/n_b (the CLT, as the papers do for two-sample binomial
 * data). Against H0: theta = 0, put a prior theta ~ N(0, tau^2) and integrate the likelihood:
 *
 *   Lambda = Int N(theta^; theta, V) N(theta; 0, tau^2) dtheta / N(theta^; 0, V)
 *          = N(theta^; 0, V + tau^2) / N(theta^; 0, V)
 *          = sqrt(V / (V + tau^2)) * exp(theta^2/(2V) - theta^2/(2(V + tau^2)))
 *          = sqrt(V / (V + tau^2)) * exp(tau^2 theta^2 / (2 V (V + tau^2))).
 *
 * (With V = sigma^2/n this is the papers' Lambda_n = sqrt(sigma^2/(sigma^2 + n tau^2)) *
 * exp(n^2 tau^2 Xbar^2 / (2 sigma^2 (sigma^2 + n tau^2))).) As a mixture of likelihood ratios,
 * Lambda_t is a nonnegative martingale with mean 1 under H0, so by Ville's inequality
 * P(sup_t Lambda_t >= 1/alpha) <= alpha: rejecting as soon as 1/Lambda_t < alpha, at any look,
 * keeps the false positive rate below alpha however often one looks. Hence p = min(1, 1/Lambda).
 * It is computed in logs, since the exponent reaches the hundreds on large samples.
 *
 * V uses the plug-in rates; when both sides are 0% or 100% it is 0 and the pooled rate stands
 * in (0 vs 100% has pooled variance > 0); when that is 0 too, both sides are identical and
 * the p-value is 1.
 */
#include "exp/stats.h"

#include "core/err.h"

#include <math.h>

/* Spelled out: M_PI and M_SQRT1_2 are POSIX extensions, not C11. */
#define SQRT1_2 0.70710678118654752440
#define SQRT_2PI 2.50662827463100050242

/* conf -> z with P(|Z| <= z) = conf */
static double two_sided_z(double conf)
{
    return rec_norm_quantile(0.5 + 0.5 * conf);
}

double rec_norm_cdf(double z)
{
    return 0.5 * erfc(-z * SQRT1_2);
}

/* Acklam's coefficients (P. J. Acklam, "An algorithm for computing the inverse normal
 * cumulative distribution function", 2003): relative error < 1.15e-9 before refinement. */
static const double qa[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                            -2.759285104469687e+02, 1.383577518672690e+02,
                            -3.066479806614716e+01, 2.506628277459239e+00};
static const double qb[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                            -1.556989798598866e+02, 6.680131188771972e+01,
                            -1.328068155288572e+01};
static const double qc[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                            -2.400758277161838e+00, -2.549732539343734e+00,
                            4.374664141464968e+00, 2.938163982698783e+00};
static const double qd[] = {7.784695709041462e-03, 3.224671290700398e-01,
                            2.445134137142996e+00, 3.754408661907416e+00};

/* Lower half, p in (0, 0.5]. */
static double quantile_lower(double p)
{
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((qc[0] * q + qc[1]) * q + qc[2]) * q + qc[3]) * q + qc[4]) * q + qc[5]) /
            ((((qd[0] * q + qd[1]) * q + qd[2]) * q + qd[3]) * q + 1);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((qa[0] * r + qa[1]) * r + qa[2]) * r + qa[3]) * r + qa[4]) * r + qa[5]) * q /
            (((((qb[0] * r + qb[1]) * r + qb[2]) * r + qb[3]) * r + qb[4]) * r + 1);
    }
    /* One Halley step on f(x) = cdf(x) - p: cubic convergence takes 1e-9 to rounding. In the
     * lower half cdf(x) is computed without cancellation (erfc of a positive argument). */
    double e = rec_norm_cdf(x) - p;
    double u = e * SQRT_2PI * exp(0.5 * x * x);
    if (!isfinite(u)) /* p below ~1e-308: exp overflows; keep Acklam's ~1e-9 */
        return x;
    return x - u / (1 + 0.5 * x * u);
}

double rec_norm_quantile(double p)
{
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    if (!(p > 0 && p < 1))
        return NAN;
    /* For p > 0.5, 1 - p is exact (Sterbenz), so the upper half is the mirror image and keeps
     * the lower half's accuracy. */
    return p <= 0.5 ? quantile_lower(p) : -quantile_lower(1 - p);
}

static void wilson_z(int64_t x, int64_t n, double z, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double nn = (double)n, p = (double)x / nn, z2 = z * z;
    double denom = 1 + z2 / nn;
    double center = (p + z2 / (2 * nn)) / denom;
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    *lo = x == 0 ? 0 : fmax(0, center - half);
    *hi = x == n ? 1 : fmin(1, center + half);
}

void rec_wilson(int64_t x, int64_t n, double conf, double *lo, double *hi)
{
    if (n < 0 || x < 0 || x > n || !(conf > 0 && conf < 1)) {
        *lo = *hi = NAN;
        return;
    }
    wilson_z(x, n, two_sided_z(conf), lo, hi);
}

void rec_mean_ci(int64_t n, double sum, double sumsq, double conf, double *mean, double *lo,
                 double *hi)
{
    if (n <= 0) {
        *mean = *lo = *hi = NAN;
        return;
    }
    double nn = (double)n;
    *mean = sum / nn;
    if (n == 1) {
        *lo = *hi = *mean;
        return;
    }
    double var = (sumsq - sum * sum / nn) / (nn - 1);
    double half = two_sided_z(conf) * sqrt(var > 0 ? var : 0) / sqrt(nn);
    *lo = *mean - half;
    *hi = *mean + half;
}

/* -log of the mSPRT's p-value denominator: log Lambda (see the top of the file). */
static double msprt_log_lambda(double theta, double v, double tau)
{
    double t2 = tau * tau;
    return 0.5 * log(v / (v + t2)) + t2 * theta * theta / (2 * v * (v + t2));
}

int rec_two_prop_test(int64_t x_a, int64_t n_a, int64_t x_b, int64_t n_b, double conf,
                      double alpha, double tau, struct rec_two_prop *out)
{
    if (n_a <= 0 || n_b <= 0 || x_a < 0 || x_b < 0 || x_a > n_a || x_b > n_b ||
        !(conf > 0 && conf < 1) || !(alpha > 0 && alpha < 1) || !(tau > 0) || isinf(tau)) {
        out->p_a = out->p_b = out->diff = out->diff_lo = out->diff_hi = NAN;
        out->lift = out->z = out->p_value = out->p_sequential = NAN;
        out->significant = 0;
        return REC_EINVAL;
    }
    double na = (double)n_a, nb = (double)n_b;
    double pa = (double)x_a / na, pb = (double)x_b / nb;
    out->p_a = pa;
    out->p_b = pb;
    out->diff = pb - pa;
    out->lift = pa > 0 ? pb / pa - 1 : NAN;

    /* Newcombe (1998), method 10: combine each rate's distance to its own Wilson limits. */
    double z = two_sided_z(conf), la, ua, lb, ub;
    wilson_z(x_a, n_a, z, &la, &ua);
    wilson_z(x_b, n_b, z, &lb, &ub);
    out->diff_lo = out->diff - sqrt((pb - lb) * (pb - lb) + (ua - pa) * (ua - pa));
    out->diff_hi = out->diff + sqrt((ub - pb) * (ub - pb) + (pa - la) * (pa - la));

    double pool = (double)(x_a + x_b) / (na + nb);
    double pooled_var = pool * (1 - pool) * (1 / na + 1 / nb);
    if (pooled_var > 0) {
        out->z = out->diff / sqrt(pooled_var);
        out->p_value = erfc(fabs(out->z) * SQRT1_2); /* 2 * (1 - cdf(|z|)), exact in tails */
    } else {
        out->z = 0; /* pooled rate 0 or 1: both sides identical */
        out->p_value = 1;
    }

    double v = pa * (1 - pa) / na + pb * (1 - pb) / nb;
    if (!(v > 0))
        v = pooled_var;
    out->p_sequential = 1;
    if (v > 0) {
        double ll = msprt_log_lambda(out->diff, v, tau);
        if (ll > 0)
            out->p_sequential = exp(-ll);
    }
    out->significant = out->p_sequential < alpha;
    return 0;
}
