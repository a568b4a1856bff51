/* auc.h: streaming ROC AUC for progressive validation of an online ranker (each example is
 * scored before it is learned, as rec_fm_learn returns; Blum, Kalai, Langford, "Beating the
 * Hold-Out: Bounds for K-fold and Progressive Cross-Validation", COLT 1999).
 *
 * AUC is the probability that a random positive scores above a random negative, ties counting
 * half (Hanley & McNeil, Radiology 1982; Fawcett, "An introduction to ROC analysis", 2006).
 * Predictions in [0,1] fall into REC_AUC_BINS equal bins per class and the AUC is computed from
 * the bin counts, pairs within one bin counting half: exact for predictions that differ by at
 * least a bin width, off by at most half the share of pairs sharing a bin otherwise.
 *
 * Besides the cumulative counts the tracker keeps an exponentially decayed copy (each example's
 * weight halves every half_life later examples), so a dashboard sees recent quality. The decay
 * is lazy: the weight of a new example grows by 2^(1/half_life) per example instead of every
 * count shrinking, and the counts are rescaled in one O(bins) pass when that weight gets large,
 * so an add is O(1) (O(bins) once per 256 half-lives) and a value O(bins).
 *
 * The struct is public so it can live inside another or on the stack (about 32 KiB); it owns
 * no memory and needs no free. Not thread-safe: callers lock (distinct trackers are independent).
 * rec_auc_write and rec_auc_read save and restore one (binio), for the served ranker's file.
 */
#ifndef REC_RANK_AUC_H
#define REC_RANK_AUC_H

#include <stdint.h>

#define REC_AUC_BINS 1000

struct rec_auc {
    int64_t n[2];                 /* examples per class (0: negative, 1: positive) */
    int64_t count[2][REC_AUC_BINS]; /* cumulative per class and bin */
    double half_life;             /* in examples; 0 when there is no decayed copy */
    double growth;                /* 2^(1/half_life): per-example growth of inc */
    double inc;                   /* weight of the next example, in the units of recent[][] */
    double recent[2][REC_AUC_BINS]; /* decayed per class and bin, scaled by 1/inc of now */
    double recent_n[2];           /* decayed per class, same units */
};

/* Empties a. half_life_examples > 0 (finite) keeps the decayed copy with that half-life; 0,
 * a negative or a non-finite value keeps none (rec_auc_recent is then NaN). */
void rec_auc_init(struct rec_auc *a, double half_life_examples);

/* Counts prediction p (clamped to [0,1]; NaN is ignored) for label y (nonzero: positive). */
void rec_auc_add(struct rec_auc *a, double p, int y);

/* AUC over every example added, in [0,1]; NaN unless both classes were seen. */
double rec_auc_value(const struct rec_auc *a);

/* AUC over the decayed counts; NaN unless both classes were seen, or without a decayed copy. */
double rec_auc_recent(const struct rec_auc *a);

/* Examples added with label y (nonzero: positives, 0: negatives). */
int64_t rec_auc_count(const struct rec_auc *a, int y);

struct rec_binw;
struct rec_binr;

/* Appends a to a binio file (model/binio.h): the bin count, the half-life, the cumulative counts
 * and, with a decayed copy, its state, so a tracker read back goes on exactly as a would
 * (about 16 KiB, 32 KiB with the decayed copy). Errors stick in w. */
void rec_auc_write(const struct rec_auc *a, struct rec_binw *w);

/* Reads a tracker written by rec_auc_write into *a. Returns r->rc: REC_EFORMAT for another bin
 * count, a bad half-life, counts that do not add up, or a negative or non-finite decayed
 * weight (r's first error sticks as binio's do); *a is then unspecified. */
int rec_auc_read(struct rec_auc *a, struct rec_binr *r);

#endif
