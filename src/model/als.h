/* als.h: implicit-feedback matrix factorization (iALS; Hu, Koren, Volinsky 2008) trained with
 * the conjugate-gradient solver of Takacs, Pilaszy, Tikk 2011.
 *
 * Input: a user x item CSR of interaction strengths r_ui (> 0 positive, <= 0 entries are ignored
 * by fit). Confidence c_ui = 1 + alpha * r_ui, preference p_ui = 1 for stored entries.
 * A fitted model is immutable: any number of threads may read it (score, fold_in) at once.
 */
#ifndef REC_MODEL_ALS_H
#define REC_MODEL_ALS_H

#include <stdint.h>
#include <stdio.h>

#include "model/csr.h"

struct rec_als_params {
    int factors;       /* k, 1..1024; default 64 */
    float reg;         /* L2 regularization; default 2.5, scaled by (1+n)^0.5 per row (see als.c) */
    float alpha;       /* confidence scale; default 1.5 */
    int iters;         /* alternating sweeps; default 15 */
    int cg_steps;      /* CG steps per row per sweep; default 3 */
    int threads;       /* worker threads; 0 = number of CPUs */
    uint64_t seed;     /* initialization seed; default 42 */
};

struct rec_als;

void rec_als_params_default(struct rec_als_params *p);
/* params from the "als" model type's parameter vector (model/als_model.c) */
void rec_als_params_from(const double *v, int threads, struct rec_als_params *p);
/* NULL when p is usable, else a message such as "factors must be 1..1024". */
const char *rec_als_check_params(const struct rec_als_params *p);

/* Trains on ui (n_users x n_items). *out owns its factor matrices; caller destroys it.
 * Returns 0, REC_EINVAL (bad params), REC_ENOMEM, or REC_ECANCELED when a halt was requested
 * (core/halt.h) before the last sweep ended. */
int rec_als_fit(const struct rec_csr *ui, const struct rec_als_params *p, struct rec_als **out);
void rec_als_destroy(struct rec_als *m); /* NULL is a no-op */

int rec_als_factors(const struct rec_als *m);
int32_t rec_als_n_users(const struct rec_als *m);
int32_t rec_als_n_items(const struct rec_als *m);
const struct rec_als_params *rec_als_params(const struct rec_als *m);
/* Row of factors (k floats) of a user or item, owned by the model; NULL when out of range. */
const float *rec_als_user_vec(const struct rec_als *m, int32_t user);
const float *rec_als_item_vec(const struct rec_als *m, int32_t item);

/* Solves the factors of one user from a history of n (item, strength) pairs against the fixed
 * item factors, exactly (Cholesky of the k x k system using the cached Gram matrix Y'Y), as one
 * ALS user step would. Items out of range or with strength <= 0 are skipped. Writes k floats to
 * x. Thread-safe. Returns 0 or REC_ENOMEM. */
int rec_als_fold_in(const struct rec_als *m, const int32_t *items, const float *strengths, int n,
                    float *x);
/* Warm-started fold-in: steps of conjugate gradient on the same system, from the x given (the
 * user's previous factors), for distinct items. O(steps (n k + k^2)). 0, REC_EINVAL, REC_ENOMEM. */
int rec_als_fold_in_cg(const struct rec_als *m, const int32_t *items, const float *strengths, int n,
                       int steps, float *x);
/* scores[i] = dot(x, item i) for every item i < n_items. Thread-safe. */
void rec_als_score_all(const struct rec_als *m, const float *x, float *scores);

/* A model with item rows (and user rows) reordered: row r of the result is row map[r] of src,
 * or zeros when map[r] < 0. Used after a restart to line snapshot rows up with live indexes. */
int rec_als_remap(const struct rec_als *src, const int32_t *user_map, int32_t n_users,
                  const int32_t *item_map, int32_t n_items, struct rec_als **out);

/* Versioned, locale-independent binary format with a checksum. save writes the params, both
 * factor matrices and the id strings of each row (user_ids[n_users], item_ids[n_items]; a NULL
 * id is written as empty). load validates everything (magic, version, sizes, checksum) and
 * returns REC_EFORMAT for a damaged file; on success the caller owns *out and the two id arrays
 * (free each string, then the array). */
int rec_als_save(const struct rec_als *m, FILE *f, const char *const *user_ids,
                 const char *const *item_ids);
int rec_als_load(FILE *f, struct rec_als **out, char ***user_ids, char ***item_ids);

#endif
