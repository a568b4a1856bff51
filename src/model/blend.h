/* blend.h: several fitted models served as one list: each source's scores are standardized per
 * user (z-scores over the catalog) and summed with a weight per source. The weights are learned
 * on validation data (eval/blend_learn.c), never hand-set. */
#ifndef REC_MODEL_BLEND_H
#define REC_MODEL_BLEND_H

#include "model/model.h"

#define REC_BLEND_MAX 8

struct rec_blend {
    int n;
    int32_t n_items;
    const struct rec_model_type *type[REC_BLEND_MAX];
    struct rec_model *model[REC_BLEND_MAX];          /* owned */
    double params[REC_BLEND_MAX][REC_MODEL_MAX_PARAMS];
    float weight[REC_BLEND_MAX];
    double fit_seconds[REC_BLEND_MAX];
};

/* Fits each source (types and params already set, n >= 1) on in. 0 or a negative code. */
int rec_blend_fit(struct rec_blend *b, const struct rec_train_input *in, char *err, size_t errlen);
/* Frees the fitted models (the blend's sources stay described). */
void rec_blend_clear(struct rec_blend *b);

/* Standardizes s[0..n) in place: (s - mean) / std over finite entries; -INFINITY stays. */
void rec_blend_standardize(float *s, int32_t n);

/* scores = sum over sources with weight != 0 of weight * standardized source scores.
 * tmp holds n_items floats. Thread-safe. */
int rec_blend_score(const struct rec_blend *b, const struct rec_user_query *q, float *scores,
                    float *tmp);

#endif
