/* itemknn.c: batch item-kNN (Deshpande & Karypis 2004) with cosine, asymmetric cosine (Aiolli
 * 2013) and Jaccard similarities; definitions in itemknn.h.
 *
 * Fit: item i's co-occurrence counts c_i. come from one sparse pass, i -> its users (iu) -> their
 * items (ui), accumulated in a dense per-thread row of n_items doubles with a list of the touched
 * columns, so an item costs O(sum of its users' history lengths) and clearing the row costs only
 * the touched entries. Each candidate then goes through a bounded min-heap of `neighbors` entries,
 * ordered by (similarity desc, item asc): a total order, so the kept lists do not depend on the
 * visit order or the thread count. Threads take chunks of CHUNK_ITEMS items through an atomic
 * counter (popular items cost far more than rare ones) and write into disjoint slots of one
 * n_items x neighbors slab, which is compacted in place into CSR at the end.
 *
 * Defaults, chosen on MovieLens-100K, protocol P1 (all ratings positive, per-user random 75/25
 * split, top-10 unseen items, NDCG@10; seed 42 and the mean over seeds 42..46), 2 threads:
 *     variant (neighbors=100)                               seed 42   mean of 5   fit
 *     cosine, shrink 10, plain                              0.3820    0.3851      0.06 s
 *     asymmetric a=0.55, shrink 10, plain                   0.3800    0.3866      0.06 s
 *     Jaccard, shrink 10, plain                             0.3690    0.3699      0.06 s
 *     cosine + normalize                                    0.3963    -           0.08 s
 *     cosine + normalize + user_weight                      0.4060    -           0.06 s
 *     cosine + normalize + user_weight, shrink 5, pow 6     0.4387    0.4400      0.06 s  default
 *     asymmetric a=0.55, same                               0.4367    0.4379      0.06 s
 *     Jaccard, same but shrink 10                           0.4311    0.4309      0.07 s
 * (iALS 0.49, EASE 0.48, the server's co-occurrence kNN 0.343.) The power only helps with
 * normalize (0.369 without): it makes each history item vote mostly for its closest few items,
 * and normalize gives every history item the same vote. Near the optimum it is flat: neighbors
 * 50..1000 within 0.006 (200: 0.4414), sim_pow 5..10 and shrink 2..10 within 0.003; asym_alpha
 * away from 0.5 only loses. binary=0 with ratings as strengths: 0.4378. ML-1M (users 1-2999,
 * 366k train pairs): 0.4228, fit 0.35 s on 1 thread, 0.15 s on 2.
 *
 * File format (integers little-endian, floats as IEEE-754 bits little-endian):
 *     "RECDIKN1"  u32 version(=1)  u32 n_params  n_params x f64 params (spec order)
 *     i32 n_items
 *     n_items x (u32 count, count x (i32 neighbour, f32 similarity))
 *     u64 FNV-1a 64 of every byte above
 * load checks every field (params in range, count <= neighbors, neighbour in range and not the
 * item itself, similarity finite and > 0) and never trusts a size before the bytes behind it have
 * arrived: arrays grow geometrically as data is read, so a forged header costs at most about
 * twice the real file size in memory.
 */
#include "model/itemknn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/workers.h"
#include "model/binio.h"
#include "model/nbr_lists.h"

#define MAX_THREADS 256
#define CHUNK_ITEMS 16
#define FORMAT_VERSION 1u

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'I', 'K', 'N', '1'};

enum { P_NEIGHBORS, P_SIMILARITY, P_SHRINK, P_ASYM_ALPHA, P_BINARY, P_NORMALIZE, P_USER_WEIGHT,
       P_SIM_POW, N_PARAMS };
enum { SIM_COSINE, SIM_ASYM, SIM_JACCARD };

