/* cmd_serve.c: `recd serve`: store + engine + HTTP API (+ the Kafka consumer when
 * --kafka-brokers is set) until SIGINT or SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>

#include "app/app.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/halt.h"
#include "core/log.h"
#include "core/uid.h"
#include "exp/experiment.h"
#include "exp/tracker.h"
#include "http/api.h"
#include "http/auth.h"
#include "ingest/kafka.h"
#include "obs/monitor.h"
#include "rank/bandit.h"
#include "rank/rules.h"
#include "serve/engine.h"
#include "serve/ranker.h"
#include "serve/ranker_file.h"
#include "serve/ranker_saver.h"
#include "serve/settings.h"
#include "serve/source_bandit.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "store/store.h"

/* The HTTP security settings (docs/SECURITY.md); NULL members are off. */
struct security {
    struct rec_auth *auth;
    struct rec_ratelimit *ratelimit;
    struct rec_cors *cors;
};

static void security_close(struct security *sec)
{
    rec_cors_destroy(sec->cors);
    rec_ratelimit_destroy(sec->ratelimit);
    rec_auth_destroy(sec->auth);
    *sec = (struct security){0};
}

/* True for "localhost", 127.0.0.0/8, ::1 and ::ffff:127.x.y.z; false for anything else,
 * including what is not a numeric address (the server then refuses it). */
