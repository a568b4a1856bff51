/* engine.h: recd's live state and the recommendation pipeline.
 *
 * The engine holds the catalog, users, their histories and the models built from them
 * (decayed popularity, item-kNN, iALS with per-user fold-in, and for cold start a content model
 * over item documents and an attributes model over user documents) in memory. Events enter through
 * rec_engine_apply_events after the store committed them; every read and write is thread-safe
 * (one reader-writer lock; training runs outside it and publishes a new immutable model).
 */
#ifndef REC_SERVE_ENGINE_H
#define REC_SERVE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"
#include "model/als.h"
#include "model/blend.h"

struct rec_store;
struct rec_engine;

struct rec_engine_params {
    double weights[REC_EVENT__COUNT];  /* interaction strength per event type */
    double half_life_s;                /* popularity decay */
    int knn_window;                    /* pairs per new item in a history */
    float knn_shrink;
    int knn_neighbors;                 /* neighbours kept per item (rec_knn_init) */
    int recent_items;                  /* kNN seeds per user */
    int exclude_seen;                  /* drop items the user already has in their history */
    float blend_knn, blend_popular;    /* fusion weights of kNN and popularity, iALS being 1 */
    float cold_damping;                /* an item without history of its own (factors from its
                                        * content, coldstart_serve.c) competes in the iALS list
                                        * with its score times 1 - cold_damping: 0 (the zero
                                        * value) counts it whole, 1 leaves it to the new-arrivals
                                        * source and similar lists; --cold-weight is 1 - this */
    struct rec_als_params als;
    /* Extra model types blended with iALS (recd tune writes them): when n_sources > 0 the served
     * list is the blend of iALS and these, with weights from source_weight/als_weight, or learned
     * on a validation carve at each training when learn_weights is set. */
    int n_sources;
    const struct rec_model_type *source_type[REC_BLEND_MAX - 1];
    double source_params[REC_BLEND_MAX - 1][REC_MODEL_MAX_PARAMS];
    float source_weight[REC_BLEND_MAX - 1];
    float als_weight;
    int learn_weights;
    int retrain_events;                /* background retrain after this many events; 0 = off */
    int retrain_seconds;               /* ... or after this long with new events; 0 = off */
    int background;                    /* run the trainer thread (serve); else train on demand */
    double user_half_life_s;           /* a history entry's strength halves per this age, measured
                                        * from the user's latest event; 0 = no decay */
    double session_gap_s;              /* entries within this of the user's latest event form
                                        * their current session ... */
    float session_boost;               /* ... and weigh this much more (1 = off) */
    int fold_in_steps;                 /* CG steps of a live fold-in from the user's factors;
                                        * 0 = exact solve every time */
    int user_only;                     /* events update users' histories and factors only, not
                                        * popularity or co-occurrence (replay evaluation) */
    /* Approximate iALS retrieval (model/ann.h): once a published model has ann_min_items items
     * or more, the trainer builds an index of its item rows, and requests scan the ann_nprobe
     * best of its lists instead of every item (exact until the index exists). */
    int ann_min_items;                 /* 0 = never build one */
    int ann_nprobe;                    /* lists scanned per request, >= 1 */
    int ann_lists;                     /* lists of the index; 0 = auto, 2 sqrt(items) */
    const char *model_dir;             /* where snapshots go; NULL = keep models in memory only */
};

/* Which sources a list may draw from (offline evaluation compares them one by one). */
enum rec_mode { REC_MODE_HYBRID, REC_MODE_POPULAR, REC_MODE_KNN, REC_MODE_ALS };
enum rec_source { REC_SOURCE_ALS, REC_SOURCE_KNN, REC_SOURCE_POPULAR };

/* Per-request settings of a list (an experiment variant's pipeline settings). A field left at
 * its "unset" value takes the engine's configured behaviour. */
struct rec_request_opts {
    int mode;                          /* enum rec_mode, or -1 for the engine's hybrid */
    float blend_knn, blend_popular;    /* fusion weights; < 0 = engine's */
    float cold_weight;                 /* cold items' iALS score factor, 0..1; < 0 = engine's
                                        * (1 - cold_damping) */
    /* out: the model's own score of the best personalized candidate (iALS, or the published
     * blend), NAN when the list had none; for score drift */
    double top_model_score;
    /* out: how the iALS candidates were found: 0 no iALS list, 1 exact (every item scored),
     * 2 approximate index; ann_scanned: items the index scored (0 unless 2) */
    int als_search;
    int ann_scanned;
    int ann_exact;              /* cold items scored exactly beside the index (0 unless 2) */
};
/* opts with everything unset. */
void rec_request_opts_default(struct rec_request_opts *o);

