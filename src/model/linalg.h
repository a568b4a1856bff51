/* linalg.h: the dense math recd needs, the only place that includes cblas.h / lapacke.h.
 * Matrices are row-major float. Each routine has a plain-C reference twin (suffix _ref) that
 * the tests compare against. */
#ifndef REC_MODEL_LINALG_H
#define REC_MODEL_LINALG_H

#include <stdint.h>

/* G = A' A for A (n x k): G is k x k, full (both triangles filled). */
void rec_linalg_gram(const float *a, int64_t n, int k, float *g);
void rec_linalg_gram_ref(const float *a, int64_t n, int k, float *g);
/* y = A x for A (n x k). */
void rec_linalg_gemv(const float *a, int64_t n, int k, const float *x, float *y);
void rec_linalg_gemv_ref(const float *a, int64_t n, int k, const float *x, float *y);
/* C = A B' for A (n x k) and B (m x k): C is n x m, every pair of rows' dot product. */
void rec_linalg_gemm_nt(const float *a, int n, const float *b, int m, int k, float *c);
void rec_linalg_gemm_nt_ref(const float *a, int n, const float *b, int m, int k, float *c);
float rec_linalg_dot(const float *x, const float *y, int k);
/* Solves S x = b for symmetric positive definite S (k x k, overwritten by its factor); b is
 * overwritten with x. Returns 0, or REC_EINVAL when S is not positive definite. */
int rec_linalg_solve_spd(float *s, float *b, int k);
int rec_linalg_solve_spd_ref(float *s, float *b, int k);
/* Sets OpenBLAS's thread count (n >= 1; n <= 0: the count it had before recd first changed it)
 * and returns the count it replaced, so a section brackets itself with
 *     int prev = rec_linalg_set_blas_threads(1); ... rec_linalg_set_blas_threads(prev);
 * and leaves whatever its caller had set: the engine's 1 (requests must not wake BLAS threads)
 * used to be reset to OpenBLAS's default by every training run. */
int rec_linalg_set_blas_threads(int n);

/* Inverts the symmetric positive definite S (n x n, row-major) in place: reads only the upper
 * triangle (the lower one may hold anything on entry) and leaves the full inverse, both
 * triangles. Cholesky (spotrf) then spotri, on as many threads as OpenBLAS is set to. Returns 0,
 * REC_EINVAL (n < 0, S not numerically positive definite, or an inverse that is not finite; S is
 * then garbage), or REC_ENOMEM (the _ref twin only). Reentrant for distinct S. */
int rec_linalg_spd_inverse(float *s, int n);
int rec_linalg_spd_inverse_ref(float *s, int n);

#endif
