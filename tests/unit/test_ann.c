/* test_ann.c: the IVF index for inner-product top-K: exact agreement with a brute-force scan
 * when every list is probed (zero rows and skipped items included), recall on clustered data
 * with few lists probed (and that it then scans a fraction of the items), determinism across
 * thread counts, bad arguments, empty and all-zero inputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/rand.h"
#include "model/ann.h"
#include "model/simd.h"
#include "serve/topk.h"

static uint64_t rng = 1;

static float uniform(void) { return (float)((rec_splitmix64(&rng) >> 11) * 0x1.0p-53); }

static float gauss(void)
{
    float u = uniform() + 1e-7f, v = uniform();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* n rows of k floats around n_clusters random centers (noise: spread around one, relative), with norms spread over 0.2..2 (like
 * factor rows of items of unequal popularity); every zero_every-th row all zeros (0: none). */
static float *clustered(int32_t n, int k, int n_clusters, float noise, int zero_every)
{
    float *c = malloc((size_t)n_clusters * k * sizeof *c);
    float *y = malloc((size_t)n * k * sizeof *y);
    for (int i = 0; i < n_clusters * k; i++)
        c[i] = gauss();
    for (int32_t i = 0; i < n; i++) {
        const float *ci = c + (size_t)(rec_splitmix64(&rng) % (uint64_t)n_clusters) * k;
        float scale = 0.2f + 1.8f * uniform();
        for (int j = 0; j < k; j++)
            y[(size_t)i * k + j] = zero_every && i % zero_every == 0
                                       ? 0.0f : scale * (ci[j] + noise * gauss()) / sqrtf((float)k);
    }
    free(c);
    return y;
}

/* Brute-force top-K of q over y, skipping skip[i] != 0, with the index's own dot kernel. */
static int exact(const float *y, int32_t n, int k, const float *q, const uint8_t *skip,
                 struct rec_topk_entry *out, int top)
{
    struct rec_topk t;
    rec_topk_init(&t, out, top);
    for (int32_t i = 0; i < n; i++)
        if (!skip || !skip[i])
            rec_topk_push(&t, rec_simd_dot(q, y + (size_t)i * k, k), i);
    return rec_topk_sort(&t);
}

static int approx(const struct rec_ann *a, const float *q, int nprobe, const uint8_t *skip,
                  struct rec_topk_entry *out, int top, int *scanned)
{
    struct rec_topk t;
    rec_topk_init(&t, out, top);
    int rc = rec_ann_search(a, q, nprobe, skip, &t);
    assert_true(rc >= 0);
    if (scanned)
        *scanned = rc;
    return rec_topk_sort(&t);
}

static void test_all_lists_is_exact(void **state)
{
    rng = 7;
    const int32_t n = 3000;
    const int k = 16, top = 25;
    float *y = clustered(n, k, 12, 0.3f, 37);
    uint8_t *skip = calloc((size_t)n, 1);
    for (int32_t i = 0; i < n; i += 5)
        skip[i] = 1;
    struct rec_ann_params p;
    rec_ann_params_default(&p);
    p.n_lists = 40;
    struct rec_ann *a = NULL;
    assert_int_equal(rec_ann_build(y, n, k, &p, &a), 0);
    assert_int_equal(rec_ann_n_items(a), n);
    assert_int_equal(rec_ann_n_lists(a), 40);
    assert_int_equal(rec_ann_dim(a), k);
    assert_true(rec_ann_bytes(a) >= (size_t)n * k * sizeof(float));
    struct rec_topk_entry want[25], got[25];
    for (int qi = 0; qi < 20; qi++) {
        float q[16];
        for (int j = 0; j < k; j++)
            q[j] = gauss();
        for (int pass = 0; pass < 2; pass++) {
            const uint8_t *sk = pass ? skip : NULL;
            int nw = exact(y, n, k, q, sk, want, top), scanned = 0;
            /* nprobe = the number of lists, and anything above it, scans everything */
            int ng = approx(a, q, qi % 2 ? 40 : 1000000, sk, got, top, &scanned);
            assert_int_equal(scanned, n);
            assert_int_equal(ng, nw);
            for (int r = 0; r < nw; r++) {
                assert_int_equal(got[r].idx, want[r].idx);
                assert_true(got[r].score == want[r].score);
                assert_true(!sk || !sk[got[r].idx]);
            }
        }
    }
    /* a zero query: every item ties at 0, so the lowest ids win whatever order lists are in */
    float q[16];
    memset(q, 0, sizeof q);
    int nw = exact(y, n, k, q, NULL, want, top);
    int ng = approx(a, q, 40, NULL, got, top, NULL);
    assert_int_equal(ng, nw);
    for (int r = 0; r < nw; r++)
        assert_int_equal(got[r].idx, want[r].idx);
    rec_ann_destroy(a);
    free(skip);
    free(y);
}

