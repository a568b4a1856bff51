/* cmd_eval.c: `recd eval [PATH]`: offline evaluation of several models on identical splits.
 *
 * Data: a MovieLens directory, CSV or JSON-lines file, the data directory's store, or two split
 * files (--train-file/--test-file, evalkit's format). Protocols: per-user random split, global
 * temporal split, leave-last-N-out, k-fold cross validation (mean and std over folds). Each model
 * is a registry type (fitted on the training part and scored directly), "blend" (the listed
 * types with weights learned on a validation carve of the training part) or "served" (the
 * server's own pipeline, replayed event by event). Metrics at every K of --k: the table goes to
 * stdout, JSON to --out, an HTML report to --html (docs/EVALUATION.md has the definitions).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/eval_data.h"
#include "app/eval_models.h"
#include "app/eval_ranker.h"
#include "app/eval_replay.h"
#include "app/eval_served.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "eval/report_html.h"
#include "eval/split.h"

#define MAX_MODELS 12
#define MAX_ROUNDS REC_SPLIT_MAX_FOLDS

enum protocol { P_RANDOM, P_TEMPORAL, P_LEAVE_LAST, P_KFOLD, P_REPLAY, P_FILES };
static const char *const protocol_names[] = {"random", "temporal", "leave-last", "kfold", "replay", "files"};

struct run {
    struct rec_config *c;
    struct rec_eval_data d;
    struct rec_csr cats;
    enum protocol protocol;
    int n_rounds;
    uint8_t *fold;            /* kfold: fold of each pair */
    int ks[REC_EVAL_MAX_K], n_k;
    struct rec_eval_model models[MAX_MODELS];
    int n_models;
    /* per model and round */
    struct rec_eval_result res[MAX_MODELS][16];
    double train_s[MAX_MODELS][16];
    char params[MAX_MODELS][256];
};

static int parse_ks(const char *s, int *ks, int *n)
{
    *n = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long k = strtol(tok, &end, 10);
        if (*end || k < 1 || k > 1000 || *n == REC_EVAL_MAX_K)
            return -1;
        ks[(*n)++] = (int)k;
    }
    return *n ? 0 : -1;
}

static int parse_protocol(const struct rec_config *c, enum protocol *p)
{
    if (c->train_file || c->test_file) {
        *p = P_FILES;
        return 0;
    }
    for (int j = 0; j < P_FILES; j++)
        if (!strcmp(c->protocol, protocol_names[j])) {
            *p = (enum protocol)j;
            return 0;
        }
    return -1;
}

/* The test mask of round r. */
static int round_mask(struct run *R, int r, uint8_t *is_test)
{
    const struct rec_eval_data *d = &R->d;
    switch (R->protocol) {
    case P_RANDOM:
        return rec_split_random(d->pairs, d->n_pairs, R->c->ratio, (uint64_t)R->c->seed, is_test);
    case P_TEMPORAL:
        return rec_split_temporal(d->pairs, d->n_pairs, R->c->ratio, is_test);
    case P_LEAVE_LAST:
        return rec_split_last_n(d->pairs, d->n_pairs, R->c->leave, is_test);
    case P_KFOLD:
        if (r == 0 && (R->fold = malloc((size_t)(d->n_pairs ? d->n_pairs : 1))) == NULL)
            return REC_ENOMEM;
        if (r == 0) {
            int rc = rec_split_kfold(d->pairs, d->n_pairs, R->n_rounds, (uint64_t)R->c->seed, R->fold);
            if (rc)
                return rc;
        }
        rec_split_fold_mask(R->fold, d->n_pairs, r, is_test);
        return 0;
    case P_FILES:
        memcpy(is_test, d->pair_from_test, (size_t)d->n_pairs);
        return 0;
    case P_REPLAY:
        break; /* not a split: run_replay */
    }
    return REC_EINTERNAL;
}

