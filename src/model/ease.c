/* ease.c: EASE (Steck 2019) as a recd model type.
 *
 * Fit, for the user x item matrix X (positive entries only; 1 each when binary):
 *     G = X'X + lambda I,   P = G^-1,   B[i][j] = -P[i][j] / P[j][j] (i != j),   B[i][i] = 0.
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
 * lambda default, chosen by NDCG@10 on ML-100K protocol P1 (every rating a positive, per-user
 * random 75/25 split, top-10 unseen items): see the table at DEFAULT_LAMBDA. The optimum is
 * flat from 300 to 500; 400 is best on the mean of six other seeds.
 *
 * File format (integers little-endian, floats as their IEEE-754 bits little-endian):
 *     "RECDEAS1"  u32 version(=1)
 *     f32 lambda, u32 binary, u32 max_items, i32 n_items
 *     n_items * n_items f32: B, row-major
 *     u64 FNV-1a 64 of every byte above
 * load never trusts the announced size before the bytes arrive: B grows geometrically as data is
 * read, so a forged header costs at most about twice the real file size in memory.
 */
#include "model/ease.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "model/linalg.h"

/* NDCG@10 on ML-100K P1 by lambda, binary=1 (seed 42 / mean of seeds 1..6):
 *     100 0.461/-   200 0.475/0.471   300 0.479/0.476   400 0.480/0.477   500 0.481/0.476
 *     700 0.476/0.473   1000 0.471/-   2000 0.455/-
 * binary=0 (ratings 1..5 as strengths) peaks lower, 0.478 at lambda 5000 (seed 42). */
#define DEFAULT_LAMBDA 400.0
#define DEFAULT_MAX_ITEMS 30000.0
#define MAX_ITEMS_HI 100000.0 /* 40 GB: beyond that the dense matrix is not a sane design */
#define MAX_THREADS 256
#define CHUNK_ROWS 8
#define LANES 16 /* floats per scoring block: one AVX-512 register */
#define FORMAT_VERSION 1u
#define GB 1e9
#define HUGE_PAGE ((size_t)2 << 20)

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'E', 'A', 'S', '1'};