/* Called after every commit of events (rec_event_commit, any source) with the events and
 * which of them were new (inserted[i] = 1; duplicates 0), outside the engine's locks. */
typedef void (*rec_engine_observer_fn)(void *ctx, const struct rec_event *ev,
                                       const uint8_t *inserted, int n);

/* One recommended item, self-contained (copied out of the engine under its lock). */
struct rec_result {
    char id[REC_ID_MAX + 1];
    double score;
    int source;                        /* enum rec_source */
    char because[REC_ID_MAX + 1];      /* the evidence item: the history item behind a
                                        * recommendation, the query item of a similar list;
                                        * "" for popular */
    const char *kind;                  /* the reason's kind (static; docs/API.md): because_you,
                                        * matches_your_interest, popular_with_similar_users,
                                        * trending_in, often_together_with, similar_to */
    char reason[REC_ID_MAX + 64];      /* human-readable: "because you rated Heat (1995)" */
};

struct rec_model_status {
    int present;                       /* a model is being served */
    int64_t version;                   /* increases with every published model */
    int64_t trained_events;            /* events the model was trained on */
    int64_t trained_at;                /* Unix seconds */
    double duration_s;                 /* training wall time */
    int training;                      /* a training run is under way */
    int factors;
    int32_t n_users, n_items;
};

struct rec_engine_status {
    int64_t n_items;                   /* live (not deleted) items */
    int64_t n_users;
    int64_t n_events;                  /* events applied to memory */
    struct rec_model_status als;
    /* the served blend: iALS plus the configured sources (weights as published) */
    int n_sources;
    const char *source_name[REC_BLEND_MAX];
    float source_weight[REC_BLEND_MAX];
    int source_ready[REC_BLEND_MAX];
    float als_weight;
};

struct rec_user_info {
    int64_t n_events;
    int32_t n_items;                   /* distinct items in history */
    int n_recent;
    struct {
        char item[REC_ID_MAX + 1];
        int type;                      /* last event type on the item */
        float weight;                  /* summed strength */
        int64_t ts;
    } recent[64];                      /* latest first */
};

/* Creates an empty engine. store may be NULL (offline use: nothing is persisted). Starts the
 * trainer thread when p->background. Returns 0 or a negative code. */
int rec_engine_create(const struct rec_engine_params *p, struct rec_store *store,
                      struct rec_engine **out);
void rec_engine_destroy(struct rec_engine *e);

/* Rebuilds memory from the store (items, users, events in order) and loads the latest model
 * snapshot when one matches; users with events after it are folded in. 0 or a negative code. */
int rec_engine_load(struct rec_engine *e, char *err, size_t errlen);

/* Ingestion against deletions and training: a writer that commits to the store and then applies
 * to the engine holds this shared from before the commit until after the apply; deletions and the
 * trainer's copy of the data hold it exclusively. So neither ever sees a commit whose effect is
 * not yet in memory (no lost delete, and the copied seq is a true watermark). Writer-preferring;
 * never take it twice in one thread. */
void rec_engine_ingest_begin(struct rec_engine *e, int exclusive);
void rec_engine_ingest_end(struct rec_engine *e);

/* Applies committed events (mask[i] == 0 skips event i; mask may be NULL) and re-solves the
 * factors of every user they touch before returning, so the next request reflects them. */
int rec_engine_apply_events(struct rec_engine *e, const struct rec_event *ev, int n,
                            const uint8_t *mask);
/* Switches user_only (see rec_engine_params) for the events applied from now on. */
void rec_engine_set_user_only(struct rec_engine *e, int on);
/* Catalog metadata the engine needs (title for reasons); creates or revives the item. The same
 * as rec_engine_put_item_doc with doc NULL. */
int rec_engine_put_item(struct rec_engine *e, const char *id, const char *title);
/* As rec_engine_put_item, and replaces the item's JSON document (the store's format:
 * categories, tags, title, text, attributes) when doc is not NULL; NULL keeps the current one.
 * The engine keeps a copy for the content model fitted at each training. While a model is
 * live, an item without trained factors gets cold-start factors from doc before this returns
 * (so it can be recommended at once). Thread-safe; 0 or REC_ENOMEM. */
int rec_engine_put_item_doc(struct rec_engine *e, const char *id, const char *title,
                            const char *doc);
/* Makes sure a user exists. The same as rec_engine_put_user_doc with doc NULL. */
int rec_engine_put_user(struct rec_engine *e, const char *id);
/* As rec_engine_put_user, and replaces the user's JSON document ({"attributes":{...}}) when doc
 * is not NULL. A user with attributes and no history is served items popular among users with
 * the same attributes (once a training run fitted that model). Thread-safe; 0 or REC_ENOMEM. */