/* Lists as "user item rank" lines (evalkit score's input). */
static int write_recs(const struct run *R, const char *name, const struct rec_eval_split *s,
                      const struct rec_eval_result *res)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", R->c->write_recs, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return REC_EIO;
    for (int32_t u = 0; u < s->n_users; u++) {
        if (s->test_start[u + 1] == s->test_start[u])
            continue;
        for (int r = 0; r < res->max_k && res->lists[(size_t)u * res->max_k + r] >= 0; r++)
            fprintf(f, "%s\t%s\t%d\n", rec_idmap_name(&R->d.users, u),
                    rec_idmap_name(&R->d.items, res->lists[(size_t)u * res->max_k + r]), r + 1);
    }
    return fclose(f) == 0 ? 0 : REC_EIO;
}

/* Fits and scores model m on split s (round r). */
static int run_model(struct run *R, int mi, int r, const struct rec_eval_split *s,
                     const uint8_t *is_test, char *err, size_t errlen)
{
    struct rec_eval_model *m = &R->models[mi];
    struct rec_eval_result *res = &R->res[mi][r];
    int threads = R->c->train_threads;
    int mid_k = R->ks[R->n_k / 2];
    double t0 = rec_mono_s();
    int rc;
    if (m->kind == REC_EVAL_TYPE) {
        struct rec_train_input in;
        rec_eval_train_input(s, threads, &in);
        struct rec_model *model = NULL;
        if ((rc = m->type->fit(&in, m->params, &model, err, errlen)))
            return rc;
        R->train_s[mi][r] = rec_mono_s() - t0;
        rec_model_params_format(m->type, m->params, R->params[mi], sizeof R->params[mi]);
        struct rec_eval_model_ctx ctx = {m->type, model};
        rc = rec_eval_run(s, rec_eval_score_model, &ctx, R->ks, R->n_k, 0, res);
        m->type->destroy(model);
    } else if (m->kind == REC_EVAL_BLEND) {
        struct rec_blend b;
        double vn = 0;
        if ((rc = rec_eval_blend_fit(&b, R->models, R->n_models, s, R->c->valid_ratio, (uint64_t)R->c->seed, mid_k,
                                     threads, &vn, err, errlen)))
            return rc;
        R->train_s[mi][r] = rec_mono_s() - t0;
        size_t off = 0;
        for (int j = 0; j < b.n && off < sizeof R->params[mi]; j++)
            off += (size_t)snprintf(R->params[mi] + off, sizeof R->params[mi] - off, "%s%s=%.2f",
                                    j ? "," : "", b.type[j]->name, b.weight[j]);
        rc = rec_eval_run(s, rec_eval_score_blend, &b, R->ks, R->n_k, 0, res);
        rec_blend_clear(&b);
    } else {
        struct rec_engine_params p;
        rec_app_engine_params(R->c, &p, 0, NULL, 0);
        struct rec_eval_served sv;
        int max_k = 1;
        for (int q = 0; q < R->n_k; q++)
            max_k = R->ks[q] > max_k ? R->ks[q] : max_k;
        double ts = 0;
        rc = rec_eval_served_fit(&p, &R->d, is_test, max_k, &sv, &ts);
        sv.diversity = m->diversity;
        R->train_s[mi][r] = ts;
        if (m->diversity >= 0)
            snprintf(R->params[mi], sizeof R->params[mi], "the server's pipeline, MMR diversity %.2f",
                     m->diversity);
        else
            snprintf(R->params[mi], sizeof R->params[mi], "the server's pipeline (config)");
        if (!rc)
            rc = rec_eval_run(s, rec_eval_score_served, &sv, R->ks, R->n_k, 0, res);
        rec_eval_served_free(&sv);
    }
    if (!rc && r == 0 && R->c->write_recs)
        rc = write_recs(R, m->name, s, res);
    return rc;
}

/* ---- aggregation and output ---------------------------------------------------------------- */

