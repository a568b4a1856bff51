#include "model/knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#if defined(__AVX512BW__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Rows are found by a linear scan of at most max_nbrs entries: 256 ids' low halves are 512
 * bytes read in order, which costs about what the two random misses of the hashed index of
 * unbounded rows did, and needs no index memory. A count may drop to 0: readers skip it, and it
 * is the first a new neighbour replaces. A row grows by about a sixteenth at a time, not by
 * doubling: at 10M synthetic events doubling left 29% of the entries unused, an eighth 6%, a
 * sixteenth 2.5%. */

_Static_assert(REC_KNN_MAX_NBRS_MAX <= UINT16_MAX, "a row's n and cap are 16-bit");

static inline uint16_t *lo_plane(const struct rec_knn_row *r)
{
    return (uint16_t *)(void *)r->mem;
}

static inline uint8_t *mid_plane(const struct rec_knn_row *r)
{
    return r->mem + 2u * r->cap;
}

static inline uint8_t *cnt_plane(const struct rec_knn_row *r)
{
    return r->mem + 3u * r->cap;
}

static inline uint8_t *top_plane(const struct rec_knn_row *r)
{
    return r->top ? r->mem + 4u * r->cap : NULL;
}

static inline uint8_t *cnt_hi_plane(const struct rec_knn_row *r)
{
    return r->cnt_hi ? r->mem + (4u + r->top) * r->cap : NULL;
}

static size_t planes_bytes(uint32_t cap, int top, int cnt_hi)
{
    return (size_t)cap * (4u + (top != 0) + (cnt_hi != 0));
}

/* Moves r into an allocation of room cap (>= r->n) with the given optional planes, present ones
 * kept (a missing plane's bytes are 0 for every entry). 0 or REC_ENOMEM, r unchanged. */
static int relayout(struct rec_knn_row *r, uint32_t cap, int top, int cnt_hi)
{
    struct rec_knn_row to = {malloc(planes_bytes(cap, top, cnt_hi)), r->n, (uint16_t)cap,
                             (uint8_t)(top != 0), (uint8_t)(cnt_hi != 0)};
    if (!to.mem)
        return REC_ENOMEM;
    size_t n = r->n;
    if (n) {
        memcpy(lo_plane(&to), lo_plane(r), 2 * n);
        memcpy(mid_plane(&to), mid_plane(r), n);
        memcpy(cnt_plane(&to), cnt_plane(r), n);
        if (to.top) {
            if (r->top)
                memcpy(top_plane(&to), top_plane(r), n);
            else
                memset(top_plane(&to), 0, n);
        }
        if (to.cnt_hi) {
            if (r->cnt_hi)
                memcpy(cnt_hi_plane(&to), cnt_hi_plane(r), n);
            else
                memset(cnt_hi_plane(&to), 0, n);
        }
    }
    free(r->mem);
    *r = to;
    return 0;
}

/* The room after cap: about a sixteenth more, and 2 more than a multiple of 4 entries so that
 * 4 bytes each and malloc's 8-byte header fill its 16-byte granules exactly. */
static uint32_t next_cap(uint32_t cap, uint32_t max)
{
    uint32_t next = ((cap + cap / 16 + 2) & ~3u) + 2;
    return next < max ? next : max;
}

static inline uint32_t count_at(const struct rec_knn_row *r, uint32_t p)
{
    uint32_t c = cnt_plane(r)[p];
    if (r->cnt_hi)
        c |= (uint32_t)cnt_hi_plane(r)[p] << 8;
    return c;
}

/* Adds the planes that an id and a count need. 0 or REC_ENOMEM (r unchanged). */
static int make_planes_for(struct rec_knn_row *r, uint32_t id, uint32_t c)
{
    int top = r->top || id >> 24, cnt_hi = r->cnt_hi || c >> 8;
    if (top == r->top && cnt_hi == r->cnt_hi)
        return 0;
    return relayout(r, r->cap, top, cnt_hi);
}

/* Entry p (< cap) becomes (id, c). 0 or REC_ENOMEM (r unchanged). */
static int put(struct rec_knn_row *r, uint32_t p, uint32_t id, uint32_t c)
{
    int rc = make_planes_for(r, id, c);
    if (rc)
        return rc;
    lo_plane(r)[p] = (uint16_t)id;
    mid_plane(r)[p] = (uint8_t)(id >> 16);
    if (r->top)
        top_plane(r)[p] = (uint8_t)(id >> 24);
    cnt_plane(r)[p] = (uint8_t)c;
    if (r->cnt_hi)
        cnt_hi_plane(r)[p] = (uint8_t)(c >> 8);
    return 0;
}

/* Does entry q's id agree with id above its low 16 bits? */
static inline int same_high(const uint8_t *mid, const uint8_t *top, uint32_t q, uint32_t id)
{
    return mid[q] == (uint8_t)(id >> 16) && (top ? top[q] : 0u) == id >> 24;
}

