/* test_content.c: content model: tokenisation, TF-IDF weights on hand-made documents,
 * profile scoring with decay, neighbours of new documents, save/load round trip and damage. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/attrs.h"
#include "model/content.h"
#include "model/csr.h"

#define TOL 1e-5

/* ---- tokenizer ------------------------------------------------------------------------------ */

struct words {
    char w[16][80];
    int n;
};

static int collect(void *ctx, const char *word, size_t len)
{
    struct words *ws = ctx;
    assert_true(ws->n < 16 && len < 80);
    memcpy(ws->w[ws->n], word, len);
    ws->w[ws->n++][len] = '\0';
    return 0;
}

static int stop_at_two(void *ctx, const char *word, size_t len)
{
    int *n = ctx;
    return ++*n == 2 ? 42 : 0;
}

static void test_tokenize(void **state)
{
    char text[256];
    char longw[70];
    memset(longw, 'q', 65);
    longw[65] = '\0';
    snprintf(text, sizeof text,
             "The Lord of the RINGS: Return-of_the King (2003) x 7 caf\xc3\xa9 \xc3\xa9 "
             "%s an AI \xe6\x97\xa5\xe6\x9c\xac!", longw);
    struct words ws = {.n = 0};
    assert_int_equal(rec_content_tokenize(text, strlen(text), collect, &ws), 0);
    const char *want[] = {"lord", "rings", "return", "king", "2003", "caf\xc3\xa9", "ai",
                          "\xe6\x97\xa5\xe6\x9c\xac"};
    assert_int_equal(ws.n, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(ws.w[i], want[i]);

    /* a 64-byte word is kept, the length argument bounds the scan, fn's value stops it */
    ws.n = 0;
    longw[64] = '\0';
    assert_int_equal(rec_content_tokenize(longw, 64, collect, &ws), 0);
    assert_int_equal(ws.n, 1);
    ws.n = 0;
    assert_int_equal(rec_content_tokenize("drama comedy", 5, collect, &ws), 0);
    assert_int_equal(ws.n, 1);
    assert_string_equal(ws.w[0], "drama");
    int count = 0;
    assert_int_equal(rec_content_tokenize("aa bb cc dd", 11, stop_at_two, &count), 42);
    assert_int_equal(count, 2);
}

/* ---- three hand-made documents -------------------------------------------------------------- */

/* A, B, C below, D with no usable term, E no document at all. */
static const char *const DOCS[] = {
    "{\"categories\":[\"Drama\",\"Crime\"],\"title\":\"Night Train\",\"attributes\":{\"x\":1}}",
    "{\"categories\":[\" drama \"],\"tags\":[],\"title\":\"Night, night!\"}",
    "{\"categories\":[\"Comedy\"],\"text\":\"the train\"}",
    "{\"title\":\"a b\"}",
    NULL,
};
enum { N_DOCS = 5 };

static struct rec_model *fit_docs(const char *params)
{
    struct rec_csr ui;
    assert_int_equal(rec_csr_from_triplets(&ui, 1, N_DOCS, NULL, 0), REC_OK);
    struct rec_train_input in = {.ui = &ui, .item_docs = DOCS};
    double p[REC_MODEL_MAX_PARAMS];
    char err[128];
    rec_model_params_default(&rec_model_content, p);
    assert_int_equal(rec_model_params_parse(&rec_model_content, params, p, err, sizeof err), 0);
    struct rec_model *m = NULL;
    assert_int_equal(rec_model_content.fit(&in, p, &m, err, sizeof err), REC_OK);
    assert_non_null(m);
    rec_csr_free(&ui);
    return m;
}

/* Hand computation. N = 3 documents with terms; idf = ln(4 / (1 + df)) + 1.
 *   A: c:drama (df 2), c:crime (1), t:night (2), t:train (1)
 *   B: c:drama, t:night x2 (tf 1 + ln 2)
 *   C: c:comedy (1), x:train (1)   (a text word, a different term from the title's "train") */
static double idf1(void) { return log(4.0 / 2.0) + 1.0; }
static double idf2(void) { return log(4.0 / 3.0) + 1.0; }

static void test_tfidf_weights(void **state)
{
    struct rec_model *m = fit_docs("w_category=1,w_tag=1,w_title=1,w_text=1");
    assert_int_equal(rec_content_n_items(m), N_DOCS);
    float s[N_DOCS];

    double a_norm = sqrt(2 * idf2() * idf2() + 2 * idf1() * idf1());
    double b_night = (1.0 + log(2.0)) * idf2();
    double b_norm = sqrt(idf2() * idf2() + b_night * b_night);
    double cos_ab = (idf2() * idf2() + idf2() * b_night) / (a_norm * b_norm);
    assert_int_equal(rec_model_content.similar(m, 0, s), REC_OK);
    assert_float_equal(s[0], 1.0, TOL);
    assert_float_equal(s[1], cos_ab, TOL);
    assert_float_equal(s[2], 0.0, TOL);
    assert_true(isinf(s[3]) && s[3] < 0);
    assert_true(isinf(s[4]) && s[4] < 0);
    assert_int_equal(rec_model_content.similar(m, 1, s), REC_OK);
    assert_float_equal(s[0], cos_ab, TOL);
    assert_int_equal(rec_model_content.similar(m, 5, s), REC_EINVAL);

    /* a new document: unknown words ignored, a known category matches case-insensitively */
    int32_t items[4];
    float sims[4];
    int n = -1;
    const char *doc = "{\"categories\":[\"DRAMA\"],\"title\":\"unheard train\"}";
    assert_int_equal(rec_content_neighbors_of_doc(m, doc, NULL, 4, items, sims, &n), REC_OK);
    double d_norm = sqrt(idf2() * idf2() + idf1() * idf1());
    assert_int_equal(n, 2);
    assert_int_equal(items[0], 0);
    assert_float_equal(sims[0], (idf2() * idf2() + idf1() * idf1()) / (d_norm * a_norm), TOL);
    assert_int_equal(items[1], 1);
    assert_float_equal(sims[1], idf2() * idf2() / (d_norm * b_norm), TOL);
    const uint8_t not_a[N_DOCS] = {0, 1, 1, 1, 1};
    assert_int_equal(rec_content_neighbors_of_doc(m, doc, not_a, 4, items, sims, &n), REC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], 1);
    assert_int_equal(rec_content_neighbors_of_doc(m, doc, NULL, 1, items, sims, &n), REC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], 0);
    assert_int_equal(rec_content_neighbors_of_doc(m, "{\"title\":\"zzz\"}", NULL, 4, items,
                                                  sims, &n), REC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rec_content_neighbors_of_doc(m, "[1]", NULL, 4, items, sims, &n),
                     REC_EFORMAT);
    assert_int_equal(rec_content_neighbors_of_doc(m, "{", NULL, 4, items, sims, &n), REC_EFORMAT);

    /* by fitted item: never itself */
    assert_int_equal(rec_content_neighbors_of_item(m, 1, NULL, 4, items, sims, &n), REC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0], 0);
    assert_float_equal(sims[0], cos_ab, TOL);
    assert_int_equal(rec_content_neighbors_of_item(m, 3, NULL, 4, items, sims, &n), REC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(rec_content_neighbors_of_item(m, -1, NULL, 4, items, sims, &n), REC_EINVAL);
    rec_model_content.destroy(m);

    /* field weights: without titles only the categories are left */
    m = fit_docs("w_title=0,w_text=1");
    assert_int_equal(rec_model_content.similar(m, 0, s), REC_OK);
    assert_float_equal(s[1], idf2() / sqrt(idf2() * idf2() + idf1() * idf1()), TOL);
    /* with w_category 2: A = (2 idf2, 2 idf1, idf2, idf1) over drama, crime, night, train */
    rec_model_content.destroy(m);
    m = fit_docs("w_category=2,w_title=1");
    double a2 = sqrt(5 * idf2() * idf2() + 5 * idf1() * idf1());
    double b2 = sqrt(4 * idf2() * idf2() + b_night * b_night);
    assert_int_equal(rec_model_content.similar(m, 1, s), REC_OK);
    assert_float_equal(s[0], (4 * idf2() * idf2() + idf2() * b_night) / (a2 * b2), TOL);
    rec_model_content.destroy(m);
}

