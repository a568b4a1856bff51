/* nbr_lists.c: per-item neighbour lists; see nbr_lists.h. */
#include "model/nbr_lists.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "model/hist_merge.h"

void rec_nbr_lists_free(struct rec_nbr_lists *l)
{
    free(l->indptr);
    free(l->nbr);
    free(l->sim);
    l->indptr = NULL;
    l->nbr = NULL;
    l->sim = NULL;
}

/* Entries only move towards the front, in item order, so memmove in place is safe. */
void rec_nbr_lists_compact(struct rec_nbr_lists *l, int k)
{
    int64_t *ip = l->indptr;
    ip[0] = 0;
    for (int32_t i = 0; i < l->n_items; i++) {
        int64_t n = ip[i + 1];
        memmove(l->nbr + ip[i], l->nbr + (size_t)i * k, (size_t)n * sizeof *l->nbr);
        memmove(l->sim + ip[i], l->sim + (size_t)i * k, (size_t)n * sizeof *l->sim);
        ip[i + 1] = ip[i] + n;
    }
    size_t nnz = (size_t)ip[l->n_items] + 1;
    int32_t *nb = realloc(l->nbr, nnz * sizeof *nb);
    float *sm = realloc(l->sim, nnz * sizeof *sm);
    if (nb) /* a failed shrink keeps the larger block, which is still valid */
        l->nbr = nb;
    if (sm)
        l->sim = sm;
}

/* Repeated items count once: strengths are summed (as rec_csr_from_triplets does for a fit's
 * input), or the item counts 1 when binary. */
int rec_nbr_lists_score(const struct rec_nbr_lists *l, const struct rec_user_query *q, int binary,
                        float *scores)
{
    if (!l || !q || !scores || q->n < 0 || (q->n > 0 && !q->items))
        return REC_EINVAL;
    memset(scores, 0, (size_t)l->n_items * sizeof *scores);
    struct rec_hist_entry *h = malloc(((size_t)q->n + 1) * sizeof *h);
    if (!h)
        return REC_ENOMEM;
    int nh = 0;
    for (int e = 0; e < q->n; e++) {
        float r = q->strengths ? q->strengths[e] : 1.0f;
        if (q->items[e] >= 0 && q->items[e] < l->n_items && r > 0.0f && r <= FLT_MAX)
            h[nh++] = (struct rec_hist_entry){q->items[e], r};
    }
    int np = rec_hist_merge(h, nh);
    for (int e = 0; e < np; e++) {
        float w = binary ? 1.0f : h[e].w;
        for (int64_t f = l->indptr[h[e].item]; f < l->indptr[h[e].item + 1]; f++)
            scores[l->nbr[f]] += w * l->sim[f];
    }
    free(h);
    return REC_OK;
}

int rec_nbr_lists_similar(const struct rec_nbr_lists *l, int32_t item, float *scores)
{
    if (!l || !scores || item < 0 || item >= l->n_items)
        return REC_EINVAL;
    memset(scores, 0, (size_t)l->n_items * sizeof *scores);
    for (int64_t f = l->indptr[item]; f < l->indptr[item + 1]; f++)
        scores[l->nbr[f]] = l->sim[f];
    return REC_OK;
}
