#include "model/knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* Neighbours in a dense array (iteration touches only live entries, in order) plus an
 * open-addressing index from neighbour id to position. Entries are never removed: a count may
 * drop to 0 and is skipped. An update costs two cache misses, the slot and the entry (id and
 * count together): at 40 updates per event this is the largest cost of ingestion's model
 * updates. */
struct rec_knn_row {
    struct rec_knn_entry *e;
    int32_t *slots;   /* position in e, -1 empty; n_slots is 0 or a power of two */
    uint32_t n, cap, n_slots;
};

void rec_knn_init(struct rec_knn *k, float shrink)
{
    memset(k, 0, sizeof *k);
    k->shrink = shrink;
}

void rec_knn_free(struct rec_knn *k)
{
    for (int32_t i = 0; i < k->cap; i++) {
        free(k->rows[i].e);
        free(k->rows[i].slots);
    }
    free(k->rows);
    free(k->count);
    free(k->norm);
    memset(k, 0, sizeof *k);
}

static int grow(struct rec_knn *k, int32_t need)
{
    if (need <= k->cap) {
        if (need > k->n_items)
            k->n_items = need;
        return 0;
    }
    int32_t cap = k->cap ? k->cap : 1024;
    while (cap < need)
        cap *= 2;
    struct rec_knn_row *rows = realloc(k->rows, (size_t)cap * sizeof *rows);
    if (!rows)
        return REC_ENOMEM;
    k->rows = rows;
    float *count = realloc(k->count, (size_t)cap * sizeof *count);
    if (!count)
        return REC_ENOMEM;
    k->count = count;
    float *norm = realloc(k->norm, (size_t)cap * sizeof *norm);
    if (!norm)
        return REC_ENOMEM;
    k->norm = norm;
    memset(k->rows + k->cap, 0, (size_t)(cap - k->cap) * sizeof *rows);
    memset(k->count + k->cap, 0, (size_t)(cap - k->cap) * sizeof *count);
    memset(k->norm + k->cap, 0, (size_t)(cap - k->cap) * sizeof *norm);
    k->cap = cap;
    k->n_items = need;
    return 0;
}

static inline uint32_t hash32(int32_t x)
{
    uint32_t h = (uint32_t)x * 0x9E3779B1u;
    return h ^ (h >> 16);
}

static int row_rehash(struct rec_knn_row *r, uint32_t n_slots)
{
    int32_t *slots = malloc((size_t)n_slots * sizeof *slots);
    if (!slots)
        return REC_ENOMEM;
    for (uint32_t s = 0; s < n_slots; s++)
        slots[s] = -1;
    uint32_t mask = n_slots - 1;
    for (uint32_t p = 0; p < r->n; p++) {
        uint32_t h = hash32(r->e[p].nbr) & mask;
        while (slots[h] >= 0)
            h = (h + 1) & mask;
        slots[h] = (int32_t)p;
    }
    free(r->slots);
    r->slots = slots;
    r->n_slots = n_slots;
    return 0;
}

static int row_add(struct rec_knn_row *r, int32_t j, float delta)
{
    if ((r->n + 1) * 2 > r->n_slots) {
        int rc = row_rehash(r, r->n_slots ? r->n_slots * 2 : 16);
        if (rc)
            return rc;
    }
    uint32_t mask = r->n_slots - 1, h = hash32(j) & mask;
    while (r->slots[h] >= 0 && r->e[r->slots[h]].nbr != j)
        h = (h + 1) & mask;
    if (r->slots[h] < 0) {
        if (r->n == r->cap) {
            uint32_t cap = r->cap ? r->cap * 2 : 8;
            struct rec_knn_entry *e = realloc(r->e, (size_t)cap * sizeof *e);
            if (!e)
                return REC_ENOMEM;
            r->e = e;
            r->cap = cap;
        }
        r->e[r->n] = (struct rec_knn_entry){j, 0};
        r->slots[h] = (int32_t)r->n++;
    }
    r->e[r->slots[h]].cnt += delta;
    return 0;
}

static float row_get(const struct rec_knn_row *r, int32_t j)
{
    if (r->n_slots == 0)
        return 0;
    uint32_t mask = r->n_slots - 1, h = hash32(j) & mask;
    while (r->slots[h] >= 0) {
        if (r->e[r->slots[h]].nbr == j)
            return r->e[r->slots[h]].cnt;
        h = (h + 1) & mask;
    }
    return 0;
}

int rec_knn_add_item(struct rec_knn *k, int32_t item, float delta)
{
    int rc = grow(k, item + 1);
    if (rc)
        return rc;
    k->count[item] += delta;
    k->norm[item] = k->count[item] > 0 ? sqrtf(k->count[item]) : 0;
    return 0;
}

int rec_knn_add_pair(struct rec_knn *k, int32_t i, int32_t j, float delta)
{
    if (i == j || i < 0 || j < 0)
        return REC_EINVAL;
    int rc = grow(k, (i > j ? i : j) + 1);
    if (rc)
        return rc;
    if ((rc = row_add(&k->rows[i], j, delta)))
        return rc;
    return row_add(&k->rows[j], i, delta);
}

static inline float cosine(const struct rec_knn *k, int32_t i, int32_t j, float c)
{
    float d = k->norm[i] * k->norm[j];
    if (c <= 0 || d <= 0)
        return 0;
    return c / (d + k->shrink);
}

float rec_knn_sim(const struct rec_knn *k, int32_t i, int32_t j)
{
    if (i < 0 || j < 0 || i >= k->n_items || j >= k->n_items)
        return 0;
    return cosine(k, i, j, row_get(&k->rows[i], j));
}

void rec_knn_row_view(const struct rec_knn *k, int32_t i, const struct rec_knn_entry **entries,
                      int32_t *n)
{
    if (i < 0 || i >= k->n_items) {
        *entries = NULL;
        *n = 0;
        return;
    }
    *entries = k->rows[i].e;
    *n = (int32_t)k->rows[i].n;
}

void rec_knn_each(const struct rec_knn *k, int32_t i, void (*fn)(void *ctx, int32_t j, float sim),
                  void *ctx)
{
    const struct rec_knn_entry *e;
    int32_t n;
    rec_knn_row_view(k, i, &e, &n);
    for (int32_t p = 0; p < n; p++) {
        float sim = cosine(k, i, e[p].nbr, e[p].cnt);
        if (sim > 0)
            fn(ctx, e[p].nbr, sim);
    }
}

int32_t rec_knn_degree(const struct rec_knn *k, int32_t i)
{
    return i >= 0 && i < k->n_items ? (int32_t)k->rows[i].n : 0;
}
