/* ease.c: EASE (Steck 2019) and its denoising variants EDLAE / DLAE (Steck 2020) as a recd model
 * type.
 *
 * Fit, for the user x item matrix X (positive entries only; 1 each when binary), optionally with
 * columns scaled by D = diagMat((n_i / mean n)^-pop_exp), X <- X D:
 *     G = X'X,   L = lambda I + p/(1-p) diagMat(diag G),   P = (G + L)^-1,
 *     zero_diag = 1 (EDLAE):  B[i][j] = -P[i][j] / P[j][j]     (B = I - P diagMat(1 / diag P))
 *     zero_diag = 0 (DLAE):   B[i][j] = -P[i][j] L[j][j]       (B = (G + L)^-1 G = I - P L)
 * and B[i][i] = 0 in both: DLAE's diagonal only scores items already in the history, which
 * recommendations exclude. With pop_exp, rows are scaled by D so that raw histories score as
 * x D B. p = 0, pop_exp = 0, zero_diag = 1 is plain EASE, bit for bit.
 * Everything happens in one n x n float buffer: G is built there, inverted in place (Cholesky,
 * rec_linalg_spd_inverse) and turned into B in place, so the peak is 4 n^2 bytes plus O(nnz).
 *
 * Building G: row i of its upper triangle is sum over the users u who have i of x_ui * (x_u's
 * entries from i on), read through the transpose X'. Each row is written by one thread into one
 * contiguous n-float row that stays in cache, and the work is O(sum over users of n_u^2 / 2).
 * Measured on 2 cores (G already paged in) against BLAS ssyrk over dense blocks of 128..1024
 * users:
 *     data             sparse rows, 1 / 2 threads   ssyrk blocks (best)   Cholesky + inverse
 *     ML-100K           0.016 / 0.008 s              0.022 s               0.034 s
 *     ML-1M (3k users)  0.090 / 0.058 s              0.272 s               0.263 s
 * Densities of recommendation data (a few percent) keep the sparse build ahead; the inverse,
 * O(n^3), dominates and runs on OpenBLAS's threads. Whole fit on the ML-1M part's P1 training
 * set (365,707 positives, 3,615 items): 0.30 s on 2 threads, 0.56 s on 1.
 *
 * Defaults, chosen by NDCG@10 on ML-100K protocol P1 (every rating a positive, per-user random
 * 75/25 split, top-10 unseen items): see the table at DEFAULT_LAMBDA.
 *
 * File format (integers little-endian, floats as their IEEE-754 bits little-endian):
 *     "RECDEAS1"  u32 version (2; 1 is still read, as dropout 0, zero_diag 1, pop_exp 0)
 *     f32 lambda, u32 binary, u32 max_items,
 *     version 2 only: f32 dropout, u32 zero_diag, f32 pop_exp
 *     i32 n_items
 *     n_items * n_items f32: B, row-major
 *     u64 FNV-1a 64 of every byte above
 * load never trusts the announced size before the bytes arrive: B grows geometrically as data is
 * read, so a forged header costs at most about twice the real file size in memory.
 */
#include "model/ease.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/workers.h"
#include "model/binio.h"
#include "model/hist_merge.h"
#include "model/linalg.h"

/* NDCG@10 on ML-100K P1, binary=1, mean of seeds 42..46 (best lambda x dropout of a grid
 * lambda 150..700 x dropout 0..0.7 x pop_exp 0..0.15 x zero_diag, per row):
 *     plain EASE      lambda 400                                 0.4817  (300 0.4805, 500 0.4812)
 *     EDLAE           lambda 300, dropout 0.5                    0.4834
 *     DLAE            lambda 400, dropout 0.4                    0.4857
 *     EDLAE + pop     lambda 400, dropout 0.33, pop_exp 0.1      0.4861
 *     DLAE + pop      lambda 400, dropout 0.5, pop_exp 0.05/0.1  0.4863 (the default)
 * pop_exp 0.05 and 0.1 tie (0.48626 / 0.48628); 0.05 wins on the ML-1M part (0.4729 / 0.4706).
 * pop_exp 0.3 drops to 0.469, 0.5 to 0.365, -0.1 to 0.483. On seeds 47..51 the default gives
 * 0.4834 against plain EASE's 0.4785; on the ML-1M part (seeds 42..46) 0.4729 against 0.4669
 * (plain EASE at its own best, lambda 1000: 0.4706). binary=0 is no better (0.4860 at lambda
 * 3000). The dropout term scales with the data, so the defaults carry across sizes better than
 * lambda alone. */
