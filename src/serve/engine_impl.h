/* engine_impl.h: the engine's internals, shared by engine.c, recommend.c and trainer.c only. */
#ifndef REC_SERVE_ENGINE_IMPL_H
#define REC_SERVE_ENGINE_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "core/idmap.h"
#include "model/als.h"
#include "model/ann.h"
#include "model/knn.h"
#include "model/model.h"
#include "model/popularity.h"
#include "serve/cold_file.h"
#include "serve/engine.h"
#include "serve/meta.h"
#include "serve/scratch.h"

/* One distinct item in a user's history, in the order items entered it: their first event,
 * or for an item first seen with no positive weight (a dislike, a skip), the event that made
 * its weight positive: it then moves to the end (engine.c), so the entries counted in
 * co-occurrence are in the order they were counted. 16 bytes, a quarter of a cache line. */
struct hist_entry {
    int32_t item;
    float weight;       /* summed interaction strength */
    uint32_t ts;        /* latest event, Unix seconds (until 2106) */
    uint16_t pop_mass;  /* half (core/half.h): this user's decayed share of the item's
                         * popularity, held at ts; deleting the user subtracts it */
    uint8_t type;       /* latest event type */
    uint8_t knn;        /* 1: counted in co-occurrence (with the knn_window counted entries
                         * before it); stays 1 */
};

struct user {
    struct hist_entry *hist;
    int32_t n_hist, cap_hist;   /* cap_hist grows by a sixteenth (engine.c: hist_append) */
    int64_t n_events;
    int64_t last_seq;       /* latest applied event */
    uint8_t live;           /* 0 once deleted */
    uint8_t has_x;          /* row of ux holds factors */
    char *doc;              /* owned JSON document with non-empty "attributes", or NULL */
    struct user_prefs *prefs; /* owned, NULL when none */
};

struct item {
    char *title;            /* owned, may be NULL */
    char *doc;              /* owned JSON document with some content field, or NULL */
    uint64_t doc_gen;       /* value of rec_engine.doc_gen when doc last changed */
    int32_t cold;           /* 1 + slot in rec_engine.cold holding its factors, 0 = none */
    int32_t online;         /* 1 + slot in rec_engine.online (sums of its events), 0 = none */
    struct item_meta *meta; /* owned: categories, tags, publication time; NULL when no doc */
};

/* Factors of items the published iALS model has no trained row for, from their content
 * (coldstart_serve.c). Slot s: item[s], x[s*k .. s*k+k). Few entries: loops visit all. */
struct cold_set {
    int32_t *item;
    float *x;
    int32_t n, cap;
    int k;
    float norm;         /* every x row is scaled to this norm: the mean of the trained rows */
};

/* The items whose cold factors changed, appeared or went since the approximate index took its
 * copy of the rows (ann_cold.c): requests leave them out of the index search and score the
 * current ones exactly. Entries [from, n) concern the installed index; while a new index is
 * built, entries from building_from on concern that one. An item is logged once per epoch. */
struct ann_log {
    int32_t *item;
    int32_t n, cap;
    uint32_t *epoch_of;     /* per item: the epoch it was last logged in (no duplicates) */
    int32_t n_epoch_of;
    uint32_t epoch;         /* bumps at each index build's copy of the rows */
    int32_t from;           /* the installed index's first entry */
    int32_t building_from;  /* the index being built's first entry */
    int building;           /* an index is being built (build_ann) */
    int lost;               /* an entry could not be kept: the index being built is dropped */
};

/* Per-item sums of the events of items without a trained row (online_items.c). */
struct online_set {
    int32_t *item;          /* slot -> item */
    int32_t *n_ev;
    float *a;               /* slot s: k x k sum of (c - 1) x x' */
    float *b;               /* slot s: k sum of c x */
    int32_t n, cap;
    int k;                  /* 0: off until the next publish */
    float *xtx;             /* Gram of the published model's user factors */
};

