/* monitor.c: see monitor.h. The registry's families are fixed at open; the gauges whose value
 * lives elsewhere (store counts, model, Kafka, drift, online quality) are read by a collector
 * at render time, so a scrape always sees current values without a second copy to keep fresh.
 */
#include "obs/monitor.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "exp/tracker.h"
#include "ingest/kafka.h"
#include "obs/drift.h"
#include "obs/metrics.h"
#include "serve/engine.h"
#include "serve/ranker.h"
#include "store/store.h"

/* Scores buffered before the score histogram's range is fixed (their 1st..99th percentile,
 * widened by half its span each side): model scores have no fixed scale (iALS dot products,
 * standardized blends), so the range is learned from the first scores served. */
#define SCORE_CALIBRATION 500

static const double latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
#define N_LATENCY_BUCKETS ((int)(sizeof latency_buckets / sizeof latency_buckets[0]))

struct rec_monitor {
    struct rec_monitor_config c;
    struct rec_engine *engine;
    struct rec_store *store;
    struct rec_tracker *tracker;
    struct rec_metrics_registry *reg;
    struct rec_metric *requests, *latency, *received, *duplicates, *rejected, *applied, *served,
        *rec_latency;
    struct rec_drift *pop_drift;
    pthread_mutex_t mu;                 /* guards what follows */
    struct rec_drift *score_drift;      /* NULL until calibrated */
    double calib[SCORE_CALIBRATION];
    int n_calib;
    struct rec_monitor_sample hist[REC_MONITOR_HISTORY];
    int hist_start, hist_n;
    uint64_t last_lat[N_LATENCY_BUCKETS + 1];
    double last_ts;
    int64_t last_events, last_requests;
    pthread_t sampler;
    pthread_cond_t cv;
    int stopping, has_sampler;
};

static double wall_now(void) { return rec_wall_s(); }

void rec_monitor_config_default(struct rec_monitor_config *c)
{
    c->interval_s = 5;
    c->drift_window_s = 3600;
    c->drift_threshold = 0.5;
    c->drift_min_events = 200;
    c->ranker = NULL;
}

/* ---- drift ---- */

