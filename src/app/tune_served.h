/* tune_served.h: the last step of `recd tune`: the served pipeline's own settings, chosen on the
 * same validation carves as the models.
 *
 * The models tune picks are what the server trains; how the server then fuses them into a list is
 * set by three request-time weights: blend-knn and blend-popular (the item-kNN and popularity
 * lists fused with iALS) and cold-weight (how items without events of their own, scored from
 * their content, compete in the iALS list). One engine per carve replays the carve's training
 * events and trains as the server would (rec_eval_served_fit); the weights are then searched on
 * those engines (served_search.h), no retraining needed. */
#ifndef REC_APP_TUNE_SERVED_H
#define REC_APP_TUNE_SERVED_H

#include <stddef.h>
#include <stdint.h>

#include "app/eval_data.h"
#include "app/served_search.h"
#include "eval/runner.h"
#include "serve/engine.h"


/* Searches the knobs for the best mean NDCG@k over the n_carves validation splits valid[], whose
 * training events come from d (pairs marked in outer_test are the test part: never used).
 * p: the engine settings with the tuned models. The search starts from every knob at 0 (the
 * tuned models' list alone) and a knob moves only for a gain above 0.001; *start (the
 * configured values) is scored for the report only. Prints every trial. *best gets the winner,
 * *best_ndcg its NDCG and *start_ndcg the configured values'. 0, or an error code with a
 * message in err. */
int rec_tune_served(const struct rec_engine_params *p, const struct rec_eval_data *d,
                    const uint8_t *outer_test, const struct rec_eval_split *valid, int n_carves,
                    int k, const struct rec_served_knobs *start, struct rec_served_knobs *best,
                    double *best_ndcg, double *start_ndcg, char *err, size_t errlen);

#endif
