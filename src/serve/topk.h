/* topk.h: keep the k best (score, index) pairs of a stream; a min-heap of size k. */
#ifndef REC_SERVE_TOPK_H
#define REC_SERVE_TOPK_H

#include <stdint.h>

struct rec_topk_entry {
    float score;
    int32_t idx;
};

struct rec_topk {
    struct rec_topk_entry *heap;  /* caller-provided, k entries */
    int k;
    int n;
};

static inline void rec_topk_init(struct rec_topk *t, struct rec_topk_entry *buf, int k)
{
    t->heap = buf;
    t->k = k;
    t->n = 0;
}

/* Offers (score, idx); O(log k). Ties keep the lower index (deterministic lists). */
void rec_topk_push(struct rec_topk *t, float score, int32_t idx);
/* Sorts the kept entries best first, in place; returns how many there are. */
int rec_topk_sort(struct rec_topk *t);

#endif