#define DEFAULT_LAMBDA 400.0
#define DEFAULT_MAX_ITEMS 30000.0
#define DEFAULT_DROPOUT 0.5
#define DEFAULT_ZERO_DIAG 0.0
#define DEFAULT_POP_EXP 0.05
#define DROPOUT_HI 0.95 /* p/(1-p) = 19 times diag(X'X) */
#define MAX_ITEMS_HI 100000.0 /* 40 GB: beyond that the dense matrix is not a sane design */
#define MAX_THREADS 256
#define CHUNK_ROWS 8
#define LANES 16 /* floats per scoring block: one AVX-512 register */
#define FORMAT_VERSION 2u
#define GB 1e9
#define HUGE_PAGE ((size_t)2 << 20)

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'E', 'A', 'S', '1'};

struct rec_ease {
    float lambda;
    int binary;        /* 0 or 1 */
    int32_t max_items; /* the fit's limit, kept so a saved model reloads with its params */
    float dropout;     /* 0..0.95; 0 = plain EASE */
    int zero_diag;     /* 1 = EDLAE (constrained diagonal), 0 = DLAE */
    float pop_exp;     /* -1..1 */
    int32_t n_items;
    float *b;          /* n_items x n_items, row-major; row i = weights from item i; diag 0 */
};

static const struct rec_param_spec PARAMS[REC_EASE_N_PARAMS] = {
    [REC_EASE_LAMBDA] = {"lambda", DEFAULT_LAMBDA, 1.0, 1e5, REC_PARAM_LOG,
                         "L2 regularization on the diagonal of X'X (scale with strengths^2 "
                         "when binary=0)"},
    [REC_EASE_BINARY] = {"binary", 1.0, 0.0, 1.0, REC_PARAM_INT,
                         "1 = every positive interaction counts as 1, 0 = use strengths"},
    [REC_EASE_MAX_ITEMS] = {"max_items", DEFAULT_MAX_ITEMS, 1.0, MAX_ITEMS_HI, REC_PARAM_INT,
                            "largest catalog accepted (memory is 4 * n_items^2 bytes)"},
    [REC_EASE_DROPOUT] = {"dropout", DEFAULT_DROPOUT, 0.0, DROPOUT_HI, REC_PARAM_LINEAR,
                          "denoising dropout p: adds p/(1-p) diag(X'X) to the penalty "
                          "(Steck 2020); 0 = plain EASE"},
    [REC_EASE_ZERO_DIAG] = {"zero_diag", DEFAULT_ZERO_DIAG, 0.0, 1.0, REC_PARAM_INT,
                            "1 = EDLAE (diagonal of B constrained to 0), 0 = DLAE (unconstrained)"},
    [REC_EASE_POP_EXP] = {"pop_exp", DEFAULT_POP_EXP, -1.0, 1.0, REC_PARAM_LINEAR,
                          "scale item columns by (count / mean count)^-pop_exp; > 0 demotes "
                          "popular items"},
};

static struct rec_ease *as_ease(struct rec_model *m) { return (struct rec_ease *)m; }
static const struct rec_ease *as_cease(const struct rec_model *m)
{
    return (const struct rec_ease *)m;
}

static void ease_destroy(struct rec_model *mm)
{
    struct rec_ease *m = as_ease(mm);
    if (!m)
        return;
    free(m->b);
    free(m);
}

