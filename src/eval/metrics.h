/* metrics.h: top-K accuracy metrics, definitions as in docs/EVALUATION.md and
 * shared/tools/evalkit.py (binary relevance):
 *   Precision@K = hits / K;  Recall@K = hits / |relevant|;  HR@K = 1 if hits > 0;
 *   NDCG@K = DCG / IDCG with gain 1/log2(rank+1), IDCG over min(|relevant|, K) hits;
 *   MAP@K = (sum over hit ranks r of precision@r) / min(|relevant|, K);  MRR@K = 1/first hit rank.
 * Averages are over users with at least one relevant item.
 * Also: the same metrics at several K from one ranked list (rec_metrics_at), and per-user AUC over
 * the full score vector (rec_auc).
 */
#ifndef REC_EVAL_METRICS_H
#define REC_EVAL_METRICS_H

#include <stdint.h>

struct rec_metrics {
    double precision, recall, ndcg, map, hr, mrr;
    int64_t n_users;   /* users averaged over */
};

/* Accumulates one user: ranked list recs[0..n_recs) (best first; only the first k count) against
 * the sorted array relevant[0..n_rel). Users with n_rel == 0 are ignored. */
void rec_metrics_add(struct rec_metrics *acc, const int32_t *recs, int n_recs,
                     const int32_t *relevant, int n_rel, int k);
/* Turns the sums into means (call once after all users). */
void rec_metrics_finish(struct rec_metrics *acc);

/* One cut-off and its accumulator. Set k (>= 1) and zero m before the first add. */
struct rec_metrics_at {
    int k;
    struct rec_metrics m;
};

/* Scores one ranked list at every at[0..n_at).k in one pass over its first max(k) entries;
 * at[i].m ends up exactly (bit for bit) as n separate rec_metrics_add calls would leave it.
 * The k need not be sorted; entries with k <= 0 are left alone. Same arguments and rules as
 * rec_metrics_add otherwise. Not thread-safe for the same array. */
void rec_metrics_add_at(struct rec_metrics_at *at, int n_at, const int32_t *recs, int n_recs,
                        const int32_t *relevant, int n_rel);
/* rec_metrics_finish on each of at[0..n_at). */
void rec_metrics_finish_at(struct rec_metrics_at *at, int n_at);

/* AUC averaged over users. Zero-initialise: `struct rec_auc a = {0};`. */
struct rec_auc {
    double auc;        /* sum of per-user AUCs; their mean after rec_metrics_auc_finish */
    int64_t n_users;   /* users with at least one relevant and one non-relevant candidate */
};

/* AUC of one user: candidates are the items i < n_items with excluded[i] == 0 (excluded may be
 * NULL: every item); positives are the candidates listed in relevant[0..n_rel) (sorted
 * ascending; repeats, excluded items and values outside [0, n_items) are ignored); negatives are
 * the other candidates. *auc = (pairs with score(pos) > score(neg) + 1/2 * pairs with equal
 * scores) / (|pos| * |neg|), computed from midranks in O(n_items) time after a radix sort.
 * NaN scores rank below everything (-INFINITY included) and tie with each other.
 * Sets *auc = NAN when there is no positive or no negative candidate. Returns 0, REC_EINVAL
 * (NULL scores or auc, n_items < 0, or relevant NULL with n_rel > 0) or REC_ENOMEM (uses
 * 16 * n_items bytes of temporary memory). Thread-safe: no shared state. */
int rec_metrics_auc_user(const float *scores, const uint8_t *excluded, int32_t n_items,
                         const int32_t *relevant, int n_rel, double *auc);
/* Adds one user's AUC to acc (users whose AUC is undefined are skipped, not counted). Same
 * arguments and errors as rec_metrics_auc_user; on error acc is unchanged. */
int rec_metrics_auc_add(struct rec_auc *acc, const float *scores, const uint8_t *excluded,
                        int32_t n_items, const int32_t *relevant, int n_rel);
/* Turns the sum into the mean (call once); 0 when no user counted. */
void rec_metrics_auc_finish(struct rec_auc *acc);

#endif
