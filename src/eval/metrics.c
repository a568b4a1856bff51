/* metrics.c: top-K accuracy metrics with binary relevance.
 *
 * The definitions are those of shared/tools/evalkit.py `score` (the team's reference), written
 * down in docs/EVALUATION.md; tests/unit/test_metrics.c cross-checks against evalkit itself.
 * Two evalkit behaviours are kept on purpose so the numbers agree exactly:
 *   - an item that appears twice in a ranked list is counted as a hit at each position it
 *     appears (evalkit tests membership per position and never removes a matched item);
 *   - Precision@K divides by K even when the list is shorter than K.
 * MRR@K is not computed by evalkit; it is 1 / (rank of the first hit within the top K), 0 if none.
 */
#include "eval/metrics.h"

#include <math.h>
#include <stddef.h>

/* Binary search in the ascending array a[0..n). */
static int contains(const int32_t *a, int n, int32_t v)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == v;
}

/* Number of distinct values in the ascending array a[0..n): the size of the relevant set. */
static int count_distinct(const int32_t *a, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || a[i] != a[i - 1])
            d++;
    return d;
}

/* Adds one user's metrics to the running sums in acc (zero-initialise acc before the first call:
 * `struct rec_metrics m = {0};`). recs[0..n_recs) is the ranked list, best first; only the first
 * k entries count; recs may be NULL when n_recs <= 0 (an empty list: the user still counts, with
 * zero hits, as evalkit does for a user without recommendations). relevant[0..n_rel) must be
 * sorted ascending; repeated values count once. A call with n_rel <= 0, relevant == NULL, k <= 0
 * or acc == NULL changes nothing. Reads the arrays, keeps no pointer to them. Not thread-safe
 * for the same acc; distinct accumulators may be used concurrently. */
void rec_metrics_add(struct rec_metrics *acc, const int32_t *recs, int n_recs,
                     const int32_t *relevant, int n_rel, int k)
{
    if (!acc || !relevant || n_rel <= 0 || k <= 0)
        return;
    if (!recs || n_recs < 0)
        n_recs = 0;

    int n_relevant = count_distinct(relevant, n_rel);
    int depth = n_recs < k ? n_recs : k;
    int hits = 0, first_hit = 0;
    double dcg = 0.0, ap = 0.0;
    for (int r = 1; r <= depth; r++) {
        if (!contains(relevant, n_rel, recs[r - 1]))
            continue;
        hits++;
        dcg += 1.0 / log2((double)r + 1.0);
        ap += (double)hits / (double)r;
        if (!first_hit)
            first_hit = r;
    }

    /* The ideal list puts a relevant item at each of the first min(|relevant|, K) ranks. */
    int ideal = n_relevant < k ? n_relevant : k;
    double idcg = 0.0;
    for (int r = 1; r <= ideal; r++)
        idcg += 1.0 / log2((double)r + 1.0);

    acc->precision += (double)hits / (double)k;
    acc->recall += (double)hits / (double)n_relevant;
    acc->ndcg += dcg / idcg; /* ideal >= 1, so idcg >= 1 */
    acc->map += ap / (double)ideal;
    acc->hr += hits > 0 ? 1.0 : 0.0;
    acc->mrr += first_hit ? 1.0 / (double)first_hit : 0.0;
    acc->n_users++;
}

/* Divides the sums in acc by acc->n_users, leaving means. With n_users == 0 every metric stays
 * 0 (evalkit would divide by zero). Call exactly once; a second call would divide again.
 * Not thread-safe for the same acc. */
void rec_metrics_finish(struct rec_metrics *acc)
{
    if (!acc || acc->n_users <= 0)
        return;
    double n = (double)acc->n_users;
    acc->precision /= n;
    acc->recall /= n;
    acc->ndcg /= n;
    acc->map /= n;
    acc->hr /= n;
    acc->mrr /= n;
}