/* NULL when params are usable, else a message. */
static const char *check_params(const double *p)
{
    if (!(p[REC_EASE_LAMBDA] >= 1.0 && p[REC_EASE_LAMBDA] <= 1e5))
        return "lambda must be 1..1e5";
    if (p[REC_EASE_BINARY] != 0.0 && p[REC_EASE_BINARY] != 1.0)
        return "binary must be 0 or 1";
    double mi = p[REC_EASE_MAX_ITEMS];
    if (!(mi >= 1.0 && mi <= MAX_ITEMS_HI) || mi != floor(mi))
        return "max_items must be a whole number 1..100000";
    if (!(p[REC_EASE_DROPOUT] >= 0.0 && p[REC_EASE_DROPOUT] <= DROPOUT_HI))
        return "dropout must be 0..0.95";
    if (p[REC_EASE_ZERO_DIAG] != 0.0 && p[REC_EASE_ZERO_DIAG] != 1.0)
        return "zero_diag must be 0 or 1";
    if (!(p[REC_EASE_POP_EXP] >= -1.0 && p[REC_EASE_POP_EXP] <= 1.0))
        return "pop_exp must be -1..1";
    return NULL;
}

/* "41,233": v with thousands separators, independent of the locale. */
static void fmt_count(char *buf, size_t len, int64_t v)
{
    char digits[24];
    int nd = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t o = 0;
    if (v < 0 && o + 1 < len)
        buf[o++] = '-';
    for (int k = 0; k < nd && o + 1 < len; k++) {
        if (k > 0 && (nd - k) % 3 == 0 && o + 2 < len)
            buf[o++] = ',';
        buf[o++] = digits[k];
    }
    if (len)
        buf[o < len ? o : len - 1] = '\0';
}

static double matrix_gb(int64_t n) { return 4.0 * (double)n * (double)n / GB; }

/* count zeroed floats (free with free()). Large blocks go on transparent huge pages where the
 * kernel offers them: first-touch faults on 4 KiB pages cost 0.18..0.27 s for ML-1M's 52 MB
 * matrix on the reference VM (more than building G), against 0.005 s with 2 MiB pages. */
static float *alloc_matrix(size_t count)
{
    size_t bytes = count * sizeof(float);
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE) {
        size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        float *p = aligned_alloc(HUGE_PAGE, rounded);
        if (!p)
            return NULL;
        madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure just means small pages */
        memset(p, 0, bytes);
        return p;
    }
#endif
    return calloc(count, sizeof(float));
}

/* ---- fit ---------------------------------------------------------------------------------- */

struct gram_job {
    const struct rec_csr *x;  /* users x items, positive part */
    const struct rec_csr *xt; /* its transpose */
    float *g;                 /* n x n, zeroed; upper triangle filled */
};

