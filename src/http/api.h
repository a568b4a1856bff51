/* api.h: the HTTP API v1 of recd: its route table and the state its handlers share. */
#ifndef REC_HTTP_API_H
#define REC_HTTP_API_H

#include <stddef.h>

#include <pthread.h>

#include "core/uid.h"
#include "http/http.h"
#include "serve/pipeline.h"

struct rec_store;
struct rec_engine;
struct rec_experiments;
struct rec_tracker;
struct rec_monitor;
struct rec_rules;
struct rec_ts;
struct rec_ranker;
struct rec_source_bandit;

struct rec_api {
    struct rec_store *store;     /* not owned */
    struct rec_engine *engine;   /* not owned */
    int max_batch;               /* records per POST */
    int max_n;                   /* largest n of a list */
    int history_max;             /* history entries in GET /v1/users/{id} */
    double started_mono;
    int max_train_waiters;       /* POST /v1/train?wait=1 requests that may block a worker at once */
    _Atomic int train_waiters;
    const struct rec_experiments *experiments; /* not owned; NULL: none */
    struct rec_tracker *tracker; /* not owned; NULL: lists get no recommendation_id */
    struct rec_monitor *monitor; /* not owned; NULL: no metrics */
    struct rec_pipeline_config pipeline; /* rules are taken from below, under rules_lock */
    pthread_rwlock_t rules_lock; /* requests read-lock; a reload write-locks */
    struct rec_rules *rules;     /* owned by the server (swapped on reload); NULL: none */
    const char *rules_path;      /* --rules, NULL when none */
    struct rec_ts *explore;      /* exploration's posteriors; NULL: off */
    struct rec_ranker *ranker;   /* the learned ranker (status); NULL: off */
    struct rec_source_bandit *source_bandit; /* per-context source weights; NULL: off */
    const struct rec_uid_key *user_key; /* --user-id-key: every user id a request names (path,
                                 * events, user documents) is replaced by its keyed id before
                                 * use; not owned; NULL: ids as given */
};

/* Reloads the rules file (SIGHUP, POST /v1/rules/reload): the old rules stay on any error.
 * 0, or an error with the message in err. */
int rec_api_reload_rules(struct rec_api *api, char *err, size_t errlen);

/* The server's on_done hook: per-route request metrics (app is a struct rec_api). */
void rec_api_on_done(void *app, int route, int status, double seconds);

/* The route table (static storage); *n gets its length. */
const struct rec_http_route *rec_api_routes(int *n);
/* The REC_SCOPE_* (http/auth.h) each route needs, parallel to rec_api_routes (static). */
const unsigned char *rec_api_route_scopes(void);

/* Parses the "n" query argument: default def, 1..max. Returns 0 or REC_EINVAL with a reply
 * already written to res. Shared by the list handlers. */
int rec_api_parse_n(const struct rec_http_request *req, struct rec_http_response *res, int def,
                    int max, int *n);
/* The {id} path parameter, checked like any id (1..256 bytes of UTF-8, no control characters).
 * Returns it, or NULL with a 400 reply written to res. what names it in the message. */
const char *rec_api_path_id(const struct rec_http_request *req, struct rec_http_response *res,
                            const char *what);
/* JSON values a batch body may hold on average per record it may have (--max-batch), and
 * those of a body that is one object (a list request, preferences). Counted before parsing:
 * jansson allocates some 40 bytes per value, so a 16 MiB body of "1,1,1,..." would otherwise
 * become a 350 MB tree and seconds of one thread's time. */
#define REC_API_VALUES_PER_RECORD 64
#define REC_API_MAX_VALUES 65536
/* Parses req's body as one JSON value of at most max_values values (REC_API_MAX_VALUES for a
 * single object). Returns it (a json_t*; caller json_decref()s), or NULL with a 400 (malformed)
 * or 413 (too many values) reply written to res. */
void *rec_api_parse_json(const struct rec_http_request *req, struct rec_http_response *res,
                         long max_values);
/* The user id of a user route's path ({user} or {id}), checked as rec_api_path_id, then keyed
 * with api->user_key: the keyed id written into buf, or the id as given without a key. Returns
 * the id to use (borrowed from req or buf), or NULL with a 400 reply written to res. */
const char *rec_api_path_user(const struct rec_api *api, const struct rec_http_request *req,
                              struct rec_http_response *res, char buf[REC_UID_BUF]);
/* Parses req's body as JSON (an array, or one object taken as a one-element array when
 * allow_single; application/x-ndjson: one object per line), at most max_batch records and
 * max_batch * REC_API_VALUES_PER_RECORD values. On error writes a 400/413 reply and returns
 * NULL. Caller json_decref()s. */
void *rec_api_parse_batch(const struct rec_api *api, const struct rec_http_request *req,
                          struct rec_http_response *res, int allow_single);

/* What differs between item and user documents in a batch upsert (api_docs.c). check takes a
 * json_t* and returns 0 or REC_EINVAL with the reason. */
struct rec_api_doc_kind {
    const char *name;
    int user_ids;   /* 1: the documents' "id" is a user id, keyed with api->user_key */
    int (*check)(void *doc, char *err, size_t errlen);
    int (*store)(struct rec_store *s, const char *const *ids, const char *const *docs, int n);
    /* doc is the stored JSON document (the engine keeps it for cold start) */
    int (*engine_put)(struct rec_engine *e, const char *id, const char *title, const char *doc);
};
void rec_api_upsert_docs(struct rec_api *api, const struct rec_http_request *req,
                         struct rec_http_response *res, const struct rec_api_doc_kind *kind);

/* Handlers, one file per resource. */
void rec_api_post_events(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_post_items(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_get_item(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_delete_item(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_post_users(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_get_user(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_delete_user(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_recommend(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_similar(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_popular(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_status(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_train(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_health(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_experiments(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_experiment(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_metrics(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_metrics_history(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_dashboard(void *app, const struct rec_http_request *req, struct rec_http_response *res);
/* GET /v1/users/{id}/export: everything recd holds about a user (api_export.c). */
void rec_api_export_user(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_get_prefs(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_put_prefs(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_get_rules(void *app, const struct rec_http_request *req, struct rec_http_response *res);
void rec_api_post_rules_reload(void *app, const struct rec_http_request *req, struct rec_http_response *res);

#endif
