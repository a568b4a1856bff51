/* test_csr.c: building CSR from triplets and transposing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/csr.h"

static void assert_csr_equal(const struct rec_csr *a, const struct rec_csr *b)
{
    assert_int_equal(a->n_rows, b->n_rows);
    assert_int_equal(a->n_cols, b->n_cols);
    assert_memory_equal(a->indptr, b->indptr, ((size_t)a->n_rows + 1) * sizeof *a->indptr);
    int64_t nnz = a->indptr[a->n_rows];
    if (nnz > 0) {
        assert_memory_equal(a->indices, b->indices, (size_t)nnz * sizeof *a->indices);
        assert_memory_equal(a->values, b->values, (size_t)nnz * sizeof *a->values);
    }
}

static void test_from_triplets_sums_and_sorts(void **state)
{
    const struct rec_triplet t[] = {
        {2, 3, 1.0f}, {0, 4, 2.0f}, {2, 0, 0.5f}, {0, 1, 1.0f},
        {2, 3, 2.5f}, {0, 4, 1.0f}, {2, 3, 1.0f}, {3, 2, -1.0f},
    };
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 4, 5, t, 8), REC_OK);
    assert_int_equal(m.n_rows, 4);
    assert_int_equal(m.n_cols, 5);
    const int64_t indptr[] = {0, 2, 2, 4, 5};
    const int32_t indices[] = {1, 4, 0, 3, 2};
    const float values[] = {1.0f, 3.0f, 0.5f, 4.5f, -1.0f};
    assert_memory_equal(m.indptr, indptr, sizeof indptr);
    assert_memory_equal(m.indices, indices, sizeof indices);
    assert_memory_equal(m.values, values, sizeof values);
    rec_csr_free(&m);
    assert_null(m.indptr);
}

static void test_from_triplets_long_row_sorted(void **state)
{
    /* one row long enough to take the shell-sort path, with many duplicates */
    enum { N = 5000, COLS = 700 };
    struct rec_triplet *t = malloc(N * sizeof *t);
    float want[COLS] = {0};
    uint32_t s = 7;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        int32_t c = (int32_t)((s >> 8) % COLS);
        t[i] = (struct rec_triplet){0, c, 1.0f};
        want[c] += 1.0f;
    }
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 1, COLS, t, N), REC_OK);
    int64_t nnz = m.indptr[1];
    float total = 0;
    for (int64_t e = 0; e < nnz; e++) {
        if (e > 0)
            assert_true(m.indices[e - 1] < m.indices[e]);
        assert_true(m.values[e] == want[m.indices[e]]);
        total += m.values[e];
    }
    assert_true(total == (float)N);
    int distinct = 0;
    for (int c = 0; c < COLS; c++)
        distinct += want[c] > 0;
    assert_int_equal(nnz, distinct);
    rec_csr_free(&m);
    free(t);
}

static void test_from_triplets_edge_cases(void **state)
{
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 3, 2, NULL, 0), REC_OK);
    assert_int_equal(m.indptr[3], 0);
    rec_csr_free(&m);
    assert_int_equal(rec_csr_from_triplets(&m, 0, 0, NULL, 0), REC_OK);
    assert_int_equal(m.indptr[0], 0);
    rec_csr_free(&m);

    const struct rec_triplet bad_col[] = {{0, 2, 1.0f}};
    const struct rec_triplet bad_row[] = {{-1, 0, 1.0f}};
    assert_int_equal(rec_csr_from_triplets(&m, 1, 2, bad_col, 1), REC_EINVAL);
    assert_int_equal(rec_csr_from_triplets(&m, 1, 2, bad_row, 1), REC_EINVAL);
    assert_int_equal(rec_csr_from_triplets(&m, -1, 2, NULL, 0), REC_EINVAL);
    assert_null(m.indptr);
}

static void test_transpose_round_trip(void **state)
{
    enum { R = 60, C = 45, N = 900 };
    struct rec_triplet t[N];
    uint32_t s = 99;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        t[i] = (struct rec_triplet){(int32_t)((s >> 4) % R), (int32_t)((s >> 16) % C),
                                    (float)(i % 7) + 0.25f};
    }
    struct rec_csr m, mt, mtt;
    assert_int_equal(rec_csr_from_triplets(&m, R, C, t, N), REC_OK);
    assert_int_equal(rec_csr_transpose(&m, &mt), REC_OK);
    assert_int_equal(mt.n_rows, C);
    assert_int_equal(mt.n_cols, R);
    assert_int_equal(mt.indptr[C], m.indptr[R]);

    /* every entry (r, c, v) of m is (c, r, v) of mt, and mt's rows are sorted */
    for (int32_t r = 0; r < R; r++) {
        for (int64_t e = m.indptr[r]; e < m.indptr[r + 1]; e++) {
            int32_t c = m.indices[e];
            int found = 0;
            for (int64_t f = mt.indptr[c]; f < mt.indptr[c + 1]; f++) {
                if (f > mt.indptr[c])
                    assert_true(mt.indices[f - 1] < mt.indices[f]);
                if (mt.indices[f] == r) {
                    assert_true(mt.values[f] == m.values[e]);
                    found++;
                }
            }
            assert_int_equal(found, 1);
        }
    }

    assert_int_equal(rec_csr_transpose(&mt, &mtt), REC_OK);
    assert_csr_equal(&m, &mtt);

    /* transposing the triplets directly gives the same CSR as transposing the CSR */
    struct rec_triplet tt[N];
    for (int i = 0; i < N; i++)
        tt[i] = (struct rec_triplet){t[i].col, t[i].row, t[i].value};
    struct rec_csr direct;
    assert_int_equal(rec_csr_from_triplets(&direct, C, R, tt, N), REC_OK);
    /* sums of duplicates may be added in another order; these values are exact in float */
    assert_csr_equal(&direct, &mt);

    rec_csr_free(&direct);
    rec_csr_free(&mtt);
    rec_csr_free(&mt);
    rec_csr_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_triplets_sums_and_sorts),
        cmocka_unit_test(test_from_triplets_long_row_sorted),
        cmocka_unit_test(test_from_triplets_edge_cases),
        cmocka_unit_test(test_transpose_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
