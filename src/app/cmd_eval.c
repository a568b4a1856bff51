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

static void dataset_free(struct dataset *d)
{
    for (int64_t j = 0; j < d->n_ev; j++)
        free(d->ev[j].id);
    free(d->ev);
    rec_idmap_free(&d->users);
    rec_idmap_free(&d->items);
}

/* Events from a file or directory (path non-NULL) or from the data directory's store. */
static int load_dataset(const char *path, const char *data_dir, struct dataset *d, char *err,
                        size_t errlen)
{
    memset(d, 0, sizeof *d);
    rec_idmap_init(&d->users);
    rec_idmap_init(&d->items);
    if (path) {
        struct rec_import_sink sink = {d, ignore_doc, ignore_doc, collect_event, NULL};
        struct rec_import_stats st;
        memset(&st, 0, sizeof st);
        return rec_import_path(path, REC_IMPORT_AUTO, &sink, &st, err, errlen);
    }
    struct rec_store *store;
    int rc = rec_store_open(data_dir, &store, err, errlen);
    if (!rc) {
        rc = rec_store_scan_events(store, 0, collect_event, d);
        rec_store_close(store);
    }
    return rc;
}

/* Distinct (user, item) pairs with positive summed weight, sorted; *pairs is malloc'd. */
static int build_pairs(const struct dataset *d, const double *weights, struct rec_interaction **pairs,
                       int64_t *n_pairs)
{
    struct rec_interaction *p = malloc((size_t)(d->n_ev ? d->n_ev : 1) * sizeof *p);
    if (!p)
        return REC_ENOMEM;
    for (int64_t j = 0; j < d->n_ev; j++)
        p[j] = (struct rec_interaction){d->ev[j].user, d->ev[j].item,
                                        (float)rec_event_weight(weights, d->ev[j].type, d->ev[j].value),
                                        d->ev[j].ts};
    qsort(p, (size_t)d->n_ev, sizeof *p, cmp_pair);
    int64_t w = 0;
    for (int64_t j = 0; j < d->n_ev; j++) {
        if (w > 0 && p[w - 1].user == p[j].user && p[w - 1].item == p[j].item) {
            p[w - 1].value += p[j].value;
            if (p[j].ts > p[w - 1].ts)
                p[w - 1].ts = p[j].ts;
        } else {
            p[w++] = p[j];
        }
    }
    int64_t n = 0;
    for (int64_t j = 0; j < w; j++)
        if (p[j].value > 0)
            p[n++] = p[j];
    *pairs = p;
    *n_pairs = n;
    return 0;
}

/* Replays every event whose pair is not held out, in time order, then trains iALS. */
static int replay_and_train(struct rec_engine *e, const struct dataset *d,
                            const struct rec_interaction *pairs, int64_t n_pairs,
                            const uint8_t *is_test, double *train_s)
{
    const struct raw_event **order = malloc((size_t)(d->n_ev ? d->n_ev : 1) * sizeof *order);
    if (!order)
        return REC_ENOMEM;
    int64_t n = 0;
    for (int64_t j = 0; j < d->n_ev; j++) {
        int64_t k = find_pair(pairs, n_pairs, d->ev[j].user, d->ev[j].item);
        if (k < 0 || !is_test[k])
            order[n++] = &d->ev[j]; /* negative-only pairs stay in training too */
    }
    qsort(order, (size_t)n, sizeof *order, cmp_ts);
    int rc = 0;
    for (int64_t j = 0; j < n && !rc; j++) {
        const struct raw_event *r = order[j];
        struct rec_event ev = {NULL, rec_idmap_name(&d->users, r->user), rec_idmap_name(&d->items, r->item),
                               r->type, r->value, r->ts, NULL, j + 1};
        rc = rec_engine_apply_events(e, &ev, 1, NULL);
    }
    free(order);
    if (rc)
        return rc;
    double t0 = rec_mono_s();
    rc = rec_engine_train_now(e);
    *train_s = rec_mono_s() - t0;
    return rc == REC_EMODEL ? 0 : rc;
}

/* Held-out items of each user: items[start[u] .. start[u+1]) sorted; plus the map from engine
 * item indexes back to the dataset's. */
struct test_sets {
    int64_t *start;
    int32_t *items;
    int32_t *to_dataset;
};

static void test_sets_free(struct test_sets *t)
{
    free(t->start);
    free(t->items);
    free(t->to_dataset);
}

