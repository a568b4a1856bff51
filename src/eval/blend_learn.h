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

#endif
