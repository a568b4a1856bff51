/* beyond.c: beyond-accuracy metrics of top-K lists.
 *
 * Per-list quantities (diversity, novelty, ARP, head share) are averaged first within a list,
 * then over lists, so a user with a short list weighs as much as one with a full list (the
 * papers' definitions: Zhou et al. 2010 for novelty, Abdollahpouri et al. 2019 for ARP).
 * Catalog-level quantities (coverage, Gini) come from per-item recommendation counts.
 *
 * Items without any training interaction would have infinite self-information; their count is
 * taken as 1, which caps novelty at log2(n_train_users). Two items that both have no category
 * have Jaccard distance 0 (identical empty sets, as scipy's jaccard), so uncategorised items do
 * not inflate diversity.
 */
#include "eval/beyond.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct rec_beyond {
    int32_t n_items;
    const int64_t *count;      /* training count per item (points into the same block) */
    double *self_info;         /* -log2(max(count, 1) / n_train_users) per item */
    uint8_t *head;             /* 1 for the REC_BEYOND_HEAD_PERCENT % most popular items */
    int64_t *rec_count;        /* recommendations of each item so far */
    const struct rec_csr *cats;
    double sum_ild, sum_novelty, sum_arp, sum_head;
    int64_t n_lists, n_recs, n_div_lists;
};

void rec_beyond_item_counts(const struct rec_csr *ui, int64_t *count)
{
    if (!ui || !count)
        return;
    memset(count, 0, (size_t)ui->n_cols * sizeof *count);
    int64_t nnz = ui->indptr[ui->n_rows];
    for (int64_t e = 0; e < nnz; e++)
        count[ui->indices[e]]++;
}

struct popular {
    int64_t count;
    int32_t item;
};

/* Count descending, then item ascending, so ties at the head's edge are deterministic. */
static int cmp_popular(const void *pa, const void *pb)
{
    const struct popular *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return (a->item > b->item) - (a->item < b->item);
}

/* Flags the ceil(REC_BEYOND_HEAD_PERCENT * n / 100) most popular items in head[0..n); integer
 * arithmetic, since 0.2 * 15 in doubles is just above 3. */
static int mark_head(const int64_t *count, int32_t n, uint8_t *head)
{
    struct popular *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return REC_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        order[i] = (struct popular){count[i], i};
    qsort(order, (size_t)n, sizeof *order, cmp_popular);
    int64_t n_head = ((int64_t)n * REC_BEYOND_HEAD_PERCENT + 99) / 100;
    memset(head, 0, (size_t)n);
    for (int32_t j = 0; j < n_head && j < n; j++)
        head[order[j].item] = 1;
    free(order);
    return REC_OK;
}

int rec_beyond_create(int32_t n_items, const int64_t *item_count, int64_t n_train_users,
                      const struct rec_csr *item_cats, struct rec_beyond **out)
{
    if (!out || n_items < 1 || !item_count || n_train_users < 1)
        return REC_EINVAL;
    for (int32_t i = 0; i < n_items; i++)
        if (item_count[i] < 0)
            return REC_EINVAL;
    struct rec_beyond *b = calloc(1, sizeof *b);
    if (!b)
        return REC_ENOMEM;
    size_t n = (size_t)n_items;
    int64_t *count = malloc(n * sizeof *count);
    b->rec_count = calloc(n, sizeof *b->rec_count);
    b->self_info = malloc(n * sizeof *b->self_info);
    b->head = malloc(n);
    b->count = count;
    if (!count || !b->rec_count || !b->self_info || !b->head ||
        mark_head(item_count, n_items, b->head) != REC_OK) {
        rec_beyond_destroy(b);
        return REC_ENOMEM;
    }
    memcpy(count, item_count, n * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        double c = count[i] > 0 ? (double)count[i] : 1.0;
        b->self_info[i] = -log2(c / (double)n_train_users);
    }
    b->n_items = n_items;
    b->cats = item_cats;
    *out = b;
    return REC_OK;
}

void rec_beyond_destroy(struct rec_beyond *b)
{
    if (!b)
        return;
    free((void *)b->count);
    free(b->self_info);
    free(b->head);
    free(b->rec_count);
    free(b);
}

