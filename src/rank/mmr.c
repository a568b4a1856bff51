/* mmr.c: Maximal Marginal Relevance re-ranking with category caps (Carbonell & Goldstein,
 * SIGIR 1998) and intra-list diversity (Ziegler et al., WWW 2005). See mmr.h.
 *
 * The max-similarity term is kept per candidate and raised after each pick with one similarity
 * call against the new pick, so a list of k costs (k - 1) * n calls instead of the k^2 n / 2 of
 * recomputing it. */
#include "rank/mmr.h"

#include <math.h>
#include <stdint.h>

#include "core/err.h"

enum { ELIGIBLE = 0, PICKED = 1, CAPPED = 2 };

size_t rec_mmr_scratch_size(int n)
{
    if (n <= 0)
        return 0;
    return (size_t)n * sizeof(float) + (size_t)n;
}

/* Marks the still-eligible candidates of category c as capped once c has max_per picks. */
static void apply_cap(const int *category, int n, int max_per, int c, const int *out, int n_out,
                      uint8_t *state)
{
    int used = 0;
    for (int j = 0; j < n_out; j++)
        used += category[out[j]] == c;
    if (used < max_per)
        return;
    for (int i = 0; i < n; i++)
        if (state[i] == ELIGIBLE && category[i] == c)
            state[i] = CAPPED;
}

int rec_mmr(const float *rel, int n, int k, double diversity, rec_mmr_sim_fn sim, void *ctx,
            const int *category, int max_per_category, void *scratch, int *out, int *n_out)
{
    if (n_out)
        *n_out = 0;
    if (n < 0 || k < 0 || !n_out || !(diversity >= 0.0 && diversity <= 1.0))
        return REC_EINVAL;
    if (n == 0 || k == 0)
        return REC_OK;
    if (!rel || !scratch || !out || (diversity > 0.0 && !sim))
        return REC_EINVAL;

    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(rel[i]))
            return REC_EINVAL;
        if (rel[i] < lo)
            lo = rel[i];
        if (rel[i] > hi)
            hi = rel[i];
    }
    double range = hi - lo;
    float *maxsim = scratch;
    uint8_t *state = (uint8_t *)(maxsim + n);
    for (int i = 0; i < n; i++) {
        maxsim[i] = 0.0f;
        state[i] = ELIGIBLE;
    }
    int capped = category && max_per_category > 0;
    if (k > n)
        k = n;

    int picked = 0;
    while (picked < k) {
        int best = -1;
        double best_score = 0.0;
        for (int i = 0; i < n; i++) {
            if (state[i] != ELIGIBLE)
                continue;
            /* Raw rel at diversity 0: the rescaling is monotone but could merge close values. */
            double score;
            if (diversity == 0.0)
                score = rel[i];
            else {
                double r = range > 0.0 ? (rel[i] - lo) / range : 1.0;
                score = (1.0 - diversity) * r - diversity * (double)maxsim[i];
            }
            if (best < 0 || score > best_score || (score == best_score && rel[i] > rel[best])) {
                best = i;
                best_score = score;
            }
        }
        if (best < 0)
            break; /* everything left is over its category's cap */
        state[best] = PICKED;
        out[picked++] = best;
        if (capped && category[best] >= 0)
            apply_cap(category, n, max_per_category, category[best], out, picked, state);
        if (diversity > 0.0 && picked < k)
            for (int i = 0; i < n; i++) {
                if (state[i] != ELIGIBLE)
                    continue;
                float s = sim(ctx, i, best);
                if (s > maxsim[i]) /* false for NaN: counts as 0 */
                    maxsim[i] = s;
            }
    }
    *n_out = picked;
    return REC_OK;
}

double rec_ild(const int *list, int n, rec_mmr_sim_fn sim, void *ctx)
{
    if (n < 2 || !list || !sim)
        return 0.0;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float s = sim(ctx, list[i], list[j]);
            sum += 1.0 - (isnan(s) ? 0.0 : (double)s);
        }
    return sum / ((double)n * (double)(n - 1) / 2.0);
}
