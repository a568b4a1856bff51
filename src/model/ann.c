/* ann.c: the IVF index of ann.h.
 *
 * Build: M = the largest row norm; each nonzero row y becomes the unit vector
 * x = (y / M, sqrt(1 - |y|^2 / M^2)) (Bachrach et al. 2014, "Speeding up the Xbox recommender
 * system using a euclidean transformation for inner-product spaces"). Spherical k-means
 * (Dhillon, Modha 2001) on a sample of sample_per_list points per list: assign each point to
 * the centroid of largest inner product (one sgemm per chunk of rows), move each centroid to
 * its points' normalized mean; an empty list takes half of the largest one (its centroid split
 * in two, as faiss does). Then every nonzero row goes to its centroid, each centroid moves once
 * more to the mean of all its rows, and the rows are copied in list order so a list is one
 * contiguous scan.
 *
 * Factor norms are skewed (popular items' rows are long, and they win most queries), which
 * the plain method handles badly: a long row left out of a uniform sample joins whichever
 * centroid points its way, trained on short rows, and a query never ranks that list high
 * (recall@10 against the exact scan stalled at 0.95 on the synthetic catalog of a million
 * items, 0.98 on one of 200,000, however many lists were scanned). So a quarter of the sample
 * (1 / HEAD_SHARE) is the longest rows, the rest drawn uniformly from the others, and the last
 * centroid move makes each list's centroid represent the rows it holds: with the two, both
 * catalogs reach 0.997 with 32 lists scanned (bench/bench_ann.c). Rows that are all zeros
 * (items a model never trained, or unknown to a remapped snapshot) score 0 for every query:
 * they would all fall into one list, so they get their own, scanned only when nprobe covers
 * every list. Costs: k-means iters x sample x lists x (k + 1) multiply-adds, plus n x lists x
 * (k + 1) for the final assignment and a sort of the n norms; memory n k floats and n ids.
 *
 * Search: the query's inner product with the centroids' first k coordinates ranks the lists
 * (the query's extra coordinate is 0; the centroids have norm 1, so this is the nearest-
 * centroid order of the reduced problem); the nprobe best are scanned exactly.
 *
 * Determinism: the chunks of an assignment pass are fixed (CHUNK_ROWS rows, one BLAS call
 * each, BLAS single-threaded), and centroids are summed in one thread in sample order, so the
 * index does not depend on the number of threads.
 */
#include "model/ann.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rand.h"
#include "core/workers.h"
#include "model/linalg.h"
#include "model/simd.h"
#include "serve/topk.h"

#define MAX_DIM 1024
#define MAX_THREADS 1024
#define CHUNK_ROWS 256          /* rows per sgemm of an assignment pass */
#define SPLIT_EPS (1.0f / 1024) /* relative perturbation of a split centroid */
#define HEAD_SHARE 4            /* 1 / HEAD_SHARE of the k-means sample: the longest rows */

struct rec_ann {
    int32_t n;          /* items */
    int k;              /* floats per row */
    int n_lists;        /* k-means lists */
    int n_all;          /* n_lists, plus 1 when some rows are all zeros (the last list) */
    float *cent;        /* n_lists x k: first k coordinates of the unit centroids */
    int32_t *off;       /* n_all + 1: list l holds positions off[l] .. off[l+1) */
    int32_t *ids;       /* n: the item at each position, increasing within a list */
    float *rows;        /* n x k: the rows in list order */
};

void rec_ann_params_default(struct rec_ann_params *p)
{
    p->n_lists = 0;
    p->iters = 10;
    p->sample_per_list = 64;
    p->threads = 0;
    p->seed = 42;
}

const char *rec_ann_check_params(const struct rec_ann_params *p)
{
    if (!p)
        return "ann params missing";
    if (p->n_lists < 0 || p->n_lists > 1000000)
        return "ann lists must be 0..1000000 (0 = auto)";
    if (p->iters < 1 || p->iters > 1000)
        return "ann iters must be 1..1000";
    if (p->sample_per_list < 1 || p->sample_per_list > 100000)
        return "ann sample_per_list must be 1..100000";
    if (p->threads < 0 || p->threads > MAX_THREADS)
        return "ann threads must be 0..1024 (0 = number of CPUs)";
    return NULL;
}

