/* coldstart.c: cold-start item factors by content kNN, see coldstart.h. */
#include "model/coldstart.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
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

/* out = similarity-weighted mean of the neighbours' rows, or the mean of every row with
 * history (skipping skip) when there is no neighbour; REC_ENOTFOUND in that case. */
static int blend(const struct rec_model *content, const int32_t *items, const float *sims, int n,
                 const float *y, int k, const uint8_t *has_history, int32_t skip, float *out)
{
    double *acc = calloc((size_t)k, sizeof *acc);
    if (!acc)
        return REC_ENOMEM;
    double wsum = 0.0;
    for (int j = 0; j < n; j++) {
        const float *row = y + (size_t)items[j] * k;
        for (int f = 0; f < k; f++)
            acc[f] += (double)sims[j] * row[f];
        wsum += sims[j];
    }
    int rc = REC_OK;
    if (!(wsum > 0.0)) {
        rc = REC_ENOTFOUND;
        int32_t n_items = rec_content_n_items(content);
        for (int32_t i = 0; i < n_items; i++) {
            if (i == skip || (has_history && !has_history[i]))
                continue;
            for (int f = 0; f < k; f++)
                acc[f] += y[(size_t)i * k + f];
            wsum += 1.0;
        }
    }
    for (int f = 0; f < k; f++)
        out[f] = wsum > 0.0 ? (float)(acc[f] / wsum) : 0.0f;
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
