/* ease.h: EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"), an
 * item-item model with a closed-form fit:
 *     G = X'X + lambda I,   P = G^-1,   B = I - P diagMat(1 / diag(P)),   diag(B) = 0,
 * scored as x_u B. It keeps one dense n_items x n_items float matrix (4 n^2 bytes), so fit
 * refuses catalogs above the max_items parameter.
 *
 * Parameters, in spec order (model.h):
 *     lambda     L2 regularization added to the diagonal of X'X (1..1e5, log scale)
 *     binary     1 = every positive entry counts as 1, 0 = use the interaction strengths
 *     max_items  largest catalog fit accepts (1..100000)
 *
 * Scoring needs no user row: a query's current history is multiplied by B, so a user unknown at
 * fit time (user == -1) and events newer than the fit are reflected at once. A fitted model is
 * immutable; score and similar are thread-safe.
 */
#ifndef REC_MODEL_EASE_H
#define REC_MODEL_EASE_H

#include "model/model.h"

/* Indexes of the parameters in the params[] array of rec_model_ease. */
enum { REC_EASE_LAMBDA, REC_EASE_BINARY, REC_EASE_MAX_ITEMS, REC_EASE_N_PARAMS };

extern const struct rec_model_type rec_model_ease;

#endif