static const struct rec_param_spec PARAMS[N_PARAMS] = {
    {"neighbors", 100, 1, 10000, REC_PARAM_LOG_INT, "neighbours kept per item"},
    {"similarity", 0, 0, 2, REC_PARAM_INT, "0 cosine, 1 asymmetric cosine, 2 Jaccard"},
    {"shrink", 5, 0, 1000, REC_PARAM_LINEAR, "added to every similarity denominator"},
    {"asym_alpha", 0.5, 0, 1, REC_PARAM_LINEAR,
     "asymmetric cosine exponent: c_ij / (n_i^a n_j^(1-a) + shrink)"},
    {"binary", 1, 0, 1, REC_PARAM_INT, "1 = count co-occurrences, 0 = weigh by strength"},
    {"normalize", 1, 0, 1, REC_PARAM_INT, "1 = scale each kept neighbour list to sum 1"},
    {"user_weight", 1, 0, 1, REC_PARAM_INT, "1 = weigh a user's pairs by 1/log(1 + history)"},
    {"sim_pow", 6, 0.25, 16, REC_PARAM_LINEAR, "kept similarities are raised to this power"},
};

struct itemknn {
    double p[N_PARAMS];
    struct rec_nbr_lists l;
};

/* ---- parameters ---------------------------------------------------------------------------- */

/* 0 when every parameter is finite, in range and whole where its scale says so; otherwise writes
 * a message to err and returns REC_EINVAL. */
static int params_check(const double *p, char *err, size_t errlen)
{
    return rec_model_params_check("itemknn", PARAMS, N_PARAMS, p, err, errlen);
}

/* ---- model object -------------------------------------------------------------------------- */

static void knn_free(struct itemknn *m)
{
    if (!m)
        return;
    rec_nbr_lists_free(&m->l);
    free(m);
}

/* The interface's opaque struct rec_model is a struct itemknn (the convention of the other
 * model files). */
static const struct itemknn *as_knn(const struct rec_model *m)
{
    return (const struct itemknn *)m;
}

static void destroy(struct rec_model *m) { knn_free((struct itemknn *)m); }

/* Strength a fit or score uses for a stored value v: 0 means "skip" (v <= 0, NaN or infinite). */
static inline float strength(float v, int binary)
{
    if (!(v > 0.0f && v <= FLT_MAX))
        return 0.0f;
    return binary ? 1.0f : v;
}

/* ---- fit: one item --------------------------------------------------------------------------- */

struct cand {
    float s;
    int32_t j;
};

struct job {
    const struct rec_csr *ui, *iu;
    const float *uw;        /* per-user weight */
    const double *nl, *nr;  /* left and right norm factor of each item (see item_sim) */
    double shrink, pw;
    int kind, binary, normalize;
    int k;                  /* slots per item in the slab */
    int32_t *nbr;           /* n_items x k slab */
    float *sim;
    int64_t *cnt;           /* cnt[i + 1] = kept neighbours of i (indptr before the prefix sum) */
    struct worker *ws;      /* one per thread */
};

struct worker {
    struct job *jb;
    double *acc;       /* n_items, all zero between items */
    int32_t *touched;  /* n_items */
    struct cand *heap; /* k */
};

static inline int worse(struct cand a, struct cand b)
{
    return a.s < b.s || (a.s == b.s && a.j > b.j);
}

static void sift_down(struct cand *h, int n, int at)
{
    for (;;) {
        int c = 2 * at + 1;
        if (c >= n)
            return;
        if (c + 1 < n && worse(h[c + 1], h[c]))
            c++;
        if (!worse(h[c], h[at]))
            return;
        struct cand t = h[c];
        h[c] = h[at];
        h[at] = t;
        at = c;
    }
}

/* Offers x to the min-heap h of *n <= k entries whose root is the worst kept candidate. */
static void heap_offer(struct cand *h, int *n, int k, struct cand x)
{
    if (*n < k) {
        int at = (*n)++;
        h[at] = x;
        while (at > 0 && worse(h[at], h[(at - 1) / 2])) {
            struct cand t = h[(at - 1) / 2];
            h[(at - 1) / 2] = h[at];
            h[at] = t;
            at = (at - 1) / 2;
        }
    } else if (k > 0 && worse(h[0], x)) {
        h[0] = x;
        sift_down(h, *n, 0);
    }
}

