/* test_bpr.c: BPR on planted block structure (both negative samplers), fold-in, similar,
 * determinism, save/load and damaged files. */
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
#include "model/bpr.h"
#include "model/csr.h"

/* Planted data: users [0, N_USERS/2) like items [0, N_ITEMS/2), the others the other half.
 * Each user has each item of their own block with probability ~0.4 and nothing else; with
 * junk, some cross-block entries with strength <= 0 that fit must ignore. */
enum { N_USERS = 60, N_ITEMS = 50, K = 8 };

static const struct rec_model_type *T = &rec_model_bpr;

static int user_block(int32_t u) { return u < N_USERS / 2; }
static int item_block(int32_t i) { return i < N_ITEMS / 2; }

static void planted(struct rec_csr *m, int with_junk)
{
    struct rec_triplet *t = malloc((size_t)N_USERS * N_ITEMS * sizeof *t);
    int64_t n = 0;
    uint32_t s = 12345;
    for (int32_t u = 0; u < N_USERS; u++) {
        for (int32_t i = 0; i < N_ITEMS; i++) {
            s = s * 1664525u + 1013904223u;
            int r = (int)((s >> 8) % 100);
            if (user_block(u) == item_block(i) && r < 40)
                t[n++] = (struct rec_triplet){u, i, 1.0f + (float)(r % 3)};
            else if (with_junk && user_block(u) != item_block(i) && r < 20)
                t[n++] = (struct rec_triplet){u, i, r < 10 ? 0.0f : -2.0f};
        }
    }
    assert_int_equal(rec_csr_from_triplets(m, N_USERS, N_ITEMS, t, n), REC_OK);
    free(t);
}

static void params_of(double *p, const char *extra)
{
    char err[128];
    rec_model_params_default(T, p);
    assert_int_equal(rec_model_params_parse(T, "factors=8,epochs=150", p, err, sizeof err), 0);
    if (extra)
        assert_int_equal(rec_model_params_parse(T, extra, p, err, sizeof err), 0);
}

static struct rec_model *fit_on(const struct rec_csr *m, const double *p, int threads)
{
    struct rec_train_input in = {.ui = m, .threads = threads};
    struct rec_model *model = NULL;
    char err[128] = "";
    int rc = T->fit(&in, p, &model, err, sizeof err);
    if (rc != REC_OK)
        fail_msg("fit: %d %s", rc, err);
    assert_non_null(model);
    return model;
}

static struct rec_model *fit_planted(const char *extra, int threads)
{
    double p[REC_MODEL_MAX_PARAMS];
    params_of(p, extra);
    struct rec_csr m;
    planted(&m, 0);
    struct rec_model *model = fit_on(&m, p, threads);
    rec_csr_free(&m);
    return model;
}

static int seen(const struct rec_csr *m, int32_t u, int32_t i)
{
    for (int64_t e = m->indptr[u]; e < m->indptr[u + 1]; e++)
        if (m->indices[e] == i && m->values[e] > 0)
            return 1;
    return 0;
}

/* Indices of the n best scores among items not excluded (exclude may be NULL). */
static void top_n(const float *scores, const char *exclude, int n, int32_t *out)
{
    char used[N_ITEMS] = {0};
    for (int r = 0; r < n; r++) {
        int32_t best = -1;
        for (int32_t i = 0; i < N_ITEMS; i++)
            if (!used[i] && !(exclude && exclude[i]) && (best < 0 || scores[i] > scores[best]))
                best = i;
        assert_true(best >= 0);
        used[best] = 1;
        out[r] = best;
    }
}

static struct rec_user_query query(int32_t user, const int32_t *items, const float *str, int n)
{
    return (struct rec_user_query){.user = user, .items = items, .strengths = str, .n = n};
}

/* Every user's best unseen item comes from their own block, and so do at least min_pct percent
 * of all users' 5 best (a model that ignored the blocks would get about 50%). */
