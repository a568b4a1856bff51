/* tune_served.c: the served pipeline's fusion weights for `recd tune` (see tune_served.h). */
#include "app/tune_served.h"

#include <stdlib.h>
#include <string.h>

#include "app/eval_served.h"
#include "core/err.h"

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* is_test for rec_eval_served_fit: the outer test part and the carve's held-out pairs. */
static uint8_t *carve_mask(const struct rec_eval_data *d, const uint8_t *outer_test,
                           const struct rec_eval_split *v)
{
    uint8_t *m = malloc((size_t)(d->n_pairs ? d->n_pairs : 1));
    if (!m)
        return NULL;
    for (int64_t j = 0; j < d->n_pairs; j++) {
        const struct rec_interaction *x = &d->pairs[j];
        m[j] = outer_test[j];
        if (!m[j] && x->user < v->n_users) {
            int64_t lo = v->test_start[x->user], hi = v->test_start[x->user + 1];
            m[j] = bsearch(&x->item, v->test_items + lo, (size_t)(hi - lo), sizeof x->item,
                           cmp_i32) != NULL;
        }
    }
    return m;
}

static void set_knobs(struct rec_eval_served *sv, const struct rec_served_knobs *kn)
{
    sv->opts.blend_knn = (float)kn->blend_knn;
    sv->opts.blend_popular = (float)kn->blend_popular;
    sv->opts.cold_weight = (float)kn->cold_weight;
}

struct carves {
    struct rec_eval_served *sv; /* one engine per carve */
    const struct rec_eval_split *valid;
    int n, k;
};

/* rec_served_score_fn: mean NDCG@k over the carves with knobs kn. */
static int score(void *ctx, const struct rec_served_knobs *kn, double *ndcg)
{
    const struct carves *c = ctx;
    *ndcg = 0;
    for (int v = 0; v < c->n; v++) {
        set_knobs(&c->sv[v], kn);
        struct rec_eval_result res;
        int k = c->k;
        int rc = rec_eval_run(&c->valid[v], rec_eval_score_served, &c->sv[v], &k, 1, 0, &res);
        if (rc)
            return rc;
        *ndcg += res.at[0].ndcg / c->n;
        rec_eval_result_free(&res);
    }
    return 0;
}

int rec_tune_served(const struct rec_engine_params *p, const struct rec_eval_data *d,
                    const uint8_t *outer_test, const struct rec_eval_split *valid, int n_carves,
                    int k, const struct rec_served_knobs *start, struct rec_served_knobs *best,
                    double *best_ndcg, double *start_ndcg, char *err, size_t errlen)
{
    struct rec_eval_served *sv = calloc((size_t)n_carves, sizeof *sv);
    if (!sv)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    int rc = 0, fitted = 0;
    for (; fitted < n_carves && !rc; fitted++) {
        uint8_t *mask = carve_mask(d, outer_test, &valid[fitted]);
        double train_s;
        rc = mask ? rec_eval_served_fit(p, d, mask, k, &sv[fitted], &train_s) : REC_ENOMEM;
        free(mask);
    }
    if (rc) {
        rec_errf(err, errlen, rc, "served pipeline on a validation carve: %s", rec_strerror(rc));
    } else {
        struct carves c = {sv, valid, n_carves, k};
        rc = rec_served_search(score, &c, k, start, best, best_ndcg, start_ndcg, NULL);
    }
    for (int v = 0; v < fitted; v++)
        rec_eval_served_free(&sv[v]);
    free(sv);
    return rc;
}
