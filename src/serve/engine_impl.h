/* engine_impl.h: the engine's internals, shared by engine.c, recommend.c and trainer.c only. */
#ifndef REC_SERVE_ENGINE_IMPL_H
#define REC_SERVE_ENGINE_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "core/idmap.h"
#include "model/als.h"
#include "model/knn.h"
#include "model/popularity.h"
#include "serve/engine.h"

/* One distinct item in a user's history, in first-seen order. 24 bytes. */
struct hist_entry {
    int32_t item;
    float weight;       /* summed interaction strength */
    float pop_mass;     /* this user's decayed share of the item's popularity, held at ts */
    uint32_t ts;        /* latest event, Unix seconds */
    int32_t knn_rank;   /* order in which the entry entered co-occurrence; -1: not counted */
    uint8_t type;       /* latest event type */
};

struct user {
    struct hist_entry *hist;
    int32_t n_hist, cap_hist;
    int32_t n_knn;          /* entries with knn_rank >= 0 */
    int64_t n_events;
    int64_t last_seq;       /* latest applied event */
    uint8_t live;           /* 0 once deleted */
    uint8_t has_x;          /* row of ux holds factors */
};

struct item {
    char *title;            /* owned, may be NULL */
    uint8_t live;           /* 0 when deleted */
};

struct rec_engine {
    struct rec_engine_params p;
    struct rec_store *store;            /* not owned; may be NULL */

    pthread_rwlock_t ingest;            /* see rec_engine_ingest_begin; taken before lock */
    pthread_rwlock_t lock;              /* guards everything below down to the trainer part */
    struct rec_idmap user_ids, item_ids;
    struct user *users;
    int32_t cap_users;
    struct item *items;
    int32_t cap_items;
    int64_t n_live_items, n_live_users;
    int64_t n_events;                   /* applied */
    int64_t last_seq;
    int64_t max_ts;                     /* latest event time seen: the data's "now" */
    struct rec_pop pop;
    struct rec_knn knn;

    struct rec_als *als;                /* published model, NULL before the first */
    struct rec_blend *blend;            /* published extra sources (with als_weight), or NULL */
    float *ux;                          /* live user factors, cap_ux_users x k */
    int32_t cap_ux_users;
    struct rec_model_status model;      /* present/version/...; training is tracked below */
    int64_t model_trained_seq;

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
    double last_train_mono;
    pthread_mutex_t fit_mu;             /* one fit at a time */
};

/* engine.c */
struct user *rec_engine_user_at(struct rec_engine *e, int32_t u);
/* Makes room for k floats per user in ux (lock held for write). 0 or REC_ENOMEM. */
int rec_engine_ux_reserve(struct rec_engine *e, int32_t n_users, int k);
/* Re-solves u's factors from its history against the published model (lock held for write). */
void rec_engine_fold_in(struct rec_engine *e, int32_t u);
/* sources.c: fits p's extra sources on ui (NULL *out when there are none). Slot 0 of the blend
 * is the live iALS model (no fitted model there; its weight in weight[0]). */
int rec_engine_fit_sources(const struct rec_engine_params *p, const struct rec_csr *ui,
                           struct rec_blend **out);
/* trainer.c */
int rec_engine_trainer_start(struct rec_engine *e);
void rec_engine_trainer_stop(struct rec_engine *e);
int rec_engine_load_snapshot(struct rec_engine *e);
void rec_engine_note_events(struct rec_engine *e, int64_t n);

#endif
