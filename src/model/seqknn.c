/* seqknn.c: sequence-local item co-occurrence kNN; definitions in seqknn.h.
 *
 * Fit: every user's row is ordered by (time, item), which gives each ui entry its position; the
 * entries are then bucketed by item as (user, position) pairs, so item i's co-occurrence row is
 * the sum over its occurrences of the at most 2 * window items around each one: O(nnz * window)
 * in all, accumulated in a dense per-thread row with a list of the touched columns (as itemknn).
 * Ties in time are broken by item index, so the fit does not depend on input order.
 *
 * Why the defaults (validation carve of the ML-100K P1 training part, 90/10, 3 carves, NDCG@10 of
 * the model alone; the same harness gave plain co-occurrence kNN with itemknn's tricks 0.1601):
 * window 10, decay 0.5, cosine, shrink 5, sim_pow 2: 0.1655; window 5..40 and flat windows within
 * 0.002; windows in seconds instead of positions (10 min..1 day) lose (0.154..0.159).
 * As a blend member next to iALS the best lists are peaked instead (sim_pow 4-5, weight 0.05):
 * +0.001..0.002 NDCG@10 on the carves; on ML-100K the defaults get weight 0 there (recd tune
 * --tune-in-blend 1 finds them; docs/EVALUATION.md, recd tune).
 */
#include "model/seqknn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/workers.h"
#include "model/nbr_lists.h"

#define MAX_THREADS 256
#define CHUNK_ITEMS 16

enum { P_NEIGHBORS, P_WINDOW, P_DECAY, P_SHRINK, P_ASYM_ALPHA, P_SIM_POW, N_PARAMS };

static const struct rec_param_spec PARAMS[N_PARAMS] = {
    {"neighbors", 100, 1, 10000, REC_PARAM_LOG_INT, "neighbours kept per item"},
    {"window", 10, 1, 1000, REC_PARAM_LOG_INT, "pairs at most this many positions apart count"},
    {"decay", 0.5, 0, 3, REC_PARAM_LINEAR, "a pair d positions apart weighs d^-decay"},
    {"shrink", 5, 0, 1000, REC_PARAM_LINEAR, "added to every similarity denominator"},
    {"asym_alpha", 0.5, 0, 1, REC_PARAM_LINEAR, "c_ij / (n_i^a n_j^(1-a) + shrink)"},
    {"sim_pow", 2, 0.25, 16, REC_PARAM_LINEAR, "kept similarities are raised to this power"},
};

struct seqknn {
    struct rec_nbr_lists l; /* each list sums to 1 */
};

static void seq_free(struct seqknn *m)
{
    if (!m)
        return;
    rec_nbr_lists_free(&m->l);
    free(m);
}

static void destroy(struct rec_model *m) { seq_free((struct seqknn *)m); }

/* ---- fit --------------------------------------------------------------------------------- */

struct cand {
    float s;
    int32_t j;
};

/* best first; equal similarities by item, so the kept lists are a total order */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

struct job {
    const struct rec_csr *ui;
    const int32_t *ord;       /* per ui row: its valid items in time order, from indptr[u] */
    const int32_t *row_len;   /* valid entries of each row */
    const int64_t *occ_ptr;   /* n_items + 1: item i's occurrences [occ_ptr[i], occ_ptr[i+1]) */
    const int32_t *occ_u, *occ_p;  /* user and position of each occurrence */
    const float *uw;          /* per-user weight */
    const double *nl, *nr;    /* n_i^alpha, n_i^(1-alpha) */
    const double *dw;         /* dw[d] = d^-decay, d = 1..window */
    int window, k;
    double shrink, pw;
    int32_t *nbr;             /* n_items x k slab */
    float *sim;
    int64_t *cnt;             /* cnt[i + 1] = kept neighbours of i */
    double *acc;              /* threads x n_items, zero between items */
    int32_t *touched;         /* threads x n_items */
    struct cand *cands;       /* threads x n_items */
};

