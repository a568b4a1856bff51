/* coldstart.c: cold-start item factors by content kNN, see coldstart.h. */
#include "model/coldstart.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/halt.h"
#include "core/workers.h"
#include "model/content.h"

#define MAX_NEIGHBORS 1024

static int check_args(const struct rec_model *content, const float *item_factors, int k,
                      int neighbors, const float *out)
{
    if (rec_content_n_items(content) < 0 || !item_factors || k < 1 || !out || neighbors < 1 ||
        neighbors > MAX_NEIGHBORS)
        return REC_EINVAL;
    return REC_OK;
}

/* out = similarity-weighted mean of the neighbours' rows (accumulated in double); returns
 * whether the weights had a positive sum (else out is untouched). */
static int weighted_mean(const int32_t *items, const float *sims, int n, const float *y, int k,
                         double *acc, float *out)
{
    memset(acc, 0, (size_t)k * sizeof *acc);
    double wsum = 0.0;
    for (int j = 0; j < n; j++) {
        const float *row = y + (size_t)items[j] * k;
        for (int f = 0; f < k; f++)
            acc[f] += (double)sims[j] * row[f];
        wsum += sims[j];
    }
    if (!(wsum > 0.0))
        return 0;
    for (int f = 0; f < k; f++)
        out[f] = (float)(acc[f] / wsum);
    return 1;
}

/* out = similarity-weighted mean of the neighbours' rows, or the mean of every row with
 * history (skipping skip) when there is no neighbour; REC_ENOTFOUND in that case. */
static int blend(const struct rec_model *content, const int32_t *items, const float *sims, int n,
                 const float *y, int k, const uint8_t *has_history, int32_t skip, float *out)
{
    double *acc = calloc((size_t)k, sizeof *acc);
    if (!acc)
        return REC_ENOMEM;
    int rc = REC_OK;
    if (!weighted_mean(items, sims, n, y, k, acc, out)) {
        rc = REC_ENOTFOUND;
        double wsum = 0.0;
        memset(acc, 0, (size_t)k * sizeof *acc);
        int32_t n_items = rec_content_n_items(content);
        for (int32_t i = 0; i < n_items; i++) {
            if (i == skip || (has_history && !has_history[i]))
                continue;
            for (int f = 0; f < k; f++)
                acc[f] += y[(size_t)i * k + f];
            wsum += 1.0;
        }
        for (int f = 0; f < k; f++)
            out[f] = wsum > 0.0 ? (float)(acc[f] / wsum) : 0.0f;
    }
    free(acc);
    return rc;
}

/* Eligibility mask: has_history without the item itself (NULL has_history = all). */
static uint8_t *eligible_mask(const struct rec_model *content, const uint8_t *has_history,
                              int32_t skip)
{
    int32_t n = rec_content_n_items(content);
    uint8_t *m = malloc((size_t)n + 1);
    if (!m)
        return NULL;
    if (has_history)
        memcpy(m, has_history, (size_t)n);
    else
        memset(m, 1, (size_t)n);
    if (skip >= 0 && skip < n)
        m[skip] = 0;
    return m;
}

static int knn_factors(const struct rec_model *content, int32_t item, const char *doc,
                       const float *y, int k, const uint8_t *has_history, int neighbors,
                       float *out)
{
    int32_t *items = malloc((size_t)neighbors * sizeof *items);
    float *sims = malloc((size_t)neighbors * sizeof *sims);
    uint8_t *elig = eligible_mask(content, has_history, item);
    int n = 0, rc = items && sims && elig ? REC_OK : REC_ENOMEM;
    if (rc == REC_OK)
        rc = doc ? rec_content_neighbors_of_doc(content, doc, elig, neighbors, items, sims, &n)
                 : rec_content_neighbors_of_item(content, item, elig, neighbors, items, sims, &n);
    if (rc == REC_OK)
        rc = blend(content, items, sims, n, y, k, elig, item, out);
    free(items);
    free(sims);
    free(elig);
    return rc;
}

