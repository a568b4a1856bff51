/* blend_learn.c: coordinate ascent on validation NDCG@k over a blend's weights.
 *
 * Each validation user's candidates are the union of every source's top CANDIDATES unseen items,
 * with the standardized score of each source cached, so trying one weight vector costs
 * O(users x candidates x sources) and no model is scored again. An item outside every source's
 * top CANDIDATES cannot reach a blended top-k with k << CANDIDATES in practice; relevant items
 * outside the candidates still count in the ideal DCG, so the objective is never flattered.
 */
#include "eval/blend_learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "serve/topk.h"

#define CANDIDATES 100
/* a weight moves only for a validation gain above this: smaller ones are mostly noise, and
 * every move away from the best single source must pay for itself */
#define MIN_GAIN 1e-3

static const float grid[] = {0, 0.02f, 0.05f, 0.1f, 0.2f, 0.3f, 0.5f, 0.7f, 1, 1.4f, 2, 3, 5};

struct cache {
    int n_src;
    int32_t n_users;          /* validation users with test items */
    int32_t *user;            /* their split index */
    int64_t *start;           /* n_users + 1 offsets into cand */
    int32_t *cand;            /* candidate items */
    float *z;                 /* cand x n_src standardized scores */
};

static void cache_free(struct cache *c)
{
    free(c->user);
    free(c->start);
    free(c->cand);
    free(c->z);
}

static int build_cache(const struct rec_blend *b, const struct rec_eval_split *v, struct cache *c)
{
    memset(c, 0, sizeof *c);
    c->n_src = b->n;
    int32_t n = v->n_items;
    int64_t cap = 0;
    for (int32_t u = 0; u < v->n_users; u++)
        if (v->test_start[u + 1] > v->test_start[u])
            c->n_users++;
    cap = (int64_t)c->n_users * CANDIDATES * b->n;
    c->user = malloc(((size_t)c->n_users + 1) * sizeof *c->user);
    c->start = malloc(((size_t)c->n_users + 1) * sizeof *c->start);
    c->cand = malloc(((size_t)cap + 1) * sizeof *c->cand);
    c->z = malloc(((size_t)cap + 1) * b->n * sizeof *c->z);
    float *all = malloc((size_t)b->n * (n + 1) * sizeof *all);
    int32_t *mark = malloc(((size_t)n + 1) * sizeof *mark);
    struct rec_topk_entry heap[CANDIDATES];
    if (!c->user || !c->start || !c->cand || !c->z || !all || !mark) {
        free(all);
        free(mark);
        cache_free(c);
        return REC_ENOMEM;
    }
    for (int32_t i = 0; i < n; i++)
        mark[i] = -1;
    int64_t at = 0;
    int32_t cu = 0;
    int rc = 0;
    for (int32_t u = 0; u < v->n_users && !rc; u++) {
        if (v->test_start[u + 1] == v->test_start[u])
            continue;
        struct rec_user_query q;
        rec_eval_query(v, u, &q);
        c->user[cu] = u;
        c->start[cu] = at;
        for (int s = 0; s < b->n && !rc; s++) {
            float *sc = all + (size_t)s * n;
            if ((rc = b->type[s]->score(b->model[s], &q, sc)))
                break;
            rec_blend_standardize(sc, n);
            for (int64_t e = v->train.indptr[u]; e < v->train.indptr[u + 1]; e++)
                sc[v->train.indices[e]] = -INFINITY;
            struct rec_topk t;
            rec_topk_init(&t, heap, CANDIDATES);
            for (int32_t i = 0; i < n; i++)
                if (sc[i] != -INFINITY && !isnan(sc[i]))
                    rec_topk_push(&t, sc[i], i);
            int got = rec_topk_sort(&t);
            for (int r = 0; r < got; r++)
                if (mark[heap[r].idx] != cu) {
                    mark[heap[r].idx] = cu;
                    c->cand[at++] = heap[r].idx;
                }
        }
        for (int64_t j = c->start[cu]; j < at; j++)
            for (int s = 0; s < b->n; s++) {
                float zz = all[(size_t)s * n + c->cand[j]];
                c->z[j * b->n + s] = isfinite(zz) ? zz : -10.0f;
            }
        cu++;
    }
    c->start[cu] = at;
    free(all);
    free(mark);
    if (rc)
        cache_free(c);
    return rc;
}

