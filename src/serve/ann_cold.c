/* ann_cold.c: the approximate index over the model's item rows and the cold set's factors.
 *
 * Items without a trained row (new items, items described but never used) have factors from
 * their content, or learned online from their first events (coldstart_serve.c,
 * online_items.c). The index is built over both: a cold item's row is its factors times the
 * cold weight (1 - cold_damping), so its index score is the score the exact scan gives it. Its
 * factors keep changing after the build, though, so every change is logged (struct ann_log):
 * a request leaves the logged items out of the index search and scores the ones still cold
 * exactly (recommend.c, source_als_ann). The log holds what changed since the last build, a
 * short list, where each request used to score the whole cold set.
 *
 * Concurrency: the engine's lock guards the log, the index pointer and the cold set; fit_mu
 * (held by the caller of rec_ann_cold_build) keeps the model and the index from being replaced
 * by anyone else while an index is built without the lock. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/halt.h"
#include "serve/engine_impl.h"

static void log_clear(struct ann_log *l)
{
    l->n = l->from = l->building_from = 0;
}

/* Drops the installed index (lock held for write): the exact scan serves until the next build. */
static void drop_index(struct rec_engine *e)
{
    rec_ann_destroy(e->ann);
    e->ann = NULL;
    if (!e->ann_log.building)
        log_clear(&e->ann_log);
}

void rec_ann_cold_note(struct rec_engine *e, int32_t i)
{
    struct ann_log *l = &e->ann_log;
    if ((!e->ann && !l->building) || i < 0)
        return;
    if (i >= l->n_epoch_of) {
        int32_t n = e->item_ids.n_names > i ? e->item_ids.n_names : i + 1;
        n += n / 2 + 16;
        uint32_t *ep = realloc(l->epoch_of, (size_t)n * sizeof *ep);
        if (!ep)
            goto lost;
        memset(ep + l->n_epoch_of, 0, (size_t)(n - l->n_epoch_of) * sizeof *ep);
        l->epoch_of = ep;
        l->n_epoch_of = n;
    }
    if (l->epoch_of[i] == l->epoch)
        return; /* already logged since the newest copy of the rows */
    if (l->n == l->cap) {
        int32_t cap = l->cap ? l->cap * 2 : 256;
        int32_t *it = realloc(l->item, (size_t)cap * sizeof *it);
        if (!it)
            goto lost;
        l->item = it;
        l->cap = cap;
    }
    l->item[l->n++] = i;
    l->epoch_of[i] = l->epoch;
    return;
lost: /* an index that cannot know what changed must not serve */
    l->lost = l->building;
    if (e->ann)
        drop_index(e);
}

void rec_ann_cold_forget(struct rec_engine *e)
{
    rec_ann_destroy(e->ann);
    e->ann = NULL;
    if (!e->ann_log.building)
        log_clear(&e->ann_log);
}

/* The rows to index (lock held): row i is the model's row, or for a cold item its factors
 * times cw (copied into *cold_rows), or zeros (*zero) past the model without cold factors. */
static int take_rows(const struct rec_engine *e, float cw, const float ***rows, int32_t *n_rows,
                     float **cold_rows, float **zero)
{
    const struct rec_als *m = e->als;
    int k = rec_als_factors(m);
    int32_t n = rec_als_n_items(m);
    const struct cold_set *c = &e->cold;
    int32_t n_cold = c->k == k ? c->n : 0;
    for (int32_t j = 0; j < n_cold; j++)
        if (c->item[j] >= n)
            n = c->item[j] + 1;
    *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof **rows);
    *cold_rows = malloc(((size_t)n_cold * k + 1) * sizeof **cold_rows);
    *zero = calloc((size_t)k, sizeof **zero);
    if (!*rows || !*cold_rows || !*zero)
        return REC_ENOMEM;
    int32_t n_model = rec_als_n_items(m);
    for (int32_t i = 0; i < n; i++)
        (*rows)[i] = i < n_model ? rec_als_item_vec(m, i) : *zero;
    for (int32_t j = 0; j < n_cold; j++) {
        float *r = *cold_rows + (size_t)j * k;
        for (int f = 0; f < k; f++)
            r[f] = cw > 0 ? cw * c->x[(size_t)j * k + f] : 0.0f;
        (*rows)[c->item[j]] = r;
    }
    *n_rows = n;
    return 0;
}

int rec_ann_cold_build(struct rec_engine *e, const struct rec_ann_params *p, struct rec_ann **out)
{
    *out = NULL;
    const float **rows = NULL;
    float *cold_rows = NULL, *zero = NULL;
    int32_t n = 0;
    float cw = 1.0f - e->p.cold_damping;
    struct ann_log *l = &e->ann_log;
    pthread_rwlock_wrlock(&e->lock);
    int rc = e->als ? take_rows(e, cw, &rows, &n, &cold_rows, &zero) : REC_EINVAL;
    int k = e->als ? rec_als_factors(e->als) : 0;
    if (!rc) { /* from now on, changes concern the new index as well */
        l->building = 1;
        l->lost = 0;
        l->building_from = l->n;
        l->epoch++;
    }
    pthread_rwlock_unlock(&e->lock);
    struct rec_ann *a = NULL;
    if (!rc)
        rc = rec_ann_build_rows(rows, n, k, p, &a);
    free(rows);
    free(cold_rows);
    free(zero);
    pthread_rwlock_wrlock(&e->lock);
    if (!rc && l->lost)
        rc = REC_ENOMEM;
    if (!rc && rec_halt_requested()) /* the build was cut short (core/workers.h) */
        rc = REC_ECANCELED;
    struct rec_ann *old = NULL;
    if (!rc) {
        old = e->ann;
        e->ann = a;
        e->ann_cold_weight = cw;
        l->n -= l->building_from;
        memmove(l->item, l->item + l->building_from, (size_t)l->n * sizeof *l->item);
        l->from = l->building_from = 0;
        *out = a;
    } else {
        rec_ann_destroy(a);
        if (!e->ann)
            log_clear(l);
    }
    l->building = 0;
    l->lost = 0;
    pthread_rwlock_unlock(&e->lock);
    rec_ann_destroy(old);
    return rc;
}
