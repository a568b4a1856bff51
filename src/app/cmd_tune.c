/* cmd_tune.c: `recd tune [PATH]`: per-model hyperparameter search and blend weights, on a
 * validation split carved from the training part only.
 *
 * The data are split exactly as `recd eval` splits them (--ratio, --seed, per-user random); the
 * test part is dropped before anything else happens. The training part is split again per user
 * (--valid-ratio, 80/20), N_CARVES times with other seeds: models are fitted on the 80% and
 * scored by NDCG@K on the rest, averaged over the carves. Each model of --models is tuned by
 * successive halving (eval/tune.c); then the tuned models' blend weights are learned on the same
 * carves, and last the served pipeline's fusion weights (tune_served.c).
 * The result is a config file (--out) that `recd serve --config`, `recd train` and
 * `recd eval --config` read: params-<type>, sources, blend-weights, blend-knn, blend-popular and
 * cold-weight.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "app/eval_data.h"
#include "app/eval_models.h"
#include "app/tune_served.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "eval/blend_learn.h"
#include "eval/report_html.h"
#include "eval/tune.h"

#define MAX_MODELS 8

/* Every configuration, the blend weights and the served knobs are scored on N_CARVES validation
 * carves (other seeds) and the NDCG averaged: one carve of MovieLens-sized data has a noise of
 * about 0.005 NDCG@10, as large as the differences a search is after. */
#define N_CARVES 3

struct objective_ctx {
    const struct rec_model_type *type;
    const struct rec_eval_split *valid; /* N_CARVES of them */
    const struct rec_blend *prev;       /* N_CARVES: the models tuned before, fitted on each carve,
                                         * when judged in the blend (--tune-in-blend), else NULL */
    int k, threads;
    char *err;
    size_t errlen;
};

/* The candidate's score as a blend member: fitted on each carve and added to the models tuned
 * before it, the weights learned on the carves as learn_blend does; the mean NDCG reached. A
 * source that is good alone can add nothing to iALS, and one that adds most can be poor alone
 * (seqknn: peaked neighbour lists, sim_pow 4, lose alone and gain in the blend). */
static int objective_in_blend(struct objective_ctx *o, const double *p, double *score)
{
    struct rec_blend per[N_CARVES];
    int rc = 0, v = 0;
    for (; v < N_CARVES && !rc; v++) {
        per[v] = o->prev[v];
        if (per[v].n >= REC_BLEND_MAX)
            return rec_errf(o->err, o->errlen, REC_EINVAL, "at most %d blended models", REC_BLEND_MAX);
        struct rec_train_input in;
        rec_eval_train_input(&o->valid[v], o->threads, &in);
        int s = per[v].n++;
        per[v].type[s] = o->type;
        memcpy(per[v].params[s], p, sizeof per[v].params[s]);
        per[v].model[s] = NULL;
        per[v].weight[s] = 0;
        rc = o->type->fit(&in, p, &per[v].model[s], o->err, o->errlen);
    }
    if (!rc)
        rc = rec_blend_learn_carves(per, o->valid, N_CARVES, o->k, o->threads, score);
    for (int j = 0; j < v; j++) /* only the candidate is ours: prev owns the others */
        if (per[j].model[per[j].n - 1])
            o->type->destroy(per[j].model[per[j].n - 1]);
    return rc;
}

static int objective(void *vctx, const double *params, double *score)
{
    struct objective_ctx *o = vctx;
    *score = 0;
    if (o->prev)
        return objective_in_blend(o, params, score);
    /* each carve also fits from another initialization (a type's "seed" parameter), so the
     * average is over the seed's noise too (iALS on ML-100K: 0.4906-0.4933 NDCG@10 by seed) */
    int seed_at = rec_model_param_index(o->type, "seed");
    double p[REC_MODEL_MAX_PARAMS];
    memcpy(p, params, sizeof p);
    for (int v = 0; v < N_CARVES; v++) {
        if (seed_at >= 0) /* within the parameter's range */
            p[seed_at] = params[seed_at] + v <= o->type->params[seed_at].hi ? params[seed_at] + v : v;
        struct rec_train_input in;
        rec_eval_train_input(&o->valid[v], o->threads, &in);
        struct rec_model *m = NULL;
        int rc = o->type->fit(&in, p, &m, o->err, o->errlen);
        if (rc)
            return rc;
        struct rec_eval_model_ctx ctx = {o->type, m};
        struct rec_eval_result res;
        rc = rec_eval_run(&o->valid[v], rec_eval_score_model, &ctx, &o->k, 1, 0, &res);
        *score += res.at[0].ndcg / N_CARVES;
        rec_eval_result_free(&res);
        o->type->destroy(m);
        if (rc)
            return rc;
    }
    return 0;
}

