/* csr.h: compressed sparse rows, the training input of the factor models.
 * Row r's entries are indices[indptr[r] .. indptr[r+1]) with values alongside. */
#ifndef REC_MODEL_CSR_H
#define REC_MODEL_CSR_H

#include <stdint.h>

struct rec_csr {
    int32_t n_rows;
    int32_t n_cols;
    int64_t *indptr;   /* n_rows + 1 entries */
    int32_t *indices;  /* column of each entry, sorted and unique within a row */
    float *values;     /* value of each entry */
};

/* One (row, col, value) entry for building. */
struct rec_triplet {
    int32_t row;
    int32_t col;
    float value;
};

/* Builds a CSR from n triplets (any order); duplicates (same row and col) are summed.
 * Returns 0 or REC_ENOMEM. The caller frees with rec_csr_free. */
int rec_csr_from_triplets(struct rec_csr *m, int32_t n_rows, int32_t n_cols,
                          const struct rec_triplet *t, int64_t n);
/* Transpose of src into dst (caller frees dst). Returns 0 or REC_ENOMEM. */
int rec_csr_transpose(const struct rec_csr *src, struct rec_csr *dst);
void rec_csr_free(struct rec_csr *m);
/* 0 when m is well formed (indptr from 0 and non-decreasing, values present, columns in range
 * and, with sorted, strictly increasing within each row), else REC_EINVAL. O(nnz). */
int rec_csr_check(const struct rec_csr *m, int sorted);
/* Copy of m keeping the finite entries > 0, valued 1 when binary (the fits' input). 0 or
 * REC_ENOMEM; the caller frees out. */
int rec_csr_positive(const struct rec_csr *m, int binary, struct rec_csr *out);

#endif