struct rec_ease {
    float lambda;
    int binary;        /* 0 or 1 */
    int32_t max_items; /* the fit's limit, kept so a saved model reloads with its params */
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

/* REC_EINVAL unless ui is a well-formed CSR with sorted, unique columns (O(nnz)). */
static int check_csr(const struct rec_csr *ui)
{
    if (!ui || ui->n_rows < 0 || ui->n_cols < 0 || !ui->indptr || ui->indptr[0] != 0)
        return REC_EINVAL;
    for (int32_t r = 0; r < ui->n_rows; r++)
        if (ui->indptr[r + 1] < ui->indptr[r])
            return REC_EINVAL;
    int64_t nnz = ui->indptr[ui->n_rows];
    if (nnz > 0 && (!ui->indices || !ui->values))
        return REC_EINVAL;
    for (int32_t r = 0; r < ui->n_rows; r++)
        for (int64_t e = ui->indptr[r]; e < ui->indptr[r + 1]; e++)
            if (ui->indices[e] < 0 || ui->indices[e] >= ui->n_cols ||
                (e > ui->indptr[r] && ui->indices[e] <= ui->indices[e - 1]))
                return REC_EINVAL;
    return REC_OK;
}

/* Copy of ui with the finite entries > 0 only, valued 1 when binary. 0 or REC_ENOMEM. */
static int positive_part(const struct rec_csr *ui, int binary, struct rec_csr *out)
{
    int64_t nnz = ui->indptr[ui->n_rows];
    memset(out, 0, sizeof *out);
    out->n_rows = ui->n_rows;
    out->n_cols = ui->n_cols;
    out->indptr = malloc(((size_t)ui->n_rows + 1) * sizeof *out->indptr);
    out->indices = malloc(((size_t)nnz + 1) * sizeof *out->indices);
    out->values = malloc(((size_t)nnz + 1) * sizeof *out->values);
    if (!out->indptr || !out->indices || !out->values) {
        rec_csr_free(out);
        return REC_ENOMEM;
    }
    int64_t n = 0;
    out->indptr[0] = 0;
    for (int32_t r = 0; r < ui->n_rows; r++) {
        for (int64_t e = ui->indptr[r]; e < ui->indptr[r + 1]; e++) {
            float v = ui->values[e];
            if (v > 0.0f && isfinite(v)) {
                out->indices[n] = ui->indices[e];
                out->values[n] = binary ? 1.0f : v;
                n++;
            }
        }
        out->indptr[r + 1] = n;
    }
    return REC_OK;
}

struct gram_job {
    const struct rec_csr *x;  /* users x items, positive part */
    const struct rec_csr *xt; /* its transpose */
    float *g;                 /* n x n, zeroed; upper triangle filled */
    _Atomic int32_t next;     /* first row of the next unclaimed chunk */
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

static void *gram_worker(void *arg)
{
    struct gram_job *job = arg;
    int32_t n = job->x->n_cols;
    for (;;) {
        int32_t lo = atomic_fetch_add(&job->next, CHUNK_ROWS);
        if (lo >= n)
            break;
        int32_t hi = n - lo < CHUNK_ROWS ? n : lo + CHUNK_ROWS;
        for (int32_t i = lo; i < hi; i++)
            gram_row(job, i);
    }
    return NULL;
}

/* Fills the upper triangle of g (zeroed) with X'X on nthreads threads, the caller's included.
 * Rows are handed out in chunks through an atomic counter (popular items cost far more). A
 * thread that fails to start only costs speed. */
static void build_gram(const struct rec_csr *x, const struct rec_csr *xt, float *g, int nthreads)
{
    struct gram_job job = {.x = x, .xt = xt, .g = g};
    atomic_init(&job.next, 0);
    int32_t chunks = x->n_cols / CHUNK_ROWS + 1;
    if (nthreads > chunks)
        nthreads = (int)chunks;
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < nthreads; t++) {
        if (pthread_create(&tid[started], NULL, gram_worker, &job) != 0)
            break;
        started++;
    }
    gram_worker(&job);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}

/* P (full, symmetric) -> B = I - P diagMat(1 / diag P), in place; scratch holds n floats. */
static void p_to_b(float *p, int32_t n, float *scratch)
{
    for (int32_t j = 0; j < n; j++)
        scratch[j] = -1.0f / p[(size_t)j * n + j];
    for (int32_t i = 0; i < n; i++) {
        float *restrict row = p + (size_t)i * n;
        const float *restrict s = scratch;
        for (int32_t j = 0; j < n; j++) /* O(n^2) once per fit: no need to vectorize */
            row[j] *= s[j];
        row[i] = 0.0f;
    }
}

static int thread_count(int requested)
{
    if (requested > 0)
        return requested > MAX_THREADS ? MAX_THREADS : requested;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (int)ncpu;
}

/* Gram, regularization and inversion: b (zeroed, n x n) ends up holding B. OpenBLAS's thread
 * count is process-wide: it is set to nthreads for the inverse and restored afterwards, so a
 * concurrent iALS fit may briefly run its small gemv calls with more BLAS threads (speed only). */
static int solve(struct rec_ease *m, const struct rec_csr *x, const struct rec_csr *xt,
                 float *scratch, int nthreads, char *err, size_t errlen)
{
    int32_t n = m->n_items;
    double t0 = rec_mono_s();
    build_gram(x, xt, m->b, nthreads);
    double t1 = rec_mono_s();
    for (int32_t i = 0; i < n; i++)
        m->b[(size_t)i * n + i] += m->lambda;
    rec_linalg_set_blas_threads(nthreads);
    int rc = rec_linalg_spd_inverse(m->b, n);
    rec_linalg_set_blas_threads(0);
    if (rc != REC_OK) /* X'X + lambda I is PD in exact math: only overflow gets here */
        return rec_errf(err, errlen, REC_EINVAL,
                        "ease: X'X + lambda I is not numerically invertible (strengths too large?)");
    p_to_b(m->b, n, scratch);
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
    if (check_csr(in->ui) != REC_OK)
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
    int nthreads = thread_count(in->threads), rc;
    struct rec_csr x = {0}, xt = {0};
    float *scratch = NULL;
    struct rec_ease *m = calloc(1, sizeof *m);
    if (m) {
        m->lambda = (float)params[REC_EASE_LAMBDA];
        m->binary = params[REC_EASE_BINARY] != 0.0;
        m->max_items = max_items;
        m->n_items = n;
        if ((uint64_t)n * (uint64_t)n < SIZE_MAX / sizeof(float)) /* 32-bit hosts */
            m->b = alloc_matrix((size_t)n * n + 1);
    }
    if (!m || !m->b) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "ease: cannot allocate %.1f GB for %d x %d items",
                      matrix_gb(n), (int)n, (int)n);
        goto out;
    }
    scratch = malloc(((size_t)n + 1) * sizeof *scratch);
    if (!scratch || positive_part(in->ui, m->binary, &x) != REC_OK ||
        rec_csr_transpose(&x, &xt) != REC_OK) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "ease: out of memory copying the interactions");
        goto out;
    }
    rc = solve(m, &x, &xt, scratch, nthreads, err, errlen);
    if (rc != REC_OK)
        goto out;
    rec_debug("ease: fit %d users x %d items, %lld positives, lambda=%g, %d threads: %.3f s",
              (int)x.n_rows, (int)n, (long long)x.indptr[x.n_rows], (double)m->lambda, nthreads,
              rec_mono_s() - t0);
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