static void on_progress(void *p, int done, int total) { rec_progress_update(p, done); }

/* The one list length tune optimizes (--k), or 0 when it is not a single number 1..1000. */
static int single_k(const char *s)
{
    char *end;
    long k = s ? strtol(s, &end, 10) : 0;
    return s && *s && !*end && k >= 1 && k <= 1000 ? (int)k : 0;
}

static json_t *trial_json(const struct rec_model_type *t, const struct rec_tune_trial *tr)
{
    char params[256];
    rec_model_params_format(t, tr->params, params, sizeof params);
    return json_pack("{s:s,s:s,s:i,s:f,s:f,s:f}", "model", t->name, "params", params, "rung", tr->rung,
                     "budget", tr->budget, "score", tr->score, "seconds", tr->seconds);
}

/* The tuned blend as the config's values: params-<type> per model (params[j] for
 * REC_CONFIG_MODEL_TYPES[j], "" when not tuned), sources and blend-weights. */
struct tuned_strings {
    char params[REC_CONFIG_N_MODEL_TYPES][512];
    char sources[256], weights[256];
};

static void tuned_strings(const struct rec_blend *b, struct tuned_strings *t)
{
    static const char *const names[] = REC_CONFIG_MODEL_TYPES;
    memset(t, 0, sizeof *t);
    for (int s = 0; s < b->n; s++) {
        for (int j = 0; j < REC_CONFIG_N_MODEL_TYPES; j++)
            if (!strcmp(names[j], b->type[s]->name))
                rec_model_params_format(b->type[s], b->params[s], t->params[j], sizeof t->params[j]);
        if (strcmp(b->type[s]->name, "als") && b->weight[s] > 0)
            snprintf(t->sources + strlen(t->sources), sizeof t->sources - strlen(t->sources), "%s%s",
                     t->sources[0] ? "," : "", b->type[s]->name);
        snprintf(t->weights + strlen(t->weights), sizeof t->weights - strlen(t->weights), "%s%s=%.4g",
                 t->weights[0] ? "," : "", b->type[s]->name, b->weight[s]);
    }
}

/* The config file recd serve reads. */
static int write_config(const char *path, const char *data, const struct rec_config *c,
                        const struct tuned_strings *t, const struct rec_served_knobs *kn,
                        double valid_ndcg, double served_ndcg)
{
    static const char *const names[] = REC_CONFIG_MODEL_TYPES;
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f)
        return REC_EIO;
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    fprintf(f, "# written by recd tune, %s\n# data: %s; validation split of the training part "
               "(ratio %.2f, seed %lld); validation NDCG@%s of the blend: %.4f, of the served "
               "pipeline: %.4f\n",
            when, data, c->ratio, (long long)c->seed, c->k, valid_ndcg, served_ndcg);
    for (int j = 0; j < REC_CONFIG_N_MODEL_TYPES; j++)
        if (t->params[j][0])
            fprintf(f, "params-%s = %s\n", names[j], t->params[j]);
    fprintf(f, "sources = %s\nblend-weights = %s\n", t->sources, t->weights);
    fprintf(f, "blend-knn = %g\nblend-popular = %g\ncold-weight = %g\n", kn->blend_knn,
            kn->blend_popular, kn->cold_weight);
    return f == stdout ? 0 : fclose(f) == 0 ? 0 : REC_EIO;
}

/* The blend weights of the tuned models (b: types and params set), learned on the mean NDCG@k
 * over every carve: each carve fits its own copy of the sources. b gets the weights. */
static int learn_blend(struct rec_blend *b, const struct rec_eval_split *valid, int k,
                       int threads, double *ndcg, char *err, size_t errlen)
{
    struct rec_blend per[N_CARVES];
    int fitted = 0, rc = 0;
    for (; fitted < N_CARVES && !rc; fitted++) {
        struct rec_train_input in;
        rec_eval_train_input(&valid[fitted], threads, &in);
        per[fitted] = *b;
        if ((rc = rec_blend_fit(&per[fitted], &in, err, errlen)))
            break; /* rec_blend_fit cleared what it had fitted */
    }
    if (!rc)
        rc = rec_blend_learn_carves(per, valid, N_CARVES, k, threads, ndcg);
    if (!rc)
        memcpy(b->weight, per[0].weight, sizeof b->weight);
    for (int v = 0; v < fitted; v++)
        rec_blend_clear(&per[v]);
    return rc;
}