static void assert_blocks_learned(const struct rec_model *model, int min_pct, const char *what)
{
    struct rec_csr m;
    planted(&m, 0);
    float scores[N_ITEMS];
    int own = 0;
    for (int32_t u = 0; u < N_USERS; u++) {
        char excl[N_ITEMS];
        int unseen_own = 0;
        for (int32_t i = 0; i < N_ITEMS; i++) {
            excl[i] = (char)seen(&m, u, i);
            unseen_own += !excl[i] && item_block(i) == user_block(u);
        }
        assert_true(unseen_own >= 5);
        int n = (int)(m.indptr[u + 1] - m.indptr[u]);
        struct rec_user_query q =
            query(u, m.indices + m.indptr[u], m.values + m.indptr[u], n);
        assert_int_equal(T->score(model, &q, scores), REC_OK);
        int32_t top[5];
        top_n(scores, excl, 5, top);
        if (item_block(top[0]) != user_block(u))
            fail_msg("%s: user %d: best item %d is from the other block", what, u, top[0]);
        for (int r = 0; r < 5; r++)
            own += item_block(top[r]) == user_block(u);
    }
    if (own * 100 < min_pct * N_USERS * 5)
        fail_msg("%s: only %d of %d top-5 items from the user's block", what, own, N_USERS * 5);
    rec_csr_free(&m);
}

static unsigned char *save_to_bytes(const struct rec_model *m, size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(T->save(m, f), REC_OK);
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
    int rc = T->load(f, out);
    fclose(f);
    return rc;
}

/* Whether two models serialize to the same bytes (every parameter, count and float). */
static int same_model(const struct rec_model *a, const struct rec_model *b)
{
    size_t na, nb;
    unsigned char *ba = save_to_bytes(a, &na), *bb = save_to_bytes(b, &nb);
    int same = na == nb && memcmp(ba, bb, na) == 0;
    free(ba);
    free(bb);
    return same;
}

/* ---- the file layout, read back by the test (see the format in bpr.c) ----------------------- */

struct layout {
    int32_t n_users, n_items, k;
    size_t off_user_n, off_item_n, off_x, off_y, off_b, len;
    float *x, *y, *b; /* decoded copies, owned */
};

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static float *decode_floats(const unsigned char *b, size_t n)
{
    float *v = malloc((n + 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = le32(b + 4 * i);
        memcpy(&v[i], &u, sizeof u);
    }
    return v;
}

static void parse(const unsigned char *buf, size_t len, struct layout *l)
{
    size_t at = 12;
    uint32_t n_params = le32(buf + at);
    assert_int_equal(n_params, (uint32_t)T->n_params);
    at += 4 + 8 * (size_t)n_params;
    l->n_users = (int32_t)le32(buf + at);
    l->n_items = (int32_t)le32(buf + at + 4);
    l->k = (int32_t)le32(buf + at + 8);
    at += 12;
    size_t nu = (size_t)l->n_users, ni = (size_t)l->n_items, k = (size_t)l->k;
    l->off_user_n = at;
    l->off_item_n = at + 4 * nu;
    l->off_x = l->off_item_n + 4 * ni;
    l->off_y = l->off_x + 4 * nu * k;
    l->off_b = l->off_y + 4 * ni * k;
    l->len = l->off_b + 4 * ni + 8;
    assert_int_equal(l->len, len);
    l->x = decode_floats(buf + l->off_x, nu * k);
    l->y = decode_floats(buf + l->off_y, ni * k);
    l->b = decode_floats(buf + l->off_b, ni);
}

static void layout_free(struct layout *l)
{
    free(l->x);
    free(l->y);
    free(l->b);
}

/* Rewrites the trailing FNV-1a 64 checksum so that only the content is damaged. */
static void reseal(unsigned char *buf, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 8 < len; i++) {
        h ^= buf[i];
        h *= 0x100000001b3ull;
    }
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (unsigned char)(h >> (8 * i));
}

