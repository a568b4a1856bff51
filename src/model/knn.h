/* knn.h: item-kNN from co-occurrence, kept current event by event.
 *
 * For every item pair (i, j) that appear together in some user's history (within a window of
 * consecutive distinct items) we count c_ij; n_i counts users with item i. Similarity is the
 * shrunk cosine c_ij / (sqrt(n_i * n_j) + shrink). Not thread-safe: the owner locks.
 *
 * Memory is bounded: an item keeps at most max_nbrs neighbours (4 bytes each, see struct
 * rec_knn_row), counted with the Space-Saving rule (Metwally, Agrawal, El Abbadi, "Efficient
 * Computation of Frequent and Top-k Elements in Data Streams", ICDT 2005): a new neighbour of a
 * full row replaces the one with the smallest count and starts from that count plus its own, so
 * a count may overestimate by at most the evicted minimum, and every neighbour whose true count
 * exceeds the row's total / max_nbrs is kept. Unbounded rows held every distinct pair: 395 bytes
 * per event at 10M synthetic events over 1M items, most of the server's memory, and a request
 * summed every neighbour of each of the user's recent items (about 3,000 per item on MovieLens
 * 1M: 40% of a request).
 *
 * Counts are integers of 16 bits: they stop at 0 (a decrement never takes a count below zero,
 * so a count still never underestimates) and at REC_KNN_CNT_MAX (a pair seen more often scores
 * as if seen that often; the largest count at 10M synthetic events was 25,373).
 */
#ifndef REC_MODEL_KNN_H
#define REC_MODEL_KNN_H

#include <stddef.h>
#include <stdint.h>

/* One item's neighbours and their co-occurrence counts, as byte planes in one allocation
 * (structure of arrays): entry p's id is lo[p] | mid[p] << 16 | top[p] << 24 and its count
 * cnt[p] | cnt_hi[p] << 8. The top and cnt_hi planes exist only in a row that needs them (a
 * neighbour id of 2^24 or more; a count of 256 or more): at 10M synthetic events over 1M items
 * 78% of the counts were 1, so most rows take 4 bytes per entry, not the 6 of an int32 id and a
 * uint16 count, and ids of any size still fit. Entries keep their position (a replacement
 * writes in place), so the Space-Saving tie rule below sees the order of arrival. */
struct rec_knn_row {
    uint8_t *mem;     /* planes lo (2 * cap bytes), mid, cnt, [top], [cnt_hi] (cap bytes each) */
    uint16_t n, cap;  /* entries held, room; <= REC_KNN_MAX_NBRS_MAX */
    uint8_t top, cnt_hi; /* 1: that plane is present */
};

/* A read-only view of one row for tight loops (rec_knn_row_view); valid until the next write.
 * Read entries with rec_knn_view_nbr and rec_knn_view_cnt. */
struct rec_knn_view {
    const uint16_t *lo;    /* bits 0..15 of each neighbour id */
    const uint8_t *mid;    /* bits 16..23 */
    const uint8_t *top;    /* bits 24..31, NULL when every neighbour is below 2^24 */
    const uint8_t *cnt;    /* bits 0..7 of each count */
    const uint8_t *cnt_hi; /* bits 8..15, NULL when every count is below 256 */
    int32_t n;
};

#define REC_KNN_CNT_MAX 65535

struct rec_knn {
    struct rec_knn_row *rows;
    float *count;      /* n_i */
    float *norm;       /* sqrt(max(n_i, 0)), kept with count so similarity needs no sqrt */
    int32_t n_items;
    int32_t cap;
    int32_t max_nbrs; /* neighbours kept per item */
    float shrink;
};

/* Neighbours kept per item: the default, and the bounds rec_knn_init clamps to. */
#define REC_KNN_MAX_NBRS_DEFAULT 256
#define REC_KNN_MAX_NBRS_MIN 4
#define REC_KNN_MAX_NBRS_MAX 4096

/* max_nbrs <= 0: the default; otherwise clamped to [MIN, MAX]. */
void rec_knn_init(struct rec_knn *k, float shrink, int32_t max_nbrs);
void rec_knn_free(struct rec_knn *k);
/* n_i += delta. 0 or REC_ENOMEM. */
int rec_knn_add_item(struct rec_knn *k, int32_t item, float delta);
/* c_ij += delta and c_ji += delta (i != j), each within the bound of its row and clamped to
 * 0..REC_KNN_CNT_MAX: a negative delta for a pair the row no longer holds changes nothing.
 * 0, REC_EINVAL (i == j or a negative index) or REC_ENOMEM. */
int rec_knn_add_pair(struct rec_knn *k, int32_t i, int32_t j, int32_t delta);
/* Similarity of i and j (0 when they never co-occurred). */
float rec_knn_sim(const struct rec_knn *k, int32_t i, int32_t j);
/* Calls fn(ctx, j, sim) for each neighbour j of i with c_ij > 0. */
void rec_knn_each(const struct rec_knn *k, int32_t i, void (*fn)(void *ctx, int32_t j, float sim),
                  void *ctx);
/* Neighbour entries of i for tight loops: v->n of them (a count may be 0: skip it); an empty
 * view for an unknown i. Similarity of entry p is cnt / (norm[i] * norm[nbr] + shrink). */
void rec_knn_row_view(const struct rec_knn *k, int32_t i, struct rec_knn_view *v);
/* Number of stored neighbour entries of i (for stats). */
int32_t rec_knn_degree(const struct rec_knn *k, int32_t i);

/* One row on its own (what rec_knn_add_pair does to each side of a pair), for tests and tools.
 * A zeroed row is empty. rec_knn_row_add: c_j += delta within max entries, as above; 0 or
 * REC_ENOMEM (the row unchanged). rec_knn_row_bytes: its allocation's size. */
int rec_knn_row_add(struct rec_knn_row *r, int32_t j, int32_t delta, uint32_t max);
void rec_knn_row_free(struct rec_knn_row *r);
void rec_knn_row_view_of(const struct rec_knn_row *r, struct rec_knn_view *v);
size_t rec_knn_row_bytes(const struct rec_knn_row *r);

/* Entry p of a view: its neighbour id and its count (0..REC_KNN_CNT_MAX). The missing planes
 * are a branch that goes the same way for a whole row. */
static inline int32_t rec_knn_view_nbr(const struct rec_knn_view *v, int32_t p)
{
    uint32_t id = v->lo[p] | (uint32_t)v->mid[p] << 16;
    if (v->top)
        id |= (uint32_t)v->top[p] << 24;
    return (int32_t)id;
}

static inline uint32_t rec_knn_view_cnt(const struct rec_knn_view *v, int32_t p)
{
    uint32_t c = v->cnt[p];
    if (v->cnt_hi)
        c |= (uint32_t)v->cnt_hi[p] << 8;
    return c;
}

#endif