/* The served pipeline's weights on the carves, for the models tuned (t). */
static int tune_fusion(const struct rec_config *c, const struct tuned_strings *t,
                       const struct rec_eval_data *d, const uint8_t *is_test,
                       const struct rec_eval_split *valid, int k, struct rec_served_knobs *best,
                       double *best_ndcg, char *err, size_t errlen)
{
    struct rec_config cc = *c; /* the tuned values in place of the configured ones; not freed */
    for (int j = 0; j < REC_CONFIG_N_MODEL_TYPES; j++)
        if (t->params[j][0])
            cc.model_params[j] = (char *)t->params[j];
    cc.sources = (char *)t->sources;
    cc.blend_weights = (char *)t->weights;
    struct rec_engine_params p;
    rec_app_engine_params(&cc, &p, 0, NULL, 0);
    int rc = rec_app_sources(&cc, &p, err, errlen);
    if (rc)
        return rc;
    struct rec_served_knobs start = {c->blend_knn, c->blend_popular, c->cold_weight};
    double start_ndcg = 0;
    double t0 = rec_mono_s();
    rc = rec_tune_served(&p, d, is_test, valid, N_CARVES, k, &start, best, best_ndcg, &start_ndcg,
                         err, errlen);
    if (!rc)
        printf("served   validation NDCG@%d %.4f (%.4f as configured) in %.1f s with blend-knn=%g "
               "blend-popular=%g cold-weight=%g\n",
               k, *best_ndcg, start_ndcg, rec_mono_s() - t0, best->blend_knn, best->blend_popular,
               best->cold_weight);
    return rc;
}

static int tune_all(struct rec_config *c, const char *path, json_t *report, char *err, size_t errlen)
{
    struct rec_eval_model models[MAX_MODELS];
    int n_models, k = single_k(c->k);
    int rc = rec_eval_models_parse(c, models, MAX_MODELS, &n_models, err, errlen);
    if (rc)
        return rc;
    if (k < 1)
        return rec_errf(err, errlen, REC_EINVAL, "--k takes one list length (1..1000) for tune");
    struct rec_eval_data d;
    rc = rec_eval_data_load(&d, path, c->data, NULL, NULL, c->weights, err, errlen);
    uint8_t *is_test = rc ? NULL : calloc((size_t)(d.n_pairs ? d.n_pairs : 1), 1);
    if (!rc && !is_test)
        rc = REC_ENOMEM;
    if (!rc)
        rc = rec_split_random(d.pairs, d.n_pairs, c->ratio, (uint64_t)c->seed, is_test);
    struct rec_eval_split outer = {0}, valid[N_CARVES] = {{0}};
    if (!rc)
        rc = rec_eval_split_build(&outer, d.users.n_names, d.items.n_names, d.pairs, d.n_pairs, is_test);
    if (!rc) { /* from here on only the training part exists */
        free(outer.test_items);
        outer.test_items = NULL;
        memset(outer.test_start, 0, ((size_t)outer.n_users + 1) * sizeof *outer.test_start);
        outer.n_test = 0;
        outer.item_docs = (const char *const *)d.item_docs;
        outer.user_docs = (const char *const *)d.user_docs;
        for (int v = 0; v < N_CARVES && !rc; v++)
            rc = rec_eval_carve(&outer, c->valid_ratio, (uint64_t)c->seed ^ (0x74756e65ULL + (uint64_t)v),
                                &valid[v]);
    }
    if (rc) {
        if (!err[0])
            rec_errf(err, errlen, rc, "reading or splitting the data: %s", rec_strerror(rc));
        goto out;
    }
    printf("tune: %d users, %d items; validation: %lld train / %lld held-out pairs (from the "
           "training part only, %d carves); objective NDCG@%d\n",
           d.users.n_names, d.items.n_names, (long long)valid[0].train.indptr[valid[0].n_users],
           (long long)valid[0].n_test, N_CARVES, k);

    struct rec_blend b;
    memset(&b, 0, sizeof b);
    json_t *trials = json_array(), *jmodels = json_array();
    for (int mi = 0; mi < n_models && !rc; mi++) {
        if (models[mi].kind != REC_EVAL_TYPE)
            continue;
        const struct rec_model_type *t = models[mi].type;
        struct objective_ctx o = {t, valid, NULL, k, c->train_threads, err, errlen};
        struct rec_blend prev[N_CARVES];
        int n_prev = 0;
        for (; c->tune_in_blend && b.n > 0 && n_prev < N_CARVES && !rc; n_prev++) {
            struct rec_train_input in;
            rec_eval_train_input(&valid[n_prev], c->train_threads, &in);
            prev[n_prev] = b;
            if ((rc = rec_blend_fit(&prev[n_prev], &in, err, errlen)))
                break; /* rec_blend_fit cleared what it had fitted */
        }
        if (rc) {
            for (int v = 0; v < n_prev; v++)
                rec_blend_clear(&prev[v]);
            break;
        }
        if (n_prev == N_CARVES)
            o.prev = prev;
        struct rec_tune_result res;
        struct rec_progress pr;
        rec_progress_start(&pr, t->name, c->trials * 2);
        double t0 = rec_mono_s();
        rc = rec_tune_run(t, models[mi].params, rec_tune_space_find(t->name) ? c->trials : 1,
                          (uint64_t)c->seed, c->time_limit, objective, &o, &res, on_progress, &pr);
        rec_progress_finish(&pr);
        for (int v = 0; v < n_prev; v++)
            rec_blend_clear(&prev[v]);
        if (rc)
            break;
        double secs = rec_mono_s() - t0;
        char best[512];
        rec_model_params_format(t, res.best, best, sizeof best);
        printf("%-8s %3d trials in %6.1f s: best validation NDCG@%d %.4f%s with %s\n", t->name,
               res.n_trials, secs, k, res.best_score, o.prev ? " (in the blend)" : "", best);
        for (int j = 0; j < res.n_trials; j++) {
            json_array_append_new(trials, trial_json(t, &res.trials[j]));
            char ps[512];
            rec_model_params_format(t, res.trials[j].params, ps, sizeof ps);
            printf("  trial %3d rung %d  NDCG@%d %.4f  %6.2f s  %s\n", j + 1, res.trials[j].rung, k,
                   res.trials[j].score, res.trials[j].seconds, ps);
        }
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        json_array_append_new(jmodels, json_pack("{s:s,s:s,s:f,s:{s:{s:f}}}", "name", t->name, "params",
                                                 best, "train_seconds", secs, "metrics", key, "ndcg",
                                                 res.best_score));
        b.type[b.n] = t;
        memcpy(b.params[b.n], res.best, sizeof b.params[0]);
        b.n++;
        free(res.trials);
    }
    double vn = 0;
    if (!rc && b.n > 0) {
        rc = learn_blend(&b, valid, k, c->train_threads, &vn, err, errlen);
        if (!rc) {
            printf("blend   validation NDCG@%d %.4f with weights", k, vn);
            for (int s = 0; s < b.n; s++)
                printf(" %s=%.3g", b.type[s]->name, b.weight[s]);
            printf("\n");
        }
    }
    struct tuned_strings ts;
    struct rec_served_knobs kn;
    double served_ndcg = 0;
    if (!rc && b.n > 0) {
        tuned_strings(&b, &ts);
        rc = tune_fusion(c, &ts, &d, is_test, valid, k, &kn, &served_ndcg, err, errlen);
    }
    if (!rc && b.n > 0) {
        rc = write_config(c->out, path ? path : c->data, c, &ts, &kn, vn, served_ndcg);
        if (rc)
            rec_errf(err, errlen, rc, "cannot write %s", c->out);
        json_object_set_new(report, "served", json_pack("{s:f,s:f,s:f,s:f}", "validation_ndcg",
                                                        served_ndcg, "blend_knn", kn.blend_knn,
                                                        "blend_popular", kn.blend_popular,
                                                        "cold_weight", kn.cold_weight));
    }
    json_object_set_new(report, "models", jmodels);
    json_object_set_new(report, "trials", trials);
    json_object_set_new(report, "blend_validation_ndcg", json_real(vn));
out:
    for (int v = 0; v < N_CARVES; v++)
        rec_eval_split_free(&valid[v]);
    rec_eval_split_free(&outer);
    free(is_test);
    rec_eval_data_free(&d);
    return rc;
}