/* What a training run (or the refit after a snapshot load) publishes for cold start. */
struct rec_cold_fit {
    struct rec_model *content;          /* TF-IDF over item docs, or NULL (no item has a doc) */
    struct rec_model *attrs;            /* user attributes model, or NULL (no user has any) */
    int32_t n_items;                    /* items of the fit (= iALS items) */
    uint8_t *has_hist;                  /* n_items: the iALS row is trained (history, nonzero) */
    struct cold_set cold;               /* cold factors of fitted items without history */
    int cold_done;                      /* every item with a doc and no trained row was decided:
                                         * it has factors in cold, or nothing alike with history */
    int32_t n_reused, n_computed;       /* of those: from a saved cold set / searched anew */
};

/* A saved cold set (serve/cold_file.h) lined up with the items of a fit. */
struct rec_cold_reuse {
    const struct rec_cold_file *file;
    const int32_t *entry;               /* per item of the fit: the file's entry for it when its
                                         * doc hash matches the item's doc, else -1 */
};

#define REC_ARRIVALS 256                /* new arrivals remembered for the fresh source */

struct rec_engine {
    struct rec_engine_params p;
    struct rec_store *store;            /* not owned; may be NULL */
    rec_engine_observer_fn observer;    /* set before events flow; see rec_engine_set_observer */
    void *observer_ctx;

    pthread_rwlock_t ingest;            /* see rec_engine_ingest_begin; taken before lock */
    pthread_rwlock_t lock;              /* guards everything below down to the trainer part */
    struct rec_idmap user_ids, item_ids;
    struct rec_idmap cat_ids, tag_ids;  /* category and tag names of item metadata */
    int32_t arrivals[REC_ARRIVALS];     /* ring of the latest items given a document */
    int n_arrivals, arrivals_head;
    struct user *users;
    int32_t cap_users;
    struct item *items;
    /* bit i set: item i is live (not deleted). Apart from items[] so that the ranking's check
     * of a candidate reads a bit from 128 KB per million items, not a 48-byte struct (a cache
     * miss each, on a large catalog). cap_items bits. */
    uint64_t *item_live;
    int32_t cap_items;
    int64_t n_live_items, n_live_users;
    int64_t n_events;                   /* applied */
    int64_t last_seq;
    int64_t max_ts;                     /* latest event time seen: the data's "now" */
    struct rec_pop pop;
    struct rec_knn knn;
    struct rec_scratch_pool scratch;    /* requests' per-item memory (own mutex; recommend.c) */

    struct rec_als *als;                /* published model, NULL before the first */
    struct rec_ann *ann;                /* index of als's item rows (trainer.c), or NULL: the
                                         * exact scan serves */
    struct ann_log ann_log;             /* cold items changed since the index (ann_cold.c) */
    float ann_cold_weight;              /* the index's cold rows: this times the cold factors */
    struct rec_blend *blend;            /* published extra sources (with als_weight), or NULL */
    float *ux;                          /* live user factors, cap_ux_users x k */
    int32_t cap_ux_users;
    struct rec_model_status model;      /* present/version/...; training is tracked below */
    int64_t model_trained_seq;

    /* cold start, published with the iALS model (coldstart_serve.c) */
    struct rec_model *content;          /* or NULL */
    struct rec_model *attrs;            /* or NULL */
    int32_t attrs_n_items;              /* items scored by attrs */
    uint8_t *has_hist;                  /* n_has_hist items of als with a trained row */
    int32_t n_has_hist;
    struct cold_set cold;
    int64_t cold_gen;                   /* bumps at each publish of the above */
    uint64_t doc_gen;                   /* bumps at each item doc change */
    int64_t n_item_docs, n_user_docs;   /* non-NULL docs */
    struct online_set online;           /* item rows learned from events since the publish */

