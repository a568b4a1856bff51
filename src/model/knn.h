/* knn.h: item-kNN from co-occurrence, kept current event by event.
 *
 * For every item pair (i, j) that appear together in some user's history (within a window of
 * consecutive distinct items) we count c_ij; n_i counts users with item i. Similarity is the
 * shrunk cosine c_ij / (sqrt(n_i * n_j) + shrink). Not thread-safe: the owner locks.
 *
 * Memory is bounded: an item keeps at most max_nbrs neighbours (6 bytes each), counted with the
 * Space-Saving rule (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k
 * Elements in Data Streams", ICDT 2005): a new neighbour of a full row replaces the one with the
 * smallest count and starts from that count plus its own, so a count may overestimate by at most
 * the evicted minimum, and every neighbour whose true count exceeds the row's total / max_nbrs
 * is kept. Unbounded rows held every distinct pair: 395 bytes per event at 10M synthetic events
 * over 1M items, most of the server's memory, and a request summed every neighbour of each of the
 * user's recent items (about 3,000 per item on MovieLens 1M: 40% of a request).
 *
 * Counts are integers of 16 bits: they stop at 0 (a decrement never takes a count below zero,
 * so a count still never underestimates) and at REC_KNN_CNT_MAX (a pair seen more often scores
 * as if seen that often; the largest count at 10M synthetic events was 25,373).
 */
#ifndef REC_MODEL_KNN_H
#define REC_MODEL_KNN_H

#include <stdint.h>

struct rec_knn_row; /* per-item map neighbour -> count */

/* One neighbour of an item and their co-occurrence count, side by side and packed (6 bytes,
 * no padding): an update finds both in one cache line, and rows are 25% smaller than with a
 * 32-bit count. The neighbour scan compares the 16-bit halves of ids in place (knn.c). */
struct __attribute__((packed)) rec_knn_entry {
    int32_t nbr;
    uint16_t cnt;      /* 0..REC_KNN_CNT_MAX; 0: a taken-back pair, skip it */
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
/* Raw neighbour entries of i for tight loops: *n of them (a count may be 0: skip it).
 * Similarity of entry p is cnt / (norm[i] * norm[nbr] + shrink). Valid until the next write. */
void rec_knn_row_view(const struct rec_knn *k, int32_t i, const struct rec_knn_entry **entries,
                      int32_t *n);
/* Number of stored neighbour entries of i (for stats). */
int32_t rec_knn_degree(const struct rec_knn *k, int32_t i);

#endif