/* One assignment pass over rows idx[0..n) of y: assign[r] = the centroid of largest inner
 * product with the augmented row (ties: the lower list). */
struct pass {
    const float *const *y;  /* row i of the items */
    int k;
    float inv_m;            /* 1 / largest norm */
    const int32_t *idx;
    const float *cent;      /* n_lists x (k + 1), unit rows */
    int n_lists;
    int32_t *assign;
    float *scratch;         /* per thread: CHUNK_ROWS x (k + 1), then CHUNK_ROWS x n_lists */
    size_t per_thread;
};

/* x = (y / M, sqrt(1 - |y / M|^2)), k + 1 floats. */
static void augment(const float *y, int k, float inv_m, float *x)
{
    double s = 0;
    for (int j = 0; j < k; j++) {
        x[j] = y[j] * inv_m;
        s += (double)x[j] * x[j];
    }
    x[k] = s < 1.0 ? (float)sqrt(1.0 - s) : 0.0f;
}

static void assign_chunk(void *ctx, int thread, int64_t lo, int64_t hi)
{
    struct pass *p = ctx;
    int d = p->k + 1, rows = (int)(hi - lo);
    float *x = p->scratch + (size_t)thread * p->per_thread;
    float *sc = x + (size_t)CHUNK_ROWS * d;
    for (int r = 0; r < rows; r++)
        augment(p->y[p->idx[lo + r]], p->k, p->inv_m, x + (size_t)r * d);
    rec_linalg_gemm_nt(x, rows, p->cent, p->n_lists, d, sc);
    for (int r = 0; r < rows; r++) {
        const float *row = sc + (size_t)r * p->n_lists;
        int best = 0;
        for (int l = 1; l < p->n_lists; l++)
            if (row[l] > row[best])
                best = l;
        p->assign[lo + r] = best;
    }
}

static void run_pass(struct pass *p, int64_t n, int threads)
{
    int blas = rec_linalg_set_blas_threads(1);
    rec_workers_for(threads, n, CHUNK_ROWS, assign_chunk, p);
    rec_linalg_set_blas_threads(blas);
}

static void normalize(float *c, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += (double)c[j] * c[j];
    if (s > 0) {
        float inv = (float)(1.0 / sqrt(s));
        for (int j = 0; j < d; j++)
            c[j] *= inv;
    }
}

/* Moves each centroid to the normalized mean of its points idx[0..ns); with split, an empty
 * list takes half of the largest list (its centroid split by +-SPLIT_EPS per coordinate). sum
 * holds n_lists x d doubles, cnt n_lists. */
