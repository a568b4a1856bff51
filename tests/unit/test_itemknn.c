/* test_itemknn.c: item-kNN similarities by hand on a tiny matrix (each variant, shrink, strengths,
 * user weights, normalisation, power), top-neighbour truncation, threads, scoring, save/load and
 * damaged files. */
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
#include "model/csr.h"
#include "model/itemknn.h"

#define T (&rec_model_itemknn)

/* Tiny matrix, 4 users x 4 items (binary view):
 *   u0: 0 1 2     u1: 0 1     u2: 1 2 3     u3: 0 3
 * n = (3, 3, 2, 2); c01 = 2, c02 = 1, c03 = 1, c12 = 2, c13 = 1, c23 = 1.
 * u0's item 0 has strength 2; u1 also holds item 2 with strength -1 and u3 item 1 with 0, which
 * fit must ignore. */
static void tiny(struct rec_csr *ui)
{
    static const struct rec_triplet t[] = {
        {0, 0, 2}, {0, 1, 1}, {0, 2, 1}, {1, 0, 1}, {1, 1, 1}, {1, 2, -1},
        {2, 1, 1}, {2, 2, 1}, {2, 3, 1}, {3, 0, 1}, {3, 3, 1}, {3, 1, 0},
    };
    assert_int_equal(rec_csr_from_triplets(ui, 4, 4, t, sizeof t / sizeof t[0]), REC_OK);
}

/* Fits on ui with the defaults overridden by spec; iu is passed when with_iu. */
static struct rec_model *fit_with(const struct rec_csr *ui, const char *spec, int threads,
                                  int with_iu)
{
    double p[REC_MODEL_MAX_PARAMS];
    char err[256] = "";
    rec_model_params_default(T, p);
    assert_int_equal(rec_model_params_parse(T, spec, p, err, sizeof err), REC_OK);
    struct rec_csr iu = {0};
    if (with_iu)
        assert_int_equal(rec_csr_transpose(ui, &iu), REC_OK);
    struct rec_train_input in = {.ui = ui, .iu = with_iu ? &iu : NULL, .threads = threads};
    struct rec_model *m = NULL;
    int rc = T->fit(&in, p, &m, err, sizeof err);
    if (rc != REC_OK)
        fail_msg("fit(%s): %s", spec, err);
    assert_non_null(m);
    rec_csr_free(&iu);
    return m;
}

static struct rec_model *fit_tiny(const char *spec)
{
    struct rec_csr ui;
    tiny(&ui);
    struct rec_model *m = fit_with(&ui, spec, 1, 1);
    rec_csr_free(&ui);
    return m;
}

#define RAW "normalize=0,user_weight=0,sim_pow=1,neighbors=100"

/* similar(i) must equal want[i][j] for every j (0 = not kept). */
static void expect_sims(const struct rec_model *m, double want[4][4])
{
    float s[4];
    for (int32_t i = 0; i < 4; i++) {
        assert_int_equal(T->similar(m, i, s), REC_OK);
        for (int j = 0; j < 4; j++)
            if (fabs(s[j] - want[i][j]) > 1e-6 * (1 + fabs(want[i][j])))
                fail_msg("sim(%d, %d) = %.9g, want %.9g", i, j, (double)s[j], want[i][j]);
    }
}

/* Binary counts c and norms n of the tiny matrix. */
static const double C[4][4] = {{0, 2, 1, 1}, {2, 0, 2, 1}, {1, 2, 0, 1}, {1, 1, 1, 0}};
static const double N[4] = {3, 3, 2, 2};