static void fit_item(struct job *jb, int thread, int32_t i)
{
    size_t n = (size_t)jb->ui->n_cols;
    double *acc = jb->acc + (size_t)thread * n;
    int32_t *touched = jb->touched + (size_t)thread * n;
    struct cand *c = jb->cands + (size_t)thread * n;
    int nt = 0;
    for (int64_t o = jb->occ_ptr[i]; o < jb->occ_ptr[i + 1]; o++) {
        int32_t u = jb->occ_u[o], p = jb->occ_p[o];
        int64_t base = jb->ui->indptr[u];
        int32_t len = jb->row_len[u];
        int32_t lo = p > jb->window ? p - jb->window : 0;
        int32_t hi = len - 1 - p > jb->window ? p + jb->window : len - 1;
        for (int32_t q = lo; q <= hi; q++) {
            if (q == p)
                continue;
            int32_t j = jb->ord[base + q];
            if (acc[j] == 0.0) /* every term is > 0, so 0 means untouched */
                touched[nt++] = j;
            acc[j] += jb->uw[u] * jb->dw[q > p ? q - p : p - q];
        }
    }
    int nc = 0;
    for (int t = 0; t < nt; t++) {
        int32_t j = touched[t];
        double s = acc[j] / (jb->nl[i] * jb->nr[j] + jb->shrink);
        acc[j] = 0.0;
        if (j != i && s > 0.0 && s <= FLT_MAX)
            c[nc++] = (struct cand){(float)s, j};
    }
    qsort(c, (size_t)nc, sizeof *c, cand_cmp);
    if (nc > jb->k)
        nc = jb->k;
    /* dividing by the best before the power keeps a high power from underflowing the list */
    double sum = 0.0, best = nc > 0 ? c[0].s : 1.0;
    for (int t = 0; t < nc; t++)
        sum += c[t].s = (float)pow(c[t].s / best, jb->pw);
    int kept = 0;
    for (int t = 0; t < nc; t++) {
        float s = (float)(c[t].s / sum);
        if (!(s > 0.0f))
            continue;
        jb->nbr[(size_t)i * jb->k + kept] = c[t].j;
        jb->sim[(size_t)i * jb->k + kept++] = s;
    }
    jb->cnt[i + 1] = kept;
}

static void fit_items(void *ctx, int thread, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        fit_item(ctx, thread, (int32_t)i);
}

/* Sort key of one ui entry within its row. */
struct tkey {
    int64_t ts;
    int32_t item;
};

static int tkey_cmp(const void *a, const void *b)
{
    const struct tkey *x = a, *y = b;
    if (x->ts != y->ts)
        return (x->ts > y->ts) - (x->ts < y->ts);
    return (x->item > y->item) - (x->item < y->item);
}

/* Arrays of the fit that are not part of the model. */
struct scratch {
    int32_t *ord, *row_len, *occ_u, *occ_p, *touched;
    int64_t *occ_ptr;
    float *uw;
    double *nl, *nr, *dw, *acc;
    struct cand *cands;
};

static void scratch_free(struct scratch *s)
{
    free(s->ord), free(s->row_len), free(s->occ_u), free(s->occ_p), free(s->touched);
    free(s->occ_ptr), free(s->uw), free(s->nl), free(s->nr), free(s->dw), free(s->acc);
    free(s->cands);
}

/* ord and row_len (each row's valid entries, those with a finite value > 0, in time order), the
 * item buckets of (user, position), w_u, n_i^alpha and n_i^(1-alpha). */
static int prepare(const struct rec_csr *ui, const int64_t *ts, double alpha, struct scratch *s)
{
    int64_t nnz = ui->indptr[ui->n_rows];
    size_t ni = (size_t)ui->n_cols + 1, nz = (size_t)nnz + 1;
    struct tkey *k = malloc(nz * sizeof *k);
    double *n = calloc(ni, sizeof *n);
    int64_t *at = calloc(ni, sizeof *at);
    s->ord = malloc(nz * sizeof *s->ord);
    s->row_len = calloc((size_t)ui->n_rows + 1, sizeof *s->row_len);
    s->occ_ptr = calloc(ni + 1, sizeof *s->occ_ptr);
    s->occ_u = malloc(nz * sizeof *s->occ_u);
    s->occ_p = malloc(nz * sizeof *s->occ_p);
    s->uw = malloc(((size_t)ui->n_rows + 1) * sizeof *s->uw);
    s->nl = malloc(ni * sizeof *s->nl);
    s->nr = malloc(ni * sizeof *s->nr);
    int rc = REC_ENOMEM;
    if (!k || !n || !at || !s->ord || !s->row_len || !s->occ_ptr || !s->occ_u || !s->occ_p ||
        !s->uw || !s->nl || !s->nr)
        goto out;
    for (int32_t u = 0; u < ui->n_rows; u++) {
        int64_t b = ui->indptr[u];
        int32_t len = 0;
        for (int64_t e = b; e < ui->indptr[u + 1]; e++)
            if (ui->values[e] > 0.0f && ui->values[e] <= FLT_MAX)
                k[b + len++] = (struct tkey){ts[e], ui->indices[e]};
        qsort(k + b, (size_t)len, sizeof *k, tkey_cmp);
        s->row_len[u] = len;
        s->uw[u] = len > 0 ? (float)(1.0 / log1p((double)len)) : 0.0f;
        for (int32_t p = 0; p < len; p++) {
            s->ord[b + p] = k[b + p].item;
            s->occ_ptr[k[b + p].item + 1]++;
            n[k[b + p].item] += s->uw[u];
        }
    }
    for (int32_t i = 0; i < ui->n_cols; i++) {
        s->occ_ptr[i + 1] += s->occ_ptr[i];
        s->nl[i] = pow(n[i], alpha);
        s->nr[i] = pow(n[i], 1.0 - alpha);
    }
    for (int32_t u = 0; u < ui->n_rows; u++)
        for (int32_t p = 0; p < s->row_len[u]; p++) {
            int32_t i = s->ord[ui->indptr[u] + p];
            int64_t o = s->occ_ptr[i] + at[i]++;
            s->occ_u[o] = u;
            s->occ_p[o] = p;
        }
    rc = REC_OK;
out:
    free(k), free(n), free(at);
    return rc;
}

