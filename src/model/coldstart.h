/* coldstart.h: latent factors for items without interactions, from their content.
 *
 * Choice: k-nearest neighbours in content space. The cold item's factor vector is the
 * similarity-weighted mean of the factors of its `neighbors` most content-similar items that
 * have history (cosine of TF-IDF vectors, rec_content_neighbors_of_*):
 *     out = sum_j sim_j y_j / sum_j sim_j
 * It needs no training of its own, works for any factor model whose item rows line up with the
 * content model's item indexes (iALS, BPR), and lands a new item among the items it resembles,
 * so dot(user, out) ranks it like its look-alikes. A regression from content to factors (as in
 * DropoutNet or a ridge map) would need a fit step per factor model; kNN is the simple baseline
 * that such maps are measured against. When no item with history shares a term with the cold
 * item, out is the plain mean of all factors with history (a "typical item") and the functions
 * return REC_ENOTFOUND, so callers can tell a content-based estimate from the fallback.
 *
 * Both functions are thread-safe (the content model is immutable; out is the caller's).
 */
#ifndef REC_MODEL_COLDSTART_H
#define REC_MODEL_COLDSTART_H

#include <stdint.h>

#include "model/model.h"

/* Factors for the fitted item `item` of the content model (its own row in item_factors is
 * ignored, so this also serves items whose factors are stale). item_factors is n_items x k
 * row-major with n_items = rec_content_n_items(content); has_history[i] != 0 marks rows that
 * hold trained factors (NULL = all but item). neighbors is 1..1024. Writes k floats to out.
 * Returns 0, REC_ENOTFOUND (no similar item with history: out is the mean fallback),
 * REC_EINVAL (bad arguments, item out of range, not a content model) or REC_ENOMEM. */
int rec_coldstart_item_factors(const struct rec_model *content, int32_t item,
                               const float *item_factors, int k, const uint8_t *has_history,
                               int neighbors, float *out);

/* The same for an item known only by its JSON document (an item added after the fit); the
 * content model's vocabulary and IDF are used, unknown terms ignored. Also REC_EFORMAT when
 * doc_json is not a JSON object (out is then untouched). */
int rec_coldstart_doc_factors(const struct rec_model *content, const char *doc_json,
                              const float *item_factors, int k, const uint8_t *has_history,
                              int neighbors, float *out);

/* rec_coldstart_item_factors for the fitted items items[0..n) at once, on up to `threads`
 * threads (0 = one per CPU), for a bulk fit: k floats per item to out (n x k, row j for
 * items[j]) and its code to status[j]: 0 (the row equals rec_coldstart_item_factors's, bit for
 * bit), REC_ENOTFOUND (no similar item with history: a zero row, no mean fallback is computed),
 * REC_EINVAL (item out of range) or REC_ENOMEM. Returns 0, or REC_EINVAL / REC_ENOMEM before
 * any item is done, or REC_ECANCELED when a halt (core/halt.h) left items undone. */
int rec_coldstart_items_factors(const struct rec_model *content, const int32_t *items, int32_t n,
                                const float *item_factors, int k, const uint8_t *has_history,
                                int neighbors, int threads, float *out, int *status);

#endif
