/* served_search.h: the search over the served pipeline's request-time weights (blend-knn,
 * blend-popular, cold-weight) that `recd tune` runs (tune_served.c), apart from the engines
 * that score each setting, so that its rules can be tested on their own.
 *
 * Coordinate ascent over small grids, two rounds at most, from every knob at 0: the served list
 * is then the tuned models' list alone, the one whose scores were validated, and a knob moves
 * only for a gain above REC_SERVED_MIN_GAIN, so each fused list must earn its weight (the rule
 * of the blend weights, eval/blend_learn.c). The configured values are scored for the report
 * only: they were never validated on this data, and as a start point they would stay unless
 * something beat them clearly. A setting is scored once; revisits read a memo. */
#ifndef REC_APP_SERVED_SEARCH_H
#define REC_APP_SERVED_SEARCH_H

struct rec_served_knobs {
    double blend_knn, blend_popular, cold_weight;
};

/* One carve of MovieLens-sized data is noisy at about 0.005 NDCG@10, several carves less. */
#define REC_SERVED_MIN_GAIN 0.001

/* score(ctx, kn, &ndcg): the validation NDCG of knobs kn; 0 or a negative code. */
typedef int (*rec_served_score_fn)(void *ctx, const struct rec_served_knobs *kn, double *ndcg);

/* Runs the search. *start: the configured values (*start_ndcg gets their score). *best gets the
 * winner and *best_ndcg its score; *n_scored (may be NULL) the settings scored. Each setting
 * scored is printed as a trial line. 0, or the first error of score. */
int rec_served_search(rec_served_score_fn score, void *ctx, int k,
                      const struct rec_served_knobs *start, struct rec_served_knobs *best,
                      double *best_ndcg, double *start_ndcg, int *n_scored);

#endif
