/* tracker.h: what happened after a recommendation: the served-list log and the attribution of
 * later events to the list, variant and position that led to them.
 *
 * Every list recd serves gets a recommendation_id. The tracker keeps the lists of the last
 * attribution window in memory; an event is attributed to a list by the recommendation_id the
 * client passes with it, or else to the user's newest list within the window that holds the
 * event's item. Per experiment variant it counts users, requests, served items, impressions
 * (impression events), clicks, conversions (purchases) and dwell, each on distinct positions:
 * a position clicked twice is one click, so click-through stays a proportion. Lists of users in
 * no experiment are kept for the online hit rate only (never written to the store).
 *
 * Experiment lists and their outcomes go to the store (tables served and outcomes) in batches
 * from a background thread, every flush interval; opening the tracker replays them, so the
 * counts survive restarts (a crash loses at most the last interval's log).
 * All functions are thread-safe.
 */
#ifndef REC_EXP_TRACKER_H
#define REC_EXP_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "exp/experiment.h"
#include "ingest/event.h"

#define REC_TRACKER_ID_LEN 32          /* hex digits of a recommendation_id */
#define REC_TRACKER_SERIES_MAX 720     /* points of history kept per variant */

struct rec_store;
struct rec_tracker;

struct rec_tracker_config {
    double window_s;                   /* attribution window (default 3600) */
    double flush_interval_s;           /* store batches (default 0.2) */
};
void rec_tracker_config_default(struct rec_tracker_config *c);

/* Opens a tracker for the experiments x (NULL or empty: none; must outlive the tracker) that
 * logs to store (NULL: memory only), replaying what store holds. now is wall-clock seconds. */
int rec_tracker_open(const struct rec_tracker_config *c, const struct rec_experiments *x,
                     struct rec_store *store, double now, struct rec_tracker **out, char *err,
                     size_t errlen);
/* Writes what is queued and frees. NULL is a no-op. */
void rec_tracker_close(struct rec_tracker *t);

/* Records a list of n items (ids, best first) served to user under assignment a (NULL: no
 * experiment) and writes its recommendation_id (REC_TRACKER_ID_LEN hex digits and a NUL) to
 * rec_id. 0 or REC_ENOMEM. */
int rec_tracker_served(struct rec_tracker *t, const char *user, const struct rec_exp_assignment *a,
                       const char *const *items, int n, double now,
                       char rec_id[REC_TRACKER_ID_LEN + 1]);

/* The source bandit's view of a list: which arm chose its source weights, in which context.
 * A tagged list reports once: reward 1 at its first positive event (click, like, add to cart,
 * purchase, share, rating >= 4), reward 0 when it leaves the window without one. */
#define REC_TRACKER_TAG_DIM 8
typedef void (*rec_tracker_reward_fn)(void *ctx, int arm, const float *x, double reward);
void rec_tracker_set_reward_hook(struct rec_tracker *t, rec_tracker_reward_fn fn, void *ctx);
/* Tags the list rec_id (just served) with arm and x[REC_TRACKER_TAG_DIM]. */
void rec_tracker_tag(struct rec_tracker *t, const char *rec_id, int arm, const float *x);

/* Attributes the new events among ev[0..n) (inserted[i] != 0; inserted NULL: all). */
void rec_tracker_events(struct rec_tracker *t, const struct rec_event *ev, const uint8_t *inserted,
                        int n, double now);

/* Drops a user's lists from memory (erasure; the store deletes its rows itself). */
void rec_tracker_forget_user(struct rec_tracker *t, const char *user);

struct rec_variant_stats {
    char name[REC_EXP_NAME_MAX];       /* variant name, or "holdout" */
    int64_t users, requests, served_items;
    int64_t impressions;               /* positions with an impression event */
    int64_t clicks, conversions;       /* positions with a click / a purchase */
    int64_t dwell_n;                   /* positions with dwell */
    double dwell_sum, dwell_sumsq;     /* over those positions' summed seconds */
};

/* Counts of experiment name: its variants in file order, then the holdout (when it has a
 * share). *n_out gets how many (at most REC_EXP_MAX_VARIANTS + 1). REC_ENOTFOUND. */
int rec_tracker_stats(struct rec_tracker *t, const char *name, struct rec_variant_stats *out,
                      int *n_out);

/* Online quality: positive events (click, like, add_to_cart, purchase, share, rating >= 4)
 * by users who had a list within the window, and how many of those hit an item of such a list. */
struct rec_online_stats {
    int64_t positives, hits;
    int64_t lists_in_memory;
};
void rec_tracker_online(struct rec_tracker *t, struct rec_online_stats *o);

/* Takes one point of every variant's cumulative impressions and clicks at now (the history the
 * dashboard plots); called by the metrics sampler every interval. Also expires old lists. */
void rec_tracker_sample(struct rec_tracker *t, double now);

struct rec_series_point {
    double ts;
    int64_t impressions, clicks;       /* cumulative; impressions on the experiment's basis */
};
/* The points of variant v (index as in rec_tracker_stats) of experiment name, oldest first:
 * up to max into out; returns how many, or REC_ENOTFOUND. */
int rec_tracker_series(struct rec_tracker *t, const char *name, int v, struct rec_series_point *out,
                       int max);

#endif
