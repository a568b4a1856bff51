/* attrs.c: user-attribute model ("attrs"), see attrs.h.
 *
 * Estimates. Over the training users with at least one positive entry in ui (N of them):
 *     pg(i)   = (n(i) + 0.01) / (N + 1)         n(i) = users having item i
 *     pf(i)   = (c_f(i) + s pg(i)) / (n_f + s)  c_f(i) = users with feature f having item i,
 *                                               n_f = users with feature f, s = param shrink
 * pf is pg's Beta prior of strength s updated with the users that have f, so a value held by few
 * users stays close to popularity. A query with features F scores, naive-Bayes style with the
 * features' (dependent) evidence damped by weight w:
 *     score(i) = ln pg(i) + w * sum_{f in F, n_f >= min_users} (ln pf(i) - ln pg(i))
 *              = ln pg(i) + w * sum_f [ln(s / (n_f + s)) + ln(1 + c_f(i) / (s pg(i)))]
 * The second form is what runs: only items with c_f(i) > 0 need work, so a query costs the
 * lengths of its features' item lists plus n_items. Without features it is ln pg: popularity.
 *
 * Defaults were chosen on MovieLens 100K (age, gender, occupation, zip), 10% of users held out
 * entirely, mean NDCG@10 over 6 splits against their whole history (bench/bench_coldstart.c):
 * popularity 0.520; defaults 0.545; shrink 3 / 10 / 100 / 300: 0.541 / 0.544 / 0.542 / 0.536;
 * weight 0.3 / 0.5 / 1 / 1.5: 0.539 / 0.544 / 0.537 / 0.438; min_users 1..30 within 0.001.
 * A weighted mixture of the pf instead of the sum of logs peaked at 0.544 (shrink 10): no better.
 */
#include "model/attrs.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/idmap.h"
#include "core/log.h"

#define TAG 0x41545452u   /* "ATTR": marks an attrs model behind struct rec_model */
#define PART_MAX 128      /* bytes of a key or of a string value */
#define FEAT_MAX (2 * PART_MAX + 8)
#define ATTRS_MAX 64      /* attributes used per document */
#define ARRAY_MAX 32      /* strings used per array attribute */
#define DOC_MAX (1u << 20)
#define N_CUTS 3          /* quartile boundaries of a numeric attribute */
#define POP_EPS 0.01

enum { P_SHRINK, P_WEIGHT, P_MIN_USERS, N_PARAMS };

static const struct rec_param_spec PARAMS[N_PARAMS] = {
    {"shrink", 30.0, 0.1, 10000.0, REC_PARAM_LOG,
     "prior strength (in users) pulling each attribute value toward global popularity"},
    {"weight", 0.7, 0.0, 2.0, REC_PARAM_LINEAR, "weight of each attribute's evidence"},
    {"min_users", 5.0, 1.0, 10000.0, REC_PARAM_LOG_INT,
     "attribute values held by fewer training users are ignored"},
};

struct numeric {
    double cuts[N_CUTS]; /* ascending, distinct */
    int n_cuts;
};

struct attrs {
    uint32_t tag;              /* TAG */
    double p[N_PARAMS];
    int32_t n_users, n_items;
    struct rec_idmap feats;    /* feature key -> feature id */
    struct rec_idmap numkeys;  /* numeric attribute key (not "age") -> index into num */
    struct numeric *num;
    struct rec_csr uf;         /* n_users x n_feats, value 1 */
    struct rec_csr fi;         /* n_feats x n_items: c_f(i) > 0 */
    float *n_f;                /* n_feats */
    float *log_pg;             /* n_items: ln pg(i) */
    float *s_pg;               /* n_items: s * pg(i) */
};

static const struct attrs *as_attrs(const struct rec_model *m)
{
    const struct attrs *a = (const struct attrs *)m;
    return a && a->tag == TAG ? a : NULL;
}

static void attrs_destroy(struct rec_model *m)
{
    struct attrs *a = (struct attrs *)m;
    if (!a)
        return;
    rec_idmap_free(&a->feats);
    rec_idmap_free(&a->numkeys);
    free(a->num);
    rec_csr_free(&a->uf);
    rec_csr_free(&a->fi);
    free(a->n_f);
    free(a->log_pg);
    free(a->s_pg);
    free(a);
}

