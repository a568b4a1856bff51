#include "model/knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Neighbours in a dense array of at most max_nbrs entries, found by a linear scan: 64 entries
 * are 8 cache lines read in order, which costs about what the two random misses of the hashed
 * index of unbounded rows did, and needs no index memory. A count may drop to 0 or below: readers
 * skip it, and it is the first a new neighbour replaces. */
struct rec_knn_row {
    struct rec_knn_entry *e;
    uint32_t n, cap;
};

void rec_knn_init(struct rec_knn *k, float shrink, int32_t max_nbrs)
{
    memset(k, 0, sizeof *k);
    k->shrink = shrink;
    if (max_nbrs <= 0)
        max_nbrs = REC_KNN_MAX_NBRS_DEFAULT;
    if (max_nbrs < REC_KNN_MAX_NBRS_MIN)
        max_nbrs = REC_KNN_MAX_NBRS_MIN;
    if (max_nbrs > REC_KNN_MAX_NBRS_MAX)
        max_nbrs = REC_KNN_MAX_NBRS_MAX;
    k->max_nbrs = max_nbrs;
}

void rec_knn_free(struct rec_knn *k)
{
    for (int32_t i = 0; i < k->cap; i++)
        free(k->rows[i].e);
    free(k->rows);
    free(k->count);
    free(k->norm);
    memset(k, 0, sizeof *k);
}

static int grow(struct rec_knn *k, int32_t need)
{
    if (need <= k->cap) {
        if (need > k->n_items)
            k->n_items = need;
        return 0;
    }
    int32_t cap = k->cap ? k->cap : 1024;
    while (cap < need)
        cap *= 2;
    struct rec_knn_row *rows = realloc(k->rows, (size_t)cap * sizeof *rows);
    if (!rows)
        return REC_ENOMEM;
    k->rows = rows;
    float *count = realloc(k->count, (size_t)cap * sizeof *count);
    if (!count)
        return REC_ENOMEM;
    k->count = count;
    float *norm = realloc(k->norm, (size_t)cap * sizeof *norm);
    if (!norm)
        return REC_ENOMEM;
    k->norm = norm;
    memset(k->rows + k->cap, 0, (size_t)(cap - k->cap) * sizeof *rows);
    memset(k->count + k->cap, 0, (size_t)(cap - k->cap) * sizeof *count);
    memset(k->norm + k->cap, 0, (size_t)(cap - k->cap) * sizeof *norm);
    k->cap = cap;
    k->n_items = need;
    return 0;
}

/* The position of neighbour j in e[0..n), -1 when absent. The entries are (id, count) pairs of
 * 32-bit lanes: a vector compare covers 8 (AVX-512) or 4 (AVX2) entries, its ids in the even
 * lanes. A row of 256 is then 32 compares, which keeps ingestion near the speed of the hashed
 * unbounded rows (scalar scans of 256-entry rows cost 40% of its replay throughput). */
static inline int32_t row_find(const struct rec_knn_entry *e, uint32_t n, int32_t j)
{
    uint32_t p = 0;
#if defined(__AVX512F__)
    const __m512i vj = _mm512_set1_epi32(j);
    for (; p + 8 <= n; p += 8) {
        __mmask16 m = _mm512_mask_cmpeq_epi32_mask(0x5555, _mm512_loadu_si512((const void *)(e + p)), vj);
        if (m)
            return (int32_t)(p + ((unsigned)__builtin_ctz(m) >> 1));
    }
#elif defined(__AVX2__)
    const __m256i vj = _mm256_set1_epi32(j);
    for (; p + 4 <= n; p += 4) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(e + p));
        int m = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(x, vj))) & 0x55;
        if (m)
            return (int32_t)(p + ((unsigned)__builtin_ctz((unsigned)m) >> 1));
    }
#endif
    for (; p < n; p++)
        if (e[p].nbr == j)
            return (int32_t)p;
    return -1;
}

