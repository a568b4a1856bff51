/* common.c: what the subcommands share: config and help, opening store and engine, progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/eval_models.h"
#include "model/model.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

int rec_app_config(struct rec_config *c, unsigned cmd, const char *name, const char *usage,
                   int argc, char **argv, const char **positional, int max_positional,
                   int *n_positional)
{
    char err[512];
    int help = 0, np = 0;
    const char *pos_buf[8];
    if (!positional) {
        positional = pos_buf;
        max_positional = 0;
    }
    int rc = rec_config_load(c, cmd, argc, argv, positional, max_positional, &np, &help, err,
                             sizeof err);
    if (n_positional)
        *n_positional = np;
    if (help) {
        printf("usage: recd %s %s\n\n", name, usage);
        rec_config_print_help(stdout, cmd);
        rec_config_free(c);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "recd %s: %s\n", name, err);
        rec_config_free(c);
        return 3;
    }
    int level = rec_log_parse_level(c->log_level ? c->log_level : "info");
    if (level < 0) {
        fprintf(stderr, "recd %s: unknown log level '%s'\n", name, c->log_level);
        rec_config_free(c);
        return 3;
    }
    rec_log_set_level((enum rec_log_level)level);
    int format = rec_log_parse_format(c->log_format ? c->log_format : "text");
    if (format < 0) {
        fprintf(stderr, "recd %s: --log-format must be text or json, not '%s'\n", name, c->log_format);
        rec_config_free(c);
        return 3;
    }
    rec_log_set_format((enum rec_log_format)format);
    if (!(c->cold_weight >= 0 && c->cold_weight <= 1)) {
        fprintf(stderr, "recd %s: --cold-weight must be 0..1, not %g\n", name, c->cold_weight);
        rec_config_free(c);
        return 3;
    }
    return 0;
}

void rec_app_engine_params(const struct rec_config *c, struct rec_engine_params *p, int background,
                           char *buf, size_t buflen)
{
    memset(p, 0, sizeof *p);
    memcpy(p->weights, c->weights, sizeof p->weights);
    p->half_life_s = c->half_life * 3600.0;
    p->knn_window = c->knn_window;
    p->knn_shrink = (float)c->knn_shrink;
    p->knn_neighbors = c->knn_neighbors;
    p->recent_items = c->recent_items;
    p->user_half_life_s = c->user_half_life * 3600.0;
    p->session_gap_s = c->session_gap * 60.0;
    p->session_boost = (float)c->session_boost;
    p->fold_in_steps = c->fold_in_steps;
    p->ann_min_items = c->ann_min_items;
    p->ann_nprobe = c->ann_nprobe;
    p->ann_lists = c->ann_lists;
    p->exclude_seen = c->exclude_seen;
    p->blend_knn = (float)c->blend_knn;
    p->blend_popular = (float)c->blend_popular;
    p->cold_damping = (float)(1.0 - c->cold_weight);
    rec_als_params_default(&p->als);
    if (c->factors > 0)
        p->als.factors = c->factors;
    if (c->reg >= 0)
        p->als.reg = (float)c->reg;
    if (c->alpha >= 0)
        p->als.alpha = (float)c->alpha;
    if (c->iters > 0)
        p->als.iters = c->iters;
    if (c->cg_steps > 0)
        p->als.cg_steps = c->cg_steps;
    p->als.threads = c->train_threads;
    p->als.seed = (uint64_t)c->seed;
    p->retrain_events = c->retrain_events;
    (void)rec_app_sources(c, p, NULL, 0); /* validated (with a message) by rec_app_open */
    p->retrain_seconds = c->retrain_seconds;
    p->background = background;
    p->model_dir = NULL;
    if (buf && c->data) {
        snprintf(buf, buflen, "%s/models", c->data);
        p->model_dir = buf;
    }
}

