/* runner.c: scoring a split's test users with one scorer, in parallel, into metrics at several K.
 *
 * Users are handed out through an atomic counter; each thread (core/workers) accumulates its own metrics and
 * they are merged in thread order at the end. Sums are over users, so the merge is exact up to
 * float addition order (the means printed agree to far more than the 3 decimals evalkit checks).
 */
#include "eval/runner.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/workers.h"
#include "eval/beyond.h"
#include "serve/topk.h"

#define MAX_THREADS 64

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int rec_eval_split_build(struct rec_eval_split *s, int32_t n_users, int32_t n_items,
                         const struct rec_interaction *x, int64_t n, const uint8_t *is_test)
{
    memset(s, 0, sizeof *s);
    s->n_users = n_users;
    s->n_items = n_items;
    struct rec_triplet *t = malloc((size_t)(n ? n : 1) * sizeof *t);
    s->test_start = calloc((size_t)n_users + 1, sizeof *s->test_start);
    s->test_items = malloc((size_t)(n ? n : 1) * sizeof *s->test_items);
    int64_t *fill = calloc((size_t)n_users + 1, sizeof *fill);
    if (!t || !s->test_start || !s->test_items || !fill)
        goto nomem;
    int64_t n_train = 0;
    for (int64_t j = 0; j < n; j++) {
        if (is_test[j])
            s->test_start[x[j].user + 1]++;
        else
            t[n_train++] = (struct rec_triplet){x[j].user, x[j].item, x[j].value};
    }
    if (rec_csr_from_triplets(&s->train, n_users, n_items, t, n_train) ||
        rec_csr_transpose(&s->train, &s->train_t))
        goto nomem;
    /* times: look each train entry up by (user, item) in the sorted rows */
    s->train_ts = calloc((size_t)n_train + 1, sizeof *s->train_ts);
    if (!s->train_ts)
        goto nomem;
    for (int64_t j = 0; j < n; j++) {
        if (is_test[j])
            continue;
        const int32_t *row = s->train.indices + s->train.indptr[x[j].user];
        int64_t len = s->train.indptr[x[j].user + 1] - s->train.indptr[x[j].user];
        const int32_t *hit = bsearch(&x[j].item, row, (size_t)len, sizeof *row, cmp_i32);
        if (hit) {
            int64_t *ts = &s->train_ts[s->train.indptr[x[j].user] + (hit - row)];
            if (x[j].ts > *ts)
                *ts = x[j].ts;
        }
    }
    for (int32_t u = 0; u < n_users; u++)
        s->test_start[u + 1] += s->test_start[u];
    for (int64_t j = 0; j < n; j++)
        if (is_test[j])
            s->test_items[s->test_start[x[j].user] + fill[x[j].user]++] = x[j].item;
    for (int32_t u = 0; u < n_users; u++)
        qsort(s->test_items + s->test_start[u], (size_t)(s->test_start[u + 1] - s->test_start[u]),
              sizeof *s->test_items, cmp_i32);
    s->n_test = s->test_start[n_users];
    free(fill);
    free(t);
    return 0;
nomem:
    free(fill);
    free(t);
    rec_eval_split_free(s);
    return REC_ENOMEM;
}

void rec_eval_split_free(struct rec_eval_split *s)
{
    rec_csr_free(&s->train);
    rec_csr_free(&s->train_t);
    free(s->train_ts);
    free(s->test_start);
    free(s->test_items);
    memset(s, 0, sizeof *s);
}

void rec_eval_train_input(const struct rec_eval_split *s, int threads, struct rec_train_input *in)
{
    *in = (struct rec_train_input){&s->train, &s->train_t, s->train_ts, s->item_docs, s->user_docs,
                                   threads};
}

void rec_eval_query(const struct rec_eval_split *s, int32_t u, struct rec_user_query *q)
{
    int64_t lo = s->train.indptr[u], hi = s->train.indptr[u + 1];
    *q = (struct rec_user_query){u, s->train.indices + lo, s->train.values + lo, s->train_ts + lo,
                                 (int)(hi - lo), 0, s->user_docs ? s->user_docs[u] : NULL};
}

int rec_eval_score_model(void *ctx, const struct rec_eval_split *s, int32_t u, float *scores)
{
    const struct rec_eval_model_ctx *c = ctx;
    struct rec_user_query q;
    rec_eval_query(s, u, &q);
    return c->type->score(c->model, &q, scores);
}

/* ---- the parallel loop --------------------------------------------------------------------- */

struct job {
    const struct rec_eval_split *s;
    rec_eval_score_fn fn;
    void *ctx;
    int n_k, max_k;
    int32_t *lists;          /* n_users x max_k, -1 padded: kept for the beyond-accuracy pass */
    _Atomic int32_t next;
    _Atomic int failed;
};

struct part {
    struct job *job;
    struct rec_metrics_at at[REC_EVAL_MAX_K];
    struct rec_auc auc;
    int rc;
};

static void merge(struct rec_metrics *a, const struct rec_metrics *b)
{
    a->precision += b->precision;
    a->recall += b->recall;
    a->ndcg += b->ndcg;
    a->map += b->map;
    a->hr += b->hr;
    a->mrr += b->mrr;
    a->n_users += b->n_users;
}