static void layout_of(const struct rec_model *m, struct layout *l)
{
    size_t len;
    unsigned char *buf = save_to_bytes(m, &len);
    parse(buf, len, l);
    free(buf);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_type_and_params(void **state)
{
    assert_string_equal(T->name, "bpr");
    assert_non_null(T->similar);
    assert_true(T->n_params <= REC_MODEL_MAX_PARAMS);
    const char *names[] = {"factors", "lr", "reg", "epochs", "neg_sampling", "neg_alpha", "seed",
                           "init_std"};
    for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
        if (rec_model_param_index(T, names[j]) < 0)
            fail_msg("no parameter %s", names[j]);
    for (int j = 0; j < T->n_params; j++) {
        const struct rec_param_spec *s = &T->params[j];
        assert_true(s->lo <= s->def && s->def <= s->hi);
    }

    struct rec_csr m;
    planted(&m, 0);
    double p[REC_MODEL_MAX_PARAMS];
    params_of(p, NULL);
    struct rec_train_input in = {.ui = &m, .threads = 1};
    struct rec_model *model = (struct rec_model *)&model; /* must be reset to NULL */
    char err[128] = "";
    p[rec_model_param_index(T, "factors")] = 0;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINVAL);
    assert_null(model);
    assert_non_null(strstr(err, "factors"));
    params_of(p, NULL);
    p[rec_model_param_index(T, "lr")] = NAN;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINVAL);
    params_of(p, NULL);
    p[rec_model_param_index(T, "epochs")] = 2.5;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "whole"));
    params_of(p, NULL);
    p[rec_model_param_index(T, "neg_sampling")] = 2;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINVAL);
    params_of(p, NULL);
    in.threads = -1;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINVAL);
    assert_int_equal(T->fit(NULL, p, &model, err, sizeof err), REC_EINVAL);
    assert_null(model);

    /* lr * reg = 10 makes every step multiply the rows by -9: reported, no model */
    params_of(p, "lr=1,reg=10");
    in.threads = 1;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINTERNAL);
    assert_null(model);
    assert_non_null(strstr(err, "diverged"));
    params_of(p, NULL);

    /* unsorted columns break the sampler's binary search: refused */
    in.threads = 1;
    int32_t tmp = m.indices[0];
    m.indices[0] = m.indices[1];
    m.indices[1] = tmp;
    assert_int_equal(T->fit(&in, p, &model, err, sizeof err), REC_EINVAL);
    assert_null(model);
    rec_csr_free(&m);
}

/* The sampler draws each item as often as its weight says; zero weights never. */
static void test_alias_sampler(void **state)
{
    const double w[] = {0, 1, 2, 3, 10, 0.5, 4, 0, 7.25, 1e-3};
    enum { N = sizeof w / sizeof w[0], DRAWS = 400000 };
    struct rec_bpr_alias a;
    assert_int_equal(rec_bpr_alias_init(&a, w, N), REC_OK);
    assert_int_equal(a.n, N);
    int count[N] = {0};
    uint64_t st = 7;
    for (int d = 0; d < DRAWS; d++) {
        int32_t i = rec_bpr_alias_draw(&a, &st);
        assert_true(i >= 0 && i < N);
        count[i]++;
    }
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += w[i];
    for (int i = 0; i < N; i++) {
        double p = w[i] / sum, f = (double)count[i] / DRAWS;
        /* 0.003 is over 6 standard deviations of f for every p here */
        if (fabs(f - p) > 0.003 || (w[i] == 0 && count[i] != 0))
            fail_msg("item %d: frequency %.5f, want %.5f", i, f, p);
    }
    rec_bpr_alias_free(&a);
    assert_int_equal(a.n, 0);
    rec_bpr_alias_free(&a);
    rec_bpr_alias_free(NULL);

    const double one[] = {0.2};
    assert_int_equal(rec_bpr_alias_init(&a, one, 1), REC_OK);
    for (int d = 0; d < 100; d++)
        assert_int_equal(rec_bpr_alias_draw(&a, &st), 0);
    rec_bpr_alias_free(&a);

    const double zero[] = {0, 0}, neg[] = {1, -1}, nan_w[] = {1, NAN}, inf_w[] = {1, INFINITY};
    assert_int_equal(rec_bpr_alias_init(&a, zero, 2), REC_EINVAL);
    assert_int_equal(rec_bpr_alias_init(&a, neg, 2), REC_EINVAL);
    assert_int_equal(rec_bpr_alias_init(&a, nan_w, 2), REC_EINVAL);
    assert_int_equal(rec_bpr_alias_init(&a, inf_w, 2), REC_EINVAL);
    assert_int_equal(rec_bpr_alias_init(&a, one, 0), REC_EINVAL);
    assert_int_equal(rec_bpr_alias_init(&a, NULL, 2), REC_EINVAL);
    assert_int_equal(a.n, 0);
}