/* "name=v,name=v" -> weight of name, or -1 when absent. */
static double weight_of(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = list; q && *q;) {
        if (!strncmp(q, name, n) && q[n] == '=')
            return strtod(q + n + 1, NULL);
        q = strchr(q, ',');
        q = q ? q + 1 : NULL;
    }
    return -1;
}

int rec_app_sources(const struct rec_config *c, struct rec_engine_params *p, char *err,
                    size_t errlen)
{
    char e2[256];
    if (!err) {
        err = e2;
        errlen = sizeof e2;
    }
    const struct rec_model_type *als = rec_model_find("als");
    double v[REC_MODEL_MAX_PARAMS];
    int rc = rec_eval_model_params(c, als, v, err, errlen);
    if (rc)
        return rc;
    if (c->model_params[0] && *c->model_params[0])
        rec_als_params_from(v, c->train_threads, &p->als);
    p->n_sources = 0;
    p->learn_weights = !c->blend_weights || !*c->blend_weights;
    p->als_weight = 1;
    if (!p->learn_weights) {
        double w = weight_of(c->blend_weights, "als");
        p->als_weight = w >= 0 ? (float)w : 1.0f;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", c->sources ? c->sources : "");
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        const struct rec_model_type *t = rec_model_find(tok);
        if (!t || !strcmp(tok, "als"))
            return rec_errf(err, errlen, REC_EINVAL, "sources: '%s' is not a model type to blend with iALS", tok);
        if (p->n_sources == REC_BLEND_MAX - 1)
            return rec_errf(err, errlen, REC_EINVAL, "sources: at most %d", REC_BLEND_MAX - 1);
        int s = p->n_sources++;
        p->source_type[s] = t;
        if ((rc = rec_eval_model_params(c, t, p->source_params[s], err, errlen)))
            return rc;
        double w = p->learn_weights ? 0 : weight_of(c->blend_weights, tok);
        if (!p->learn_weights && w < 0)
            return rec_errf(err, errlen, REC_EINVAL, "blend-weights has no weight for source '%s'", tok);
        p->source_weight[s] = (float)w;
    }
    return 0;
}

int rec_app_default_engine_params(struct rec_engine_params *p)
{
    struct rec_config c;
    const char *pos[1];
    int np, help;
    char err[256];
    int rc = rec_config_load(&c, REC_CMD_SERVE, 0, NULL, pos, 0, &np, &help, err, sizeof err);
    if (!rc)
        rec_app_engine_params(&c, p, 0, NULL, 0);
    rec_config_free(&c);
    return rc;
}

int rec_app_open(const struct rec_config *c, int background, struct rec_store **store,
                 struct rec_engine **engine)
{
    char err[512], model_dir[4096];
    *store = NULL;
    *engine = NULL;
    int rc = rec_store_open(c->data, store, err, sizeof err);
    if (rc) {
        rec_error("cannot open store in %s: %s", c->data, err);
        return rc;
    }
    struct rec_engine_params p;
    rec_app_engine_params(c, &p, background, model_dir, sizeof model_dir);
    const char *msg = rec_als_check_params(&p.als);
    char serr[256];
    if (!msg && rec_app_sources(c, &p, serr, sizeof serr))
        msg = serr;
    if (msg) {
        rec_error("invalid model settings: %s", msg);
        rec_store_close(*store);
        *store = NULL;
        return REC_EINVAL;
    }
    if ((rc = rec_engine_create(&p, *store, engine))) {
        rec_error("cannot create engine: %s", rec_strerror(rc));
        rec_store_close(*store);
        *store = NULL;
        return rc;
    }
    if ((rc = rec_engine_load(*engine, err, sizeof err))) {
        if (rc == REC_ECANCELED)
            rec_info("%s", err); /* a shutdown asked for, not a failure */
        else
            rec_error("%s", err);
        rec_app_close(*store, *engine);
        *store = NULL;
        *engine = NULL;
        return rc;
    }
    return 0;
}

void rec_app_close(struct rec_store *store, struct rec_engine *engine)
{
    rec_engine_destroy(engine);
    rec_store_close(store);
}
