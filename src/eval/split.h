/* split.h: train/test splits of an interaction log for offline evaluation. */
#ifndef REC_EVAL_SPLIT_H
#define REC_EVAL_SPLIT_H

#include <stdint.h>

struct rec_interaction {
    int32_t user;   /* dense index */
    int32_t item;   /* dense index */
    float value;    /* interaction strength */
    int64_t ts;     /* Unix seconds */
};

/* Per-user random split: for each user, round(ratio * n_u) of their interactions (chosen by a
 * seeded shuffle) train, the rest test. Sets is_test[j] for each of the n interactions.
 * Deterministic for a seed whatever the input order of users. Returns 0, REC_EINVAL, REC_ENOMEM. */
int rec_split_random(const struct rec_interaction *x, int64_t n, double ratio, uint64_t seed,
                     uint8_t *is_test);
/* Global temporal split: the earliest ratio share of interactions (by ts, ties by input order)
 * train, the rest test. */
int rec_split_temporal(const struct rec_interaction *x, int64_t n, double ratio, uint8_t *is_test);

#endif