static void run_part(void *arg, int thread)
{
    struct part *p = (struct part *)arg + thread;
    struct job *j = p->job;
    const struct rec_eval_split *s = j->s;
    float *scores = malloc(((size_t)s->n_items + 1) * sizeof *scores);
    uint8_t *seen = calloc((size_t)s->n_items + 1, 1);
    struct rec_topk_entry *heap = malloc((size_t)j->max_k * sizeof *heap);
    int32_t *recs = malloc((size_t)j->max_k * sizeof *recs);
    if (!scores || !seen || !heap || !recs) {
        p->rc = REC_ENOMEM;
        atomic_store(&j->failed, 1);
        goto out;
    }
    for (;;) {
        int32_t u = atomic_fetch_add(&j->next, 1);
        if (u >= s->n_users || atomic_load(&j->failed))
            break;
        int n_rel = (int)(s->test_start[u + 1] - s->test_start[u]);
        if (n_rel == 0)
            continue;
        const int32_t *rel = s->test_items + s->test_start[u];
        if ((p->rc = j->fn(j->ctx, s, u, scores))) {
            atomic_store(&j->failed, 1);
            break;
        }
        for (int64_t e = s->train.indptr[u]; e < s->train.indptr[u + 1]; e++)
            seen[s->train.indices[e]] = 1;
        struct rec_topk t;
        rec_topk_init(&t, heap, j->max_k);
        for (int32_t i = 0; i < s->n_items; i++)
            if (!seen[i] && scores[i] != -INFINITY && !isnan(scores[i]))
                rec_topk_push(&t, scores[i], i);
        int got = rec_topk_sort(&t);
        int32_t *keep = j->lists + (size_t)u * j->max_k;
        for (int r = 0; r < j->max_k; r++)
            keep[r] = recs[r] = r < got ? heap[r].idx : -1;
        rec_metrics_add_at(p->at, j->n_k, recs, got, rel, n_rel);
        if ((p->rc = rec_metrics_auc_add(&p->auc, scores, seen, s->n_items, rel, n_rel))) {
            atomic_store(&j->failed, 1);
            break;
        }
        for (int64_t e = s->train.indptr[u]; e < s->train.indptr[u + 1]; e++)
            seen[s->train.indices[e]] = 0;
    }
out:
    free(recs);
    free(heap);
    free(seen);
    free(scores);
}

/* Coverage, diversity, novelty and popularity bias of the kept lists. */
static int beyond_pass(const struct rec_eval_split *s, const struct job *j, struct rec_eval_result *out)
{
    int64_t *count = malloc(((size_t)s->n_items + 1) * sizeof *count);
    if (!count)
        return REC_ENOMEM;
    rec_beyond_item_counts(&s->train, count);
    int64_t n_train_users = 0;
    for (int32_t u = 0; u < s->n_users; u++)
        n_train_users += s->train.indptr[u + 1] > s->train.indptr[u];
    struct rec_beyond *b = NULL;
    int rc = rec_beyond_create(s->n_items > 0 ? s->n_items : 1, count, n_train_users > 0 ? n_train_users : 1,
                               s->item_cats, &b);
    for (int32_t u = 0; u < s->n_users && !rc; u++) {
        const int32_t *l = j->lists + (size_t)u * j->max_k;
        int n = 0;
        while (n < j->max_k && l[n] >= 0)
            n++;
        if (n > 0)
            rc = rec_beyond_add(b, l, n);
    }
    if (!rc)
        rc = rec_beyond_finish(b, &out->beyond);
    rec_beyond_destroy(b);
    free(count);
    return rc;
}

int rec_eval_run(const struct rec_eval_split *s, rec_eval_score_fn fn, void *ctx, const int *ks,
                 int n_k, int threads, struct rec_eval_result *out)
{
    if (n_k < 1 || n_k > REC_EVAL_MAX_K)
        return REC_EINVAL;
    memset(out, 0, sizeof *out);
    struct job j = {s, fn, ctx, n_k, 1, NULL, 0, 0};
    for (int q = 0; q < n_k; q++) {
        if (ks[q] < 1)
            return REC_EINVAL;
        j.max_k = ks[q] > j.max_k ? ks[q] : j.max_k;
    }
    threads = rec_workers_count(threads, MAX_THREADS);
    if (!(j.lists = malloc(((size_t)s->n_users + 1) * j.max_k * sizeof *j.lists)))
        return REC_ENOMEM;
    for (int64_t e = 0; e < (int64_t)s->n_users * j.max_k; e++)
        j.lists[e] = -1;
    struct part parts[MAX_THREADS];
    memset(parts, 0, sizeof parts);
    for (int t = 0; t < threads; t++) {
        parts[t].job = &j;
        for (int q = 0; q < n_k; q++)
            parts[t].at[q].k = ks[q];
    }
    double t0 = rec_mono_s();
    rec_workers_run(threads, run_part, parts);
    out->seconds = rec_mono_s() - t0;
    out->n_k = n_k;
    int rc = 0;
    struct rec_auc auc = {0};
    for (int t = 0; t < threads; t++) {
        if (parts[t].rc && !rc)
            rc = parts[t].rc;
        auc.auc += parts[t].auc.auc;
        auc.n_users += parts[t].auc.n_users;
    }
    rec_metrics_auc_finish(&auc);
    out->auc = auc.auc;
    for (int q = 0; q < n_k; q++) {
        out->ks[q] = ks[q];
        for (int t = 0; t < threads; t++)
            merge(&out->at[q], &parts[t].at[q].m);
        rec_metrics_finish(&out->at[q]);
    }
    out->n_users = out->at[0].n_users;
    if (!rc)
        rc = beyond_pass(s, &j, out);
    out->lists = j.lists;
    out->max_k = j.max_k;
    return rc;
}

void rec_eval_result_free(struct rec_eval_result *r)
{
    free(r->lists);
    r->lists = NULL;
}
