/* bench_util.c: see bench_util.h. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_triplets_init(struct bench_triplets *b)
{
    memset(b, 0, sizeof *b);
    rec_idmap_init(&b->users);
    rec_idmap_init(&b->items);
}

void bench_triplets_free(struct bench_triplets *b)
{
    free(b->t);
    rec_idmap_free(&b->users);
    rec_idmap_free(&b->items);
    memset(b, 0, sizeof *b);
}

int bench_triplets_on_event(void *ctx, const struct rec_event *ev)
{
    struct bench_triplets *d = ctx;
    double w = rec_event_default_weight(ev->type);
    if (w <= 0)
        return 0;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1 << 16;
        struct rec_triplet *t = realloc(d->t, (size_t)d->cap * sizeof *t);
        if (!t)
            return -2;
        d->t = t;
    }
    d->t[d->n++] = (struct rec_triplet){rec_idmap_put(&d->users, ev->user, NULL),
                                        rec_idmap_put(&d->items, ev->item, NULL), (float)w};
    return 0;
}
