/* eval_models.h: what `recd eval` and `recd tune` share: the list of models to run (registry
 * types, "blend", "served"), their parameters from the config, and fitting one of them on a
 * split, including the blend's validation carve-out. */
#ifndef REC_APP_EVAL_MODELS_H
#define REC_APP_EVAL_MODELS_H

#include <jansson.h>

#include "app/eval_data.h"
#include "core/config.h"
#include "eval/runner.h"
#include "model/blend.h"

enum rec_eval_kind { REC_EVAL_TYPE, REC_EVAL_BLEND, REC_EVAL_SERVED };

struct rec_eval_model {
    char name[32];
    enum rec_eval_kind kind;
    const struct rec_model_type *type;        /* REC_EVAL_TYPE */
    double params[REC_MODEL_MAX_PARAMS];
    double diversity;                         /* REC_EVAL_SERVED: "served@D" runs the whole
                                               * pipeline with MMR diversity D; -1: retrieval */
};

/* Parses c->models into out[0..*n) with each type's params from params-<type>. 0 or REC_EINVAL
 * with a message. */
int rec_eval_models_parse(const struct rec_config *c, struct rec_eval_model *out, int max, int *n,
                          char *err, size_t errlen);
/* The params of type t from the config (defaults, then params-<t>). */
int rec_eval_model_params(const struct rec_config *c, const struct rec_model_type *t, double *params,
                          char *err, size_t errlen);

/* Blend sources: every REC_EVAL_TYPE model of list[0..n). Fits them on a per-user carve of
 * s's training data (valid_ratio kept), learns the weights on the rest (NDCG@k), then refits on all of s's
 * training data. b is filled (caller: rec_blend_clear). */
int rec_eval_blend_fit(struct rec_blend *b, const struct rec_eval_model *list, int n,
                       const struct rec_eval_split *s, double valid_ratio, uint64_t seed, int k, int threads,
                       double *valid_ndcg, char *err, size_t errlen);

/* rec_eval_score_fn for a fitted blend (ctx = struct rec_blend *). */
int rec_eval_score_blend(void *ctx, const struct rec_eval_split *s, int32_t u, float *scores);

/* Item -> category-id CSR from the item documents' "categories" (for diversity). */
int rec_eval_item_categories(const struct rec_eval_data *d, struct rec_csr *out);

/* Splits the training part of s again, per user at random (ratio, seed): the validation split
 * tune and blend learning use. The test part of s is not looked at. */
int rec_eval_carve(const struct rec_eval_split *s, double ratio, uint64_t seed,
                   struct rec_eval_split *out);

#endif