/* The position of neighbour j in r, -1 when absent. A vector of 16-bit lanes compares the low
 * halves of 32 ids (AVX-512) or 16 (AVX2) at once; a lane that matches is checked against the
 * id's high bits (over a catalog of 1M items about one row in 250 holds another id with the same
 * low half). A row of 256 is then 8 compares, which keeps ingestion near the speed of the hashed
 * unbounded rows (scalar scans of 256-entry rows cost 40% of its replay throughput). */
static int32_t row_find(const struct rec_knn_row *r, int32_t j)
{
    uint32_t id = (uint32_t)j, n = r->n, p = 0;
    if (id >> 24 && !r->top)
        return -1;
    const uint16_t *lo = lo_plane(r), want = (uint16_t)id;
    const uint8_t *mid = mid_plane(r), *top = top_plane(r);
#if defined(__AVX512BW__)
    const __m512i v = _mm512_set1_epi16((short)want);
    for (; p < n; p += 32) {
        /* a masked load reads only the row's entries (the last block may end the plane) */
        __mmask32 live = n - p >= 32 ? 0xffffffffu : (1u << (n - p)) - 1u;
        __m512i x = _mm512_maskz_loadu_epi16(live, (const void *)(lo + p));
        for (uint32_t m = _mm512_mask_cmpeq_epi16_mask(live, x, v); m; m &= m - 1) {
            uint32_t q = p + (unsigned)__builtin_ctz(m);
            if (same_high(mid, top, q, id))
                return (int32_t)q;
        }
    }
    return -1;
#elif defined(__AVX2__)
    const __m256i v = _mm256_set1_epi16((short)want);
    for (; p + 16 <= n; p += 16) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(lo + p));
        uint32_t m = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi16(x, v)) & 0x55555555u;
        for (; m; m &= m - 1) {
            uint32_t q = p + (unsigned)__builtin_ctz(m) / 2;
            if (same_high(mid, top, q, id))
                return (int32_t)q;
        }
    }
#endif
    for (; p < n; p++)
        if (lo[p] == want && same_high(mid, top, p, id))
            return (int32_t)p;
    return -1;
}

#if defined(__AVX512BW__) || defined(__AVX2__)
/* The smallest of 16 bytes. */
static inline uint8_t min_of_16(__m128i b)
{
    b = _mm_min_epu8(b, _mm_srli_epi16(b, 8)); /* each 16-bit lane: min of its bytes, high 0 */
    return (uint8_t)_mm_cvtsi128_si32(_mm_minpos_epu16(b));
}
#endif

/* The position of the first smallest of the counts c[0..n) of a row without the cnt_hi plane
 * (n >= 1): one vector min per 64 (AVX-512) or 32 (AVX2) counts, then memchr. */
static uint32_t narrow_min(const uint8_t *c, uint32_t n)
{
    uint32_t p = 0;
    uint8_t min = c[0];
#if defined(__AVX512BW__)
    const __m512i ones = _mm512_set1_epi8(-1);
    __m512i vmin = ones;
    for (; p < n; p += 64) {
        __mmask64 live = n - p >= 64 ? ~0ull : (1ull << (n - p)) - 1u;
        vmin = _mm512_min_epu8(vmin, _mm512_mask_loadu_epi8(ones, live, (const void *)(c + p)));
    }
    __m256i a = _mm256_min_epu8(_mm512_castsi512_si256(vmin), _mm512_extracti64x4_epi64(vmin, 1));
    min = min_of_16(_mm_min_epu8(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1)));
#elif defined(__AVX2__)
    if (n >= 32) {
        __m256i vmin = _mm256_set1_epi8(-1);
        for (; p + 32 <= n; p += 32)
            vmin = _mm256_min_epu8(vmin, _mm256_loadu_si256((const __m256i *)(const void *)(c + p)));
        min = min_of_16(_mm_min_epu8(_mm256_castsi256_si128(vmin), _mm256_extracti128_si256(vmin, 1)));
    }
#endif
    for (; p < n; p++)
        if (c[p] < min)
            min = c[p];
    return (uint32_t)((const uint8_t *)memchr(c, min, n) - c);
}

/* The same with 16-bit counts lo[p] | hi[p] << 8 (the rows of frequent items, which are full
 * and see new neighbours often). */
