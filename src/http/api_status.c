/* api_status.c: GET /v1/status, POST /v1/train, GET /health. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "http/api.h"
#include "exp/experiment.h"
#include "exp/tracker.h"
#include "ingest/kafka.h"
#include "obs/monitor.h"
#include "serve/ranker.h"
#include <math.h>
#include "serve/engine.h"
#include "store/store.h"

static json_t *offset_json(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

/* The "kafka" object: counters and per-partition lag of the published consumer, NULL when
 * recd does not consume from Kafka. */
static json_t *kafka_json(void)
{
    struct rec_kafka_stats *k = malloc(sizeof *k); /* ~6 KiB: not on a worker's stack */
    if (!k || rec_kafka_published_stats(k)) {
        free(k);
        return NULL;
    }
    json_t *parts = json_array();
    for (int i = 0; i < k->n_partitions && i < REC_KAFKA_MAX_REPORTED; i++) {
        const struct rec_kafka_partition *p = &k->partitions[i];
        json_t *o = json_pack("{s:i}", "partition", (int)p->partition);
        json_object_set_new(o, "high_watermark", offset_json(p->high_watermark));
        json_object_set_new(o, "position", offset_json(p->position));
        json_object_set_new(o, "committed", offset_json(p->committed));
        json_object_set_new(o, "lag", offset_json(p->lag));
        json_array_append_new(parts, o);
    }
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:o}",
                          "topic", k->topic, "group", k->group,
                          "consumed", (json_int_t)k->consumed, "events", (json_int_t)k->events,
                          "applied", (json_int_t)k->applied,
                          "duplicates", (json_int_t)k->duplicates,
                          "invalid_events", (json_int_t)k->invalid_events,
                          "dead_letters", (json_int_t)k->dead_letters,
                          "dead_letters_produced", (json_int_t)k->dead_letters_produced,
                          "store_errors", (json_int_t)k->store_errors,
                          "commits", (json_int_t)k->commits,
                          "rebalances", (json_int_t)k->rebalances, "lag", (json_int_t)k->lag,
                          "assigned_partitions", k->n_partitions, "partitions", parts);
    json_object_set_new(o, "brokers_up", k->brokers_up >= 0 ? json_integer(k->brokers_up) : json_null());
    json_object_set_new(o, "last_error", k->last_error[0] ? json_string(k->last_error) : json_null());
    json_object_set_new(o, "last_error_at", k->last_error_at ? json_integer(k->last_error_at) : json_null());
    free(k);
    return o;
}

