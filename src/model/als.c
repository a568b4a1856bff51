/* als.c: implicit-feedback ALS (Hu, Koren, Volinsky 2008) with the conjugate-gradient row solver
 * of Takacs, Pilaszy, Tikk 2011.
 *
 * Loss: sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2,
 * c_ui = 1 + alpha r_ui for stored r_ui > 0 (p_ui = 1), c_ui = 1 and p_ui = 0 elsewhere.
 * A user step solves A_u x_u = b_u with
 *     A_u = Y'Y + sum_{i in I_u} (c_ui - 1) y_i y_i' + lambda_u I,   b_u = sum_{i in I_u} c_ui y_i;
 * items symmetrically with X. Y'Y is computed once per half-sweep (BLAS ssyrk); each row then runs
 * cg_steps of CG warm-started from its current vector, applying A_u to a direction p as
 * Y'Y p + lambda_u p + sum (c_ui - 1)(y_i.p) y_i, so a step costs O(k^2 + n_u k), never O(k^3).
 *
 * Regularization, chosen by NDCG@10 on MovieLens-100K: frequency-scaled as in Rendle et al. 2021,
 * "Revisiting the performance of iALS on item recommendation benchmarks":
 *     lambda_u = reg * (1 + n_u)^NU,   NU = 0.5,
 * n_u = number of positive entries of that row (for items: number of users). A row with no
 * entries keeps lambda = reg, so Y'Y + reg I stays positive definite; fold_in uses the same rule.
 * Protocol: per-user random 75/25 split, all ratings as r = 1, top-10 of unseen items, binary
 * NDCG@10 (ideal DCG over min(|test|, 10)), k = 64, 15 sweeps, 3 CG steps, mean of 6 splits:
 *     rule                 (reg, alpha)   NDCG@10
 *     constant lambda      (30, 2)        0.488   best of its grid
 *     reg * (1 + n)^1      (0.2, 1)       0.486   best of its grid
 *     reg * (1 + n)^0.5    (2.5, 1.5)     0.495   best of its grid: the defaults
 *     reg * (1 + n)^1      (0.1, 10)      0.385   als.h's first defaults
 *     popularity                          0.25
 * The optimum is flat: k in 32..128 and 10..25 sweeps all land within 0.005 of it.
 *
 * Initialization: N(0, (0.1/sqrt(k))^2) (Rendle et al.'s scale) from splitmix64 + Box-Muller
 * seeded by params.seed, users first, then items. 0.01/sqrt(k) reaches the same quality at 15
 * sweeps but converges slower (5 sweeps: 0.462 vs 0.488). A fit depends only on (data, params),
 * not on the thread count: every row of a half-sweep reads only the fixed side and its own old
 * vector.
 *
 * Threads: a half-sweep hands out chunks of CHUNK_ROWS rows through an atomic counter (popular
 * items cost far more than rare ones, so static splits balance badly). OpenBLAS is pinned to one
 * thread while the workers run (their k x k gemv calls must not each spawn BLAS threads) and
 * restored for the next Gram, which is one big ssyrk that does benefit from BLAS threads.
 *
 * File format (all integers little-endian, floats as their IEEE-754 bits little-endian):
 *     "RECDALS1"  u32 version(=1)
 *     params: i32 factors, f32 reg, f32 alpha, i32 iters, i32 cg_steps, i32 threads, u64 seed
 *     i32 n_users, i32 n_items, i32 k
 *     n_users x (u32 len, len bytes)   user ids      (len <= ID_MAX, no NUL bytes)
 *     n_items x (u32 len, len bytes)   item ids
 *     n_users*k f32 user factors, n_items*k f32 item factors (row-major)
 *     u64 FNV-1a 64 of every byte above
 * Y'Y is not stored; load recomputes it. load never trusts a size before the bytes behind it have
 * arrived: arrays grow geometrically as data is read, so a forged header costs at most about
 * twice the real file size in memory before the truncation or checksum failure is noticed.
 */
#include "model/als.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/halt.h"
#include "core/rand.h"
#include "core/log.h"
#include "core/workers.h"
#include "model/binio.h"
#include "model/hist_merge.h"
#include "model/linalg.h"
#include "model/simd.h"

#define MAX_FACTORS 1024
#define MAX_THREADS 1024
#define CHUNK_ROWS 16
#define ID_MAX 65536u /* bytes per id string in a model file */
#define FORMAT_VERSION 1u
#define INIT_SCALE 0.1f
#define NU 0.5

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'A', 'L', 'S', '1'};

