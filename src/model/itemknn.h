/* itemknn.h: batch item-kNN with similarity variants, as a recd model type ("itemknn").
 *
 * Fit computes, from the item x user matrix, the similarity of every co-occurring item pair and
 * keeps each item's `neighbors` most similar items. Parameters (model.h spec table, in order;
 * defaults tuned on MovieLens-100K, see itemknn.c):
 *   neighbors    100   neighbours kept per item (1..10000)
 *   similarity   0     0 cosine, 1 asymmetric cosine (Aiolli 2013), 2 Jaccard (Tanimoto)
 *   shrink       5     added to every denominator (0..1000)
 *   asym_alpha   0.5   exponent of the asymmetric cosine (0..1; 0.5 is the cosine)
 *   binary       1     1: every positive entry counts 1; 0: entries weigh by their strength
 *   normalize    1     1: each kept list is scaled to sum to 1 (after the power)
 *   user_weight  1     1: a user's co-occurrences weigh 1/log(1 + |user history|)
 *   sim_pow      6     kept similarities are raised to this power (0.25..16; Aiolli's locality)
 * With c_ij = sum_u w_u r_ui r_uj and n_i = c_ii (r = 1 when binary, w_u = 1 unless user_weight):
 *   cosine      c_ij / (sqrt(n_i n_j) + shrink)
 *   asymmetric  c_ij / (n_i^alpha n_j^(1-alpha) + shrink)   i = the item whose list holds j
 *   Jaccard     c_ij / (n_i + n_j - c_ij + shrink)
 * Only pairs with c_ij > 0 are kept, so every stored similarity is > 0.
 *
 * score: scores[t] = sum over distinct history items h of r_h * sim(h, t) over h's kept list
 * (r_h = 1 when binary); items reached by no list score 0 (never -INFINITY), history items
 * included. The query's user row is not used: unknown users and grown histories score alike.
 * similar(i): the stored similarity for i's kept neighbours, 0 for every other item (i itself too).
 * A fitted model is immutable and thread-safe to score. Memory: O(n_items * neighbors).
 */
#ifndef REC_MODEL_ITEMKNN_H
#define REC_MODEL_ITEMKNN_H

#include "model/model.h"

extern const struct rec_model_type rec_model_itemknn;

#endif
