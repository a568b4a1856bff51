/* auc.c: binned streaming AUC with a lazily decayed copy; see auc.h.
 *
 * From per-bin counts P[b] (positives) and N[b] (negatives), bins ascending in p:
 *     AUC = sum_b P[b] (sum_{c<b} N[c] + N[b] / 2) / (sum P * sum N),
 * the Mann-Whitney statistic with every pair inside a bin counted as a tie.
 */
#include "rank/auc.h"

#include <math.h>
#include <string.h>

#include "core/err.h"
#include "model/binio.h"

/* inc is rescaled to 1 beyond this, 256 half-lives after the last rescale. The bin sums then
 * stay below about 2^256 half_life, so their products in an AUC stay far from overflow for any
 * half-life below 2^200. A weight that underflows to 0 in a rescale was below 2^-1000 of the
 * newest one, which no AUC can see. */
#define INC_MAX 0x1p256

void rec_auc_init(struct rec_auc *a, double half_life_examples)
{
    memset(a, 0, sizeof *a);
    if (isfinite(half_life_examples) && half_life_examples > 0) {
        a->half_life = half_life_examples;
        a->growth = exp2(1.0 / half_life_examples);
        a->inc = 1.0;
    }
}

static int bin_of(double p)
{
    if (!(p > 0))
        return 0;
    if (p >= 1)
        return REC_AUC_BINS - 1;
    int b = (int)(p * REC_AUC_BINS);
    return b < REC_AUC_BINS ? b : REC_AUC_BINS - 1;
}

static void rescale(struct rec_auc *a)
{
    double s = 1.0 / a->inc;
    for (int c = 0; c < 2; c++) {
        for (int b = 0; b < REC_AUC_BINS; b++)
            a->recent[c][b] *= s;
        a->recent_n[c] *= s;
    }
    a->inc = 1.0;
}

void rec_auc_add(struct rec_auc *a, double p, int y)
{
    if (isnan(p))
        return;
    int c = y ? 1 : 0, b = bin_of(p);
    a->n[c]++;
    a->count[c][b]++;
    if (a->half_life > 0) {
        a->recent[c][b] += a->inc;
        a->recent_n[c] += a->inc;
        a->inc *= a->growth;
        if (a->inc > INC_MAX)
            rescale(a);
    }
}

double rec_auc_value(const struct rec_auc *a)
{
    if (a->n[0] == 0 || a->n[1] == 0)
        return NAN;
    double below = 0, sum = 0; /* negatives in lower bins; the numerator */
    for (int b = 0; b < REC_AUC_BINS; b++) {
        double neg = (double)a->count[0][b];
        sum += (double)a->count[1][b] * (below + 0.5 * neg);
        below += neg;
    }
    return sum / ((double)a->n[0] * (double)a->n[1]);
}

double rec_auc_recent(const struct rec_auc *a)
{
    if (!(a->half_life > 0) || a->recent_n[0] <= 0 || a->recent_n[1] <= 0)
        return NAN;
    double below = 0, sum = 0;
    for (int b = 0; b < REC_AUC_BINS; b++) {
        double neg = a->recent[0][b];
        sum += a->recent[1][b] * (below + 0.5 * neg);
        below += neg;
    }
    /* the sums of bins, not recent_n: the two drift apart by rounding, and the AUC must stay
     * in [0,1] */
    double pos = 0;
    for (int b = 0; b < REC_AUC_BINS; b++)
        pos += a->recent[1][b];
    return pos > 0 && below > 0 ? fmin(1.0, sum / (pos * below)) : NAN;
}

int64_t rec_auc_count(const struct rec_auc *a, int y) { return a->n[y ? 1 : 0]; }

void rec_auc_write(const struct rec_auc *a, struct rec_binw *w)
{
    rec_binw_u32(w, REC_AUC_BINS);
    rec_binw_f64(w, a->half_life);
    for (int c = 0; c < 2; c++) {
        rec_binw_u64(w, (uint64_t)a->n[c]);
        for (int b = 0; b < REC_AUC_BINS; b++)
            rec_binw_u64(w, (uint64_t)a->count[c][b]);
    }
    if (!(a->half_life > 0))
        return;
    rec_binw_f64(w, a->inc);
    for (int c = 0; c < 2; c++) {
        rec_binw_f64(w, a->recent_n[c]);
        for (int b = 0; b < REC_AUC_BINS; b++)
            rec_binw_f64(w, a->recent[c][b]);
    }
}

static int finite_nonneg(double x) { return isfinite(x) && x >= 0; }

int rec_auc_read(struct rec_auc *a, struct rec_binr *r)
{
    if (rec_binr_u32(r) != REC_AUC_BINS && !r->rc)
        return rec_binr_fail(r, REC_EFORMAT);
    double hl = rec_binr_f64(r);
    if (r->rc)
        return r->rc;
    if (!(hl == 0 || (isfinite(hl) && hl > 0)))
        return rec_binr_fail(r, REC_EFORMAT);
    rec_auc_init(a, hl);
    for (int c = 0; c < 2 && !r->rc; c++) {
        uint64_t n = rec_binr_u64(r), sum = 0;
        for (int b = 0; b < REC_AUC_BINS; b++) {
            uint64_t k = rec_binr_u64(r);
            if (k > (uint64_t)INT64_MAX - sum) /* also keeps every count below 2^63 */
                return rec_binr_fail(r, REC_EFORMAT);
            sum += k;
            a->count[c][b] = (int64_t)k;
        }
        if (!r->rc && sum != n)
            return rec_binr_fail(r, REC_EFORMAT);
        a->n[c] = (int64_t)n;
    }
    if (r->rc || !(hl > 0))
        return r->rc;
    a->inc = rec_binr_f64(r);
    if (!r->rc && !(isfinite(a->inc) && a->inc >= 1 && a->inc <= INC_MAX * a->growth))
        return rec_binr_fail(r, REC_EFORMAT);
    for (int c = 0; c < 2 && !r->rc; c++) {
        a->recent_n[c] = rec_binr_f64(r);
        int ok = finite_nonneg(a->recent_n[c]);
        for (int b = 0; b < REC_AUC_BINS; b++) {
            a->recent[c][b] = rec_binr_f64(r);
            ok &= finite_nonneg(a->recent[c][b]);
        }
        if (!r->rc && !ok)
            return rec_binr_fail(r, REC_EFORMAT);
    }
    return r->rc;
}
