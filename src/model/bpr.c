/* bpr.c: BPR matrix factorization (Rendle et al. 2009) trained by Hogwild SGD.
 *
 * For a sampled triple (u, i, j), i a positive of u and j not, with x = b_i - b_j + x_u.(y_i - y_j)
 * and z = sigma(-x), one step ascends ln sigma(x) - reg/2 |.|^2:
 *     x_u += lr (z (y_i - y_j) - reg x_u)
 *     y_i += lr (z x_u - reg y_i),   y_j += lr (-z x_u - reg y_j)
 *     b_i += lr (z - reg_bias b_i),  b_j += lr (-z - reg_bias b_j)
 * An epoch draws as many triples as there are positives: (u, i) uniform over the positives
 * (LearnBPR's bootstrap), j from the negative sampler, redrawn while u has it (binary search in
 * u's sorted row, at most MAX_REJECT draws, after which the triple is skipped). The learning rate
 * decays linearly from lr to lr * LR_FINAL over the whole fit.
 *
 * Negative sampling: 0 = uniform over items; 1 = item i with probability proportional to
 * max(n_i, 1)^neg_alpha (n_i = users with i in training; the floor of 1 keeps items nobody had
 * reachable, so their scores are pushed down too), drawn in O(1) from a Walker/Vose alias table.
 *
 * Threads: the fit's epochs * positives triples are cut into chunks of CHUNK; threads claim
 * chunks from one atomic counter, in order. A chunk draws its triples from its own splitmix64
 * stream seeded by (seed, chunk index) and takes its learning rates from its position in the
 * schedule, so with one thread a fit depends only on (data, params). Factor rows and biases are
 * updated without locks (Hogwild, Niu et al. 2011): a step touches 3 rows out of
 * n_users + n_items, so conflicting updates are rare and only add noise to SGD. These races are
 * deliberate, so the update functions are excluded from ThreadSanitizer. Contiguous user shards
 * per thread were tried first and rejected: a thread that runs ahead of the others trains the
 * shared item rows on its shard alone (on the planted test data, 2 threads run one after the other
 * leave block A users with block B items), whereas every chunk samples all positives.
 *
 * Defaults, chosen by NDCG@10 on MovieLens-100K (every rating a positive, per-user random 75/25
 * split, top 10 of unseen items, mean over the splits of seeds 42..46, 1 thread, k = 64):
 *     lr 0.05, reg 0.02, reg_bias 0.01, epochs 100, uniform: 0.468   the defaults (2 threads 0.468)
 *     reg 0.01 / 0.03 / 0.05                                  0.440 / 0.457 / 0.405
 *     epochs 30 / 60 / 150 / 200                              0.435 / 0.459 / 0.469 / 0.473
 *     constant lr / decay to 0 instead of to lr / 10          0.437 / 0.469
 *     factors 32 / 128;  init_std 0.01;  reg_bias 0.1         0.464 / 0.471;  0.465;  0.460
 *     neg_sampling=1, reg 0.02, neg_alpha 0.25 / 0.5 / 0.75   0.464 / 0.425 / 0.356
 *     neg_sampling=1, reg 0.05, neg_alpha 0.5 / 0.75          0.463 / 0.455
 * Popular negatives push popular items down, and MovieLens' test sets favour them; they need a
 * larger reg. Hardest-of-n negatives (Zhang et al. 2013) did not help (n = 2..5: at most 0.468).
 *
 * Fold-in: the user vector starts from the trained row (a known user whose history grew) or 0,
 * then runs FOLD_PASSES passes of single-vector SGD (step count clamped to FOLD_MIN..FOLD_MAX)
 * with the fit's lr decaying linearly to 0 so it settles, negatives from the fit's sampler; the
 * stream is seeded by a hash of the sorted distinct history and the fit seed. Scoring every test
 * user as a stranger (user = -1) from their training history, on the protocol above (3 splits):
 * 10 / 30 / 60 passes give 0.454 / 0.467 / 0.470, the trained rows 0.468. Cost at k = 64 on
 * ML-100K histories: 0.15 ms per query on average, 1.6 ms for the longest (737 items).
 *
 * File format (integers little-endian, floats and doubles as their IEEE-754 bits little-endian):
 *     "RECDBPR1"  u32 version(=1)
 *     u32 n_params(=N_PARAMS), n_params x f64 params (spec-table order)
 *     i32 n_users, i32 n_items, i32 k
 *     n_users x i32 distinct positives per user at fit time
 *     n_items x i32 users per item at fit time
 *     n_users*k f32 user factors, n_items*k f32 item factors (row-major), n_items f32 item biases
 *     u64 FNV-1a 64 of every byte above
 * load validates params and counts, rejects non-finite floats, and grows its arrays as bytes
 * arrive, so a forged header costs at most about twice the real file size before it fails.
 */