/* profile = sum strength * 2^(-(now - ts) / half_life) * v; score = cosine */
/* ---- neighbour search against the dense scores -------------------------------------------- */

/* 300 documents over few categories, tags and title words, so many items share terms and many
 * similarities tie: the sparse search with one reused scratch must return exactly the dense
 * scores' top k (similarity, then lower index), for every item, with and without a mask. */
enum { R_DOCS = 300, R_K = 7 };

struct ranked {
    int32_t item;
    float sim;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->sim != y->sim)
        return x->sim > y->sim ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static void test_neighbors_match_dense(void **state)
{
    static char text[R_DOCS][160];
    const char *docs[R_DOCS];
    uint32_t r = 7;
    for (int i = 0; i < R_DOCS; i++) {
        uint32_t v[4];
        for (int j = 0; j < 4; j++)
            v[j] = (r = r * 1664525u + 1013904223u) >> 16;
        if (i % 50 == 49)
            snprintf(text[i], sizeof text[i], "{\"title\":\"q\"}"); /* no usable term */
        else if (i % 2) /* equal documents tie */
            snprintf(text[i], sizeof text[i], "{\"categories\":[\"c%u\"],\"tags\":[\"t%u\"]}",
                     v[0] % 5, v[1] % 20);
        else
            snprintf(text[i], sizeof text[i],
                     "{\"categories\":[\"c%u\"],\"tags\":[\"t%u\"],\"title\":\"w%u w%u\"}",
                     v[0] % 5, v[1] % 20, v[2] % 40, v[3] % 40);
        docs[i] = text[i];
    }
    struct rec_csr ui;
    assert_int_equal(rec_csr_from_triplets(&ui, 1, R_DOCS, NULL, 0), REC_OK);
    struct rec_train_input in = {.ui = &ui, .item_docs = docs};
    double p[REC_MODEL_MAX_PARAMS];
    char err[128];
    rec_model_params_default(&rec_model_content, p);
    struct rec_model *m = NULL;
    assert_int_equal(rec_model_content.fit(&in, p, &m, err, sizeof err), REC_OK);
    rec_csr_free(&ui);

    uint8_t mask[R_DOCS];
    for (int i = 0; i < R_DOCS; i++)
        mask[i] = (uint8_t)(i % 3 != 0);
    struct rec_content_scratch *s = rec_content_scratch_new(m);
    assert_non_null(s);
    float dense[R_DOCS];
    struct ranked want[R_DOCS];
    int32_t items[R_K];
    float sims[R_K];
    int ties = 0;
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *elig = pass ? mask : NULL;
        for (int32_t i = 0; i < R_DOCS; i++) {
            assert_int_equal(rec_model_content.similar(m, i, dense), REC_OK);
            int nw = 0;
            for (int32_t j = 0; j < R_DOCS; j++)
                if (j != i && dense[j] > 0.0f && (!elig || elig[j]))
                    want[nw++] = (struct ranked){j, dense[j]};
            qsort(want, (size_t)nw, sizeof *want, ranked_cmp);
            int nk = nw < R_K ? nw : R_K;
            for (int j = 1; j < nk; j++)
                ties += want[j].sim == want[j - 1].sim;
            int n = -1;
            /* the reused scratch, then a scratch of the call's own */
            for (int own = 0; own < 2; own++) {
                int rc = own ? rec_content_neighbors_of_item(m, i, elig, R_K, items, sims, &n)
                             : rec_content_neighbors_of_item_in(m, s, i, elig, R_K, items, sims,
                                                                &n);
                assert_int_equal(rc, REC_OK);
                assert_int_equal(n, nk);
                for (int j = 0; j < n; j++) {
                    assert_int_equal(items[j], want[j].item);
                    assert_true(sims[j] == want[j].sim);
                }
            }
        }
    }
    assert_true(ties > 100); /* the tie order was exercised */

    /* a scratch sized for another model */
    struct rec_model *small = fit_docs("");
    struct rec_content_scratch *s2 = rec_content_scratch_new(small);
    int n;
    assert_int_equal(rec_content_neighbors_of_item_in(m, s2, 0, NULL, R_K, items, sims, &n),
                     REC_EINVAL);
    assert_null(rec_content_scratch_new(NULL));
    rec_content_scratch_free(s2);
    rec_content_scratch_free(s);
    rec_model_content.destroy(small);
    rec_model_content.destroy(m);
}