static void drift_config(const struct rec_monitor *m, struct rec_drift_config *dc)
{
    rec_drift_config_default(dc);
    dc->window_s = m->c.drift_window_s;
    dc->threshold = m->c.drift_threshold;
    dc->min_events = dc->min_scores = m->c.drift_min_events;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fixes the score range from the buffered scores and replays them. Under m->mu. */
static void calibrate_scores(struct rec_monitor *m, double now)
{
    qsort(m->calib, (size_t)m->n_calib, sizeof m->calib[0], cmp_double);
    double lo = m->calib[m->n_calib / 100], hi = m->calib[m->n_calib - 1 - m->n_calib / 100];
    double pad = hi > lo ? (hi - lo) / 2 : fabs(lo) * 0.5 + 1e-3;
    struct rec_drift_config dc;
    drift_config(m, &dc);
    dc.score_lo = lo - pad;
    dc.score_hi = hi + pad;
    char err[256];
    if (rec_drift_new(&dc, now, &m->score_drift, err, sizeof err)) {
        rec_warn("monitor: score drift disabled: %s", err);
        m->n_calib = -1;
        return;
    }
    for (int k = 0; k < m->n_calib; k++)
        rec_drift_observe_score(m->score_drift, m->calib[k], now);
    rec_info("monitor: score drift bins over [%.4g, %.4g]", dc.score_lo, dc.score_hi);
}

static void drift_values(struct rec_monitor *m, double now, struct rec_monitor_drift *d)
{
    struct rec_drift_status ps, ss;
    rec_drift_status(m->pop_drift, now, &ps);
    pthread_mutex_lock(&m->mu);
    struct rec_drift *sd = m->score_drift;
    pthread_mutex_unlock(&m->mu);
    d->kl_score = NAN;
    if (sd) {
        rec_drift_status(sd, now, &ss);
        d->kl_score = ss.kl_score;
    }
    d->kl_popularity = ps.kl_popularity;
    d->threshold = m->c.drift_threshold;
    d->window_s = m->c.drift_window_s;
    d->alert = (!isnan(d->kl_popularity) && d->kl_popularity > d->threshold) ||
               (!isnan(d->kl_score) && d->kl_score > d->threshold);
}

/* ---- hooks ---- */

void rec_monitor_request(struct rec_monitor *m, const char *route, const char *method, int status,
                         double seconds)
{
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    const char *v[] = {route, method, code};
    rec_metric_add(m->requests, v, 1);
    rec_metric_observe(m->latency, v, seconds);
}

void rec_monitor_received(struct rec_monitor *m, const char *source, int n, int dup)
{
    const char *v[] = {source};
    rec_metric_add(m->received, v, n);
    rec_metric_add(m->duplicates, v, dup);
}

void rec_monitor_rejected(struct rec_monitor *m, const char *source, const char *reason, int n)
{
    const char *v[] = {source, reason};
    rec_metric_add(m->rejected, v, n);
}

void rec_monitor_applied(struct rec_monitor *m, const struct rec_event *ev, const uint8_t *inserted,
                         int n)
{
    double now = wall_now();
    for (int i = 0; i < n; i++) {
        if (inserted && !inserted[i])
            continue;
        const char *v[] = {rec_event_type_name(ev[i].type)};
        rec_metric_add(m->applied, v, 1);
        int32_t item = rec_engine_item_index(m->engine, ev[i].item);
        if (item >= 0 && ev[i].type != REC_EVENT_IMPRESSION)
            rec_drift_observe_item(m->pop_drift, item, now);
    }
}

void rec_monitor_served(struct rec_monitor *m, const char *variant, double seconds,
                        double model_score)
{
    const char *v[] = {variant};
    rec_metric_add(m->served, v, 1);
    rec_metric_observe(m->rec_latency, NULL, seconds);
    if (isnan(model_score))
        return;
    double now = wall_now();
    pthread_mutex_lock(&m->mu);
    if (m->score_drift) {
        struct rec_drift *sd = m->score_drift;
        pthread_mutex_unlock(&m->mu);
        rec_drift_observe_score(sd, model_score, now);
        return;
    }
    if (m->n_calib >= 0 && m->n_calib < SCORE_CALIBRATION)
        m->calib[m->n_calib++] = model_score;
    if (m->n_calib == SCORE_CALIBRATION)
        calibrate_scores(m, now);
    pthread_mutex_unlock(&m->mu);
}

/* ---- the collector: values that live elsewhere ---- */

static void collect(void *ctx, struct rec_metrics_out *o)
{
    struct rec_monitor *m = ctx;
    struct rec_engine_status st;
    rec_engine_status(m->engine, &st);
    int64_t n_items = 0, n_users = 0, n_events = 0;
    if (m->store && rec_store_count(m->store, &n_items, &n_users, &n_events) == 0) {
        rec_metrics_out_family(o, "recd_store_events", "gauge", "events in the durable store");
        rec_metrics_out_sample(o, "recd_store_events", (double)n_events, NULL);
    }
    rec_metrics_out_family(o, "recd_items", "gauge", "live items in memory");
    rec_metrics_out_sample(o, "recd_items", (double)st.n_items, NULL);
    rec_metrics_out_family(o, "recd_users", "gauge", "users in memory");
    rec_metrics_out_sample(o, "recd_users", (double)st.n_users, NULL);
    rec_metrics_out_family(o, "recd_model_version", "gauge", "version of the served model (0: none yet)");
    rec_metrics_out_sample(o, "recd_model_version", (double)st.als.version, "model", "als", NULL);
    rec_metrics_out_family(o, "recd_model_ready", "gauge", "1 when the model is being served");
    rec_metrics_out_sample(o, "recd_model_ready", st.als.present, "model", "als", NULL);
    rec_metrics_out_family(o, "recd_model_trained_events", "gauge", "events the served model was trained on");
    rec_metrics_out_sample(o, "recd_model_trained_events", (double)st.als.trained_events, "model", "als", NULL);
    if (st.als.present) {
        rec_metrics_out_family(o, "recd_training_duration_seconds", "gauge", "wall time of the last successful training");
        rec_metrics_out_sample(o, "recd_training_duration_seconds", st.als.duration_s, "model", "als", NULL);
        rec_metrics_out_family(o, "recd_training_last_success_timestamp_seconds", "gauge", "Unix time of the last successful training");
        rec_metrics_out_sample(o, "recd_training_last_success_timestamp_seconds", (double)st.als.trained_at, "model", "als", NULL);
    }
    rec_metrics_out_family(o, "recd_training_in_progress", "gauge", "1 while a training run is under way");
    rec_metrics_out_sample(o, "recd_training_in_progress", st.als.training, "model", "als", NULL);

    if (m->tracker) {
        struct rec_online_stats on;
        rec_tracker_online(m->tracker, &on);
        rec_metrics_out_family(o, "recd_online_positive_events_total", "counter",
                               "positive events of users who had a recommendation list within the attribution window");
        rec_metrics_out_sample(o, "recd_online_positive_events_total", (double)on.positives, NULL);
        rec_metrics_out_family(o, "recd_online_hits_total", "counter",
                               "those positive events whose item was on such a list");
        rec_metrics_out_sample(o, "recd_online_hits_total", (double)on.hits, NULL);
        rec_metrics_out_family(o, "recd_online_hit_rate", "gauge", "hits / positive events (NaN before any)");
        rec_metrics_out_sample(o, "recd_online_hit_rate",
                               on.positives ? (double)on.hits / (double)on.positives : NAN, NULL);
    }
    if (m->c.ranker) {
        struct rec_ranker_stats rs;
        rec_ranker_stats(m->c.ranker, &rs);
        rec_metrics_out_family(o, "recd_ranker_examples_total", "counter", "labelled events the ranker learned");
        rec_metrics_out_sample(o, "recd_ranker_examples_total", (double)rs.positives, "label", "positive", NULL);
        rec_metrics_out_sample(o, "recd_ranker_examples_total", (double)rs.negatives, "label", "negative", NULL);
        rec_metrics_out_family(o, "recd_ranker_auc", "gauge",
                               "progressive-validation AUC of the ranker (each example predicted before it is learned)");
        rec_metrics_out_sample(o, "recd_ranker_auc", rs.auc, "window", "all", NULL);
        rec_metrics_out_sample(o, "recd_ranker_auc", rs.auc_recent, "window", "recent", NULL);
        rec_metrics_out_family(o, "recd_ranker_ready", "gauge", "1 once the ranker re-scores lists");
        rec_metrics_out_sample(o, "recd_ranker_ready", rs.ready, NULL);
    }
    struct rec_monitor_drift d;
    drift_values(m, wall_now(), &d);
    rec_metrics_out_family(o, "recd_drift_kl", "gauge",
                           "KL divergence of the current window from the previous one (NaN until both have enough data)");
    rec_metrics_out_sample(o, "recd_drift_kl", d.kl_popularity, "distribution", "item_popularity", NULL);
    rec_metrics_out_sample(o, "recd_drift_kl", d.kl_score, "distribution", "model_score", NULL);
    rec_metrics_out_family(o, "recd_drift_threshold", "gauge", "KL above which drift is reported");
    rec_metrics_out_sample(o, "recd_drift_threshold", d.threshold, NULL);
    rec_metrics_out_family(o, "recd_drift_alert", "gauge", "1 when a drift KL is above the threshold");
    rec_metrics_out_sample(o, "recd_drift_alert", d.alert, NULL);

    struct rec_kafka_stats *k = malloc(sizeof *k);
    if (k && rec_kafka_published_stats(k) == 0) {
        rec_metrics_out_family(o, "recd_kafka_lag", "gauge", "messages behind the high watermark, per partition");
        for (int i = 0; i < k->n_partitions && i < REC_KAFKA_MAX_REPORTED; i++) {
            char part[16];
            snprintf(part, sizeof part, "%d", (int)k->partitions[i].partition);
            if (k->partitions[i].lag >= 0)
                rec_metrics_out_sample(o, "recd_kafka_lag", (double)k->partitions[i].lag, "topic",
                                       k->topic, "partition", part, NULL);
        }
        rec_metrics_out_family(o, "recd_kafka_messages_total", "counter", "Kafka messages consumed");
        rec_metrics_out_sample(o, "recd_kafka_messages_total", (double)k->consumed, "topic", k->topic, NULL);
        rec_metrics_out_family(o, "recd_events_received_kafka_total", "counter", "events received from Kafka, by outcome");
        rec_metrics_out_sample(o, "recd_events_received_kafka_total", (double)k->applied, "outcome", "applied", NULL);
        rec_metrics_out_sample(o, "recd_events_received_kafka_total", (double)k->duplicates, "outcome", "duplicate", NULL);
        rec_metrics_out_sample(o, "recd_events_received_kafka_total", (double)k->invalid_events, "outcome", "invalid", NULL);
        rec_metrics_out_family(o, "recd_kafka_dead_letters_total", "counter", "messages recorded as dead letters");
        rec_metrics_out_sample(o, "recd_kafka_dead_letters_total", (double)k->dead_letters, NULL);
    }
    free(k);
}

/* ---- the sampler ---- */

static void take_sample(struct rec_monitor *m)
{
    double now = wall_now();
    if (m->tracker)
        rec_tracker_sample(m->tracker, now);
    struct rec_monitor_sample s = {.ts = now};
    s.events_total = (int64_t)rec_metric_total(m->applied);
    s.requests_total = (int64_t)rec_metric_total(m->requests);
    uint64_t lat[N_LATENCY_BUCKETS + 1], delta[N_LATENCY_BUCKETS + 1];
    double sum;
    uint64_t count;
    rec_metric_histogram_totals(m->rec_latency, lat, &sum, &count);
    struct rec_engine_status st;
    rec_engine_status(m->engine, &st);
    s.model_version = st.als.version;
    s.hit_rate = NAN;
    if (m->tracker) {
        struct rec_online_stats on;
        rec_tracker_online(m->tracker, &on);
        if (on.positives > 0)
            s.hit_rate = (double)on.hits / (double)on.positives;
    }
    struct rec_monitor_drift d;
    drift_values(m, now, &d);
    s.kl_popularity = d.kl_popularity;
    s.kl_score = d.kl_score;

    pthread_mutex_lock(&m->mu);
    double dt = now - m->last_ts;
    s.events_per_s = dt > 0 ? (double)(s.events_total - m->last_events) / dt : 0;
    s.requests_per_s = dt > 0 ? (double)(s.requests_total - m->last_requests) / dt : 0;
    for (int b = 0; b <= N_LATENCY_BUCKETS; b++)
        delta[b] = lat[b] - m->last_lat[b];
    s.p50_ms = rec_histogram_quantile(latency_buckets, N_LATENCY_BUCKETS, delta, 0.5) * 1e3;
    s.p99_ms = rec_histogram_quantile(latency_buckets, N_LATENCY_BUCKETS, delta, 0.99) * 1e3;
    memcpy(m->last_lat, lat, sizeof lat);
    m->last_ts = now;
    m->last_events = s.events_total;
    m->last_requests = s.requests_total;
    int at = (m->hist_start + m->hist_n) % REC_MONITOR_HISTORY;
    if (m->hist_n == REC_MONITOR_HISTORY)
        m->hist_start = (m->hist_start + 1) % REC_MONITOR_HISTORY;
    else
        m->hist_n++;
    m->hist[at] = s;
    pthread_mutex_unlock(&m->mu);
}

static void *sampler_main(void *arg)
{
    struct rec_monitor *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double at = (double)ts.tv_sec + ts.tv_nsec / 1e9 + m->c.interval_s;
        ts.tv_sec = (time_t)at;
        ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
        if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0 && m->stopping)
            break;
        pthread_mutex_unlock(&m->mu);
        take_sample(m);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- public ---- */

int rec_monitor_open(const struct rec_monitor_config *c, struct rec_engine *engine,
                     struct rec_store *store, struct rec_tracker *tracker,
                     struct rec_monitor **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!(c->interval_s >= 0.05) || !(c->drift_window_s > 0) || !(c->drift_threshold >= 0))
        return rec_errf(err, errlen, REC_EINVAL,
                        "metrics interval must be >= 0.05 s, drift window > 0, drift threshold >= 0");
    struct rec_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    m->c = *c;
    m->engine = engine;
    m->store = store;
    m->tracker = tracker;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->last_ts = wall_now();
    struct rec_metrics_registry *r = m->reg = rec_metrics_new();
    if (r) {
        m->requests = rec_metrics_counter(r, "recd_http_requests_total", "HTTP requests answered",
                                          "route,method,status");
        m->latency = rec_metrics_histogram(r, "recd_http_request_duration_seconds",
                                           "time from request line to reply queued",
                                           "route,method,status", latency_buckets, N_LATENCY_BUCKETS);
        m->received = rec_metrics_counter(r, "recd_events_received_total",
                                          "valid events received, duplicates included", "source");
        m->duplicates = rec_metrics_counter(r, "recd_events_duplicate_total",
                                            "events already stored (redelivered or retried)", "source");
        m->rejected = rec_metrics_counter(r, "recd_events_rejected_total",
                                          "events refused by validation", "source,reason");
        m->applied = rec_metrics_counter(r, "recd_events_applied_total",
                                         "new events stored and applied to the models, any source", "type");
        m->served = rec_metrics_counter(r, "recd_recommendations_total",
                                        "recommendation lists served", "variant");
        m->rec_latency = rec_metrics_histogram(r, "recd_recommend_duration_seconds",
                                               "time to build a recommendation list", NULL,
                                               latency_buckets, N_LATENCY_BUCKETS);
    }
    struct rec_drift_config dc;
    drift_config(m, &dc);
    int rc = r && m->requests && m->latency && m->received && m->duplicates && m->rejected &&
                     m->applied && m->served && m->rec_latency &&
                     rec_metrics_add_collector(r, collect, m) == 0
                 ? 0
                 : rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    if (!rc)
        rc = rec_drift_new(&dc, m->last_ts, &m->pop_drift, err, errlen);
    if (!rc) {
        if (pthread_create(&m->sampler, NULL, sampler_main, m))
            rc = rec_errf(err, errlen, REC_ENOMEM, "cannot start the metrics sampler");
        else
            m->has_sampler = 1;
    }
    if (rc) {
        rec_monitor_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void rec_monitor_close(struct rec_monitor *m)
{
    if (!m)
        return;
    if (m->has_sampler) {
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->sampler, NULL);
    }
    rec_drift_free(m->pop_drift);
    rec_drift_free(m->score_drift);
    rec_metrics_free(m->reg);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int rec_monitor_history(struct rec_monitor *m, double since, struct rec_monitor_sample *out,
                        int max)
{
    pthread_mutex_lock(&m->mu);
    int n = 0;
    for (int k = 0; k < m->hist_n && n < max; k++) {
        const struct rec_monitor_sample *s = &m->hist[(m->hist_start + k) % REC_MONITOR_HISTORY];
        if (s->ts > since)
            out[n++] = *s;
    }
    pthread_mutex_unlock(&m->mu);
    return n;
}

double rec_monitor_interval(const struct rec_monitor *m) { return m->c.interval_s; }

void rec_monitor_drift(struct rec_monitor *m, struct rec_monitor_drift *d)
{
    drift_values(m, wall_now(), d);
}

char *rec_monitor_render(struct rec_monitor *m, size_t *len)
{
    return rec_metrics_render(m->reg, len);
}
