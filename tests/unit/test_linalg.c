/* test_linalg.c: BLAS/LAPACK glue against the plain-C reference versions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/linalg.h"

static uint64_t rng_state;

static float urand(void) /* uniform in [-1, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1 << 23)) - 1.0f;
}

static float *rand_matrix(int64_t n, int k)
{
    float *a = malloc((size_t)(n * k + 1) * sizeof *a);
    assert_non_null(a);
    for (int64_t i = 0; i < n * k; i++)
        a[i] = urand();
    return a;
}

/* |a - b| <= tol * (1 + |b|) elementwise */
static void assert_close(const float *a, const float *b, size_t n, float tol)
{
    for (size_t i = 0; i < n; i++) {
        if (!(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i]))))
            fail_msg("element %zu: %.9g vs %.9g", i, (double)a[i], (double)b[i]);
    }
}

static void test_gram_matches_ref(void **state)
{
    const int64_t ns[] = {1, 7, 300, 2000};
    const int ks[] = {1, 3, 17, 64};
    rng_state = 1;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
            int64_t n = ns[a];
            int k = ks[b];
            float *m = rand_matrix(n, k);
            float *g = malloc((size_t)k * k * sizeof *g);
            float *gr = malloc((size_t)k * k * sizeof *gr);
            memset(g, 0x7f, (size_t)k * k * sizeof *g); /* garbage: gram must overwrite all */
            rec_linalg_gram(m, n, k, g);
            rec_linalg_gram_ref(m, n, k, gr);
            assert_close(g, gr, (size_t)k * k, 1e-4f * (float)(n > 10 ? 10 : 1));
            for (int i = 0; i < k; i++) /* symmetric, both triangles */
                for (int j = 0; j < k; j++)
                    assert_true(g[i * k + j] == g[j * k + i]);
            /* a hand-checkable entry: diagonal 0 is the sum of squares of column 0 */
            double ss = 0;
            for (int64_t r = 0; r < n; r++)
                ss += (double)m[r * k] * m[r * k];
            assert_true(fabs(gr[0] - ss) <= 1e-4 * (1 + ss));
            free(m);
            free(g);
            free(gr);
        }
    }
}

static void test_gram_empty_is_zero(void **state)
{
    float g[4] = {1, 2, 3, 4}, a[1] = {0};
    rec_linalg_gram(a, 0, 2, g);
    for (int i = 0; i < 4; i++)
        assert_true(g[i] == 0.0f);
}

static void test_gemv_and_dot_match_ref(void **state)
{
    rng_state = 2;
    const int64_t n = 1000;
    const int k = 37;
    float *a = rand_matrix(n, k);
    float *x = rand_matrix(1, k);
    float *y = malloc((size_t)n * sizeof *y), *yr = malloc((size_t)n * sizeof *yr);
    rec_linalg_gemv(a, n, k, x, y);
    rec_linalg_gemv_ref(a, n, k, x, yr);
    assert_close(y, yr, (size_t)n, 1e-5f);
    for (int64_t r = 0; r < n; r += 97) {
        float d = rec_linalg_dot(a + r * k, x, k);
        assert_true(fabsf(d - yr[r]) <= 1e-5f * (1 + fabsf(yr[r])));
    }
    float e1[3] = {1, 2, 3}, e2[3] = {4, -5, 6};
    assert_true(rec_linalg_dot(e1, e2, 3) == 12.0f);
    free(a);
    free(x);
    free(y);
    free(yr);
}

static void test_gemm_nt_matches_ref(void **state)
{
    rng_state = 5;
    const int n = 300, m = 41, k = 65;
    float *a = rand_matrix(n, k), *b = rand_matrix(m, k);
    float *c = malloc((size_t)n * m * sizeof *c), *cr = malloc((size_t)n * m * sizeof *cr);
    rec_linalg_gemm_nt(a, n, b, m, k, c);
    rec_linalg_gemm_nt_ref(a, n, b, m, k, cr);
    assert_close(c, cr, (size_t)n * m, 1e-5f);
    /* entry (r, q) is the dot of row r of A and row q of B */
    assert_true(fabsf(cr[7 * m + 3] - rec_linalg_dot(a + 7 * k, b + 3 * k, k)) <=
                1e-5f * (1 + fabsf(cr[7 * m + 3])));
    free(a);
    free(b);
    free(c);
    free(cr);
}