struct rec_als {
    struct rec_als_params p;
    int32_t n_users;
    int32_t n_items;
    int k;
    float *x;   /* n_users x k, row-major */
    float *y;   /* n_items x k, row-major */
    float *yty; /* k x k Gram of y (both triangles), for fold_in */
};

/* ---- parameters ---------------------------------------------------------------------------- */

void rec_als_params_default(struct rec_als_params *p)
{
    p->factors = 64;
    p->reg = 2.5f;
    p->alpha = 1.5f;
    p->iters = 15;
    p->cg_steps = 3;
    p->threads = 0;
    p->seed = 42;
}

const char *rec_als_check_params(const struct rec_als_params *p)
{
    if (!p)
        return "params missing";
    if (p->factors < 1 || p->factors > MAX_FACTORS)
        return "factors must be 1..1024";
    if (!(p->reg > 0.0f) || !(p->reg <= 1e6f))
        return "reg must be > 0 and <= 1e6";
    if (!(p->alpha >= 0.0f) || !(p->alpha <= 1e6f))
        return "alpha must be 0..1e6";
    if (p->iters < 1 || p->iters > 1000)
        return "iters must be 1..1000";
    if (p->cg_steps < 1 || p->cg_steps > 1000)
        return "cg_steps must be 1..1000";
    if (p->threads < 0 || p->threads > MAX_THREADS)
        return "threads must be 0..1024 (0 = number of CPUs)";
    return NULL;
}

/* lambda for a row with n_pos positive entries; the one rule shared by fit and fold_in. */
static float row_lambda(float reg, int64_t n_pos)
{
    return (float)((double)reg * pow(1.0 + (double)n_pos, NU));
}

/* ---- model object -------------------------------------------------------------------------- */

static struct rec_als *model_alloc(const struct rec_als_params *p, int32_t n_users,
                                   int32_t n_items)
{
    struct rec_als *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->p = *p;
    m->k = p->factors;
    m->n_users = n_users;
    m->n_items = n_items;
    size_t k = (size_t)m->k;
    /* +1 so that empty sides still get a non-NULL pointer */
    m->x = calloc((size_t)n_users * k + 1, sizeof *m->x);
    m->y = calloc((size_t)n_items * k + 1, sizeof *m->y);
    m->yty = calloc(k * k, sizeof *m->yty);
    if (!m->x || !m->y || !m->yty) {
        rec_als_destroy(m);
        return NULL;
    }
    return m;
}

void rec_als_destroy(struct rec_als *m)
{
    if (!m)
        return;
    free(m->x);
    free(m->y);
    free(m->yty);
    free(m);
}

int rec_als_factors(const struct rec_als *m) { return m ? m->k : 0; }
int32_t rec_als_n_users(const struct rec_als *m) { return m ? m->n_users : 0; }
int32_t rec_als_n_items(const struct rec_als *m) { return m ? m->n_items : 0; }
const struct rec_als_params *rec_als_params(const struct rec_als *m) { return m ? &m->p : NULL; }

const float *rec_als_user_vec(const struct rec_als *m, int32_t user)
{
    if (!m || user < 0 || user >= m->n_users)
        return NULL;
    return m->x + (size_t)user * m->k;
}

const float *rec_als_item_vec(const struct rec_als *m, int32_t item)
{
    if (!m || item < 0 || item >= m->n_items)
        return NULL;
    return m->y + (size_t)item * m->k;
}

/* ---- deterministic init -------------------------------------------------------------------- */


