/* cmd_eval.c: `recd eval PATH`: offline evaluation on one split, every model on the same split.
 *
 * Events are read (MovieLens, CSV, JSON lines, or a data directory's store), reduced to distinct
 * (user, item) pairs with positive weight, split per user at random (--ratio, --seed), and the
 * training events are replayed into a fresh in-memory engine in time order. The engine is
 * trained once; each mode then recommends --k unseen items for every test user, scored by
 * Precision, Recall, NDCG, MAP, HR and MRR at K (docs/EVALUATION.md).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/idmap.h"
#include "eval/metrics.h"
#include "eval/split.h"
#include "ingest/import.h"
#include "store/store.h"

struct raw_event {
    int32_t user, item;
    int64_t ts;
    int type;
    double value;
    char *id;
};

struct dataset {
    struct rec_idmap users, items;
    struct raw_event *ev;
    int64_t n_ev, cap_ev;
    const double *weights;
};

static int collect_event(void *ctx, const struct rec_event *ev)
{
    struct dataset *d = ctx;
    if (d->n_ev == d->cap_ev) {
        int64_t cap = d->cap_ev ? d->cap_ev * 2 : 65536;
        struct raw_event *p = realloc(d->ev, (size_t)cap * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        d->ev = p;
        d->cap_ev = cap;
    }
    int32_t u = rec_idmap_put(&d->users, ev->user, NULL), i = rec_idmap_put(&d->items, ev->item, NULL);
    if (u < 0 || i < 0)
        return REC_ENOMEM;
    d->ev[d->n_ev++] = (struct raw_event){u, i, ev->ts, ev->type, ev->value, ev->id ? strdup(ev->id) : NULL};
    return 0;
}

static int ignore_doc(void *ctx, const char *id, const char *doc) { return 0; }

static int cmp_pair(const void *a, const void *b)
{
    const struct rec_interaction *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return 0;
}

static int cmp_ts(const void *a, const void *b)
{
    const struct raw_event *x = *(struct raw_event *const *)a, *y = *(struct raw_event *const *)b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Index of pair (u, i) in the sorted pairs, or -1. */
static int64_t find_pair(const struct rec_interaction *p, int64_t n, int32_t u, int32_t i)
{
    struct rec_interaction key = {u, i, 0, 0};
    const struct rec_interaction *hit = bsearch(&key, p, (size_t)n, sizeof *p, cmp_pair);
    return hit ? hit - p : -1;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static const char *const mode_names[] = {"hybrid", "popular", "knn", "als"};

static int parse_modes(const char *s, int *modes, int *n_modes)
{
    *n_modes = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int m = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(tok, mode_names[k]) || (k == REC_MODE_POPULAR && !strcmp(tok, "popularity")))
                m = k;
        if (m < 0 || *n_modes == 4)
            return -1;
        modes[(*n_modes)++] = m;
    }
    return *n_modes ? 0 : -1;
}

