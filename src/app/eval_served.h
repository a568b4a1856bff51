/* eval_served.h: the server's own pipeline as one more model in `recd eval`: a fresh in-memory
 * engine replays the training events in time order (every incremental update included), trains
 * as the server would, and answers through rec_engine_recommend_idx. */
#ifndef REC_APP_EVAL_SERVED_H
#define REC_APP_EVAL_SERVED_H

#include "app/eval_data.h"
#include "eval/runner.h"
#include "serve/engine.h"

struct rec_eval_served {
    struct rec_engine *engine;
    const struct rec_eval_data *d;
    int32_t *to_dataset;   /* engine item index -> dataset item index */
    int32_t *user_index;   /* dataset user -> engine user index (-1) */
    int max_k;
    double diversity;      /* < 0: retrieval only (rec_engine_recommend_idx); else the whole
                            * pipeline (filters, MMR at this diversity, explanations) */
    struct rec_request_opts opts; /* retrieval's fusion settings (recd tune searches them);
                            * rec_eval_served_fit leaves them unset: the engine's */
};

/* Replays the events of pairs not marked in is_test (per d->pairs entry) and trains. */
int rec_eval_served_fit(const struct rec_engine_params *p, const struct rec_eval_data *d,
                        const uint8_t *is_test, int max_k, struct rec_eval_served *out,
                        double *train_s);
void rec_eval_served_free(struct rec_eval_served *s);
/* rec_eval_score_fn: the engine's top-max_k get descending scores, every other item -INFINITY.
 * With diversity >= 0 the list comes from rec_pipeline_run (no fresh candidates, exploration,
 * rules or ranker: what is measured is retrieval plus MMR). */
int rec_eval_score_served(void *ctx, const struct rec_eval_split *s, int32_t u, float *scores);

#endif
