/* eval_served.c: evaluating the served pipeline through a replayed in-memory engine. */
#include "app/eval_served.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "serve/pipeline.h"

static int cmp_pair(const void *a, const void *b)
{
    const struct rec_interaction *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static int cmp_ts(const void *a, const void *b)
{
    const struct rec_eval_event *x = *(struct rec_eval_event *const *)a,
                                *y = *(struct rec_eval_event *const *)b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x < y ? -1 : x > y;
}

int rec_eval_served_fit(const struct rec_engine_params *p, const struct rec_eval_data *d,
                        const uint8_t *is_test, int max_k, struct rec_eval_served *out,
                        double *train_s)
{
    memset(out, 0, sizeof *out);
    out->diversity = -1;
    rec_request_opts_default(&out->opts);
    out->d = d;
    out->max_k = max_k;
    int rc = rec_engine_create(p, NULL, &out->engine);
    if (rc)
        return rc;
    const struct rec_eval_event **order = malloc((size_t)(d->n_ev ? d->n_ev : 1) * sizeof *order);
    if (!order)
        return REC_ENOMEM;
    int64_t n = 0;
    for (int64_t j = 0; j < d->n_ev; j++) {
        struct rec_interaction key = {d->ev[j].user, d->ev[j].item, 0, 0};
        const struct rec_interaction *hit =
            bsearch(&key, d->pairs, (size_t)d->n_pairs, sizeof key, cmp_pair);
        if (!hit || !is_test[hit - d->pairs])
            order[n++] = &d->ev[j]; /* negative-only pairs stay in training too */
    }
    qsort(order, (size_t)n, sizeof *order, cmp_ts);
    /* item documents first: the pipeline's diversity reads their categories */
    for (int32_t i = 0; i < d->items.n_names && !rc && d->item_docs; i++)
        if (i < d->cap_item_docs && d->item_docs[i])
            rc = rec_engine_put_item_doc(out->engine, rec_idmap_name(&d->items, i), NULL,
                                         d->item_docs[i]);
    for (int64_t j = 0; j < n && !rc; j++) {
        const struct rec_eval_event *r = order[j];
        struct rec_event ev = {.user = rec_idmap_name(&d->users, r->user),
                               .item = rec_idmap_name(&d->items, r->item), .type = r->type,
                               .value = r->value, .ts = r->ts, .seq = j + 1};
        rc = rec_engine_apply_events(out->engine, &ev, 1, NULL);
    }
    free(order);
    if (rc)
        return rc;
    double t0 = rec_mono_s();
    rc = rec_engine_train_now(out->engine);
    *train_s = rec_mono_s() - t0;
    if (rc && rc != REC_EMODEL)
        return rc;
    int32_t n_items = d->items.n_names, n_users = d->users.n_names;
    out->to_dataset = malloc(((size_t)n_items + 1) * sizeof *out->to_dataset);
    out->user_index = malloc(((size_t)n_users + 1) * sizeof *out->user_index);
    if (!out->to_dataset || !out->user_index)
        return REC_ENOMEM;
    for (int32_t i = 0; i < n_items; i++)
        out->to_dataset[i] = -1;
    for (int32_t i = 0; i < n_items; i++) {
        int32_t ei = rec_engine_item_index(out->engine, rec_idmap_name(&d->items, i));
        if (ei >= 0 && ei < n_items)
            out->to_dataset[ei] = i;
    }
    for (int32_t u = 0; u < n_users; u++)
        out->user_index[u] = rec_engine_user_index(out->engine, rec_idmap_name(&d->users, u));
    return 0;
}

void rec_eval_served_free(struct rec_eval_served *s)
{
    rec_engine_destroy(s->engine);
    free(s->to_dataset);
    free(s->user_index);
    memset(s, 0, sizeof *s);
}

/* The whole pipeline for dataset user u, as engine item indices. */
static int pipeline_list(const struct rec_eval_served *sv, int32_t u, int n, int32_t *items,
                         int *got)
{
    struct rec_pipeline_config c;
    rec_pipeline_config_default(&c);
    c.fresh_candidates = 0;
    c.fresh_boost = 0;
    c.diversity = sv->diversity;
    struct rec_pipeline_request rq = {.user = rec_idmap_name(&sv->d->users, u), .n = n,
                                      .diversity = sv->diversity, .now = 0};
    rec_request_opts_default(&rq.opts);
    rq.ctx.hour = rq.ctx.weekday = -1;
    struct rec_pick *picks = malloc((size_t)n * sizeof *picks);
    if (!picks)
        return REC_ENOMEM;
    struct rec_pipeline_result res;
    int rc = rec_pipeline_run(sv->engine, &c, &rq, picks, &res);
    *got = 0;
    for (int k = 0; !rc && k < res.n; k++) {
        int32_t i = rec_engine_item_index(sv->engine, picks[k].id);
        if (i >= 0)
            items[(*got)++] = i;
    }
    free(picks);
    return rc;
}

int rec_eval_score_served(void *ctx, const struct rec_eval_split *s, int32_t u, float *scores)
{
    const struct rec_eval_served *sv = ctx;
    int32_t items[1024];
    int n = sv->max_k < 1024 ? sv->max_k : 1024, got = 0;
    for (int32_t i = 0; i < s->n_items; i++)
        scores[i] = -INFINITY;
    int rc = sv->diversity >= 0 ? pipeline_list(sv, u, n, items, &got)
                                : rec_engine_recommend_idx(sv->engine, sv->user_index[u], n,
                                                           REC_MODE_HYBRID, &sv->opts, items, &got);
    if (rc)
        return rc;
    for (int r = 0; r < got; r++) {
        int32_t di = items[r] < sv->d->items.n_names ? sv->to_dataset[items[r]] : -1;
        if (di >= 0 && di < s->n_items)
            scores[di] = (float)(got - r);
    }
    return 0;
}