/* One user, two items, one positive: every triple is (0, 0, 1) (item 0 must be rejected as a
 * negative), so a two-epoch fit is exactly two SGD steps from the initial factors, with learning
 * rates lr and lr * (1 - 0.9 / 2) (linear decay to lr / 10 over the fit). The initial factors are
 * recovered from a fit with lr = 1e-4 (off by O(1e-8)); the fit with lr = 0.5 is then checked
 * against the update rule computed here. k = 20 covers both the vector blocks and the tail. */
enum { KH = 20, NS = 3 * KH + 2 };

/* state s = (x, y0, y1, b0, b1); g = the ascent direction of the update rule at s */
static void bpr_grad(const double *s, double reg, double rb, double *g)
{
    double d = s[3 * KH] - s[3 * KH + 1];
    for (int f = 0; f < KH; f++)
        d += s[f] * (s[KH + f] - s[2 * KH + f]);
    double z = 1.0 / (1.0 + exp(d));
    for (int f = 0; f < KH; f++) {
        g[f] = z * (s[KH + f] - s[2 * KH + f]) - reg * s[f];
        g[KH + f] = z * s[f] - reg * s[KH + f];
        g[2 * KH + f] = -z * s[f] - reg * s[2 * KH + f];
    }
    g[3 * KH] = z - rb * s[3 * KH];
    g[3 * KH + 1] = -z - rb * s[3 * KH + 1];
}

static void state_of(const struct layout *l, double *s)
{
    for (int f = 0; f < KH; f++) {
        s[f] = l->x[f];
        s[KH + f] = l->y[f];
        s[2 * KH + f] = l->y[KH + f];
    }
    s[3 * KH] = l->b[0];
    s[3 * KH + 1] = l->b[1];
}

static void test_sgd_step_by_hand(void **state)
{
    const struct rec_triplet t[] = {{0, 0, 1.0f}};
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 1, 2, t, 1), REC_OK);
    const double reg = 0.1, rb = 0.2, lr = 0.5, lr0 = 1e-4, second = 1.0 - 0.9 / 2;
    for (int seed = 1; seed <= 12; seed++) {
        char extra[160];
        snprintf(extra, sizeof extra,
                 "factors=%d,epochs=2,reg=%g,reg_bias=%g,init_std=0.3,seed=%d,neg_sampling=%d",
                 KH, reg, rb, seed, seed % 2);
        double p[REC_MODEL_MAX_PARAMS];
        params_of(p, extra);
        int lr_at = rec_model_param_index(T, "lr");
        p[lr_at] = lr0;
        struct rec_model *m0 = fit_on(&m, p, 1);
        p[lr_at] = lr;
        struct rec_model *m1 = fit_on(&m, p, 1);
        struct layout a, b;
        layout_of(m0, &a);
        layout_of(m1, &b);

        double s[NS], g[NS], got[NS];
        state_of(&a, s);
        bpr_grad(s, reg, rb, g);
        for (int e = 0; e < NS; e++) /* undo the two tiny steps */
            s[e] -= (1 + second) * lr0 * g[e];
        for (int step = 0; step < 2; step++) {
            bpr_grad(s, reg, rb, g);
            for (int e = 0; e < NS; e++)
                s[e] += (step ? second * lr : lr) * g[e];
        }
        state_of(&b, got);
        for (int e = 0; e < NS; e++)
            if (!(fabs(got[e] - s[e]) < 1e-5))
                fail_msg("seed %d: state[%d] = %.7g, want %.7g", seed, e, got[e], s[e]);
        assert_true(got[3 * KH] > 0 && got[3 * KH + 1] < 0);
        layout_free(&a);
        layout_free(&b);
        T->destroy(m0);
        T->destroy(m1);
    }
    rec_csr_free(&m);
}