int rec_engine_put_user_doc(struct rec_engine *e, const char *id, const char *doc);
/* Replaces a user's preferences (a checked JSON object, see meta.h; NULL clears); creates the
 * user if needed. Applies to the next request. 0 or REC_ENOMEM. */
int rec_engine_set_prefs(struct rec_engine *e, const char *id, const char *prefs);
/* Hides an item from every list at once. REC_ENOTFOUND. */
int rec_engine_delete_item(struct rec_engine *e, const char *id);
/* Forgets a user, their history and their share of popularity and co-occurrence. REC_ENOTFOUND. */
int rec_engine_delete_user(struct rec_engine *e, const char *id);

/* Top-n for a user (unknown users get popular items; users without history but with
 * attributes get the attributes model's list, reason "popular with people like you", source
 * popular). Items added since the model with a document are ranked by their cold-start factors
 * (source als, reason "new: like <title of the history item closest in factor space>").
 * Writes up to n results to out and the count to *n_out; *model gets the served mode's name
 * ("hybrid", "popular", "attributes"). 0 or an error. */
int rec_engine_recommend(struct rec_engine *e, const char *user, int n, struct rec_result *out,
                         int *n_out, const char **model);
/* As rec_engine_recommend, with per-request settings (o may be NULL; its out fields are set). */
int rec_engine_recommend_opts(struct rec_engine *e, const char *user, int n,
                              struct rec_request_opts *o, struct rec_result *out, int *n_out,
                              const char **model);
/* Parses a mode name ("hybrid", "als", "knn", "popular"); -1 for anything else. */
int rec_mode_parse(const char *name);
/* Installs the one observer of committed events (NULL removes it). Call before events flow. */
void rec_engine_set_observer(struct rec_engine *e, rec_engine_observer_fn fn, void *ctx);
/* Runs the observer, if any (rec_event_commit calls it). */
void rec_engine_notify(struct rec_engine *e, const struct rec_event *ev, const uint8_t *inserted,
                       int n);
/* Items most similar to item (kNN, falling back to factor similarity). Items with cold-start
 * factors join a kNN list where their factor cosine with item ranks among the listed items'
 * (source als, score = that cosine, reason "new: like <item>"); a cold item's own list is by
 * factor cosine. Reasons: kind often_together_with ("often together with <item>") for kNN
 * neighbours, similar_to ("similar to <item>", "new: like <item>") for factor neighbours;
 * because is item. REC_ENOTFOUND for unknown or deleted items. */
int rec_engine_similar(struct rec_engine *e, const char *item, int n, struct rec_result *out,
                       int *n_out);
/* Most popular live items now; reason kind trending_in, "trending in <first category>" (or
 * "trending now" for an item without one), as the pipeline words reasons from popularity. */
int rec_engine_popular(struct rec_engine *e, int n, struct rec_result *out, int *n_out);

/* Index-level top-n for offline evaluation: items[0..*n_out) best first, with the fusion
 * settings of o (NULL: the engine's). Thread-safe. */
int rec_engine_recommend_idx(struct rec_engine *e, int32_t user, int n, enum rec_mode mode,
                             const struct rec_request_opts *o, int32_t *items, int *n_out);
/* Id of a dense item index (valid until the item is deleted), "" when out of range or deleted. */
const char *rec_engine_item_name(struct rec_engine *e, int32_t item);
/* Dense index of a user/item id, -1 when unknown. */
int32_t rec_engine_user_index(struct rec_engine *e, const char *id);
int32_t rec_engine_item_index(struct rec_engine *e, const char *id);

/* Trains iALS on everything in memory and publishes it, in the calling thread. */
int rec_engine_train_now(struct rec_engine *e);
/* Asks the trainer thread for a retrain; with wait, returns once a run that started after
 * this call finished (0), or REC_EBUSY when the engine is shutting down first. Without a
 * trainer thread, trains in the caller. */
int rec_engine_request_train(struct rec_engine *e, int wait);
/* Starts shutting down: no new training run starts, and waiters of rec_engine_request_train
 * return at once. Call before stopping the HTTP server; rec_engine_destroy finishes the job. */
void rec_engine_shutdown(struct rec_engine *e);

int rec_engine_status(struct rec_engine *e, struct rec_engine_status *st);
/* REC_ENOTFOUND for unknown users. */
int rec_engine_user_info(struct rec_engine *e, const char *id, int max_recent,
                         struct rec_user_info *info);

#endif
