/* topk.h: keep the k best (score, index) pairs of a stream.
 *
 * Two ways to keep them, one interface. With a buffer of exactly k entries, a min-heap: each
 * entry that beats the worst kept costs O(log k). With room for more (rec_topk_init_buffered,
 * at least 2k), entries above a floor are appended, and when the buffer fills a selection keeps
 * the k best and raises the floor to the worst of them: a scan of a large catalog then costs one
 * compare per item and an amortized O(1) per appended one, where the heap paid a sift for each
 * of the ~k ln(n/k) entries that beat its root. Both give the same list: the order is total
 * (higher score first, then the lower index). */
#ifndef REC_SERVE_TOPK_H
#define REC_SERVE_TOPK_H

#include <math.h>
#include <stdint.h>

struct rec_topk_entry {
    float score;
    int32_t idx;
};

struct rec_topk {
    struct rec_topk_entry *heap;  /* caller-provided, cap entries */
    int k;
    int n;
    int cap;                      /* k: a heap; more: buffered */
    float floor;                  /* buffered: scores below it cannot enter */
};

static inline void rec_topk_init(struct rec_topk *t, struct rec_topk_entry *buf, int k)
{
    t->heap = buf;
    t->k = k;
    t->n = 0;
    t->cap = k;
    t->floor = -INFINITY;
}

/* buf holds cap entries (cap < 2k is taken as k: a heap). */
static inline void rec_topk_init_buffered(struct rec_topk *t, struct rec_topk_entry *buf, int k,
                                          int cap)
{
    rec_topk_init(t, buf, k);
    if (k > 0 && cap >= 2 * k)
        t->cap = cap;
}

/* Scores below this cannot enter (-INFINITY until k entries are kept). */
static inline float rec_topk_floor(const struct rec_topk *t)
{
    if (t->cap > t->k)
        return t->floor;
    return t->n == t->k && t->k > 0 ? t->heap[0].score : -INFINITY;
}

/* The slow paths of rec_topk_push. */
void rec_topk_insert(struct rec_topk *t, float score, int32_t idx);
void rec_topk_compact(struct rec_topk *t);

/* Offers (score, idx). Ties keep the lower index (deterministic lists). Inline for the common
 * case of a scan, a score below the floor, which costs one compare. */
static inline void rec_topk_push(struct rec_topk *t, float score, int32_t idx)
{
    if (t->cap > t->k) {
        if (!(score >= t->floor))
            return;
        if (t->n == t->cap) {
            rec_topk_compact(t);
            if (!(score >= t->floor))
                return;
        }
        t->heap[t->n++] = (struct rec_topk_entry){score, idx};
        return;
    }
    if (t->n == t->k && (t->k <= 0 || score < t->heap[0].score))
        return;
    rec_topk_insert(t, score, idx);
}
/* Sorts the k best entries offered best first, at the start of the buffer; returns how many
 * there are. */
int rec_topk_sort(struct rec_topk *t);

#endif