/* Fills n floats with N(0, scale^2) by Box-Muller; uses both outputs of each pair. */
static void fill_normal(float *v, size_t n, float scale, uint64_t *state)
{
    const double two_pi = 6.283185307179586;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = (double)((rec_splitmix64(state) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(rec_splitmix64(state) >> 11) * 0x1.0p-53;       /* [0, 1) */
        double r = sqrt(-2.0 * log(u1)) * scale;
        v[i] = (float)(r * cos(two_pi * u2));
        if (i + 1 < n)
            v[i + 1] = (float)(r * sin(two_pi * u2));
    }
}

/* ---- one half-sweep ------------------------------------------------------------------------ */

struct half {
    const struct rec_csr *m; /* rows being solved; positive entries only */
    float *solve;            /* m->n_rows x k, updated in place */
    const float *fixed;      /* m->n_cols x k */
    float *gram;             /* fixed' fixed, k x k, recomputed by run_half */
    const int32_t *iota;     /* 0, 1, ..., k - 1: the rows of Y'Y for rec_simd_rows_wsum */
    int64_t longest;         /* entries in the longest row of either side */
    float alpha;
    float reg;
    int k;
    int cg_steps;
    float *scratch;          /* per_worker floats per thread, private to it: cg_row's scratch */
    size_t per_worker;
};

#define dot rec_simd_dot
#define axpy rec_simd_axpy

/* cg_steps of CG on A x = b for one row, warm-started from x (updated in place). scratch holds
 * 3k floats and two floats per entry of the longest row (c - 1 and a weight). A x is applied as
 * Y'Y x + lambda x + sum (c-1)(y.x) y: the dots and the weighted row sum in one pass where
 * rec_simd_rows_dot_wsum can (each vector read once), and Y'Y x as a blocked weighted row sum
 * (Y'Y being symmetric), so the accumulators stay in registers. */
static void cg_row(const struct half *h, int32_t row, float *scratch)
{
    const int k = h->k;
    float *restrict x = h->solve + (size_t)row * k;
    float *restrict r = scratch, *restrict p = scratch + k, *restrict ap = scratch + 2 * (size_t)k;
    float *restrict w = scratch + 3 * (size_t)k;
    float *restrict c1 = w + h->longest; /* c - 1 = alpha r per entry */
    int64_t lo = h->m->indptr[row], hi = h->m->indptr[row + 1], n = hi - lo;
    const int32_t *cols = h->m->indices + lo;
    const float *vals = h->m->values + lo;
    const float alpha = h->alpha;
    float lambda = row_lambda(h->reg, n);

    /* r = b - A x = sum (c - (c-1) y.x) y - Y'Y x - lambda x */
    for (int j = 0; j < k; j++)
        r[j] = -lambda * x[j];
    for (int j = 0; j < k; j++)
        p[j] = -x[j];
    rec_simd_rows_wsum(h->gram, h->iota, p, k, k, r);
    /* the row's fixed vectors are read in place: with each read once per pass (the dot and the
     * update fused), copying them together first no longer paid (ML-1M part, k = 128: 1.65 s
     * with the copy, 1.47 s without; the 2M-event synthetic set the same either way) */
    const float *base = h->fixed;
    const int32_t *idx = cols;
    for (int64_t e = 0; e < n; e++)
        c1[e] = alpha * vals[e];
    /* + sum (1 + c1 - c1 y.x) y = sum (c1 (1 - y.x) + 1) y */
    rec_simd_rows_dot_wsum(base, idx, c1, n, k, x, 1.0f, -1.0f, 1.0f, w, r);
    memcpy(p, r, (size_t)k * sizeof *p);
    float rs = dot(r, r, k);

    for (int step = 0; step < h->cg_steps; step++) {
        if (!(rs > 0.0f))
            break; /* converged exactly (or empty gradient) */
        for (int j = 0; j < k; j++)
            ap[j] = lambda * p[j];
        rec_simd_rows_wsum(h->gram, h->iota, p, k, k, ap);
        rec_simd_rows_dot_wsum(base, idx, c1, n, k, p, 0.0f, 1.0f, 0.0f, w, ap);
        float pap = dot(p, ap, k);
        if (!(pap > 0.0f))
            break; /* only round-off can get here: A is positive definite */
        float a = rs / pap;
        axpy(a, p, x, k);
        axpy(-a, ap, r, k);
        float rs_new = dot(r, r, k);
        float beta = rs_new / rs;
        for (int j = 0; j < k; j++)
            p[j] = r[j] + beta * p[j];
        rs = rs_new;
    }
}

static void solve_rows(void *ctx, int thread, int64_t lo, int64_t hi)
{
    struct half *h = ctx;
    for (int64_t row = lo; row < hi; row++)
        cg_row(h, (int32_t)row, h->scratch + (size_t)thread * h->per_worker);
}

/* Runs one half-sweep on nthreads threads (the caller's included). A thread that fails to start
 * only costs speed: the remaining workers drain the shared counter. */
static void run_half(struct half *h, int nthreads)
{
    rec_linalg_gram(h->fixed, h->m->n_cols, h->k, h->gram);
    int blas = rec_linalg_set_blas_threads(1);
    rec_workers_for(nthreads, h->m->n_rows, CHUNK_ROWS, solve_rows, h);
    rec_linalg_set_blas_threads(blas);
}

static int64_t longest_row(const struct rec_csr *m)
{
    int64_t best = 0;
    for (int32_t r = 0; r < m->n_rows; r++)
        if (m->indptr[r + 1] - m->indptr[r] > best)
            best = m->indptr[r + 1] - m->indptr[r];
    return best;
}

int rec_als_fit(const struct rec_csr *ui, const struct rec_als_params *p, struct rec_als **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (rec_als_check_params(p) || rec_csr_check(ui, 0) != REC_OK)
        return REC_EINVAL;

    double t0 = rec_mono_s();
    int rc = REC_ENOMEM;
    const int k = p->factors;
    int nthreads = rec_workers_count(p->threads, MAX_THREADS);

    struct rec_csr pos = {0}, pos_t = {0};
    float *gram = NULL, *scratch = NULL;
    int32_t *iota = NULL;
    struct rec_als *m = model_alloc(p, ui->n_rows, ui->n_cols);
    if (!m)
        goto out;
    if (rec_csr_positive(ui, 0, &pos) != REC_OK || rec_csr_transpose(&pos, &pos_t) != REC_OK)
        goto out;
    int64_t longest = longest_row(&pos) > longest_row(&pos_t) ? longest_row(&pos) : longest_row(&pos_t);
    int64_t n_iota = k;
    size_t per_worker = 3 * (size_t)k + 2 * (size_t)longest;
    gram = malloc((size_t)k * k * sizeof *gram);
    iota = malloc((size_t)n_iota * sizeof *iota);
    scratch = malloc((size_t)nthreads * per_worker * sizeof *scratch);
    if (!gram || !iota || !scratch)
        goto out;
    for (int64_t j = 0; j < n_iota; j++)
        iota[j] = (int32_t)j;

    uint64_t state = p->seed;
    float scale = INIT_SCALE / sqrtf((float)k);
    fill_normal(m->x, (size_t)m->n_users * k, scale, &state);
    fill_normal(m->y, (size_t)m->n_items * k, scale, &state);

    struct half users = {.m = &pos, .solve = m->x, .fixed = m->y, .gram = gram, .iota = iota, .longest = longest,
                         .alpha = p->alpha, .reg = p->reg, .k = k, .cg_steps = p->cg_steps,
                         .scratch = scratch, .per_worker = per_worker};
    struct half items = {.m = &pos_t, .solve = m->y, .fixed = m->x, .gram = gram, .iota = iota, .longest = longest,
                         .alpha = p->alpha, .reg = p->reg, .k = k, .cg_steps = p->cg_steps,
                         .scratch = scratch, .per_worker = per_worker};
    for (int it = 0; it < p->iters; it++) {
        run_half(&users, nthreads);
        run_half(&items, nthreads);
        if (rec_halt_requested()) { /* the sweep was cut short: the factors are not a fit */
            rc = REC_ECANCELED;
            goto out;
        }
    }
    rec_linalg_gram(m->y, m->n_items, k, m->yty);

    rec_debug("als: fit %d users x %d items, %lld positives, k=%d, %d sweeps, %d threads: %.3f s",
              (int)m->n_users, (int)m->n_items, (long long)pos.indptr[pos.n_rows], k, p->iters,
              nthreads, rec_mono_s() - t0);
    *out = m;
    m = NULL;
    rc = REC_OK;
out:
    free(scratch);
    free(iota);
    free(gram);
    rec_csr_free(&pos_t);
    rec_csr_free(&pos);
    rec_als_destroy(m);
    return rc;
}

/* ---- fold-in and scoring ------------------------------------------------------------------- */

/* 0, 1, ..., MAX_FACTORS-1: the rows of Y'Y for rec_simd_rows_wsum. */
static int32_t iota_rows[MAX_FACTORS];
static pthread_once_t iota_once = PTHREAD_ONCE_INIT;

static void iota_init(void)
{
    for (int j = 0; j < MAX_FACTORS; j++)
        iota_rows[j] = j;
}

static const int32_t *iota_k(void)
{
    pthread_once(&iota_once, iota_init);
    return iota_rows;
}

/* Repeated items are summed first (as rec_csr_from_triplets does for fit's input), so folding
 * in a trained user's raw event list reproduces that user's system exactly. Returns 0,
 * REC_EINVAL (NULL model/x, or NULL arrays with n > 0), REC_ENOMEM, or REC_EINTERNAL when
 * round-off makes the system numerically indefinite (x is then zeroed). */
int rec_als_fold_in(const struct rec_als *m, const int32_t *items, const float *strengths, int n,
                    float *x)
{
    if (!m || !x || n < 0 || (n > 0 && (!items || !strengths)))
        return REC_EINVAL;
    const int k = m->k;
    float *a = malloc((size_t)k * k * sizeof *a);
    struct rec_hist_entry *h = malloc(((size_t)n + 1) * sizeof *h);
    if (!a || !h) {
        free(a);
        free(h);
        return REC_ENOMEM;
    }

    int nh = 0;
    for (int e = 0; e < n; e++)
        if (items[e] >= 0 && items[e] < m->n_items && strengths[e] > 0.0f &&
            isfinite(strengths[e]))
            h[nh++] = (struct rec_hist_entry){items[e], strengths[e]};
    int np = rec_hist_merge(h, nh);

    /* A = Y'Y + B'B + lambda I with row e of B = sqrt(c-1) y_e, so the n rank-one updates are one
     * BLAS syrk (several times faster than scalar loops for long histories); b = sum c y */
    float *b = malloc(((size_t)np + 1) * k * sizeof *b);
    if (!b) {
        free(h);
        free(a);
        return REC_ENOMEM;
    }
    memset(x, 0, (size_t)k * sizeof *x);
    for (int e = 0; e < np; e++) {
        const float *y = m->y + (size_t)h[e].item * k;
        float c1 = m->p.alpha * h[e].w, sc = sqrtf(c1);
        float *row = b + (size_t)e * k;
        for (int i = 0; i < k; i++)
            row[i] = sc * y[i];
        axpy(1.0f + c1, y, x, k);
    }
    rec_linalg_gram(b, np, k, a);
    free(b);
    float lambda = row_lambda(m->p.reg, np);
    for (size_t i = 0; i < (size_t)k * k; i++)
        a[i] += m->yty[i];
    for (int i = 0; i < k; i++)
        a[(size_t)i * k + i] += lambda;
    int rc = rec_linalg_solve_spd(a, x, k);
    if (rc != REC_OK) {
        memset(x, 0, (size_t)k * sizeof *x);
        rc = REC_EINTERNAL;
    }
    free(h);
    free(a);
    return rc;
}

/* Warm-started fold-in: steps of CG on the same system as rec_als_fold_in, from the x given
 * (the user's factors before their newest events). Items must be distinct (the engine's history
 * is). Cost O(steps (n k + k^2)) instead of O(n k^2 + k^3): what a live event pays. */
int rec_als_fold_in_cg(const struct rec_als *m, const int32_t *items, const float *strengths, int n,
                       int steps, float *x)
{
    if (!m || !x || n < 0 || (n > 0 && (!items || !strengths)) || m->k < 1)
        return REC_EINVAL;
    const int k = m->k;
    float *buf = calloc((size_t)3 * k + 2 * (size_t)n + 1, sizeof *buf);
    int32_t *idx = malloc(((size_t)n + 1) * sizeof *idx);
    if (!buf || !idx) {
        free(buf);
        free(idx);
        return REC_ENOMEM;
    }
    float *r = buf, *p = buf + k, *ap = buf + 2 * (size_t)k, *c1 = ap + k, *w = c1 + n;
    int np = 0;
    for (int e = 0; e < n; e++)
        if (items[e] >= 0 && items[e] < m->n_items && strengths[e] > 0.0f && isfinite(strengths[e])) {
            idx[np] = items[e];
            c1[np++] = m->p.alpha * strengths[e];
        }
    float lambda = row_lambda(m->p.reg, np);
    /* r = b - A x = sum (c - (c-1) y.x) y - Y'Y x - lambda x */
    for (int j = 0; j < k; j++) {
        r[j] = -lambda * x[j];
        p[j] = -x[j];
    }
    rec_simd_rows_wsum(m->yty, iota_k(), p, k, k, r);
    rec_simd_rows_dot_wsum(m->y, idx, c1, np, k, x, 1.0f, -1.0f, 1.0f, w, r);
    memcpy(p, r, (size_t)k * sizeof *p);
    float rs = rec_simd_dot(r, r, k);
    for (int step = 0; step < steps && rs > 0.0f; step++) {
        for (int j = 0; j < k; j++)
            ap[j] = lambda * p[j];
        rec_simd_rows_wsum(m->yty, iota_k(), p, k, k, ap);
        rec_simd_rows_dot_wsum(m->y, idx, c1, np, k, p, 0.0f, 1.0f, 0.0f, w, ap);
        float pap = rec_simd_dot(p, ap, k);
        if (!(pap > 0.0f))
            break;
        float a = rs / pap;
        rec_simd_axpy(a, p, x, k);
        rec_simd_axpy(-a, ap, r, k);
        float rs_new = rec_simd_dot(r, r, k);
        for (int j = 0; j < k; j++)
            p[j] = r[j] + rs_new / rs * p[j];
        rs = rs_new;
    }
    free(buf);
    free(idx);
    return 0;
}

void rec_als_score_all(const struct rec_als *m, const float *x, float *scores)
{
    rec_linalg_gemv(m->y, m->n_items, m->k, x, scores);
}

/* ---- remap --------------------------------------------------------------------------------- */

/* Row r of dst = row map[r] of src (zeros when map[r] < 0). A NULL map means identity: rows past
 * the end of src are zeros. REC_EINVAL when a map entry is >= n_src. */
static int remap_rows(float *dst, int32_t n_dst, const float *src, int32_t n_src,
                      const int32_t *map, int k)
{
    for (int32_t r = 0; r < n_dst; r++) {
        int32_t from = map ? map[r] : (r < n_src ? r : -1);
        if (from >= n_src)
            return REC_EINVAL;
        if (from >= 0)
            memcpy(dst + (size_t)r * k, src + (size_t)from * k, (size_t)k * sizeof *dst);
    }
    return REC_OK;
}

/* The result's Y'Y is recomputed from its own item rows, so fold_in on the result is exactly the
 * user step against the item rows it holds. Returns 0, REC_EINVAL (NULL src/out, negative
 * counts, a map entry past the end of src) or REC_ENOMEM. */
int rec_als_remap(const struct rec_als *src, const int32_t *user_map, int32_t n_users,
                  const int32_t *item_map, int32_t n_items, struct rec_als **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (!src || n_users < 0 || n_items < 0)
        return REC_EINVAL;
    struct rec_als *m = model_alloc(&src->p, n_users, n_items);
    if (!m)
        return REC_ENOMEM;
    if (remap_rows(m->x, n_users, src->x, src->n_users, user_map, m->k) != REC_OK ||
        remap_rows(m->y, n_items, src->y, src->n_items, item_map, m->k) != REC_OK) {
        rec_als_destroy(m);
        return REC_EINVAL;
    }
    rec_linalg_gram(m->y, m->n_items, m->k, m->yty);
    *out = m;
    return REC_OK;
}

/* ---- save ---------------------------------------------------------------------------------- */

static void w_ids(struct rec_binw *w, const char *const *ids, int32_t n)
{
    for (int32_t r = 0; r < n; r++) {
        const char *id = ids && ids[r] ? ids[r] : "";
        rec_binw_str(w, id, strlen(id));
    }
}

static int ids_ok(const char *const *ids, int32_t n)
{
    for (int32_t r = 0; ids && r < n; r++)
        if (ids[r] && strnlen(ids[r], ID_MAX + 1) > ID_MAX)
            return 0;
    return 1;
}

/* Returns 0, REC_EINVAL (NULL m or f, an id longer than 65536 bytes: nothing is written then) or
 * REC_EIO (write failure; the file is then incomplete). Flushes f. Thread-safe for distinct f. */
int rec_als_save(const struct rec_als *m, FILE *f, const char *const *user_ids,
                 const char *const *item_ids)
{
    if (!m || !f || !ids_ok(user_ids, m->n_users) || !ids_ok(item_ids, m->n_items))
        return REC_EINVAL;
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_i32(&w, m->p.factors);
    rec_binw_f32(&w, m->p.reg);
    rec_binw_f32(&w, m->p.alpha);
    rec_binw_i32(&w, m->p.iters);
    rec_binw_i32(&w, m->p.cg_steps);
    rec_binw_i32(&w, m->p.threads);
    rec_binw_u64(&w, m->p.seed);
    rec_binw_i32(&w, m->n_users);
    rec_binw_i32(&w, m->n_items);
    rec_binw_i32(&w, m->k);
    w_ids(&w, user_ids, m->n_users);
    w_ids(&w, item_ids, m->n_items);
    rec_binw_f32s(&w, m->x, (size_t)m->n_users * m->k);
    rec_binw_f32s(&w, m->y, (size_t)m->n_items * m->k);
    return rec_binw_finish(&w);
}

/* ---- load ---------------------------------------------------------------------------------- */

static void free_ids(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Reads n ids. With keep, returns an array of n malloc'd strings (never NULL on success, even for
 * n = 0); without, checks and discards them and returns NULL. */
static char **r_ids(struct rec_binr *r, int32_t n, int keep)
{
    char **ids = NULL, *tmp = malloc(ID_MAX + 1);
    size_t cap = 0, got = 0, len;
    if (!tmp || (keep && rec_binr_grow(r, (void **)&ids, &cap, 1, sizeof *ids) != REC_OK))
        rec_binr_fail(r, REC_ENOMEM);
    for (int32_t i = 0; i < n && !r->rc; i++) {
        if (rec_binr_str(r, tmp, 0, ID_MAX, &len) != REC_OK || !keep ||
            rec_binr_grow(r, (void **)&ids, &cap, got + 1, sizeof *ids) != REC_OK)
            continue;
        if (!(ids[got] = malloc(len + 1)))
            rec_binr_fail(r, REC_ENOMEM);
        else
            memcpy(ids[got++], tmp, len + 1);
    }
    free(tmp);
    if (r->rc || !keep) {
        free_ids(ids, got);
        return NULL;
    }
    return ids;
}

/* Returns 0, REC_EINVAL (NULL f/out), REC_EFORMAT (any damage: short file, bad magic, version,
 * params, sizes, ids or checksum), REC_EIO (read error) or REC_ENOMEM. user_ids / item_ids may be
 * NULL when the caller does not want them. On failure nothing is handed out. Reads exactly the
 * bytes save wrote (trailing data in f is left unread). Thread-safe for distinct f. */
int rec_als_load(FILE *f, struct rec_als **out, char ***user_ids, char ***item_ids)
{
    if (!f || !out)
        return REC_EINVAL;
    *out = NULL;
    if (user_ids)
        *user_ids = NULL;
    if (item_ids)
        *item_ids = NULL;

    struct rec_binr r;
    rec_binr_init(&r, f);
    struct rec_als *m = NULL;
    char **uids = NULL, **iids = NULL;
    float *x = NULL, *y = NULL;

    if (rec_binr_head(&r, MAGIC) != FORMAT_VERSION)
        rec_binr_fail(&r, REC_EFORMAT);
    struct rec_als_params p;
    p.factors = rec_binr_i32(&r);
    p.reg = rec_binr_f32(&r);
    p.alpha = rec_binr_f32(&r);
    p.iters = rec_binr_i32(&r);
    p.cg_steps = rec_binr_i32(&r);
    p.threads = rec_binr_i32(&r);
    p.seed = rec_binr_u64(&r);
    int32_t n_users = rec_binr_i32(&r), n_items = rec_binr_i32(&r), k = rec_binr_i32(&r);
    if (!r.rc && (rec_als_check_params(&p) || k != p.factors || n_users < 0 || n_items < 0))
        rec_binr_fail(&r, REC_EFORMAT);

    if (!r.rc)
        uids = r_ids(&r, n_users, user_ids != NULL);
    if (!r.rc)
        iids = r_ids(&r, n_items, item_ids != NULL);
    if (!r.rc)
        x = rec_binr_f32s(&r, (size_t)n_users * k, 0);
    if (!r.rc)
        y = rec_binr_f32s(&r, (size_t)n_items * k, 0);
    if (rec_binr_finish(&r) == REC_OK) {
        m = calloc(1, sizeof *m);
        float *yty = malloc((size_t)k * k * sizeof *yty);
        if (!m || !yty) {
            free(m);
            free(yty);
            m = NULL;
            rec_binr_fail(&r, REC_ENOMEM);
        } else {
            *m = (struct rec_als){.p = p, .n_users = n_users, .n_items = n_items, .k = k,
                                  .x = x, .y = y, .yty = yty};
            x = y = NULL;
            rec_linalg_gram(m->y, m->n_items, k, m->yty);
        }
    }
    if (r.rc) {
        free(x);
        free(y);
        free_ids(uids, (size_t)n_users);
        free_ids(iids, (size_t)n_items);
        return r.rc;
    }
    *out = m;
    if (user_ids)
        *user_ids = uids;
    if (item_ids)
        *item_ids = iids;
    return REC_OK;
}