#include "model/bpr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/workers.h"
#include "model/binio.h"
#include "model/linalg.h"

#define MAX_THREADS 256
#define LANES 16 /* floats per vector block in the SGD step */
#define MAX_REJECT 64
#define CHUNK 4096 /* triples per unit of work handed to a thread */
#define BIAS_STRIDE 16 /* floats between item biases while training (64 bytes) */
#define LR_FINAL 0.1
#define FOLD_PASSES 30
#define FOLD_MIN 300
#define FOLD_MAX 30000
#define FORMAT_VERSION 1u

#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define NO_TSAN __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef NO_TSAN
#define NO_TSAN
#endif

enum { P_FACTORS, P_LR, P_REG, P_REG_BIAS, P_EPOCHS, P_NEG, P_NEG_ALPHA, P_SEED, P_INIT_STD,
       N_PARAMS };

static const struct rec_param_spec PARAMS[N_PARAMS] = {
    [P_FACTORS] = {"factors", 64, 1, 1024, REC_PARAM_LOG_INT, "latent dimensions"},
    [P_LR] = {"lr", 0.05, 1e-4, 1, REC_PARAM_LOG, "initial SGD learning rate"},
    [P_REG] = {"reg", 0.02, 1e-6, 10, REC_PARAM_LOG, "L2 weight on user and item factors"},
    [P_REG_BIAS] = {"reg_bias", 0.01, 1e-6, 10, REC_PARAM_LOG, "L2 weight on item biases"},
    [P_EPOCHS] = {"epochs", 100, 1, 1000, REC_PARAM_INT, "passes over the positives"},
    [P_NEG] = {"neg_sampling", 0, 0, 1, REC_PARAM_INT,
               "negatives: 0 = uniform, 1 = by popularity^neg_alpha"},
    [P_NEG_ALPHA] = {"neg_alpha", 0.5, 0, 2, REC_PARAM_LINEAR,
                     "popularity exponent when neg_sampling = 1"},
    [P_SEED] = {"seed", 42, 0, 9007199254740992.0, REC_PARAM_INT, "random seed"},
    [P_INIT_STD] = {"init_std", 0.1, 1e-4, 1, REC_PARAM_LOG,
                    "standard deviation of the initial factors"},
};

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'B', 'P', 'R', '1'};

struct rec_bpr {
    double params[N_PARAMS];
    int32_t n_users;
    int32_t n_items;
    int k;
    float *x;          /* n_users x k user factors */
    float *y;          /* n_items x k item factors */
    float *b;          /* n_items item biases */
    float *norm;       /* n_items |y_i|, for similar */
    int32_t *user_n;   /* distinct positives of each user at fit time */
    int32_t *item_n;   /* users of each item at fit time */
    struct rec_bpr_alias neg; /* popularity sampler; n == 0 when neg_sampling = 0 */
};

static const struct rec_bpr *from_model(const struct rec_model *m)
{
    return (const struct rec_bpr *)m;
}

/* ---- parameters ---------------------------------------------------------------------------- */

/* 0, or REC_EINVAL with a message naming the first bad parameter. */
static int check_params(const double *p, char *err, size_t errlen)
{
    return rec_model_params_check("bpr", PARAMS, N_PARAMS, p, err, errlen);
}

/* ---- random draws -------------------------------------------------------------------------- */