static int fit(const struct rec_train_input *in, const double *p, struct rec_model **out,
               char *err, size_t errlen)
{
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "seqknn: no output");
    *out = NULL;
    if (!in || rec_csr_check(in->ui, 0) != REC_OK)
        return rec_errf(err, errlen, REC_EINVAL, "seqknn: ui is not a valid CSR matrix");
    if (!in->ui_ts)
        return rec_errf(err, errlen, REC_EINVAL, "seqknn: needs event times (ui_ts)");
    if (rec_model_params_check("seqknn", PARAMS, N_PARAMS, p, err, errlen))
        return REC_EINVAL;
    const int32_t n_items = in->ui->n_cols;
    int64_t k = (int64_t)p[P_NEIGHBORS];
    if (k > (int64_t)n_items - 1)
        k = n_items > 1 ? n_items - 1 : 1;
    int window = (int)p[P_WINDOW];
    int nthreads = rec_workers_count(in->threads, MAX_THREADS);
    size_t ni = (size_t)n_items + 1, slab = (size_t)n_items * (size_t)k + 1;
    struct scratch s = {0};
    struct seqknn *m = calloc(1, sizeof *m);
    int rc = REC_ENOMEM;
    if (!m || prepare(in->ui, in->ui_ts, p[P_ASYM_ALPHA], &s) != REC_OK)
        goto out;
    m->l.n_items = n_items;
    m->l.indptr = calloc(ni, sizeof *m->l.indptr);
    m->l.nbr = malloc(slab * sizeof *m->l.nbr);
    m->l.sim = malloc(slab * sizeof *m->l.sim);
    s.dw = malloc(((size_t)window + 1) * sizeof *s.dw);
    s.acc = calloc((size_t)nthreads * ni, sizeof *s.acc);
    s.touched = malloc((size_t)nthreads * ni * sizeof *s.touched);
    s.cands = malloc((size_t)nthreads * ni * sizeof *s.cands);
    if (!m->l.indptr || !m->l.nbr || !m->l.sim || !s.dw || !s.acc || !s.touched || !s.cands)
        goto out;
    s.dw[0] = 0.0;
    for (int d = 1; d <= window; d++)
        s.dw[d] = pow(d, -p[P_DECAY]);
    struct job jb = {.ui = in->ui, .ord = s.ord, .row_len = s.row_len, .occ_ptr = s.occ_ptr,
                     .occ_u = s.occ_u, .occ_p = s.occ_p, .uw = s.uw, .nl = s.nl, .nr = s.nr,
                     .dw = s.dw, .window = window, .k = (int)k, .shrink = p[P_SHRINK],
                     .pw = p[P_SIM_POW], .nbr = m->l.nbr, .sim = m->l.sim, .cnt = m->l.indptr,
                     .acc = s.acc, .touched = s.touched, .cands = s.cands};
    rec_workers_for(nthreads, n_items, CHUNK_ITEMS, fit_items, &jb);
    rec_nbr_lists_compact(&m->l, (int)k);
    *out = (struct rec_model *)m;
    m = NULL;
    rc = REC_OK;
out:
    scratch_free(&s);
    seq_free(m);
    if (rc == REC_ENOMEM)
        rec_errf(err, errlen, rc, "seqknn: out of memory");
    return rc;
}

/* ---- scoring ------------------------------------------------------------------------------- */

/* A history item counts once, whatever its strength (the fit is binary too). */
static int score(const struct rec_model *mm, const struct rec_user_query *q, float *scores)
{
    const struct seqknn *m = (const struct seqknn *)mm;
    return m ? rec_nbr_lists_score(&m->l, q, 1, scores) : REC_EINVAL;
}

static int similar(const struct rec_model *mm, int32_t item, float *scores)
{
    const struct seqknn *m = (const struct seqknn *)mm;
    return m ? rec_nbr_lists_similar(&m->l, item, scores) : REC_EINVAL;
}

const struct rec_model_type rec_model_seqknn = {
    .name = "seqknn",
    .summary = "sequence-local item-kNN: co-occurrence within a window of each user's time order",
    .params = PARAMS,
    .n_params = N_PARAMS,
    .fit = fit,
    .destroy = destroy,
    .score = score,
    .similar = similar,
};