/* Sorts the heap in place, best first (heapsort: each pass moves the worst to the end). */
static void heap_sort(struct cand *h, int n)
{
    for (int end = n - 1; end > 0; end--) {
        struct cand t = h[0];
        h[0] = h[end];
        h[end] = t;
        sift_down(h, end, 0);
    }
}

static inline double item_sim(const struct job *jb, int32_t i, int32_t j, double c)
{
    if (jb->kind == SIM_JACCARD)
        return c / (jb->nl[i] + jb->nr[j] - c + jb->shrink);
    return c / (jb->nl[i] * jb->nr[j] + jb->shrink);
}

/* Co-occurrence row of item i into w->acc; returns the number of touched columns. */
static int cooccur(const struct job *jb, struct worker *w, int32_t i)
{
    const struct rec_csr *iu = jb->iu, *ui = jb->ui;
    int nt = 0;
    for (int64_t e = iu->indptr[i]; e < iu->indptr[i + 1]; e++) {
        float ri = strength(iu->values[e], jb->binary);
        if (ri == 0.0f)
            continue;
        int32_t u = iu->indices[e];
        double a = (double)jb->uw[u] * ri;
        for (int64_t f = ui->indptr[u]; f < ui->indptr[u + 1]; f++) {
            float rj = strength(ui->values[f], jb->binary);
            if (rj == 0.0f)
                continue;
            int32_t j = ui->indices[f];
            if (w->acc[j] == 0.0) /* every term is > 0, so 0 means untouched */
                w->touched[nt++] = j;
            w->acc[j] += a * rj;
        }
    }
    return nt;
}

static void fit_item(struct worker *w, int32_t i)
{
    struct job *jb = w->jb;
    int nt = cooccur(jb, w, i), nh = 0;
    for (int t = 0; t < nt; t++) {
        int32_t j = w->touched[t];
        double c = w->acc[j];
        w->acc[j] = 0.0;
        if (j == i)
            continue;
        float s = (float)item_sim(jb, i, j, c);
        if (s > 0.0f && s <= FLT_MAX)
            heap_offer(w->heap, &nh, jb->k, (struct cand){s, j});
    }
    heap_sort(w->heap, nh);
    /* A normalised list does not depend on a common factor: dividing by its best similarity
     * before the power keeps a high power from underflowing the whole list. */
    double scale = jb->normalize && nh > 0 ? w->heap[0].s : 1.0, sum = 0.0;
    for (int t = 0; t < nh; t++) {
        if (jb->pw != 1.0 || scale != 1.0)
            w->heap[t].s = (float)pow(w->heap[t].s / scale, jb->pw);
        sum += w->heap[t].s;
    }
    int32_t *nbr = jb->nbr + (size_t)i * jb->k;
    float *sim = jb->sim + (size_t)i * jb->k;
    int kept = 0;
    for (int t = 0; t < nh; t++) {
        float s = jb->normalize ? (float)(w->heap[t].s / sum) : w->heap[t].s;
        if (!(s > 0.0f)) /* a power can underflow: keep "stored means > 0" */
            continue;
        nbr[kept] = w->heap[t].j;
        sim[kept++] = s;
    }
    jb->cnt[i + 1] = kept;
}

static void fit_items(void *ctx, int thread, int64_t lo, int64_t hi)
{
    struct job *jb = ctx;
    for (int64_t i = lo; i < hi; i++)
        fit_item(&jb->ws[thread], (int32_t)i);
}

/* ---- fit: setup ------------------------------------------------------------------------------ */