/* First position in idx[lo, hi) holding a value >= v (idx ascending). */
static int64_t lower_bound(const int32_t *idx, int64_t lo, int64_t hi, int32_t v)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (idx[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* G[i][j] for j >= i: sum over users u with item i of x_ui * x_uj. */
static void gram_row(const struct gram_job *job, int32_t i)
{
    const struct rec_csr *x = job->x, *xt = job->xt;
    float *restrict g = job->g + (size_t)i * x->n_cols;
    for (int64_t e = xt->indptr[i]; e < xt->indptr[i + 1]; e++) {
        int32_t u = xt->indices[e];
        float a = xt->values[e];
        int64_t hi = x->indptr[u + 1];
        int64_t lo = lower_bound(x->indices, x->indptr[u], hi, i);
        const int32_t *restrict cols = x->indices;
        const float *restrict vals = x->values;
        for (int64_t f = lo; f < hi; f++) /* a forced-SIMD scatter here was 40% slower */
            g[cols[f]] += a * vals[f];
    }
}

static void gram_rows(void *ctx, int thread, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        gram_row(ctx, (int32_t)i);
}

/* Fills the upper triangle of g (zeroed) with X'X on nthreads threads, the caller's included.
 * Rows are handed out in chunks through an atomic counter (popular items cost far more). A
 * thread that fails to start only costs speed. */
static void build_gram(const struct rec_csr *x, const struct rec_csr *xt, float *g, int nthreads)
{
    struct gram_job job = {.x = x, .xt = xt, .g = g};
    rec_workers_for(nthreads, x->n_cols, CHUNK_ROWS, gram_rows, &job);
}

/* P (full, symmetric) -> B = -P diagMat(s) with diag(B) = 0, in place. */
static void p_to_b(float *p, int32_t n, const float *s)
{
    for (int32_t i = 0; i < n; i++) {
        float *restrict row = p + (size_t)i * n;
        for (int32_t j = 0; j < n; j++) /* O(n^2) once per fit: no need to vectorize */
            row[j] *= s[j];
        row[i] = 0.0f;
    }
}

/* d[i] = (n_i / mean n)^-beta for the item counts n_i (columns of xt); 1 for unseen items. */
static void item_scale(const struct rec_csr *xt, double beta, float *d)
{
    int32_t n = xt->n_rows;
    double mean = n > 0 ? (double)xt->indptr[n] / n : 1.0;
    for (int32_t i = 0; i < n; i++) {
        int64_t c = xt->indptr[i + 1] - xt->indptr[i];
        d[i] = c > 0 ? (float)pow((double)c / mean, -beta) : 1.0f;
    }
}

/* g[i][j] *= d[i] * d[j] on the upper triangle. */
static void scale_gram(float *g, int32_t n, const float *d)
{
    for (int32_t i = 0; i < n; i++) {
        float *restrict row = g + (size_t)i * n;
        for (int32_t j = i; j < n; j++)
            row[j] *= d[i] * d[j];
    }
}

/* B[i][j] *= d[i]: a raw history x scores as (x D) B, and the scores stay in the scaled space,
 * which is what demotes popular items (scaling them back, D B D^-1, only reweights the penalty
 * per item and measured 0.001..0.003 lower on ML-100K P1). */
static void scale_rows(float *b, int32_t n, const float *d)
{
    for (int32_t i = 0; i < n; i++) {
        float *restrict row = b + (size_t)i * n;
        for (int32_t j = 0; j < n; j++)
            row[j] *= d[i];
    }
}

/* Gram, regularization and inversion: b (zeroed, n x n) ends up holding B. OpenBLAS's thread
 * count is process-wide: it is set to nthreads for the inverse and restored afterwards, so a
 * concurrent iALS fit may briefly run its small gemv calls with more BLAS threads (speed only). */
static int solve(struct rec_ease *m, const struct rec_csr *x, const struct rec_csr *xt,
                 float *scratch, int nthreads, char *err, size_t errlen)
{
    int32_t n = m->n_items;
    float *pen = scratch, *d = scratch + n, *s = scratch + 2 * (size_t)n;
    double t0 = rec_mono_s();
    build_gram(x, xt, m->b, nthreads);
    double t1 = rec_mono_s();
    if (m->pop_exp != 0.0f) {
        item_scale(xt, m->pop_exp, d);
        scale_gram(m->b, n, d);
    }
    float c = m->dropout / (1.0f - m->dropout); /* exactly 0 for plain EASE */
    for (int32_t i = 0; i < n; i++) {
        float *gii = &m->b[(size_t)i * n + i];
        pen[i] = m->lambda + c * *gii;
        *gii += pen[i];
    }
    int blas = rec_linalg_set_blas_threads(nthreads);
    int rc = rec_linalg_spd_inverse(m->b, n);
    rec_linalg_set_blas_threads(blas);
    if (rc != REC_OK) /* penalty > 0: PD in exact math, only overflow gets here */
        return rec_errf(err, errlen, REC_EINVAL,
                        "ease: X'X + penalty is not numerically invertible (strengths too large?)");
    for (int32_t j = 0; j < n; j++) /* EDLAE: -1 / P_jj; DLAE: B = I - P diagMat(pen) */
        s[j] = m->zero_diag ? -1.0f / m->b[(size_t)j * n + j] : -pen[j];
    p_to_b(m->b, n, s);
    if (m->pop_exp != 0.0f)
        scale_rows(m->b, n, d);
    rec_debug("ease: %d items: gram %.3f s, inverse %.3f s", (int)n, t1 - t0, rec_mono_s() - t1);
    return REC_OK;
}

static int ease_fit(const struct rec_train_input *in, const double *params, struct rec_model **out,
                    char *err, size_t errlen)
{
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "ease: no output pointer");
    *out = NULL;
    if (!in || !params)
        return rec_errf(err, errlen, REC_EINVAL, "ease: missing input or params");
    const char *msg = check_params(params);
    if (msg)
        return rec_errf(err, errlen, REC_EINVAL, "ease: %s", msg);
    if (in->threads < 0)
        return rec_errf(err, errlen, REC_EINVAL, "ease: threads must be >= 0");
    if (rec_csr_check(in->ui, 1) != REC_OK)
        return rec_errf(err, errlen, REC_EINVAL, "ease: malformed interaction matrix");

    int32_t n = in->ui->n_cols, max_items = (int32_t)params[REC_EASE_MAX_ITEMS];
    if (n > max_items) { /* before any big allocation */
        char count[32];
        fmt_count(count, sizeof count, n);
        return rec_errf(err, errlen, REC_EINVAL,
                        "ease: %s items exceed max_items=%d (needs %.1f GB); use als or itemknn",
                        count, (int)max_items, matrix_gb(n));
    }

    double t0 = rec_mono_s();
    int nthreads = rec_workers_count(in->threads, MAX_THREADS), rc;
    struct rec_csr x = {0}, xt = {0};
    float *scratch = NULL;
    struct rec_ease *m = calloc(1, sizeof *m);
    if (m) {
        m->lambda = (float)params[REC_EASE_LAMBDA];
        m->binary = params[REC_EASE_BINARY] != 0.0;
        m->max_items = max_items;
        m->dropout = (float)params[REC_EASE_DROPOUT];
        m->zero_diag = params[REC_EASE_ZERO_DIAG] != 0.0;
        m->pop_exp = (float)params[REC_EASE_POP_EXP];
        m->n_items = n;
        if ((uint64_t)n * (uint64_t)n < SIZE_MAX / sizeof(float)) /* 32-bit hosts */
            m->b = alloc_matrix((size_t)n * n + 1);
    }
    if (!m || !m->b) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "ease: cannot allocate %.1f GB for %d x %d items",
                      matrix_gb(n), (int)n, (int)n);
        goto out;
    }
    scratch = malloc((3 * (size_t)n + 1) * sizeof *scratch);
    if (!scratch || rec_csr_positive(in->ui, m->binary, &x) != REC_OK ||
        rec_csr_transpose(&x, &xt) != REC_OK) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "ease: out of memory copying the interactions");
        goto out;
    }
    rc = solve(m, &x, &xt, scratch, nthreads, err, errlen);
    if (rc != REC_OK)
        goto out;
    rec_debug("ease: fit %d users x %d items, %lld positives, lambda=%g dropout=%g zero_diag=%d "
              "pop_exp=%g, %d threads: %.3f s",
              (int)x.n_rows, (int)n, (long long)x.indptr[x.n_rows], (double)m->lambda,
              (double)m->dropout, m->zero_diag, (double)m->pop_exp, nthreads, rec_mono_s() - t0);
    *out = (struct rec_model *)m;
    m = NULL;
