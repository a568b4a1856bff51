/* hist_merge.h: a user's history as the fits see it, for the models that score or fold in a raw
 * event list (iALS, EASE, the item-kNN lists): one entry per item, repeats summed, as
 * rec_csr_from_triplets sums them for a fit's input.
 */
#ifndef REC_MODEL_HIST_MERGE_H
#define REC_MODEL_HIST_MERGE_H

#include <stdint.h>

struct rec_hist_entry {
    int32_t item;
    float w;
};

/* Sorts h[0..n) by item and sums the weights of repeated items into one entry each, in place;
 * returns how many entries remain. Which entries to take in (range, sign) is the caller's. */
int rec_hist_merge(struct rec_hist_entry *h, int n);

#endif
