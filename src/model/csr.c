/* csr.c: building and transposing compressed sparse rows.
 *
 * Both builders are counting sorts: O(n + n_rows) time, one pass to count, one to place. Columns
 * inside a row are then sorted (rows are short in recommendation data, so a per-row insertion
 * sort beats a global qsort) and duplicates are summed in place.
 */
#include "model/csr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* malloc that never returns NULL for a zero-size request, so "n == 0" is not an error. */
static void *alloc_n(size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / size)
        return NULL;
    return malloc(n * size);
}

void rec_csr_free(struct rec_csr *m)
{
    if (!m)
        return;
    free(m->indptr);
    free(m->indices);
    free(m->values);
    memset(m, 0, sizeof *m);
}

/* Sorts one row's (col, value) pairs by column: insertion sort for short rows, shell sort
 * (gap sequence 3h+1) above that so a pathological row of a million entries stays O(n^1.5). */
static void sort_row(int32_t *col, float *val, int64_t n)
{
    int64_t gap = 1;
    if (n > 32)
        while (gap < n / 3)
            gap = 3 * gap + 1;
    for (; gap >= 1; gap /= 3) {
        for (int64_t i = gap; i < n; i++) {
            int32_t c = col[i];
            float v = val[i];
            int64_t j = i;
            while (j >= gap && col[j - gap] > c) {
                col[j] = col[j - gap];
                val[j] = val[j - gap];
                j -= gap;
            }
            col[j] = c;
            val[j] = v;
        }
    }
}

/* Returns 0, REC_EINVAL (negative sizes, a triplet out of range, NULL with n > 0) or
 * REC_ENOMEM. On failure *m is left zeroed. */
int rec_csr_from_triplets(struct rec_csr *m, int32_t n_rows, int32_t n_cols,
                          const struct rec_triplet *t, int64_t n)
{
    if (!m)
        return REC_EINVAL;
    memset(m, 0, sizeof *m);
    if (n_rows < 0 || n_cols < 0 || n < 0 || (n > 0 && !t))
        return REC_EINVAL;
    for (int64_t e = 0; e < n; e++)
        if (t[e].row < 0 || t[e].row >= n_rows || t[e].col < 0 || t[e].col >= n_cols)
            return REC_EINVAL;

    int64_t *indptr = calloc((size_t)n_rows + 1, sizeof *indptr);
    int32_t *indices = alloc_n((size_t)n, sizeof *indices);
    float *values = alloc_n((size_t)n, sizeof *values);
    int64_t *fill = alloc_n((size_t)n_rows, sizeof *fill);
    if (!indptr || !indices || !values || !fill)
        goto fail;

    for (int64_t e = 0; e < n; e++)
        indptr[t[e].row + 1]++;
    for (int32_t r = 0; r < n_rows; r++)
        indptr[r + 1] += indptr[r];
    memcpy(fill, indptr, (size_t)n_rows * sizeof *fill);
    for (int64_t e = 0; e < n; e++) {
        int64_t at = fill[t[e].row]++;
        indices[at] = t[e].col;
        values[at] = t[e].value;
    }

    /* Sort each row, then compact duplicates; out trails in so compaction is in place. */
    int64_t out = 0;
    for (int32_t r = 0; r < n_rows; r++) {
        int64_t lo = indptr[r], hi = indptr[r + 1];
        sort_row(indices + lo, values + lo, hi - lo);
        indptr[r] = out;
        for (int64_t e = lo; e < hi; e++) {
            if (out > indptr[r] && indices[out - 1] == indices[e]) {
                values[out - 1] += values[e];
            } else {
                indices[out] = indices[e];
                values[out] = values[e];
                out++;
            }
        }
    }
    indptr[n_rows] = out;
    free(fill);

    m->n_rows = n_rows;
    m->n_cols = n_cols;
    m->indptr = indptr;
    m->indices = indices;
    m->values = values;
    return REC_OK;

fail:
    free(fill);
    free(values);
    free(indices);
    free(indptr);
    return REC_ENOMEM;
}