out:
    free(scratch);
    rec_csr_free(&xt);
    rec_csr_free(&x);
    ease_destroy((struct rec_model *)m);
    return rc;
}

/* ---- scoring ------------------------------------------------------------------------------ */

/* The query's weights as fit would see them: in-range items, repeats summed, kept when the sum is
 * finite and > 0, then 1 when binary. Returns the count written to h. */
static int history_weights(const struct rec_ease *m, const struct rec_user_query *q,
                           struct rec_hist_entry *h)
{
    int nh = 0;
    for (int e = 0; e < q->n; e++)
        if (q->items[e] >= 0 && q->items[e] < m->n_items)
            h[nh++] = (struct rec_hist_entry){q->items[e], q->strengths[e]};
    int np = rec_hist_merge(h, nh);
    int kept = 0;
    for (int e = 0; e < np; e++)
        if (h[e].w > 0.0f && isfinite(h[e].w))
            h[kept++] = (struct rec_hist_entry){h[e].item, m->binary ? 1.0f : h[e].w};
    return kept;
}

/* Blocks of LANES columns have a fixed trip count, so they vectorize at plain -O2 (GCC 12's
 * cheap cost model skips loops that would need a scalar epilogue). */
static inline void block4(float *restrict s, const float *restrict r0, const float *restrict r1,
                          const float *restrict r2, const float *restrict r3, float w0, float w1,
                          float w2, float w3)
{
    for (int k = 0; k < LANES; k++)
        s[k] += w0 * r0[k] + w1 * r1[k] + w2 * r2[k] + w3 * r3[k];
}

