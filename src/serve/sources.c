/* sources.c: the extra model types the server blends with iALS (recd tune's "sources"): fitting
 * them at each training run and, when no weights are configured, learning the weights on a
 * validation carve of the same data (per-user random, REC_EVAL_VALID_RATIO kept), iALS included
 * as a source. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "eval/blend_learn.h"
#include "eval/runner.h"
#include "serve/engine_impl.h"

extern const struct rec_model_type rec_model_als;

/* The "als" parameter vector of the engine's iALS settings. */
static void als_vector(const struct rec_als_params *a, double *v)
{
    const struct rec_model_type *t = &rec_model_als;
    rec_model_params_default(t, v);
    v[rec_model_param_index(t, "factors")] = a->factors;
    v[rec_model_param_index(t, "reg")] = a->reg;
    v[rec_model_param_index(t, "alpha")] = a->alpha;
    v[rec_model_param_index(t, "iters")] = a->iters;
    v[rec_model_param_index(t, "cg_steps")] = a->cg_steps;
    v[rec_model_param_index(t, "seed")] = (double)a->seed;
}

/* Validation-learned weights: iALS is source 0, then the configured sources. */
static int learn_weights(const struct rec_engine_params *p, const struct rec_csr *ui,
                         const int64_t *ui_ts, float *als_w, float *w)
{
    int64_t n = ui->indptr[ui->n_rows];
    struct rec_interaction *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    uint8_t *is_test = calloc((size_t)(n ? n : 1), 1);
    struct rec_eval_split valid;
    struct rec_blend b;
    memset(&b, 0, sizeof b);
    memset(&valid, 0, sizeof valid);
    int rc = x && is_test ? 0 : REC_ENOMEM;
    for (int32_t u = 0; u < ui->n_rows && !rc; u++)
        for (int64_t e = ui->indptr[u]; e < ui->indptr[u + 1]; e++)
            x[e] = (struct rec_interaction){u, ui->indices[e], ui->values[e], ui_ts ? ui_ts[e] : 0};
    if (!rc)
        rc = rec_split_random(x, n, REC_EVAL_VALID_RATIO, p->als.seed ^ 0x626c656e64ULL, is_test);
    if (!rc)
        rc = rec_eval_split_build(&valid, ui->n_rows, ui->n_cols, x, n, is_test);
    free(x);
    free(is_test);
    b.type[0] = &rec_model_als;
    als_vector(&p->als, b.params[0]);
    b.n = 1;
    for (int s = 0; s < p->n_sources; s++, b.n++) {
        b.type[b.n] = p->source_type[s];
        memcpy(b.params[b.n], p->source_params[s], sizeof b.params[0]);
    }
    char err[256] = "";
    double ndcg = 0;
    if (!rc) {
        struct rec_train_input in;
        rec_eval_train_input(&valid, p->als.threads, &in);
        if (!(rc = rec_blend_fit(&b, &in, err, sizeof err)))
            rc = rec_blend_learn(&b, &valid, 10, p->als.threads, &ndcg);
    }
    rec_blend_clear(&b);
    rec_eval_split_free(&valid);
    if (rc) {
        rec_warn("engine: learning blend weights failed (%s); using iALS alone", err[0] ? err : rec_strerror(rc));
        *als_w = 1;
        for (int s = 0; s < p->n_sources; s++)
            w[s] = 0;
        return 0;
    }
    *als_w = b.weight[0];
    for (int s = 0; s < p->n_sources; s++)
        w[s] = b.weight[s + 1];
    rec_info("engine: blend weights learned on a validation carve (NDCG@10 %.4f): als=%.3g", ndcg, *als_w);
    return 0;
}

int rec_engine_fit_sources(const struct rec_engine_params *p, const struct rec_csr *ui,
                           const int64_t *ui_ts, struct rec_blend **out)
{
    *out = NULL;
    if (p->n_sources == 0)
        return 0;
    struct rec_blend *b = calloc(1, sizeof *b);
    if (!b)
        return REC_ENOMEM;
    float als_w = p->als_weight, w[REC_BLEND_MAX] = {0};
    memcpy(w, p->source_weight, (size_t)p->n_sources * sizeof *w);
    int rc = p->learn_weights ? learn_weights(p, ui, ui_ts, &als_w, w) : 0;
    struct rec_csr iu = {0};
    if (!rc)
        rc = rec_csr_transpose(ui, &iu);
    /* slot 0 stays empty: it stands for the live iALS model, weight in weight[0] */
    b->n = 1;
    b->weight[0] = als_w;
    for (int s = 0; s < p->n_sources && !rc; s++, b->n++) {
        b->type[b->n] = p->source_type[s];
        memcpy(b->params[b->n], p->source_params[s], sizeof b->params[0]);
        b->weight[b->n] = w[s];
    }
    char err[256] = "";
    if (!rc) {
        struct rec_train_input in = {ui, &iu, ui_ts, NULL, NULL, p->als.threads};
        b->n_items = ui->n_cols;
        for (int s = 1; s < b->n && !rc; s++)
            if (b->weight[s] > 0)
                rc = b->type[s]->fit(&in, b->params[s], &b->model[s], err, sizeof err);
    }
    rec_csr_free(&iu);
    if (rc) {
        rec_error("engine: fitting blend sources failed: %s", err[0] ? err : rec_strerror(rc));
        rec_blend_clear(b);
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}