/* Per-user weights (1, or 1/log(1 + positives) with user_weight) and per-item norm factors. */
static int norms(struct job *jb, const double *p, float **uw_out, double **nl_out,
                 double **nr_out)
{
    const struct rec_csr *ui = jb->ui, *iu = jb->iu;
    float *uw = malloc(((size_t)ui->n_rows + 1) * sizeof *uw);
    double *nl = malloc(((size_t)iu->n_rows + 1) * sizeof *nl);
    double *nr = malloc(((size_t)iu->n_rows + 1) * sizeof *nr);
    *uw_out = uw, *nl_out = nl, *nr_out = nr;
    if (!uw || !nl || !nr)
        return REC_ENOMEM;
    for (int32_t u = 0; u < ui->n_rows; u++) {
        int64_t n = 0;
        for (int64_t e = ui->indptr[u]; e < ui->indptr[u + 1]; e++)
            n += strength(ui->values[e], 1) > 0.0f;
        uw[u] = p[P_USER_WEIGHT] != 0 && n > 0 ? (float)(1.0 / log1p((double)n)) : 1.0f;
    }
    double a = jb->kind == SIM_ASYM ? p[P_ASYM_ALPHA] : 0.5;
    for (int32_t i = 0; i < iu->n_rows; i++) {
        double n = 0.0;
        for (int64_t e = iu->indptr[i]; e < iu->indptr[i + 1]; e++) {
            double r = strength(iu->values[e], jb->binary);
            n += (double)uw[iu->indices[e]] * r * r;
        }
        if (jb->kind == SIM_JACCARD) {
            nl[i] = nr[i] = n;
        } else {
            nl[i] = pow(n, a);
            nr[i] = pow(n, 1.0 - a);
        }
    }
    return REC_OK;
}

static int fit(const struct rec_train_input *in, const double *params, struct rec_model **out,
               char *err, size_t errlen)
{
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "itemknn: no output");
    *out = NULL;
    if (!in || rec_csr_check(in->ui, 0) != REC_OK)
        return rec_errf(err, errlen, REC_EINVAL, "itemknn: ui is not a valid CSR matrix");
    if (params_check(params, err, errlen) != REC_OK)
        return REC_EINVAL;
    if (in->iu && (rec_csr_check(in->iu, 0) != REC_OK || in->iu->n_rows != in->ui->n_cols ||
                   in->iu->n_cols != in->ui->n_rows ||
                   in->iu->indptr[in->iu->n_rows] != in->ui->indptr[in->ui->n_rows]))
        return rec_errf(err, errlen, REC_EINVAL, "itemknn: iu is not the transpose of ui");

    double t0 = rec_mono_s();
    int rc = REC_ENOMEM;
    const int32_t n_items = in->ui->n_cols;
    struct rec_csr own_iu = {0};
    float *uw = NULL;
    double *nl = NULL, *nr = NULL, *acc = NULL;
    int32_t *touched = NULL;
    struct cand *heaps = NULL;
    struct worker *ws = NULL;
    struct itemknn *m = calloc(1, sizeof *m);
    if (!m)
        goto out;
    memcpy(m->p, params, sizeof m->p);
    m->l.n_items = n_items;

    struct job jb = {.ui = in->ui, .iu = in->iu, .shrink = params[P_SHRINK],
                     .pw = params[P_SIM_POW], .kind = (int)params[P_SIMILARITY],
                     .binary = params[P_BINARY] != 0, .normalize = params[P_NORMALIZE] != 0};
    if (!jb.iu) {
        if (rec_csr_transpose(in->ui, &own_iu) != REC_OK)
            goto out;
        jb.iu = &own_iu;
    }
    int64_t k = (int64_t)params[P_NEIGHBORS];
    if (k > (int64_t)n_items - 1)
        k = n_items > 0 ? n_items - 1 : 0;
    jb.k = (int)k;
    int nthreads = rec_workers_count(in->threads, MAX_THREADS);
    int64_t chunks = ((int64_t)n_items + CHUNK_ITEMS - 1) / CHUNK_ITEMS;
    if (nthreads > chunks)
        nthreads = chunks > 0 ? (int)chunks : 1;

    if (norms(&jb, params, &uw, &nl, &nr) != REC_OK)
        goto out;
    jb.uw = uw, jb.nl = nl, jb.nr = nr;
    size_t slab = (size_t)n_items * (size_t)k + 1, ni = (size_t)n_items + 1;
    m->l.indptr = calloc(ni, sizeof *m->l.indptr);
    m->l.nbr = malloc(slab * sizeof *m->l.nbr);
    m->l.sim = malloc(slab * sizeof *m->l.sim);
    acc = calloc((size_t)nthreads * ni, sizeof *acc);
    touched = malloc((size_t)nthreads * ni * sizeof *touched);
    heaps = malloc((size_t)nthreads * ((size_t)k + 1) * sizeof *heaps);
    ws = calloc((size_t)nthreads, sizeof *ws);
    if (!m->l.indptr || !m->l.nbr || !m->l.sim || !acc || !touched || !heaps || !ws)
        goto out;
    jb.nbr = m->l.nbr, jb.sim = m->l.sim, jb.cnt = m->l.indptr, jb.ws = ws;
    for (int t = 0; t < nthreads; t++)
        ws[t] = (struct worker){&jb, acc + (size_t)t * ni, touched + (size_t)t * ni,
                                heaps + (size_t)t * ((size_t)k + 1)};
    /* items take chunks from one atomic counter: popular items cost far more than rare ones */
    rec_workers_for(nthreads, n_items, CHUNK_ITEMS, fit_items, &jb);
    rec_nbr_lists_compact(&m->l, jb.k);

    rec_debug("itemknn: fit %d items, %lld neighbour entries, %d threads: %.3f s", (int)n_items,
              (long long)m->l.indptr[n_items], nthreads, rec_mono_s() - t0);
    *out = (struct rec_model *)m;
    m = NULL;
    rc = REC_OK;