/* Jaccard distance of the category sets of items a and b (sorted, unique ids). */
static double jaccard_distance(const struct rec_csr *cats, int32_t a, int32_t b)
{
    int64_t ia = 0, ea = 0, ib = 0, eb = 0;
    if (a < cats->n_rows) {
        ia = cats->indptr[a];
        ea = cats->indptr[a + 1];
    }
    if (b < cats->n_rows) {
        ib = cats->indptr[b];
        eb = cats->indptr[b + 1];
    }
    int64_t n_union = (ea - ia) + (eb - ib), inter = 0;
    if (n_union == 0)
        return 0.0;
    while (ia < ea && ib < eb) {
        int32_t x = cats->indices[ia], y = cats->indices[ib];
        inter += x == y;
        ia += x <= y;
        ib += y <= x;
    }
    return 1.0 - (double)inter / (double)(n_union - inter);
}

/* Mean pairwise Jaccard distance of a list of m >= 2 items: O(m^2) set comparisons. */
static double intra_list_diversity(const struct rec_csr *cats, const int32_t *recs, int m)
{
    double sum = 0.0;
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++)
            sum += jaccard_distance(cats, recs[i], recs[j]);
    return sum / ((double)m * (double)(m - 1) / 2.0);
}

int rec_beyond_add(struct rec_beyond *b, const int32_t *recs, int n_recs)
{
    if (!b || n_recs < 0 || (n_recs > 0 && !recs))
        return REC_EINVAL;
    for (int i = 0; i < n_recs; i++)
        if (recs[i] < 0 || recs[i] >= b->n_items)
            return REC_EINVAL;
    if (n_recs == 0)
        return REC_OK;
    double novelty = 0.0, arp = 0.0, head = 0.0;
    for (int i = 0; i < n_recs; i++) {
        int32_t it = recs[i];
        b->rec_count[it]++;
        novelty += b->self_info[it];
        arp += (double)b->count[it];
        head += b->head[it];
    }
    b->sum_novelty += novelty / n_recs;
    b->sum_arp += arp / n_recs;
    b->sum_head += head / n_recs;
    if (b->cats && n_recs >= 2) {
        b->sum_ild += intra_list_diversity(b->cats, recs, n_recs);
        b->n_div_lists++;
    }
    b->n_lists++;
    b->n_recs += n_recs;
    return REC_OK;
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* Gini index of c[0..n) (sorted here): sum_j (2j - n - 1) c_(j) / (n * sum c), j = 1..n over
 * the ascending order; 0 when the sum is 0. */
static double gini_sorted(int64_t *c, int32_t n)
{
    qsort(c, (size_t)n, sizeof *c, cmp_i64);
    double num = 0.0, total = 0.0;
    for (int32_t j = 1; j <= n; j++) {
        num += (2.0 * j - n - 1.0) * (double)c[j - 1];
        total += (double)c[j - 1];
    }
    return total > 0.0 ? num / ((double)n * total) : 0.0;
}

int rec_beyond_finish(const struct rec_beyond *b, struct rec_beyond_result *out)
{
    if (!b || !out)
        return REC_EINVAL;
    int64_t *c = malloc((size_t)b->n_items * sizeof *c);
    if (!c)
        return REC_ENOMEM;
    memcpy(c, b->rec_count, (size_t)b->n_items * sizeof *c);
    int32_t distinct = 0;
    for (int32_t i = 0; i < b->n_items; i++)
        distinct += c[i] > 0;
    memset(out, 0, sizeof *out);
    out->coverage = (double)distinct / (double)b->n_items;
    out->gini = gini_sorted(c, b->n_items);
    free(c);
    if (b->n_lists > 0) {
        double n = (double)b->n_lists;
        out->novelty = b->sum_novelty / n;
        out->arp = b->sum_arp / n;
        out->head_share = b->sum_head / n;
    }
    if (b->n_div_lists > 0)
        out->diversity = b->sum_ild / (double)b->n_div_lists;
    out->n_lists = b->n_lists;
    out->n_recs = b->n_recs;
    out->n_diversity_lists = b->n_div_lists;
    return REC_OK;
}