int rec_cmd_eval(int argc, char **argv)
{
    struct rec_config c;
    const char *pos[1];
    int np, modes[4], n_modes;
    int rc = rec_app_config(&c, REC_CMD_EVAL, "eval",
                            "[PATH] [--ratio R] [--seed S] [--k K] [--models popular,knn,als,hybrid] [--out FILE.json]",
                            argc, argv, pos, 1, &np);
    if (rc)
        return rc - 1;
    if (parse_modes(c.models, modes, &n_modes) || c.k < 1 || c.ratio <= 0 || c.ratio >= 1) {
        fprintf(stderr, "recd eval: --models takes popular,knn,als,hybrid; --k >= 1; 0 < --ratio < 1\n");
        rec_config_free(&c);
        return 2;
    }

    struct dataset d;
    memset(&d, 0, sizeof d);
    rec_idmap_init(&d.users);
    rec_idmap_init(&d.items);
    char err[512] = "";
    struct rec_import_sink sink = {&d, ignore_doc, ignore_doc, collect_event, NULL};
    struct rec_import_stats ist;
    memset(&ist, 0, sizeof ist);
    double t0 = rec_mono_s();
    if (np == 1) {
        rc = rec_import_path(pos[0], REC_IMPORT_AUTO, &sink, &ist, err, sizeof err);
    } else {
        struct rec_store *store;
        rc = rec_store_open(c.data, &store, err, sizeof err);
        if (!rc) {
            rc = rec_store_scan_events(store, 0, (rec_store_event_cb)collect_event, &d);
            rec_store_close(store);
        }
    }
    if (rc) {
        fprintf(stderr, "recd eval: cannot read the data: %s\n", err[0] ? err : rec_strerror(rc));
        rec_config_free(&c);
        return 1;
    }
    double t_load = rec_mono_s() - t0;

    /* distinct positive (user, item) pairs */
    struct rec_interaction *pairs = malloc((size_t)(d.n_ev ? d.n_ev : 1) * sizeof *pairs);
    int64_t n_pairs = 0;
    for (int64_t j = 0; j < d.n_ev; j++)
        pairs[n_pairs++] = (struct rec_interaction){d.ev[j].user, d.ev[j].item,
                                                    (float)rec_event_weight(c.weights, d.ev[j].type, d.ev[j].value),
                                                    d.ev[j].ts};
    qsort(pairs, (size_t)n_pairs, sizeof *pairs, cmp_pair);
    int64_t w = 0;
    for (int64_t j = 0; j < n_pairs; j++) {
        if (w > 0 && pairs[w - 1].user == pairs[j].user && pairs[w - 1].item == pairs[j].item) {
            pairs[w - 1].value += pairs[j].value;
            if (pairs[j].ts > pairs[w - 1].ts)
                pairs[w - 1].ts = pairs[j].ts;
        } else {
            pairs[w++] = pairs[j];
        }
    }
    n_pairs = w;
    w = 0;
    for (int64_t j = 0; j < n_pairs; j++)
        if (pairs[j].value > 0)
            pairs[w++] = pairs[j];
    n_pairs = w;
    uint8_t *is_test = calloc((size_t)(n_pairs ? n_pairs : 1), 1);
    rc = rec_split_random(pairs, n_pairs, c.ratio, (uint64_t)c.seed, is_test);
    if (rc) {
        fprintf(stderr, "recd eval: split failed: %s\n", rec_strerror(rc));
        rec_config_free(&c);
        return 1;
    }

    /* replay the training events in time order into a fresh engine */
    struct rec_engine_params p;
    rec_app_engine_params(&c, &p, 0, NULL, 0);
    struct rec_engine *e;
    if ((rc = rec_engine_create(&p, NULL, &e))) {
        fprintf(stderr, "recd eval: %s\n", rec_strerror(rc));
        rec_config_free(&c);
        return 1;
    }
    struct raw_event **order = malloc((size_t)(d.n_ev ? d.n_ev : 1) * sizeof *order);
    int64_t n_train_ev = 0;
    for (int64_t j = 0; j < d.n_ev; j++) {
        int64_t k = find_pair(pairs, n_pairs, d.ev[j].user, d.ev[j].item);
        if (k < 0 || !is_test[k])
            order[n_train_ev++] = &d.ev[j]; /* negative-only pairs stay in training too */
    }
    qsort(order, (size_t)n_train_ev, sizeof *order, cmp_ts);
    for (int64_t j = 0; j < n_train_ev; j++) {
        struct raw_event *r = order[j];
        struct rec_event ev = {NULL, rec_idmap_name(&d.users, r->user), rec_idmap_name(&d.items, r->item),
                               r->type, r->value, r->ts, NULL, j + 1};
        rec_engine_apply_events(e, &ev, 1, NULL);
    }
    free(order);
    double t1 = rec_mono_s();
    rc = rec_engine_train_now(e);
    double t_train = rec_mono_s() - t1;
    if (rc && rc != REC_EMODEL)
        fprintf(stderr, "recd eval: training failed: %s\n", rec_strerror(rc));

    /* test items per user, and engine item index -> dataset item index */
    int32_t n_users = d.users.n_names, n_items = d.items.n_names;
    int64_t *test_start = calloc((size_t)n_users + 1, sizeof *test_start);
    int32_t *test_items = malloc((size_t)(n_pairs ? n_pairs : 1) * sizeof *test_items);
    for (int64_t j = 0; j < n_pairs; j++)
        if (is_test[j])
            test_start[pairs[j].user + 1]++;
    for (int32_t u = 0; u < n_users; u++)
        test_start[u + 1] += test_start[u];
    int64_t *fill = calloc((size_t)n_users + 1, sizeof *fill);
    for (int64_t j = 0; j < n_pairs; j++)
        if (is_test[j])
            test_items[test_start[pairs[j].user] + fill[pairs[j].user]++] = pairs[j].item;
    int32_t *to_dataset = malloc((size_t)(n_items + 1) * sizeof *to_dataset);
    for (int32_t i = 0; i < n_items; i++)
        to_dataset[i] = -1;
    for (int32_t i = 0; i < n_items; i++) {
        int32_t ei = rec_engine_item_index(e, rec_idmap_name(&d.items, i));
        if (ei >= 0 && ei < n_items)
            to_dataset[ei] = i;
    }

    json_t *report = json_object();
    printf("data: %lld events, %d users, %d items, %lld pairs (%lld test); split ratio %.2f seed %lld; "
           "load %.2fs, iALS fit %.2fs (%d factors, %d iters)\n",
           (long long)d.n_ev, n_users, n_items, (long long)n_pairs,
           (long long)test_start[n_users], c.ratio, (long long)c.seed, t_load, t_train,
           p.als.factors, p.als.iters);
    printf("%-8s %9s %9s %9s %9s %9s %9s %7s %8s\n", "model", "P@K", "R@K", "NDCG@K", "MAP@K", "HR@K",
           "MRR@K", "users", "time_s");
    int32_t *recs = malloc((size_t)c.k * sizeof *recs);
    for (int mi = 0; mi < n_modes; mi++) {
        struct rec_metrics m;
        memset(&m, 0, sizeof m);
        double t2 = rec_mono_s();
        for (int32_t u = 0; u < n_users; u++) {
            int n_rel = (int)(test_start[u + 1] - test_start[u]);
            if (n_rel == 0)
                continue;
            int32_t eu = rec_engine_user_index(e, rec_idmap_name(&d.users, u));
            int got = 0;
            rec_engine_recommend_idx(e, eu, c.k, (enum rec_mode)modes[mi], recs, &got);
            for (int r = 0; r < got; r++)
                recs[r] = recs[r] < n_items ? to_dataset[recs[r]] : -1;
            int32_t *rel = test_items + test_start[u];
            qsort(rel, (size_t)n_rel, sizeof *rel, cmp_i32);
            rec_metrics_add(&m, recs, got, rel, n_rel, c.k);
        }
        rec_metrics_finish(&m);
        double dt = rec_mono_s() - t2;
        printf("%-8s %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %7lld %8.2f\n", mode_names[modes[mi]],
               m.precision, m.recall, m.ndcg, m.map, m.hr, m.mrr, (long long)m.n_users, dt);
        json_object_set_new(report, mode_names[modes[mi]],
                            json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:f}", "precision", m.precision,
                                      "recall", m.recall, "ndcg", m.ndcg, "map", m.map, "hr", m.hr,
                                      "mrr", m.mrr, "users", (json_int_t)m.n_users, "seconds", dt));
    }
    json_object_set_new(report, "k", json_integer(c.k));
    json_object_set_new(report, "train_seconds", json_real(t_train));
    if (strcmp(c.out, "-") && json_dump_file(report, c.out, JSON_INDENT(2)) != 0)
        fprintf(stderr, "recd eval: cannot write %s\n", c.out);
    json_decref(report);

    free(recs);
    free(to_dataset);
    free(fill);
    free(test_items);
    free(test_start);
    free(is_test);
    free(pairs);
    rec_engine_destroy(e);
    for (int64_t j = 0; j < d.n_ev; j++)
        free(d.ev[j].id);
    free(d.ev);
    rec_idmap_free(&d.users);
    rec_idmap_free(&d.items);
    rec_config_free(&c);
    return 0;
}
