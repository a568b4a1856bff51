/* bench_recommend: in-process latency of the full recommendation pipeline (iALS + kNN +
 * popularity fusion, filters, reasons) for every user of a data set, after training.
 *
 *   bench_recommend PATH|synthetic:USERS:ITEMS:EVENTS [n] [rounds] [users]
 *
 * users > 0 times that many users spread evenly over all of them instead of every user (a
 * large catalog). Prints p50/p95/p99 microseconds per request, requests/s on one thread, how
 * many requests took their iALS candidates from the approximate index, ingest rate of the
 * replay (events/s with per-user fold-in once a model exists), the memory the replay and the
 * training added to the process (resident set, from /proc/self/status, per event and per
 * item), and a checksum of the lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/clock.h"
#include "core/idmap.h"
#include "core/log.h"
#include "gen/synth.h"
#include "ingest/import.h"
#include "app/app.h"
#include "serve/engine.h"
#include "serve/pipeline.h"

struct loader {
    struct rec_engine *e;
    struct rec_idmap users;
    int64_t seq, n;
};

static int on_event(void *ctx, const struct rec_event *ev)
{
    struct loader *l = ctx;
    struct rec_event copy = *ev;
    copy.seq = ++l->seq;
    rec_idmap_put(&l->users, ev->user, NULL);
    l->n++;
    return rec_engine_apply_events(l->e, &copy, 1, NULL);
}

static int on_doc(void *ctx, const char *id, const char *doc) { return 0; }



int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_recommend PATH|synthetic:USERS:ITEMS:EVENTS [n] [rounds] [users]\n");
        return 2;
    }
    int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 10;
    int rounds = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 3;
    int max_users = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 0;
    rec_log_set_level(REC_LOG_WARN);
    struct rec_engine_params p;
    if (rec_app_default_engine_params(&p)) /* the server's defaults, RECD_* variables included */
        return 2;
    struct loader l;
    memset(&l, 0, sizeof l);
    rec_idmap_init(&l.users);
    if (rec_engine_create(&p, NULL, &l.e))
        return 1;
    struct rec_import_sink sink = {&l, on_doc, on_doc, on_event, NULL};
    char err[256] = "";
    double rss0 = bench_rss_bytes();
    double t0 = rec_mono_s();
    int rc;
    rc = rec_synth_load_source(argv[1], &sink, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench_recommend: cannot load %s: %s\n", argv[1], err);
        return 1;
    }
    double t_load = rec_mono_s() - t0;
    double rss1 = bench_rss_bytes();
    t0 = rec_mono_s();
    rec_engine_train_now(l.e);
    double t_train = rec_mono_s() - t0;
    double rss2 = bench_rss_bytes();
    struct rec_engine_status es;
    rec_engine_status(l.e, &es);

    int32_t all_users = l.users.n_names, n_users = all_users;
    if (max_users > 0 && max_users < n_users)
        n_users = max_users;
