/* nbr_lists.h: per-item neighbour lists in CSR form, the fitted state of the item-kNN model
 * types (itemknn, seqknn). A fit writes at most k neighbours of item i into slot i * k of nbr and
 * sim and their count into indptr[i + 1]; rec_nbr_lists_compact then packs the lists. Scoring a
 * user sums the lists of their history items.
 */
#ifndef REC_MODEL_NBR_LISTS_H
#define REC_MODEL_NBR_LISTS_H

#include <stdint.h>

#include "model/model.h"

struct rec_nbr_lists {
    int32_t n_items;
    int64_t *indptr; /* n_items + 1; item i's list is [indptr[i], indptr[i+1]) */
    int32_t *nbr;    /* neighbours, best first, never i itself */
    float *sim;      /* their similarities: finite, > 0, non-increasing within a list */
};

/* Frees l's arrays (l itself is the caller's) and zeroes them. */
void rec_nbr_lists_free(struct rec_nbr_lists *l);

/* Moves item i's indptr[i + 1] entries from slot i * k to their CSR place, turns the counts into
 * offsets and gives the unused tail of nbr and sim back. */
void rec_nbr_lists_compact(struct rec_nbr_lists *l, int k);

/* scores[j] = sum over the distinct history items h of q (valid index, strength finite and > 0;
 * NULL strengths are 1 each) of w_h * sim(h, j), where w_h is 1 when binary, else h's summed
 * strengths. Returns 0, REC_EINVAL or REC_ENOMEM. */
int rec_nbr_lists_score(const struct rec_nbr_lists *l, const struct rec_user_query *q, int binary,
                        float *scores);

/* scores[j] = sim(item, j), 0 off item's list. Returns 0 or REC_EINVAL. */
int rec_nbr_lists_similar(const struct rec_nbr_lists *l, int32_t item, float *scores);

#endif
