/* content.c: TF-IDF content model ("content"), see content.h.
 *
 * Terms. A term is "<field char>:<text>": 'c' categories and 'g' tags (each whole string,
 * trimmed and ASCII-lowercased, at most TERM_MAX bytes), 't' title words and 'x' text words
 * (rec_content_tokenize). The "attributes" object of a document is not used: in the data we
 * see it holds ids and URLs, which only add noise to similarities.
 *
 * Weights. For term t of field f occurring n times in an item's document:
 *     w = w_f * (1 + ln n) * idf(t),   idf(t) = ln((1 + N) / (1 + df(t))) + 1
 * (sublinear tf, smoothed idf as in scikit-learn), N = items with at least one term, df(t) =
 * items containing t; then the item's vector is scaled to unit L2 norm. Entries of weight 0 (a
 * field with weight 0) are not stored.
 *
 * Scoring. profile = sum over the history of strength * 2^(-(now - ts) / half_life) * vector
 * (no decay without timestamps or with half_life_days = 0; events after `now` count fully), and
 * score(i) = profile . v_i / |profile| through the inverted index, so a query costs the sum of
 * the posting lengths of the profile's terms plus n_items, never n_items x vocabulary. Items
 * without any stored term get -INFINITY; an empty profile scores every other item 0.
 *
 * Defaults. Chosen on MovieLens 100K (genres as categories, titles; no tags or text) with
 * bench/bench_coldstart.c, mean NDCG@10 over 6 splits of ranking held-out items by iALS factors
 * from 20 content neighbours: w_title 0 / 0.3 / 0.6 / 1 / 2 gave 0.231 / 0.260 / 0.293 / 0.310 /
 * 0.300 (the release year in the title carries much of it). w_tag and w_text are untuned (no
 * such data); text is weighted below categories because long texts would otherwise swamp them.
 * As a warm recommender on P1 (per-user 75/25 split, seed 42) content alone reaches NDCG@10
 * 0.103 (popularity 0.251): it is a cold-start and blending component, not a standalone model.
 *
 * File format (integers little-endian, floats as IEEE-754 bits little-endian):
 *     "RECDCNT1"  u32 version(=1)  u32 n_params(=5)  n_params x f64 params (spec order)
 *     i32 n_items, i32 n_terms, i64 nnz
 *     n_terms x (u32 len, len bytes)  term keys, unique, "<field char>:<text>"
 *     n_terms f32 idf
 *     n_items u32 row lengths (sum = nnz)
 *     nnz i32 term ids (strictly increasing within a row), nnz f32 weights
 *     u64 FNV-1a 64 of every byte above
 * load recomputes the inverted index and never trusts a size before the bytes behind it have
 * arrived (arrays grow geometrically as data is read).
 */
#include "model/content.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/idmap.h"
#include "core/log.h"
#include "model/binio.h"

#define TAG 0x434e5431u        /* "CNT1": marks a content model behind struct rec_model */
#define TERM_MAX 128           /* bytes of a category or tag term */
#define WORD_MAX 64            /* bytes of a word */
#define KEY_MAX (TERM_MAX + 3) /* field char, ':', term, NUL */
#define ARRAY_MAX 256          /* categories or tags used per document */
#define TEXT_MAX 65536         /* bytes of title or text tokenised per document */
#define DOC_MAX (4u << 20)     /* bytes of a document parsed */
#define FORMAT_VERSION 1u

enum { F_CATEGORY, F_TAG, F_TITLE, F_TEXT, N_FIELDS };
enum { P_W_CATEGORY, P_W_TAG, P_W_TITLE, P_W_TEXT, P_HALF_LIFE, N_PARAMS };

static const char FIELD_CHAR[N_FIELDS] = {'c', 'g', 't', 'x'};
static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'C', 'N', 'T', '1'};

static const struct rec_param_spec PARAMS[N_PARAMS] = {
    {"w_category", 1.0, 0.0, 10.0, REC_PARAM_LINEAR, "weight of category terms"},
    {"w_tag", 1.0, 0.0, 10.0, REC_PARAM_LINEAR, "weight of tag terms"},
    {"w_title", 1.0, 0.0, 10.0, REC_PARAM_LINEAR, "weight of title words"},
    {"w_text", 0.5, 0.0, 10.0, REC_PARAM_LINEAR, "weight of text words"},
    {"half_life_days", 0.0, 0.0, 3650.0, REC_PARAM_LINEAR,
     "half-life of history items in the profile, days (0 = no decay)"},
};

struct content {
    uint32_t tag;            /* TAG */
    double p[N_PARAMS];
    int32_t n_items, n_terms;
    struct rec_idmap vocab;  /* term key -> term id */
    float *idf;              /* n_terms */
    struct rec_csr vec;      /* n_items x n_terms, unit rows (or empty ones) */
    struct rec_csr inv;      /* its transpose: term -> (item, weight) */
    float *term_max;         /* n_terms: the largest weight of each term, bounds the search */
};