static void update(const struct pass *p, int64_t ns, float *cent, double *sum, int64_t *cnt,
                   float *x, int split)
{
    int d = p->k + 1, nl = p->n_lists;
    memset(sum, 0, (size_t)nl * d * sizeof *sum);
    memset(cnt, 0, (size_t)nl * sizeof *cnt);
    for (int64_t r = 0; r < ns; r++) {
        augment(p->y[p->idx[r]], p->k, p->inv_m, x);
        double *s = sum + (size_t)p->assign[r] * d;
        for (int j = 0; j < d; j++)
            s[j] += x[j];
        cnt[p->assign[r]]++;
    }
    for (int l = 0; l < nl; l++) {
        if (cnt[l] == 0)
            continue;
        double s2 = 0;
        for (int j = 0; j < d; j++)
            s2 += sum[(size_t)l * d + j] * sum[(size_t)l * d + j];
        if (!(s2 > 0))
            continue; /* points cancel out: keep the centroid */
        double inv = 1.0 / sqrt(s2);
        for (int j = 0; j < d; j++)
            cent[(size_t)l * d + j] = (float)(sum[(size_t)l * d + j] * inv);
    }
    for (int l = 0; l < nl && split; l++) {
        if (cnt[l] > 0)
            continue;
        int big = 0;
        for (int b = 1; b < nl; b++)
            if (cnt[b] > cnt[big])
                big = b;
        if (cnt[big] < 2)
            break; /* nothing left to split */
        float *cl = cent + (size_t)l * d, *cb = cent + (size_t)big * d;
        for (int j = 0; j < d; j++) {
            float e = j % 2 ? -SPLIT_EPS : SPLIT_EPS;
            cl[j] = cb[j] * (1 + e);
            cb[j] = cb[j] * (1 - e);
        }
        normalize(cl, d);
        normalize(cb, d);
        cnt[l] = cnt[big] / 2;
        cnt[big] -= cnt[l];
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* sample[0..head) = the head rows of nz[0..n) with the largest squared norms norm2[] (ties:
 * lower row first), sample[head..n) the others, each part in nz order. 0 or REC_ENOMEM. */
static int split_head(const int32_t *nz, const float *norm2, int32_t n, int64_t head,
                      int32_t *sample)
{
    float *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted)
        return REC_ENOMEM;
    memcpy(sorted, norm2, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
    float t = sorted[n - head];
    free(sorted);
    int64_t above = 0;
    for (int32_t r = 0; r < n; r++)
        above += norm2[r] > t;
    int64_t ties = head - above, a = 0, b = head;
    for (int32_t r = 0; r < n; r++) {
        int in_head = norm2[r] > t || (norm2[r] == t && ties-- > 0);
        sample[in_head ? a++ : b++] = nz[r];
    }
    return 0;
}

/* Swaps a seeded uniform choice from v[r..n) into v[r], for r in [lo, hi): a partial
 * Fisher-Yates shuffle. */
static void shuffle(int32_t *v, int64_t lo, int64_t hi, int64_t n, uint64_t *state)
{
    for (int64_t r = lo; r < hi; r++) {
        int64_t j = r + (int64_t)(rec_splitmix64(state) % (uint64_t)(n - r));
        int32_t t = v[r];
        v[r] = v[j];
        v[j] = t;
    }
}

/* Spherical k-means on a sample of nz[0..n_nz) (squared norms norm2[]), then the assignment
 * of all of them and the last centroid move. */
static int cluster(const float *const *y, int k, float inv_m, const int32_t *nz, const float *norm2,
                   int32_t n_nz, int n_lists, const struct rec_ann_params *p, float *cent,
                   int32_t *assign)
{
    int d = k + 1, threads = rec_workers_count(p->threads, MAX_THREADS);
    int64_t ns = (int64_t)n_lists * p->sample_per_list;
    if (ns > n_nz)
        ns = n_nz;
    int rc = REC_ENOMEM;
    int32_t *sample = malloc((size_t)n_nz * sizeof *sample);
    int32_t *sample_assign = malloc((size_t)ns * sizeof *sample_assign);
    int32_t *prev = malloc((size_t)ns * sizeof *prev);
    double *sum = malloc((size_t)n_lists * d * sizeof *sum);
    int64_t *cnt = malloc((size_t)n_lists * sizeof *cnt);
    float *x = malloc((size_t)d * sizeof *x);
    size_t per_thread = (size_t)CHUNK_ROWS * (d + n_lists);
    float *scratch = malloc((size_t)threads * per_thread * sizeof *scratch);
    if (!sample || !sample_assign || !prev || !sum || !cnt || !x || !scratch)
        goto out;
    /* the sample: the longest rows, then rows drawn from the rest; the initial centroids:
     * n_lists rows drawn from the sample */
    int64_t head = ns / HEAD_SHARE;
    if (head > 0 && split_head(nz, norm2, n_nz, head, sample))
        goto out;
    if (head == 0)
        memcpy(sample, nz, (size_t)n_nz * sizeof *sample);
    uint64_t state = p->seed;
    shuffle(sample, head, ns, n_nz, &state);
    shuffle(sample, 0, n_lists, ns, &state);
    for (int l = 0; l < n_lists; l++)
        augment(y[sample[l]], k, inv_m, cent + (size_t)l * d);
    qsort(sample, (size_t)ns, sizeof *sample, cmp_i32); /* rows in memory order */
    struct pass ps = {y, k, inv_m, sample, cent, n_lists, sample_assign, scratch, per_thread};
    for (int it = 0; it < p->iters; it++) {
        run_pass(&ps, ns, threads);
        int64_t moved = 0;
        for (int64_t r = 0; r < ns; r++)
            moved += it == 0 || sample_assign[r] != prev[r];
        if (moved == 0)
            break;
        update(&ps, ns, cent, sum, cnt, x, 1);
        memcpy(prev, sample_assign, (size_t)ns * sizeof *prev);
    }
    struct pass all = {y, k, inv_m, nz, cent, n_lists, assign, scratch, per_thread};
    run_pass(&all, n_nz, threads);
    update(&all, n_nz, cent, sum, cnt, x, 0);
    rc = 0;
out:
    free(sample);
    free(sample_assign);
    free(prev);
    free(sum);
    free(cnt);
    free(x);
    free(scratch);
    return rc;
}

void rec_ann_destroy(struct rec_ann *a)
{
    if (!a)
        return;
    free(a->cent);
    free(a->off);
    free(a->ids);
    free(a->rows);
    free(a);
}

int rec_ann_build(const float *y, int32_t n, int k, const struct rec_ann_params *p,
                  struct rec_ann **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (n < 0 || (n > 0 && !y))
        return REC_EINVAL;
    const float **rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    if (!rows)
        return REC_ENOMEM;
    for (int32_t i = 0; i < n; i++)
        rows[i] = y + (size_t)i * k;
    int rc = rec_ann_build_rows(rows, n, k, p, out);
    free(rows);
    return rc;
}

int rec_ann_build_rows(const float *const *y, int32_t n, int k, const struct rec_ann_params *p,
                       struct rec_ann **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (rec_ann_check_params(p) || n < 0 || k < 1 || k > MAX_DIM || (n > 0 && !y))
        return REC_EINVAL;
    for (int32_t i = 0; i < n; i++)
        if (!y[i])
            return REC_EINVAL;
    int rc = REC_ENOMEM;
    int32_t *nz = NULL, *assign = NULL;
    float *cent_full = NULL, *norm2 = NULL;
    struct rec_ann *a = calloc(1, sizeof *a);
    if (!a)
        return REC_ENOMEM;
    a->n = n;
    a->k = k;
    nz = malloc((size_t)(n > 0 ? n : 1) * sizeof *nz);
    norm2 = malloc((size_t)(n > 0 ? n : 1) * sizeof *norm2);
    if (!nz || !norm2)
        goto out;
    int32_t n_nz = 0;
    double max2 = 0;
    for (int32_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < k; j++)
            s += (double)y[i][j] * y[i][j];
        if (s > 0) {
            norm2[n_nz] = (float)s;
            nz[n_nz++] = i;
        }
        if (s > max2)
            max2 = s;
    }
    int n_lists = p->n_lists > 0 ? p->n_lists : (int)lround(2.0 * sqrt((double)n_nz));
    if (n_lists > n_nz)
        n_lists = n_nz;
    if (n_lists < 1 && n_nz > 0)
        n_lists = 1;
    a->n_lists = n_lists;
    a->n_all = n_lists + (n_nz < n);
    assign = malloc((size_t)(n_nz > 0 ? n_nz : 1) * sizeof *assign);
    cent_full = malloc((size_t)(n_lists > 0 ? n_lists : 1) * (k + 1) * sizeof *cent_full);
    a->cent = malloc((size_t)(n_lists > 0 ? n_lists : 1) * k * sizeof *a->cent);
    a->off = calloc((size_t)a->n_all + 2, sizeof *a->off);
    a->ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *a->ids);
    a->rows = malloc((size_t)(n > 0 ? n : 1) * k * sizeof *a->rows);
    if (!assign || !cent_full || !a->cent || !a->off || !a->ids || !a->rows)
        goto out;
    if (n_lists > 0 && (rc = cluster(y, k, (float)(1.0 / sqrt(max2)), nz, norm2, n_nz, n_lists,
                                     p, cent_full, assign)))
        goto out;
    for (int l = 0; l < n_lists; l++)
        memcpy(a->cent + (size_t)l * k, cent_full + (size_t)l * (k + 1), (size_t)k * sizeof(float));
    /* counting sort by list, items in increasing order within each; zero rows last */
    for (int32_t r = 0; r < n_nz; r++)
        a->off[assign[r] + 2]++;
    if (a->n_all > n_lists)
        a->off[n_lists + 2] = n - n_nz;
    for (int l = 0; l < a->n_all; l++)
        a->off[l + 2] += a->off[l + 1];
    int32_t r = 0;
    for (int32_t i = 0; i < n; i++) {
        int l = r < n_nz && nz[r] == i ? assign[r++] : n_lists;
        int32_t pos = a->off[l + 1]++;
        a->ids[pos] = i;
        memcpy(a->rows + (size_t)pos * k, y[i], (size_t)k * sizeof(float));
    }
    *out = a;
    a = NULL;
    rc = 0;
out:
    free(nz);
    free(norm2);
    free(assign);
    free(cent_full);
    rec_ann_destroy(a);
    return rc;
}

