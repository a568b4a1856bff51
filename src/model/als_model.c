/* als_model.c: iALS (model/als.c) behind the model interface, as "als".
 *
 * score: a user seen at fit time uses their trained row; any other query (user == -1) is folded
 * in exactly from its history (rec_als_fold_in), which is also how the server reflects new events.
 */
#include <math.h>
#include <stdlib.h>

#include "core/err.h"
#include "model/als.h"
#include "model/model.h"
#include "model/simd.h"

enum { P_FACTORS, P_REG, P_ALPHA, P_ITERS, P_CG, P_SEED, N_PARAMS };

static const struct rec_param_spec params[N_PARAMS] = {
    [P_FACTORS] = {"factors", 64, 4, 1024, REC_PARAM_LOG_INT, "latent factors"},
    [P_REG] = {"reg", 2.5, 1e-3, 1e3, REC_PARAM_LOG, "L2 weight, scaled by (1 + n)^0.5 per row"},
    [P_ALPHA] = {"alpha", 1.5, 1e-2, 1e3, REC_PARAM_LOG, "confidence 1 + alpha * strength"},
    [P_ITERS] = {"iters", 15, 1, 200, REC_PARAM_INT, "alternating sweeps"},
    [P_CG] = {"cg_steps", 3, 1, 64, REC_PARAM_INT, "conjugate-gradient steps per row"},
    [P_SEED] = {"seed", 42, 0, 4294967295.0, REC_PARAM_INT, "initialization seed"},
};

/* The model object is the fitted rec_als itself. */
static struct rec_als *als_of(const struct rec_model *m) { return (struct rec_als *)m; }

void rec_als_params_from(const double *v, int threads, struct rec_als_params *p)
{
    rec_als_params_default(p);
    p->factors = (int)v[P_FACTORS];
    p->reg = (float)v[P_REG];
    p->alpha = (float)v[P_ALPHA];
    p->iters = (int)v[P_ITERS];
    p->cg_steps = (int)v[P_CG];
    p->seed = (uint64_t)v[P_SEED];
    p->threads = threads;
}

static int fit(const struct rec_train_input *in, const double *v, struct rec_model **out, char *err,
               size_t errlen)
{
    struct rec_als_params p;
    rec_als_params_from(v, in->threads, &p);
    const char *bad = rec_als_check_params(&p);
    if (bad)
        return rec_errf(err, errlen, REC_EINVAL, "als: %s", bad);
    struct rec_als *m;
    int rc = rec_als_fit(in->ui, &p, &m);
    if (rc)
        return rec_errf(err, errlen, rc, "als: fit failed: %s", rec_strerror(rc));
    *out = (struct rec_model *)m;
    return 0;
}

static void destroy(struct rec_model *m) { rec_als_destroy(als_of(m)); }

static int score(const struct rec_model *mm, const struct rec_user_query *q, float *scores)
{
    const struct rec_als *m = als_of(mm);
    int k = rec_als_factors(m);
    const float *x = q->user >= 0 ? rec_als_user_vec(m, q->user) : NULL;
    float *tmp = NULL;
    if (!x) {
        if (!(tmp = malloc((size_t)k * sizeof *tmp)))
            return REC_ENOMEM;
        int rc = rec_als_fold_in(m, q->items, q->strengths, q->n, tmp);
        if (rc) {
            free(tmp);
            return rc;
        }
        x = tmp;
    }
    rec_als_score_all(m, x, scores);
    free(tmp);
    return 0;
}

/* Cosine of item factors. */
static int similar(const struct rec_model *mm, int32_t item, float *scores)
{
    const struct rec_als *m = als_of(mm);
    int k = rec_als_factors(m);
    int32_t n = rec_als_n_items(m);
    const float *q = rec_als_item_vec(m, item);
    if (!q)
        return REC_ENOTFOUND;
    float qn = sqrtf(rec_simd_dot(q, q, k));
    for (int32_t i = 0; i < n; i++) {
        const float *y = rec_als_item_vec(m, i);
        float yn = sqrtf(rec_simd_dot(y, y, k));
        scores[i] = qn > 0 && yn > 0 ? rec_simd_dot(q, y, k) / (qn * yn) : 0.0f;
    }
    return 0;
}

static int save(const struct rec_model *m, FILE *f) { return rec_als_save(als_of(m), f, NULL, NULL); }

static int load(FILE *f, struct rec_model **out)
{
    struct rec_als *m;
    char **uids, **iids;
    int rc = rec_als_load(f, &m, &uids, &iids);
    if (rc)
        return rc;
    for (int32_t u = 0; u < rec_als_n_users(m); u++)
        free(uids[u]);
    for (int32_t i = 0; i < rec_als_n_items(m); i++)
        free(iids[i]);
    free(uids);
    free(iids);
    *out = (struct rec_model *)m;
    return 0;
}

const struct rec_model_type rec_model_als = {
    "als", "implicit ALS (Hu, Koren, Volinsky 2008), CG solver, frequency-scaled L2",
    params, N_PARAMS, fit, destroy, score, similar, save, load,
};
