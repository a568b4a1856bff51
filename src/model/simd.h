/* simd.h: the few vector kernels the factor models spend their time in (dot, axpy, and a
 * symmetric matrix-vector product), inline so they fuse into the callers' loops.
 *
 * With AVX-512 or AVX2+FMA (enabled by -march=native on such a CPU) they use intrinsics: the
 * compiler cannot vectorize a float sum without permission to reassociate it, and its generic
 * horizontal sum goes through memory. Elsewhere they are plain loops. Results may differ in the
 * last bits between the variants (summation order), never more.
 */
#ifndef REC_MODEL_SIMD_H
#define REC_MODEL_SIMD_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

static inline float rec_simd_dot(const float *restrict x, const float *restrict y, int k)
{
    int j = 0;
    float s = 0.0f;
#if defined(__AVX512F__)
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (; j + 32 <= k; j += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 16), _mm512_loadu_ps(y + j + 16), a1);
    }
    for (; j + 16 <= k; j += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j), a0);
    s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; j + 16 <= k; j += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(y + j + 8), a1);
    }
    for (; j + 8 <= k; j += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), a0);
    a0 = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    s = _mm_cvtss_f32(h);
#endif
    for (; j < k; j++)
        s += x[j] * y[j];
    return s;
}

/* y += a x */
static inline void rec_simd_axpy(float a, const float *restrict x, float *restrict y, int k)
{
    int j = 0;
#if defined(__AVX512F__)
    __m512 va = _mm512_set1_ps(a);
    for (; j + 16 <= k; j += 16)
        _mm512_storeu_ps(y + j, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j)));
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 va = _mm256_set1_ps(a);
    for (; j + 8 <= k; j += 8)
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
#endif
    for (; j < k; j++)
        y[j] += a * x[j];
}

/* out[j] += sum over e < n of w[e] * a[rows[e] * k + j]: a weighted sum of selected rows of a
 * (A' w over a row subset). Blocks of k are held in registers across all rows, so no store is
 * reloaded in the loop; axpy row by row would wait on its own stores. */
static inline void rec_simd_rows_wsum(const float *restrict a, const int32_t *restrict rows,
                                      const float *restrict w, int64_t n, int k, float *restrict out)
{
    int j = 0;
#if defined(__AVX512F__)
    for (; j + 64 <= k; j += 64) {
        __m512 s0 = _mm512_loadu_ps(out + j), s1 = _mm512_loadu_ps(out + j + 16);
        __m512 s2 = _mm512_loadu_ps(out + j + 32), s3 = _mm512_loadu_ps(out + j + 48);
        for (int64_t e = 0; e < n; e++) {
            const float *r = a + (size_t)rows[e] * k + j;
            __m512 we = _mm512_set1_ps(w[e]);
            s0 = _mm512_fmadd_ps(we, _mm512_loadu_ps(r), s0);
            s1 = _mm512_fmadd_ps(we, _mm512_loadu_ps(r + 16), s1);
            s2 = _mm512_fmadd_ps(we, _mm512_loadu_ps(r + 32), s2);
            s3 = _mm512_fmadd_ps(we, _mm512_loadu_ps(r + 48), s3);
        }
        _mm512_storeu_ps(out + j, s0);
        _mm512_storeu_ps(out + j + 16, s1);
        _mm512_storeu_ps(out + j + 32, s2);
        _mm512_storeu_ps(out + j + 48, s3);
    }
    for (; j + 16 <= k; j += 16) {
        __m512 s0 = _mm512_loadu_ps(out + j);
        for (int64_t e = 0; e < n; e++)
            s0 = _mm512_fmadd_ps(_mm512_set1_ps(w[e]), _mm512_loadu_ps(a + (size_t)rows[e] * k + j), s0);
        _mm512_storeu_ps(out + j, s0);
    }
#elif defined(__AVX2__) && defined(__FMA__)
    for (; j + 32 <= k; j += 32) {
        __m256 s0 = _mm256_loadu_ps(out + j), s1 = _mm256_loadu_ps(out + j + 8);
        __m256 s2 = _mm256_loadu_ps(out + j + 16), s3 = _mm256_loadu_ps(out + j + 24);
        for (int64_t e = 0; e < n; e++) {
            const float *r = a + (size_t)rows[e] * k + j;
            __m256 we = _mm256_set1_ps(w[e]);
            s0 = _mm256_fmadd_ps(we, _mm256_loadu_ps(r), s0);
            s1 = _mm256_fmadd_ps(we, _mm256_loadu_ps(r + 8), s1);
            s2 = _mm256_fmadd_ps(we, _mm256_loadu_ps(r + 16), s2);
            s3 = _mm256_fmadd_ps(we, _mm256_loadu_ps(r + 24), s3);
        }
        _mm256_storeu_ps(out + j, s0);
        _mm256_storeu_ps(out + j + 8, s1);
        _mm256_storeu_ps(out + j + 16, s2);
        _mm256_storeu_ps(out + j + 24, s3);
    }
#endif
    for (; j < k; j++) {
        float s = out[j];
        for (int64_t e = 0; e < n; e++)
            s += w[e] * a[(size_t)rows[e] * k + j];
        out[j] = s;
    }
}


