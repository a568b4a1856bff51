#include "model/popularity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void rec_pop_init(struct rec_pop *p, double half_life_s)
{
    memset(p, 0, sizeof *p);
    p->half_life_s = half_life_s > 0 ? half_life_s : 7 * 24 * 3600.0;
    rec_pop_top_init(&p->top);
}

void rec_pop_free(struct rec_pop *p)
{
    free(p->sum);
    free(p->ref_ts);
    free(p->key);
    rec_pop_top_free(&p->top);
    memset(p, 0, sizeof *p);
    rec_pop_top_init(&p->top);
}

/* Room for items [0, need). As in knn.c, only items below n_items are initialized, so the
 * room beyond stays out of the resident set until items come. */
static int grow(struct rec_pop *p, int32_t need)
{
    if (need > p->cap) {
        int32_t cap = p->cap ? p->cap : 1024;
        while (cap < need)
            cap *= 2;
        double *sum = realloc(p->sum, (size_t)cap * sizeof *sum);
        if (!sum)
            return REC_ENOMEM;
        p->sum = sum;
        int64_t *ts = realloc(p->ref_ts, (size_t)cap * sizeof *ts);
        if (!ts)
            return REC_ENOMEM;
        p->ref_ts = ts;
        double *key = realloc(p->key, (size_t)cap * sizeof *key);
        if (!key)
            return REC_ENOMEM;
        p->key = key;
        p->cap = cap;
    }
    if (need > p->n_items) {
        if (rec_pop_top_reserve(&p->top, need))
            return REC_ENOMEM;
        for (int32_t i = p->n_items; i < need; i++)
            p->key[i] = -INFINITY;
        memset(p->sum + p->n_items, 0, (size_t)(need - p->n_items) * sizeof *p->sum);
        memset(p->ref_ts + p->n_items, 0, (size_t)(need - p->n_items) * sizeof *p->ref_ts);
        p->n_items = need;
    }
    return 0;
}

double rec_pop_decay_add(double sum, int64_t *ref, double w, int64_t ts, double half_life_s)
{
    if (ts >= *ref) {
        /* move the reference forward: older mass decays (to exactly 0 from an empty start) */
        sum = sum == 0 ? w : sum * exp2(-(double)(ts - *ref) / half_life_s) + w;
        *ref = ts;
        return sum;
    }
    /* an event older than the reference (imports, late arrivals) adds decayed weight */
    return sum + w * exp2(-(double)(*ref - ts) / half_life_s);
}

int rec_pop_add(struct rec_pop *p, int32_t item, double w, int64_t ts)
{
    if (item < 0)
        return REC_EINVAL;
    int rc = grow(p, item + 1);
    if (rc)
        return rc;
    p->sum[item] = rec_pop_decay_add(p->sum[item], &p->ref_ts[item], w, ts, p->half_life_s);
    /* taking back a share that was all there was leaves rounding dust, not popularity */
    if (fabs(p->sum[item]) < 1e-6 * fabs(w))
        p->sum[item] = 0;
    p->key[item] = p->sum[item] > 0 ? log2(p->sum[item]) + (double)p->ref_ts[item] / p->half_life_s
                                    : -INFINITY;
    rec_pop_top_update(&p->top, item, p->key, p->n_items);
    return 0;
}

double rec_pop_key(const struct rec_pop *p, int32_t item)
{
    if (item < 0 || item >= p->n_items)
        return -INFINITY;
    return p->key[item];
}

double rec_pop_value(const struct rec_pop *p, int32_t item, int64_t now)
{
    if (item < 0 || item >= p->n_items)
        return 0;
    double age = (double)(now - p->ref_ts[item]);
    if (age < 0)
        age = 0;
    return p->sum[item] * exp2(-age / p->half_life_s);
}
