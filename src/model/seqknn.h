/* seqknn.h: sequence-local item co-occurrence kNN, as a recd model type ("seqknn").
 *
 * Like itemknn, but two items co-occur only where they sit close together in one user's
 * time-ordered history: MovieLens users rate many movies in one sitting, in an order the site
 * drives, so neighbours in that order are related in a way the global co-occurrence (and iALS)
 * does not see. Parameters (model.h spec table, in order; defaults chosen on a validation carve
 * of MovieLens-100K, see seqknn.c):
 *   neighbors   100   neighbours kept per item (1..10000)
 *   window      10    only pairs at most this many positions apart count (1..1000)
 *   decay       0.5   a pair d positions apart weighs d^-decay (0..3; 0 = flat window)
 *   shrink      5     added to every denominator (0..1000)
 *   asym_alpha  0.5   exponent of the asymmetric cosine (0..1; 0.5 is the cosine)
 *   sim_pow     2     kept similarities are raised to this power (0.25..16)
 * With w_u = 1/log(1 + |history of u|), pos_u(i) the rank of i in u's history ordered by
 * (time, item index) and n_i = sum over u holding i of w_u:
 *   c_ij = sum_u w_u d^-decay over u holding i and j with d = |pos_u(i) - pos_u(j)| <= window
 *   sim(i, j) = c_ij / (n_i^alpha n_j^(1-alpha) + shrink)
 * Each item keeps its `neighbors` best j (c_ij > 0), raised to sim_pow and scaled to sum 1, as
 * itemknn's tuned default does (normalize=1, user_weight=1).
 * fit needs in->ui_ts (event times); without them it fails with REC_EINVAL.
 * score: scores[t] = sum over distinct history items h of sim(h, t); history times are not used
 * (a candidate has no time to compare with). No persistence (save/load NULL).
 */
#ifndef REC_MODEL_SEQKNN_H
#define REC_MODEL_SEQKNN_H

#include "model/model.h"

extern const struct rec_model_type rec_model_seqknn;

#endif