    /* trainer: guarded by train_mu */
    pthread_mutex_t train_mu;
    pthread_cond_t train_cv;            /* wakes the trainer */
    pthread_cond_t done_cv;             /* wakes waiters for a finished run */
    pthread_t trainer;
    int trainer_running;
    int stop;
    int requested;
    int training;
    int64_t runs_started, runs_done;
    int64_t events_since_train;
    _Atomic int64_t erasures;           /* users deleted so far (snapshots must follow) */
    int64_t erasures_snapshotted;       /* trainer only: erasures the latest snapshot covers */
    double last_train_mono;
    pthread_mutex_t fit_mu;             /* one fit at a time */
};

static inline int rec_item_live(const struct rec_engine *e, int32_t i)
{
    return (int)((e->item_live[i >> 6] >> (i & 63)) & 1u);
}

static inline void rec_item_set_live(struct rec_engine *e, int32_t i, int live)
{
    uint64_t bit = (uint64_t)1 << (i & 63);
    if (live)
        e->item_live[i >> 6] |= bit;
    else
        e->item_live[i >> 6] &= ~bit;
}

/* engine.c */
/* Strength of a history entry for fitting and fold-in: its summed weight, decayed by its age
 * relative to the user's latest event (latest_ts) and boosted inside the current session. */
float rec_engine_hist_strength(const struct rec_engine *e, const struct hist_entry *h, int64_t latest_ts);
/* Latest event time in a user's history. */
int64_t rec_engine_user_latest(const struct user *us);
struct user *rec_engine_user_at(struct rec_engine *e, int32_t u);
/* Makes room for k floats per user in ux (lock held for write). 0 or REC_ENOMEM. */
int rec_engine_ux_reserve(struct rec_engine *e, int32_t n_users, int k);
/* Re-solves u's factors from its history against the published model (lock held for write). */
void rec_engine_fold_in(struct rec_engine *e, int32_t u);
/* sources.c: fits p's extra sources on ui (NULL *out when there are none); ui_ts, the latest
 * event time of each ui entry or NULL, is for the sources that need a history's order (seqknn).
 * Slot 0 of the blend is the live iALS model (no fitted model there; its weight in weight[0]). */
int rec_engine_fit_sources(const struct rec_engine_params *p, const struct rec_csr *ui,
                           const int64_t *ui_ts, struct rec_blend **out);
/* coldstart_serve.c. Fits content (item docs) and attrs (user docs) on ui, and cold factors
 * for the items of m without a trained row whose doc matches some item with one. Both doc
 * arrays may be NULL. A failed part is left NULL and logged: this never fails training. */
void rec_cold_fit(const struct rec_csr *ui, const char *const *item_docs,
                  const char *const *user_docs, const struct rec_als *m, int threads,
                  const struct rec_cold_reuse *reuse, struct rec_cold_fit *out);
/* The cold set of fit f as a file (serve/cold_file.h) into *out (caller frees with
 * rec_cold_file_free): one entry per item with a doc (docs, as the fit saw them) and no trained
 * row, named by names[i]. Returns 0, REC_ENOTFOUND (f did not decide every cold item: save
 * nothing) or REC_ENOMEM. */
int rec_cold_fit_export(const struct rec_cold_fit *f, const char *const *docs,
                        const char *const *names, struct rec_cold_file *out);
/* Lines the saved cold set cf up with the engine's items by id: *entry (n_items, malloc'd, the
 * caller frees) as struct rec_cold_reuse wants it, docs being the items' current docs. Lock held
 * (the id map is read). Returns 0 or REC_ENOMEM. */
int rec_cold_reuse_map(const struct rec_engine *e, const struct rec_cold_file *cf,
                       const char *const *docs, int32_t n_items, int32_t **entry);