static void test_cosine(void **state)
{
    for (int shrink = 0; shrink <= 3; shrink += 3) {
        char spec[128];
        snprintf(spec, sizeof spec, RAW ",similarity=0,shrink=%d", shrink);
        struct rec_model *m = fit_tiny(spec);
        double want[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                want[i][j] = C[i][j] / (sqrt(N[i] * N[j]) + shrink);
        assert_true(fabs(want[0][1] - (shrink ? 2.0 / 6 : 2.0 / 3)) < 1e-12); /* sanity */
        expect_sims(m, want);
        T->destroy(m);
    }
}

static void test_asymmetric(void **state)
{
    struct rec_model *m = fit_tiny(RAW ",similarity=1,asym_alpha=0.8,shrink=1");
    double want[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            want[i][j] = C[i][j] / (pow(N[i], 0.8) * pow(N[j], 0.2) + 1);
    /* 1 / (3^0.8 2^0.2 + 1) for (0, 2) and 1 / (2^0.8 3^0.2 + 1) for (2, 0) */
    assert_true(fabs(want[0][2] - 0.2655109) < 1e-6 && fabs(want[2][0] - 0.3155626) < 1e-6);
    expect_sims(m, want);
    T->destroy(m);

    /* alpha = 0.5 is the cosine */
    struct rec_model *a = fit_tiny(RAW ",similarity=1,asym_alpha=0.5,shrink=2");
    struct rec_model *c = fit_tiny(RAW ",similarity=0,shrink=2");
    float sa[4], sc[4];
    for (int32_t i = 0; i < 4; i++) {
        T->similar(a, i, sa);
        T->similar(c, i, sc);
        for (int j = 0; j < 4; j++)
            assert_true(fabsf(sa[j] - sc[j]) < 1e-6f);
    }
    T->destroy(a);
    T->destroy(c);
}

static void test_jaccard(void **state)
{
    double want[4][4] = {{0, 0.5, 0.25, 0.25},
                         {0.5, 0, 2.0 / 3, 0.25},
                         {0.25, 2.0 / 3, 0, 1.0 / 3},
                         {0.25, 0.25, 1.0 / 3, 0}};
    struct rec_model *m = fit_tiny(RAW ",similarity=2,shrink=0");
    expect_sims(m, want);
    T->destroy(m);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            want[i][j] = C[i][j] / (N[i] + N[j] - C[i][j] + 1.5);
    m = fit_tiny(RAW ",similarity=2,shrink=1.5");
    expect_sims(m, want);
    T->destroy(m);
}

static void test_strengths_and_user_weight(void **state)
{
    /* binary=0: n0 = 2^2 + 1 + 1 = 6, c01 = 2*1 + 1*1 = 3, c02 = 2, c03 = 1 */
    struct rec_model *m = fit_tiny(RAW ",similarity=0,shrink=0,binary=0");
    float s[4];
    T->similar(m, 0, s);
    assert_true(fabsf(s[1] - (float)(3 / sqrt(18.0))) < 1e-6f);
    assert_true(fabsf(s[2] - (float)(2 / sqrt(12.0))) < 1e-6f);
    assert_true(fabsf(s[3] - (float)(1 / sqrt(12.0))) < 1e-6f);
    T->destroy(m);

    /* user_weight: w_u = 1/log(1 + |history|), histories 3, 2, 3, 2 (junk entries do not count) */
    double w3 = 1 / log(4.0), w2 = 1 / log(3.0);
    double n0 = w3 + w2 + w2, n1 = w3 + w2 + w3, n2 = w3 + w3, n3 = w3 + w2;
    m = fit_tiny("normalize=0,user_weight=1,sim_pow=1,similarity=2,shrink=0");
    T->similar(m, 1, s);
    assert_true(fabsf(s[0] - (float)((w3 + w2) / (n1 + n0 - w3 - w2))) < 1e-6f);
    assert_true(fabsf(s[2] - (float)(2 * w3 / (n1 + n2 - 2 * w3))) < 1e-6f);
    assert_true(fabsf(s[3] - (float)(w3 / (n1 + n3 - w3))) < 1e-6f);
    T->destroy(m);
}

static void test_normalize_and_power(void **state)
{
    /* item 1, Jaccard, shrink 0: (0.5, -, 2/3, 0.25); squared and normalised to sum 1 */
    struct rec_model *m = fit_tiny("normalize=1,user_weight=0,sim_pow=2,similarity=2,shrink=0");
    float s[4];
    T->similar(m, 1, s);
    double sum = 0.25 + 4.0 / 9 + 0.0625;
    assert_true(fabsf(s[0] - (float)(0.25 / sum)) < 1e-6f);
    assert_true(fabsf(s[2] - (float)(4.0 / 9 / sum)) < 1e-6f);
    assert_true(fabsf(s[3] - (float)(0.0625 / sum)) < 1e-6f);
    assert_true(s[1] == 0.0f);
    T->destroy(m);
    /* item 0 with shrink 1000: sims ~2/1003 and ~1/1002.4, whose 16th powers underflow float;
     * relative to the best, (s02 / s01)^16 = 1.5393e-5 survives */
    m = fit_tiny("normalize=1,user_weight=0,sim_pow=16,similarity=0,shrink=1000");
    T->similar(m, 0, s);
    assert_true(fabsf(s[1] - 0.99996921f) < 1e-6f);
    assert_true(fabsf(s[2] - 1.5392942e-5f) < 1e-9f && s[3] == s[2]);
    T->destroy(m);
}

static void test_truncation_tie_break(void **state)
{
    /* item 3, cosine, shrink 0: sims to 0, 1, 2 are 1/sqrt6, 1/sqrt6, 1/2; neighbors=2 keeps 2,
     * then the tie goes to the lower index 0; neighbors=1 keeps only the best */
    struct rec_model *m = fit_tiny("normalize=0,user_weight=0,sim_pow=1,shrink=0,neighbors=2");
    float s[4];
    T->similar(m, 3, s);
    assert_true(fabsf(s[2] - 0.5f) < 1e-6f);
    assert_true(fabsf(s[0] - (float)(1 / sqrt(6.0))) < 1e-6f);
    assert_true(s[1] == 0.0f && s[3] == 0.0f);
    T->destroy(m);
    m = fit_tiny("normalize=0,user_weight=0,sim_pow=1,shrink=0,neighbors=1");
    const int want_best[4] = {1, 2, 1, 2}; /* item 2: sim to 1 is 2/sqrt6 */
    for (int32_t i = 0; i < 4; i++) {
        T->similar(m, i, s);
        int kept = 0;
        for (int j = 0; j < 4; j++)
            kept += s[j] != 0.0f;
        assert_int_equal(kept, 1);
        assert_true(s[want_best[i]] > 0.0f);
    }
    T->destroy(m);
}

/* Random data: u users, each with items drawn around a user-specific centre. */
static void random_data(struct rec_csr *ui, int32_t n_users, int32_t n_items, uint32_t seed)
{
    struct rec_triplet *t = malloc((size_t)n_users * 40 * sizeof *t);
    int64_t n = 0;
    uint32_t s = seed;
    for (int32_t u = 0; u < n_users; u++) {
        s = s * 1664525u + 1013904223u;
        int32_t centre = (int32_t)((s >> 8) % (uint32_t)n_items);
        for (int e = 0; e < 40; e++) {
            s = s * 1664525u + 1013904223u;
            if ((s >> 8) % 3 == 0)
                continue;
            int32_t off = (int32_t)((s >> 12) % 21) - 10;
            t[n++] = (struct rec_triplet){u, ((centre + off) % n_items + n_items) % n_items,
                                          1.0f + (float)((s >> 20) % 3)};
        }
    }
    assert_int_equal(rec_csr_from_triplets(ui, n_users, n_items, t, n), REC_OK);
    free(t);
}

/* Dense reference: asymmetric cosine with user weights and strengths, for every pair. */
static void dense_reference(const struct rec_csr *ui, double alpha, double shrink, double *sim)
{
    int32_t ni = ui->n_cols;
    double *c = calloc((size_t)ni * ni, sizeof *c);
    for (int32_t u = 0; u < ui->n_rows; u++) {
        double w = 1 / log(1.0 + (double)(ui->indptr[u + 1] - ui->indptr[u]));
        for (int64_t a = ui->indptr[u]; a < ui->indptr[u + 1]; a++)
            for (int64_t b = ui->indptr[u]; b < ui->indptr[u + 1]; b++)
                c[(size_t)ui->indices[a] * ni + ui->indices[b]] +=
                    w * ui->values[a] * ui->values[b];
    }
    for (int32_t i = 0; i < ni; i++)
        for (int32_t j = 0; j < ni; j++) {
            double cii = c[(size_t)i * ni + i], cjj = c[(size_t)j * ni + j];
            double v = c[(size_t)i * ni + j] / (pow(cii, alpha) * pow(cjj, 1 - alpha) + shrink);
            sim[(size_t)i * ni + j] = i == j ? 0 : v;
        }
    free(c);
}

static void test_truncation_keeps_top(void **state)
{
    enum { NI = 80 };
    struct rec_csr ui;
    random_data(&ui, 200, NI, 7);
    const char *raw =
        "normalize=0,user_weight=1,sim_pow=1,binary=0,shrink=3,similarity=1,asym_alpha=0.7";
    /* the untruncated fit on 2 threads matches a dense computation on every pair */
    double *ref = malloc((size_t)NI * NI * sizeof *ref);
    dense_reference(&ui, 0.7, 3, ref);
    struct rec_model *dense = fit_with(&ui, "normalize=0,user_weight=1,sim_pow=1,binary=0,"
                                            "shrink=3,similarity=1,asym_alpha=0.7,neighbors=79",
                                       2, 1);
    float sd[NI];
    for (int32_t i = 0; i < NI; i++) {
        T->similar(dense, i, sd);
        for (int32_t j = 0; j < NI; j++) {
            double want = ref[(size_t)i * NI + j];
            if (fabs(sd[j] - want) > 1e-5 * want)
                fail_msg("sim(%d, %d) = %.9g, dense %.9g", i, j, (double)sd[j], want);
        }
    }
    T->destroy(dense);
    free(ref);
    char full_spec[128], top_spec[128];
    snprintf(full_spec, sizeof full_spec, "%s,neighbors=1000", raw);
    snprintf(top_spec, sizeof top_spec, "%s,neighbors=5", raw);
    struct rec_model *full = fit_with(&ui, full_spec, 1, 1);
    struct rec_model *top = fit_with(&ui, top_spec, 3, 0); /* threads and internal transpose */
    float sf[NI], st[NI];
    for (int32_t i = 0; i < NI; i++) {
        T->similar(full, i, sf);
        T->similar(top, i, st);
        /* the 5 best of the full list, ties to the lower index */
        char want[NI] = {0};
        int n_full = 0;
        for (int j = 0; j < NI; j++)
            n_full += sf[j] > 0.0f;
        for (int r = 0; r < 5 && r < n_full; r++) {
            int best = -1;
            for (int j = 0; j < NI; j++)
                if (!want[j] && sf[j] > 0.0f && (best < 0 || sf[j] > sf[best]))
                    best = j;
            want[best] = 1;
        }
        for (int j = 0; j < NI; j++) {
            if (want[j] ? st[j] != sf[j] : st[j] != 0.0f)
                fail_msg("item %d neighbour %d: kept %g, full %g", i, j, (double)st[j],
                         (double)sf[j]);
        }
        assert_true(n_full >= 5); /* the data is dense enough for truncation to matter */
    }
    T->destroy(full);

    /* the same fit on 1 and 3 threads gives identical lists */
    struct rec_model *one = fit_with(&ui, top_spec, 1, 1);
    for (int32_t i = 0; i < NI; i++) {
        T->similar(one, i, sf);
        T->similar(top, i, st);
        assert_memory_equal(sf, st, sizeof sf);
    }
    T->destroy(one);
    T->destroy(top);
    rec_csr_free(&ui);
}

static void test_score(void **state)
{
    struct rec_model *m = fit_tiny(RAW ",similarity=0,shrink=0,binary=0");
    float sim[4][4], s[4];
    for (int32_t i = 0; i < 4; i++)
        T->similar(m, i, sim[i]);
    /* unknown user; history 0 (1.5 + 0.5 summed), 3 (1), junk ignored */
    const int32_t items[] = {0, 3, 0, 9, -1, 2};
    const float str[] = {1.5f, 1, 0.5f, 1, 1, -1};
    struct rec_user_query q = {.user = -1, .items = items, .strengths = str, .n = 6};
    assert_int_equal(T->score(m, &q, s), REC_OK);
    for (int t = 0; t < 4; t++)
        assert_true(fabsf(s[t] - (2 * sim[0][t] + sim[3][t])) < 1e-6f);
    assert_true(fabsf(s[1] - (float)(2 * 3 / sqrt(18.0) + 1 / sqrt(6.0))) < 1e-5f);
    T->destroy(m);

    /* binary: each distinct history item counts 1, whatever its strength */
    m = fit_tiny(RAW ",similarity=0,shrink=0,binary=1");
    for (int32_t i = 0; i < 4; i++)
        T->similar(m, i, sim[i]);
    q.user = 2; /* the user row is not used */
    assert_int_equal(T->score(m, &q, s), REC_OK);
    for (int t = 0; t < 4; t++)
        assert_true(fabsf(s[t] - (sim[0][t] + sim[3][t])) < 1e-6f);
    /* an empty history scores 0 everywhere; bad arguments are rejected */
    struct rec_user_query empty = {.user = -1};
    assert_int_equal(T->score(m, &empty, s), REC_OK);
    for (int t = 0; t < 4; t++)
        assert_true(s[t] == 0.0f);
    struct rec_user_query bad = {.user = -1, .n = 2};
    assert_int_equal(T->score(m, &bad, s), REC_EINVAL);
    assert_int_equal(T->similar(m, 4, s), REC_EINVAL);
    assert_int_equal(T->similar(m, -1, s), REC_EINVAL);
    T->destroy(m);
    T->destroy(NULL);
}

static void test_bad_params(void **state)
{
    struct rec_csr ui;
    tiny(&ui);
    double p[REC_MODEL_MAX_PARAMS];
    rec_model_params_default(T, p);
    int j = rec_model_param_index(T, "neighbors");
    assert_true(j >= 0);
    p[j] = 0;
    struct rec_train_input in = {.ui = &ui};
    struct rec_model *m = (struct rec_model *)&in;
    char err[128] = "";
    assert_int_equal(T->fit(&in, p, &m, err, sizeof err), REC_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err, "neighbors"));
    p[j] = 2.5;
    assert_int_equal(T->fit(&in, p, &m, err, sizeof err), REC_EINVAL);
    rec_model_params_default(T, p);
    struct rec_csr wrong = {0};
    assert_int_equal(rec_csr_transpose(&ui, &wrong), REC_OK);
    wrong.n_cols = 3; /* not the transpose's shape */
    in.iu = &wrong;
    assert_int_equal(T->fit(&in, p, &m, err, sizeof err), REC_EINVAL);
    wrong.n_cols = 4;
    rec_csr_free(&wrong);
    rec_csr_free(&ui);
}

/* ---- save / load ---------------------------------------------------------------------------- */

static unsigned char *save_bytes(const struct rec_model *m, size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(T->save(m, f), REC_OK);
    long n = ftell(f);
    assert_true(n > 0);
    unsigned char *b = malloc((size_t)n);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int load_bytes(const unsigned char *b, size_t len, struct rec_model **out)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(b, 1, len, f), len);
    rewind(f);
    int rc = T->load(f, out);
    fclose(f);
    return rc;
}