/* Scores are x_u . y_i + b_i, similar is the cosine of item rows, read back from the file. */
static void test_score_and_similar_are_the_factors(void **state)
{
    struct rec_model *model = fit_planted(NULL, 1);
    struct layout l;
    layout_of(model, &l);
    assert_int_equal(l.k, K);
    float s[N_ITEMS];
    for (int32_t u = 0; u < N_USERS; u += 5) {
        struct rec_user_query q = query(u, NULL, NULL, 0);
        assert_int_equal(T->score(model, &q, s), REC_OK);
        for (int32_t i = 0; i < N_ITEMS; i++) {
            double d = l.b[i];
            for (int f = 0; f < K; f++)
                d += (double)l.x[(size_t)u * K + f] * l.y[(size_t)i * K + f];
            if (!(fabs(d - s[i]) <= 1e-5 * (1 + fabs(d))))
                fail_msg("user %d item %d: score %g, want %g", u, i, s[i], d);
        }
    }
    for (int32_t i = 0; i < N_ITEMS; i += 7) {
        assert_int_equal(T->similar(model, i, s), REC_OK);
        for (int32_t j = 0; j < N_ITEMS; j++) {
            double d = 0, ni = 0, nj = 0;
            for (int f = 0; f < K; f++) {
                double a = l.y[(size_t)i * K + f], c = l.y[(size_t)j * K + f];
                d += a * c;
                ni += a * a;
                nj += c * c;
            }
            d /= sqrt(ni * nj);
            if (!(fabs(d - s[j]) <= 1e-5))
                fail_msg("items %d, %d: similar %g, want cosine %g", i, j, s[j], d);
        }
    }
    layout_free(&l);
    T->destroy(model);
}

static void test_uniform_sampler_learns_blocks(void **state)
{
    struct rec_model *model = fit_planted("neg_sampling=0", 1);
    assert_blocks_learned(model, 100, "uniform");
    T->destroy(model);
}

static void test_popularity_sampler_learns_blocks(void **state)
{
    struct rec_model *model = fit_planted("neg_sampling=1,neg_alpha=0.75", 1);
    assert_blocks_learned(model, 100, "popularity");
    T->destroy(model);
    model = fit_planted("neg_sampling=1,neg_alpha=2", 1);
    assert_blocks_learned(model, 100, "popularity^2");
    T->destroy(model);
}

static void test_threads_learn_blocks(void **state)
{
    /* Hogwild with 2 or all CPUs: not bit-reproducible (races and scheduling add noise, which
     * on data this small can flip a marginal 5th place), but the structure must come out */
    struct rec_model *model = fit_planted(NULL, 2);
    assert_blocks_learned(model, 95, "2 threads");
    T->destroy(model);
    model = fit_planted(NULL, 0);
    assert_blocks_learned(model, 95, "all CPUs");
    T->destroy(model);
}

static void test_deterministic_single_thread(void **state)
{
    struct rec_model *a = fit_planted(NULL, 1), *b = fit_planted(NULL, 1);
    assert_true(same_model(a, b));

    /* entries with strength <= 0 are not positives: the fit is unchanged by them */
    double p[REC_MODEL_MAX_PARAMS];
    params_of(p, NULL);
    struct rec_csr junk;
    planted(&junk, 1);
    struct rec_model *c = fit_on(&junk, p, 1);
    rec_csr_free(&junk);
    assert_true(same_model(a, c));

    struct rec_model *d = fit_planted("seed=43", 1);
    assert_false(same_model(a, d));
    T->destroy(a);
    T->destroy(b);
    T->destroy(c);
    T->destroy(d);
    T->destroy(NULL);
}

