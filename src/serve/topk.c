#include "serve/topk.h"

#include <stdlib.h>

/* a is worse than b */
static inline int worse(const struct rec_topk_entry *a, const struct rec_topk_entry *b)
{
    return a->score < b->score || (a->score == b->score && a->idx > b->idx);
}

static void sift_down(struct rec_topk_entry *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct rec_topk_entry t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void rec_topk_push(struct rec_topk *t, float score, int32_t idx)
{
    struct rec_topk_entry e = {score, idx};
    if (t->k <= 0)
        return;
    if (t->n < t->k) {
        int i = t->n++;
        t->heap[i] = e;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!worse(&t->heap[i], &t->heap[p]))
                break;
            struct rec_topk_entry x = t->heap[i];
            t->heap[i] = t->heap[p];
            t->heap[p] = x;
            i = p;
        }
        return;
    }
    if (worse(&e, &t->heap[0]) || (e.score == t->heap[0].score && e.idx == t->heap[0].idx))
        return;
    t->heap[0] = e;
    sift_down(t->heap, t->n, 0);
}

static int better_first(const void *a, const void *b)
{
    const struct rec_topk_entry *x = a, *y = b;
    if (worse(x, y))
        return 1;
    if (worse(y, x))
        return -1;
    return 0;
}

int rec_topk_sort(struct rec_topk *t)
{
    qsort(t->heap, (size_t)t->n, sizeof *t->heap, better_first);
    return t->n;
}