static json_t *metrics_json(const struct rec_metrics *m, double auc)
{
    json_t *o = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:I}", "precision", m->precision, "recall",
                          m->recall, "ndcg", m->ndcg, "map", m->map, "hr", m->hr, "mrr", m->mrr,
                          "users", (json_int_t)m->n_users);
    if (!isnan(auc))
        json_object_set_new(o, "auc", json_real(auc));
    return o;
}

/* mean (std when several rounds) of field f of every round of model mi at K index q */
#define FIELD_STATS(R, mi, q, f, mean, sd)                                                        \
    do {                                                                                          \
        double s1 = 0, s2 = 0;                                                                    \
        for (int r_ = 0; r_ < (R)->n_rounds; r_++) {                                              \
            double v_ = (R)->res[mi][r_].at[q].f;                                                 \
            s1 += v_;                                                                             \
            s2 += v_ * v_;                                                                        \
        }                                                                                         \
        mean = s1 / (R)->n_rounds;                                                                \
        sd = (R)->n_rounds > 1 ? sqrt(fmax(0, (s2 - s1 * s1 / (R)->n_rounds) / ((R)->n_rounds - 1))) : 0; \
    } while (0)

static json_t *model_json(const struct run *R, int mi)
{
    const struct rec_eval_model *m = &R->models[mi];
    double train = 0, auc = 0;
    for (int r = 0; r < R->n_rounds; r++) {
        train += R->train_s[mi][r];
        auc += R->res[mi][r].auc;
    }
    train /= R->n_rounds;
    auc = m->kind == REC_EVAL_SERVED ? NAN : auc / R->n_rounds;
    json_t *metrics = json_object(), *std = json_object();
    for (int q = 0; q < R->n_k; q++) {
        struct rec_metrics mean = {0}, sd = {0};
        FIELD_STATS(R, mi, q, precision, mean.precision, sd.precision);
        FIELD_STATS(R, mi, q, recall, mean.recall, sd.recall);
        FIELD_STATS(R, mi, q, ndcg, mean.ndcg, sd.ndcg);
        FIELD_STATS(R, mi, q, map, mean.map, sd.map);
        FIELD_STATS(R, mi, q, hr, mean.hr, sd.hr);
        FIELD_STATS(R, mi, q, mrr, mean.mrr, sd.mrr);
        mean.n_users = R->res[mi][0].at[q].n_users;
        char key[16];
        snprintf(key, sizeof key, "%d", R->ks[q]);
        json_object_set_new(metrics, key, metrics_json(&mean, auc));
        if (R->n_rounds > 1)
            json_object_set_new(std, key, metrics_json(&sd, NAN));
    }
    const struct rec_beyond_result *b = &R->res[mi][0].beyond;
    json_t *o = json_pack("{s:s,s:s,s:f,s:o,s:{s:f,s:f,s:f,s:f,s:f,s:f}}", "name", m->name,
                          "params", R->params[mi], "train_seconds", train, "metrics", metrics,
                          "beyond", "coverage", b->coverage, "diversity", b->diversity, "novelty",
                          b->novelty, "arp", b->arp, "head_share", b->head_share, "gini", b->gini);
    if (R->n_rounds > 1) {
        json_object_set_new(o, "std", std);
        json_t *folds = json_array();
        for (int r = 0; r < R->n_rounds; r++) {
            json_t *f = json_object();
            for (int q = 0; q < R->n_k; q++) {
                char key[16];
                snprintf(key, sizeof key, "%d", R->ks[q]);
                json_object_set_new(f, key, metrics_json(&R->res[mi][r].at[q], R->res[mi][r].auc));
            }
            json_array_append_new(folds, f);
        }
        json_object_set_new(o, "folds", folds);
    } else {
        json_decref(std);
    }
    return o;
}

