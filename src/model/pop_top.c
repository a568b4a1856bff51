/* pop_top.c: see pop_top.h. Each update moves one entry by as many places as its rank changed
 * (an event moves an item up a little), so the writer's cost per event stays small. */
#include "model/pop_top.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void rec_pop_top_init(struct rec_pop_top *t)
{
    memset(t, 0, sizeof *t);
    t->bound_key = -INFINITY;
    t->bound_item = INT32_MAX;
}

void rec_pop_top_free(struct rec_pop_top *t)
{
    free(t->item);
    free(t->key);
    free(t->pos);
    rec_pop_top_init(t);
}

int rec_pop_top_reserve(struct rec_pop_top *t, int32_t n_items)
{
    if (!t->item) {
        int32_t *item = malloc(REC_POP_TOP_CAP * sizeof *item);
        float *key = malloc(REC_POP_TOP_CAP * sizeof *key);
        if (!item || !key) {
            free(item);
            free(key);
            return REC_ENOMEM;
        }
        t->item = item;
        t->key = key;
        t->cap = REC_POP_TOP_CAP;
    }
    if (n_items <= t->n_pos)
        return 0;
    if (n_items > t->cap_pos) {
        int32_t cap = t->cap_pos ? t->cap_pos : 1024;
        while (cap < n_items)
            cap = cap > INT32_MAX / 2 ? INT32_MAX : cap * 2;
        int32_t *pos = realloc(t->pos, (size_t)cap * sizeof *pos);
        if (!pos)
            return REC_ENOMEM;
        t->pos = pos;
        t->cap_pos = cap;
    }
    for (int32_t i = t->n_pos; i < n_items; i++)
        t->pos[i] = -1;
    t->n_pos = n_items;
    return 0;
}

/* (ka, ia) ranks above (kb, ib): serve/topk.h's order */
static inline int above(float ka, int32_t ia, float kb, int32_t ib)
{
    return ka > kb || (ka == kb && ia < ib);
}

static inline void put(struct rec_pop_top *t, int32_t r, int32_t i, float k)
{
    t->item[r] = i;
    t->key[r] = k;
    t->pos[i] = r;
}

/* First rank in [lo, hi) whose entry (i, k) ranks above; hi when none. */
static int32_t find_slot(const struct rec_pop_top *t, int32_t lo, int32_t hi, int32_t i, float k)
{
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (above(k, i, t->key[mid], t->item[mid]))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void remove_at(struct rec_pop_top *t, int32_t r)
{
    t->pos[t->item[r]] = -1;
    for (int32_t q = r; q + 1 < t->n; q++)
        put(t, q, t->item[q + 1], t->key[q + 1]);
    t->n--;
}

static void insert(struct rec_pop_top *t, int32_t i, float k)
{
    int32_t r = find_slot(t, 0, t->n, i, k);
    if (t->n == t->cap) {
        if (r == t->n) { /* below every listed item: the best unlisted one, so the new bound */
            t->bound_key = k;
            t->bound_item = i;
            return;
        }
        /* the last entry leaves: it ranks above every unlisted item */
        t->n--;
        t->bound_key = t->key[t->n];
        t->bound_item = t->item[t->n];
        t->pos[t->bound_item] = -1;
    }
    for (int32_t q = t->n; q > r; q--)
        put(t, q, t->item[q - 1], t->key[q - 1]);
    put(t, r, i, k);
    t->n++;
}

/* Moves listed entry r, whose key became k, to its place. */
static void move(struct rec_pop_top *t, int32_t r, int32_t i, float k)
{
    if (r > 0 && above(k, i, t->key[r - 1], t->item[r - 1])) {
        int32_t q = find_slot(t, 0, r, i, k);
        for (int32_t p = r; p > q; p--)
            put(t, p, t->item[p - 1], t->key[p - 1]);
        put(t, q, i, k);
    } else if (r + 1 < t->n && above(t->key[r + 1], t->item[r + 1], k, i)) {
        int32_t q = find_slot(t, r + 1, t->n, i, k) - 1;
        for (int32_t p = r; p < q; p++)
            put(t, p, t->item[p + 1], t->key[p + 1]);
        put(t, q, i, k);
    } else {
        t->key[r] = k;
    }
}

/* Lists the best cap items of key[0..n_items) and bounds the rest by the next one. */
static void rebuild(struct rec_pop_top *t, const double *key, int32_t n_items)
{
    for (int32_t r = 0; r < t->n; r++)
        t->pos[t->item[r]] = -1;
    t->n = 0;
    t->bound_key = -INFINITY;
    t->bound_item = INT32_MAX;
    for (int32_t i = 0; i < n_items; i++) {
        float k = (float)key[i];
        if (k > -INFINITY && above(k, i, t->bound_key, t->bound_item))
            insert(t, i, k);
    }
}

void rec_pop_top_update(struct rec_pop_top *t, int32_t i, const double *key, int32_t n_items)
{
    if (!t->item || i < 0 || i >= t->n_pos)
        return;
    float k = (float)key[i];
    int listed = k > -INFINITY && above(k, i, t->bound_key, t->bound_item);
    int32_t r = t->pos[i];
    if (r >= 0 && listed) {
        move(t, r, i, k);
    } else if (r >= 0) {
        /* fell to the bound or below: unlisted items may now rank above the list's tail, so
         * the bound stays; a list that got short is rebuilt to keep requests on it */
        remove_at(t, r);
        if (t->n < t->cap / 2 && !rec_pop_top_complete(t))
            rebuild(t, key, n_items);
    } else if (listed) {
        insert(t, i, k);
    }
}

int rec_pop_top_complete(const struct rec_pop_top *t)
{
    return t->bound_key == -INFINITY;
}