#if defined(__AVX512F__)
/* The fused pass of rec_simd_rows_dot_wsum for k = 16 * K16 (K16 <= 8): v and the sum stay in
 * registers while each row is loaded once. */
static inline __attribute__((always_inline)) void
rec_simd_dot_wsum_512(const float *restrict a, const int32_t *restrict rows, const float *restrict c,
                      int64_t n, const int K16, const float *restrict v, float s0, float s1,
                      float t0, float *restrict out)
{
    __m512 vv[8], acc[8];
#pragma GCC unroll 8
    for (int q = 0; q < K16; q++) {
        vv[q] = _mm512_loadu_ps(v + 16 * q);
        acc[q] = _mm512_loadu_ps(out + 16 * q);
    }
    for (int64_t e = 0; e < n; e++) {
        const float *r = a + (size_t)rows[e] * (size_t)(16 * K16);
        __m512 y[8], d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int q = 0; q < K16; q++) {
            y[q] = _mm512_loadu_ps(r + 16 * q);
            if (q & 1)
                d1 = _mm512_fmadd_ps(y[q], vv[q], d1);
            else
                d0 = _mm512_fmadd_ps(y[q], vv[q], d0);
        }
        float w = c[e] * (s0 + s1 * _mm512_reduce_add_ps(_mm512_add_ps(d0, d1))) + t0;
        __m512 we = _mm512_set1_ps(w);
#pragma GCC unroll 8
        for (int q = 0; q < K16; q++)
            acc[q] = _mm512_fmadd_ps(we, y[q], acc[q]);
    }
#pragma GCC unroll 8
    for (int q = 0; q < K16; q++)
        _mm512_storeu_ps(out + 16 * q, acc[q]);
}
#endif

/* out[j] += sum over e < n of w_e * a[rows[e] * k + j] with w_e = c[e] (s0 + s1 d_e) + t0 and
 * d_e = a[rows[e] * k ..] . v: the rows' dots with v, then their weighted sum, as iALS applies
 * sum_e c_e (y_e . v) y_e. With AVX-512 and k a multiple of 16 up to 128 each row is read once
 * (the dot and the update in one pass, v and the sum in registers); elsewhere, or for other k,
 * the dots go to the scratch w[0..n) first and rec_simd_rows_wsum makes the sum. */
static inline void rec_simd_rows_dot_wsum(const float *restrict a, const int32_t *restrict rows,
                                          const float *restrict c, int64_t n, int k,
                                          const float *restrict v, float s0, float s1, float t0,
                                          float *restrict w, float *restrict out)
{
#if defined(__AVX512F__)
    switch (k) {
    case 32:
        rec_simd_dot_wsum_512(a, rows, c, n, 2, v, s0, s1, t0, out);
        return;
    case 48:
        rec_simd_dot_wsum_512(a, rows, c, n, 3, v, s0, s1, t0, out);
        return;
    case 64:
        rec_simd_dot_wsum_512(a, rows, c, n, 4, v, s0, s1, t0, out);
        return;
    case 96:
        rec_simd_dot_wsum_512(a, rows, c, n, 6, v, s0, s1, t0, out);
        return;
    case 128:
        rec_simd_dot_wsum_512(a, rows, c, n, 8, v, s0, s1, t0, out);
        return;
    default:
        break;
    }
#endif
    for (int64_t e = 0; e < n; e++)
        w[e] = c[e] * (s0 + s1 * rec_simd_dot(a + (size_t)rows[e] * (size_t)k, v, k)) + t0;
    rec_simd_rows_wsum(a, rows, w, n, k, out);
}

#endif
