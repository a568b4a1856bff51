/* hist_merge.c: see hist_merge.h. */
#include "model/hist_merge.h"

#include <stdlib.h>

static int by_item(const void *a, const void *b)
{
    int32_t x = ((const struct rec_hist_entry *)a)->item;
    int32_t y = ((const struct rec_hist_entry *)b)->item;
    return (x > y) - (x < y);
}

int rec_hist_merge(struct rec_hist_entry *h, int n)
{
    if (n <= 0)
        return 0;
    qsort(h, (size_t)n, sizeof *h, by_item);
    int np = 0;
    for (int e = 0; e < n; e++) {
        if (np > 0 && h[np - 1].item == h[e].item)
            h[np - 1].w += h[e].w;
        else
            h[np++] = h[e];
    }
    return np;
}
