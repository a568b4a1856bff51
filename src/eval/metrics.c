/* metrics.c: top-K accuracy metrics with binary relevance.
 *
 * The definitions are those of shared/tools/evalkit.py `score` (the team's reference), written
 * down in docs/EVALUATION.md; tests/unit/test_metrics.c cross-checks against evalkit itself.
 * Two evalkit behaviours are kept on purpose so the numbers agree exactly:
 *   - an item that appears twice in a ranked list is counted as a hit at each position it
 *     appears (evalkit tests membership per position and never removes a matched item);
 *   - Precision@K divides by K even when the list is shorter than K.
 * MRR@K is not computed by evalkit; it is 1 / (rank of the first hit within the top K), 0 if none.
 *
 * AUC ranks the candidates by a radix sort of order-preserving integer keys of their scores and
 * sums the positives' midranks as integers (twice each, so halves stay exact): the result is
 * exactly the pair-counting definition, ties counting 1/2.
 */
#include "eval/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

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
    struct rec_metrics_at one = {k, *acc};
    rec_metrics_add_at(&one, 1, recs, n_recs, relevant, n_rel);
    *acc = one.m;
}

/* Running sums over the first r ranks of one list; advanced one rank at a time, so the sums at
 * any depth are bit for bit those of a fresh loop to that depth. */
struct prefix {
    int r;              /* ranks consumed */
    int hits, first_hit;
    double dcg, ap;
    int ideal_r;        /* ranks of the ideal list consumed */
    double idcg;
};

static void advance(struct prefix *p, int depth, int ideal, const int32_t *recs,
                    const int32_t *relevant, int n_rel)
{
    if (depth < p->r || ideal < p->ideal_r) /* k not ascending: start over */
        *p = (struct prefix){0};
    for (int r = p->r + 1; r <= depth; r++) {
        if (!contains(relevant, n_rel, recs[r - 1]))
            continue;
        p->hits++;
        p->dcg += 1.0 / log2((double)r + 1.0);
        p->ap += (double)p->hits / (double)r;
        if (!p->first_hit)
            p->first_hit = r;
    }
    p->r = depth;
    for (int r = p->ideal_r + 1; r <= ideal; r++)
        p->idcg += 1.0 / log2((double)r + 1.0);
    p->ideal_r = ideal;
}

/* Scores recs against relevant at every at[i].k; see metrics.h. A cut-off past the previous one
 * continues from the previous sums, so ascending k cost one pass over max(k) ranks; a smaller k
 * restarts from rank 1. */