static int is_loopback(const char *bind)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcmp(bind, "localhost"))
        return 1;
    if (inet_pton(AF_INET, bind, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, bind, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

/* --tls-cert and --tls-key: both or neither (an empty value counts as not given, so a config
 * file can turn TLS off). The files themselves are read and checked by the HTTP server, which
 * names the one that is wrong. 0, or 1 after logging why. */
static int tls_check(struct rec_config *c)
{
    int cert = c->tls_cert && *c->tls_cert, key = c->tls_key && *c->tls_key;
    if (cert != key) {
        rec_error("--tls-cert and --tls-key go together: %s was given without %s", cert
                  ? "--tls-cert" : "--tls-key", cert ? "--tls-key" : "--tls-cert");
        return 1;
    }
    if (!cert) {
        rec_info("security: no --tls-cert: plain HTTP; use a TLS proxy in front on a network you "
                 "do not trust");
        return 0;
    }
    struct stat st;
    if (stat(c->tls_key, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
        rec_warn("security: the TLS key file %s is readable by other users (chmod 600 it)",
                 c->tls_key);
    return 0;
}

/* The connection limits of serve: 0, or 1 after logging which option is out of range. */
static int limits_check(const struct rec_config *c)
{
    if (c->max_connections < 1 || c->max_connections_per_ip < 0 || c->idle_timeout < 1) {
        rec_error("--max-connections and --idle-timeout must be at least 1, "
                  "--max-connections-per-ip at least 0 (0: no limit)");
        return 1;
    }
    if (c->max_body < 0 || c->max_body_memory <= c->max_body) {
        rec_error("--max-body-memory (%lld) must be larger than --max-body (%lld)",
                  (long long)c->max_body_memory, (long long)c->max_body);
        return 1;
    }
    return 0;
}

/* SIGHUP: reads the key file again and swaps the keys in (key rotation without a restart); a
 * file that does not parse leaves the current keys in place. Keys cannot be turned on or off
 * this way (without keys recd listens on loopback only). */
static void reload_keys(const struct rec_config *c, struct security *sec,
                        struct rec_http_server *http)
{
    if (!sec->auth)
        return;
    char err[512];
    struct rec_auth *fresh = NULL;
    if (rec_auth_load(c->keys, &fresh, err, sizeof err)) {
        rec_error("SIGHUP: --keys: %s; keeping the %d current keys", err,
                  rec_auth_n_keys(sec->auth));
        return;
    }
    const struct rec_auth *old = rec_http_swap_auth(http, fresh);
    if (old != sec->auth) { /* not swapped: cannot happen with a server started with keys */
        rec_auth_destroy(fresh);
        return;
    }
    rec_auth_destroy(sec->auth);
    sec->auth = fresh;
    rec_info("SIGHUP: %d API keys reloaded from %s", rec_auth_n_keys(fresh), c->keys);
}

/* Loads the API keys, the rate limiter and the CORS origins, and applies the bind rule: without
 * keys recd listens on 127.0.0.1 only (a non-loopback --bind is replaced, and the log says so)
 * unless --insecure-public. 0, or 1 after logging why. */
static int security_open(struct rec_config *c, struct security *sec)
{
    char err[512];
    *sec = (struct security){0};
    if (c->keys && *c->keys) {
        if (rec_auth_load(c->keys, &sec->auth, err, sizeof err)) {
            rec_error("--keys: %s", err);
            return 1;
        }
        struct stat st;
        if (stat(c->keys, &st) == 0 && (st.st_mode & S_IROTH))
            rec_warn("security: the key file %s is readable by every user (chmod 600 it)",
                     c->keys);
        rec_info("security: %d API keys from %s; every route but /health needs one",
                 rec_auth_n_keys(sec->auth), c->keys);
    } else if (c->bind && !is_loopback(c->bind) && !c->insecure_public) {
        char *lo = strdup("127.0.0.1");
        if (!lo) {
            rec_error("out of memory");
            return 1;
        }
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, c->bind, &a4) == 1 || inet_pton(AF_INET6, c->bind, &a6) == 1)
            rec_warn("security: no API keys (--keys), so recd binds 127.0.0.1 only, not %s: "
                     "give --keys FILE to serve other hosts (or --insecure-public to serve them "
                     "with no authentication)", c->bind);
        else
            rec_warn("security: no API keys (--keys), so recd binds 127.0.0.1 only (not '%s')",
                     c->bind);
        free(c->bind);
        c->bind = lo;
    } else if (c->bind && !is_loopback(c->bind)) {
        rec_warn("security: --insecure-public: listening on %s with no API keys; anyone who can "
                 "reach it may read, change and delete everything", c->bind);
    } else {
        rec_info("security: no API keys (--keys): no authentication, listening on loopback %s "
                 "only", c->bind ? c->bind : "127.0.0.1");
    }
    if (c->rate_limit < 0 || !isfinite(c->rate_limit) || c->rate_burst < 0) {
        rec_error("--rate-limit must be >= 0 (0: off) and --rate-burst >= 0");
        security_close(sec);
        return 1;
    }
    if (c->rate_limit > 0) {
        double b = c->rate_burst > 0 ? c->rate_burst : ceil(c->rate_limit);
        int burst = b < 1 ? 1 : b > 1e9 ? 1000000000 : (int)b;
        if (rec_ratelimit_create(c->rate_limit, burst, &sec->ratelimit)) {
            rec_error("out of memory");
            security_close(sec);
            return 1;
        }
        rec_info("security: rate limit %g requests/s, bursts of %d, per %s", c->rate_limit,
                 burst, sec->auth ? "API key" : "client address");
    }
    if (c->cors_origins && *c->cors_origins) {
        if (rec_cors_create(c->cors_origins, &sec->cors, err, sizeof err)) {
            rec_error("%s", err);
            security_close(sec);
            return 1;
        }
        rec_info("security: CORS allowed for %s", c->cors_origins);
    }
    if (tls_check(c)) {
        security_close(sec);
        return 1;
    }
    return 0;
}

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGHUP)
        rec_halt_request(); /* what runs gives up (core/halt.h), start-up included */
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) { /* a full pipe already holds a signal: enough */
    }
    errno = saved;
}

/* Unblocks the handled signals in this thread only and waits: their handler runs here. poll,
 * not pause, for ThreadSanitizer (see the main loop). */
static void *signal_taker(void *arg)
{
    (void)arg;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    for (;;)
        poll(NULL, 0, -1);
    return NULL;
}

/* The self-pipe, the handlers, and the mask the threads recd starts inherit (*sigs). 0, or 1
 * after logging why. */
