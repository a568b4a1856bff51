/* bench_coldstart: the cold-start experiment on a MovieLens directory.
 *
 *   bench_coldstart DIR [seed] [neighbors] [content params] [attrs params]
 *
 * Every rating is an implicit positive. 10% of the items and 10% of the users (seeded shuffles)
 * are held out entirely; iALS (defaults), the content model and the attrs model are trained on
 * the rest (the content model sees every item document: an item's text exists before anyone
 * interacts with it; a second content model fitted without the held-out documents exercises
 * the "new document" path).
 *   cold items: for each training user with ratings on held-out items, the held-out items are
 *     ranked by dot(user factors, cold-start factors from content kNN), by the content model
 *     alone (profile of the user's training items) and in random order; HR@10 and NDCG@10 of
 *     the user's actual held-out items.
 *   cold users: for each held-out user, top-10 of all items from the attrs model (their
 *     attributes only) and from global popularity over training users; HR@10, NDCG@10 and
 *     Recall@10 against the user's whole history.
 * Prints a table, per-phase seconds and a checksum of every ranked list. Exits 77 when DIR does
 * not exist (data not available). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/idmap.h"
#include "core/log.h"
#include "core/rand.h"
#include "eval/metrics.h"
#include "ingest/import.h"
#include "model/als.h"
#include "model/attrs.h"
#include "model/coldstart.h"
#include "model/content.h"
#include "model/linalg.h"

#define TOP 10
#define HOLD_PCT 10

struct docs {
    struct rec_idmap ids;
    char **doc; /* per index, owned, NULL when none */
    int32_t cap;
};

struct data {
    struct docs items, users;
    struct rec_triplet *t; /* (user, item, 1) per rating */
    int64_t n, cap;
};

static int put_doc(struct docs *d, const char *id, const char *doc)
{
    int32_t i = rec_idmap_put(&d->ids, id, NULL);
    if (i < 0)
        return REC_ENOMEM;
    if (i >= d->cap) {
        int32_t cap = d->cap ? d->cap * 2 : 1024;
        while (cap <= i)
            cap *= 2;
        char **nd = realloc(d->doc, (size_t)cap * sizeof *nd);
        if (!nd)
            return REC_ENOMEM;
        memset(nd + d->cap, 0, (size_t)(cap - d->cap) * sizeof *nd);
        d->doc = nd;
        d->cap = cap;
    }
    if (doc) {
        free(d->doc[i]);
        if (!(d->doc[i] = strdup(doc)))
            return REC_ENOMEM;
    }
    return (int)i;
}

static int on_item(void *ctx, const char *id, const char *doc)
{
    int rc = put_doc(&((struct data *)ctx)->items, id, doc);
    return rc < 0 ? rc : 0;
}

static int on_user(void *ctx, const char *id, const char *doc)
{
    int rc = put_doc(&((struct data *)ctx)->users, id, doc);
    return rc < 0 ? rc : 0;
}

static int on_event(void *ctx, const struct rec_event *ev)
{
    struct data *d = ctx;
    int u = put_doc(&d->users, ev->user, NULL), i = put_doc(&d->items, ev->item, NULL);
    if (u < 0 || i < 0)
        return REC_ENOMEM;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1 << 16;
        struct rec_triplet *t = realloc(d->t, (size_t)d->cap * sizeof *t);
        if (!t)
            return REC_ENOMEM;
        d->t = t;
    }
    d->t[d->n++] = (struct rec_triplet){u, i, 1.0f};
    return 0;
}

static void free_docs(struct docs *d)
{
    for (int32_t i = 0; i < d->ids.n_names; i++)
        free(d->doc[i]);
    free(d->doc);
    rec_idmap_free(&d->ids);
}

/* held[i] = 1 for HOLD_PCT% of n indexes, chosen by a seeded shuffle. */
static uint8_t *hold_out(int32_t n, uint64_t seed)
{
    int32_t *perm = malloc(((size_t)n + 1) * sizeof *perm);
    uint8_t *held = calloc((size_t)n + 1, 1);
    if (!perm || !held) {
        free(perm);
        free(held);
        return NULL;
    }
    for (int32_t i = 0; i < n; i++)
        perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)(rec_splitmix64(&seed) % (uint64_t)(i + 1));
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int32_t i = 0; i < n * HOLD_PCT / 100; i++)
        held[perm[i]] = 1;
    free(perm);
    return held;
}