void rec_metrics_add_at(struct rec_metrics_at *at, int n_at, const int32_t *recs, int n_recs,
                        const int32_t *relevant, int n_rel)
{
    if (!at || n_at <= 0 || !relevant || n_rel <= 0)
        return;
    if (!recs || n_recs < 0)
        n_recs = 0;
    int n_relevant = count_distinct(relevant, n_rel);
    struct prefix p = {0};
    for (int i = 0; i < n_at; i++) {
        int k = at[i].k;
        if (k <= 0)
            continue;
        int depth = n_recs < k ? n_recs : k;
        /* The ideal list puts a relevant item at each of the first min(|relevant|, K) ranks. */
        int ideal = n_relevant < k ? n_relevant : k;
        advance(&p, depth, ideal, recs, relevant, n_rel);

        struct rec_metrics *acc = &at[i].m;
        acc->precision += (double)p.hits / (double)k;
        acc->recall += (double)p.hits / (double)n_relevant;
        acc->ndcg += p.dcg / p.idcg; /* ideal >= 1, so idcg >= 1 */
        acc->map += p.ap / (double)ideal;
        acc->hr += p.hits > 0 ? 1.0 : 0.0;
        acc->mrr += p.first_hit ? 1.0 / (double)p.first_hit : 0.0;
        acc->n_users++;
    }
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

/* Means of every accumulator in at[0..n_at); same rules as rec_metrics_finish. */
void rec_metrics_finish_at(struct rec_metrics_at *at, int n_at)
{
    for (int i = 0; at && i < n_at; i++)
        rec_metrics_finish(&at[i].m);
}

/* ---- AUC ------------------------------------------------------------------------------- */

/* An unsigned key whose order is the order of the scores: NaN -> 0, below -INFINITY's key;
 * -0 and +0 map to one key because they compare equal. */
static uint32_t score_key(float s)
{
    if (isnan(s))
        return 0;
    if (s == 0.0f)
        s = 0.0f;
    uint32_t u;
    memcpy(&u, &s, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* LSD radix sort of the 33 low bits of a[0..n) (key << 1 | positive flag) in three 11-bit
 * passes through tmp. Returns the buffer that holds the sorted values (tmp, after an odd
 * number of passes). */
static uint64_t *radix_sort33(uint64_t *a, uint64_t *tmp, size_t n)
{
    enum { BITS = 11, BUCKETS = 1 << BITS };
    size_t count[BUCKETS];
    for (int pass = 0; pass < 3; pass++) {
        int shift = pass * BITS;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & (BUCKETS - 1)]++;
        size_t sum = 0;
        for (int b = 0; b < BUCKETS; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & (BUCKETS - 1)]++] = a[i];
        uint64_t *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/* Twice the Mann-Whitney U of the positives in the sorted values v[0..n): sum over positives of
 * twice their 1-based midrank (a + b for a tie group at ranks a..b), minus P (P + 1). */
static uint64_t twice_u(const uint64_t *v, size_t n, uint64_t n_pos)
{
    uint64_t r2 = 0;
    for (size_t a = 0, b; a < n; a = b) {
        uint64_t pos = 0;
        for (b = a; b < n && (v[b] >> 1) == (v[a] >> 1); b++)
            pos += v[b] & 1;
        r2 += pos * ((uint64_t)a + 1 + (uint64_t)b); /* ranks a+1 .. b */
    }
    return r2 - n_pos * (n_pos + 1);
}

/* Per-user AUC; see metrics.h. */
int rec_metrics_auc_user(const float *scores, const uint8_t *excluded, int32_t n_items,
                         const int32_t *relevant, int n_rel, double *auc)
{
    if (!scores || !auc || n_items < 0 || (n_rel > 0 && !relevant))
        return REC_EINVAL;
    *auc = NAN;
    if (n_rel <= 0 || n_items == 0)
        return REC_OK;
    uint64_t *buf = malloc(2 * (size_t)n_items * sizeof *buf);
    if (!buf)
        return REC_ENOMEM;
    size_t n = 0;
    uint64_t n_pos = 0;
    int rp = 0;
    for (int32_t i = 0; i < n_items; i++) {
        while (rp < n_rel && relevant[rp] < i)
            rp++;
        if (excluded && excluded[i])
            continue;
        uint64_t pos = rp < n_rel && relevant[rp] == i;
        n_pos += pos;
        buf[n++] = (uint64_t)score_key(scores[i]) << 1 | pos;
    }
    uint64_t n_neg = n - n_pos;
    if (n_pos > 0 && n_neg > 0) {
        const uint64_t *v = radix_sort33(buf, buf + n_items, n);
        *auc = (double)twice_u(v, n, n_pos) / (2.0 * (double)n_pos * (double)n_neg);
    }
    free(buf);
    return REC_OK;
}

int rec_metrics_auc_add(struct rec_auc *acc, const float *scores, const uint8_t *excluded,
                        int32_t n_items, const int32_t *relevant, int n_rel)
{
    if (!acc)
        return REC_EINVAL;
    double a;
    int rc = rec_metrics_auc_user(scores, excluded, n_items, relevant, n_rel, &a);
    if (rc == REC_OK && !isnan(a)) {
        acc->auc += a;
        acc->n_users++;
    }
    return rc;
}

void rec_metrics_auc_finish(struct rec_auc *acc)
{
    if (acc && acc->n_users > 0)
        acc->auc /= (double)acc->n_users;
}