out:
    free(ws);
    free(heaps);
    free(touched);
    free(acc);
    free(nr);
    free(nl);
    free(uw);
    rec_csr_free(&own_iu);
    knn_free(m);
    if (rc == REC_ENOMEM)
        rec_errf(err, errlen, rc, "itemknn: out of memory");
    return rc;
}

/* ---- scoring ------------------------------------------------------------------------------- */

/* Repeated items count once: strengths are summed, or the item counts 1 when binary. NULL
 * strengths mean 1 each. Returns 0, REC_EINVAL or REC_ENOMEM. */
static int score(const struct rec_model *mm, const struct rec_user_query *q, float *scores)
{
    const struct itemknn *m = as_knn(mm);
    return m ? rec_nbr_lists_score(&m->l, q, m->p[P_BINARY] != 0, scores) : REC_EINVAL;
}

static int similar(const struct rec_model *mm, int32_t item, float *scores)
{
    const struct itemknn *m = as_knn(mm);
    return m ? rec_nbr_lists_similar(&m->l, item, scores) : REC_EINVAL;
}

/* ---- save / load -------------------------------------------------------------------------- */

/* Returns 0, REC_EINVAL (NULL m or f) or REC_EIO (write failure; the file is then incomplete).
 * Flushes f. Thread-safe for distinct f. */
static int save(const struct rec_model *mm, FILE *f)
{
    const struct itemknn *m = as_knn(mm);
    if (!m || !f)
        return REC_EINVAL;
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_params(&w, m->p, N_PARAMS);
    rec_binw_i32(&w, m->l.n_items);
    for (int32_t i = 0; i < m->l.n_items && !w.err; i++) {
        rec_binw_u32(&w, (uint32_t)(m->l.indptr[i + 1] - m->l.indptr[i]));
        for (int64_t e = m->l.indptr[i]; e < m->l.indptr[i + 1]; e++) {
            rec_binw_i32(&w, m->l.nbr[e]);
            rec_binw_f32(&w, m->l.sim[e]);
        }
    }
    return rec_binw_finish(&w);
}

/* Reads item i's list (count entries, count already bounded by neighbors) into m at
 * m->l.indptr[i], growing the arrays. */