/* a ranks before b: higher score, then lower index */
static int ahead(const float *s, int32_t a, int32_t b)
{
    return s[a] > s[b] || (s[a] == s[b] && a < b);
}

/* The k best of cand[0..n) by s[cand[j]] into out, best first (insertion into a sorted list of
 * at most k); returns the count. */
static int top_k(const float *s, const int32_t *cand, int n, int k, int32_t *out)
{
    int m = 0;
    for (int j = 0; j < n; j++) {
        int32_t c = cand[j];
        if (m == k && !ahead(s, c, out[k - 1]))
            continue;
        int at = m < k ? m++ : k - 1;
        while (at > 0 && ahead(s, c, out[at - 1])) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = c;
    }
    return m;
}

static uint64_t mix_list(uint64_t h, const int32_t *v, int n)
{
    for (int j = 0; j < n; j++)
        h = rec_mix64(h ^ (uint64_t)(uint32_t)v[j]);
    return h;
}

struct setup {
    struct data d;
    int32_t n_users, n_items;
    uint8_t *cold_item, *cold_user, *has_history;
    struct rec_csr all, train; /* user x item, every rating / training ratings */
    struct rec_als *als;
    struct rec_model *content, *content_new, *attrs;
    int neighbors;
};

static struct rec_model *fit_model(const struct rec_model_type *t,
                                   const struct rec_train_input *in, const char *params)
{
    double p[REC_MODEL_MAX_PARAMS];
    char err[256] = "";
    struct rec_model *m = NULL;
    rec_model_params_default(t, p);
    if (rec_model_params_parse(t, params, p, err, sizeof err) ||
        t->fit(in, p, &m, err, sizeof err)) {
        fprintf(stderr, "bench_coldstart: %s: %s\n", t->name, err);
        return NULL;
    }
    return m;
}

/* ---- cold items ----------------------------------------------------------------------------- */

enum { R_KNN, R_KNN_DOC, R_CONTENT, R_RANDOM, N_RANKERS };
static const char *const RANKER[N_RANKERS] = {
    "iALS . content-kNN factors", "  same, new-doc path", "content model alone", "random order"};

/* Cold-start factors of every held-out item, both variants: f[0] by fitted index (content
 * model with every document), f[1] from the document (content model without them). */
static int cold_factors(const struct setup *s, float *f0, float *f1, int *n_fallback)
{
    const int k = rec_als_factors(s->als);
    const float *y = rec_als_item_vec(s->als, 0);
    for (int32_t i = 0; i < s->n_items; i++) {
        if (!s->cold_item[i])
            continue;
        int rc = rec_coldstart_item_factors(s->content, i, y, k, s->has_history, s->neighbors,
                                            f0 + (size_t)i * k);
        const char *doc = s->d.items.doc[i] ? s->d.items.doc[i] : "{}";
        int rc2 = rec_coldstart_doc_factors(s->content_new, doc, y, k, s->has_history,
                                            s->neighbors, f1 + (size_t)i * k);
        if ((rc && rc != REC_ENOTFOUND) || (rc2 && rc2 != REC_ENOTFOUND))
            return rc && rc != REC_ENOTFOUND ? rc : rc2;
        *n_fallback += (rc == REC_ENOTFOUND) + (rc2 == REC_ENOTFOUND);
    }
    return 0;
}

/* Scores of the candidates for user u by ranker r into sc. */
static void rank_cold(const struct setup *s, int r, int32_t u, const float *const *f,
                      const int32_t *cand, int n_cand, const struct rec_user_query *q, float *sc)
{
    const int k = rec_als_factors(s->als);
    if (r == R_KNN || r == R_KNN_DOC) {
        const float *x = rec_als_user_vec(s->als, u);
        for (int j = 0; j < n_cand; j++)
            sc[cand[j]] = rec_linalg_dot(x, f[r] + (size_t)cand[j] * k, k);
    } else if (r == R_CONTENT) {
        rec_model_content.score(s->content, q, sc);
    } else {
        uint64_t st = 42 ^ ((uint64_t)u << 20);
        for (int j = 0; j < n_cand; j++)
            sc[cand[j]] = (float)(rec_splitmix64(&st) >> 40);
    }
}