static void test_profile_decay(void **state)
{
    struct rec_model *m = fit_docs("w_category=1,w_tag=1,w_title=1,w_text=1,half_life_days=1");
    const double a_norm = sqrt(2 * idf2() * idf2() + 2 * idf1() * idf1());
    const double b_night = (1.0 + log(2.0)) * idf2();
    const double b_norm = sqrt(idf2() * idf2() + b_night * b_night);
    const double cos_ab = (idf2() * idf2() + idf2() * b_night) / (a_norm * b_norm);
    const int64_t now = 1700000000;
    const int32_t hist[] = {0, 2};
    const float str[] = {1.0f, 1.0f};
    const int64_t ts[] = {now - 86400, now}; /* A one half-life ago: weight 0.5 */
    struct rec_user_query q = {.user = -1, .items = hist, .strengths = str, .ts = ts, .n = 2,
                               .now = now};
    float s[N_DOCS];
    assert_int_equal(rec_model_content.score(m, &q, s), REC_OK);
    double pn = sqrt(0.25 + 1.0); /* A and C are orthogonal unit vectors */
    assert_float_equal(s[0], 0.5 / pn, TOL);
    assert_float_equal(s[1], 0.5 * cos_ab / pn, TOL);
    assert_float_equal(s[2], 1.0 / pn, TOL);
    assert_true(isinf(s[3]) && s[3] < 0);
    assert_true(isinf(s[4]) && s[4] < 0);

    /* now = 0 means the latest event: the same here */
    float s0[N_DOCS];
    q.now = 0;
    assert_int_equal(rec_model_content.score(m, &q, s0), REC_OK);
    assert_memory_equal(s, s0, sizeof s);

    /* two half-lives back, strength 3, and C in the future (counts fully) */
    const float str3[] = {3.0f, 1.0f};
    const int64_t ts2[] = {now - 2 * 86400, now + 5000};
    q = (struct rec_user_query){.user = -1, .items = hist, .strengths = str3, .ts = ts2, .n = 2,
                                .now = now};
    assert_int_equal(rec_model_content.score(m, &q, s), REC_OK);
    pn = sqrt(0.75 * 0.75 + 1.0);
    assert_float_equal(s[0], 0.75 / pn, TOL);
    assert_float_equal(s[2], 1.0 / pn, TOL);

    /* without timestamps no decay; out-of-range items are skipped */
    const int32_t hist3[] = {0, 2, 99};
    const float str1[] = {1, 1, 1};
    q = (struct rec_user_query){.user = 3, .items = hist3, .strengths = str1, .n = 3};
    assert_int_equal(rec_model_content.score(m, &q, s), REC_OK);
    assert_float_equal(s[0], 1.0 / sqrt(2.0), TOL);
    assert_float_equal(s[2], 1.0 / sqrt(2.0), TOL);

    /* empty profile: 0 for items with terms */
    q.n = 0;
    assert_int_equal(rec_model_content.score(m, &q, s), REC_OK);
    assert_float_equal(s[0], 0.0, 0.0);
    assert_float_equal(s[2], 0.0, 0.0);
    assert_true(isinf(s[3]));
    q.n = -1;
    assert_int_equal(rec_model_content.score(m, &q, s), REC_EINVAL);
    rec_model_content.destroy(m);

    /* half_life_days = 0: no decay even with timestamps */
    m = fit_docs("half_life_days=0,w_title=1,w_text=1");
    q = (struct rec_user_query){.user = -1, .items = hist, .strengths = str, .ts = ts, .n = 2,
                                .now = now};
    assert_int_equal(rec_model_content.score(m, &q, s), REC_OK);
    assert_float_equal(s[0], 1.0 / sqrt(2.0), TOL);
    rec_model_content.destroy(m);
}