/* ---- documents -> features ------------------------------------------------------------------ */

/* Called with each feature key (NUL-terminated); nonzero stops the walk. */
typedef int (*feat_fn)(void *ctx, const char *feat);

/* Writes "key<sep>value" ASCII-lowercased; 0, or -1 when a part is empty, too long or holds
 * a NUL byte. */
static int feature_key(char *out, const char *key, const char *sep, const char *val, size_t vlen)
{
    size_t klen = strlen(key), slen = strlen(sep);
    if (klen == 0 || klen > PART_MAX || vlen == 0 || vlen > PART_MAX || memchr(val, '\0', vlen))
        return -1;
    memcpy(out, key, klen);
    memcpy(out + klen, sep, slen);
    memcpy(out + klen + slen, val, vlen);
    size_t n = klen + slen + vlen;
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] + ('a' - 'A'));
    return 0;
}

static const char *age_bucket(double age)
{
    return age < 18 ? "<18" : age < 25 ? "18-24" : age < 35 ? "25-34" : age < 45 ? "35-44"
         : age < 50 ? "45-49" : age < 56 ? "50-55" : "56+";
}

/* Bucket label of a number of attribute key: the age ranges, else the quartile index among
 * the fit's values ("q0".."q3"); NULL when the fit saw no numbers for key. */
static const char *number_bucket(const struct attrs *a, const char *key, double v, char *buf)
{
    if (!strcmp(key, "age"))
        return age_bucket(v);
    int32_t k = rec_idmap_get(&a->numkeys, key);
    if (k < 0)
        return NULL;
    int b = 0;
    while (b < a->num[k].n_cuts && v >= a->num[k].cuts[b])
        b++;
    buf[0] = 'q';
    buf[1] = (char)('0' + b);
    buf[2] = '\0';
    return buf;
}

static int emit_string(const char *key, const char *sep, const char *s, size_t n, feat_fn fn,
                       void *ctx)
{
    char feat[FEAT_MAX];
    return feature_key(feat, key, sep, s, n) == 0 ? fn(ctx, feat) : 0;
}

