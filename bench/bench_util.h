/* bench_util.h: what several benchmarks share: the resident set size, a double comparator for
 * percentiles, and an import sink that collects (user, item, weight) triplets. */
#ifndef REC_BENCH_UTIL_H
#define REC_BENCH_UTIL_H

#include <stdint.h>

#include "core/idmap.h"
#include "ingest/event.h"
#include "model/csr.h"

/* Resident set size of this process in bytes (VmRSS), or -1. */
double bench_rss_bytes(void);

/* qsort comparator of doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/* Events with a positive default weight, as triplets over dense user and item indexes. */
struct bench_triplets {
    struct rec_idmap users, items;
    struct rec_triplet *t;
    int64_t n, cap;
};

/* Zeroes b and initializes its id maps. */
void bench_triplets_init(struct bench_triplets *b);
void bench_triplets_free(struct bench_triplets *b);
/* A rec_import_sink event callback (ctx: struct bench_triplets). 0, or -2 out of memory. */
int bench_triplets_on_event(void *ctx, const struct rec_event *ev);

#endif