static int cold_items(const struct setup *s, struct rec_metrics *acc, uint64_t *sum,
                      int *n_fallback)
{
    const size_t n = (size_t)s->n_items, k = (size_t)rec_als_factors(s->als);
    int32_t *cand = malloc(n * sizeof *cand), *hist = malloc(n * sizeof *hist);
    int32_t *rel = malloc(n * sizeof *rel);
    float *f[2] = {calloc(n * k, sizeof(float)), calloc(n * k, sizeof(float))};
    float *sc = malloc(n * sizeof *sc), *ones = malloc(n * sizeof *ones);
    int rc = cand && hist && rel && f[0] && f[1] && sc && ones ? 0 : REC_ENOMEM;
    if (!rc)
        rc = cold_factors(s, f[0], f[1], n_fallback);
    int n_cand = 0;
    for (int32_t i = 0; !rc && i < s->n_items; i++) {
        ones[i] = 1.0f;
        if (s->cold_item[i])
            cand[n_cand++] = i;
    }
    for (int32_t u = 0; !rc && u < s->n_users; u++) {
        int n_rel = 0, n_hist = 0;
        for (int64_t e = s->all.indptr[u]; e < s->all.indptr[u + 1]; e++)
            if (s->cold_item[s->all.indices[e]])
                rel[n_rel++] = s->all.indices[e];
        if (s->cold_user[u] || n_rel == 0)
            continue;
        for (int64_t e = s->train.indptr[u]; e < s->train.indptr[u + 1]; e++)
            hist[n_hist++] = s->train.indices[e];
        struct rec_user_query q = {.user = u, .items = hist, .strengths = ones, .n = n_hist};
        for (int r = 0; r < N_RANKERS; r++) {
            int32_t top[TOP];
            rank_cold(s, r, u, (const float *const *)f, cand, n_cand, &q, sc);
            int nt = top_k(sc, cand, n_cand, TOP, top);
            rec_metrics_add(&acc[r], top, nt, rel, n_rel, TOP);
            *sum = mix_list(*sum, top, nt);
        }
    }
    for (int r = 0; r < N_RANKERS; r++)
        rec_metrics_finish(&acc[r]);
    free(cand);
    free(hist);
    free(rel);
    free(f[0]);
    free(f[1]);
    free(sc);
    free(ones);
    return rc;
}

/* ---- cold users ----------------------------------------------------------------------------- */

enum { U_ATTRS, U_POP, N_USER_RANKERS };
static const char *const USER_RANKER[N_USER_RANKERS] = {"attrs model (attributes only)",
                                                        "global popularity"};