static int build_test_sets(struct rec_engine *e, const struct dataset *d,
                           const struct rec_interaction *pairs, int64_t n_pairs,
                           const uint8_t *is_test, struct test_sets *t)
{
    int32_t n_users = d->users.n_names, n_items = d->items.n_names;
    t->start = calloc((size_t)n_users + 1, sizeof *t->start);
    t->items = malloc((size_t)(n_pairs ? n_pairs : 1) * sizeof *t->items);
    t->to_dataset = malloc((size_t)(n_items + 1) * sizeof *t->to_dataset);
    int64_t *fill = calloc((size_t)n_users + 1, sizeof *fill);
    if (!t->start || !t->items || !t->to_dataset || !fill) {
        free(fill);
        return REC_ENOMEM;
    }
    for (int64_t j = 0; j < n_pairs; j++)
        if (is_test[j])
            t->start[pairs[j].user + 1]++;
    for (int32_t u = 0; u < n_users; u++)
        t->start[u + 1] += t->start[u];
    for (int64_t j = 0; j < n_pairs; j++)
        if (is_test[j])
            t->items[t->start[pairs[j].user] + fill[pairs[j].user]++] = pairs[j].item;
    free(fill);
    for (int32_t u = 0; u < n_users; u++)
        qsort(t->items + t->start[u], (size_t)(t->start[u + 1] - t->start[u]), sizeof *t->items, cmp_i32);
    for (int32_t i = 0; i < n_items; i++)
        t->to_dataset[i] = -1;
    for (int32_t i = 0; i < n_items; i++) {
        int32_t ei = rec_engine_item_index(e, rec_idmap_name(&d->items, i));
        if (ei >= 0 && ei < n_items)
            t->to_dataset[ei] = i;
    }
    return 0;
}

/* Metrics at k of one mode over every user with held-out items. */
static int evaluate_mode(struct rec_engine *e, const struct dataset *d, const struct test_sets *t,
                         enum rec_mode mode, int k, struct rec_metrics *m)
{
    int32_t *recs = malloc((size_t)k * sizeof *recs);
    if (!recs)
        return REC_ENOMEM;
    memset(m, 0, sizeof *m);
    int32_t n_items = d->items.n_names;
    for (int32_t u = 0; u < d->users.n_names; u++) {
        int n_rel = (int)(t->start[u + 1] - t->start[u]);
        if (n_rel == 0)
            continue;
        int32_t eu = rec_engine_user_index(e, rec_idmap_name(&d->users, u));
        int got = 0;
        rec_engine_recommend_idx(e, eu, k, mode, recs, &got);
        for (int r = 0; r < got; r++)
            recs[r] = recs[r] < n_items ? t->to_dataset[recs[r]] : -1;
        rec_metrics_add(m, recs, got, t->items + t->start[u], n_rel, k);
    }
    rec_metrics_finish(m);
    free(recs);
    return 0;
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
    struct rec_interaction *pairs = NULL;
    uint8_t *is_test = NULL;
    struct rec_engine *e = NULL;
    struct test_sets t = {0};
    json_t *report = json_object();
    int64_t n_pairs = 0;
    double t_train = 0, t0 = rec_mono_s();
    char err[512] = "";
    const char *stage = "reading the data";
    rc = load_dataset(np == 1 ? pos[0] : NULL, c.data, &d, err, sizeof err);
    double t_load = rec_mono_s() - t0;
    if (!rc && !(rc = build_pairs(&d, c.weights, &pairs, &n_pairs))) {
        stage = "splitting";
        is_test = calloc((size_t)(n_pairs ? n_pairs : 1), 1);
        rc = is_test ? rec_split_random(pairs, n_pairs, c.ratio, (uint64_t)c.seed, is_test) : REC_ENOMEM;
    }
    struct rec_engine_params p;
    rec_app_engine_params(&c, &p, 0, NULL, 0);
    if (!rc) {
        stage = "training";
        rc = rec_engine_create(&p, NULL, &e);
    }
    if (!rc)
        rc = replay_and_train(e, &d, pairs, n_pairs, is_test, &t_train);
    if (!rc)
        rc = build_test_sets(e, &d, pairs, n_pairs, is_test, &t);
    if (rc) {
        fprintf(stderr, "recd eval: %s failed: %s\n", stage, err[0] ? err : rec_strerror(rc));
        goto out;
    }

    printf("data: %lld events, %d users, %d items, %lld pairs (%lld test); split ratio %.2f seed %lld; "
           "load %.2fs, iALS fit %.2fs (%d factors, %d iters)\n",
           (long long)d.n_ev, d.users.n_names, d.items.n_names, (long long)n_pairs,
           (long long)t.start[d.users.n_names], c.ratio, (long long)c.seed, t_load, t_train,
           p.als.factors, p.als.iters);
    printf("%-8s %9s %9s %9s %9s %9s %9s %7s %8s\n", "model", "P@K", "R@K", "NDCG@K", "MAP@K", "HR@K",
           "MRR@K", "users", "time_s");
    for (int mi = 0; mi < n_modes && !rc; mi++) {
        struct rec_metrics m;
        double t2 = rec_mono_s();
        if ((rc = evaluate_mode(e, &d, &t, (enum rec_mode)modes[mi], c.k, &m)))
            break;
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
    if (!rc && strcmp(c.out, "-") && json_dump_file(report, c.out, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "recd eval: cannot write %s\n", c.out);
        rc = REC_EIO;
    }
out:
    json_decref(report);
    test_sets_free(&t);
    rec_engine_destroy(e);
    free(is_test);
    free(pairs);
    dataset_free(&d);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