static void test_fold_in(void **state)
{
    struct rec_model *model = fit_planted(NULL, 1);
    float s1[N_ITEMS], s2[N_ITEMS];

    /* an unknown user with only block-B items gets block-B recommendations */
    const int32_t hist[] = {N_ITEMS / 2 + 1, N_ITEMS / 2 + 4, N_ITEMS - 1};
    const float str[] = {1, 2, 1};
    struct rec_user_query q = query(-1, hist, str, 3);
    assert_int_equal(T->score(model, &q, s1), REC_OK);
    char excl[N_ITEMS] = {0};
    for (int e = 0; e < 3; e++)
        excl[hist[e]] = 1;
    int32_t top[5];
    top_n(s1, excl, 5, top);
    for (int r = 0; r < 5; r++)
        if (item_block(top[r]))
            fail_msg("unknown block-B user: rank %d item %d is from block A", r, top[r]);

    /* and the mirror image for block A, from a single item */
    const int32_t hist_a[] = {3};
    q = query(-1, hist_a, str, 1);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    memset(excl, 0, sizeof excl);
    excl[3] = 1;
    top_n(s2, excl, 5, top);
    for (int r = 0; r < 5; r++)
        assert_true(item_block(top[r]));

    /* deterministic, and seeded by the distinct history only: the same items shuffled,
     * repeated, with out-of-range and non-positive entries give the same scores */
    const int32_t hist2[] = {N_ITEMS - 1, -1, N_ITEMS / 2 + 4, N_ITEMS, N_ITEMS / 2 + 1,
                             N_ITEMS - 1, 0};
    const float str2[] = {1, 1, 5, 1, 0.5f, 3, -1};
    q = query(-1, hist, str, 3);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    assert_memory_equal(s1, s2, sizeof s1);
    q = query(-1, hist2, str2, 7);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    assert_memory_equal(s1, s2, sizeof s1);
    /* a user index past the fit's users is unknown too */
    q = query(N_USERS + 5, hist, str, 3);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    assert_memory_equal(s1, s2, sizeof s1);

    /* no history: item biases only, finite; a different history gives different scores */
    q = query(-1, NULL, NULL, 0);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    for (int32_t i = 0; i < N_ITEMS; i++)
        assert_true(isfinite(s2[i]));
    assert_memory_not_equal(s1, s2, sizeof s1);

    /* a known user: the trained row is used while the history has not grown, whatever is passed;
     * a grown history is folded in (scores change) and stays in the user's block */
    struct rec_csr m;
    planted(&m, 0);
    int32_t u = 4;
    int n = (int)(m.indptr[u + 1] - m.indptr[u]);
    q = query(u, m.indices + m.indptr[u], m.values + m.indptr[u], n);
    assert_int_equal(T->score(model, &q, s1), REC_OK);
    q = query(u, NULL, NULL, 0);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    assert_memory_equal(s1, s2, sizeof s1);
    int32_t grown[N_ITEMS];
    float gstr[N_ITEMS];
    int ng = 0;
    memset(excl, 0, sizeof excl);
    for (int pass = 0; pass < 2; pass++) { /* the trained items, then 3 more of block A */
        for (int32_t i = 0; i < N_ITEMS / 2 && ng < n + 3; i++) {
            if (seen(&m, u, i) == !pass) {
                grown[ng] = i;
                gstr[ng++] = 1;
                excl[i] = 1;
            }
        }
    }
    assert_int_equal(ng, n + 3);
    q = query(u, grown, gstr, ng);
    assert_int_equal(T->score(model, &q, s2), REC_OK);
    assert_memory_not_equal(s1, s2, sizeof s1);
    /* it starts from the trained row, so it differs from a stranger with the same history */
    float s3[N_ITEMS];
    q = query(-1, grown, gstr, ng);
    assert_int_equal(T->score(model, &q, s3), REC_OK);
    assert_memory_not_equal(s2, s3, sizeof s2);
    top_n(s2, excl, 5, top);
    for (int r = 0; r < 5; r++)
        assert_true(item_block(top[r]));

    /* bad arguments */
    assert_int_equal(T->score(model, NULL, s1), REC_EINVAL);
    q = query(-1, NULL, str, 2);
    assert_int_equal(T->score(model, &q, s1), REC_EINVAL);
    q = query(-1, hist, str, -1);
    assert_int_equal(T->score(model, &q, s1), REC_EINVAL);
    rec_csr_free(&m);
    T->destroy(model);
}

static void test_similar(void **state)
{
    struct rec_model *model = fit_planted(NULL, 1);
    float s[N_ITEMS];
    for (int32_t i = 0; i < N_ITEMS; i++) {
        assert_int_equal(T->similar(model, i, s), REC_OK);
        assert_true(fabsf(s[i] - 1.0f) < 1e-4f);
        for (int32_t j = 0; j < N_ITEMS; j++)
            assert_true(s[j] >= -1.0001f && s[j] <= 1.0001f);
        char self[N_ITEMS] = {0};
        self[i] = 1;
        int32_t top[5];
        top_n(s, self, 5, top);
        for (int r = 0; r < 5; r++)
            if (item_block(top[r]) != item_block(i))
                fail_msg("item %d: neighbour %d (rank %d) from the other block", i, top[r], r);
    }
    assert_int_equal(T->similar(model, -1, s), REC_EINVAL);
    assert_int_equal(T->similar(model, N_ITEMS, s), REC_EINVAL);
    T->destroy(model);
}