int32_t rec_ann_n_items(const struct rec_ann *a) { return a ? a->n : 0; }
int rec_ann_n_lists(const struct rec_ann *a) { return a ? a->n_lists : 0; }
int rec_ann_dim(const struct rec_ann *a) { return a ? a->k : 0; }

size_t rec_ann_bytes(const struct rec_ann *a)
{
    if (!a)
        return 0;
    return sizeof *a + (size_t)a->n * ((size_t)a->k * sizeof(float) + sizeof(int32_t)) +
           (size_t)a->n_lists * a->k * sizeof(float) + ((size_t)a->n_all + 2) * sizeof(int32_t);
}

/* Scores list l's items into t; returns how many. */
static int32_t scan(const struct rec_ann *a, int l, const float *q,
                    int (*skip_fn)(const void *ctx, int32_t i), const void *ctx, struct rec_topk *t)
{
    int k = a->k;
    for (int32_t pos = a->off[l]; pos < a->off[l + 1]; pos++) {
        float s = rec_simd_dot(q, a->rows + (size_t)pos * k, k);
        if (s < rec_topk_floor(t))
            continue; /* cannot enter: skip the call (most items, once the heap is full) */
        int32_t i = a->ids[pos];
        if (!skip_fn || !skip_fn(ctx, i))
            rec_topk_push(t, s, i);
    }
    return a->off[l + 1] - a->off[l];
}