int rec_cmd_tune(int argc, char **argv)
{
    struct rec_config c;
    const char *pos[1];
    int np;
    int rc = rec_app_config(&c, REC_CMD_TUNE, "tune",
                            "[PATH] --models als,ease,itemknn [--trials N] [--out recd.conf] [--html FILE]",
                            argc, argv, pos, 1, &np);
    if (rc)
        return rc - 1;
    char err[512] = "";
    json_t *report = json_pack("{s:s,s:s,s:s}", "title", "recd tune", "dataset", np ? pos[0] : c.data,
                               "protocol", "validation carve of a per-user random split");
    json_object_set_new(report, "ks", json_pack("[i]", single_k(c.k)));
    double t0 = rec_mono_s();
    rc = tune_all(&c, np ? pos[0] : NULL, report, err, sizeof err);
    if (rc) {
        fprintf(stderr, "recd tune: %s\n", err[0] ? err : rec_strerror(rc));
    } else {
        printf("tune: %.1f s in all; config written to %s\n", rec_mono_s() - t0, c.out);
        if (c.html) {
            FILE *f = fopen(c.html, "w");
            rc = f ? rec_report_html_write(report, f) : REC_EIO;
            if (f && fclose(f) != 0)
                rc = REC_EIO;
            if (rc)
                fprintf(stderr, "recd tune: cannot write %s\n", c.html);
        }
    }
    json_decref(report);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
