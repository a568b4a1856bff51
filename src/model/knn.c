#include "model/knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#if defined(__AVX512BW__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Neighbours in a dense array of at most max_nbrs entries, found by a linear scan: 64 entries
 * are 6 cache lines read in order, which costs about what the two random misses of the hashed
 * index of unbounded rows did, and needs no index memory. A count may drop to 0: readers skip
 * it, and it is the first a new neighbour replaces. The array grows by about an eighth at a
 * time, not by doubling: at 10M synthetic events the rows' unused room went from 29% to 6% of
 * their entries. */
struct rec_knn_row {
    struct rec_knn_entry *e;
    uint32_t n, cap;
};

_Static_assert(sizeof(struct rec_knn_entry) == 6, "kNN entries are packed");

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
    for (int32_t i = 0; i < k->n_items; i++)
        free(k->rows[i].e);
    free(k->rows);
    free(k->count);
    free(k->norm);
    memset(k, 0, sizeof *k);
}

/* Room for items [0, need). Only items below n_items are initialized: the room beyond is
 * written when an item comes, so its pages stay out of the resident set until then. */
static int grow(struct rec_knn *k, int32_t need)
{
    if (need > k->cap) {
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
        k->cap = cap;
    }
    if (need > k->n_items) {
        memset(k->rows + k->n_items, 0, (size_t)(need - k->n_items) * sizeof *k->rows);
        memset(k->count + k->n_items, 0, (size_t)(need - k->n_items) * sizeof *k->count);
        memset(k->norm + k->n_items, 0, (size_t)(need - k->n_items) * sizeof *k->norm);
        k->n_items = need;
    }
    return 0;
}

#if defined(__AVX512BW__)
/* Word w of a 10-entry block is word w % 3 of an entry: 0 and 1 its id's halves, 2 its count.
 * Picking words 0, 1, 0 of a broadcast id lays the id over each entry's id words. */
static const uint16_t ID_WORDS[32] = {0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
                                      1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0};
#define ID_LO_BITS 0x09249249u    /* bit 3q of a block's word mask: entry q's id, low half */
#define CNT_BITS 0x24924924u      /* bit 3q + 2: entry q's count */
#define BLOCK_WORDS(k) ((__mmask32)((1u << (3 * (k))) - 1u)) /* the words of k <= 10 entries */
#endif

/* The position of neighbour j in e[0..n), -1 when absent. Entries are 6 bytes: a vector of
 * 16-bit lanes compares both halves of 10 ids (AVX-512) or 5 (AVX2) at once, and a match is a
 * pair of equal halves at an entry's start. A row of 256 is then 26 compares, which keeps
 * ingestion near the speed of the hashed unbounded rows (scalar scans of 256-entry rows cost
 * 40% of its replay throughput). */
static inline int32_t row_find(const struct rec_knn_entry *e, uint32_t n, int32_t j)
{
    uint32_t p = 0;
#if defined(__AVX512BW__)
    const __m512i id = _mm512_permutexvar_epi16(_mm512_loadu_si512((const void *)ID_WORDS),
                                                _mm512_set1_epi32(j));
    for (; p < n; p += 10) {
        uint32_t k = n - p < 10 ? n - p : 10;
        /* a masked load reads only the row's bytes (the last block may end the allocation) */
        __m512i x = _mm512_maskz_loadu_epi16(BLOCK_WORDS(k), (const void *)(e + p));
        uint32_t m = _mm512_mask_cmpeq_epi16_mask(BLOCK_WORDS(k), x, id);
        m &= (m >> 1) & ID_LO_BITS;
        if (m)
            return (int32_t)(p + (unsigned)__builtin_ctz(m) / 3);
    }
    return -1;
#elif defined(__AVX2__)
    const short lo = (short)(uint16_t)((uint32_t)j & 0xffffu), hi = (short)(uint16_t)((uint32_t)j >> 16);
    const __m256i id = _mm256_setr_epi16(lo, hi, lo, lo, hi, lo, lo, hi, lo, lo, hi, lo, lo, hi, lo, lo);
    for (; p + 6 <= n; p += 5) { /* 32 bytes from entry p stay inside entries p..p+5 */
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(e + p));
        uint32_t m = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi16(x, id));
        m &= (m >> 1) & (m >> 2) & (m >> 3) & 0x01041041u; /* the 4 id bytes of entry q at 6q */
        if (m)
            return (int32_t)(p + (unsigned)__builtin_ctz(m) / 6);
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
    uint32_t p, best = 0;
    uint16_t min = e[0].cnt;
#if defined(__AVX512BW__)
    __m512i vmin = _mm512_set1_epi16(-1);
    for (p = 0; p < n; p += 10) {
        uint32_t k = n - p < 10 ? n - p : 10;
        __m512i x = _mm512_maskz_loadu_epi16(BLOCK_WORDS(k), (const void *)(e + p));
        vmin = _mm512_mask_min_epu16(vmin, BLOCK_WORDS(k) & CNT_BITS, vmin, x);
    }
    __m256i a = _mm256_min_epu16(_mm512_castsi512_si256(vmin), _mm512_extracti64x4_epi64(vmin, 1));
    __m128i b = _mm_min_epu16(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    min = (uint16_t)_mm_cvtsi128_si32(_mm_minpos_epu16(b));
    while (e[best].cnt != min)
        best++;
    return best;
#endif
    for (p = 1; p < n; p++)
        if (e[p].cnt < min) {
            min = e[p].cnt;
            best = p;
        }
    return best;
}

static inline uint16_t clamp_cnt(int64_t c)
{
    return (uint16_t)(c < 0 ? 0 : c > REC_KNN_CNT_MAX ? REC_KNN_CNT_MAX : c);
}

static int row_add(struct rec_knn_row *r, int32_t j, int32_t delta, uint32_t max)
{
    struct rec_knn_entry *e = r->e;
    int32_t at = row_find(e, r->n, j);
    if (at >= 0) {
        e[at].cnt = clamp_cnt((int64_t)e[at].cnt + delta);
        return 0;
    }
    if (delta <= 0)
        return 0; /* taking back a pair the row no longer holds */
    if (r->n < max) {
        if (r->n == r->cap) {
            /* 4 more than a multiple of 8 entries (> r->cap): 6 cap bytes and malloc's 8-byte
             * header then fill its 16-byte granules exactly */
            uint32_t cap = ((r->cap + r->cap / 8 + 4) & ~7u) + 4;
            if (cap > max)
                cap = max;
            e = realloc(r->e, (size_t)cap * sizeof *e);
            if (!e)
                return REC_ENOMEM;
            r->e = e;
            r->cap = cap;
        }
        e[r->n++] = (struct rec_knn_entry){j, clamp_cnt(delta)};
        return 0;
    }
    uint32_t min = row_min(e, r->n); /* full: Space-Saving replaces the smallest count */
    e[min] = (struct rec_knn_entry){j, clamp_cnt((int64_t)e[min].cnt + delta)};
    return 0;
}

static uint16_t row_get(const struct rec_knn_row *r, int32_t j)
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

int rec_knn_add_pair(struct rec_knn *k, int32_t i, int32_t j, int32_t delta)
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
