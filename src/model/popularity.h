/* popularity.h: item popularity with exponential time decay, updated per event.
 *
 * Each item keeps s = sum of w * 2^(-(t_ref - t)/h) for its events at its own reference time
 * t_ref (its latest event). Ranking uses the time-free key log2(s) + t_ref/h, so lists never
 * need rescaling and an item's order does not depend on "now". Not thread-safe: the owner locks.
 */
#ifndef REC_MODEL_POPULARITY_H
#define REC_MODEL_POPULARITY_H

#include <stdint.h>

#include "model/pop_top.h"

struct rec_pop {
    double *sum;        /* decayed weight at ref_ts[i] */
    int64_t *ref_ts;    /* Unix seconds */
    double *key;        /* rec_pop_key's value, kept by rec_pop_add: a request ranks every
                         * item by it, and a log2 per item was 5% of a request's time */
    int32_t n_items;
    int32_t cap;
    double half_life_s; /* > 0 */
    struct rec_pop_top top; /* the best items by key, kept by rec_pop_add: requests read their
                             * popular candidates off it instead of ranking every item */
};

void rec_pop_init(struct rec_pop *p, double half_life_s);
void rec_pop_free(struct rec_pop *p);
/* The decay step shared by item totals and per-user contributions (so a user's share can be
 * subtracted exactly): adds w at time ts to sum, held at reference time *ref, moving *ref forward
 * when ts is later. Returns the new sum. */
double rec_pop_decay_add(double sum, int64_t *ref, double w, int64_t ts, double half_life_s);
/* Adds weight w at time ts to item (growing the table). 0 or REC_ENOMEM. */
int rec_pop_add(struct rec_pop *p, int32_t item, double w, int64_t ts);
/* Ranking key (higher is more popular); -INFINITY for items with no positive mass. */
double rec_pop_key(const struct rec_pop *p, int32_t item);
/* Decayed value at time now. */
double rec_pop_value(const struct rec_pop *p, int32_t item, int64_t now);

#endif