static void print_table(const struct run *R, json_t *models)
{
    int w = 8; /* the model column fits the longest name (served@0.75) */
    for (int mi = 0; mi < R->n_models; mi++)
        w = (int)strlen(R->models[mi].name) > w ? (int)strlen(R->models[mi].name) : w;
    for (int q = 0; q < R->n_k; q++) {
        char key[16];
        snprintf(key, sizeof key, "%d", R->ks[q]);
        printf("\n%-*s %7s %7s %7s %7s %7s %7s %7s %6s %6s %6s %8s   @%d\n", w, "model", "P", "R",
               R->n_rounds > 1 ? "NDCG+-sd" : "NDCG", "MAP", "HR", "MRR", "AUC", "cover", "divers",
               "novel", "train_s", R->ks[q]);
        for (int mi = 0; mi < R->n_models; mi++) {
            json_t *m = json_array_get(models, (size_t)mi);
            json_t *at = json_object_get(json_object_get(m, "metrics"), key);
            json_t *sd = json_object_get(json_object_get(m, "std"), key);
            json_t *auc = json_object_get(at, "auc");
            json_t *b = json_object_get(m, "beyond");
            char ndcg[32];
            if (sd)
                snprintf(ndcg, sizeof ndcg, "%.4f+-%.4f", json_real_value(json_object_get(at, "ndcg")),
                         json_real_value(json_object_get(sd, "ndcg")));
            else
                snprintf(ndcg, sizeof ndcg, "%.4f", json_real_value(json_object_get(at, "ndcg")));
            char aucs[16] = "      -";
            if (auc)
                snprintf(aucs, sizeof aucs, "%7.4f", json_real_value(auc));
            printf("%-*s %7.4f %7.4f %7s %7.4f %7.4f %7.4f %7s %6.3f %6.3f %6.2f %8.2f\n",
                   w, R->models[mi].name, json_real_value(json_object_get(at, "precision")),
                   json_real_value(json_object_get(at, "recall")), ndcg,
                   json_real_value(json_object_get(at, "map")), json_real_value(json_object_get(at, "hr")),
                   json_real_value(json_object_get(at, "mrr")), aucs,
                   json_real_value(json_object_get(b, "coverage")),
                   json_real_value(json_object_get(b, "diversity")),
                   json_real_value(json_object_get(b, "novelty")),
                   json_real_value(json_object_get(m, "train_seconds")));
        }
    }
    for (int mi = 0; mi < R->n_models; mi++)
        printf("%s: %s\n", R->models[mi].name, R->params[mi]);
}