/* Features of one attribute (key already lowercased). */
static int attr_features(const struct attrs *a, const char *key, json_t *v, feat_fn fn, void *ctx)
{
    char buf[8];
    if (json_is_string(v))
        return emit_string(key, "=", json_string_value(v), json_string_length(v), fn, ctx);
    if (json_is_boolean(v))
        return emit_string(key, "=", json_is_true(v) ? "true" : "false",
                           json_is_true(v) ? 4 : 5, fn, ctx);
    if (json_is_number(v)) {
        double x = json_number_value(v);
        const char *b = isfinite(x) ? number_bucket(a, key, x, buf) : NULL;
        return b ? emit_string(key, "#", b, strlen(b), fn, ctx) : 0;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    for (size_t i = 0; i < n && i < ARRAY_MAX; i++) {
        json_t *e = json_array_get(v, i);
        int rc = json_is_string(e) ? emit_string(key, "=", json_string_value(e),
                                                 json_string_length(e), fn, ctx)
                                   : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* Calls fn(ctx, lowercased key, value) for each attribute of the user document (at most
 * ATTRS_MAX). A document that is not a JSON object (or too long) has no attributes. */
typedef int (*attr_fn)(void *ctx, const char *key, json_t *value);

static int each_attr(const char *doc, attr_fn fn, void *ctx)
{
    if (!doc || strnlen(doc, DOC_MAX + 1) > DOC_MAX)
        return 0;
    json_t *root = json_loads(doc, 0, NULL);
    json_t *obj = json_is_object(root) ? json_object_get(root, "attributes") : NULL;
    const char *k;
    json_t *v;
    int rc = 0, seen = 0;
    if (json_is_object(obj)) {
        json_object_foreach(obj, k, v) {
            char key[PART_MAX + 1];
            size_t n = strlen(k);
            if (n == 0 || n > PART_MAX)
                continue;
            for (size_t i = 0; i <= n; i++)
                key[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + ('a' - 'A') : k[i]);
            if (++seen > ATTRS_MAX || (rc = fn(ctx, key, v)) != 0)
                break;
        }
    }
    json_decref(root);
    return rc;
}

struct walk {
    const struct attrs *a;
    feat_fn fn;
    void *ctx;
};

static int walk_attr(void *ctx, const char *key, json_t *v)
{
    struct walk *w = ctx;
    return attr_features(w->a, key, v, w->fn, w->ctx);
}

static int doc_features(const struct attrs *a, const char *doc, feat_fn fn, void *ctx)
{
    struct walk w = {a, fn, ctx};
    return each_attr(doc, walk_attr, &w);
}

/* ---- fit: numeric cut points ---------------------------------------------------------------- */

struct values {
    double *v;
    int64_t n, cap;
};

struct num_ctx {
    struct attrs *a;
    struct values *vals; /* per numkeys index */
    int32_t cap;
};

static int collect_number(void *ctx, const char *key, json_t *v)
{
    struct num_ctx *nc = ctx;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || !strcmp(key, "age"))
        return 0;
    int32_t k = rec_idmap_put(&nc->a->numkeys, key, NULL);
    if (k < 0)
        return REC_ENOMEM;
    if (k >= nc->cap) {
        int32_t cap = nc->cap ? nc->cap * 2 : 8;
        struct values *nv = realloc(nc->vals, (size_t)cap * sizeof *nv);
        if (!nv)
            return REC_ENOMEM;
        memset(nv + nc->cap, 0, (size_t)(cap - nc->cap) * sizeof *nv);
        nc->vals = nv;
        nc->cap = cap;
    }
    struct values *s = &nc->vals[k];
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        double *d = realloc(s->v, (size_t)cap * sizeof *d);
        if (!d)
            return REC_ENOMEM;
        s->v = d;
        s->cap = cap;
    }
    s->v[s->n++] = json_number_value(v);
    return 0;
}

static int dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Quartile boundaries of each numeric attribute: value i*n/4 of the sorted values, i = 1..3,
 * duplicates and the minimum dropped (so every bucket is non-empty). */
static int numeric_cuts(struct attrs *a, const struct rec_train_input *in)
{
    struct num_ctx nc = {.a = a};
    int rc = 0;
    for (int32_t u = 0; in->user_docs && u < a->n_users && !rc; u++)
        rc = each_attr(in->user_docs[u], collect_number, &nc);
    int32_t n_keys = a->numkeys.n_names;
    if (!rc && !(a->num = calloc((size_t)n_keys + 1, sizeof *a->num)))
        rc = REC_ENOMEM;
    for (int32_t k = 0; !rc && k < n_keys; k++) {
        struct values *s = &nc.vals[k];
        qsort(s->v, (size_t)s->n, sizeof *s->v, dbl_cmp);
        for (int q = 1; q <= N_CUTS; q++) {
            double c = s->v[s->n * q / (N_CUTS + 1)];
            struct numeric *nm = &a->num[k];
            if (c > s->v[0] && (nm->n_cuts == 0 || c > nm->cuts[nm->n_cuts - 1]))
                nm->cuts[nm->n_cuts++] = c;
        }
    }
    for (int32_t k = 0; k < nc.cap; k++)
        free(nc.vals[k].v);
    free(nc.vals);
    return rc;
}

/* ---- fit: feature counts -------------------------------------------------------------------- */

struct feat_ctx {
    struct attrs *a;
    struct rec_triplet *t;
    int64_t n, cap;
    int32_t user;
};

static int add_feature(void *ctx, const char *feat)
{
    struct feat_ctx *fc = ctx;
    int32_t f = rec_idmap_put(&fc->a->feats, feat, NULL);
    if (f < 0)
        return REC_ENOMEM;
    if (fc->n == fc->cap) {
        int64_t cap = fc->cap ? fc->cap * 2 : 1024;
        struct rec_triplet *t = realloc(fc->t, (size_t)cap * sizeof *t);
        if (!t)
            return REC_ENOMEM;
        fc->t = t;
        fc->cap = cap;
    }
    fc->t[fc->n++] = (struct rec_triplet){fc->user, f, 1.0f};
    return 0;
}

/* Users with at least one positive entry: the only ones counted. */
static int has_history(const struct rec_csr *ui, int32_t u)
{
    for (int64_t e = ui->indptr[u]; e < ui->indptr[u + 1]; e++)
        if (ui->values[e] > 0.0f)
            return 1;
    return 0;
}

/* Global popularity: log_pg and s_pg. */
static int global_pop(struct attrs *a, const struct rec_csr *ui)
{
    a->log_pg = malloc(((size_t)a->n_items + 1) * sizeof *a->log_pg);
    a->s_pg = malloc(((size_t)a->n_items + 1) * sizeof *a->s_pg);
    double *cnt = calloc((size_t)a->n_items + 1, sizeof *cnt);
    if (!a->log_pg || !a->s_pg || !cnt) {
        free(cnt);
        return REC_ENOMEM;
    }
    int64_t n_users = 0;
    for (int32_t u = 0; u < a->n_users; u++) {
        n_users += has_history(ui, u);
        for (int64_t e = ui->indptr[u]; e < ui->indptr[u + 1]; e++)
            if (ui->values[e] > 0.0f)
                cnt[ui->indices[e]] += 1.0;
    }
    for (int32_t i = 0; i < a->n_items; i++) {
        double pg = (cnt[i] + POP_EPS) / ((double)n_users + 1.0);
        a->log_pg[i] = (float)log(pg);
        a->s_pg[i] = (float)(a->p[P_SHRINK] * pg);
    }
    free(cnt);
    return REC_OK;
}

/* fi row f = c_f(i) over the users with f (fu row f), one dense counter reused per feature:
 * time is the sum over features of their users' history lengths. */
static int feature_items(struct attrs *a, const struct rec_csr *ui, const struct rec_csr *fu)
{
    int32_t n_f = fu->n_rows;
    float *cnt = calloc((size_t)a->n_items + 1, sizeof *cnt);
    int32_t *touched = malloc(((size_t)a->n_items + 1) * sizeof *touched);
    struct rec_csr *fi = &a->fi;
    fi->n_rows = n_f;
    fi->n_cols = a->n_items;
    fi->indptr = calloc((size_t)n_f + 1, sizeof *fi->indptr);
    a->n_f = calloc((size_t)n_f + 1, sizeof *a->n_f);
    int64_t cap = 0;
    int rc = cnt && touched && fi->indptr && a->n_f ? REC_OK : REC_ENOMEM;
    for (int32_t f = 0; rc == REC_OK && f < n_f; f++) {
        int32_t nt = 0;
        for (int64_t p = fu->indptr[f]; p < fu->indptr[f + 1]; p++) {
            int32_t u = fu->indices[p];
            a->n_f[f] += (float)has_history(ui, u);
            for (int64_t e = ui->indptr[u]; e < ui->indptr[u + 1]; e++) {
                int32_t i = ui->indices[e];
                if (!(ui->values[e] > 0.0f))
                    continue;
                if (cnt[i] == 0.0f)
                    touched[nt++] = i;
                cnt[i] += 1.0f;
            }
        }
        int64_t at = fi->indptr[f];
        if (at + nt > cap) {
            int64_t c = cap ? cap : 1024;
            while (c < at + nt)
                c *= 2;
            int32_t *ni = realloc(fi->indices, (size_t)c * sizeof *ni);
            if (ni)
                fi->indices = ni;
            float *nv = realloc(fi->values, (size_t)c * sizeof *nv);
            if (nv)
                fi->values = nv;
            if (!ni || !nv) {
                rc = REC_ENOMEM;
                break;
            }
            cap = c;
        }
        for (int32_t j = 0; j < nt; j++) {
            fi->indices[at + j] = touched[j];
            fi->values[at + j] = cnt[touched[j]];
            cnt[touched[j]] = 0.0f;
        }
        fi->indptr[f + 1] = at + nt;
    }
    free(cnt);
    free(touched);
    return rc;
}

static const char *check_params(const double *p)
{
    for (int j = 0; j < N_PARAMS; j++)
        if (!(p[j] >= PARAMS[j].lo && p[j] <= PARAMS[j].hi))
            return "parameter out of range";
    return NULL;
}

static int fit_features(struct attrs *a, const struct rec_train_input *in)
{
    struct feat_ctx fc = {.a = a};
    int rc = numeric_cuts(a, in);
    for (int32_t u = 0; in->user_docs && u < a->n_users && !rc; u++) {
        fc.user = u;
        rc = doc_features(a, in->user_docs[u], add_feature, &fc);
    }
    struct rec_csr fu = {0};
    if (!rc)
        rc = rec_csr_from_triplets(&a->uf, a->n_users, a->feats.n_names, fc.t, fc.n);
    free(fc.t);
    if (!rc)
        rc = rec_csr_transpose(&a->uf, &fu);
    if (!rc)
        rc = feature_items(a, in->ui, &fu);
    rec_csr_free(&fu);
    return rc;
}

static int attrs_fit(const struct rec_train_input *in, const double *params,
                     struct rec_model **out, char *err, size_t errlen)
{
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "attrs: no output");
    *out = NULL;
    if (!in || !in->ui || !params)
        return rec_errf(err, errlen, REC_EINVAL, "attrs: missing input");
    const char *msg = check_params(params);
    if (msg)
        return rec_errf(err, errlen, REC_EINVAL, "attrs: %s", msg);
    struct attrs *a = calloc(1, sizeof *a);
    if (!a)
        return rec_errf(err, errlen, REC_ENOMEM, "attrs: out of memory");
    a->tag = TAG;
    memcpy(a->p, params, sizeof a->p);
    a->n_users = in->ui->n_rows;
    a->n_items = in->ui->n_cols;
    rec_idmap_init(&a->feats);
    rec_idmap_init(&a->numkeys);
    int rc = global_pop(a, in->ui);
    if (!rc)
        rc = fit_features(a, in);
    if (rc) {
        attrs_destroy((struct rec_model *)a);
        return rec_errf(err, errlen, rc, "attrs: fit failed: %s", rec_strerror(rc));
    }
    rec_debug("attrs: %d users, %d items, %d attribute values", (int)a->n_users,
              (int)a->n_items, (int)a->feats.n_names);
    *out = (struct rec_model *)a;
    return REC_OK;
}