#define USER(j) rec_idmap_name(&l.users, (int32_t)((int64_t)(j) * all_users / n_users))
    int64_t total = (int64_t)n_users * rounds, n_ann = 0;
    double *lat = malloc((size_t)total * sizeof *lat);
    struct rec_result *r = malloc((size_t)n * sizeof *r);
    uint64_t checksum = 0;
    int64_t k = 0;
    t0 = rec_mono_s();
    for (int round = 0; round < rounds; round++)
        for (int32_t u = 0; u < n_users; u++) {
            int got;
            const char *model;
            struct rec_request_opts o;
            rec_request_opts_default(&o);
            double a = rec_mono_s();
            rec_engine_recommend_opts(l.e, USER(u), n, &o, r, &got, &model);
            lat[k++] = (rec_mono_s() - a) * 1e6;
            n_ann += o.als_search == 2;
            for (int j = 0; j < got; j++)
                for (const char *c = r[j].id; *c; c++)
                    checksum = checksum * 31 + (unsigned char)*c;
        }
    double wall = rec_mono_s() - t0;
    qsort(lat, (size_t)total, sizeof *lat, bench_cmp_double);

    /* the whole serving pipeline (what GET /v1/recommend runs): retrieval plus new arrivals,
     * filters, scoring, MMR at two diversities, explanations; no rules, ranker or exploration */
    double pipe_p50[2], pipe_p99[2], pipe_rps[2];
    const double diversities[2] = {0.0, 0.3};
    struct rec_pick *picks = malloc((size_t)n * sizeof *picks);
    double *plat = malloc((size_t)n_users * sizeof *plat);
    for (int d = 0; d < 2; d++) {
        struct rec_pipeline_config pc;
        rec_pipeline_config_default(&pc);
        double td = rec_mono_s();
        for (int32_t u = 0; u < n_users; u++) {
            struct rec_pipeline_request rq = {.user = USER(u), .n = n,
                                              .diversity = diversities[d], .now = 2e9};
            rec_request_opts_default(&rq.opts);
            rq.ctx.hour = rq.ctx.weekday = -1;
            struct rec_pipeline_result res;
            double a = rec_mono_s();
            rec_pipeline_run(l.e, &pc, &rq, picks, &res);
            plat[u] = (rec_mono_s() - a) * 1e6;
        }
        pipe_rps[d] = n_users / (rec_mono_s() - td);
        qsort(plat, (size_t)n_users, sizeof *plat, bench_cmp_double);
        pipe_p50[d] = plat[n_users / 2];
        pipe_p99[d] = plat[n_users * 99 / 100];
    }
    free(picks);
    free(plat);

    /* live ingest with a model present: every event re-solves its user's factors; one event in
     * ten is on one of 200 items new since the fit, whose rows are learned online */
    int64_t before = l.n;
    enum { LIVE = 20000 };
    double *ev_lat = malloc(LIVE * sizeof *ev_lat), *new_lat = malloc(LIVE * sizeof *new_lat);
    int n_old = 0, n_new = 0;
    t0 = rec_mono_s();
    char item[32];
    for (int64_t j = 0; j < LIVE; j++) {
        int fresh = j % 10 == 0;
        if (fresh)
            snprintf(item, sizeof item, "new-%lld", (long long)(j / 10 % 200));
        else
            snprintf(item, sizeof item, "%lld", (long long)(j % 500 + 1));
        struct rec_event ev = {NULL, USER(j % n_users), item,
                               REC_EVENT_CLICK, 0, 2000000000 + j, NULL, ++l.seq, NULL};
        double t1 = rec_mono_s();
        rec_engine_apply_events(l.e, &ev, 1, NULL);
        double us = (rec_mono_s() - t1) * 1e6;
        if (fresh)
            new_lat[n_new++] = us;
        else
            ev_lat[n_old++] = us;
    }
    double t_live = rec_mono_s() - t0;
    qsort(ev_lat, (size_t)n_old, sizeof *ev_lat, bench_cmp_double);
    qsort(new_lat, (size_t)n_new, sizeof *new_lat, bench_cmp_double);
    printf("recommend %s: %d users, %lld events; replay %.2f s (%.0f events/s), train %.2f s\n",
           argv[1], all_users, (long long)before, t_load, before / t_load, t_train);
    printf("  n=%d, %lld requests on 1 thread: %.0f req/s, p50 %.0f us, p95 %.0f us, p99 %.0f us; "
           "live event + fold-in %.1f us/event; checksum %016llx\n",
           n, (long long)total, total / wall, lat[total / 2], lat[total * 95 / 100],
           lat[total * 99 / 100], t_live / LIVE * 1e6, (unsigned long long)checksum);
    printf("  %lld of %lld requests took their iALS candidates from the approximate index "
           "(%lld model items, ann-min-items %d, ann-nprobe %d); p99.9 %.0f us\n",
           (long long)n_ann, (long long)total, (long long)es.als.n_items, p.ann_min_items,
           p.ann_nprobe, lat[total * 999 / 1000]);
    for (int d = 0; d < 2; d++)
        printf("  pipeline (diversity %.1f), %d requests on 1 thread: %.0f req/s, p50 %.0f us, p99 %.0f us\n",
               diversities[d], n_users, pipe_rps[d], pipe_p50[d], pipe_p99[d]);
    printf("  memory: the replay added %.0f MiB (%.0f bytes per event, %.0f per item of %lld), the "
           "training %.0f MiB more\n", (rss1 - rss0) / 1048576, (rss1 - rss0) / (double)before,
           (rss1 - rss0) / (double)(es.n_items > 0 ? es.n_items : 1), (long long)es.n_items,
           (rss2 - rss1) / 1048576);
    printf("  online update per event (user fold-in, kNN, popularity): p50 %.1f us, p99 %.1f us; "
           "on a new item (+ its row learned online): p50 %.1f us, p99 %.1f us\n",
           ev_lat[n_old / 2], ev_lat[n_old * 99 / 100], new_lat[n_new / 2], new_lat[n_new * 99 / 100]);
    free(ev_lat);
    free(new_lat);
    free(lat);
    free(r);
    rec_engine_destroy(l.e);
    rec_idmap_free(&l.users);
    return 0;
}