static int signals_open(sigset_t *sigs)
{
    if (pipe(sig_pipe) != 0) {
        rec_error("cannot create the signal pipe: %s", strerror(errno));
        return 1;
    }
    fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
    fcntl(sig_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(sig_pipe[1], F_SETFD, FD_CLOEXEC);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigemptyset(sigs);
    const int handled[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t k = 0; k < sizeof handled / sizeof handled[0]; k++) {
        sigaddset(sigs, handled[k]);
        sigaction(handled[k], &sa, NULL);
    }
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* until the main thread unblocks them, once serving, a thread of its own takes them: the
     * start-up (the replay, the refit after a snapshot) polls the halt, which only a handler
     * that runs can set. Detached; it ends with the process. */
    pthread_t t;
    if (pthread_create(&t, NULL, signal_taker, NULL) == 0)
        pthread_detach(t);
    else
        rec_warn("no signal thread: a signal during start-up waits for the start to finish");
    return 0;
}

/* What watches the running server: the experiments, their tracker and the monitor. */
struct watch {
    struct rec_experiments *experiments;
    struct rec_tracker *tracker;
    struct rec_monitor *monitor;
    struct rec_engine *engine;
    struct rec_ts *explore;      /* exploration's posteriors (clicks counted here) */
    struct rec_ranker *ranker;   /* learns from every event */
    struct rec_ranker_saver *ranker_saver; /* keeps DATA/models/ranker.bin fresh */
    struct rec_source_bandit *sources; /* rewarded by the tracker */
};

/* The engine's observer: every committed event, whatever its source. */
static void on_events(void *ctx, const struct rec_event *ev, const uint8_t *inserted, int n)
{
    struct watch *w = ctx;
    rec_monitor_applied(w->monitor, ev, inserted, n);
    rec_tracker_events(w->tracker, ev, inserted, n, rec_wall_s());
    if (w->ranker)
        rec_ranker_events(w->ranker, w->engine, ev, inserted, n, rec_wall_s());
    for (int i = 0; w->explore && i < n; i++)
        if ((!inserted || inserted[i]) && ev[i].type == REC_EVENT_CLICK) {
            int32_t item = rec_engine_item_index(w->engine, ev[i].item);
            if (item >= 0)
                rec_ts_update(w->explore, item, 0, 1);
        }
}

/* The pipeline's settings from the configuration (rules are set apart). 0, or 1 after
 * logging a bad --fresh-half-lives. */
static int pipeline_config(const struct rec_config *c, struct rec_pipeline_config *pc)
{
    rec_pipeline_config_default(pc);
    pc->diversity = c->diversity;
    pc->max_per_category = c->max_per_category;
    pc->fresh_boost = c->fresh_boost;
    pc->fresh_half_life_s = c->fresh_half_life * 3600.0;
    pc->fresh_candidates = c->fresh_candidates;
    pc->explore_share = c->explore_share;
    pc->explore_max_impressions = c->explore_max_impressions;
    if (c->diversity < 0 || c->diversity > 1 || c->explore_share < 0 || c->explore_share > 1 ||
        c->fresh_candidates < 0 || c->fresh_candidates > 100 || c->max_per_category < 0) {
        rec_error("--diversity and --explore-share must be 0..1, --fresh-candidates 0..100, "
                  "--max-per-category >= 0");
        return 1;
    }
    const char *p = c->fresh_half_lives ? c->fresh_half_lives : "";
    while (*p) { /* cat=hours,cat=hours */
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        char *end;
        double h = eq ? strtod(eq + 1, &end) : 0;
        if (!eq || eq == p || (size_t)(eq - p) >= sizeof pc->half_life_cat[0] || end != p + len ||
            !(h > 0) || pc->n_half_lives == REC_PIPE_MAX_HALF_LIVES) {
            rec_error("--fresh-half-lives: expected category=hours,... (at most %d), at '%.*s'",
                      REC_PIPE_MAX_HALF_LIVES, (int)len, p);
            return 1;
        }
        snprintf(pc->half_life_cat[pc->n_half_lives], sizeof pc->half_life_cat[0], "%.*s",
                 (int)(eq - p), p);
        pc->half_life_s[pc->n_half_lives++] = h * 3600.0;
        p += len + (p[len] == ',');
    }
    return 0;
}

static void watch_close(struct watch *w)
{
    /* the monitor ticks the tracker, whose expiry rewards the source bandit: in that order */
    rec_monitor_close(w->monitor);
    rec_tracker_close(w->tracker);
    rec_source_bandit_free(w->sources);
    rec_ranker_saver_stop(w->ranker_saver); /* the last save: learning has stopped */
    rec_ranker_close(w->ranker);
    rec_ts_free(w->explore);
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

/* Opens the ranker with what it learned before the last stop (DATA/models/ranker.bin; a
 * damaged or mismatched file is logged and left out: the ranker starts fresh) and starts its
 * saver. 0, or 1 after logging why. */
static int ranker_open(const struct rec_config *c, struct watch *w)
{
    char err[1024], path[4096];
    struct rec_ranker_config rc;
    rec_ranker_config_default(&rc);
    rc.weight = c->ranker_weight;
    rc.min_examples = c->ranker_min_examples;
    rc.negative_window_s = c->ranker_negative_window * 60.0;
    rc.side_scale = c->ranker_side_scale;
    if (rec_ranker_open(&rc, &w->ranker, err, sizeof err)) {
        rec_error("ranker: %s", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/models/ranker.bin", c->data);
    int rc_load = rec_ranker_load(w->ranker, path, err, sizeof err);
    if (rc_load == 0) {
        struct rec_ranker_stats st;
        rec_ranker_stats(w->ranker, &st);
        rec_info("ranker: loaded %s: %" PRId64 " examples (%" PRId64 " positive), %s", path,
                 st.examples, st.positives, st.ready ? "ready" : "not ready yet");
    } else if (rc_load != REC_ENOTFOUND) { /* err: the path and why (damage, configuration) */
        rec_warn("ranker: ignoring %s; the ranker starts fresh", err);
    }
    if (rec_ranker_saver_start(w->ranker, path, c->ranker_save_seconds, &w->ranker_saver, err,
                               sizeof err)) {
        rec_error("--ranker-save-seconds: %s", err);
        return 1;
    }
    return 0;
}

/* Opens the tracker (replaying the store's log) and the monitor. 0, or 1 after logging why. */
static int watch_open(const struct rec_config *c, struct rec_store *store,
                      struct rec_engine *engine, struct watch *w)
{
    char err[512];
    if (c->ranker && ranker_open(c, w))
        return 1;
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
    mc.ranker = w->ranker;
    if (rec_monitor_open(&mc, engine, store, w->tracker, &w->monitor, err, sizeof err)) {
        rec_error("metrics: %s", err);
        return 1;
    }
    w->engine = engine;
    if (c->explore_share > 0 && rec_ts_new(1.0, 1.0, &w->explore)) {
        rec_error("out of memory");
        return 1;
    }
    if (c->source_bandit) {
        if (rec_source_bandit_new(1.0, &w->sources)) {
            rec_error("out of memory");
            return 1;
        }
        rec_tracker_set_reward_hook(w->tracker, rec_source_bandit_reward, w->sources);
    }
    rec_engine_set_observer(engine, on_events, w);
    return 0;
}

/* --user-id-key: the key (*key, NULL without it), checked against the store, and the
 * experiments' override pins keyed with it. 0, or 1 after logging why. */
static int open_user_key(const struct rec_config *c, struct rec_store *store, struct watch *w,
                         struct rec_uid_key **key)
{
    if (rec_app_user_key(c, store, 1, key))
        return 1;
    if (rec_experiments_key_users(w->experiments, *key)) {
        rec_error("out of memory");
        return 1;
    }
    return 0;
}

/* Starts the Kafka consumer when brokers are configured (*out stays NULL otherwise) and
 * publishes it to GET /v1/status. 0, or 1 after logging why. */
static int start_kafka(const struct rec_config *c, struct rec_store *store,
                       struct rec_engine *engine, const struct rec_uid_key *user_key,
                       struct rec_kafka **out)
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
    kc.user_key = user_key;
    if (user_key && c->kafka_dead_letter_bytes > 0)
        rec_info("kafka: with --user-id-key dead letters keep no message bytes (they may hold "
                 "raw user ids)");
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
    /* Everything below is torn down in one place (out:), in reverse order of what was set up;
     * each part's close accepts the zero state. */
    int status = 1, rules_lock = 0;
    struct security sec = {0};
    struct watch w = {0};
    struct rec_store *store = NULL;
    struct rec_engine *engine = NULL;
    struct rec_kafka *kafka = NULL;
    struct rec_http_server *http = NULL;
    struct rec_api api = {0};
    struct rec_uid_key *user_key = NULL;
    char err[1024] = "";
    sigset_t sigs;
    if (limits_check(&c) || security_open(&c, &sec))
        goto out;
    /* Signals: threads recd creates from here on inherit a mask that blocks these, and the main
     * thread unblocks them once serving; a handler turns each into a byte on a pipe the main
     * thread reads. A handler, not sigwait alone, because a library may have started threads
     * before main (OpenBLAS does): a signal the kernel hands to one of those must not take the
     * default action and end the process mid start-up. */
    if (signals_open(&sigs) || load_experiments(&c, &w))
        goto out;
    /* asked to stop during the replay or the refit: not a failure, and nothing to start */
    if (rec_app_open(&c, 1, &store, &engine) || rec_halt_requested()) {
        if (rec_halt_requested()) {
            rec_info("signal during start-up: shutting down");
            status = 0;
        }
        goto out;
    }
    /* before the tracker replays the experiments' log and before anything is received */
    if (open_user_key(&c, store, &w, &user_key) || watch_open(&c, store, engine, &w))
        goto out;
    api = (struct rec_api){
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
        .rules_path = c.rules && *c.rules ? c.rules : NULL,
        .explore = w.explore,
        .ranker = w.ranker,
        .source_bandit = w.sources,
        .user_key = user_key,
    };
    pthread_rwlock_init(&api.rules_lock, NULL);
    rules_lock = 1;
    if (pipeline_config(&c, &api.pipeline))
        goto out;
    if (api.rules_path && rec_api_reload_rules(&api, err, sizeof err)) {
        rec_error("%s", err);
        goto out;
    }
    api.pipeline.explore = w.explore;
    api.pipeline.ranker = w.ranker;
    struct rec_http_config hc = {
        .bind = c.bind,
        .port = c.port,
        .threads = c.threads > 0 ? c.threads : 1,
        .max_body = (size_t)c.max_body,
        .body_memory = (size_t)c.max_body_memory,
        .idle_timeout_s = (unsigned)c.idle_timeout,
        .max_conns = (unsigned)c.max_connections,
        .max_conns_per_ip = (unsigned)c.max_connections_per_ip,
        .tls_cert = c.tls_cert && *c.tls_cert ? c.tls_cert : NULL,
        .tls_key = c.tls_key && *c.tls_key ? c.tls_key : NULL,
        .tls_priorities = c.tls_priorities,
        .log_routes = user_key != NULL, /* raw user ids stay out of the log */
        .app = &api,
        .on_done = rec_api_on_done,
        .route_scopes = rec_api_route_scopes(),
        .auth = sec.auth,
        .ratelimit = sec.ratelimit,
        .cors = sec.cors,
    };
    hc.routes = rec_api_routes(&hc.n_routes);
    if (start_kafka(&c, store, engine, user_key, &kafka))
        goto out;
    if (rec_http_start(&hc, &http, err, sizeof err)) {
        rec_error("cannot start the HTTP server on %s:%d: %s", c.bind, c.port, err);
        goto out;
    }
    rec_info("recd %s listening on %s://%s:%d (data in %s)", RECD_VERSION,
             hc.tls_cert ? "https" : "http", c.bind, rec_http_port(http), c.data);
    fflush(stderr);

    int sig = 0;
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    for (;;) {
        /* poll first, then read: ThreadSanitizer runs a signal's handler while the thread waits
         * in poll, but defers it while the thread waits in read (gcc 12), so a bare read never
         * saw SIGTERM in a TSan build */
        struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno == EINTR)
            continue;
        unsigned char b;
        ssize_t got = read(sig_pipe[0], &b, 1);
        if (got < 0 && errno == EINTR)
            continue;
        sig = got == 1 ? b : SIGTERM;
        if (sig != SIGHUP)
            break;
        if (api.rules_path && rec_api_reload_rules(&api, err, sizeof err) == 0)
            rec_info("SIGHUP: rules reloaded");
        else if (!api.rules_path)
            rec_info("SIGHUP: no rules file to reload");
        reload_keys(&c, &sec, http);
    }
    rec_info("signal %d: shutting down", sig);
    status = 0;
out:
    rec_kafka_stop(kafka); /* makes what it received durable and commits, while all is up */
    if (engine)
        rec_engine_shutdown(engine); /* releases requests waiting for a training run */
    rec_http_stop(http);
    if (engine)
        rec_engine_set_observer(engine, NULL, NULL);
    watch_close(&w); /* the tracker writes its last log rows while the store is open */
    if (store || engine)
        rec_app_close(store, engine);
    rec_rules_free(api.rules);
    if (rules_lock)
        pthread_rwlock_destroy(&api.rules_lock);
    security_close(&sec); /* after the server: requests read it until rec_http_stop */
    rec_uid_key_destroy(user_key); /* after the server and the Kafka consumer, its users */
    rec_config_free(&c);
    return status;
}
