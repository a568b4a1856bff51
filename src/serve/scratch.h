/* scratch.h: a request's working memory indexed by item, kept between requests.
 *
 * A recommendation request touches a few thousand items (the neighbours of the user's recent
 * items, the index lists it scans, its history) out of a catalog of up to millions. Allocating
 * and zeroing arrays of n_items per request made that cost grow with the catalog (30 MB of
 * calloc per request at 1M items). Here each scratch keeps one slot per item, all in the reset
 * state between requests; a request records every slot it changes in a touched list, and
 * release resets only those. Scratches live in a pool owned by the engine: one per request
 * running at once, so the pool grows to the peak number of concurrent requests, never more.
 */
#ifndef REC_SERVE_SCRATCH_H
#define REC_SERVE_SCRATCH_H

#include <pthread.h>
#include <stdint.h>

/* The per-item state of one request. Reset state: all zeros except seed = -1. The fields a
 * kNN neighbour updates share one cache line, so the hot loop misses once per neighbour, not
 * once per array. 24 bytes. */
struct rec_item_slot {
    float acc;          /* kNN accumulated similarity */
    float seed_sim;     /* kNN: the largest single contribution to acc */
    int32_t seed;       /* kNN: the history item that gave seed_sim; -1 none */
    float fused;        /* fused (RRF) score; negated once the item is offered */
    float best_contrib; /* largest fused contribution, from source best_src */
    int8_t best_src;
    uint8_t mark;       /* REC_SLOT_* bits */
};

enum {
    REC_SLOT_TOUCHED = 1,   /* listed in touched[]: release resets it */
    REC_SLOT_BLOCKED = 2,   /* the request may not recommend it (history, excluded) */
    REC_SLOT_ANN_SKIP = 4,  /* left out of the approximate index search only (cold items) */
};

struct rec_scratch {
    struct rec_item_slot *slot; /* cap entries; those not in touched[] are in reset state */
    int32_t *touched;           /* cap entries; each item at most once (REC_SLOT_TOUCHED) */
    int32_t n_touched;
    int32_t cap;
    float *scores;              /* exact-scan scores, n_scores entries; grown on demand */
    int32_t n_scores;
    struct rec_scratch *next;   /* pool free list */
};

struct rec_scratch_pool {
    pthread_mutex_t mu;         /* guards free_list only: a held scratch belongs to one thread */
    struct rec_scratch *free_list;
};

void rec_scratch_pool_init(struct rec_scratch_pool *p);
/* Frees every scratch in the pool; none may be held. */
void rec_scratch_pool_free(struct rec_scratch_pool *p);

/* Takes a scratch with room for n_items items (all slots in reset state) into *out, owned by
 * the caller until rec_scratch_release. Thread-safe. 0 or REC_ENOMEM. */
int rec_scratch_acquire(struct rec_scratch_pool *p, int32_t n_items, struct rec_scratch **out);
/* Resets the touched slots and gives s back to the pool (NULL is a no-op). Thread-safe. */
void rec_scratch_release(struct rec_scratch_pool *p, struct rec_scratch *s);
/* Resets the touched slots (release does it; exposed for tests). */
void rec_scratch_reset(struct rec_scratch *s);
/* s->scores with room for n floats, or NULL (out of memory). Contents undefined. */
float *rec_scratch_scores(struct rec_scratch *s, int32_t n);

/* Slot of item i (< cap) for writing: records it in touched[] the first time. */
static inline struct rec_item_slot *rec_scratch_touch(struct rec_scratch *s, int32_t i)
{
    struct rec_item_slot *sl = &s->slot[i];
    if (!(sl->mark & REC_SLOT_TOUCHED)) {
        sl->mark |= REC_SLOT_TOUCHED;
        s->touched[s->n_touched++] = i;
    }
    return sl;
}

#endif
