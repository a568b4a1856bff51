/* ranker.h: the learned ranker of the serving pipeline: a factorization machine (rank/fm) over
 * user, item, attribute and context features (rank/features), trained online from events and
 * used to re-score candidates once it has seen enough examples.
 *
 * Labels: click, like, add_to_cart, purchase, share, rating >= 4 and dwell >= 30 s are
 * positives; skip, dislike, not_interested and rating < 4 are negatives; an impression becomes
 * a negative when no positive on the same (user, item) follows within the negative window.
 * Every example is predicted before it is learned (progressive validation): the AUC of those
 * predictions is the ranker's online quality (GET /v1/status, /metrics).
 */
#ifndef REC_SERVE_RANKER_H
#define REC_SERVE_RANKER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"

struct rec_engine;
struct rec_ranker;
struct rec_context;

struct rec_ranker_config {
    double weight;                 /* relevance = (1 - weight) * retrieval + weight * p */
    int64_t min_examples;          /* examples before it re-scores (default 1000) */
    double negative_window_s;      /* an impression without a positive this long is negative */
    unsigned features;             /* REC_FEAT_* mask (default all) */
    int bits, k;                   /* FM hash space and factors (default 18, 8) */
};
void rec_ranker_config_default(struct rec_ranker_config *c);

int rec_ranker_open(const struct rec_ranker_config *c, struct rec_ranker **out, char *err,
                    size_t errlen);
void rec_ranker_close(struct rec_ranker *r);

/* Learns from committed events (inserted[i] != 0; NULL: all). Takes the engine's read lock to
 * read item and user metadata. Thread-safe. */
void rec_ranker_events(struct rec_ranker *r, struct rec_engine *e, const struct rec_event *ev,
                       const uint8_t *inserted, int n, double now);

/* Drops the impressions of user still waiting for their outcome (erasure). Thread-safe. */
void rec_ranker_forget_user(struct rec_ranker *r, const char *user);

/* True once it has learned min_examples examples of both labels. */
int rec_ranker_ready(struct rec_ranker *r);

/* P(engagement) for candidates items[0..n) of user u in context ctx into p. The engine's read
 * lock is held by the caller (the pipeline). Thread-safe against learning. */
void rec_ranker_score_locked(struct rec_ranker *r, const struct rec_engine *e, int32_t u,
                             const int32_t *items, int n, const struct rec_context *ctx,
                             double now, double *p);
double rec_ranker_weight(const struct rec_ranker *r);

struct rec_ranker_stats {
    int64_t examples, positives, negatives, pending_impressions;
    double auc, auc_recent;        /* progressive validation; NAN until both labels seen */
    int ready;
};
void rec_ranker_stats(struct rec_ranker *r, struct rec_ranker_stats *st);

#endif
