/* bandit.h: exploration for recd: Thompson sampling over items and LinUCB over candidate
 * sources.
 *
 * Thompson sampling (Thompson 1933; Chapelle & Li, "An Empirical Evaluation of Thompson
 * Sampling", NIPS 2011) keeps a Beta-Bernoulli posterior of each item's click rate,
 *     Beta(a0 + clicks, b0 + impressions - clicks),
 * and ranks by one draw from it per request: well-measured items score near their rate, little
 * shown ones spread wide and sometimes win a slot, which is how new items get their first
 * impressions. Beta draws are X / (X + Y) of two Gamma draws (Marsaglia & Tsang, "A Simple
 * Method for Generating Gamma Variables", ACM TOMS 2000), normals by the same authors' ziggurat
 * method (J. Stat. Software 2000; about twice as fast here as Box-Muller), uniforms from
 * splitmix64 with a state the caller owns (core/rand.h), so a seeded run repeats exactly.
 *
 * LinUCB, disjoint model (Li, Chu, Langford, Schapire, "A Contextual-Bandit Approach to
 * Personalized News Article Recommendation", WWW 2010, Algorithm 1): each arm a (one of recd's
 * candidate sources) fits a ridge regression of reward on the request's context x,
 *     A_a = I + sum x x',  b_a = sum r x,  theta_a = A_a^-1 b_a,
 * and the arm with the highest theta_a' x + alpha sqrt(x' A_a^-1 x) is chosen. A_a^-1 is kept
 * up to date with the Sherman-Morrison formula, O(d^2) per update, in double precision.
 */
#ifndef REC_RANK_BANDIT_H
#define REC_RANK_BANDIT_H

#include <stdint.h>

/* ---- Beta sampling ------------------------------------------------------------------------ */

/* One draw from Beta(a, b), a, b > 0 and finite; NaN otherwise. Advances *rng (a splitmix64
 * state). Works in log scale for shapes below 1, so tiny shapes give 0 or 1 rather than NaN.
 * Thread-safe for distinct rng states. */
double rec_beta_sample(double a, double b, uint64_t *rng);

/* ---- Thompson sampling over items --------------------------------------------------------- */

/* Item indexes at or past this are rejected (a guard against a stray index allocating
 * gigabytes; recd's dense item indexes stay far below). */
#define REC_TS_MAX_ITEMS (1 << 28)

/* Per-item impression and click counts with a Beta(a0, b0) prior. Thread-safe: one mutex;
 * updates (per event) and reads (per request) take it briefly, sampling happens outside it. */
struct rec_ts;

/* Creates an empty model with prior Beta(a0, b0) (a0, b0 > 0 and finite; e.g. a0 = 1, b0 = 20
 * for rates around 5%). The caller owns *out and frees it with rec_ts_free. Returns 0,
 * REC_EINVAL or REC_ENOMEM (*out is then NULL). */
int rec_ts_new(double a0, double b0, struct rec_ts **out);
/* Frees t; NULL is a no-op. Not safe while other threads still use t. */
void rec_ts_free(struct rec_ts *t);

/* Adds impressions and clicks (both >= 0) to item's counts, growing the table for a new item.
 * Impressions and clicks may arrive in separate calls; while clicks exceed impressions the
 * posterior treats the excess as zero non-clicks. Returns 0, REC_EINVAL (item outside
 * 0..REC_TS_MAX_ITEMS-1, negative counts) or REC_ENOMEM (counts unchanged). Thread-safe. */
int rec_ts_update(struct rec_ts *t, int32_t item, int64_t impressions, int64_t clicks);

/* item's counts into *impressions and *clicks (either may be NULL); 0 and 0 for an item never
 * updated or out of range. Thread-safe. */
void rec_ts_counts(struct rec_ts *t, int32_t item, int64_t *impressions, int64_t *clicks);

/* One draw of item's click rate from its posterior (the prior for an unknown item), in [0,1].
 * Advances *rng. Thread-safe (rng is the caller's: one state per thread). */
double rec_ts_sample(struct rec_ts *t, int32_t item, uint64_t *rng);

/* Draws once for each of pool[0..n) (e.g. new or little-shown items) and writes the k items
 * with the highest draws to out, best first (ties: earlier in pool first). Returns how many
 * were written (min(k, n); a pool listing an item twice may return it twice), or REC_EINVAL
 * (NULL pool/out with n, k > 0; negative n or k) or REC_ENOMEM (k > 64 needs a heap buffer).
 * The mutex is held only while counts are copied, 256 items at a time. Thread-safe. */
int rec_ts_choose(struct rec_ts *t, const int32_t *pool, int n, int k, uint64_t *rng,
                  int32_t *out);

/* ---- LinUCB over arms (candidate sources) ------------------------------------------------- */

#define REC_LINUCB_MAX_D 32
#define REC_LINUCB_MAX_ARMS 1024

/* n_arms disjoint ridge models over d-dimensional contexts. Thread-safe: one mutex, held for
 * O(n_arms d^2) per call. */
struct rec_linucb;

/* Creates a model with A = I, b = 0 for every arm. n_arms 1..REC_LINUCB_MAX_ARMS,
 * d 1..REC_LINUCB_MAX_D, alpha >= 0 and finite (the width of the confidence bonus; Li et al.
 * use values around 0.1-1; 0 is greedy). The caller owns *out and frees it with
 * rec_linucb_free. Returns 0, REC_EINVAL or REC_ENOMEM (*out is then NULL). */
int rec_linucb_new(int n_arms, int d, double alpha, struct rec_linucb **out);
/* Frees l; NULL is a no-op. Not safe while other threads still use l. */
void rec_linucb_free(struct rec_linucb *l);

/* Upper confidence bound theta_a' x + alpha sqrt(x' A_a^-1 x) of every arm for the context
 * x[0..d) into ucb_out[0..n_arms) (nothing written when an argument is NULL). Thread-safe. */
void rec_linucb_scores(struct rec_linucb *l, const float *x, double *ucb_out);

/* The arm with the highest upper confidence bound for x (ties: the lower arm, so a fresh model
 * starts with arm 0 and moves on as its bonus shrinks); REC_EINVAL when l or x is NULL.
 * Thread-safe. */
int rec_linucb_choose(struct rec_linucb *l, const float *x);

/* Records reward (any finite value, e.g. 1 click / 0 none) for arm played in context x:
 * A_arm += x x', b_arm += reward x, with A_arm^-1 and theta_arm updated in O(d^2). Returns 0 or
 * REC_EINVAL (arm out of range, non-finite x or reward; nothing changed). Thread-safe. */
int rec_linucb_update(struct rec_linucb *l, int arm, const float *x, double reward);

/* Expected reward theta_a' x of every arm (no bonus) into out[0..n_arms), e.g. to turn into
 * blend weights (nothing written when an argument is NULL). Thread-safe. */
void rec_linucb_means(struct rec_linucb *l, const float *x, double *out);

/* Copies arm's current A^-1 (d x d, row-major) into ainv and theta (d) into theta; either may
 * be NULL. For inspection, persistence and tests. Returns 0 or REC_EINVAL (arm out of range).
 * Thread-safe. */
int rec_linucb_arm_state(struct rec_linucb *l, int arm, double *ainv, double *theta);

#endif