/* The position of the smallest count in e[0..n) (n >= 1; the first of equal ones). */
static inline uint32_t row_min(const struct rec_knn_entry *e, uint32_t n)
{
    uint32_t p = 0, best = 0;
    float min = e[0].cnt;
#if defined(__AVX512F__)
    if (n >= 8) {
        __m512 vmin = _mm512_set1_ps(INFINITY);
        for (; p + 8 <= n; p += 8) /* counts are the odd lanes */
            vmin = _mm512_mask_min_ps(vmin, 0xAAAA, vmin, _mm512_loadu_ps((const float *)(e + p)));
        min = _mm512_mask_reduce_min_ps(0xAAAA, vmin);
        for (uint32_t q = p; q < n; q++)
            if (e[q].cnt < min)
                min = e[q].cnt;
        for (best = 0; e[best].cnt != min; best++)
            ;
        return best;
    }
#endif
    for (p = 1; p < n; p++)
        if (e[p].cnt < min) {
            min = e[p].cnt;
            best = p;
        }
    return best;
}

static int row_add(struct rec_knn_row *r, int32_t j, float delta, uint32_t max)
{
    struct rec_knn_entry *e = r->e;
    int32_t at = row_find(e, r->n, j);
    if (at >= 0) {
        e[at].cnt += delta;
        return 0;
    }
    if (delta <= 0)
        return 0; /* taking back a pair the row no longer holds */
    if (r->n < max) {
        if (r->n == r->cap) {
            uint32_t cap = r->cap ? r->cap * 2 : 4;
            if (cap > max)
                cap = max;
            e = realloc(r->e, (size_t)cap * sizeof *e);
            if (!e)
                return REC_ENOMEM;
            r->e = e;
            r->cap = cap;
        }
        e[r->n++] = (struct rec_knn_entry){j, delta};
        return 0;
    }
    uint32_t min = row_min(e, r->n); /* full: Space-Saving replaces the smallest count */
    float floor = e[min].cnt > 0 ? e[min].cnt : 0;
    e[min] = (struct rec_knn_entry){j, floor + delta};
    return 0;
}

static float row_get(const struct rec_knn_row *r, int32_t j)
{
    int32_t at = row_find(r->e, r->n, j);
    return at >= 0 ? r->e[at].cnt : 0;
}

int rec_knn_add_item(struct rec_knn *k, int32_t item, float delta)
{
    int rc = grow(k, item + 1);
    if (rc)
        return rc;
    k->count[item] += delta;
    k->norm[item] = k->count[item] > 0 ? sqrtf(k->count[item]) : 0;
    return 0;
}

int rec_knn_add_pair(struct rec_knn *k, int32_t i, int32_t j, float delta)
{
    if (i == j || i < 0 || j < 0)
        return REC_EINVAL;
    int rc = grow(k, (i > j ? i : j) + 1);
    if (rc)
        return rc;
    if ((rc = row_add(&k->rows[i], j, delta, (uint32_t)k->max_nbrs)))
        return rc;
    return row_add(&k->rows[j], i, delta, (uint32_t)k->max_nbrs);
}

static inline float cosine(const struct rec_knn *k, int32_t i, int32_t j, float c)
{
    float d = k->norm[i] * k->norm[j];
    if (c <= 0 || d <= 0)
        return 0;
    return c / (d + k->shrink);
}

float rec_knn_sim(const struct rec_knn *k, int32_t i, int32_t j)
{
    if (i < 0 || j < 0 || i >= k->n_items || j >= k->n_items)
        return 0;
    return cosine(k, i, j, row_get(&k->rows[i], j));
}

void rec_knn_row_view(const struct rec_knn *k, int32_t i, const struct rec_knn_entry **entries,
                      int32_t *n)
{
    if (i < 0 || i >= k->n_items) {
        *entries = NULL;
        *n = 0;
        return;
    }
    *entries = k->rows[i].e;
    *n = (int32_t)k->rows[i].n;
}

void rec_knn_each(const struct rec_knn *k, int32_t i, void (*fn)(void *ctx, int32_t j, float sim),
                  void *ctx)
{
    const struct rec_knn_entry *e;
    int32_t n;
    rec_knn_row_view(k, i, &e, &n);
    for (int32_t p = 0; p < n; p++) {
        float sim = cosine(k, i, e[p].nbr, e[p].cnt);
        if (sim > 0)
            fn(ctx, e[p].nbr, sim);
    }
}

int32_t rec_knn_degree(const struct rec_knn *k, int32_t i)
{
    return i >= 0 && i < k->n_items ? (int32_t)k->rows[i].n : 0;
}
