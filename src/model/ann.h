/* ann.h: approximate top-K maximum inner product search (MIPS) over a fixed set of vectors,
 * for serving the iALS source on large catalogs without scoring every item.
 *
 * An inverted-file index (IVF; Jegou, Douze, Schmid 2011) built on the MIPS-to-nearest-
 * neighbour reduction of Bachrach et al. 2014: each vector y gets one extra coordinate
 * sqrt(M^2 - |y|^2) (M the largest norm), so all of them have norm M, and the maximum inner
 * product with a query q (extended by 0) is its nearest neighbour. Spherical k-means over
 * those unit vectors gives the lists; a query scores the centroids, scans the items of the
 * nprobe best lists exactly and keeps the best in a rec_topk (serve/topk.h).
 *
 * An index is immutable once built: any number of threads may search it at once.
 */
#ifndef REC_MODEL_ANN_H
#define REC_MODEL_ANN_H

#include <stddef.h>
#include <stdint.h>

struct rec_topk;
struct rec_ann;

struct rec_ann_params {
    int n_lists;          /* inverted lists; 0 = auto: 2 sqrt(n), within 1..n */
    int iters;            /* k-means iterations (fewer when assignments settle); default 10 */
    int sample_per_list;  /* k-means trains on this many points per list; default 64 */
    int threads;          /* build threads; 0 = number of CPUs */
    uint64_t seed;        /* sample and initial centroids; default 42 */
};

void rec_ann_params_default(struct rec_ann_params *p);
/* NULL when p is usable, else a message such as "ann iters must be 1..1000". */
const char *rec_ann_check_params(const struct rec_ann_params *p);

/* Builds the index of the n rows of y (n x k, row-major; row i is item i). The index keeps
 * its own copy of the rows (n k floats), so y may be freed afterwards. Deterministic for a
 * given seed, whatever the number of threads. n = 0 gives an empty index. *out is owned by
 * the caller (rec_ann_destroy). 0, REC_EINVAL (bad arguments or params) or REC_ENOMEM. */
int rec_ann_build(const float *y, int32_t n, int k, const struct rec_ann_params *p,
                  struct rec_ann **out);
/* The same from row pointers: y[i] is item i's k floats (none NULL), wherever each lives. */
int rec_ann_build_rows(const float *const *y, int32_t n, int k, const struct rec_ann_params *p,
                       struct rec_ann **out);
void rec_ann_destroy(struct rec_ann *a); /* NULL is a no-op */

int32_t rec_ann_n_items(const struct rec_ann *a);
int rec_ann_n_lists(const struct rec_ann *a);
int rec_ann_dim(const struct rec_ann *a);
/* Bytes the index holds (rows, ids, centroids, offsets). */
size_t rec_ann_bytes(const struct rec_ann *a);

/* Offers (dot(q, y_i), i) to t for every item i of the nprobe lists whose centroids have the
 * largest inner product with q (k floats), except items with skip[i] != 0 (skip may be NULL;
 * else it has rec_ann_n_items entries). nprobe above the number of lists scans them all, which
 * offers every item: the result is then the exact top-K. Returns the number of items scored
 * (>= 0), REC_EINVAL (NULL a, q or t, or nprobe < 1) or REC_ENOMEM. Thread-safe. */
int rec_ann_search(const struct rec_ann *a, const float *q, int nprobe, const uint8_t *skip,
                   struct rec_topk *t);
/* rec_ann_search with the items to leave out given by a predicate instead of an array:
 * skip_fn(ctx, i) != 0 leaves item i out (skip_fn may be NULL). It is asked only about items
 * that would enter t, a few per list scanned, so a caller can test a sparse set and a flag of
 * its own instead of filling an array of rec_ann_n_items entries per search. Same returns;
 * thread-safe as long as skip_fn is. */
int rec_ann_search_filter(const struct rec_ann *a, const float *q, int nprobe,
                          int (*skip_fn)(const void *ctx, int32_t i), const void *ctx,
                          struct rec_topk *t);

#endif
