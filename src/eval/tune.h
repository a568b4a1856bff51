/* tune.h: hyperparameter search for one model type: random configurations from a per-type
 * search space, pruned by successive halving (Jamieson & Talwalkar 2016) over the type's
 * iteration budget (iALS sweeps, BPR epochs). The caller's objective sees only validation data. */
#ifndef REC_EVAL_TUNE_H
#define REC_EVAL_TUNE_H

#include <stdint.h>

#include "model/model.h"

struct rec_tune_dim {
    const char *param;
    double lo, hi;
    enum rec_param_scale scale;
};

#define REC_TUNE_MAX_DIMS 8

struct rec_tune_space {
    const char *type;
    const char *budget;              /* parameter that sets the training budget, or NULL */
    double min_budget;               /* smallest budget worth comparing configurations at */
    int n_dims;
    struct rec_tune_dim dims[REC_TUNE_MAX_DIMS];
};

/* The search space of a model type, NULL when it has none. */
const struct rec_tune_space *rec_tune_space_find(const char *type);

struct rec_tune_trial {
    double params[REC_MODEL_MAX_PARAMS];
    int rung;                        /* 0 = smallest budget */
    double budget;                   /* value of the budget parameter, 0 when none */
    double score;                    /* objective (higher is better) */
    double seconds;
};

/* objective(ctx, params, &score): fit with params, return the validation score. */
typedef int (*rec_tune_objective)(void *ctx, const double *params, double *score);

struct rec_tune_result {
    struct rec_tune_trial *trials;   /* every evaluation, in order (caller frees) */
    int n_trials;
    double best[REC_MODEL_MAX_PARAMS];
    double best_score;               /* at the full budget */
};

/* Samples n_configs configurations (the first is base itself), runs successive halving with
 * eta = 3 and returns the best configuration at full budget. Stops sampling new rungs after
 * time_limit seconds (0 = none), always finishing with a full-budget evaluation. */
int rec_tune_run(const struct rec_model_type *t, const double *base, int n_configs, uint64_t seed,
                 double time_limit, rec_tune_objective fn, void *ctx, struct rec_tune_result *out,
                 void (*progress)(void *pctx, int done, int total), void *pctx);

#endif
