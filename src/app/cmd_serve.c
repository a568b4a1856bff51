/* cmd_serve.c: `recd serve`: store + engine + HTTP API until SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>

#include "app/app.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/api.h"
#include "store/store.h"

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

    struct rec_store *store;
    struct rec_engine *engine;
    if (rec_app_open(&c, 1, &store, &engine)) {
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
    };
    struct rec_http_config hc = {
        .bind = c.bind,
        .port = c.port,
        .threads = c.threads > 0 ? c.threads : 1,
        .max_body = (size_t)c.max_body,
        .app = &api,
    };
    hc.routes = rec_api_routes(&hc.n_routes);
    struct rec_http_server *http;
    char err[512];
    if (rec_http_start(&hc, &http, err, sizeof err)) {
        rec_error("cannot listen on %s:%d: %s", c.bind, c.port, err);
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
    rec_engine_shutdown(engine); /* releases requests waiting for a training run */
    rec_http_stop(http);
    rec_app_close(store, engine);
    rec_config_free(&c);
    return 0;
}
