#include "serve/topk.h"

/* a is worse than b */
static inline int worse(const struct rec_topk_entry *a, const struct rec_topk_entry *b)
{
    return a->score < b->score || (a->score == b->score && a->idx > b->idx);
}

static inline void swap(struct rec_topk_entry *a, struct rec_topk_entry *b)
{
    struct rec_topk_entry x = *a;
    *a = *b;
    *b = x;
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
        swap(&h[i], &h[m]);
        i = m;
    }
}

void rec_topk_insert(struct rec_topk *t, float score, int32_t idx)
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
            swap(&t->heap[i], &t->heap[p]);
            i = p;
        }
        return;
    }
    if (worse(&e, &t->heap[0]) || (e.score == t->heap[0].score && e.idx == t->heap[0].idx))
        return;
    t->heap[0] = e;
    sift_down(t->heap, t->n, 0);
}

/* Quickselect: moves the k best of a[0..n) to a[0..k), in no order (k < n). */
static void select_best(struct rec_topk_entry *a, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2; /* median of three as the pivot, kept at a[hi] */
        if (worse(&a[mid], &a[lo]))
            swap(&a[mid], &a[lo]);
        if (worse(&a[hi], &a[lo]))
            swap(&a[hi], &a[lo]);
        if (worse(&a[mid], &a[hi]))
            swap(&a[mid], &a[hi]);
        struct rec_topk_entry pivot = a[hi];
        int store = lo; /* better than the pivot: before store */
        for (int i = lo; i < hi; i++)
            if (worse(&pivot, &a[i]))
                swap(&a[i], &a[store++]);
        swap(&a[store], &a[hi]);
        if (store == k - 1 || store == k)
            return; /* a[0..store) are the store best: k - 1 or k of them, a[store] next */
        if (store < k)
            lo = store + 1;
        else
            hi = store - 1;
    }
}

/* Buffered: keeps the k best at the start and raises the floor to the worst of them. */
void rec_topk_compact(struct rec_topk *t)
{
    if (t->n <= t->k)
        return;
    select_best(t->heap, t->n, t->k);
    t->n = t->k;
    float floor = t->heap[0].score;
    for (int i = 1; i < t->k; i++)
        if (t->heap[i].score < floor)
            floor = t->heap[i].score;
    t->floor = floor;
}

/* Heapsort in place: the root of the min-heap is the worst kept entry, so moving it to the end
 * of the shrinking heap, n - 1 times, leaves the entries best first. The order is total (score,
 * then index), so the result is the one a comparison sort would give. */
int rec_topk_sort(struct rec_topk *t)
{
    if (t->cap > t->k) { /* buffered: the k best, then make them a heap */
        rec_topk_compact(t);
        for (int i = t->n / 2 - 1; i >= 0; i--)
            sift_down(t->heap, t->n, i);
    }
    for (int end = t->n - 1; end > 0; end--) {
        swap(&t->heap[0], &t->heap[end]);
        sift_down(t->heap, end, 0);
    }
    return t->n;
}