static int skip_by_array(const void *ctx, int32_t i)
{
    return ((const uint8_t *)ctx)[i] != 0;
}

int rec_ann_search(const struct rec_ann *a, const float *q, int nprobe, const uint8_t *skip,
                   struct rec_topk *t)
{
    return rec_ann_search_filter(a, q, nprobe, skip ? skip_by_array : NULL, skip, t);
}

int rec_ann_search_filter(const struct rec_ann *a, const float *q, int nprobe,
                          int (*skip_fn)(const void *ctx, int32_t i), const void *ctx,
                          struct rec_topk *t)
{
    if (!a || !q || !t || nprobe < 1)
        return REC_EINVAL;
    if (t->k <= 0)
        return 0;
    int64_t scanned = 0;
    if (nprobe >= a->n_lists) {
        for (int l = 0; l < a->n_all; l++)
            scanned += scan(a, l, q, skip_fn, ctx, t);
        return (int)scanned;
    }
    float *cs = malloc((size_t)a->n_lists * sizeof *cs);
    struct rec_topk_entry *best = malloc((size_t)nprobe * sizeof *best);
    if (!cs || !best) {
        free(cs);
        free(best);
        return REC_ENOMEM;
    }
    rec_linalg_gemv(a->cent, a->n_lists, a->k, q, cs);
    struct rec_topk lists;
    rec_topk_init(&lists, best, nprobe);
    for (int l = 0; l < a->n_lists; l++)
        rec_topk_push(&lists, cs[l], l);
    /* best lists first: the heap fills with good items early and later scans skip more */
    int got = rec_topk_sort(&lists);
    for (int r = 0; r < got; r++)
        scanned += scan(a, best[r].idx, q, skip_fn, ctx, t);
    free(cs);
    free(best);
    return (int)scanned;
}
