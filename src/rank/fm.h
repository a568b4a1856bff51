/* fm.h: a factorization machine (Rendle, "Factorization Machines", ICDM 2010) for a binary
 * target (engaged or not), trained online one example at a time with AdaGrad (Duchi, Hazan,
 * Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic Optimization", JMLR
 * 2011) on the logistic loss, the learned ranker of recd.
 *
 * An example is a sparse list of hashed features (index, value); the hash trick (Weinberger et
 * al., "Feature Hashing for Large Scale Multitask Learning", ICML 2009) maps "field=value"
 * strings, and crosses of fields, into 2^bits slots. The model is
 *     p = sigmoid(w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j)
 * over the positions i, j of the list (so a repeated index interacts with itself across
 * positions, exactly as the formula reads), evaluated in O(k n) with Rendle's identity
 *     sum_{i<j} <v_i, v_j> x_i x_j = 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2].
 * k = 0 is plain logistic regression.
 *
 * Memory: per hashed slot, 1 + k floats of parameters and as many of AdaGrad accumulators,
 * allocated up front (2^20 slots with k = 8: 72 MiB).
 *
 * Thread-safety: a model is one mutable object. rec_fm_predict, rec_fm_examples, rec_fm_params,
 * rec_fm_get_config, rec_fm_save, rec_fm_write and rec_fm_clone only read it and may run
 * together; none may run while rec_fm_learn or rec_fm_reset_slot runs on the same model (callers
 * lock, or publish clones to readers).
 * Distinct models are independent.
 */
#ifndef REC_RANK_FM_H
#define REC_RANK_FM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REC_FM_BITS_MIN 10
#define REC_FM_BITS_MAX 26
#define REC_FM_K_MAX 256

struct rec_fm_config {
    int bits;          /* hash space of 2^bits slots, REC_FM_BITS_MIN..MAX (default 20) */
    int k;             /* factor dimension, 0..REC_FM_K_MAX (default 8; 0 = logistic regression) */
    double lr;         /* AdaGrad base step, finite > 0 (default 0.05) */
    double l2_w, l2_v; /* L2 on the weights w_i and the factors v_i, finite >= 0 (default 1e-6);
                        * applied to the coordinates an example touches, as libFM does */
    double init_sd;    /* standard deviation of the normal initial factors, finite >= 0 (0.01) */
    uint64_t seed;     /* splitmix64 seed of the initial factors (default 42) */
    int across_groups; /* 0 (default): every pair of positions interacts, Rendle's FM; 1: only
                        * pairs of positions in different groups (REC_FM_GROUP) */
};

/* Fills *c with the defaults above. Thread-safe. */
void rec_fm_config_default(struct rec_fm_config *c);

/* NULL when c is usable, else a static message naming the first bad field (liblinear's
 * check_parameter). NULL c is bad. Thread-safe. */
const char *rec_fm_config_check(const struct rec_fm_config *c);

/* One feature of an example: a slot (reduced to its low bits, so a wider hash may be passed;
 * bit 31 is REC_FM_LINEAR and bits 28-29 REC_FM_GROUP, never part of a slot) and its value. A feature whose value is not
 * finite is ignored. */
struct rec_fm_feature {
    uint32_t index;
    float value;
};

/* Or'ed into a feature's index: the feature has a weight w_i but no factors, so it enters the
 * linear part of the model only, as the crossed columns of a wide-and-deep model do (Cheng et
 * al., "Wide & Deep Learning for Recommender Systems", 2016). A cross such as daypart*category
 * is already an interaction; its factors would interact it again with every other feature of
 * the example, which on MovieLens 100K cost the ranker 0.016 AUC. The model file does not
 * record it: it is a property of the features a caller builds. */
#define REC_FM_LINEAR 0x80000000u

/* Or'ed into a feature's index: its group, 0..3 (bits 28-29, never part of a slot). A model with
 * across_groups set lets two positions interact only when their groups differ, so with the user
 * side in one group and the item side in another, the user's id and attributes interact with the
 * item's id and categories but not with each other: a pair within one side is constant for that
 * user (or item) and only adds noise to its bias, as in field-aware variants of FMs that restrict
 * which fields interact (Juan et al., "Field-aware Factorization Machines for CTR Prediction",
 * RecSys 2016). The logit stays O(k n):
 *     sum over pairs in different groups = 1/2 (|sum_i v_i x_i|^2 - sum_g |sum_{i in g} v_i x_i|^2)
 * A model without across_groups ignores the group bits. */
#define REC_FM_GROUP(g) (((uint32_t)(g) & 3u) << 28)
#define REC_FM_GROUP_OF(index) (((index) >> 28) & 3u)
#define REC_FM_GROUPS 4

/* Slot of the feature "field=value" in [0, 2^bits): the FNV-1a 64 of field's bytes, one 0 byte
 * and value's bytes, through the splitmix64 finaliser, top bits taken. Stable across platforms
 * and releases (saved models depend on it). A cross of two fields is a field named like
 * "daypart*category". NULL strings hash as "". bits is clamped to 1..32. Thread-safe. */
uint32_t rec_fm_hash(const char *field, const char *value, int bits);

struct rec_fm;

/* A new model for config c (copied), w0 = 0, w = 0, factors drawn from N(0, init_sd^2) by a
 * splitmix64 stream seeded with c->seed (the same seed gives the same model). Returns 0,
 * REC_EINVAL (NULL arguments, or rec_fm_config_check(c) fails) or REC_ENOMEM; on success the
 * caller owns *out (rec_fm_free), on failure *out is NULL. Thread-safe. */
