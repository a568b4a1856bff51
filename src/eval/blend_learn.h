/* blend_learn.h: learning a blend's source weights on a validation split. */
#ifndef REC_EVAL_BLEND_LEARN_H
#define REC_EVAL_BLEND_LEARN_H

#include "eval/runner.h"
#include "model/blend.h"

/* With b's sources fitted on valid's training part, sets b->weight[] to maximize NDCG@k on
 * valid's test part by coordinate ascent over a grid of weights, starting from the best single
 * source. *best_ndcg gets the validation NDCG@k reached. 0 or a negative code. */
int rec_blend_learn(struct rec_blend *b, const struct rec_eval_split *valid, int k, int threads,
                    double *best_ndcg);

#define REC_BLEND_LEARN_MAX_CARVES 8

/* The same over n_carves (1..REC_BLEND_LEARN_MAX_CARVES) validation splits: b[j] holds the
 * sources (same types, same order) fitted on valid[j]'s training part, and the weights maximize
 * the mean of the carves' NDCG@k, so a weight that only fits one carve's noise does not move.
 * Every b[j] gets the same weights; *best_ndcg the mean reached. 0, REC_EINVAL (n_carves out of
 * range) or REC_ENOMEM. */
int rec_blend_learn_carves(struct rec_blend *b, const struct rec_eval_split *valid, int n_carves,
                           int k, int threads, double *best_ndcg);

#endif