/* ---- score ---------------------------------------------------------------------------------- */

struct query_ctx {
    const struct attrs *a;
    float *scores;
};

/* Adds w * (ln(s / (n_f + s)) + ln(1 + c_f(i) / (s pg(i)))) of feature f to every score. */
static void add_lift(const struct attrs *a, int32_t f, float *scores)
{
    double s = a->p[P_SHRINK], w = a->p[P_WEIGHT];
    if (a->n_f[f] < a->p[P_MIN_USERS] || w == 0.0)
        return;
    float base = (float)(w * log(s / (a->n_f[f] + s)));
    for (int32_t i = 0; i < a->n_items; i++)
        scores[i] += base;
    for (int64_t p = a->fi.indptr[f]; p < a->fi.indptr[f + 1]; p++) {
        int32_t i = a->fi.indices[p];
        scores[i] += (float)(w * log1p(a->fi.values[p] / a->s_pg[i]));
    }
}

static int query_feature(void *ctx, const char *feat)
{
    struct query_ctx *qc = ctx;
    int32_t f = rec_idmap_get(&qc->a->feats, feat);
    if (f >= 0)
        add_lift(qc->a, f, qc->scores);
    return 0;
}

/* A user_doc that is not a JSON object counts as no attributes (popularity), so serving never
 * fails on a bad profile. Returns 0 or REC_EINVAL. */
static int attrs_score(const struct rec_model *m, const struct rec_user_query *q, float *scores)
{
    const struct attrs *a = as_attrs(m);
    if (!a || !q || !scores)
        return REC_EINVAL;
    memcpy(scores, a->log_pg, (size_t)a->n_items * sizeof *scores);
    struct query_ctx qc = {a, scores};
    if (q->user_doc)
        return doc_features(a, q->user_doc, query_feature, &qc);
    if (q->user >= 0 && q->user < a->n_users)
        for (int64_t p = a->uf.indptr[q->user]; p < a->uf.indptr[q->user + 1]; p++)
            add_lift(a, a->uf.indices[p], scores);
    return REC_OK;
}

const struct rec_model_type rec_model_attrs = {
    .name = "attrs",
    .summary = "items liked by training users with the same attributes, shrunk to popularity",
    .params = PARAMS,
    .n_params = N_PARAMS,
    .fit = attrs_fit,
    .destroy = attrs_destroy,
    .score = attrs_score,
};