void rec_cold_fit_free(struct rec_cold_fit *f);
/* Swaps f in (taking its contents; f is left empty); lock held for write. */
void rec_cold_publish(struct rec_engine *e, struct rec_cold_fit *f);
/* Gives item i cold factors from its current doc when the live model has no trained row for
 * it (or drops them when it lost its doc). Takes the lock itself: computes under the read
 * lock, installs under the write lock. */
void rec_cold_fill(struct rec_engine *e, int32_t i);
/* After a publish: rec_cold_fill for every item with a doc that the fit did not see (index
 * >= n_seen or doc changed after doc_gen == gen). Takes the lock itself. */
void rec_cold_refresh(struct rec_engine *e, int32_t n_seen, uint64_t gen);
/* Frees everything cold-start related (engine destruction). */
void rec_cold_destroy(struct rec_engine *e);
/* The factor vector of item i (k floats): its cold factors, else its trained iALS row; NULL
 * when it has neither. Lock held. */
const float *rec_cold_item_vec(const struct rec_engine *e, int32_t i);
/* Strdup of doc when it is worth keeping (an item doc with categories, tags, title or text: the
 * content model's fields; a user doc with a non-empty "attributes" object), else NULL;
 * *rc = REC_ENOMEM on allocation failure. */
char *rec_cold_keep_item_doc(const char *doc, int *rc);
char *rec_cold_keep_user_doc(const char *doc, int *rc);
/* online_items.c: forget the sums and take X'X from the published model (lock held for write),
 * and fold one event of user u (already folded in) on item i into i's row when the model has
 * no trained row for i. */
void rec_online_reset(struct rec_engine *e);
void rec_online_free(struct rec_engine *e);
void rec_online_event(struct rec_engine *e, int32_t u, int32_t i, float strength);
/* ann_cold.c: the approximate index over the model's rows and the cold set's (see struct
 * ann_log). note: item i's cold factors changed (lock held for write). build: takes the rows
 * (under the write lock), builds the index without the lock and installs it; fit_mu held.
 * forget: the model changed, the index went (lock held for write). */
void rec_ann_cold_note(struct rec_engine *e, int32_t i);
int rec_ann_cold_build(struct rec_engine *e, const struct rec_ann_params *p, struct rec_ann **out);
void rec_ann_cold_forget(struct rec_engine *e);
/* coldstart_serve.c: sets item i's factors in the cold set (lock held for write). */
void rec_cold_put(struct rec_engine *e, int32_t i, const float *x);
/* recommend.c: the retrieval stage of the pipeline. The fused top-m candidates for user u (-1:
 * unknown) under o's settings, with the items of block[] left out as well as deleted and
 * seen ones; each with its source and the kNN seed that brought it (-1: none; the reason of
 * the candidates that make the list comes from rec_explain_seed). *by_attrs: the popular
 * slot came from the attributes model. Read lock held. 0 or REC_ENOMEM. */
struct rec_candidate {
    int32_t idx;
    float score;
    int8_t src;                         /* enum rec_source */
    int32_t seed;                       /* its kNN seed (-1: none), for rec_explain_seed */
};
/* The history item that best explains item i for user us: knn_seed (the kNN neighbour that
 * brought it) when there is one, else the recent item whose factors are most alike (cosine
 * above a threshold); *hist_pos is its place in us->hist. -1 when nothing in the history
 * explains it (the item is then presented as popular or as matching the user's taste). */
int32_t rec_explain_seed(const struct rec_engine *e, const struct user *us, int32_t i,
                         int32_t knn_seed, int32_t *hist_pos);
int rec_retrieve(struct rec_engine *e, int32_t u, int m, struct rec_request_opts *o,
                 const int32_t *block, int n_block, struct rec_candidate *out, int *n_out,
                 int *by_attrs);
/* trainer.c */
int rec_engine_trainer_start(struct rec_engine *e);
void rec_engine_trainer_stop(struct rec_engine *e);
int rec_engine_load_snapshot(struct rec_engine *e);
void rec_engine_note_events(struct rec_engine *e, int64_t n);

#endif
