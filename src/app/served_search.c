/* served_search.c: coordinate ascent over the served pipeline's knobs (see served_search.h). */
#include "app/served_search.h"

#include <stdio.h>
#include <string.h>

#define ROUNDS 2
#define MEMO_MAX 64

static const double knn_grid[] = {0, 0.03, 0.1, 0.3, 1};
static const double pop_grid[] = {0, 0.01, 0.03, 0.1};
static const double cold_grid[] = {0, 0.25, 0.5, 1};

/* Settings already scored: the second round revisits most of the first's points, and scoring
 * one costs a recommendation list per validation user and carve. */
struct memo {
    int n;
    struct rec_served_knobs kn[MEMO_MAX];
    double ndcg[MEMO_MAX];
};

struct search {
    rec_served_score_fn fn;
    void *ctx;
    int k;
    struct memo memo;
};

static int same(const struct rec_served_knobs *a, const struct rec_served_knobs *b)
{
    return a->blend_knn == b->blend_knn && a->blend_popular == b->blend_popular &&
           a->cold_weight == b->cold_weight;
}

/* NDCG of kn, from the memo when scored before (scoring is deterministic). */
static int score(struct search *s, const struct rec_served_knobs *kn, double *ndcg)
{
    for (int j = 0; j < s->memo.n; j++)
        if (same(&s->memo.kn[j], kn)) {
            *ndcg = s->memo.ndcg[j];
            return 0;
        }
    int rc = s->fn(s->ctx, kn, ndcg);
    if (rc)
        return rc;
    printf("  trial %3d          NDCG@%d %.4f  blend-knn=%g,blend-popular=%g,cold-weight=%g\n",
           s->memo.n + 1, s->k, *ndcg, kn->blend_knn, kn->blend_popular, kn->cold_weight);
    if (s->memo.n < MEMO_MAX) {
        s->memo.kn[s->memo.n] = *kn;
        s->memo.ndcg[s->memo.n++] = *ndcg;
    }
    return 0;
}

int rec_served_search(rec_served_score_fn fn, void *ctx, int k,
                      const struct rec_served_knobs *start, struct rec_served_knobs *best,
                      double *best_ndcg, double *start_ndcg, int *n_scored)
{
    struct search s = {fn, ctx, k, {0}};
    int rc = score(&s, start, start_ndcg);
    *best = (struct rec_served_knobs){0, 0, 0};
    if (!rc)
        rc = score(&s, best, best_ndcg);
    const struct {
        double *knob;
        const double *grid;
        int n;
    } dims[3] = {{&best->blend_knn, knn_grid, 5}, {&best->blend_popular, pop_grid, 4},
                 {&best->cold_weight, cold_grid, 4}};
    for (int round = 0; round < ROUNDS && !rc; round++) {
        int moved = 0;
        for (int dim = 0; dim < 3 && !rc; dim++) {
            double keep = *dims[dim].knob, pick = keep, pick_ndcg = *best_ndcg;
            for (int g = 0; g < dims[dim].n && !rc; g++) {
                if (dims[dim].grid[g] == keep)
                    continue;
                *dims[dim].knob = dims[dim].grid[g];
                double nd;
                if (!(rc = score(&s, best, &nd)) && nd > pick_ndcg + REC_SERVED_MIN_GAIN) {
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
    if (n_scored)
        *n_scored = s.memo.n;
    return rc;
}