static void same_model(const struct rec_model *a, const struct rec_model *b, int32_t n_items)
{
    float *sa = malloc((size_t)n_items * sizeof *sa), *sb = malloc((size_t)n_items * sizeof *sb);
    for (int32_t i = 0; i < n_items; i++) {
        assert_int_equal(T->similar(a, i, sa), REC_OK);
        assert_int_equal(T->similar(b, i, sb), REC_OK);
        assert_memory_equal(sa, sb, (size_t)n_items * sizeof *sa);
    }
    const int32_t items[] = {1, 2};
    const float str[] = {3, 1};
    struct rec_user_query q = {.user = -1, .items = items, .strengths = str, .n = 2};
    assert_int_equal(T->score(a, &q, sa), REC_OK);
    assert_int_equal(T->score(b, &q, sb), REC_OK);
    assert_memory_equal(sa, sb, (size_t)n_items * sizeof *sa);
    assert_int_equal(T->similar(b, n_items, sb), REC_EINVAL);
    free(sa);
    free(sb);
}

#define FNV_OFFSET 0xcbf29ce484222325ull

static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Rewrites the trailing checksum so only the content checks can reject b. */
static void reseal(unsigned char *b, size_t len)
{
    uint64_t h = fnv(b, len - 8);
    for (int i = 0; i < 8; i++)
        b[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void test_save_load(void **state)
{
    enum { NI = 80 };
    struct rec_csr ui;
    random_data(&ui, 200, NI, 11);
    /* binary=0 so score shows the binary flag survived the round trip */
    struct rec_model *m = fit_with(&ui, "neighbors=7,binary=0,similarity=1,asym_alpha=0.7", 2, 1);
    size_t len;
    unsigned char *b = save_bytes(m, &len);
    struct rec_model *back = NULL;
    assert_int_equal(load_bytes(b, len, &back), REC_OK);
    same_model(m, back, NI);
    size_t len2;
    unsigned char *b2 = save_bytes(back, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(b, b2, len);
    free(b2);
    T->destroy(back);

    /* an empty catalogue and a model without any pair round-trip too */
    struct rec_csr none;
    assert_int_equal(rec_csr_from_triplets(&none, 0, 0, NULL, 0), REC_OK);
    struct rec_model *e = fit_with(&none, "", 0, 1);
    unsigned char *be = save_bytes(e, &len2);
    assert_int_equal(load_bytes(be, len2, &back), REC_OK);
    T->destroy(back);
    free(be);
    T->destroy(e);
    rec_csr_free(&none);
    struct rec_triplet lone[] = {{0, 0, 1}, {1, 2, 1}};
    assert_int_equal(rec_csr_from_triplets(&none, 2, 3, lone, 2), REC_OK);
    e = fit_with(&none, "", 1, 0);
    be = save_bytes(e, &len2);
    assert_int_equal(load_bytes(be, len2, &back), REC_OK);
    same_model(e, back, 3);
    T->destroy(back);
    free(be);
    T->destroy(e);
    rec_csr_free(&none);

    /* every truncation and every single-byte change is REC_EFORMAT */
    for (size_t cut = 0; cut < len; cut++) {
        back = (struct rec_model *)b;
        assert_int_equal(load_bytes(b, cut, &back), REC_EFORMAT);
        assert_null(back);
    }
    for (size_t at = 0; at < len; at++) {
        b[at] ^= 0x5a;
        if (load_bytes(b, len, &back) != REC_EFORMAT)
            fail_msg("flipped byte %zu of %zu loaded", at, len);
        b[at] ^= 0x5a;
    }
    T->destroy(m);
    rec_csr_free(&ui);

    /* forged content with a valid checksum: header is 8 + 4 + 4 + 8 params * 8 + 4 = 84 bytes,
     * then item 0's count and its first (neighbour, similarity) */
    const size_t head = 84;
    struct rec_model *t4 = fit_tiny("neighbors=3");
    free(b);
    b = save_bytes(t4, &len);
    assert_int_equal(b[head], 3); /* item 0 keeps 3 neighbours */
    unsigned char *f = malloc(len);
    struct { size_t at; unsigned char v; } forge[] = {
        {head + 4, 4},         /* neighbour index = n_items */
        {head + 4, 0},         /* neighbour = the item itself */
        {head + 4 + 3, 0x80},  /* negative neighbour */
        {16 + 6, 0x00},        /* neighbors 3.0 -> 2.0, below item 0's count of 3 */
        {head + 8 + 3, 0xff},  /* similarity negative and huge or NaN */
        {head + 8 + 3, 0x80},  /* similarity negative */
        {8, 2},                /* version 2 */
        {12, 9},               /* parameter count */
        {16 + 7, 0x7f},        /* neighbors = huge double */
        {80 + 3, 0x7f},        /* n_items = 2^31 - 1 + ...: announced far past the data */
    };
    for (size_t k = 0; k < sizeof forge / sizeof forge[0]; k++) {
        memcpy(f, b, len);
        f[forge[k].at] = forge[k].v;
        reseal(f, len);
        back = NULL;
        if (load_bytes(f, len, &back) != REC_EFORMAT)
            fail_msg("forgery %zu (byte %zu = %#x) loaded", k, forge[k].at, forge[k].v);
    }
    memcpy(f, b, len); /* control: resealing an unchanged file still loads */
    reseal(f, len);
    assert_int_equal(load_bytes(f, len, &back), REC_OK);
    T->destroy(back);
    assert_int_equal(T->load(NULL, &back), REC_EINVAL);
    assert_int_equal(T->save(NULL, stdout), REC_EINVAL);
    free(f);
    free(b);
    T->destroy(t4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_asymmetric),
        cmocka_unit_test(test_jaccard),
        cmocka_unit_test(test_strengths_and_user_weight),
        cmocka_unit_test(test_normalize_and_power),
        cmocka_unit_test(test_truncation_tie_break),
        cmocka_unit_test(test_truncation_keeps_top),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
