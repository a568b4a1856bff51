/* monitor.h: what `recd serve` knows about itself while it runs: Prometheus metrics (requests
 * and latency per route, events by type and source, rejected events by reason, lists served per
 * variant, model state, Kafka lag, online quality, drift), a sampled history for the dashboard,
 * and drift checks (item popularity and model scores, current window against the previous one).
 *
 * A sampler thread takes one point every interval (720 are kept): totals and rates, p50/p99 of
 * recommendation latency over the interval, the model version, the online hit rate and the
 * drift values; it also gives the tracker its tick. All functions are thread-safe.
 */
#ifndef REC_OBS_MONITOR_H
#define REC_OBS_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"

struct rec_engine;
struct rec_store;
struct rec_tracker;
struct rec_monitor;

#define REC_MONITOR_HISTORY 720

struct rec_monitor_config {
    double interval_s;         /* sampler period (default 5) */
    double drift_window_s;     /* default 3600 */
    double drift_threshold;    /* nats (default 0.5) */
    int drift_min_events;      /* per window (default 200) */
    struct rec_ranker *ranker; /* its online AUC is exported; NULL: none */
};
void rec_monitor_config_default(struct rec_monitor_config *c);

/* engine, store and tracker (NULL: none) must outlive the monitor. */
int rec_monitor_open(const struct rec_monitor_config *c, struct rec_engine *engine,
                     struct rec_store *store, struct rec_tracker *tracker,
                     struct rec_monitor **out, char *err, size_t errlen);
/* Stops the sampler and frees. NULL is a no-op. */
void rec_monitor_close(struct rec_monitor *m);

/* One answered HTTP request: route pattern ("other" when none matched). */
void rec_monitor_request(struct rec_monitor *m, const char *route, const char *method, int status,
                         double seconds);
/* Events received from source ("http", "kafka"): n valid ones of which dup were duplicates. */
void rec_monitor_received(struct rec_monitor *m, const char *source, int n, int dup);
/* n events of source rejected for reason (a short snake_case word). */
void rec_monitor_rejected(struct rec_monitor *m, const char *source, const char *reason, int n);
/* New events committed (the engine's observer): counts by type, feeds popularity drift. */
void rec_monitor_applied(struct rec_monitor *m, const struct rec_event *ev, const uint8_t *inserted,
                         int n);
/* One recommendation list served under variant ("default" outside experiments) in seconds;
 * model_score is the model's score of its best personalized candidate (NAN: none). */
void rec_monitor_served(struct rec_monitor *m, const char *variant, double seconds,
                        double model_score);

struct rec_monitor_sample {
    double ts;
    int64_t events_total, requests_total;
    double events_per_s, requests_per_s;
    double p50_ms, p99_ms;     /* recommendation latency over the interval; NAN when none */
    int64_t model_version;
    double hit_rate;           /* online hit rate so far; NAN before any positive */
    double kl_popularity, kl_score;   /* NAN while not comparable */
};
/* Up to max samples with ts > since, oldest first; returns how many. */
int rec_monitor_history(struct rec_monitor *m, double since, struct rec_monitor_sample *out,
                        int max);
/* The sampler period. */
double rec_monitor_interval(const struct rec_monitor *m);

struct rec_monitor_drift {
    double kl_popularity, kl_score;   /* NAN while not comparable */
    double threshold, window_s;
    int alert;
};
void rec_monitor_drift(struct rec_monitor *m, struct rec_monitor_drift *d);

/* The Prometheus text exposition (format 0.0.4), malloc'd; NULL on ENOMEM. */
char *rec_monitor_render(struct rec_monitor *m, size_t *len);

#endif
