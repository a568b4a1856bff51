/* bpr.h: Bayesian Personalized Ranking (Rendle, Freudenthaler, Gantner, Schmidt-Thieme 2009):
 * matrix factorization with an item bias, trained by SGD on (user, positive, negative) triples.
 *
 * Every stored interaction with a finite strength > 0 is one positive; strengths beyond that are
 * ignored. The score of item i for a user is x_u . y_i + b_i. Parameters, in spec-table order:
 *     factors, lr, reg, reg_bias, epochs, neg_sampling, neg_alpha, seed, init_std
 * (see the table in bpr.c for ranges and defaults). Training threads come from
 * rec_train_input.threads. With threads = 1 a fit depends only on (data, params); with more it
 * also depends on how the threads interleave (lock-free Hogwild updates of shared rows).
 *
 * Scoring a user unknown at fit time (user == -1), or one whose history now holds more distinct
 * items than at fit time, folds the history in: a fixed number of SGD passes on a user vector
 * alone, item rows fixed, seeded by the history, so the same query always gives the same scores.
 * A fitted model is immutable; score and similar are thread-safe.
 */
#ifndef REC_MODEL_BPR_H
#define REC_MODEL_BPR_H

#include <stdint.h>

#include "model/model.h"

extern const struct rec_model_type rec_model_bpr;

/* Walker/Vose alias table, the popularity-aware negative sampler (exposed for its tests): draws
 * i < n with probability weight[i] / sum(weight) in O(1). Draw t uniform in [0, n), keep it with
 * probability prob[t], else take alias[t]. */
struct rec_bpr_alias {
    float *prob;      /* n acceptance probabilities in [0, 1] */
    int32_t *alias;   /* n fallbacks */
    int32_t n;        /* 0 for an empty table */
};

/* Builds a from n >= 1 weights, each finite and >= 0, with a positive finite sum. Returns 0,
 * REC_EINVAL (a is then empty) or REC_ENOMEM. The caller frees with rec_bpr_alias_free. */
int rec_bpr_alias_init(struct rec_bpr_alias *a, const double *weight, int32_t n);
/* Frees a's arrays and empties it; NULL is a no-op. */
void rec_bpr_alias_free(struct rec_bpr_alias *a);
/* One draw from a non-empty table, advancing the splitmix64 stream *state. Thread-safe for
 * distinct states. */
int32_t rec_bpr_alias_draw(const struct rec_bpr_alias *a, uint64_t *state);

#endif
