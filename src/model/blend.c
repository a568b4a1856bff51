/* blend.c: weighted sum of standardized source scores (CombSUM over z-scores). */
#include "model/blend.h"

#include <math.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

int rec_blend_fit(struct rec_blend *b, const struct rec_train_input *in, char *err, size_t errlen)
{
    b->n_items = in->ui->n_cols;
    for (int s = 0; s < b->n; s++) {
        double t0 = rec_mono_s();
        int rc = b->type[s]->fit(in, b->params[s], &b->model[s], err, errlen);
        if (rc) {
            rec_blend_clear(b);
            return rc;
        }
        b->fit_seconds[s] = rec_mono_s() - t0;
    }
    return 0;
}

void rec_blend_clear(struct rec_blend *b)
{
    for (int s = 0; s < b->n; s++) {
        if (b->model[s])
            b->type[s]->destroy(b->model[s]);
        b->model[s] = NULL;
    }
}

void rec_blend_standardize(float *s, int32_t n)
{
    double sum = 0, sq = 0;
    int64_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (isfinite(s[i])) {
            sum += s[i];
            sq += (double)s[i] * s[i];
            m++;
        }
    double mean = m ? sum / (double)m : 0, var = m ? sq / (double)m - mean * mean : 0;
    float inv = var > 1e-30 ? (float)(1.0 / sqrt(var)) : 0.0f;
    for (int32_t i = 0; i < n; i++)
        s[i] = isfinite(s[i]) ? (s[i] - (float)mean) * inv : -INFINITY;
}

int rec_blend_score(const struct rec_blend *b, const struct rec_user_query *q, float *scores,
                    float *tmp)
{
    int32_t n = b->n_items;
    int used = 0;
    for (int s = 0; s < b->n; s++) {
        if (b->weight[s] == 0.0f || !b->model[s])
            continue;
        float *dst = used ? tmp : scores;
        int rc = b->type[s]->score(b->model[s], q, dst);
        if (rc)
            return rc;
        rec_blend_standardize(dst, n);
        float w = b->weight[s];
        if (!used) {
            for (int32_t i = 0; i < n; i++)
                scores[i] *= w;
        } else {
            for (int32_t i = 0; i < n; i++)
                scores[i] += w * tmp[i];
        }
        used++;
    }
    if (!used)
        for (int32_t i = 0; i < n; i++)
            scores[i] = 0.0f;
    return 0;
}
