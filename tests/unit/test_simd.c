/* test_simd.c: the vector kernels of src/model/simd.h against plain double-precision loops, for
 * every k the fast paths special-case and some they do not. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/rand.h"
#include "model/simd.h"

#define ROWS 300

static const int ks[] = {1, 7, 8, 16, 24, 32, 48, 64, 80, 96, 100, 128, 129, 200};

static float unit(uint64_t *st) { return (float)((double)(rec_splitmix64(st) >> 11) * 0x1p-53 * 2 - 1); }

static float *random_floats(uint64_t *st, size_t n)
{
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = unit(st);
    return v;
}

/* |got - want| within a float rounding budget for sums of m terms of size about scale. */
static void assert_close(double got, double want, int m, double scale)
{
    assert_true(fabs(got - want) <= 1e-5 * m * scale + 1e-6);
}

static void test_dot_axpy_wsum(void **state)
{
    (void)state;
    uint64_t st = 7;
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t];
        float *a = random_floats(&st, (size_t)ROWS * k), *x = random_floats(&st, (size_t)k);
        float *w = random_floats(&st, ROWS), *out = random_floats(&st, (size_t)k);
        int32_t rows[ROWS];
        for (int e = 0; e < ROWS; e++)
            rows[e] = (int32_t)(rec_splitmix64(&st) % ROWS);
        double d = 0;
        for (int j = 0; j < k; j++)
            d += (double)a[j] * x[j];
        assert_close(rec_simd_dot(a, x, k), d, k, 1);
        double *want = calloc((size_t)k, sizeof *want);
        for (int j = 0; j < k; j++) {
            want[j] = out[j];
            for (int e = 0; e < ROWS; e++)
                want[j] += (double)w[e] * a[(size_t)rows[e] * k + j];
        }
        rec_simd_rows_wsum(a, rows, w, ROWS, k, out);
        for (int j = 0; j < k; j++)
            assert_close(out[j], want[j], ROWS, 1);
        free(want);
        free(a);
        free(x);
        free(w);
        free(out);
    }
}

/* out += sum_e (c_e (s0 + s1 a_e.v) + t0) a_e, in both forms cg_row uses. */
static void test_rows_dot_wsum(void **state)
{
    (void)state;
    uint64_t st = 11;
    const float forms[2][3] = {{1.0f, -1.0f, 1.0f}, {0.0f, 1.0f, 0.0f}};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t];
        for (int f = 0; f < 2; f++) {
            for (int n = 0; n <= ROWS; n += ROWS / 3) {
                float *a = random_floats(&st, (size_t)ROWS * k), *v = random_floats(&st, (size_t)k);
                float *c = random_floats(&st, ROWS), *out = random_floats(&st, (size_t)k);
                float *w = malloc(ROWS * sizeof *w);
                int32_t rows[ROWS];
                for (int e = 0; e < ROWS; e++)
                    rows[e] = (int32_t)(rec_splitmix64(&st) % ROWS);
                double *want = calloc((size_t)k, sizeof *want);
                for (int j = 0; j < k; j++)
                    want[j] = out[j];
                for (int e = 0; e < n; e++) {
                    const float *r = a + (size_t)rows[e] * k;
                    double d = 0;
                    for (int j = 0; j < k; j++)
                        d += (double)r[j] * v[j];
                    double we = c[e] * (forms[f][0] + forms[f][1] * d) + forms[f][2];
                    for (int j = 0; j < k; j++)
                        want[j] += we * r[j];
                }
                rec_simd_rows_dot_wsum(a, rows, c, n, k, v, forms[f][0], forms[f][1], forms[f][2], w, out);
                for (int j = 0; j < k; j++)
                    assert_close(out[j], want[j], n + k, k > 16 ? sqrt(k) : 4);
                free(want);
                free(a);
                free(v);
                free(c);
                free(out);
                free(w);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_axpy_wsum),
        cmocka_unit_test(test_rows_dot_wsum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