static void test_solve_known_system(void **state)
{
    /* S = [[4,2],[2,3]], x = [1,-2]  ->  b = S x = [0,-4] */
    for (int ref = 0; ref < 2; ref++) {
        float s[4] = {4, 2, 2, 3};
        float b[2] = {0, -4};
        int rc = ref ? rec_linalg_solve_spd_ref(s, b, 2) : rec_linalg_solve_spd(s, b, 2);
        assert_int_equal(rc, REC_OK);
        assert_true(fabsf(b[0] - 1.0f) < 1e-6f);
        assert_true(fabsf(b[1] + 2.0f) < 1e-6f);
    }
}

static void test_solve_random_spd(void **state)
{
    rng_state = 3;
    const int ks[] = {1, 5, 64, 200};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t];
        float *b0 = rand_matrix(3 * k, k); /* S = B'B + I is well conditioned enough */
        float *s = malloc((size_t)k * k * sizeof *s), *s2 = malloc((size_t)k * k * sizeof *s2);
        rec_linalg_gram_ref(b0, 3 * k, k, s);
        for (int i = 0; i < k; i++)
            s[i * k + i] += 1.0f;
        float *xt = rand_matrix(1, k);
        float *b = malloc((size_t)k * sizeof *b), *b2 = malloc((size_t)k * sizeof *b2);
        rec_linalg_gemv_ref(s, k, k, xt, b);
        memcpy(b2, b, (size_t)k * sizeof *b);
        memcpy(s2, s, (size_t)k * k * sizeof *s);
        assert_int_equal(rec_linalg_solve_spd(s, b, k), REC_OK);
        assert_int_equal(rec_linalg_solve_spd_ref(s2, b2, k), REC_OK);
        assert_close(b, xt, (size_t)k, 2e-3f);
        assert_close(b2, xt, (size_t)k, 2e-3f);
        assert_close(b, b2, (size_t)k, 2e-3f);
        free(b0);
        free(s);
        free(s2);
        free(xt);
        free(b);
        free(b2);
    }
}

static void test_solve_rejects_non_pd(void **state)
{
    for (int ref = 0; ref < 2; ref++) {
        float s[4] = {1, 2, 2, 1}; /* eigenvalues 3 and -1 */
        float b[2] = {1, 1};
        int rc = ref ? rec_linalg_solve_spd_ref(s, b, 2) : rec_linalg_solve_spd(s, b, 2);
        assert_int_equal(rc, REC_EINVAL);
        float z[4] = {0, 0, 0, 0}; /* singular */
        float b2[2] = {1, 1};
        rc = ref ? rec_linalg_solve_spd_ref(z, b2, 2) : rec_linalg_solve_spd(z, b2, 2);
        assert_int_equal(rc, REC_EINVAL);
        float neg[1] = {-2};
        float b3[1] = {1};
        rc = ref ? rec_linalg_solve_spd_ref(neg, b3, 1) : rec_linalg_solve_spd(neg, b3, 1);
        assert_int_equal(rc, REC_EINVAL);
    }
}

static void test_blas_threads_set_and_restore(void **state)
{
    /* Only checks that bracketing works and BLAS still computes afterwards. */
    rec_linalg_set_blas_threads(1);
    float a[4] = {1, 2, 3, 4}, g[4];
    rec_linalg_gram(a, 2, 2, g); /* [[1,2],[3,4]]' [[1,2],[3,4]] = [[10,14],[14,20]] */
    rec_linalg_set_blas_threads(0);
    assert_true(g[0] == 10.0f && g[1] == 14.0f && g[2] == 14.0f && g[3] == 20.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gram_matches_ref),
        cmocka_unit_test(test_gram_empty_is_zero),
        cmocka_unit_test(test_gemv_and_dot_match_ref),
        cmocka_unit_test(test_gemm_nt_matches_ref),
        cmocka_unit_test(test_solve_known_system),
        cmocka_unit_test(test_solve_random_spd),
        cmocka_unit_test(test_solve_rejects_non_pd),
        cmocka_unit_test(test_blas_threads_set_and_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
