/* linalg.c: glue to OpenBLAS (cblas) and LAPACKE, plus plain-C reference versions.
 *
 * This is the only file of recd that includes cblas.h / lapacke.h. BLAS takes int sizes, so
 * row counts above INT_MAX are processed in slices. The reference versions accumulate in double
 * and are meant for tests, not speed.
 *
 * Thread-safety: every routine is reentrant (no shared state) except rec_linalg_set_blas_threads,
 * which changes OpenBLAS's process-wide thread count.
 */
#include "model/linalg.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* Largest row slice handed to one BLAS call. */
#define SLICE_ROWS ((int64_t)INT_MAX)

static void mirror_upper(float *g, int k)
{
    for (int i = 0; i < k; i++)
        for (int j = 0; j < i; j++)
            g[(size_t)i * k + j] = g[(size_t)j * k + i];
}

/* ssyrk fills the upper triangle of G (row-major) with A'A; the lower one is mirrored. */
void rec_linalg_gram(const float *a, int64_t n, int k, float *g)
{
    if (k <= 0)
        return;
    if (n <= 0) {
        memset(g, 0, (size_t)k * k * sizeof *g);
        return;
    }
    for (int64_t r = 0; r < n; r += SLICE_ROWS) {
        int64_t rows = n - r < SLICE_ROWS ? n - r : SLICE_ROWS;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, k, (int)rows, 1.0f,
                    a + (size_t)r * k, k, r == 0 ? 0.0f : 1.0f, g, k);
    }
    mirror_upper(g, k);
}

void rec_linalg_gram_ref(const float *a, int64_t n, int k, float *g)
{
    for (int i = 0; i < k; i++) {
        for (int j = i; j < k; j++) {
            double s = 0.0;
            for (int64_t r = 0; r < n; r++)
                s += (double)a[(size_t)r * k + i] * a[(size_t)r * k + j];
            g[(size_t)i * k + j] = (float)s;
        }
    }
    mirror_upper(g, k);
}

void rec_linalg_gemv(const float *a, int64_t n, int k, const float *x, float *y)
{
    if (n <= 0)
        return;
    if (k <= 0) {
        memset(y, 0, (size_t)n * sizeof *y);
        return;
    }
    for (int64_t r = 0; r < n; r += SLICE_ROWS) {
        int64_t rows = n - r < SLICE_ROWS ? n - r : SLICE_ROWS;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, k, 1.0f, a + (size_t)r * k, k, x, 1,
                    0.0f, y + r, 1);
    }
}

void rec_linalg_gemv_ref(const float *a, int64_t n, int k, const float *x, float *y)
{
    for (int64_t r = 0; r < n; r++) {
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += (double)a[(size_t)r * k + j] * x[j];
        y[r] = (float)s;
    }
}

void rec_linalg_gemm_nt(const float *a, int n, const float *b, int m, int k, float *c)
{
    if (n <= 0 || m <= 0)
        return;
    if (k <= 0) {
        memset(c, 0, (size_t)n * m * sizeof *c);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, a, k, b, k, 0.0f, c, m);
}

void rec_linalg_gemm_nt_ref(const float *a, int n, const float *b, int m, int k, float *c)
{
    for (int r = 0; r < n; r++)
        for (int q = 0; q < m; q++) {
            double s = 0.0;
            for (int j = 0; j < k; j++)
                s += (double)a[(size_t)r * k + j] * b[(size_t)q * k + j];
            c[(size_t)r * m + q] = (float)s;
        }
}

float rec_linalg_dot(const float *x, const float *y, int k)
{
    return k > 0 ? cblas_sdot(k, x, 1, y, 1) : 0.0f;
}

/* S is symmetric, so the row-major matrix is also its own column-major image: calling LAPACK
 * in column-major order avoids the transposed copy (and its malloc) that LAPACKE's row-major
 * path makes. The _work variants skip LAPACKE's O(k^2) NaN scan; a NaN makes spotrf fail or
 * propagates into x, which the finiteness check below turns into REC_EINVAL. */
int rec_linalg_solve_spd(float *s, float *b, int k)
{
    if (k <= 0)
        return REC_EINVAL;
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', k, s, k);
    if (info != 0)
        return REC_EINVAL;
    info = LAPACKE_spotrs_work(LAPACK_COL_MAJOR, 'L', k, 1, s, k, b, k);
    if (info != 0)
        return REC_EINVAL;
    for (int i = 0; i < k; i++)
        if (!isfinite(b[i]))
            return REC_EINVAL;
    return REC_OK;
}

/* Cholesky S = L L' in double (L stored in the lower triangle of s), then two triangular
 * solves. */
int rec_linalg_solve_spd_ref(float *s, float *b, int k)
{
    if (k <= 0)
        return REC_EINVAL;
    for (int j = 0; j < k; j++) {
        double d = s[(size_t)j * k + j];
        for (int p = 0; p < j; p++)
            d -= (double)s[(size_t)j * k + p] * s[(size_t)j * k + p];
        if (!(d > 0.0) || !isfinite(d))
            return REC_EINVAL;
        double ljj = sqrt(d);
        s[(size_t)j * k + j] = (float)ljj;
        for (int i = j + 1; i < k; i++) {
            double v = s[(size_t)i * k + j];
            for (int p = 0; p < j; p++)
                v -= (double)s[(size_t)i * k + p] * s[(size_t)j * k + p];
            s[(size_t)i * k + j] = (float)(v / ljj);
        }
    }
    for (int i = 0; i < k; i++) { /* L z = b */
        double v = b[i];
        for (int p = 0; p < i; p++)
            v -= (double)s[(size_t)i * k + p] * b[p];
        b[i] = (float)(v / s[(size_t)i * k + i]);
    }
    for (int i = k - 1; i >= 0; i--) { /* L' x = z */
        double v = b[i];
        for (int p = i + 1; p < k; p++)
            v -= (double)s[(size_t)p * k + i] * b[p];
        b[i] = (float)(v / s[(size_t)i * k + i]);
    }
    for (int i = 0; i < k; i++)
        if (!isfinite(b[i]))
            return REC_EINVAL;
    return REC_OK;
}