static const struct content *as_content(const struct rec_model *m)
{
    const struct content *c = (const struct content *)m;
    return c && c->tag == TAG ? c : NULL;
}

static void content_destroy(struct rec_model *m)
{
    struct content *c = (struct content *)m;
    if (!c)
        return;
    rec_idmap_free(&c->vocab);
    free(c->idf);
    rec_csr_free(&c->vec);
    rec_csr_free(&c->inv);
    free(c->term_max);
    free(c);
}

int32_t rec_content_n_items(const struct rec_model *m)
{
    const struct content *c = as_content(m);
    return c ? c->n_items : -1;
}

/* ---- tokens --------------------------------------------------------------------------------- */

static int is_word_byte(unsigned char b)
{
    return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

static int is_stopword(const char *w, size_t n)
{
    static const char *const STOP[] = {"an",   "and", "are",  "as",   "at",  "be",   "by",
                                       "for",  "from", "in",  "into", "is",  "it",   "its",
                                       "of",   "on",  "or",   "that", "the", "this", "to",
                                       "was",  "with"};
    for (size_t i = 0; i < sizeof STOP / sizeof STOP[0]; i++)
        if (strlen(STOP[i]) == n && memcmp(STOP[i], w, n) == 0)
            return 1;
    return 0;
}

int rec_content_tokenize(const char *text, size_t len,
                         int (*fn)(void *ctx, const char *word, size_t len), void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    char w[WORD_MAX];
    size_t i = 0;
    while (i < len) {
        while (i < len && !is_word_byte(s[i]))
            i++;
        size_t start = i, chars = 0;
        while (i < len && is_word_byte(s[i])) {
            chars += (s[i] & 0xC0) != 0x80; /* continuation bytes do not start a character */
            i++;
        }
        size_t n = i - start;
        if (n == 0 || n > WORD_MAX || chars < 2)
            continue;
        for (size_t j = 0; j < n; j++) {
            unsigned char b = s[start + j];
            w[j] = (char)(b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b);
        }
        if (is_stopword(w, n))
            continue;
        int rc = fn(ctx, w, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- documents -> term keys ----------------------------------------------------------------- */

typedef int (*term_fn)(void *ctx, int field, const char *key);

struct word_ctx {
    term_fn fn;
    void *ctx;
    int field;
};

static void make_key(char *key, int field, const char *s, size_t n)
{
    key[0] = FIELD_CHAR[field];
    key[1] = ':';
    memcpy(key + 2, s, n);
    key[2 + n] = '\0';
}

static int on_word(void *ctx, const char *w, size_t n)
{
    struct word_ctx *wc = ctx;
    char key[KEY_MAX];
    make_key(key, wc->field, w, n);
    return wc->fn(wc->ctx, wc->field, key);
}

/* One category or tag string: trimmed, ASCII-lowercased; empty, too long or NUL-holding
 * strings are skipped. */
static int whole_term(const char *s, size_t n, int field, term_fn fn, void *ctx)
{
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0 || n > TERM_MAX || memchr(s, '\0', n))
        return 0;
    char key[KEY_MAX];
    make_key(key, field, s, n);
    for (size_t j = 2; j < n + 2; j++)
        if (key[j] >= 'A' && key[j] <= 'Z')
            key[j] = (char)(key[j] + ('a' - 'A'));
    return fn(ctx, field, key);
}

static int array_terms(json_t *doc, const char *name, int field, term_fn fn, void *ctx)
{
    json_t *arr = json_object_get(doc, name);
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    for (size_t i = 0; i < n && i < ARRAY_MAX; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            continue;
        int rc = whole_term(json_string_value(v), json_string_length(v), field, fn, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int text_terms(json_t *doc, const char *name, int field, term_fn fn, void *ctx)
{
    json_t *v = json_object_get(doc, name);
    if (!json_is_string(v))
        return 0;
    size_t n = json_string_length(v);
    struct word_ctx wc = {fn, ctx, field};
    return rec_content_tokenize(json_string_value(v), n < TEXT_MAX ? n : TEXT_MAX, on_word, &wc);
}

/* Calls fn for every term occurrence of the document. Returns 0, REC_EFORMAT (not a JSON
 * object, or longer than DOC_MAX) or the first nonzero value of fn. */
static int doc_terms(const char *json, term_fn fn, void *ctx)
{
    if (strnlen(json, DOC_MAX + 1) > DOC_MAX)
        return REC_EFORMAT;
    json_t *doc = json_loads(json, 0, NULL);
    int rc = REC_EFORMAT;
    if (json_is_object(doc)) {
        rc = array_terms(doc, "categories", F_CATEGORY, fn, ctx);
        if (!rc)
            rc = array_terms(doc, "tags", F_TAG, fn, ctx);
        if (!rc)
            rc = text_terms(doc, "title", F_TITLE, fn, ctx);
        if (!rc)
            rc = text_terms(doc, "text", F_TEXT, fn, ctx);
    }
    json_decref(doc);
    return rc;
}

static int key_field(const char *key)
{
    for (int f = 0; f < N_FIELDS; f++)
        if (key[0] == FIELD_CHAR[f])
            return f;
    return -1;
}

/* ---- weighting ------------------------------------------------------------------------------ */

/* Turns the term counts vals[0..n) of one document into its unit TF-IDF vector, in place; all
 * zeros when nothing has weight. */
static void weigh(const struct content *c, const int32_t *terms, float *vals, int64_t n)
{
    double norm = 0.0;
    for (int64_t e = 0; e < n; e++) {
        int f = key_field(rec_idmap_name(&c->vocab, terms[e]));
        double w = c->p[P_W_CATEGORY + f] * (1.0 + log(vals[e])) * c->idf[terms[e]];
        vals[e] = (float)w;
        norm += w * w;
    }
    float inv = norm > 0.0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int64_t e = 0; e < n; e++)
        vals[e] *= inv;
}

/* Drops the zero entries of m in place. */
static void compact(struct rec_csr *m)
{
    int64_t out = 0;
    for (int32_t r = 0; r < m->n_rows; r++) {
        int64_t lo = m->indptr[r], hi = m->indptr[r + 1];
        m->indptr[r] = out;
        for (int64_t e = lo; e < hi; e++) {
            if (m->values[e] != 0.0f) {
                m->indices[out] = m->indices[e];
                m->values[out++] = m->values[e];
            }
        }
    }
    m->indptr[m->n_rows] = out;
}

/* ---- fit ------------------------------------------------------------------------------------ */

struct fit_ctx {
    struct rec_idmap *vocab;
    struct rec_triplet *t;
    int64_t n, cap;
    int32_t item;
};

static int fit_term(void *ctx, int field, const char *key)
{
    struct fit_ctx *fc = ctx;
    int32_t id = rec_idmap_put(fc->vocab, key, NULL);
    if (id < 0)
        return REC_ENOMEM;
    if (fc->n == fc->cap) {
        int64_t cap = fc->cap ? fc->cap * 2 : 4096;
        struct rec_triplet *t = realloc(fc->t, (size_t)cap * sizeof *t);
        if (!t)
            return REC_ENOMEM;
        fc->t = t;
        fc->cap = cap;
    }
    fc->t[fc->n++] = (struct rec_triplet){fc->item, id, 1.0f};
    return 0;
}

static const char *check_params(const double *p)
{
    for (int j = 0; j < N_PARAMS; j++)
        if (!(p[j] >= PARAMS[j].lo && p[j] <= PARAMS[j].hi))
            return "parameter out of range";
    if (!(p[P_W_CATEGORY] + p[P_W_TAG] + p[P_W_TITLE] + p[P_W_TEXT] > 0.0))
        return "at least one field weight must be > 0";
    return NULL;
}

/* The inverted index of c->vec and each term's largest weight. Returns 0 or REC_ENOMEM. */
static int index_terms(struct content *c)
{
    int rc = rec_csr_transpose(&c->vec, &c->inv);
    if (rc)
        return rc;
    if (!(c->term_max = calloc((size_t)c->n_terms + 1, sizeof *c->term_max)))
        return REC_ENOMEM;
    for (int32_t t = 0; t < c->n_terms; t++)
        for (int64_t p = c->inv.indptr[t]; p < c->inv.indptr[t + 1]; p++)
            if (c->inv.values[p] > c->term_max[t])
                c->term_max[t] = c->inv.values[p];
    return REC_OK;
}

/* idf from the document frequencies of the count matrix, then unit rows and the inverse. */
static int finish_fit(struct content *c)
{
    int64_t nnz = c->vec.indptr[c->n_items];
    int64_t n_docs = 0;
    c->idf = calloc((size_t)c->n_terms + 1, sizeof *c->idf);
    if (!c->idf)
        return REC_ENOMEM;
    for (int64_t e = 0; e < nnz; e++)
        c->idf[c->vec.indices[e]] += 1.0f; /* df first */
    for (int32_t i = 0; i < c->n_items; i++)
        n_docs += c->vec.indptr[i + 1] > c->vec.indptr[i];
    for (int32_t t = 0; t < c->n_terms; t++)
        c->idf[t] = (float)(log((1.0 + (double)n_docs) / (1.0 + c->idf[t])) + 1.0);
    for (int32_t i = 0; i < c->n_items; i++) {
        int64_t lo = c->vec.indptr[i];
        weigh(c, c->vec.indices + lo, c->vec.values + lo, c->vec.indptr[i + 1] - lo);
    }
    compact(&c->vec);
    return index_terms(c);
}

static int content_fit(const struct rec_train_input *in, const double *params,
                       struct rec_model **out, char *err, size_t errlen)
{
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "content: no output");
    *out = NULL;
    if (!in || !in->ui || !params)
        return rec_errf(err, errlen, REC_EINVAL, "content: missing input");
    const char *msg = check_params(params);
    if (msg)
        return rec_errf(err, errlen, REC_EINVAL, "content: %s", msg);

    struct content *c = calloc(1, sizeof *c);
    if (!c)
        return rec_errf(err, errlen, REC_ENOMEM, "content: out of memory");
    c->tag = TAG;
    memcpy(c->p, params, sizeof c->p);
    c->n_items = in->ui->n_cols;
    rec_idmap_init(&c->vocab);
    struct fit_ctx fc = {.vocab = &c->vocab};
    int rc = REC_OK, bad = 0;
    for (int32_t i = 0; in->item_docs && i < c->n_items && rc == REC_OK; i++) {
        if (!in->item_docs[i])
            continue;
        fc.item = i;
        rc = doc_terms(in->item_docs[i], fit_term, &fc);
        if (rc == REC_EFORMAT) {
            bad++; /* an unreadable document leaves its item without a vector */
            rc = REC_OK;
        }
    }
    c->n_terms = c->vocab.n_names;
    if (rc == REC_OK)
        rc = rec_csr_from_triplets(&c->vec, c->n_items, c->n_terms, fc.t, fc.n);
    free(fc.t);
    if (rc == REC_OK)
        rc = finish_fit(c);
    if (rc != REC_OK) {
        content_destroy((struct rec_model *)c);
        return rec_errf(err, errlen, rc, "content: fit failed: %s", rec_strerror(rc));
    }
    if (bad)
        rec_warn("content: %d item documents are not JSON objects, left without terms", bad);
    rec_debug("content: %d items, %d terms, %lld entries", (int)c->n_items, (int)c->n_terms,
              (long long)c->vec.indptr[c->n_items]);
    *out = (struct rec_model *)c;
    return REC_OK;
}

/* ---- scoring -------------------------------------------------------------------------------- */

struct entry {
    int32_t term;
    float w;
};

static int entry_cmp(const void *a, const void *b)
{
    int32_t x = ((const struct entry *)a)->term, y = ((const struct entry *)b)->term;
    return (x > y) - (x < y);
}

/* Sorts e[0..n) by term and sums equal terms; returns the new count. */
static int64_t merge_entries(struct entry *e, int64_t n)
{
    if (n == 0)
        return 0; /* e may be NULL */
    qsort(e, (size_t)n, sizeof *e, entry_cmp);
    int64_t m = 0;
    for (int64_t j = 0; j < n; j++) {
        if (m > 0 && e[m - 1].term == e[j].term)
            e[m - 1].w += e[j].w;
        else
            e[m++] = e[j];
    }
    return m;
}

/* scores[i] = sum over e of e.w * v_i[e.term] / norm for items with a vector, -INFINITY else. */
static void score_sparse(const struct content *c, const struct entry *e, int64_t n, float *scores)
{
    for (int32_t i = 0; i < c->n_items; i++)
        scores[i] = c->vec.indptr[i + 1] > c->vec.indptr[i] ? 0.0f : -INFINITY;
    double norm = 0.0;
    for (int64_t j = 0; j < n; j++)
        norm += (double)e[j].w * e[j].w;
    if (!(norm > 0.0))
        return;
    float inv = (float)(1.0 / sqrt(norm));
    for (int64_t j = 0; j < n; j++) {
        float w = e[j].w * inv;
        const struct rec_csr *m = &c->inv;
        for (int64_t p = m->indptr[e[j].term]; p < m->indptr[e[j].term + 1]; p++)
            scores[m->indices[p]] += w * m->values[p];
    }
}

/* Weight of one history event: strength times the profile decay. */
static float event_weight(const struct content *c, const struct rec_user_query *q, int j,
                          int64_t now)
{
    float w = q->strengths ? q->strengths[j] : 1.0f;
    double h = c->p[P_HALF_LIFE] * 86400.0;
    if (q->ts && h > 0.0 && q->ts[j] < now)
        w *= (float)exp2(-(double)(now - q->ts[j]) / h);
    return isfinite(w) ? w : 0.0f;
}

static int content_score(const struct rec_model *m, const struct rec_user_query *q, float *scores)
{
    const struct content *c = as_content(m);
    if (!c || !q || !scores || q->n < 0 || (q->n > 0 && !q->items))
        return REC_EINVAL;
    int64_t now = q->now;
    for (int j = 0; q->ts && q->now == 0 && j < q->n; j++)
        if (j == 0 || q->ts[j] > now)
            now = q->ts[j];
    int64_t total = 0;
    for (int j = 0; j < q->n; j++)
        if (q->items[j] >= 0 && q->items[j] < c->n_items)
            total += c->vec.indptr[q->items[j] + 1] - c->vec.indptr[q->items[j]];
    struct entry *e = malloc(((size_t)total + 1) * sizeof *e);
    if (!e)
        return REC_ENOMEM;
    int64_t n = 0;
    for (int j = 0; j < q->n; j++) {
        int32_t it = q->items[j];
        if (it < 0 || it >= c->n_items)
            continue;
        float w = event_weight(c, q, j, now);
        for (int64_t p = c->vec.indptr[it]; p < c->vec.indptr[it + 1]; p++)
            e[n++] = (struct entry){c->vec.indices[p], w * c->vec.values[p]};
    }
    n = merge_entries(e, n);
    score_sparse(c, e, n, scores);
    free(e);
    return REC_OK;
}

static int content_similar(const struct rec_model *m, int32_t item, float *scores)
{
    const struct content *c = as_content(m);
    if (!c || !scores || item < 0 || item >= c->n_items)
        return REC_EINVAL;
    int64_t lo = c->vec.indptr[item], hi = c->vec.indptr[item + 1];
    struct entry *e = malloc(((size_t)(hi - lo) + 1) * sizeof *e);
    if (!e)
        return REC_ENOMEM;
    for (int64_t p = lo; p < hi; p++)
        e[p - lo] = (struct entry){c->vec.indices[p], c->vec.values[p]};
    score_sparse(c, e, hi - lo, scores);
    free(e);
    return REC_OK;
}

/* ---- neighbours ----------------------------------------------------------------------------- */

struct doc_ctx {
    const struct content *c;
    struct entry *e;
    int64_t n, cap;
};

static int doc_term(void *ctx, int field, const char *key)
{
    struct doc_ctx *dc = ctx;
    int32_t id = rec_idmap_get(&dc->c->vocab, key);
    if (id < 0)
        return 0; /* unknown at fit time: ignored */
    if (dc->n == dc->cap) {
        int64_t cap = dc->cap ? dc->cap * 2 : 64;
        struct entry *e = realloc(dc->e, (size_t)cap * sizeof *e);
        if (!e)
            return REC_ENOMEM;
        dc->e = e;
        dc->cap = cap;
    }
    dc->e[dc->n++] = (struct entry){id, 1.0f};
    return 0;
}

/* "a is a better neighbour than b": higher similarity, then lower index. */
static int better(float sa, int32_t ia, float sb, int32_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
}

/* Sifts the worst of the min-heap (items, sims)[0..n) down from position at. */
static void sift_down(int32_t *items, float *sims, int n, int at)
{
    for (;;) {
        int l = 2 * at + 1, r = l + 1, w = at;
        if (l < n && better(sims[w], items[w], sims[l], items[l]))
            w = l;
        if (r < n && better(sims[w], items[w], sims[r], items[r]))
            w = r;
        if (w == at)
            return;
        int32_t ti = items[w];
        float ts = sims[w];
        items[w] = items[at];
        sims[w] = sims[at];
        items[at] = ti;
        sims[at] = ts;
        at = w;
    }
}

/* Offers item i with similarity s to the min-heap (items, sims)[0..*n) of capacity k. */
static void heap_offer(int32_t *items, float *sims, int *n, int k, int32_t i, float s)
{
    if (*n < k) {
        items[*n] = i;
        sims[(*n)++] = s;
        if (*n == k)
            for (int a = k / 2 - 1; a >= 0; a--)
                sift_down(items, sims, k, a);
    } else if (better(s, i, sims[0], items[0])) {
        items[0] = i;
        sims[0] = s;
        sift_down(items, sims, k, 0);
    }
}

/* Sorts the heap (items, sims)[0..n) best first; returns n. */
static int heap_finish(int32_t *items, float *sims, int n, int k)
{
    if (n < k)
        for (int a = n / 2 - 1; a >= 0; a--)
            sift_down(items, sims, n, a);
    /* heap sort: move the worst to the end repeatedly */
    for (int end = n - 1; end > 0; end--) {
        int32_t ti = items[0];
        float ts = sims[0];
        items[0] = items[end];
        sims[0] = sims[end];
        items[end] = ti;
        sims[end] = ts;
        sift_down(items, sims, end, 0);
    }
    return n;
}

/* Working memory of one neighbour search: seen[] (zero between searches) marks the items
 * already scored, touched[] lists them so they can be unmarked. */
struct rec_content_scratch {
    int32_t n_items;
    uint8_t *seen;
    int32_t *touched;
};

struct rec_content_scratch *rec_content_scratch_new(const struct rec_model *m)
{
    const struct content *c = as_content(m);
    if (!c)
        return NULL;
    struct rec_content_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n_items = c->n_items;
    s->seen = calloc((size_t)c->n_items + 1, 1);
    s->touched = malloc(((size_t)c->n_items + 1) * sizeof *s->touched);
    if (!s->seen || !s->touched) {
        rec_content_scratch_free(s);
        return NULL;
    }
    return s;
}

void rec_content_scratch_free(struct rec_content_scratch *s)
{
    if (!s)
        return;
    free(s->seen);
    free(s->touched);
    free(s);
}

/* Cosine of the unit query (terms ascending, weights w[] already divided by the query's norm)
 * with item i: the products are added in term order, as score_sparse adds them, so the two give
 * the same float. */
static float dot_row(const struct content *c, const struct entry *e, const float *w, int64_t n,
                     int32_t i)
{
    const int32_t *t = c->vec.indices;
    const float *v = c->vec.values;
    int64_t p = c->vec.indptr[i], end = c->vec.indptr[i + 1], j = 0;
    float sum = 0.0f;
    while (p < end && j < n) {
        if (t[p] < e[j].term) {
            p++;
        } else if (t[p] > e[j].term) {
            j++;
        } else {
            sum += w[j] * v[p];
            p++;
            j++;
        }
    }
    return sum;
}

/* The k best eligible items other than skip with a positive cosine to the query e[0..n) (terms
 * ascending), best first, exactly as a full scan would rank them.
 *
 * MaxScore (Turtle and Flood 1995): the query's terms are visited from the shortest posting
 * list up, and each item met for the first time is scored in full from its own row. An item
 * not met yet holds only terms still to visit, so its cosine is at most the sum of those terms'
 * bounds (query weight times the term's largest weight); once the k-th best found is above
 * that, nothing left can enter and the long lists (a word every title has) are never read. */
static int top_k_maxscore(const struct content *c, struct rec_content_scratch *s,
                          const struct entry *e, int64_t n, int32_t skip,
                          const uint8_t *eligible, int k, int32_t *items, float *sims,
                          int *n_out)
{
    *n_out = 0;
    double norm = 0.0;
    for (int64_t j = 0; j < n; j++)
        norm += (double)e[j].w * e[j].w;
    if (!(norm > 0.0) || k <= 0)
        return REC_OK;
    float inv = (float)(1.0 / sqrt(norm));
    const struct rec_csr *m = &c->inv;
    float *w = malloc((size_t)n * sizeof *w);
    int64_t *order = malloc((size_t)n * sizeof *order);
    double *rest = malloc(((size_t)n + 1) * sizeof *rest);
    int got = 0, rc = w && order && rest ? REC_OK : REC_ENOMEM;
    if (rc)
        goto out;
    for (int64_t j = 0; j < n; j++) {
        w[j] = e[j].w * inv;
        int64_t len = m->indptr[e[j].term + 1] - m->indptr[e[j].term], a = j;
        for (; a > 0 && m->indptr[e[order[a - 1]].term + 1] - m->indptr[e[order[a - 1]].term] > len;
             a--)
            order[a] = order[a - 1];
        order[a] = j;
    }
    /* rest[r]: bound of an item holding only terms order[r..], with room for the rounding of
     * float sums (n terms, each product rounded at most half an ulp) */
    rest[n] = 0.0;
    for (int64_t r = n - 1; r >= 0; r--)
        rest[r] = rest[r + 1] + (double)w[order[r]] * c->term_max[e[order[r]].term];
    for (int64_t r = 0; r <= n; r++)
        rest[r] *= 1.0 + 1e-5;
    int32_t n_touched = 0;
    for (int64_t r = 0; r < n; r++) {
        if (got == k && (double)sims[0] > rest[r])
            break; /* the heap's worst beats anything unseen */
        int32_t t = e[order[r]].term;
        for (int64_t p = m->indptr[t]; p < m->indptr[t + 1]; p++) {
            int32_t i = m->indices[p];
            if (s->seen[i] || i == skip || (eligible && !eligible[i]))
                continue;
            s->seen[i] = 1;
            s->touched[n_touched++] = i;
            float sc = dot_row(c, e, w, n, i);
            if (sc > 0.0f)
                heap_offer(items, sims, &got, k, i, sc);
        }
    }
    for (int32_t j = 0; j < n_touched; j++)
        s->seen[s->touched[j]] = 0;
out:
    free(w);
    free(order);
    free(rest);
    *n_out = heap_finish(items, sims, got, k);
    return rc;
}

/* Runs one search with s, or with a scratch of its own when s is NULL. */
static int neighbors(const struct content *c, struct rec_content_scratch *s,
                     const struct entry *e, int64_t n, int32_t skip, const uint8_t *eligible,
                     int k, int32_t *items, float *sims, int *n_out)
{
    struct rec_content_scratch *own = NULL;
    if (!s && !(s = own = rec_content_scratch_new((const struct rec_model *)c)))
        return REC_ENOMEM;
    if (s->n_items != c->n_items) {
        rec_content_scratch_free(own);
        return REC_EINVAL;
    }
    int rc = top_k_maxscore(c, s, e, n, skip, eligible, k, items, sims, n_out);
    rec_content_scratch_free(own);
    return rc;
}

int rec_content_neighbors_of_doc(const struct rec_model *m, const char *doc_json,
                                 const uint8_t *eligible, int k, int32_t *items, float *sims,
                                 int *n_out)
{
    const struct content *c = as_content(m);
    if (!c || !doc_json || k < 0 || (k > 0 && (!items || !sims)) || !n_out)
        return REC_EINVAL;
    *n_out = 0;
    struct doc_ctx dc = {.c = c};
    int rc = doc_terms(doc_json, doc_term, &dc);
    if (rc == REC_OK) {
        dc.n = merge_entries(dc.e, dc.n);
        int32_t *terms = malloc(((size_t)dc.n + 1) * sizeof *terms);
        float *vals = malloc(((size_t)dc.n + 1) * sizeof *vals);
        if (!terms || !vals)
            rc = REC_ENOMEM;
        for (int64_t j = 0; rc == REC_OK && j < dc.n; j++) {
            terms[j] = dc.e[j].term;
            vals[j] = dc.e[j].w;
        }
        if (rc == REC_OK) {
            weigh(c, terms, vals, dc.n);
            for (int64_t j = 0; j < dc.n; j++)
                dc.e[j].w = vals[j];
            rc = neighbors(c, NULL, dc.e, dc.n, -1, eligible, k, items, sims, n_out);
        }
        free(terms);
        free(vals);
    }
    free(dc.e);
    return rc;
}

int rec_content_neighbors_of_item_in(const struct rec_model *m, struct rec_content_scratch *s,
                                     int32_t item, const uint8_t *eligible, int k,
                                     int32_t *items, float *sims, int *n_out)
{
    const struct content *c = as_content(m);
    if (!c || item < 0 || item >= c->n_items || k < 0 || (k > 0 && (!items || !sims)) || !n_out)
        return REC_EINVAL;
    *n_out = 0;
    int64_t lo = c->vec.indptr[item], hi = c->vec.indptr[item + 1];
    /* the item's own row is already merged and unit: it is the query as it stands */
    const struct entry *e = NULL;
    struct entry *tmp = NULL;
    if (hi > lo) {
        tmp = malloc((size_t)(hi - lo) * sizeof *tmp);
        if (!tmp)
            return REC_ENOMEM;
        for (int64_t p = lo; p < hi; p++)
            tmp[p - lo] = (struct entry){c->vec.indices[p], c->vec.values[p]};
        e = tmp;
    }
    int rc = neighbors(c, s, e, hi - lo, item, eligible, k, items, sims, n_out);
    free(tmp);
    return rc;
}

int rec_content_neighbors_of_item(const struct rec_model *m, int32_t item,
                                  const uint8_t *eligible, int k, int32_t *items, float *sims,
                                  int *n_out)
{
    return rec_content_neighbors_of_item_in(m, NULL, item, eligible, k, items, sims, n_out);
}

/* ---- save ----------------------------------------------------------------------------------- */

/* Returns 0, REC_EINVAL (not a content model, NULL f) or REC_EIO. Flushes f. Thread-safe for
 * distinct f. */
static int content_save(const struct rec_model *m, FILE *f)
{
    const struct content *c = as_content(m);
    if (!c || !f)
        return REC_EINVAL;
    struct rec_binw w;
    rec_binw_init(&w, f);
    int64_t nnz = c->vec.indptr[c->n_items];
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_params(&w, c->p, N_PARAMS);
    rec_binw_i32(&w, c->n_items);
    rec_binw_i32(&w, c->n_terms);
    rec_binw_u64(&w, (uint64_t)nnz);
    for (int32_t t = 0; t < c->n_terms; t++) {
        const char *key = rec_idmap_name(&c->vocab, t);
        rec_binw_str(&w, key, strlen(key));
    }
    rec_binw_f32s(&w, c->idf, (size_t)c->n_terms);
    for (int32_t i = 0; i < c->n_items; i++)
        rec_binw_u32(&w, (uint32_t)(c->vec.indptr[i + 1] - c->vec.indptr[i]));
    rec_binw_i32s(&w, c->vec.indices, (size_t)nnz);
    rec_binw_f32s(&w, c->vec.values, (size_t)nnz);
    return rec_binw_finish(&w);
}

/* ---- load ----------------------------------------------------------------------------------- */

/* Reads the term keys into c->vocab: unique, a field char, ':', 1..TERM_MAX bytes, no NUL. */
static void r_terms(struct rec_binr *r, struct content *c)
{
    char key[KEY_MAX];
    size_t len;
    for (int32_t t = 0; t < c->n_terms && !r->rc; t++) {
        if (rec_binr_str(r, key, 3, KEY_MAX - 1, &len) != REC_OK)
            break;
        int created = 0;
        if (key_field(key) < 0 || key[1] != ':')
            rec_binr_fail(r, REC_EFORMAT);
        else if (rec_idmap_put(&c->vocab, key, &created) < 0)
            rec_binr_fail(r, REC_ENOMEM);
        else if (!created)
            rec_binr_fail(r, REC_EFORMAT);
    }
}

/* Builds c->vec from row lengths and entries (taking terms and vals on success), checking every
 * invariant score relies on. */
static int build_vec(struct content *c, const uint32_t *lens, uint32_t *terms, float *vals,
                     int64_t nnz)
{
    c->vec.n_rows = c->n_items;
    c->vec.n_cols = c->n_terms;
    c->vec.indptr = malloc(((size_t)c->n_items + 1) * sizeof *c->vec.indptr);
    if (!c->vec.indptr)
        return REC_ENOMEM;
    c->vec.indptr[0] = 0;
    for (int32_t i = 0; i < c->n_items; i++) {
        int64_t lo = c->vec.indptr[i], hi = lo + lens[i];
        if (hi > nnz)
            return REC_EFORMAT;
        for (int64_t e = lo; e < hi; e++)
            if (terms[e] >= (uint32_t)c->n_terms || (e > lo && terms[e] <= terms[e - 1]) ||
                !isfinite(vals[e]))
                return REC_EFORMAT;
        c->vec.indptr[i + 1] = hi;
    }
    if (c->vec.indptr[c->n_items] != nnz)
        return REC_EFORMAT;
    c->vec.indices = (int32_t *)terms; /* every term id is below n_terms <= INT32_MAX */
    c->vec.values = vals;
    return REC_OK;
}

static void r_header(struct rec_binr *r, struct content *c, int64_t *nnz)
{
    if (rec_binr_head(r, MAGIC) != FORMAT_VERSION)
        rec_binr_fail(r, REC_EFORMAT);
    rec_binr_params(r, c->p, N_PARAMS);
    uint32_t n_items = rec_binr_u32(r), n_terms = rec_binr_u32(r);
    uint64_t n = rec_binr_u64(r);
    if (!r->rc && (check_params(c->p) || n_items > INT32_MAX || n_terms > INT32_MAX ||
                   n > (uint64_t)INT32_MAX * 1024))
        rec_binr_fail(r, REC_EFORMAT);
    c->n_items = (int32_t)n_items;
    c->n_terms = (int32_t)n_terms;
    *nnz = (int64_t)n;
}

/* Returns 0, REC_EINVAL (NULL f/out), REC_EFORMAT (any damage), REC_EIO or REC_ENOMEM; on
 * failure *out is NULL. Reads exactly the bytes save wrote. Thread-safe for distinct f. */
static int content_load(FILE *f, struct rec_model **out)
{
    if (!f || !out)
        return REC_EINVAL;
    *out = NULL;
    struct content *c = calloc(1, sizeof *c);
    if (!c)
        return REC_ENOMEM;
    c->tag = TAG;
    rec_idmap_init(&c->vocab);
    struct rec_binr r;
    rec_binr_init(&r, f);
    int64_t nnz = 0;
    uint32_t *lens = NULL, *terms = NULL;
    float *vals = NULL;
    r_header(&r, c, &nnz);
    r_terms(&r, c);
    if (!r.rc)
        c->idf = rec_binr_f32s(&r, (size_t)c->n_terms, 0);
    if (!r.rc)
        lens = rec_binr_u32s(&r, (size_t)c->n_items);
    if (!r.rc)
        terms = rec_binr_u32s(&r, (size_t)nnz);
    if (!r.rc)
        vals = rec_binr_f32s(&r, (size_t)nnz, 0);
    rec_binr_finish(&r);
    for (int32_t t = 0; !r.rc && t < c->n_terms; t++)
        if (!(c->idf[t] > 0.0f) || !isfinite(c->idf[t]))
            rec_binr_fail(&r, REC_EFORMAT);
    if (!r.rc && rec_binr_fail(&r, build_vec(c, lens, terms, vals, nnz)) == REC_OK)
        terms = NULL, vals = NULL;
    if (!r.rc)
        rec_binr_fail(&r, index_terms(c));
    free(lens);
    free(terms);
    free(vals);
    if (r.rc) {
        content_destroy((struct rec_model *)c);
        return r.rc;
    }
    *out = (struct rec_model *)c;
    return REC_OK;
}

const struct rec_model_type rec_model_content = {
    .name = "content",
    .summary = "TF-IDF over item categories, tags, title and text; cosine to the user's profile",
    .params = PARAMS,
    .n_params = N_PARAMS,
    .fit = content_fit,
    .destroy = content_destroy,
    .score = content_score,
    .similar = content_similar,
    .save = content_save,
    .load = content_load,
};