static void test_edge_shapes(void **state)
{
    double p[REC_MODEL_MAX_PARAMS];
    params_of(p, NULL);
    struct rec_csr empty;
    assert_int_equal(rec_csr_from_triplets(&empty, 3, 4, NULL, 0), REC_OK);
    struct rec_model *model = fit_on(&empty, p, 1);
    float s[4];
    const int32_t h[] = {1};
    const float one[] = {1};
    struct rec_user_query q = query(0, NULL, NULL, 0);
    assert_int_equal(T->score(model, &q, s), REC_OK);
    q = query(-1, h, one, 1);
    assert_int_equal(T->score(model, &q, s), REC_OK);
    for (int i = 0; i < 4; i++)
        assert_true(isfinite(s[i]));
    T->destroy(model);
    rec_csr_free(&empty);

    assert_int_equal(rec_csr_from_triplets(&empty, 0, 0, NULL, 0), REC_OK);
    model = fit_on(&empty, p, 1);
    size_t len;
    unsigned char *buf = save_to_bytes(model, &len);
    struct rec_model *l = NULL;
    assert_int_equal(load_bytes(buf, len, &l), REC_OK);
    free(buf);
    T->destroy(l);
    T->destroy(model);
    rec_csr_free(&empty);

    /* a user who has every item has no negatives: sampling gives up instead of looping, and
     * folding in that history terminates too */
    struct rec_triplet t[3 * 4];
    int n = 0;
    for (int32_t i = 0; i < 4; i++)
        t[n++] = (struct rec_triplet){0, i, 1};
    t[n++] = (struct rec_triplet){1, 0, 1};
    t[n++] = (struct rec_triplet){2, 3, 1};
    struct rec_csr full;
    assert_int_equal(rec_csr_from_triplets(&full, 3, 4, t, n), REC_OK);
    params_of(p, "neg_sampling=1");
    model = fit_on(&full, p, 1);
    const int32_t all[] = {0, 1, 2, 3};
    const float ones[] = {1, 1, 1, 1};
    q = query(-1, all, ones, 4);
    assert_int_equal(T->score(model, &q, s), REC_OK);
    for (int i = 0; i < 4; i++)
        assert_true(isfinite(s[i]));
    T->destroy(model);
    rec_csr_free(&full);
}

/* ---- save / load --------------------------------------------------------------------------- */

static void test_save_load_round_trip(void **state)
{
    struct rec_model *m = fit_planted("neg_sampling=1,seed=123456789012,reg=0.037", 1);
    size_t len;
    unsigned char *buf = save_to_bytes(m, &len);
    assert_memory_equal(buf, "RECDBPR1", 8);
    const unsigned char version[] = {1, 0, 0, 0};
    assert_memory_equal(buf + 8, version, 4);
    /* header + params + sizes + counts + factors + biases + checksum */
    size_t want = 12 + 4 + (size_t)T->n_params * 8 + 12 + 4 * (N_USERS + N_ITEMS) +
                  4 * ((size_t)(N_USERS + N_ITEMS) * K + N_ITEMS) + 8;
    assert_int_equal(len, want);

    struct rec_model *l = NULL;
    assert_int_equal(load_bytes(buf, len, &l), REC_OK);
    assert_true(same_model(m, l));

    /* scoring (known, unknown: fold-in uses the rebuilt sampler) and similar agree exactly */
    float a[N_ITEMS], b[N_ITEMS];
    const int32_t hist[] = {0, 5, 9, 30};
    const float str[] = {1, 1, 1, 1};
    for (int32_t u = -1; u < N_USERS; u += 7) {
        struct rec_user_query q = query(u, hist, str, 4);
        assert_int_equal(T->score(m, &q, a), REC_OK);
        assert_int_equal(T->score(l, &q, b), REC_OK);
        assert_memory_equal(a, b, sizeof a);
    }
    assert_int_equal(T->similar(m, 7, a), REC_OK);
    assert_int_equal(T->similar(l, 7, b), REC_OK);
    assert_memory_equal(a, b, sizeof a);

    assert_int_equal(T->save(NULL, stdout), REC_EINVAL);
    assert_int_equal(T->save(m, NULL), REC_EINVAL);
    assert_int_equal(T->load(NULL, &l), REC_EINVAL);
    free(buf);
    T->destroy(l);
    T->destroy(m);
}