static void test_bad_input(void **state)
{
    struct rec_csr ui;
    assert_int_equal(rec_csr_from_triplets(&ui, 1, 2, NULL, 0), REC_OK);
    const char *docs[] = {"not json", "{\"categories\":[\"x1\"]}"};
    struct rec_train_input in = {.ui = &ui, .item_docs = docs};
    double p[REC_MODEL_MAX_PARAMS];
    char err[128] = "";
    rec_model_params_default(&rec_model_content, p);
    struct rec_model *m = NULL;
    assert_int_equal(rec_model_content.fit(&in, p, &m, err, sizeof err), REC_OK);
    float s[2];
    assert_int_equal(rec_model_content.similar(m, 1, s), REC_OK);
    assert_true(isinf(s[0]));
    assert_float_equal(s[1], 1.0, TOL);
    rec_model_content.destroy(m);

    p[0] = p[1] = p[2] = p[3] = 0.0;
    assert_int_equal(rec_model_content.fit(&in, p, &m, err, sizeof err), REC_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err, "field weight"));

    /* another model type is not a content model */
    rec_model_params_default(&rec_model_attrs, p);
    assert_int_equal(rec_model_attrs.fit(&in, p, &m, err, sizeof err), REC_OK);
    int32_t items[2];
    float sims[2];
    int n;
    assert_int_equal(rec_content_neighbors_of_doc(m, "{}", NULL, 2, items, sims, &n), REC_EINVAL);
    assert_int_equal(rec_content_n_items(m), -1);
    rec_model_attrs.destroy(m);
    rec_csr_free(&ui);
}

/* ---- save / load ---------------------------------------------------------------------------- */

static unsigned char *save_bytes(const struct rec_model *m, size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(rec_model_content.save(m, f), REC_OK);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static int load_bytes(const unsigned char *buf, size_t len, struct rec_model **out)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    rewind(f);
    int rc = rec_model_content.load(f, out);
    fclose(f);
    return rc;
}

