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

/* Leave-last-N-out: each user's n_last latest interactions (by ts; equal ts: later input
 * position is later) test, the rest train; a user with <= n_last interactions keeps all of them
 * in training. n_last >= 0. Returns 0, REC_EINVAL, REC_ENOMEM; is_test untouched on error. */
int rec_split_last_n(const struct rec_interaction *x, int64_t n, int n_last, uint8_t *is_test);

#define REC_SPLIT_MAX_FOLDS 255

/* k-fold cross-validation: each user's interactions are shuffled (seed and user only, as in
 * rec_split_random) and dealt round-robin into k folds from a random starting fold, so a user's
 * fold sizes differ by at most 1. Sets fold[j] in [0, k) for each interaction; fold f is the test
 * set of round f, the others its training set. 2 <= k <= REC_SPLIT_MAX_FOLDS. Deterministic for
 * a seed whatever the input order of users. Returns 0, REC_EINVAL, REC_ENOMEM; fold untouched
 * on error. */
int rec_split_kfold(const struct rec_interaction *x, int64_t n, int k, uint64_t seed,
                    uint8_t *fold);
/* is_test[j] = (fold[j] == f) for j < n: the test mask of round f. */
void rec_split_fold_mask(const uint8_t *fold, int64_t n, int f, uint8_t *is_test);

#endif