/* Validation NDCG@k of weights w. */
static double objective(const struct cache *c, const struct rec_eval_split *v, const float *w, int k)
{
    struct rec_metrics m;
    memset(&m, 0, sizeof m);
    struct rec_topk_entry heap[64];
    int32_t recs[64];
    if (k > 64)
        k = 64;
    for (int32_t cu = 0; cu < c->n_users; cu++) {
        struct rec_topk t;
        rec_topk_init(&t, heap, k);
        for (int64_t j = c->start[cu]; j < c->start[cu + 1]; j++) {
            float s = 0;
            for (int q = 0; q < c->n_src; q++)
                s += w[q] * c->z[j * c->n_src + q];
            rec_topk_push(&t, s, c->cand[j]);
        }
        int got = rec_topk_sort(&t);
        for (int r = 0; r < got; r++)
            recs[r] = heap[r].idx;
        int32_t u = c->user[cu];
        rec_metrics_add(&m, recs, got, v->test_items + v->test_start[u],
                        (int)(v->test_start[u + 1] - v->test_start[u]), k);
    }
    rec_metrics_finish(&m);
    return m.ndcg;
}

/* Mean validation NDCG@k of weights w over the carves. */
static double mean_objective(const struct cache *c, const struct rec_eval_split *v, int n_carves,
                             const float *w, int k)
{
    double sum = 0;
    for (int j = 0; j < n_carves; j++)
        sum += objective(&c[j], &v[j], w, k);
    return sum / n_carves;
}

int rec_blend_learn_carves(struct rec_blend *b, const struct rec_eval_split *valid, int n_carves,
                           int k, int threads, double *best_ndcg)
{
    (void)threads;
    if (n_carves < 1 || n_carves > REC_BLEND_LEARN_MAX_CARVES)
        return REC_EINVAL;
    struct cache c[REC_BLEND_LEARN_MAX_CARVES];
    int built = 0, rc = 0;
    for (; built < n_carves && !rc; built++)
        if ((rc = build_cache(&b[built], &valid[built], &c[built])))
            break;
    if (rc) {
        for (int j = 0; j < built; j++)
            cache_free(&c[j]);
        return rc;
    }
    int n_src = b[0].n;
    float w[REC_BLEND_MAX] = {0};
    double best = -1;
    int best_src = 0;
    for (int s = 0; s < n_src; s++) { /* start from the best single source */
        float one[REC_BLEND_MAX] = {0};
        one[s] = 1;
        double v = mean_objective(c, valid, n_carves, one, k);
        if (v > best) {
            best = v;
            best_src = s;
        }
    }
    w[best_src] = 1;
    for (int round = 0; round < 4; round++) {
        int improved = 0;
        for (int s = 0; s < n_src; s++) {
            if (s == best_src)
                continue; /* the anchor's weight fixes the scale */
            float keep = w[s];
            for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
                w[s] = grid[g];
                double v = mean_objective(c, valid, n_carves, w, k);
                if (v > best + MIN_GAIN) {
                    best = v;
                    keep = grid[g];
                    improved = 1;
                }
            }
            w[s] = keep;
        }
        if (!improved)
            break;
    }
    for (int j = 0; j < n_carves; j++) {
        for (int s = 0; s < n_src; s++)
            b[j].weight[s] = w[s];
        cache_free(&c[j]);
    }
    *best_ndcg = best;
    return 0;
}

int rec_blend_learn(struct rec_blend *b, const struct rec_eval_split *valid, int k, int threads,
                    double *best_ndcg)
{
    return rec_blend_learn_carves(b, valid, 1, k, threads, best_ndcg);
}