/* Uniform in [0, n) for n < 2^32 (Lemire's multiply-shift; bias below n / 2^32). */
static inline uint32_t draw_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(((rec_splitmix64(state) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, n), n >= 1 (modulo bias below n / 2^64 for n >= 2^32). */
static inline int64_t draw_index(uint64_t *state, int64_t n)
{
    if (n <= (int64_t)UINT32_MAX)
        return draw_below(state, (uint32_t)n);
    return (int64_t)(rec_splitmix64(state) % (uint64_t)n);
}

static inline float draw_unit(uint64_t *state)
{
    return (float)(rec_splitmix64(state) >> 40) * 0x1.0p-24f; /* [0, 1) */
}

/* Fills n floats with N(0, scale^2) by Box-Muller. */
static void fill_normal(float *v, size_t n, double scale, uint64_t *state)
{
    const double two_pi = 6.283185307179586;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = (double)((rec_splitmix64(state) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(rec_splitmix64(state) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1)) * scale;
        v[i] = (float)(r * cos(two_pi * u2));
        if (i + 1 < n)
            v[i + 1] = (float)(r * sin(two_pi * u2));
    }
}

/* ---- alias table --------------------------------------------------------------------------- */

void rec_bpr_alias_free(struct rec_bpr_alias *a)
{
    if (!a)
        return;
    free(a->prob);
    free(a->alias);
    *a = (struct rec_bpr_alias){0};
}

/* Vose's method: scale the weights to mean 1, then pair each column below 1 with one above,
 * which gives it the excess. O(n), exact up to round-off in prob. */
int rec_bpr_alias_init(struct rec_bpr_alias *a, const double *weight, int32_t n)
{
    if (!a)
        return REC_EINVAL;
    *a = (struct rec_bpr_alias){0};
    double sum = 0;
    for (int32_t i = 0; weight && i < n; i++) {
        if (!(weight[i] >= 0.0 && isfinite(weight[i])))
            return REC_EINVAL;
        sum += weight[i];
    }
    if (n < 1 || !weight || !(sum > 0.0) || !isfinite(sum))
        return REC_EINVAL;
    double *w = malloc((size_t)n * sizeof *w);
    int32_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    a->prob = malloc((size_t)n * sizeof *a->prob);
    a->alias = malloc((size_t)n * sizeof *a->alias);
    if (!w || !small || !large || !a->prob || !a->alias) {
        free(w);
        free(small);
        free(large);
        rec_bpr_alias_free(a);
        return REC_ENOMEM;
    }
    a->n = n;
    int32_t ns = 0, nl = 0;
    for (int32_t i = 0; i < n; i++) {
        w[i] = weight[i] * ((double)n / sum);
        if (w[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        int32_t sm = small[--ns], l = large[nl - 1];
        a->prob[sm] = (float)w[sm];
        a->alias[sm] = l;
        w[l] -= 1.0 - w[sm];
        if (w[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* what is left has weight 1 up to round-off */
    while (nl > 0) {
        int32_t l = large[--nl];
        a->prob[l] = 1.0f;
        a->alias[l] = l;
    }
    while (ns > 0) {
        int32_t sm = small[--ns];
        a->prob[sm] = 1.0f;
        a->alias[sm] = sm;
    }
    free(w);
    free(small);
    free(large);
    return REC_OK;
}

int32_t rec_bpr_alias_draw(const struct rec_bpr_alias *a, uint64_t *state)
{
    uint32_t t = draw_below(state, (uint32_t)a->n);
    return draw_unit(state) < a->prob[t] ? (int32_t)t : a->alias[t];
}

/* One negative candidate from the model's sampler. */
static inline int32_t draw_item(const struct rec_bpr *m, uint64_t *state)
{
    if (m->neg.n == 0)
        return (int32_t)draw_below(state, (uint32_t)m->n_items);
    return rec_bpr_alias_draw(&m->neg, state);
}

/* Whether sorted v[0..n) holds item. Branch-free halving (a select per level), since the
 * sampler's lookups are unpredictable. */
static int contains(const int32_t *v, int64_t n, int32_t item)
{
    if (n <= 0)
        return 0;
    const int32_t *base = v;
    while (n > 1) {
        int64_t half = n / 2;
        base = base[half] <= item ? base + half : base;
        n -= half;
    }
    return *base == item;
}

/* An item not in the sorted row[0..n), or -1 after MAX_REJECT tries. */
static int32_t draw_negative(const struct rec_bpr *m, const int32_t *row, int64_t n,
                             uint64_t *state)
{
    if (n >= m->n_items)
        return -1;
    for (int t = 0; t < MAX_REJECT; t++) {
        int32_t j = draw_item(m, state);
        if (!contains(row, n, j))
            return j;
    }
    return -1;
}

/* ---- model object -------------------------------------------------------------------------- */

static void bpr_free(struct rec_bpr *m)
{
    if (!m)
        return;
    free(m->x);
    free(m->y);
    free(m->b);
    free(m->norm);
    free(m->user_n);
    free(m->item_n);
    rec_bpr_alias_free(&m->neg);
    free(m);
}

static void bpr_destroy(struct rec_model *model) { bpr_free((struct rec_bpr *)model); }

/* Zeroed model with every array allocated (+1 so that empty sides still get non-NULL). */
static struct rec_bpr *bpr_alloc(const double *params, int32_t n_users, int32_t n_items)
{
    struct rec_bpr *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    memcpy(m->params, params, sizeof m->params);
    m->n_users = n_users;
    m->n_items = n_items;
    m->k = (int)params[P_FACTORS];
    size_t k = (size_t)m->k;
    m->x = calloc((size_t)n_users * k + 1, sizeof *m->x);
    m->y = calloc((size_t)n_items * k + 1, sizeof *m->y);
    m->b = calloc((size_t)n_items + 1, sizeof *m->b);
    m->norm = calloc((size_t)n_items + 1, sizeof *m->norm);
    m->user_n = calloc((size_t)n_users + 1, sizeof *m->user_n);
    m->item_n = calloc((size_t)n_items + 1, sizeof *m->item_n);
    if (!m->x || !m->y || !m->b || !m->norm || !m->user_n || !m->item_n) {
        bpr_free(m);
        return NULL;
    }
    return m;
}

static void item_norms(struct rec_bpr *m)
{
    for (int32_t i = 0; i < m->n_items; i++) {
        const float *y = m->y + (size_t)i * m->k;
        m->norm[i] = sqrtf(rec_linalg_dot(y, y, m->k));
    }
}

/* The popularity sampler, weights max(item_n, 1)^neg_alpha, when the params ask for it. 0 or
 * REC_ENOMEM. */
static int build_sampler(struct rec_bpr *m)
{
    if (m->params[P_NEG] != 1 || m->n_items == 0)
        return REC_OK;
    double *w = malloc((size_t)m->n_items * sizeof *w);
    if (!w)
        return REC_ENOMEM;
    for (int32_t i = 0; i < m->n_items; i++)
        w[i] = pow(m->item_n[i] > 1 ? (double)m->item_n[i] : 1.0, m->params[P_NEG_ALPHA]);
    int rc = rec_bpr_alias_init(&m->neg, w, m->n_items);
    free(w);
    return rc == REC_OK ? REC_OK : REC_ENOMEM; /* the weights are valid by construction */
}

/* ---- training ------------------------------------------------------------------------------ */

struct job {
    struct rec_bpr *m;
    const struct rec_csr *pos; /* positives only, value ignored */
    const int32_t *row_of;     /* user of each entry of pos */
    float *bias;               /* b_i at bias[i * BIAS_STRIDE]: one cache line per item, so
                                * threads updating different items never share a line */
    int64_t total;             /* triples to draw: epochs * positives */
    int64_t n_chunks;          /* ceil(total / CHUNK) */
    uint64_t seed;
    float lr, reg, reg_bias;
};

/* x . (a - c). Lane-wise partial sums over blocks of LANES floats let the compiler vectorize
 * without reassociating (the order is fixed, so results are reproducible). */
NO_TSAN static float dot_diff(const float *restrict x, const float *restrict a,
                              const float *restrict c, int k)
{
    float acc[LANES] = {0};
    int f = 0;
    for (; f + LANES <= k; f += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[f + l] * (a[f + l] - c[f + l]);
    float d = 0.0f;
    for (; f < k; f++)
        d += x[f] * (a[f] - c[f]);
    for (int l = 0; l < LANES; l++)
        d += acc[l];
    return d;
}

/* One SGD step on (x_u, y_i, y_j, b_i, b_j), i != j. Other threads may write the same rows at
 * the same time (Hogwild), hence no TSan instrumentation here or in dot_diff. */
NO_TSAN static void sgd_step(float *restrict xu, float *restrict yi, float *restrict yj,
                             float *bi, float *bj, int k, float lr, float reg, float reg_bias)
{
    float z = 1.0f / (1.0f + expf(*bi - *bj + dot_diff(xu, yi, yj, k))); /* sigma(-x_uij) */
    float zl = z * lr, keep = 1.0f - lr * reg;
    int f = 0;
    for (; f + LANES <= k; f += LANES) {
        for (int l = 0; l < LANES; l++) {
            float u = xu[f + l], a = yi[f + l], c = yj[f + l];
            xu[f + l] = keep * u + zl * (a - c);
            yi[f + l] = keep * a + zl * u;
            yj[f + l] = keep * c - zl * u;
        }
    }
    for (; f < k; f++) {
        float u = xu[f], a = yi[f], c = yj[f];
        xu[f] = keep * u + zl * (a - c);
        yi[f] = keep * a + zl * u;
        yj[f] = keep * c - zl * u;
    }
    *bi += lr * (z - reg_bias * *bi);
    *bj += lr * (-z - reg_bias * *bj);
}

/* Draws and applies the triples of chunk c: its own stream seeded by (seed, c), its learning
 * rates from its global position, so its samples do not depend on which thread runs it. */
static void run_chunk(struct job *j, int64_t c)
{
    struct rec_bpr *m = j->m;
    const int k = m->k;
    const int64_t nnz = j->pos->indptr[j->pos->n_rows];
    uint64_t state = rec_mix64(j->seed ^ rec_mix64(0x5bd1e995u + (uint64_t)c));
    int64_t first = c * CHUNK, end = first + CHUNK < j->total ? first + CHUNK : j->total;
    for (int64_t step = first; step < end; step++) {
        int64_t ent = draw_index(&state, nnz);
        int32_t u = j->row_of[ent], i = j->pos->indices[ent];
        int64_t rlo = j->pos->indptr[u], rn = j->pos->indptr[u + 1] - rlo;
        int32_t neg = draw_negative(m, j->pos->indices + rlo, rn, &state);
        if (neg < 0)
            continue;
        float lr = j->lr * (float)(1.0 - (1.0 - LR_FINAL) * ((double)step / (double)j->total));
        sgd_step(m->x + (size_t)u * k, m->y + (size_t)i * k, m->y + (size_t)neg * k,
                 j->bias + (size_t)i * BIAS_STRIDE, j->bias + (size_t)neg * BIAS_STRIDE, k, lr,
                 j->reg, j->reg_bias);
    }
}

static void run_chunks(void *ctx, int thread, int64_t lo, int64_t hi)
{
    for (int64_t c = lo; c < hi; c++)
        run_chunk(ctx, c);
}

/* REC_EINVAL unless ui is a well-formed CSR with sorted, unique columns (the negative sampler's
 * binary search relies on it). O(nnz). */
static int check_csr(const struct rec_csr *ui, char *err, size_t errlen)
{
    if (rec_csr_check(ui, 1))
        return rec_errf(err, errlen, REC_EINVAL, "bpr: malformed interaction matrix (each row needs "
                        "sorted, unique columns in range)");
    return REC_OK;
}

/* Runs every chunk on nthreads threads (the caller's included). Threads claim chunks in order
 * from one counter, so all of them sample from all positives at the same stage of the schedule,
 * however they are scheduled. A thread that fails to start only costs speed. */
static void train(struct job *job, int nthreads)
{
    rec_workers_for(nthreads, job->n_chunks, 1, run_chunks, job);
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int bpr_fit(const struct rec_train_input *in, const double *params, struct rec_model **out,
                   char *err, size_t errlen)
{
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "bpr: no output pointer");
    *out = NULL;
    int rc = check_params(params, err, errlen);
    if (rc)
        return rc;
    if (!in)
        return rec_errf(err, errlen, REC_EINVAL, "bpr: no training input");
    if (in->threads < 0)
        return rec_errf(err, errlen, REC_EINVAL, "bpr: threads must be >= 0 (0 = number of CPUs)");
    if ((rc = check_csr(in->ui, err, errlen)))
        return rc;

    double t0 = rec_mono_s();
    const struct rec_csr *ui = in->ui;
    int nthreads = rec_workers_count(in->threads, MAX_THREADS);
    struct rec_csr pos = {0};
    int32_t *row_of = NULL;
    float *bias = NULL;
    struct rec_bpr *m = bpr_alloc(params, ui->n_rows, ui->n_cols);
    rc = REC_ENOMEM;
    if (!m || rec_csr_positive(ui, 0, &pos) != REC_OK)
        goto out;
    int64_t nnz = pos.indptr[pos.n_rows];
    row_of = malloc(((size_t)nnz + 1) * sizeof *row_of);
    bias = calloc((size_t)m->n_items * BIAS_STRIDE + 1, sizeof *bias);
    if (!row_of || !bias)
        goto out;
    for (int32_t r = 0; r < pos.n_rows; r++) {
        m->user_n[r] = (int32_t)(pos.indptr[r + 1] - pos.indptr[r]);
        for (int64_t e = pos.indptr[r]; e < pos.indptr[r + 1]; e++) {
            row_of[e] = r;
            m->item_n[pos.indices[e]]++;
        }
    }
    if (build_sampler(m) != REC_OK)
        goto out;

    const int k = m->k;
    uint64_t seed = (uint64_t)params[P_SEED];
    uint64_t state = seed;
    fill_normal(m->x, (size_t)m->n_users * k, params[P_INIT_STD], &state);
    fill_normal(m->y, (size_t)m->n_items * k, params[P_INIT_STD], &state);
    struct job job = {.m = m, .pos = &pos, .row_of = row_of, .bias = bias, .seed = seed,
                      .total = nnz * (int64_t)params[P_EPOCHS], .lr = (float)params[P_LR],
                      .reg = (float)params[P_REG], .reg_bias = (float)params[P_REG_BIAS]};
    job.n_chunks = (job.total + CHUNK - 1) / CHUNK;
    if (m->n_items > 0)
        train(&job, nthreads);
    for (int32_t i = 0; i < m->n_items; i++)
        m->b[i] = bias[(size_t)i * BIAS_STRIDE];

    if (!all_finite(m->x, (size_t)m->n_users * k) || !all_finite(m->y, (size_t)m->n_items * k) ||
        !all_finite(m->b, (size_t)m->n_items)) {
        rc = rec_errf(err, errlen, REC_EINTERNAL, "bpr: training diverged (lower lr or raise reg)");
        goto out;
    }
    item_norms(m);
    rec_info("bpr: %d users, %d items, %lld positives, k=%d, %d epochs, %d threads: %.2f s",
             (int)m->n_users, (int)m->n_items, (long long)nnz, k, (int)params[P_EPOCHS], nthreads,
             rec_mono_s() - t0);
    *out = (struct rec_model *)m;
    m = NULL;
    rc = REC_OK;
out:
    if (rc == REC_ENOMEM)
        rec_errf(err, errlen, rc, "bpr: out of memory");
    free(bias);
    free(row_of);
    rec_csr_free(&pos);
    bpr_free(m);
    return rc;
}

/* ---- fold-in and scoring ------------------------------------------------------------------- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct valid items of q into h (room for q->n); returns their count. */
static int history(const struct rec_bpr *m, const struct rec_user_query *q, int32_t *h)
{
    int n = 0;
    for (int e = 0; e < q->n; e++) {
        int32_t it = q->items[e];
        float s = q->strengths ? q->strengths[e] : 1.0f;
        if (it >= 0 && it < m->n_items && s > 0.0f && isfinite(s))
            h[n++] = it;
    }
    qsort(h, (size_t)n, sizeof *h, cmp_i32);
    int u = 0;
    for (int e = 0; e < n; e++)
        if (u == 0 || h[u - 1] != h[e])
            h[u++] = h[e];
    return u;
}

/* x = keep x + zl (a - c), in vector blocks like sgd_step. */
static void user_step(float *restrict x, const float *restrict a, const float *restrict c, int k,
                      float zl, float keep)
{
    int f = 0;
    for (; f + LANES <= k; f += LANES)
        for (int l = 0; l < LANES; l++)
            x[f + l] = keep * x[f + l] + zl * (a[f + l] - c[f + l]);
    for (; f < k; f++)
        x[f] = keep * x[f] + zl * (a[f] - c[f]);
}

/* SGD on x alone (item rows fixed) over the sorted distinct history h[0..n), n >= 1. */
static void fold_in(const struct rec_bpr *m, const int32_t *h, int n, float *x)
{
    const int k = m->k;
    uint64_t state = rec_mix64((uint64_t)m->params[P_SEED] ^ 0x9e3779b97f4a7c15ull);
    for (int e = 0; e < n; e++)
        state = rec_mix64(state ^ (uint64_t)(uint32_t)h[e]);
    int64_t steps = (int64_t)FOLD_PASSES * n;
    steps = steps < FOLD_MIN ? FOLD_MIN : steps > FOLD_MAX ? FOLD_MAX : steps;
    const float lr0 = (float)m->params[P_LR], reg = (float)m->params[P_REG];
    if (n >= m->n_items)
        return; /* no negatives: nothing to rank below the history */
    for (int64_t s = 0; s < steps; s++) {
        int32_t i = h[draw_below(&state, (uint32_t)n)];
        int32_t j = draw_negative(m, h, n, &state);
        if (j < 0)
            continue; /* MAX_REJECT misses: the history holds nearly every item */
        const float *yi = m->y + (size_t)i * k, *yj = m->y + (size_t)j * k;
        float z = 1.0f / (1.0f + expf(m->b[i] - m->b[j] + dot_diff(x, yi, yj, k)));
        float lr = lr0 * (float)(1.0 - (double)s / (double)steps);
        user_step(x, yi, yj, k, z * lr, 1.0f - lr * reg);
    }
}

static int bpr_score(const struct rec_model *model, const struct rec_user_query *q, float *scores)
{
    const struct rec_bpr *m = from_model(model);
    if (!m || !q || !scores || q->n < 0 || (q->n > 0 && !q->items))
        return REC_EINVAL;
    const int k = m->k;
    int known = q->user >= 0 && q->user < m->n_users;
    const float *xu = known ? m->x + (size_t)q->user * k : NULL;
    float *x = NULL;
    int32_t *h = NULL;
    if (!known || q->n > m->user_n[q->user]) {
        x = calloc((size_t)k, sizeof *x);
        h = malloc(((size_t)q->n + 1) * sizeof *h);
        if (!x || !h) {
            free(x);
            free(h);
            return REC_ENOMEM;
        }
        int n = history(m, q, h);
        if (known)
            memcpy(x, xu, (size_t)k * sizeof *x);
        if (!known || n > m->user_n[q->user]) {
            if (n > 0)
                fold_in(m, h, n, x);
            xu = x;
        }
    }
    rec_linalg_gemv(m->y, m->n_items, k, xu, scores);
    for (int32_t i = 0; i < m->n_items; i++)
        scores[i] += m->b[i];
    free(x);
    free(h);
    return REC_OK;
}

static int bpr_similar(const struct rec_model *model, int32_t item, float *scores)
{
    const struct rec_bpr *m = from_model(model);
    if (!m || !scores || item < 0 || item >= m->n_items)
        return REC_EINVAL;
    const int k = m->k;
    rec_linalg_gemv(m->y, m->n_items, k, m->y + (size_t)item * k, scores);
    float ni = m->norm[item];
    for (int32_t j = 0; j < m->n_items; j++) {
        float d = ni * m->norm[j];
        scores[j] = d > 0.0f ? scores[j] / d : 0.0f;
    }
    return REC_OK;
}

/* ---- save / load -------------------------------------------------------------------------- */

/* Returns 0, REC_EINVAL (NULL m or f) or REC_EIO (the file is then incomplete). Flushes f.
 * Thread-safe for distinct f. */
static int bpr_save(const struct rec_model *model, FILE *f)
{
    const struct rec_bpr *m = from_model(model);
    if (!m || !f)
        return REC_EINVAL;
    const size_t k = (size_t)m->k;
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_params(&w, m->params, N_PARAMS);
    rec_binw_i32(&w, m->n_users);
    rec_binw_i32(&w, m->n_items);
    rec_binw_i32(&w, m->k);
    rec_binw_i32s(&w, m->user_n, (size_t)m->n_users);
    rec_binw_i32s(&w, m->item_n, (size_t)m->n_items);
    rec_binw_f32s(&w, m->x, (size_t)m->n_users * k);
    rec_binw_f32s(&w, m->y, (size_t)m->n_items * k);
    rec_binw_f32s(&w, m->b, (size_t)m->n_items);
    return rec_binw_finish(&w);
}

/* n counts in 0..max into a new array of n + 1 (NULL on error). */
static int32_t *r_counts(struct rec_binr *r, size_t n, int32_t max)
{
    uint32_t *v = rec_binr_u32s(r, n);
    for (size_t i = 0; v && i < n; i++)
        if (v[i] > (uint32_t)max) {
            rec_binr_fail(r, REC_EFORMAT);
            free(v);
            return NULL;
        }
    return (int32_t *)v;
}

/* Returns 0, REC_EINVAL (NULL f/out), REC_EFORMAT (any damage: short file, bad magic, version,
 * params, sizes, counts, non-finite floats or checksum), REC_EIO or REC_ENOMEM. On failure
 * *out is NULL. Reads exactly the bytes save wrote. Thread-safe for distinct f. */
static int bpr_load(FILE *f, struct rec_model **out)
{
    if (!f || !out)
        return REC_EINVAL;
    *out = NULL;
    struct rec_binr r;
    rec_binr_init(&r, f);
    if (rec_binr_head(&r, MAGIC) != FORMAT_VERSION)
        rec_binr_fail(&r, REC_EFORMAT);
    double params[N_PARAMS];
    rec_binr_params(&r, params, N_PARAMS);
    int32_t n_users = rec_binr_i32(&r), n_items = rec_binr_i32(&r), k = rec_binr_i32(&r);
    if (!r.rc && (check_params(params, NULL, 0) || k != (int)params[P_FACTORS] || n_users < 0 ||
                  n_items < 0))
        rec_binr_fail(&r, REC_EFORMAT);
    if (r.rc)
        return r.rc;

    struct rec_bpr *m = calloc(1, sizeof *m);
    if (!m)
        return REC_ENOMEM;
    memcpy(m->params, params, sizeof params);
    m->n_users = n_users;
    m->n_items = n_items;
    m->k = k;
    m->user_n = r_counts(&r, (size_t)n_users, n_items);
    m->item_n = r_counts(&r, (size_t)n_items, n_users);
    m->x = rec_binr_f32s(&r, (size_t)n_users * (size_t)k, 1);
    m->y = rec_binr_f32s(&r, (size_t)n_items * (size_t)k, 1);
    m->b = rec_binr_f32s(&r, (size_t)n_items, 1);
    if (rec_binr_finish(&r) == REC_OK && !(m->norm = calloc((size_t)n_items + 1, sizeof *m->norm)))
        rec_binr_fail(&r, REC_ENOMEM);
    if (!r.rc) {
        item_norms(m);
        if (build_sampler(m) != REC_OK)
            rec_binr_fail(&r, REC_ENOMEM);
    }
    if (r.rc) {
        bpr_free(m);
        return r.rc;
    }
    *out = (struct rec_model *)m;
    return REC_OK;
}

const struct rec_model_type rec_model_bpr = {
    .name = "bpr",
    .summary = "BPR matrix factorization with item bias, Hogwild SGD on sampled triples",
    .params = PARAMS,
    .n_params = N_PARAMS,
    .fit = bpr_fit,
    .destroy = bpr_destroy,
    .score = bpr_score,
    .similar = bpr_similar,
    .save = bpr_save,
    .load = bpr_load,
};