/* Columns come out sorted because source rows are visited in increasing order. Returns 0,
 * REC_EINVAL (NULL arguments) or REC_ENOMEM; on failure *dst is left zeroed. */
int rec_csr_transpose(const struct rec_csr *src, struct rec_csr *dst)
{
    if (!dst)
        return REC_EINVAL;
    memset(dst, 0, sizeof *dst);
    if (!src || src->n_rows < 0 || src->n_cols < 0 || !src->indptr)
        return REC_EINVAL;

    int64_t nnz = src->indptr[src->n_rows];
    int64_t *indptr = calloc((size_t)src->n_cols + 1, sizeof *indptr);
    int32_t *indices = alloc_n((size_t)nnz, sizeof *indices);
    float *values = alloc_n((size_t)nnz, sizeof *values);
    int64_t *fill = alloc_n((size_t)src->n_cols, sizeof *fill);
    if (!indptr || !indices || !values || !fill) {
        free(fill);
        free(values);
        free(indices);
        free(indptr);
        return REC_ENOMEM;
    }

    for (int64_t e = 0; e < nnz; e++)
        indptr[src->indices[e] + 1]++;
    for (int32_t c = 0; c < src->n_cols; c++)
        indptr[c + 1] += indptr[c];
    memcpy(fill, indptr, (size_t)src->n_cols * sizeof *fill);
    for (int32_t r = 0; r < src->n_rows; r++) {
        for (int64_t e = src->indptr[r]; e < src->indptr[r + 1]; e++) {
            int64_t at = fill[src->indices[e]]++;
            indices[at] = r;
            values[at] = src->values[e];
        }
    }
    free(fill);

    dst->n_rows = src->n_cols;
    dst->n_cols = src->n_rows;
    dst->indptr = indptr;
    dst->indices = indices;
    dst->values = values;
    return REC_OK;
}

int rec_csr_check(const struct rec_csr *m, int sorted)
{
    if (!m || m->n_rows < 0 || m->n_cols < 0 || !m->indptr || m->indptr[0] != 0)
        return REC_EINVAL;
    for (int32_t r = 0; r < m->n_rows; r++)
        if (m->indptr[r + 1] < m->indptr[r])
            return REC_EINVAL;
    int64_t nnz = m->indptr[m->n_rows];
    if (nnz > 0 && (!m->indices || !m->values))
        return REC_EINVAL;
    for (int32_t r = 0; r < m->n_rows; r++)
        for (int64_t e = m->indptr[r]; e < m->indptr[r + 1]; e++)
            if (m->indices[e] < 0 || m->indices[e] >= m->n_cols ||
                (sorted && e > m->indptr[r] && m->indices[e] <= m->indices[e - 1]))
                return REC_EINVAL;
    return 0;
}

int rec_csr_positive(const struct rec_csr *m, int binary, struct rec_csr *out)
{
    int64_t nnz = m->indptr[m->n_rows];
    memset(out, 0, sizeof *out);
    out->n_rows = m->n_rows;
    out->n_cols = m->n_cols;
    out->indptr = malloc(((size_t)m->n_rows + 1) * sizeof *out->indptr);
    out->indices = malloc(((size_t)nnz + 1) * sizeof *out->indices);
    out->values = malloc(((size_t)nnz + 1) * sizeof *out->values);
    if (!out->indptr || !out->indices || !out->values) {
        rec_csr_free(out);
        return REC_ENOMEM;
    }
    int64_t n = 0;
    out->indptr[0] = 0;
    for (int32_t r = 0; r < m->n_rows; r++) {
        for (int64_t e = m->indptr[r]; e < m->indptr[r + 1]; e++) {
            float v = m->values[e];
            if (v > 0.0f && isfinite(v)) {
                out->indices[n] = m->indices[e];
                out->values[n++] = binary ? 1.0f : v;
            }
        }
        out->indptr[r + 1] = n;
    }
    return 0;
}