static void test_recall_on_clustered_data(void **state)
{
    rng = 11;
    const int32_t n = 20000;
    const int k = 32, top = 10, queries = 200;
    float *y = clustered(n, k, 64, 1.0f, 0) /* clusters overlap */;
    struct rec_ann_params p;
    rec_ann_params_default(&p);
    struct rec_ann *a = NULL;
    assert_int_equal(rec_ann_build(y, n, k, &p, &a), 0);
    assert_int_equal(rec_ann_n_lists(a), 283); /* auto: 2 sqrt(20000) */
    int64_t hits = 0, scanned_total = 0;
    struct rec_topk_entry want[10], got[10];
    for (int qi = 0; qi < queries; qi++) {
        /* queries like user factors: near some item, with noise */
        const float *near = y + (size_t)(rec_splitmix64(&rng) % (uint64_t)n) * k;
        float q[32];
        for (int j = 0; j < k; j++)
            q[j] = near[j] + 0.5f * gauss() / sqrtf((float)k);
        int nw = exact(y, n, k, q, NULL, want, top), scanned = 0;
        int ng = approx(a, q, 32, NULL, got, top, &scanned);
        assert_int_equal(ng, top);
        scanned_total += scanned;
        for (int r = 0; r < nw; r++)
            for (int s = 0; s < ng; s++)
                hits += got[s].idx == want[r].idx;
    }
    double recall = (double)hits / ((double)queries * top);
    double share = (double)scanned_total / ((double)queries * n);
    print_message("recall@10 %.4f scanning %.1f%% of the items\n", recall, 100 * share);
    assert_true(recall > 0.95); /* 0.985, scanning 6.5%, when written; 0.90 at nprobe 8 */
    assert_true(share < 0.15); /* the point of the index: most items are never scored */
    rec_ann_destroy(a);
    free(y);
}

static void test_deterministic_across_threads(void **state)
{
    rng = 3;
    const int32_t n = 5000;
    const int k = 24, top = 10;
    float *y = clustered(n, k, 30, 0.3f, 0);
    struct rec_ann_params p;
    rec_ann_params_default(&p);
    p.threads = 1;
    struct rec_ann *a1 = NULL, *a2 = NULL, *a3 = NULL;
    assert_int_equal(rec_ann_build(y, n, k, &p, &a1), 0);
    p.threads = 2;
    assert_int_equal(rec_ann_build(y, n, k, &p, &a2), 0);
    p.seed = 43;
    assert_int_equal(rec_ann_build(y, n, k, &p, &a3), 0);
    int differs = 0;
    for (int qi = 0; qi < 50; qi++) {
        float q[24];
        for (int j = 0; j < k; j++)
            q[j] = gauss();
        struct rec_topk_entry g1[10], g2[10], g3[10];
        int s1, s2, s3;
        int n1 = approx(a1, q, 3, NULL, g1, top, &s1);
        int n2 = approx(a2, q, 3, NULL, g2, top, &s2);
        approx(a3, q, 3, NULL, g3, top, &s3);
        assert_int_equal(n1, n2);
        assert_int_equal(s1, s2);
        for (int r = 0; r < n1; r++)
            assert_int_equal(g1[r].idx, g2[r].idx);
        differs |= s1 != s3; /* another seed: other lists */
    }
    assert_true(differs);
    rec_ann_destroy(a1);
    rec_ann_destroy(a2);
    rec_ann_destroy(a3);
    free(y);
}

