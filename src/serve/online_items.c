/* online_items.c: item factors learned from events between trainings.
 *
 * An item the published iALS model has no trained row for (new since the fit, or without
 * history then) gets one from its own events as they arrive: the ALS item step over just those
 * events, against the users' live factors,
 *     y_i = (X'X + sum_e (c_e - 1) x_e x_e' + lambda_i I)^-1 sum_e c_e x_e,
 * c_e = 1 + alpha * strength, lambda_i = reg (1 + n_i)^0.5 as in the fit, X'X the Gram of the
 * model's user factors (computed at publish). The sums are kept per item (k x k + k floats), so
 * each event costs one rank-one update and one k x k Cholesky solve (about 20 us at k = 64),
 * and the row goes into the cold set that scoring and similar lists already read, replacing any
 * content-based guess. Items with a trained row keep it until the next training, which sees
 * the same events. A publish forgets the sums: the new model has learned from those events.
 * At most MAX_ONLINE items are tracked between trainings (memory: 16 KiB each at k = 64).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/linalg.h"
#include "serve/engine_impl.h"

#define MAX_ONLINE 4096

void rec_online_free(struct rec_engine *e)
{
    for (int32_t s = 0; s < e->online.n; s++)
        e->items[e->online.item[s]].online = 0;
    free(e->online.item);
    free(e->online.a);
    free(e->online.b);
    free(e->online.n_ev);
    free(e->online.xtx);
    memset(&e->online, 0, sizeof e->online);
}

void rec_online_reset(struct rec_engine *e)
{
    rec_online_free(e);
    if (!e->als)
        return;
    int k = rec_als_factors(e->als);
    int32_t nu = rec_als_n_users(e->als);
    if (!(e->online.xtx = malloc((size_t)k * k * sizeof *e->online.xtx)))
        return; /* no online item updates until the next publish */
    if (nu > 0)
        rec_linalg_gram(rec_als_user_vec(e->als, 0), nu, k, e->online.xtx);
    else
        memset(e->online.xtx, 0, (size_t)k * k * sizeof *e->online.xtx);
    e->online.k = k;
}

static int32_t slot_for(struct rec_engine *e, int32_t i)
{
    struct online_set *o = &e->online;
    if (e->items[i].online)
        return e->items[i].online - 1;
    if (o->n == MAX_ONLINE)
        return -1;
    if (o->n == o->cap) {
        int32_t cap = o->cap ? o->cap * 2 : 16;
        size_t kk = (size_t)o->k * o->k;
        int32_t *item = realloc(o->item, (size_t)cap * sizeof *item);
        if (item)
            o->item = item;
        int32_t *n_ev = realloc(o->n_ev, (size_t)cap * sizeof *n_ev);
        if (n_ev)
            o->n_ev = n_ev;
        float *a = realloc(o->a, (size_t)cap * kk * sizeof *a);
        if (a)
            o->a = a;
        float *b = realloc(o->b, (size_t)cap * o->k * sizeof *b);
        if (b)
            o->b = b;
        if (!item || !n_ev || !a || !b)
            return -1;
        o->cap = cap;
    }
    int32_t s = o->n++;
    o->item[s] = i;
    o->n_ev[s] = 0;
    memset(o->a + (size_t)s * o->k * o->k, 0, (size_t)o->k * o->k * sizeof *o->a);
    memset(o->b + (size_t)s * o->k, 0, (size_t)o->k * sizeof *o->b);
    e->items[i].online = s + 1;
    return s;
}

/* The trained model has a row for i. */
static int trained(const struct rec_engine *e, int32_t i)
{
    return i < e->n_has_hist && e->has_hist && e->has_hist[i];
}

void rec_online_event(struct rec_engine *e, int32_t u, int32_t i, float strength)
{
    struct online_set *o = &e->online;
    const struct user *us = u >= 0 ? rec_engine_user_at(e, u) : NULL;
    /* without has_hist (between a snapshot load and its refit) trained rows are unknown */
    if (!e->als || o->k == 0 || !o->xtx || strength <= 0 || !us || !us->has_x || !e->has_hist ||
        trained(e, i))
        return;
    int k = o->k;
    if (e->cold.k == 0 && e->cold.n == 0)
        e->cold.k = k; /* the cold set exists even without content */
    if (e->cold.k != k)
        return;
    int32_t s = slot_for(e, i);
    if (s < 0)
        return;
    const float *x = e->ux + (size_t)u * k;
    const struct rec_als_params *p = rec_als_params(e->als);
    float c1 = p->alpha * strength;
    float *a = o->a + (size_t)s * k * k, *b = o->b + (size_t)s * k;
    for (int r = 0; r < k; r++) {
        for (int q = 0; q < k; q++)
            a[r * k + q] += c1 * x[r] * x[q];
        b[r] += (1.0f + c1) * x[r];
    }
    o->n_ev[s]++;
    float *m = malloc(((size_t)k * k + k) * sizeof *m);
    if (!m)
        return;
    float *y = m + (size_t)k * k;
    float lambda = (float)(p->reg * sqrt(1.0 + o->n_ev[s]));
    for (int r = 0; r < k * k; r++)
        m[r] = o->xtx[r] + a[r];
    for (int r = 0; r < k; r++)
        m[r * k + r] += lambda;
    memcpy(y, b, (size_t)k * sizeof *y);
    if (rec_linalg_solve_spd(m, y, k) == 0)
        rec_cold_put(e, i, y);
    free(m);
}