static int write_outputs(const struct run *R, json_t *report)
{
    if (strcmp(R->c->out, "-") && json_dump_file(report, R->c->out, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "recd eval: cannot write %s\n", R->c->out);
        return REC_EIO;
    }
    if (R->c->html) {
        FILE *f = fopen(R->c->html, "w");
        int rc = f ? rec_report_html_write(report, f) : REC_EIO;
        if (f && fclose(f) != 0 && !rc)
            rc = REC_EIO;
        if (rc) {
            fprintf(stderr, "recd eval: cannot write %s: %s\n", R->c->html, rec_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Users with a training or test pair. */
static int32_t count_rows(const struct rec_csr *train, const int64_t *test_start)
{
    int32_t n = 0;
    for (int32_t u = 0; u < train->n_rows; u++)
        n += train->indptr[u + 1] > train->indptr[u] || test_start[u + 1] > test_start[u];
    return n;
}

/* Items with a pair. */
static int32_t count_cols(const struct rec_interaction *x, int64_t n, int32_t n_items)
{
    uint8_t *seen = calloc((size_t)n_items + 1, 1);
    int32_t c = 0;
    for (int64_t j = 0; seen && j < n; j++)
        if (!seen[x[j].item]) {
            seen[x[j].item] = 1;
            c++;
        }
    free(seen);
    return c;
}

/* --protocol replay: every policy of the served pipeline, one table. */
static int run_replay(struct run *R, const char *path, json_t **report, char *err, size_t errlen)
{
    int rc = rec_eval_data_load(&R->d, path, R->c->data, NULL, NULL, R->c->weights, err, errlen);
    if (rc)
        return rc;
    struct rec_engine_params p;
    rec_app_engine_params(R->c, &p, 0, NULL, 0);
    /* --models may name policies (static, user-only, online, retrain); otherwise all run */
    static const char *const policies[] = {"static", "user-only", "online", "retrain"};
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", R->c->models ? R->c->models : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        for (unsigned j = 0; j < 4; j++)
            if (!strcmp(tok, policies[j]))
                mask |= 1u << j;
    json_t *models = json_array();
    rc = rec_eval_replay(&p, &R->d, R->c->replay_fraction, R->c->retrain_every, mask ? mask : ~0u, R->ks, R->n_k,
                         R->c->write_recs, models, err, errlen);
    if (rc) {
        json_decref(models);
        return rc;
    }
    printf("%-10s", "policy");
    for (int q = 0; q < R->n_k; q++)
        printf("   HR@%-4d NDCG@%-4d", R->ks[q], R->ks[q]);
    printf(" %8s %8s\n", "train_s", "total_s");
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        printf("%-10s", json_string_value(json_object_get(m, "name")));
        for (int q = 0; q < R->n_k; q++) {
            char key[16];
            snprintf(key, sizeof key, "%d", R->ks[q]);
            json_t *at = json_object_get(json_object_get(m, "metrics"), key);
            printf("  %7.4f  %8.4f", json_real_value(json_object_get(at, "hr")),
                   json_real_value(json_object_get(at, "ndcg")));
        }
        printf(" %8.2f %8.2f\n", json_real_value(json_object_get(m, "train_seconds")),
               json_real_value(json_object_get(m, "seconds")));
    }
    json_t *ks = json_array();
    for (int q = 0; q < R->n_k; q++)
        json_array_append_new(ks, json_integer(R->ks[q]));
    *report = json_pack("{s:s,s:s,s:s,s:o,s:o,s:f}", "title", "recd eval: replay", "dataset",
                        path ? path : R->c->data, "protocol", "replay", "ks", ks, "models", models,
                        "fraction", R->c->replay_fraction);
    return 0;
}

static int run_all(struct run *R, const char *path, char *err, size_t errlen)
{
    int rc = rec_eval_data_load(&R->d, path, R->c->data, R->c->train_file, R->c->test_file,
                                R->c->weights, err, errlen);
    if (!rc)
        rc = rec_eval_item_categories(&R->d, &R->cats);
    if (rc)
        return rc;
    uint8_t *is_test = calloc((size_t)(R->d.n_pairs ? R->d.n_pairs : 1), 1);
    if (!is_test)
        return REC_ENOMEM;
    struct rec_progress pr;
    rec_progress_start(&pr, "eval", (int64_t)R->n_rounds * R->n_models);
    for (int r = 0; r < R->n_rounds && !rc; r++) {
        struct rec_eval_split s;
        if ((rc = round_mask(R, r, is_test)))
            break;
        if ((rc = rec_eval_split_build(&s, R->d.users.n_names, R->d.items.n_names, R->d.pairs,
                                       R->d.n_pairs, is_test)))
            break;
        s.item_docs = (const char *const *)R->d.item_docs;
        s.user_docs = (const char *const *)R->d.user_docs;
        s.item_cats = &R->cats;
        if (r == 0)
            printf("data: %d users and %d items with interactions (%d and %d known), %lld pairs "
                   "(%lld test); protocol %s%s\n",
                   count_rows(&s.train, s.test_start), count_cols(R->d.pairs, R->d.n_pairs, R->d.items.n_names),
                   R->d.users.n_names, R->d.items.n_names, (long long)R->d.n_pairs,
                   (long long)s.n_test, protocol_names[R->protocol],
                   R->protocol == P_KFOLD ? " (first fold shown)" : "");
        for (int mi = 0; mi < R->n_models && !rc; mi++) {
            rc = run_model(R, mi, r, &s, is_test, err, errlen);
            if (rc && !err[0])
                snprintf(err, errlen, "%s: %s", R->models[mi].name, rec_strerror(rc));
            rec_progress_update(&pr, (int64_t)r * R->n_models + mi + 1);
        }
        rec_eval_split_free(&s);
    }
    rec_progress_finish(&pr);
    free(is_test);
    return rc;
}

int rec_cmd_eval(int argc, char **argv)
{
    struct rec_config c;
    const char *pos[1];
    int np;
    int rc = rec_app_config(&c, REC_CMD_EVAL, "eval",
                            "[PATH] [--models pop,als,ease,...,blend,served] [--protocol P] [--k 5,10,20] "
                            "[--out FILE.json] [--html FILE.html]",
                            argc, argv, pos, 1, &np);
    if (rc)
        return rc - 1;
    if (!strcmp(c.protocol, "ranker") && !c.train_file && !c.test_file) { /* eval_ranker.c */
        rc = rec_eval_ranker(&c, np == 1 ? pos[0] : NULL);
        rec_config_free(&c);
        return rc;
    }
    struct run *R = calloc(1, sizeof *R);
    char err[512] = "";
    if (!R) {
        rec_config_free(&c);
        return 1;
    }
    R->c = &c;
    if (parse_ks(c.k, R->ks, &R->n_k) || parse_protocol(&c, &R->protocol) || c.ratio <= 0 ||
        c.ratio >= 1 || c.leave < 1 || c.folds < 2 || c.folds > 16 ||
        (R->protocol != P_REPLAY &&
         rec_eval_models_parse(&c, R->models, MAX_MODELS, &R->n_models, err, sizeof err))) {
        fprintf(stderr, "recd eval: %s\n",
                err[0] ? err : "--k takes up to 8 lengths 1..1000 (5,10,20); --protocol random, temporal, "
                               "leave-last, kfold, replay or ranker; 0 < --ratio < 1; --leave >= 1; "
                               "2 <= --folds <= 16");
        free(R);
        rec_config_free(&c);
        return 2;
    }
    R->n_rounds = R->protocol == P_KFOLD ? c.folds : 1;
    double t0 = rec_mono_s();
    json_t *report = NULL;
    if (R->protocol == P_REPLAY) {
        if (c.replay_fraction <= 0 || c.replay_fraction >= 1) {
            fprintf(stderr, "recd eval: 0 < --replay-fraction < 1\n");
            rc = REC_EINVAL;
        } else if (!(rc = run_replay(R, np == 1 ? pos[0] : NULL, &report, err, sizeof err))) {
            rc = write_outputs(R, report);
        } else {
            fprintf(stderr, "recd eval: %s\n", err[0] ? err : rec_strerror(rc));
        }
        goto done;
    }
    rc = run_all(R, np == 1 ? pos[0] : NULL, err, sizeof err);
    if (rc) {
        fprintf(stderr, "recd eval: %s\n", err[0] ? err : rec_strerror(rc));
    } else {
        json_t *models = json_array();
        for (int mi = 0; mi < R->n_models; mi++)
            json_array_append_new(models, model_json(R, mi));
        json_t *ks = json_array();
        for (int q = 0; q < R->n_k; q++)
            json_array_append_new(ks, json_integer(R->ks[q]));
        char title[256];
        snprintf(title, sizeof title, "recd eval: %s", np == 1 ? pos[0] : c.data);
        report = json_pack("{s:s,s:s,s:s,s:o,s:o,s:f,s:I}", "title", title, "dataset",
                           np == 1 ? pos[0] : c.data, "protocol", protocol_names[R->protocol], "ks", ks,
                           "models", models, "seconds", rec_mono_s() - t0, "seed", (json_int_t)c.seed);
        print_table(R, models);
        rc = write_outputs(R, report);
    }
done:
    json_decref(report);
    for (int mi = 0; mi < R->n_models; mi++)
        for (int r = 0; r < R->n_rounds; r++)
            rec_eval_result_free(&R->res[mi][r]);
    rec_csr_free(&R->cats);
    rec_eval_data_free(&R->d);
    free(R->fold);
    free(R);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