static void expect_format_error(const unsigned char *buf, size_t len, const char *what,
                                size_t where)
{
    struct rec_model *out = (struct rec_model *)&out; /* must be reset to NULL */
    int rc = load_bytes(buf, len, &out);
    if (rc != REC_EFORMAT)
        fail_msg("%s at %zu: rc %d, want REC_EFORMAT", what, where, rc);
    assert_null(out);
}

static void test_load_rejects_damage(void **state)
{
    struct rec_model *m = fit_planted(NULL, 1);
    size_t len;
    unsigned char *buf = save_to_bytes(m, &len);

    for (size_t cut = 0; cut < len; cut += (cut < 120 || cut + 16 > len) ? 1 : 53)
        expect_format_error(buf, cut, "truncated", cut);

    unsigned char *copy = malloc(len);
    for (size_t at = 0; at < len; at += (at < 120 || at + 16 > len) ? 1 : 41) {
        for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
            memcpy(copy, buf, len);
            copy[at] ^= (unsigned char)mask;
            expect_format_error(copy, len, "flipped", at);
        }
    }
    free(copy);

    /* a forged header announcing huge sizes fails after reading what is there */
    unsigned char forged[256] = {0};
    memcpy(forged, buf, 12 + 4 + (size_t)T->n_params * 8);
    size_t at = 12 + 4 + (size_t)T->n_params * 8;
    const uint32_t sizes[] = {0x7fffffff, 0x7fffffff, K};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 4; i++)
            forged[at + 4 * (size_t)s + (size_t)i] = (unsigned char)(sizes[s] >> (8 * i));
    expect_format_error(forged, sizeof forged, "forged sizes", at);

    /* a correct checksum over bad content: a NaN factor, a count past the other side's size,
     * a parameter out of its range */
    struct layout l;
    parse(buf, len, &l);
    unsigned char *bad = malloc(len);
    const size_t nan_at[] = {l.off_x, l.off_y + 4 * 3, l.off_b + 4};
    for (int c = 0; c < 3; c++) {
        memcpy(bad, buf, len);
        memcpy(bad + nan_at[c], "\x00\x00\xc0\x7f", 4); /* quiet NaN */
        reseal(bad, len);
        expect_format_error(bad, len, "NaN", nan_at[c]);
    }
    const size_t count_at[] = {l.off_user_n + 4, l.off_item_n};
    const uint32_t count[] = {N_ITEMS + 1, N_USERS + 1};
    for (int c = 0; c < 2; c++) {
        memcpy(bad, buf, len);
        for (int i = 0; i < 4; i++)
            bad[count_at[c] + (size_t)i] = (unsigned char)(count[c] >> (8 * i));
        reseal(bad, len);
        expect_format_error(bad, len, "count", count_at[c]);
    }
    memcpy(bad, buf, len);
    double huge = 1e9;
    uint64_t bits;
    memcpy(&bits, &huge, sizeof bits);
    for (int i = 0; i < 8; i++)
        bad[16 + i] = (unsigned char)(bits >> (8 * i)); /* params[0], factors */
    reseal(bad, len);
    expect_format_error(bad, len, "params", 16);
    memcpy(bad, buf, len);
    reseal(bad, len);
    struct rec_model *ok = NULL;
    assert_int_equal(load_bytes(bad, len, &ok), REC_OK); /* reseal itself keeps a good file */
    T->destroy(ok);
    free(bad);
    layout_free(&l);

    assert_int_equal(load_bytes(buf, len, &ok), REC_OK);
    T->destroy(ok);
    free(buf);
    T->destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_and_params),
        cmocka_unit_test(test_alias_sampler),
        cmocka_unit_test(test_sgd_step_by_hand),
        cmocka_unit_test(test_score_and_similar_are_the_factors),
        cmocka_unit_test(test_uniform_sampler_learns_blocks),
        cmocka_unit_test(test_popularity_sampler_learns_blocks),
        cmocka_unit_test(test_threads_learn_blocks),
        cmocka_unit_test(test_deterministic_single_thread),
        cmocka_unit_test(test_fold_in),
        cmocka_unit_test(test_similar),
        cmocka_unit_test(test_edge_shapes),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_load_rejects_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