int rec_fm_new(const struct rec_fm_config *c, struct rec_fm **out);

/* Frees m; NULL is a no-op. */
void rec_fm_free(struct rec_fm *m);

/* P(y = 1 | x) for the n features x[0..n) (n <= 0 or NULL x: the bias alone). Duplicate indices
 * add up as in the formula. Reads m only: concurrent predicts are safe, a concurrent learn on
 * the same model is not. Returns NaN for NULL m. */
double rec_fm_predict(const struct rec_fm *m, const struct rec_fm_feature *x, int n);

/* One AdaGrad step on example (x[0..n), y), y nonzero meaning engaged, and returns the
 * prediction made BEFORE the step (bit-identical to rec_fm_predict then: progressive
 * validation). The gradient of each distinct slot is the exact gradient of the formula (repeated
 * indices merged) plus its L2 term, taken at the pre-step parameters. weight is the example's
 * importance: the step acts as if the example were seen `weight` times (accumulator += weight g^2,
 * step weight * lr g / sqrt(accumulator)); weight <= 0 or not finite, or NULL m, leaves m
 * unchanged (the prediction is still returned; NaN for NULL m). Use weight 1 by default.
 * Grows an internal scratch buffer when n exceeds every earlier n; if that allocation fails the
 * step is skipped. Not thread-safe: nothing else may use m meanwhile. */
double rec_fm_learn(struct rec_fm *m, const struct rec_fm_feature *x, int n, int y, double weight);

/* Forgets what slot index (reduced to its low bits, as a feature's) learned: its weight, its
 * factors and their AdaGrad accumulators become 0, so a feature in that slot adds nothing to a
 * prediction until it is learned again (from AdaGrad's first step). Every feature hashed to the
 * slot is affected. For erasure (serve/ranker.c). NULL m is a no-op. Not thread-safe, as
 * rec_fm_learn. */
void rec_fm_reset_slot(struct rec_fm *m, uint32_t index);

/* Examples learned so far (calls of rec_fm_learn that took a step; kept by save/load and
 * clone). Read-only. */
int64_t rec_fm_examples(const struct rec_fm *m);

/* Copies m's configuration into *c. Read-only. */
void rec_fm_get_config(const struct rec_fm *m, struct rec_fm_config *c);

/* For tests and debugging: the model's insides, read in place. */
struct rec_fm_view {
    double w0, g0;     /* bias and its AdaGrad accumulator */
    const float *rows; /* n_slots rows of stride floats: w_a, then v_a1..v_ak */
    const float *acc;  /* AdaGrad accumulators (sums of weighted squared gradients), same layout */
    int stride;        /* k + 1 */
    uint32_t n_slots;  /* 2^bits */
};

/* Fills *v from m (zeros for NULL m). The pointers stay valid until m is freed; what they point
 * to changes under rec_fm_learn. Read-only. */
void rec_fm_params(const struct rec_fm *m, struct rec_fm_view *v);

/* Writes m (config, counters, parameters and AdaGrad accumulators, so learning resumes exactly)
 * to path through binio: a temporary file next to it, flushed, fsync'd and renamed over path, so
 * readers never see a partial file. Returns 0, REC_EINVAL (NULL m or path) or REC_EIO, with a
 * message in err[0..errlen) (may be NULL) on failure. Read-only on m; concurrent saves to the
 * same path are safe (unique temporary names; the last rename wins). */
int rec_fm_save(const struct rec_fm *m, const char *path, char *err, size_t errlen);

/* Writes m in rec_fm_save's format (checksum included) to f at its position, e.g. as one part of
 * a larger file, and flushes f; no fsync, no rename: the caller makes the file durable. Returns 0,
 * REC_EINVAL (NULL m or f) or REC_EIO. Read-only on m. */
int rec_fm_write(const struct rec_fm *m, FILE *f);

/* Reads a model written by rec_fm_write (or rec_fm_save) from f at its position, and nothing
 * past its checksum (bytes after it are the caller's business). Errors as rec_fm_load's but
 * REC_ENOTFOUND, with the damage named in err (no path). On success the caller owns *out; on
 * failure *out is NULL. Thread-safe on distinct streams. */
int rec_fm_read(FILE *f, struct rec_fm **out, char *err, size_t errlen);

/* Reads a model saved by rec_fm_save. Returns 0, REC_EINVAL (NULL path or out),
 * REC_ENOTFOUND (no such file), REC_EIO, REC_ENOMEM, or REC_EFORMAT for any damage (bad magic or
 * version, bad config, short file, non-finite parameters, negative accumulators, bad checksum,
 * bytes after the checksum), with a message in err on failure. A forged size costs at most about
 * twice the file's size in memory before the short read is noticed (binio). On success the
 * caller owns *out; on failure *out is NULL. Thread-safe. */
int rec_fm_load(const char *path, struct rec_fm **out, char *err, size_t errlen);

/* A deep copy of m (everything save keeps), e.g. a snapshot for readers while m keeps learning.
 * Returns 0, REC_EINVAL (NULL arguments) or REC_ENOMEM; the caller owns *out, NULL on failure.
 * Read-only on m. */
int rec_fm_clone(const struct rec_fm *m, struct rec_fm **out);

#endif
