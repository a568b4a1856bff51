/* metrics.h: top-K accuracy metrics, definitions as in docs/EVALUATION.md and
 * shared/tools/evalkit.py (binary relevance):
 *   Precision@K = hits / K;  Recall@K = hits / |relevant|;  HR@K = 1 if hits > 0;
 *   NDCG@K = DCG / IDCG with gain 1/log2(rank+1), IDCG over min(|relevant|, K) hits;
 *   MAP@K = (sum over hit ranks r of precision@r) / min(|relevant|, K);  MRR@K = 1/first hit rank.
 * Averages are over users with at least one relevant item.
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

#endif