static int cold_users(const struct setup *s, struct rec_metrics *acc, uint64_t *sum)
{
    const size_t n = (size_t)s->n_items;
    int32_t *cand = malloc(n * sizeof *cand);
    float *pop = calloc(n, sizeof *pop), *sc = malloc(n * sizeof *sc);
    if (!cand || !pop || !sc) {
        free(cand);
        free(pop);
        free(sc);
        return REC_ENOMEM;
    }
    for (int32_t i = 0; i < s->n_items; i++)
        cand[i] = i;
    for (int64_t e = 0; e < s->train.indptr[s->n_users]; e++)
        pop[s->train.indices[e]] += 1.0f;
    int rc = 0;
    for (int32_t u = 0; !rc && u < s->n_users; u++) {
        int64_t lo = s->all.indptr[u], n_rel = s->all.indptr[u + 1] - lo;
        if (!s->cold_user[u] || n_rel == 0)
            continue;
        struct rec_user_query q = {.user = -1, .user_doc = s->d.users.doc[u]};
        rc = rec_model_attrs.score(s->attrs, &q, sc);
        for (int r = 0; !rc && r < N_USER_RANKERS; r++) {
            int32_t top[TOP];
            int nt = top_k(r == U_ATTRS ? sc : pop, cand, s->n_items, TOP, top);
            rec_metrics_add(&acc[r], top, nt, s->all.indices + lo, (int)n_rel, TOP);
            *sum = mix_list(*sum, top, nt);
        }
    }
    for (int r = 0; r < N_USER_RANKERS; r++)
        rec_metrics_finish(&acc[r]);
    free(cand);
    free(pop);
    free(sc);
    return rc;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* Splits, matrices and the four fits. Returns 0 or prints why not and returns nonzero. */
static int prepare(struct setup *s, uint64_t seed, const char *content_params,
                   const char *attrs_params, double *t_fit)
{
    s->n_users = s->d.users.ids.n_names;
    s->n_items = s->d.items.ids.n_names;
    s->cold_item = hold_out(s->n_items, seed);
    s->cold_user = hold_out(s->n_users, rec_mix64(seed + 1));
    s->has_history = calloc((size_t)s->n_items + 1, 1);
    struct rec_triplet *t = malloc(((size_t)s->d.n + 1) * sizeof *t);
    if (!s->cold_item || !s->cold_user || !s->has_history || !t) {
        free(t);
        return REC_ENOMEM;
    }
    int64_t n = 0;
    for (int64_t j = 0; j < s->d.n; j++)
        if (!s->cold_user[s->d.t[j].row] && !s->cold_item[s->d.t[j].col])
            t[n++] = s->d.t[j];
    int rc = rec_csr_from_triplets(&s->all, s->n_users, s->n_items, s->d.t, s->d.n);
    if (!rc)
        rc = rec_csr_from_triplets(&s->train, s->n_users, s->n_items, t, n);
    free(t);
    if (rc)
        return rc;
    for (int64_t e = 0; e < s->train.indptr[s->n_users]; e++)
        s->has_history[s->train.indices[e]] = 1;

    /* a held-out user's document is not part of training; a held-out item's is */
    const char **udocs = calloc((size_t)s->n_users + 1, sizeof *udocs);
    const char **idocs_new = calloc((size_t)s->n_items + 1, sizeof *idocs_new);
    if (!udocs || !idocs_new) {
        free(udocs);
        free(idocs_new);
        return REC_ENOMEM;
    }
    for (int32_t u = 0; u < s->n_users; u++)
        udocs[u] = s->cold_user[u] ? NULL : s->d.users.doc[u];
    for (int32_t i = 0; i < s->n_items; i++)
        idocs_new[i] = s->cold_item[i] ? NULL : s->d.items.doc[i];
    double t0 = rec_mono_s();
    struct rec_als_params ap;
    rec_als_params_default(&ap);
    rc = rec_als_fit(&s->train, &ap, &s->als);
    t_fit[0] = rec_mono_s() - t0;
    struct rec_train_input in = {.ui = &s->train,
                                 .item_docs = (const char *const *)s->d.items.doc,
                                 .user_docs = udocs};
    t0 = rec_mono_s();
    if (!rc && !(s->content = fit_model(&rec_model_content, &in, content_params)))
        rc = REC_EINVAL;
    t_fit[1] = rec_mono_s() - t0;
    in.item_docs = idocs_new;
    if (!rc && !(s->content_new = fit_model(&rec_model_content, &in, content_params)))
        rc = REC_EINVAL;
    t0 = rec_mono_s();
    if (!rc && !(s->attrs = fit_model(&rec_model_attrs, &in, attrs_params)))
        rc = REC_EINVAL;
    t_fit[2] = rec_mono_s() - t0;
    free(udocs);
    free(idocs_new);
    return rc;
}

static void release(struct setup *s)
{
    rec_als_destroy(s->als);
    if (s->content)
        rec_model_content.destroy(s->content);
    if (s->content_new)
        rec_model_content.destroy(s->content_new);
    if (s->attrs)
        rec_model_attrs.destroy(s->attrs);
    rec_csr_free(&s->all);
    rec_csr_free(&s->train);
    free(s->cold_item);
    free(s->cold_user);
    free(s->has_history);
    free(s->d.t);
    free_docs(&s->d.items);
    free_docs(&s->d.users);
}

static void print_row(const char *name, const struct rec_metrics *m, int recall)
{
    printf("  %-30s %8.4f %8.4f", name, m->hr, m->ndcg);
    if (recall)
        printf(" %8.4f", m->recall);
    printf(" %6lld\n", (long long)m->n_users);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_coldstart DIR [seed] [neighbors] [content params] "
                        "[attrs params]\n");
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "bench_coldstart: %s is not a directory (MovieLens data missing), "
                        "skipping\n", argv[1]);
        return 77;
    }
    rec_log_set_level(REC_LOG_WARN);
    struct setup s;
    memset(&s, 0, sizeof s);
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 42;
    s.neighbors = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 20;
    const char *cparams = argc > 4 ? argv[4] : "", *aparams = argc > 5 ? argv[5] : "";
    rec_idmap_init(&s.d.items.ids);
    rec_idmap_init(&s.d.users.ids);

    struct rec_import_sink sink = {&s.d, on_item, on_user, on_event, NULL};
    struct rec_import_stats ist;
    char err[256] = "";
    double t0 = rec_mono_s(), t_fit[3] = {0};
    int rc = rec_import_path(argv[1], REC_IMPORT_AUTO, &sink, &ist, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench_coldstart: cannot load %s: %s\n", argv[1], err);
        release(&s);
        return rc == REC_ENOTFOUND ? 77 : 1;
    }
    double t_load = rec_mono_s() - t0;
    if ((rc = prepare(&s, seed, cparams, aparams, t_fit)) != 0) {
        fprintf(stderr, "bench_coldstart: training failed: %s\n", rec_strerror(rc));
        release(&s);
        return 1;
    }
    struct rec_metrics items[N_RANKERS], users[N_USER_RANKERS];
    memset(items, 0, sizeof items);
    memset(users, 0, sizeof users);
    uint64_t sum = 0;
    int n_fallback = 0;
    t0 = rec_mono_s();
    rc = cold_items(&s, items, &sum, &n_fallback);
    if (!rc)
        rc = cold_users(&s, users, &sum);
    double t_eval = rec_mono_s() - t0;
    if (rc) {
        fprintf(stderr, "bench_coldstart: evaluation failed: %s\n", rec_strerror(rc));
        release(&s);
        return 1;
    }
    int32_t n_cold_items = 0, n_cold_users = 0;
    for (int32_t i = 0; i < s.n_items; i++)
        n_cold_items += s.cold_item[i];
    for (int32_t u = 0; u < s.n_users; u++)
        n_cold_users += s.cold_user[u];
    printf("coldstart %s: %d users x %d items, %lld ratings; held out %d items, %d users "
           "(seed %llu); training pairs %lld\n",
           argv[1], (int)s.n_users, (int)s.n_items, (long long)s.d.n, (int)n_cold_items,
           (int)n_cold_users, (unsigned long long)seed, (long long)s.train.indptr[s.n_users]);
    printf("cold items: rank the %d held-out items per user (kNN neighbors %d, %d fallbacks)\n",
           (int)n_cold_items, s.neighbors, n_fallback);
    printf("  %-30s %8s %8s %6s\n", "ranker", "HR@10", "NDCG@10", "users");
    for (int r = 0; r < N_RANKERS; r++)
        print_row(RANKER[r], &items[r], 0);
    printf("cold users: top-10 of all %d items against the whole history\n", (int)s.n_items);
    printf("  %-30s %8s %8s %8s %6s\n", "ranker", "HR@10", "NDCG@10", "Rec@10", "users");
    for (int r = 0; r < N_USER_RANKERS; r++)
        print_row(USER_RANKER[r], &users[r], 1);
    printf("seconds: load %.3f, fit iALS %.3f, content %.3f, attrs %.3f, evaluate %.3f; "
           "checksum %016llx\n",
           t_load, t_fit[0], t_fit[1], t_fit[2], t_eval, (unsigned long long)sum);
    release(&s);
    return 0;
}