struct hist {
    int32_t item;
    float w;
};

static int hist_cmp(const void *a, const void *b)
{
    int32_t x = ((const struct hist *)a)->item, y = ((const struct hist *)b)->item;
    return (x > y) - (x < y);
}

/* The query's weights as fit would see them: in-range items, repeats summed, kept when the sum is
 * finite and > 0, then 1 when binary. Returns the count written to h. */
static int history_weights(const struct rec_ease *m, const struct rec_user_query *q,
                           struct hist *h)
{
    int nh = 0;
    for (int e = 0; e < q->n; e++)
        if (q->items[e] >= 0 && q->items[e] < m->n_items)
            h[nh++] = (struct hist){q->items[e], q->strengths[e]};
    qsort(h, (size_t)nh, sizeof *h, hist_cmp);
    int np = 0;
    for (int e = 0; e < nh; e++) {
        if (np > 0 && h[np - 1].item == h[e].item)
            h[np - 1].w += h[e].w;
        else
            h[np++] = h[e];
    }
    int kept = 0;
    for (int e = 0; e < np; e++)
        if (h[e].w > 0.0f && isfinite(h[e].w))
            h[kept++] = (struct hist){h[e].item, m->binary ? 1.0f : h[e].w};
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
static void add_rows(const struct rec_ease *m, const struct hist *h, int nh, float *scores)
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
    struct hist *h = malloc((size_t)q->n * sizeof *h);
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

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define IO_FLOATS 4096

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static void put_le(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

struct writer {
    FILE *f;
    uint64_t h;
    int err;
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
    w->h = fnv1a(w->h, p, n);
    if (!w->err && fwrite(p, 1, n, w->f) != n)
        w->err = 1;
}

static void w_u32(struct writer *w, uint32_t v)
{
    unsigned char b[4];
    put_le(b, v, 4);
    w_bytes(w, b, 4);
}

/* Returns 0, REC_EINVAL (NULL m or f) or REC_EIO (write failure: the file is then incomplete).
 * Flushes f. Thread-safe for distinct f. */
static int ease_save(const struct rec_model *mm, FILE *f)
{
    const struct rec_ease *m = as_cease(mm);
    if (!m || !f)
        return REC_EINVAL;
    unsigned char *buf = malloc(4 * IO_FLOATS);
    if (!buf)
        return REC_ENOMEM;
    struct writer w = {.f = f, .h = FNV_OFFSET};
    w_bytes(&w, MAGIC, sizeof MAGIC);
    w_u32(&w, FORMAT_VERSION);
    w_u32(&w, f32_bits(m->lambda));
    w_u32(&w, (uint32_t)m->binary);
    w_u32(&w, (uint32_t)m->max_items);
    w_u32(&w, (uint32_t)m->n_items);
    size_t total = (size_t)m->n_items * m->n_items;
    for (size_t done = 0; done < total && !w.err;) {
        size_t take = total - done < IO_FLOATS ? total - done : IO_FLOATS;
        for (size_t i = 0; i < take; i++)
            put_le(buf + 4 * i, f32_bits(m->b[done + i]), 4);
        w_bytes(&w, buf, 4 * take);
        done += take;
    }
    unsigned char sum[8];
    put_le(sum, w.h, 8);
    w_bytes(&w, sum, 8);
    free(buf);
    if (w.err || fflush(f) != 0 || ferror(f))
        return REC_EIO;
    return REC_OK;
}

struct reader {
    FILE *f;
    uint64_t h;
    int rc; /* first error: REC_EFORMAT (short file or bad content), REC_EIO, REC_ENOMEM */
};

static void r_bytes(struct reader *r, void *p, size_t n)
{
    if (r->rc)
        return;
    if (fread(p, 1, n, r->f) != n) {
        r->rc = ferror(r->f) ? REC_EIO : REC_EFORMAT;
        return;
    }
    r->h = fnv1a(r->h, p, n);
}

static uint32_t r_u32(struct reader *r)
{
    unsigned char b[4] = {0};
    r_bytes(r, b, 4);
    return (uint32_t)get_le(b, 4);
}

static void fail(struct reader *r, int rc)
{
    if (!r->rc)
        r->rc = rc;
}

/* Reads n finite floats into a new array (caller frees; NULL on error), growing it only as the
 * bytes arrive. */
static float *r_matrix(struct reader *r, size_t n)
{
    unsigned char *buf = malloc(4 * IO_FLOATS);
    size_t cap = n < IO_FLOATS ? n + 1 : IO_FLOATS, got = 0;
    float *v = malloc(cap * sizeof *v);
    if (!buf || !v)
        fail(r, REC_ENOMEM);
    while (got < n && !r->rc) {
        size_t take = n - got < IO_FLOATS ? n - got : IO_FLOATS;
        r_bytes(r, buf, 4 * take);
        if (r->rc)
            break;
        if (got + take > cap) {
            size_t c = cap;
            while (c < got + take)
                c = c < n / 2 ? c * 2 : n;
            float *nv = realloc(v, c * sizeof *v);
            if (!nv) {
                fail(r, REC_ENOMEM);
                break;
            }
            v = nv;
            cap = c;
        }
        for (size_t i = 0; i < take; i++) {
            v[got + i] = bits_f32((uint32_t)get_le(buf + 4 * i, 4));
            if (!isfinite(v[got + i]))
                fail(r, REC_EFORMAT);
        }
        got += take;
    }
    free(buf);
    if (r->rc) {
        free(v);
        return NULL;
    }
    return v;
}

/* Returns 0, REC_EINVAL (NULL f/out), REC_EFORMAT (short file, bad magic, version, params, size,
 * a non-finite weight, or a checksum mismatch), REC_EIO or REC_ENOMEM. Reads exactly the bytes
 * save wrote. Thread-safe for distinct f. */
static int ease_load(FILE *f, struct rec_model **out)
{
    if (!f || !out)
        return REC_EINVAL;
    *out = NULL;
    struct reader r = {.f = f, .h = FNV_OFFSET, .rc = REC_OK};
    char magic[sizeof MAGIC];
    r_bytes(&r, magic, sizeof magic);
    if (!r.rc && memcmp(magic, MAGIC, sizeof MAGIC) != 0)
        fail(&r, REC_EFORMAT);
    if (r_u32(&r) != FORMAT_VERSION)
        fail(&r, REC_EFORMAT);
    double p[REC_EASE_N_PARAMS];
    p[REC_EASE_LAMBDA] = bits_f32(r_u32(&r));
    p[REC_EASE_BINARY] = r_u32(&r);
    p[REC_EASE_MAX_ITEMS] = r_u32(&r);
    uint32_t n = r_u32(&r);
    if (!r.rc && (check_params(p) || n > p[REC_EASE_MAX_ITEMS]))
        fail(&r, REC_EFORMAT);
    float *b = NULL;
    if (!r.rc)
        b = r_matrix(&r, (size_t)n * n);
    uint64_t want = r.h;
    unsigned char sum[8] = {0};
    r_bytes(&r, sum, 8);
    if (!r.rc && get_le(sum, 8) != want)
        fail(&r, REC_EFORMAT);
    struct rec_ease *m = NULL;
    if (!r.rc && !(m = calloc(1, sizeof *m)))
        fail(&r, REC_ENOMEM);
    if (r.rc) {
        free(b);
        return r.rc;
    }
    m->lambda = (float)p[REC_EASE_LAMBDA];
    m->binary = (int)p[REC_EASE_BINARY];
    m->max_items = (int32_t)p[REC_EASE_MAX_ITEMS];
    m->n_items = (int32_t)n;
    m->b = b;
    *out = (struct rec_model *)m;
    return REC_OK;
}

const struct rec_model_type rec_model_ease = {
    .name = "ease",
    .summary = "EASE: closed-form item-item autoencoder (Steck 2019); dense n_items^2 weights",
    .params = PARAMS,
    .n_params = REC_EASE_N_PARAMS,
    .fit = ease_fit,
    .destroy = ease_destroy,
    .score = ease_score,
    .similar = ease_similar,
    .save = ease_save,
    .load = ease_load,
};
