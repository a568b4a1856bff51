/* drift.h: data and score drift between time windows.
 *
 * Wall-clock time is cut into windows of window_s seconds on a grid starting at the time given
 * to rec_drift_new. The current window counts item events (popularity) and served scores (a
 * histogram); the reference is the most recent completed window that had any observation (a
 * window with none, e.g. during an outage, never becomes the reference: comparing with the
 * traffic before the gap is more useful than comparing with nothing). rec_drift_status compares
 * the two with a smoothed KL divergence and raises an alert above a threshold.
 */
#ifndef REC_OBS_DRIFT_H
#define REC_OBS_DRIFT_H

#include <stddef.h>
#include <stdint.h>

/* Item indexes at or past this are ignored (a guard against a stray index allocating
 * gigabytes; the engine's dense indexes stay far below). */
#define REC_DRIFT_MAX_ITEMS (1 << 28)

/* KL(P || Q) in nats of two count vectors p, q over the same n bins (counts >= 0): each bin's
 * count plus alpha (additive smoothing), then normalized, so P_i = (p_i + alpha) /
 * (sum p + n * alpha). 0 when n == 0; NaN when alpha is not > 0 or p or q is NULL with n > 0.
 * Never negative (rounding is clamped). Pure, thread-safe. */
double rec_kl_divergence(const double *p, const double *q, size_t n, double alpha);

struct rec_drift_config {
    double window_s;           /* length of a window, wall-clock seconds, > 0 (default 3600) */
    int min_events;            /* a window with fewer item observations is not compared (200) */
    int min_scores;            /* same for scores (200) */
    double score_lo, score_hi; /* score histogram range, lo < hi (default 0..1); values outside
                                * are clamped into the end bins */
    int score_bins;            /* 1..10000 (default 40) */
    double threshold;          /* alert when either KL is above this, >= 0 (default 0.5) */
    double alpha;              /* smoothing, > 0 (default 0.5) */
};

/* Fills c with the defaults above. */
void rec_drift_config_default(struct rec_drift_config *c);

struct rec_drift;

/* Creates a tracker whose first window starts at now (wall seconds). c NULL means the defaults.
 * Returns 0 and *out (free with rec_drift_free), REC_EINVAL with a message in err (errlen bytes,
 * err may be NULL) for a bad config or a non-finite now, or REC_ENOMEM. */
int rec_drift_new(const struct rec_drift_config *c, double now, struct rec_drift **out, char *err,
                  size_t errlen);
/* Frees d; NULL is a no-op. */
void rec_drift_free(struct rec_drift *d);

/* Records one event on item (a dense index >= 0; the counts grow as needed) at wall time now,
 * rolling windows first. Negative items, items >= REC_DRIFT_MAX_ITEMS and observations that
 * find no memory are ignored. A now before the current window (a clock step back) counts in the
 * current window; NaN never rolls. Thread-safe (one mutex); O(1) amortized. */
void rec_drift_observe_item(struct rec_drift *d, int32_t item, double now);
/* Records one served score at now (NaN ignored), as above. Thread-safe, O(1). */
void rec_drift_observe_score(struct rec_drift *d, double score, double now);

struct rec_drift_status {
    double kl_popularity;      /* KL(current || reference) of item popularity over the union of
                                * items seen in either window; NAN when either window has fewer
                                * than min_events events or there is no reference yet */
    double kl_score;           /* same for the score histogram; NAN under min_scores */
    double window_start;       /* wall seconds */
    double reference_start;    /* NAN when there is no reference yet */
    int64_t current_events, reference_events, current_scores, reference_scores;
    int alert;                 /* kl_popularity or kl_score above threshold */
    double threshold;
};

/* Rolls windows to now, then fills *st. When the alert is on, logs one rec_warn line naming the
 * KL values and the threshold, once per current window (not per call). Thread-safe; costs
 * O(items seen in the two windows + score_bins), not O(catalog). */
void rec_drift_status(struct rec_drift *d, double now, struct rec_drift_status *st);

#endif