static void test_bad_arguments(void **state)
{
    float y[8] = {1, 0, 0, 1, 1, 1, -1, 0.5f};
    struct rec_ann_params p;
    rec_ann_params_default(&p);
    assert_null(rec_ann_check_params(&p));
    struct rec_ann *a = (struct rec_ann *)&p; /* must be reset to NULL on failure */
    assert_int_equal(rec_ann_build(y, 4, 2, &p, NULL), REC_EINVAL);
    assert_int_equal(rec_ann_build(NULL, 4, 2, &p, &a), REC_EINVAL);
    assert_null(a);
    assert_int_equal(rec_ann_build(y, -1, 2, &p, &a), REC_EINVAL);
    assert_int_equal(rec_ann_build(y, 4, 0, &p, &a), REC_EINVAL);
    assert_int_equal(rec_ann_build(y, 4, 2, NULL, &a), REC_EINVAL);
    p.iters = 0;
    assert_non_null(rec_ann_check_params(&p));
    assert_int_equal(rec_ann_build(y, 4, 2, &p, &a), REC_EINVAL);
    rec_ann_params_default(&p);
    p.n_lists = -1;
    assert_int_equal(rec_ann_build(y, 4, 2, &p, &a), REC_EINVAL);
    rec_ann_params_default(&p);
    p.n_lists = 100; /* more lists than rows: clamped */
    assert_int_equal(rec_ann_build(y, 4, 2, &p, &a), 0);
    assert_int_equal(rec_ann_n_lists(a), 4);
    struct rec_topk_entry buf[4];
    struct rec_topk t;
    rec_topk_init(&t, buf, 4);
    float q[2] = {1, 1};
    assert_int_equal(rec_ann_search(a, q, 0, NULL, &t), REC_EINVAL);
    assert_int_equal(rec_ann_search(a, NULL, 1, NULL, &t), REC_EINVAL);
    assert_int_equal(rec_ann_search(NULL, q, 1, NULL, &t), REC_EINVAL);
    assert_int_equal(rec_ann_search(a, q, 1, NULL, NULL), REC_EINVAL);
    assert_int_equal(t.n, 0);
    /* one list of one row probed: one item scored */
    assert_int_equal(rec_ann_search(a, q, 1, NULL, &t), 1);
    assert_int_equal(rec_topk_sort(&t), 1);
    assert_int_equal(buf[0].idx, 2); /* (1, 1): the best row, and its own list's centroid */
    rec_ann_destroy(a);
    rec_ann_destroy(NULL);
}

static void test_empty_and_zero(void **state)
{
    struct rec_ann_params p;
    rec_ann_params_default(&p);
    struct rec_ann *a = NULL;
    assert_int_equal(rec_ann_build(NULL, 0, 8, &p, &a), 0);
    assert_int_equal(rec_ann_n_items(a), 0);
    assert_int_equal(rec_ann_n_lists(a), 0);
    struct rec_topk_entry buf[5];
    struct rec_topk t;
    rec_topk_init(&t, buf, 5);
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(rec_ann_search(a, q, 4, NULL, &t), 0);
    assert_int_equal(t.n, 0);
    rec_ann_destroy(a);
    /* all rows zero: no k-means lists, every row still found (score 0, lowest ids first) */
    float z[6 * 8];
    memset(z, 0, sizeof z);
    assert_int_equal(rec_ann_build(z, 6, 8, &p, &a), 0);
    assert_int_equal(rec_ann_n_lists(a), 0);
    assert_int_equal(rec_ann_search(a, q, 1, NULL, &t), 6);
    assert_int_equal(rec_topk_sort(&t), 5);
    for (int r = 0; r < 5; r++) {
        assert_int_equal(buf[r].idx, r);
        assert_true(buf[r].score == 0.0f);
    }
    rec_ann_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_lists_is_exact),
        cmocka_unit_test(test_recall_on_clustered_data),
        cmocka_unit_test(test_deterministic_across_threads),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_empty_and_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