static void r_list(struct rec_binr *r, struct itemknn *m, int32_t i, uint32_t count,
                   size_t *cap)
{
    int64_t at = m->l.indptr[i];
    size_t c0 = *cap;
    uint32_t *e = rec_binr_u32s(r, 2 * (size_t)count); /* (neighbour, similarity bits) pairs */
    if (!e || rec_binr_grow(r, (void **)&m->l.nbr, &c0, (size_t)at + count, sizeof *m->l.nbr) ||
        rec_binr_grow(r, (void **)&m->l.sim, cap, (size_t)at + count, sizeof *m->l.sim)) {
        free(e);
        return;
    }
    for (uint32_t t = 0; t < count; t++) {
        uint32_t j = e[2 * t];
        float s;
        memcpy(&s, &e[2 * t + 1], sizeof s);
        if (j >= (uint32_t)m->l.n_items || (int32_t)j == i || !(s > 0.0f && s <= FLT_MAX))
            rec_binr_fail(r, REC_EFORMAT);
        m->l.nbr[at + t] = (int32_t)j;
        m->l.sim[at + t] = s;
    }
    free(e);
}

/* Reads the header and the lists into m (fields owned by m even on failure). */
static void r_model(struct rec_binr *r, struct itemknn *m)
{
    if (rec_binr_head(r, MAGIC) != FORMAT_VERSION)
        rec_binr_fail(r, REC_EFORMAT);
    rec_binr_params(r, m->p, N_PARAMS);
    uint32_t n = rec_binr_u32(r);
    if (!r->rc && (params_check(m->p, NULL, 0) != REC_OK || n > INT32_MAX))
        rec_binr_fail(r, REC_EFORMAT);
    if (r->rc)
        return;
    m->l.n_items = (int32_t)n;
    uint32_t max_count = (uint32_t)m->p[P_NEIGHBORS];
    if (max_count > n - (n > 0))
        max_count = n - (n > 0);
    size_t icap = 0, cap = 0;
    if (rec_binr_grow(r, (void **)&m->l.indptr, &icap, 1, sizeof *m->l.indptr) == REC_OK)
        m->l.indptr[0] = 0;
    for (int32_t i = 0; i < m->l.n_items && !r->rc; i++) {
        uint32_t count = rec_binr_u32(r);
        if (!r->rc && count > max_count)
            rec_binr_fail(r, REC_EFORMAT);
        if (!r->rc)
            rec_binr_grow(r, (void **)&m->l.indptr, &icap, (size_t)i + 2, sizeof *m->l.indptr);
        r_list(r, m, i, count, &cap);
        if (!r->rc)
            m->l.indptr[i + 1] = m->l.indptr[i] + count;
    }
    if (!r->rc && (!m->l.nbr || !m->l.sim)) { /* no entries at all: keep non-NULL arrays */
        size_t c0 = 0, c1 = 0;
        if (rec_binr_grow(r, (void **)&m->l.nbr, &c0, 1, sizeof *m->l.nbr) == REC_OK)
            rec_binr_grow(r, (void **)&m->l.sim, &c1, 1, sizeof *m->l.sim);
    }
    rec_binr_finish(r);
}

/* Returns 0, REC_EINVAL (NULL f/out), REC_EFORMAT (any damage: short file, bad magic, version,
 * params, sizes, lists or checksum), REC_EIO (read error) or REC_ENOMEM; *out is set only on
 * success. Reads exactly the bytes save wrote. Thread-safe for distinct f. */
static int load(FILE *f, struct rec_model **out)
{
    if (!f || !out)
        return REC_EINVAL;
    *out = NULL;
    struct rec_binr r;
    rec_binr_init(&r, f);
    struct itemknn *m = calloc(1, sizeof *m);
    if (!m)
        return REC_ENOMEM;
    r_model(&r, m);
    if (r.rc) {
        knn_free(m);
        return r.rc;
    }
    *out = (struct rec_model *)m;
    return REC_OK;
}

const struct rec_model_type rec_model_itemknn = {
    .name = "itemknn",
    .summary = "item-kNN: cosine, asymmetric cosine or Jaccard, top neighbours per item",
    .params = PARAMS,
    .n_params = N_PARAMS,
    .fit = fit,
    .destroy = destroy,
    .score = score,
    .similar = similar,
    .save = save,
    .load = load,
};