static inline void block1(float *restrict s, const float *restrict r, float w)
{
    for (int k = 0; k < LANES; k++)
        s[k] += w * r[k];
}

/* scores += sum of w * B[item, :], four rows per pass over scores (a quarter of the traffic). */
static void add_rows(const struct rec_ease *m, const struct rec_hist_entry *h, int nh, float *scores)
{
    const int32_t n = m->n_items, nv = n / LANES * LANES;
    float *restrict s = scores;
    int e = 0;
    for (; e + 4 <= nh; e += 4) {
        const float *restrict r0 = m->b + (size_t)h[e].item * n;
        const float *restrict r1 = m->b + (size_t)h[e + 1].item * n;
        const float *restrict r2 = m->b + (size_t)h[e + 2].item * n;
        const float *restrict r3 = m->b + (size_t)h[e + 3].item * n;
        float w0 = h[e].w, w1 = h[e + 1].w, w2 = h[e + 2].w, w3 = h[e + 3].w;
        for (int32_t j = 0; j < nv; j += LANES)
            block4(s + j, r0 + j, r1 + j, r2 + j, r3 + j, w0, w1, w2, w3);
        for (int32_t j = nv; j < n; j++)
            s[j] += w0 * r0[j] + w1 * r1[j] + w2 * r2[j] + w3 * r3[j];
    }
    for (; e < nh; e++) {
        const float *restrict r = m->b + (size_t)h[e].item * n;
        float w = h[e].w;
        for (int32_t j = 0; j < nv; j += LANES)
            block1(s + j, r + j, w);
        for (int32_t j = nv; j < n; j++)
            s[j] += w * r[j];
    }
}

/* Ignores q->user: the history alone decides, so unknown users and fresh events score alike.
 * Returns 0, REC_EINVAL (NULL arguments, n < 0) or REC_ENOMEM. */
static int ease_score(const struct rec_model *mm, const struct rec_user_query *q, float *scores)
{
    const struct rec_ease *m = as_cease(mm);
    if (!m || !q || !scores || q->n < 0 || (q->n > 0 && (!q->items || !q->strengths)))
        return REC_EINVAL;
    memset(scores, 0, (size_t)m->n_items * sizeof *scores);
    if (q->n == 0)
        return REC_OK;
    struct rec_hist_entry *h = malloc((size_t)q->n * sizeof *h);
    if (!h)
        return REC_ENOMEM;
    int nh = history_weights(m, q, h);
    add_rows(m, h, nh, scores);
    free(h);
    return REC_OK;
}

/* Row B[item, :] (B[item][item] = 0). REC_EINVAL for NULL arguments or a negative item,
 * REC_ENOTFOUND for an item newer than the fit. */
static int ease_similar(const struct rec_model *mm, int32_t item, float *scores)
{
    const struct rec_ease *m = as_cease(mm);
    if (!m || !scores || item < 0)
        return REC_EINVAL;
    if (item >= m->n_items)
        return REC_ENOTFOUND;
    memcpy(scores, m->b + (size_t)item * m->n_items, (size_t)m->n_items * sizeof *scores);
    return REC_OK;
}

/* ---- save / load -------------------------------------------------------------------------- */

