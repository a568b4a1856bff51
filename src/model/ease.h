/* ease.h: EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data") and its
 * denoising generalization (Steck 2020, EDLAE / full-rank DLAE), an item-item model with a
 * closed-form fit:
 *     L = lambda I + p/(1-p) diagMat(diag X'X),   P = (X'X + L)^-1,
 *     B = I - P diagMat(1 / diag(P))  (zero_diag = 1)   or   B = I - P L  (zero_diag = 0),
 * diag(B) set to 0, scored as x_u B. p = 0 with zero_diag = 1 is plain EASE. It keeps one dense
 * n_items x n_items float matrix (4 n^2 bytes), so fit refuses catalogs above max_items.
 *
 * Parameters, in spec order (model.h):
 *     lambda     L2 regularization added to the diagonal of X'X (1..1e5, log scale)
 *     binary     1 = every positive entry counts as 1, 0 = use the interaction strengths
 *     max_items  largest catalog fit accepts (1..100000)
 *     dropout    p of the denoising penalty (Steck 2020, "Autoencoders that don't overfit towards
 *                the identity"), 0..0.95; 0 = plain EASE. Default 0.5
 *     zero_diag  1 = EDLAE (diagonal of B constrained to 0), 0 = DLAE, B = (X'X + L)^-1 X'X with
 *                its diagonal dropped after the fit (default 0)
 *     pop_exp    beta, -1..1: columns of X are scaled by (n_i / mean n)^-beta (n_i = item i's
 *                count) before the fit and scores stay in that scale; > 0 demotes popular items.
 *                Default 0.05
 *
 * Scoring needs no user row: a query's current history is multiplied by B, so a user unknown at
 * fit time (user == -1) and events newer than the fit are reflected at once. A fitted model is
 * immutable; score and similar are thread-safe.
 */
#ifndef REC_MODEL_EASE_H
#define REC_MODEL_EASE_H

#include "model/model.h"

/* Indexes of the parameters in the params[] array of rec_model_ease. */
enum {
    REC_EASE_LAMBDA,
    REC_EASE_BINARY,
    REC_EASE_MAX_ITEMS,
    REC_EASE_DROPOUT,
    REC_EASE_ZERO_DIAG,
    REC_EASE_POP_EXP,
    REC_EASE_N_PARAMS
};

extern const struct rec_model_type rec_model_ease;

#endif