static uint32_t wide_min(const uint8_t *lo, const uint8_t *hi, uint32_t n)
{
    uint32_t p = 0, min = lo[0] | (uint32_t)hi[0] << 8;
#if defined(__AVX512BW__)
    const __m512i ones = _mm512_set1_epi8(-1);
    __m512i vmin = ones;
    for (; p < n; p += 64) {
        __mmask64 live = n - p >= 64 ? ~0ull : (1ull << (n - p)) - 1u;
        __m512i a = _mm512_mask_loadu_epi8(ones, live, (const void *)(lo + p));
        __m512i b = _mm512_mask_loadu_epi8(ones, live, (const void *)(hi + p));
        /* interleaving low and high bytes makes 16-bit counts (in another order: only their
         * minimum matters here) */
        vmin = _mm512_min_epu16(vmin, _mm512_min_epu16(_mm512_unpacklo_epi8(a, b),
                                                       _mm512_unpackhi_epi8(a, b)));
    }
    __m256i a = _mm256_min_epu16(_mm512_castsi512_si256(vmin), _mm512_extracti64x4_epi64(vmin, 1));
    __m128i b = _mm_min_epu16(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    min = (uint16_t)_mm_cvtsi128_si32(_mm_minpos_epu16(b));
    for (p = 0; (lo[p] | (uint32_t)hi[p] << 8) != min; p++)
        ;
    return p;
#endif
    uint32_t best = 0;
    for (p = 1; p < n; p++) {
        uint32_t c = lo[p] | (uint32_t)hi[p] << 8;
        if (c < min) {
            min = c;
            best = p;
        }
    }
    return best;
}

/* The position of the smallest count of r (n >= 1; the first of equal ones). */
static uint32_t row_min(const struct rec_knn_row *r)
{
    if (r->cnt_hi)
        return wide_min(cnt_plane(r), cnt_hi_plane(r), r->n);
    return narrow_min(cnt_plane(r), r->n);
}

static inline uint32_t clamp_cnt(int64_t c)
{
    return (uint32_t)(c < 0 ? 0 : c > REC_KNN_CNT_MAX ? REC_KNN_CNT_MAX : c);
}

int rec_knn_row_add(struct rec_knn_row *r, int32_t j, int32_t delta, uint32_t max)
{
    if (max > REC_KNN_MAX_NBRS_MAX)
        max = REC_KNN_MAX_NBRS_MAX;
    if (j < 0 || max == 0)
        return REC_EINVAL;
    int32_t at = row_find(r, j);
    if (at >= 0)
        return put(r, (uint32_t)at, (uint32_t)j, clamp_cnt((int64_t)count_at(r, (uint32_t)at) + delta));
    if (delta <= 0)
        return 0; /* taking back a pair the row no longer holds */
    if (r->n < max) {
        int rc = r->n < r->cap ? 0 : relayout(r, next_cap(r->cap, max), r->top, r->cnt_hi);
        if (!rc)
            rc = put(r, r->n, (uint32_t)j, clamp_cnt(delta));
        if (!rc)
            r->n++;
        return rc;
    }
    uint32_t min = row_min(r); /* full: Space-Saving replaces the smallest count */
    return put(r, min, (uint32_t)j, clamp_cnt((int64_t)count_at(r, min) + delta));
}

void rec_knn_row_free(struct rec_knn_row *r)
{
    free(r->mem);
    memset(r, 0, sizeof *r);
}

void rec_knn_row_view_of(const struct rec_knn_row *r, struct rec_knn_view *v)
{
    if (!r->mem) { /* no planes to point into */
        memset(v, 0, sizeof *v);
        return;
    }
    v->lo = lo_plane(r);
    v->mid = mid_plane(r);
    v->top = top_plane(r);
    v->cnt = cnt_plane(r);
    v->cnt_hi = cnt_hi_plane(r);
    v->n = r->n;
}

size_t rec_knn_row_bytes(const struct rec_knn_row *r)
{
    return r->mem ? planes_bytes(r->cap, r->top, r->cnt_hi) : 0;
}

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
        free(k->rows[i].mem);
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

static uint32_t row_get(const struct rec_knn_row *r, int32_t j)
{
    int32_t at = row_find(r, j);
    return at >= 0 ? count_at(r, (uint32_t)at) : 0;
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
    if ((rc = rec_knn_row_add(&k->rows[i], j, delta, (uint32_t)k->max_nbrs)))
        return rc;
    return rec_knn_row_add(&k->rows[j], i, delta, (uint32_t)k->max_nbrs);
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

void rec_knn_row_view(const struct rec_knn *k, int32_t i, struct rec_knn_view *v)
{
    if (i < 0 || i >= k->n_items) {
        memset(v, 0, sizeof *v);
        return;
    }
    rec_knn_row_view_of(&k->rows[i], v);
}

void rec_knn_each(const struct rec_knn *k, int32_t i, void (*fn)(void *ctx, int32_t j, float sim),
                  void *ctx)
{
    struct rec_knn_view v;
    rec_knn_row_view(k, i, &v);
    for (int32_t p = 0; p < v.n; p++) {
        int32_t j = rec_knn_view_nbr(&v, p);
        float sim = cosine(k, i, j, (float)rec_knn_view_cnt(&v, p));
        if (sim > 0)
            fn(ctx, j, sim);
    }
}

int32_t rec_knn_degree(const struct rec_knn *k, int32_t i)
{
    return i >= 0 && i < k->n_items ? (int32_t)k->rows[i].n : 0;
}
