/* pop_model.c: "pop", the non-personalized baseline behind the model interface: items ranked by
 * how many training users have them (each user counts once, whatever their strength), optionally
 * with exponential time decay from the latest interaction in the data. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/model.h"

enum { P_HALF_LIFE, N_PARAMS };

static const struct rec_param_spec params[N_PARAMS] = {
    [P_HALF_LIFE] = {"half_life_days", 0, 0, 1e5, REC_PARAM_LINEAR, "time decay; 0 = none"},
};

struct pop {
    int32_t n_items;
    float *score;
};

static int fit(const struct rec_train_input *in, const double *v, struct rec_model **out, char *err,
               size_t errlen)
{
    const struct rec_csr *ui = in->ui;
    struct pop *m = calloc(1, sizeof *m);
    double *acc = calloc((size_t)ui->n_cols + 1, sizeof *acc);
    if (!m || !acc || !(m->score = malloc(((size_t)ui->n_cols + 1) * sizeof *m->score))) {
        free(acc);
        if (m)
            free(m->score);
        free(m);
        return rec_errf(err, errlen, REC_ENOMEM, "pop: out of memory");
    }
    int64_t nnz = ui->indptr[ui->n_rows], now = 0;
    double half_life = v[P_HALF_LIFE] * 86400.0;
    if (in->ui_ts)
        for (int64_t e = 0; e < nnz; e++)
            now = in->ui_ts[e] > now ? in->ui_ts[e] : now;
    for (int64_t e = 0; e < nnz; e++) {
        if (!(ui->values[e] > 0))
            continue;
        double w = 1.0;
        if (half_life > 0 && in->ui_ts)
            w = exp2(-(double)(now - in->ui_ts[e]) / half_life);
        acc[ui->indices[e]] += w;
    }
    m->n_items = ui->n_cols;
    for (int32_t i = 0; i < m->n_items; i++)
        m->score[i] = (float)acc[i];
    free(acc);
    *out = (struct rec_model *)m;
    return 0;
}

static void destroy(struct rec_model *mm)
{
    struct pop *m = (struct pop *)mm;
    if (m)
        free(m->score);
    free(m);
}

static int score(const struct rec_model *mm, const struct rec_user_query *q, float *scores)
{
    const struct pop *m = (const struct pop *)mm;
    memcpy(scores, m->score, (size_t)m->n_items * sizeof *scores);
    return 0;
}

const struct rec_model_type rec_model_pop = {
    "pop", "popularity: distinct training users per item (optionally time-decayed)",
    params, N_PARAMS, fit, destroy, score, NULL, NULL, NULL,
};
