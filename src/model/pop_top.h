/* pop_top.h: the most popular items, kept in order as popularity changes, so that a request
 * reads its popular candidates off a short list instead of ranking the whole catalog.
 *
 * The popularity key (popularity.h) is time-free: decay moves every item's value by the same
 * factor, so the order of items changes only when one of them gets an event. The list is kept
 * by the single writer that updates the keys (rec_pop_add), one update per changed key.
 *
 * Order: key (as a float, which is what requests rank by) descending, then item ascending:
 * the order of serve/topk.h, so the list's prefix is exactly what a full ranking returns.
 * Invariant: every listed item ranks above the bound (bound_key, bound_item), and every item
 * with a finite key that is not listed ranks at or below it. With the bound at -INFINITY (no
 * finite key is below it) the list holds every item with a finite key.
 * Not thread-safe: the owner locks (readers may share the list while no update runs).
 */
#ifndef REC_MODEL_POP_TOP_H
#define REC_MODEL_POP_TOP_H

#include <stdint.h>

#define REC_POP_TOP_CAP 2048  /* listed items; requests need 100..500 after filtering */

struct rec_pop_top {
    int32_t *item;      /* n entries, best first */
    float *key;         /* key[r]: item[r]'s key */
    int32_t n;
    int32_t cap;        /* REC_POP_TOP_CAP once reserved */
    int32_t *pos;       /* n_pos entries: pos[i] = r when item[r] == i, else -1 */
    int32_t n_pos;
    int32_t cap_pos;    /* room for pos; only the n_pos first are written */
    float bound_key;    /* see the invariant above */
    int32_t bound_item;
};

void rec_pop_top_init(struct rec_pop_top *t);
void rec_pop_top_free(struct rec_pop_top *t);
/* Room for items 0..n_items-1 (amortized: the room grows by doubling). 0 or REC_ENOMEM (t
 * unchanged). */
int rec_pop_top_reserve(struct rec_pop_top *t, int32_t n_items);
/* Item i's key changed to key[i] (double; -INFINITY: no popularity). key holds all n_items
 * keys: when removals leave the list short, it is rebuilt from them (O(n_items), rare: only
 * a key going down, such as a deleted user's share, removes an item). i < reserved size. */
void rec_pop_top_update(struct rec_pop_top *t, int32_t i, const double *key, int32_t n_items);
/* 1 when the list holds every item with a finite key (a filtered walk that comes up short has
 * then seen every candidate), else 0. */
int rec_pop_top_complete(const struct rec_pop_top *t);

#endif
