/* cmd_serve.c: `recd serve`: store + engine + HTTP API (+ the Kafka consumer when
 * --kafka-brokers is set) until SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>

#include "app/app.h"
#include "core/clock.h"
#include "core/log.h"
#include "exp/experiment.h"
#include "exp/tracker.h"
#include "http/api.h"
#include "ingest/kafka.h"
#include "obs/monitor.h"
#include "serve/settings.h"
#include "store/store.h"

/* What watches the running server: the experiments, their tracker and the monitor. */
struct watch {
    struct rec_experiments *experiments;
    struct rec_tracker *tracker;
    struct rec_monitor *monitor;
};

/* The engine's observer: every committed event, whatever its source. */
static void on_events(void *ctx, const struct rec_event *ev, const uint8_t *inserted, int n)
{
    struct watch *w = ctx;
    rec_monitor_applied(w->monitor, ev, inserted, n);
    rec_tracker_events(w->tracker, ev, inserted, n, rec_wall_s());
}

static void watch_close(struct watch *w)
{
    rec_monitor_close(w->monitor);
    rec_tracker_close(w->tracker);
    rec_experiments_free(w->experiments);
}

/* Loads the experiments file (when given). 0, or 1 after logging why. */
static int load_experiments(const struct rec_config *c, struct watch *w)
{
    if (!c->experiments || !*c->experiments)
        return 0;
    char err[512];
    if (rec_experiments_load(c->experiments, rec_settings_check, &w->experiments, err, sizeof err)) {
        rec_error("experiments: %s", err);
        return 1;
    }
    rec_info("experiments: %d loaded from %s", w->experiments->n, c->experiments);
    return 0;
}

/* Opens the tracker (replaying the store's log) and the monitor. 0, or 1 after logging why. */
static int watch_open(const struct rec_config *c, struct rec_store *store,
                      struct rec_engine *engine, struct watch *w)
{
    char err[512];
    struct rec_tracker_config tc;
    rec_tracker_config_default(&tc);
    tc.window_s = c->attribution_window * 60.0;
    if (rec_tracker_open(&tc, w->experiments, store, rec_wall_s(), &w->tracker, err, sizeof err)) {
        rec_error("experiments: %s", err);
        return 1;
    }
    struct rec_monitor_config mc;
    rec_monitor_config_default(&mc);
    mc.interval_s = c->metrics_interval;
    mc.drift_window_s = c->drift_window * 60.0;
    mc.drift_threshold = c->drift_threshold;
    mc.drift_min_events = c->drift_min_events;
    if (rec_monitor_open(&mc, engine, store, w->tracker, &w->monitor, err, sizeof err)) {
        rec_error("metrics: %s", err);
        return 1;
    }
    rec_engine_set_observer(engine, on_events, w);
    return 0;
}

/* Starts the Kafka consumer when brokers are configured (*out stays NULL otherwise) and
 * publishes it to GET /v1/status. 0, or 1 after logging why. */
static int start_kafka(const struct rec_config *c, struct rec_store *store,
                       struct rec_engine *engine, struct rec_kafka **out)
{
    *out = NULL;
    if (!c->kafka_brokers || !*c->kafka_brokers)
        return 0;
    struct rec_kafka_config kc;
    rec_kafka_config_default(&kc);
    kc.brokers = c->kafka_brokers;
    kc.topic = c->kafka_topic;
    kc.group = c->kafka_group;
    kc.dead_letter_topic = c->kafka_dead_letter_topic;
    kc.properties = c->kafka_properties;
    kc.max_events = c->max_batch;
    kc.batch_messages = c->kafka_batch;
    kc.dead_letter_bytes = c->kafka_dead_letter_bytes;
    char err[512];
    if (rec_kafka_start(&kc, store, engine, out, err, sizeof err)) {
        rec_error("cannot start the Kafka consumer: %s", err);
        return 1;
    }
    rec_kafka_publish(*out);
    return 0;
}

int rec_cmd_serve(int argc, char **argv)
{
    struct rec_config c;
    int rc = rec_app_config(&c, REC_CMD_SERVE, "serve", "[options]", argc, argv, NULL, 0, NULL);
    if (rc)
        return rc - 1;

    /* every thread created from here on inherits the mask, so only sigwait sees these */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct watch w = {0};
    if (load_experiments(&c, &w)) {
        rec_config_free(&c);
        return 1;
    }
    struct rec_store *store;
    struct rec_engine *engine;
    if (rec_app_open(&c, 1, &store, &engine)) {
        watch_close(&w);
        rec_config_free(&c);
        return 1;
    }
    if (watch_open(&c, store, engine, &w)) {
        rec_engine_set_observer(engine, NULL, NULL);
        watch_close(&w);
        rec_app_close(store, engine);
        rec_config_free(&c);
        return 1;
    }
    struct rec_api api = {
        .store = store,
        .engine = engine,
        .max_batch = c.max_batch,
        .max_n = c.max_n,
        .history_max = c.history_max,
        .started_mono = rec_mono_s(),
        .max_train_waiters = c.threads > 3 ? c.threads / 2 : 1,
        .experiments = w.experiments,
        .tracker = w.tracker,
        .monitor = w.monitor,
    };
    struct rec_http_config hc = {
        .bind = c.bind,
        .port = c.port,
        .threads = c.threads > 0 ? c.threads : 1,
        .max_body = (size_t)c.max_body,
        .app = &api,
        .on_done = rec_api_on_done,
    };
    hc.routes = rec_api_routes(&hc.n_routes);
    char err[512];
    struct rec_kafka *kafka = NULL;
    if (start_kafka(&c, store, engine, &kafka)) {
        rec_engine_set_observer(engine, NULL, NULL);
        watch_close(&w);
        rec_app_close(store, engine);
        rec_config_free(&c);
        return 1;
    }
    struct rec_http_server *http;
    if (rec_http_start(&hc, &http, err, sizeof err)) {
        rec_error("cannot listen on %s:%d: %s", c.bind, c.port, err);
        rec_kafka_stop(kafka);
        rec_engine_set_observer(engine, NULL, NULL);
        watch_close(&w);
        rec_app_close(store, engine);
        rec_config_free(&c);
        return 1;
    }
    rec_info("recd %s listening on http://%s:%d (data in %s)", RECD_VERSION, c.bind,
             rec_http_port(http), c.data);
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    rec_info("signal %d: shutting down", sig);
    rec_kafka_stop(kafka); /* makes what it received durable and commits, while all is up */
    rec_engine_shutdown(engine); /* releases requests waiting for a training run */
    rec_http_stop(http);
    rec_engine_set_observer(engine, NULL, NULL);
    watch_close(&w); /* the tracker writes its last log rows while the store is open */
    rec_app_close(store, engine);
    rec_config_free(&c);
    return 0;
}
