/* tune_served.c: the served pipeline's fusion weights for `recd tune` (see tune_served.h). */
#include "app/tune_served.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/eval_served.h"
#include "core/err.h"

/* A knob moves only for a gain above this (as the blend weights, eval/blend_learn.c): one carve
 * of MovieLens-sized data is noisy at about 0.005 NDCG@10, two carves somewhat less. */
#define MIN_GAIN 0.001
#define ROUNDS 2

static const double knn_grid[] = {0, 0.03, 0.1, 0.3, 1};
static const double pop_grid[] = {0, 0.01, 0.03, 0.1};
static const double cold_grid[] = {0, 0.25, 0.5, 1};

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

/* Mean NDCG@k over the carves with knobs kn. */
static int score(struct rec_eval_served *sv, const struct rec_eval_split *valid, int n_carves,
                 int k, const struct rec_served_knobs *kn, double *ndcg)
{
    *ndcg = 0;
    for (int v = 0; v < n_carves; v++) {
        set_knobs(&sv[v], kn);
        struct rec_eval_result res;
        int rc = rec_eval_run(&valid[v], rec_eval_score_served, &sv[v], &k, 1, 0, &res);
        if (rc)
            return rc;
        *ndcg += res.at[0].ndcg / n_carves;
        rec_eval_result_free(&res);
    }
    return 0;
}

static void print_trial(int n, const struct rec_served_knobs *kn, int k, double ndcg)
{
    printf("  trial %3d          NDCG@%d %.4f  blend-knn=%g,blend-popular=%g,cold-weight=%g\n", n,
           k, ndcg, kn->blend_knn, kn->blend_popular, kn->cold_weight);
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
        goto out;
    }
    *best = *start;
    int trials = 0;
    if ((rc = score(sv, valid, n_carves, k, best, best_ndcg)))
        goto out;
    *start_ndcg = *best_ndcg;
    print_trial(++trials, best, k, *best_ndcg);
    const struct {
        double *knob;
        const double *grid;
        int n;
    } dims[3] = {{&best->blend_knn, knn_grid, 5}, {&best->blend_popular, pop_grid, 4},
                 {&best->cold_weight, cold_grid, 4}};
    for (int round = 0; round < ROUNDS; round++) {
        int moved = 0;
        for (int dim = 0; dim < 3; dim++) {
            double keep = *dims[dim].knob, pick = keep, pick_ndcg = *best_ndcg;
            for (int g = 0; g < dims[dim].n; g++) {
                if (dims[dim].grid[g] == keep)
                    continue;
                *dims[dim].knob = dims[dim].grid[g];
                double nd;
                if ((rc = score(sv, valid, n_carves, k, best, &nd)))
                    goto out;
                print_trial(++trials, best, k, nd);
                if (nd > pick_ndcg + MIN_GAIN) {
                    pick = dims[dim].grid[g];
                    pick_ndcg = nd;
                }
            }
            *dims[dim].knob = pick;
            moved |= pick != keep;
            *best_ndcg = pick_ndcg;
        }
        if (!moved)
            break;
    }
out:
    for (int v = 0; v < fitted; v++)
        rec_eval_served_free(&sv[v]);
    free(sv);
    return rc;
}