static void test_save_load(void **state)
{
    struct rec_model *m = fit_docs("w_title=0.7,w_text=1.5,half_life_days=3");
    size_t len;
    unsigned char *buf = save_bytes(m, &len);
    assert_memory_equal(buf, "RECDCNT1", 8);
    struct rec_model *l = NULL;
    assert_int_equal(load_bytes(buf, len, &l), REC_OK);

    /* same answers everywhere */
    const int32_t hist[] = {0, 2};
    const float str[] = {1.0f, 2.0f};
    const int64_t ts[] = {1000000, 1100000};
    struct rec_user_query q = {.user = -1, .items = hist, .strengths = str, .ts = ts, .n = 2};
    float s1[N_DOCS], s2[N_DOCS];
    assert_int_equal(rec_model_content.score(m, &q, s1), REC_OK);
    assert_int_equal(rec_model_content.score(l, &q, s2), REC_OK);
    assert_memory_equal(s1, s2, sizeof s1);
    for (int32_t i = 0; i < N_DOCS; i++) {
        assert_int_equal(rec_model_content.similar(m, i, s1), REC_OK);
        assert_int_equal(rec_model_content.similar(l, i, s2), REC_OK);
        assert_memory_equal(s1, s2, sizeof s1);
    }
    int32_t i1[4], i2[4];
    float f1[4], f2[4];
    int n1, n2;
    const char *doc = "{\"categories\":[\"drama\"],\"text\":\"train night\"}";
    assert_int_equal(rec_content_neighbors_of_doc(m, doc, NULL, 4, i1, f1, &n1), REC_OK);
    assert_int_equal(rec_content_neighbors_of_doc(l, doc, NULL, 4, i2, f2, &n2), REC_OK);
    assert_int_equal(n1, n2);
    assert_true(n1 > 0);
    assert_memory_equal(i1, i2, (size_t)n1 * sizeof *i1);
    assert_memory_equal(f1, f2, (size_t)n1 * sizeof *f1);

    /* saving the loaded model reproduces the bytes */
    size_t len2;
    unsigned char *buf2 = save_bytes(l, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf2);
    rec_model_content.destroy(l);

    /* truncation anywhere and any flipped bit are malformed */
    for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : 7) {
        l = (struct rec_model *)&l;
        assert_int_equal(load_bytes(buf, cut, &l), REC_EFORMAT);
        assert_null(l);
    }
    unsigned char *copy = malloc(len);
    for (size_t at = 0; at < len; at++) {
        for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
            memcpy(copy, buf, len);
            copy[at] ^= (unsigned char)mask;
            l = (struct rec_model *)&l;
            int rc = load_bytes(copy, len, &l);
            if (rc != REC_EFORMAT)
                fail_msg("flip at %zu: rc %d", at, rc);
            assert_null(l);
        }
    }
    free(copy);
    assert_int_equal(rec_model_content.load(NULL, &l), REC_EINVAL);
    assert_int_equal(rec_model_content.save(NULL, stdout), REC_EINVAL);
    free(buf);
    rec_model_content.destroy(m);
}

/* no items at all: fit, score, save and load still work */
static void test_empty_model(void **state)
{
    struct rec_csr ui;
    assert_int_equal(rec_csr_from_triplets(&ui, 0, 0, NULL, 0), REC_OK);
    struct rec_train_input in = {.ui = &ui};
    double p[REC_MODEL_MAX_PARAMS];
    char err[128];
    rec_model_params_default(&rec_model_content, p);
    struct rec_model *m = NULL, *l = NULL;
    assert_int_equal(rec_model_content.fit(&in, p, &m, err, sizeof err), REC_OK);
    float s[1];
    struct rec_user_query q = {.user = -1};
    assert_int_equal(rec_model_content.score(m, &q, s), REC_OK);
    int n = -1;
    assert_int_equal(rec_content_neighbors_of_doc(m, "{\"title\":\"x y\"}", NULL, 0, NULL, NULL,
                                                  &n), REC_OK);
    assert_int_equal(n, 0);
    size_t len;
    unsigned char *buf = save_bytes(m, &len);
    assert_int_equal(load_bytes(buf, len, &l), REC_OK);
    assert_int_equal(rec_content_n_items(l), 0);
    free(buf);
    rec_model_content.destroy(l);
    rec_model_content.destroy(m);
    rec_model_content.destroy(NULL);
    rec_csr_free(&ui);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_tfidf_weights),
        cmocka_unit_test(test_neighbors_match_dense),
        cmocka_unit_test(test_profile_decay),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_empty_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