/* Returns 0, REC_EINVAL (NULL m or f) or REC_EIO (write failure: the file is then incomplete).
 * Flushes f. Thread-safe for distinct f. */
static int ease_save(const struct rec_model *mm, FILE *f)
{
    const struct rec_ease *m = as_cease(mm);
    if (!m || !f)
        return REC_EINVAL;
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_f32(&w, m->lambda);
    rec_binw_u32(&w, (uint32_t)m->binary);
    rec_binw_u32(&w, (uint32_t)m->max_items);
    rec_binw_f32(&w, m->dropout);
    rec_binw_u32(&w, (uint32_t)m->zero_diag);
    rec_binw_f32(&w, m->pop_exp);
    rec_binw_u32(&w, (uint32_t)m->n_items);
    rec_binw_f32s(&w, m->b, (size_t)m->n_items * m->n_items);
    return rec_binw_finish(&w);
}

/* Returns 0, REC_EINVAL (NULL f/out), REC_EFORMAT (short file, bad magic, version, params, size,
 * a non-finite weight, or a checksum mismatch), REC_EIO or REC_ENOMEM. Reads exactly the bytes
 * save wrote. Thread-safe for distinct f. */
static int ease_load(FILE *f, struct rec_model **out)
{
    if (!f || !out)
        return REC_EINVAL;
    *out = NULL;
    struct rec_binr r;
    rec_binr_init(&r, f);
    uint32_t version = rec_binr_head(&r, MAGIC);
    if (version != 1 && version != FORMAT_VERSION)
        rec_binr_fail(&r, REC_EFORMAT);
    double p[REC_EASE_N_PARAMS];
    p[REC_EASE_LAMBDA] = rec_binr_f32(&r);
    p[REC_EASE_BINARY] = rec_binr_u32(&r);
    p[REC_EASE_MAX_ITEMS] = rec_binr_u32(&r);
    p[REC_EASE_DROPOUT] = 0.0; /* version 1: plain EASE */
    p[REC_EASE_ZERO_DIAG] = 1.0;
    p[REC_EASE_POP_EXP] = 0.0;
    if (version >= 2) {
        p[REC_EASE_DROPOUT] = rec_binr_f32(&r);
        p[REC_EASE_ZERO_DIAG] = rec_binr_u32(&r);
        p[REC_EASE_POP_EXP] = rec_binr_f32(&r);
    }
    uint32_t n = rec_binr_u32(&r);
    if (!r.rc && (check_params(p) || n > p[REC_EASE_MAX_ITEMS]))
        rec_binr_fail(&r, REC_EFORMAT);
    float *b = NULL;
    if (!r.rc)
        b = rec_binr_f32s(&r, (size_t)n * n, 1);
    struct rec_ease *m = NULL;
    if (rec_binr_finish(&r) == REC_OK && !(m = calloc(1, sizeof *m)))
        rec_binr_fail(&r, REC_ENOMEM);
    if (r.rc) {
        free(b);
        return r.rc;
    }
    m->lambda = (float)p[REC_EASE_LAMBDA];
    m->binary = (int)p[REC_EASE_BINARY];
    m->max_items = (int32_t)p[REC_EASE_MAX_ITEMS];
    m->dropout = (float)p[REC_EASE_DROPOUT];
    m->zero_diag = (int)p[REC_EASE_ZERO_DIAG];
    m->pop_exp = (float)p[REC_EASE_POP_EXP];
    m->n_items = (int32_t)n;
    m->b = b;
    *out = (struct rec_model *)m;
    return REC_OK;
}

const struct rec_model_type rec_model_ease = {
    .name = "ease",
    .summary = "EASE/EDLAE: closed-form item-item autoencoder (Steck 2019, 2020); dense "
               "n_items^2 weights",
    .params = PARAMS,
    .n_params = REC_EASE_N_PARAMS,
    .fit = ease_fit,
    .destroy = ease_destroy,
    .score = ease_score,
    .similar = ease_similar,
    .save = ease_save,
    .load = ease_load,
};