void rec_api_status(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    struct rec_engine_status st;
    int64_t n_items = 0, n_users = 0, n_events = 0;
    rec_engine_status(api->engine, &st);
    if (rec_store_count(api->store, &n_items, &n_users, &n_events)) {
        rec_http_reply_error(res, 0, REC_ESTORE, "store counts unavailable");
        return;
    }
    json_t *als = json_pack("{s:s,s:I,s:I,s:b,s:b,s:i}", "name", "als", "version",
                            (json_int_t)st.als.version, "trained_events",
                            (json_int_t)st.als.trained_events, "training", st.als.training,
                            "ready", st.als.present, "factors", st.als.factors);
    json_object_set_new(als, "last_train", st.als.present ? json_integer(st.als.trained_at) : json_null());
    json_object_set_new(als, "last_train_duration_s", st.als.present ? json_real(st.als.duration_s) : json_null());
    json_t *pop = json_pack("{s:s,s:I,s:b,s:b}", "name", "popularity", "trained_events",
                            (json_int_t)st.n_events, "training", 0, "ready", 1);
    json_t *knn = json_pack("{s:s,s:I,s:b,s:b}", "name", "knn", "trained_events",
                            (json_int_t)st.n_events, "training", 0, "ready", 1);
    json_t *models = json_pack("[ooo]", als, pop, knn);
    if (st.n_sources > 0) { /* the served blend (recd tune's sources) */
        json_object_set_new(als, "blend_weight", json_real(st.als_weight));
        for (int s = 0; s < st.n_sources; s++)
            json_array_append_new(models, json_pack("{s:s,s:f,s:b}", "name", st.source_name[s],
                                                    "blend_weight", st.source_weight[s], "ready",
                                                    st.source_ready[s]));
    }
    json_t *body = json_pack("{s:I,s:I,s:I,s:I,s:f,s:s,s:o}", "items", (json_int_t)st.n_items,
                             "users", (json_int_t)st.n_users, "events", (json_int_t)n_events,
                             "events_in_memory", (json_int_t)st.n_events, "uptime_s",
                             rec_mono_s() - api->started_mono, "version", RECD_VERSION,
                             "models", models);
    json_t *kafka = kafka_json();
    if (kafka)
        json_object_set_new(body, "kafka", kafka);
    if (api->monitor) {
        struct rec_monitor_drift d;
        rec_monitor_drift(api->monitor, &d);
        json_t *o = json_pack("{s:f,s:b,s:f}", "threshold", d.threshold, "alert", d.alert,
                              "window_s", d.window_s);
        json_object_set_new(o, "kl_popularity", isfinite(d.kl_popularity) ? json_real(d.kl_popularity) : json_null());
        json_object_set_new(o, "kl_score", isfinite(d.kl_score) ? json_real(d.kl_score) : json_null());
        json_object_set_new(body, "drift", o);
    }
    if (api->tracker) {
        struct rec_online_stats on;
        rec_tracker_online(api->tracker, &on);
        json_t *o = json_pack("{s:I,s:I}", "positives", (json_int_t)on.positives, "hits",
                              (json_int_t)on.hits);
        json_object_set_new(o, "hit_rate", on.positives ? json_real((double)on.hits / (double)on.positives)
                                                        : json_null());
        json_object_set_new(body, "online", o);
    }
    if (api->ranker) {
        struct rec_ranker_stats rs;
        rec_ranker_stats(api->ranker, &rs);
        json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I}", "name", "ranker", "ready", rs.ready,
                              "examples", (json_int_t)rs.examples, "positives",
                              (json_int_t)rs.positives, "negatives", (json_int_t)rs.negatives,
                              "pending_impressions", (json_int_t)rs.pending_impressions);
        json_object_set_new(o, "auc", isfinite(rs.auc) ? json_real(rs.auc) : json_null());
        json_object_set_new(o, "auc_recent", isfinite(rs.auc_recent) ? json_real(rs.auc_recent) : json_null());
        json_array_append_new(models, o);
    }
    json_t *exps = json_array();
    for (int e = 0; api->experiments && e < api->experiments->n; e++)
        json_array_append_new(exps, json_string(api->experiments->list[e].name));
    json_object_set_new(body, "experiments", exps);
    rec_http_reply_json(res, 200, body);
}

void rec_api_train(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    const char *w = rec_http_query(req, "wait");
    int wait = w && (strcmp(w, "1") == 0 || strcmp(w, "true") == 0);
    /* a waiting request holds an HTTP worker for the whole run: only a few may */
    if (wait && atomic_fetch_add(&api->train_waiters, 1) >= api->max_train_waiters) {
        atomic_fetch_sub(&api->train_waiters, 1);
        rec_http_reply_error(res, 0, REC_EBUSY, "%d requests already wait for training; "
                             "retry later, or start it without wait and poll GET /v1/status",
                             api->max_train_waiters);
        return;
    }
    int rc = rec_engine_request_train(api->engine, wait);
    if (wait)
        atomic_fetch_sub(&api->train_waiters, 1);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "the server is shutting down; training did not finish");
        return;
    }
    struct rec_engine_status st;
    rec_engine_status(api->engine, &st);
    rec_http_reply_json(res, wait ? 200 : 202,
                        json_pack("{s:s,s:I,s:b,s:I}", "status", wait ? "done" : "started", "version",
                                  (json_int_t)st.als.version, "ready", st.als.present,
                                  "trained_events", (json_int_t)st.als.trained_events));
}

void rec_api_health(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    rec_http_reply_json(res, 200, json_pack("{s:s}", "status", "ok"));
}