static pthread_once_t initial_once = PTHREAD_ONCE_INIT;
static int initial_threads = 1;

static void capture_initial(void)
{
    initial_threads = openblas_get_num_threads();
    if (initial_threads < 1)
        initial_threads = 1;
}

/* See linalg.h. Process-wide: concurrent callers race on the value, never on memory. */
int rec_linalg_set_blas_threads(int n)
{
    pthread_once(&initial_once, capture_initial);
    int prev = openblas_get_num_threads();
    openblas_set_num_threads(n >= 1 ? n : initial_threads);
    return prev;
}

/* ---- SPD inverse ---------------------------------------------------------------------------- */

#define MIRROR_TILE 64

/* Copies the upper triangle of the n x n row-major matrix into the lower one, tile by tile so
 * both the rows read and the columns written stay in cache (n can be tens of thousands). */
static void mirror_upper_tiled(float *s, int n)
{
    for (int i0 = 0; i0 < n; i0 += MIRROR_TILE) {
        int i1 = n - i0 < MIRROR_TILE ? n : i0 + MIRROR_TILE;
        for (int j0 = 0; j0 <= i0; j0 += MIRROR_TILE) {
            int j1 = n - j0 < MIRROR_TILE ? n : j0 + MIRROR_TILE;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1 && j < i; j++)
                    s[(size_t)i * n + j] = s[(size_t)j * n + i];
        }
    }
}

static int all_finite(const float *s, int n)
{
    size_t nn = (size_t)n * (size_t)n;
    int ok = 1;
    for (size_t i = 0; i < nn; i++)
        ok &= isfinite(s[i]) != 0; /* no early exit: keeps the loop vectorizable */
    return ok;
}

/* Row-major upper triangle = column-major lower triangle, so LAPACK runs on s as it is (no
 * transposed copy). The _work variants skip LAPACKE's O(n^2) NaN scan; all_finite catches NaN
 * and overflow afterwards. */
int rec_linalg_spd_inverse(float *s, int n)
{
    if (n < 0 || (n > 0 && !s))
        return REC_EINVAL;
    if (n == 0)
        return REC_OK;
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', n, s, n);
    if (info != 0)
        return REC_EINVAL;
    info = LAPACKE_spotri_work(LAPACK_COL_MAJOR, 'L', n, s, n);
    if (info != 0)
        return REC_EINVAL;
    mirror_upper_tiled(s, n);
    return all_finite(s, n) ? REC_OK : REC_EINVAL;
}

/* Cholesky S = L L' in double, then column c of the inverse by solving L L' x = e_c for each c.
 * O(n^3) with O(n^2) doubles of scratch: for tests only. */
int rec_linalg_spd_inverse_ref(float *s, int n)
{
    if (n < 0 || (n > 0 && !s))
        return REC_EINVAL;
    if (n == 0)
        return REC_OK;
    size_t nn = (size_t)n * (size_t)n;
    double *l = calloc(nn, sizeof *l), *x = malloc((size_t)n * sizeof *x);
    if (!l || !x) {
        free(l);
        free(x);
        return REC_ENOMEM;
    }
    int rc = REC_OK;
    for (int j = 0; j < n && rc == REC_OK; j++) { /* l[i][j] for i >= j; S read from upper */
        double d = s[(size_t)j * n + j];
        for (int p = 0; p < j; p++)
            d -= l[(size_t)j * n + p] * l[(size_t)j * n + p];
        if (!(d > 0.0) || !isfinite(d)) {
            rc = REC_EINVAL;
            break;
        }
        double ljj = sqrt(d);
        l[(size_t)j * n + j] = ljj;
        for (int i = j + 1; i < n; i++) {
            double v = s[(size_t)j * n + i];
            for (int p = 0; p < j; p++)
                v -= l[(size_t)i * n + p] * l[(size_t)j * n + p];
            l[(size_t)i * n + j] = v / ljj;
        }
    }
    for (int c = 0; c < n && rc == REC_OK; c++) {
        for (int i = 0; i < n; i++) { /* L z = e_c */
            double v = i == c ? 1.0 : 0.0;
            for (int p = 0; p < i; p++)
                v -= l[(size_t)i * n + p] * x[p];
            x[i] = v / l[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) { /* L' x = z */
            double v = x[i];
            for (int p = i + 1; p < n; p++)
                v -= l[(size_t)p * n + i] * x[p];
            x[i] = v / l[(size_t)i * n + i];
        }
        for (int i = 0; i < n; i++) /* column c; S's upper triangle is no longer needed */
            s[(size_t)i * n + c] = (float)x[i];
    }
    free(l);
    free(x);
    if (rc == REC_OK && !all_finite(s, n))
        rc = REC_EINVAL;
    return rc;
}