int rec_coldstart_item_factors(const struct rec_model *content, int32_t item,
                               const float *item_factors, int k, const uint8_t *has_history,
                               int neighbors, float *out)
{
    if (check_args(content, item_factors, k, neighbors, out) != REC_OK || item < 0 ||
        item >= rec_content_n_items(content))
        return REC_EINVAL;
    return knn_factors(content, item, NULL, item_factors, k, has_history, neighbors, out);
}

int rec_coldstart_doc_factors(const struct rec_model *content, const char *doc_json,
                              const float *item_factors, int k, const uint8_t *has_history,
                              int neighbors, float *out)
{
    if (check_args(content, item_factors, k, neighbors, out) != REC_OK || !doc_json)
        return REC_EINVAL;
    return knn_factors(content, -1, doc_json, item_factors, k, has_history, neighbors, out);
}

/* ---- many items at once ---- */

struct batch_thread {
    struct rec_content_scratch *scratch;
    int32_t *items;
    float *sims;
    double *acc;
};

struct batch {
    const struct rec_model *content;
    const int32_t *items;
    const float *y;
    int k, neighbors;
    const uint8_t *has_history;
    float *out;
    int *status;
    struct batch_thread *th;
};

/* Allocates thread t's buffers on first use; returns 0 or REC_ENOMEM. */
static int batch_thread_init(const struct batch *b, struct batch_thread *t)
{
    if (t->scratch)
        return REC_OK;
    t->items = malloc((size_t)b->neighbors * sizeof *t->items);
    t->sims = malloc((size_t)b->neighbors * sizeof *t->sims);
    t->acc = malloc((size_t)b->k * sizeof *t->acc);
    if (t->items && t->sims && t->acc && (t->scratch = rec_content_scratch_new(b->content)))
        return REC_OK;
    free(t->items);
    free(t->sims);
    free(t->acc);
    memset(t, 0, sizeof *t);
    return REC_ENOMEM;
}

static void batch_range(void *ctx, int thread, int64_t lo, int64_t hi)
{
    const struct batch *b = ctx;
    struct batch_thread *t = &b->th[thread];
    int rc = batch_thread_init(b, t);
    for (int64_t j = lo; j < hi; j++) {
        float *out = b->out + (size_t)j * b->k;
        memset(out, 0, (size_t)b->k * sizeof *out);
        int n = 0;
        b->status[j] = rc ? rc
                          : rec_content_neighbors_of_item_in(b->content, t->scratch, b->items[j],
                                                             b->has_history, b->neighbors,
                                                             t->items, t->sims, &n);
        if (!b->status[j] && !weighted_mean(t->items, t->sims, n, b->y, b->k, t->acc, out))
            b->status[j] = REC_ENOTFOUND;
    }
}

int rec_coldstart_items_factors(const struct rec_model *content, const int32_t *items, int32_t n,
                                const float *item_factors, int k, const uint8_t *has_history,
                                int neighbors, int threads, float *out, int *status)
{
    if (check_args(content, item_factors, k, neighbors, out) != REC_OK || n < 0 ||
        (n > 0 && (!items || !status)))
        return REC_EINVAL;
    if (n == 0)
        return REC_OK;
    int n_threads = rec_workers_count(threads, 64);
    struct batch_thread *th = calloc((size_t)n_threads, sizeof *th);
    if (!th)
        return REC_ENOMEM;
    struct batch b = {content, items, item_factors, k, neighbors, has_history, out, status, th};
    rec_workers_for(n_threads, n, 64, batch_range, &b);
    for (int t = 0; t < n_threads; t++) {
        rec_content_scratch_free(th[t].scratch);
        free(th[t].items);
        free(th[t].sims);
        free(th[t].acc);
    }
    free(th);
    /* a halt leaves some items undone (core/workers.h): their rows and codes were never set */
    return rec_halt_requested() ? REC_ECANCELED : REC_OK;
}
