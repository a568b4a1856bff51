/* ranker.h: the learned ranker of the serving pipeline: a factorization machine (rank/fm) over
 * user, item, attribute and context features (rank/features), trained online from events and
 * used to re-score candidates once it has seen enough examples.
 *
 * Labels: click, like, add_to_cart, purchase, share, rating >= 4 and dwell >= 30 s are
 * positives; skip, dislike, not_interested and rating < 4 are negatives; an impression becomes
 * a negative when no positive on the same (user, item) follows within the negative window.
 * Every example is predicted before it is learned (progressive validation): the AUC of those
 * predictions is the ranker's online quality (GET /v1/status, /metrics).
 *
 * Persistence: rec_ranker_get_state and rec_ranker_set_state copy the learned state (model,
 * label counts, AUC) out and in; serve/ranker_file.h writes it to a file and reads it back, so a
 * restart serves the same ranker at once. Impressions waiting for their outcome are not part of
 * it (they name users).
 */
#ifndef REC_SERVE_RANKER_H
#define REC_SERVE_RANKER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"
#include "rank/auc.h"

struct rec_engine;
struct rec_ranker;
struct rec_context;

struct rec_ranker_config {
    double weight;                 /* relevance = (1 - weight) * retrieval + weight * p */
    int64_t min_examples;          /* examples before it re-scores (default 1000) */
    double negative_window_s;      /* an impression without a positive this long is negative */
    unsigned features;             /* REC_FEAT_* mask (default all) */
    int bits, k;                   /* FM hash space and factors (default 18, 8) */
    double side_scale;             /* rec_rank_scale_side of the side features (default 0:
                                    * values 1); `recd eval --protocol ranker` chooses one */
};
void rec_ranker_config_default(struct rec_ranker_config *c);

int rec_ranker_open(const struct rec_ranker_config *c, struct rec_ranker **out, char *err,
                    size_t errlen);
void rec_ranker_close(struct rec_ranker *r);

/* Learns from committed events (inserted[i] != 0; NULL: all). Takes the engine's read lock to
 * read item and user metadata. Thread-safe. */
void rec_ranker_events(struct rec_ranker *r, struct rec_engine *e, const struct rec_event *ev,
                       const uint8_t *inserted, int n, double now);

/* Erasure: drops the impressions of user still waiting for their outcome, and resets the
 * model's slot of the user's hashed id (rec_fm_reset_slot: what the ranker learned about this
 * user as such; another id hashed to the same slot loses its weight too). What the user's
 * examples taught shared features (items, attributes, context) stays. Counts as a change for
 * rec_ranker_changes. Thread-safe. */
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

/* The learned state: what a restart needs to serve and keep learning the same way. */
struct rec_ranker_state {
    unsigned features;             /* REC_FEAT_* mask it was learned with */
    double side_scale;             /* and side-feature scale (0 in files of format 1) */
    struct rec_fm *fm;             /* the model (owned by the holder of the state) */
    int64_t positives, negatives;  /* examples learned per label (readiness) */
    struct rec_auc auc;            /* progressive validation */
};

/* A consistent copy of r's state into *st (a clone of the model: 2^bits x (k + 1) x 8 bytes,
 * 18.9 MB at the defaults), taken under the model's read lock, which learning waits for during the
 * copy (milliseconds), scoring not. *changes and *erasures (may be NULL) get the counters of
 * rec_ranker_changes at that moment. Returns 0 or REC_ENOMEM; the caller frees st->fm
 * (rec_fm_free), NULL on failure. Thread-safe. */
int rec_ranker_get_state(struct rec_ranker *r, struct rec_ranker_state *st, uint64_t *changes,
                         uint64_t *erasures);

/* Replaces r's model, counts and AUC by st's, taking st->fm (set to NULL) on success. Returns 0,
 * or REC_EINVAL with a message naming the difference when st was learned with another feature
 * mask or model configuration than r's, or another AUC half-life (st is then left alone).
 * Pending impressions are kept; rec_ranker_changes is not advanced. Thread-safe. */
int rec_ranker_set_state(struct rec_ranker *r, struct rec_ranker_state *st, char *err,
                         size_t errlen);

/* Counters of what changed the state since r was opened: *changes grows with every example
 * learned and every erasure, *erasures with every rec_ranker_forget_user. A saver compares them
 * with those of its last save. Thread-safe. */
void rec_ranker_changes(struct rec_ranker *r, uint64_t *changes, uint64_t *erasures);

#endif
