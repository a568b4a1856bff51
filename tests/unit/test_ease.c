/* test_ease.c: EASE and its denoising variants (EDLAE / DLAE, pop_exp) on planted blocks, the
 * closed forms (by hand, bit for bit for plain EASE, against the _ref inverse), the SPD inverse
 * pair in linalg, the max_items refusal, out-of-memory, scoring rules, save/load (and reading
 * version 1 files) and damaged files. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/csr.h"
#include "model/ease.h"
#include "model/linalg.h"

static const struct rec_model_type *T = &rec_model_ease;

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state;

static double urand(void) /* uniform in [0, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* Plain EASE: dropout 0, zero_diag 1, pop_exp 0. */
static void params_with(double *p, double lambda, int binary)
{
    rec_model_params_default(T, p);
    p[REC_EASE_LAMBDA] = lambda;
    p[REC_EASE_BINARY] = binary;
    p[REC_EASE_DROPOUT] = 0.0;
    p[REC_EASE_ZERO_DIAG] = 1.0;
    p[REC_EASE_POP_EXP] = 0.0;
}

static void variant(double *p, double lambda, int binary, double dropout, int zero_diag,
                    double pop_exp)
{
    params_with(p, lambda, binary);
    p[REC_EASE_DROPOUT] = dropout;
    p[REC_EASE_ZERO_DIAG] = zero_diag;
    p[REC_EASE_POP_EXP] = pop_exp;
}

static struct rec_model *fit_ok(const struct rec_csr *ui, const double *p, int threads)
{
    struct rec_train_input in = {.ui = ui, .threads = threads};
    struct rec_model *m = NULL;
    char err[256] = "";
    int rc = T->fit(&in, p, &m, err, sizeof err);
    if (rc != REC_OK)
        fail_msg("fit: %d %s", rc, err);
    assert_non_null(m);
    return m;
}

static void score_hist(const struct rec_model *m, int32_t user, const int32_t *items,
                       const float *str, int n, float *scores)
{
    struct rec_user_query q = {.user = user, .items = items, .strengths = str, .n = n};
    assert_int_equal(T->score(m, &q, scores), REC_OK);
}

/* |a - b| <= tol * (1 + |b|) */
static void assert_near(double a, double b, double tol, const char *what, int i)
{
    if (!(fabs(a - b) <= tol * (1.0 + fabs(b))))
        fail_msg("%s %d: %.9g vs %.9g", what, i, a, b);
}

/* Planted data: users [0, N_USERS/2) like items [0, N_ITEMS/2), the others the other half.
 * Each user has each item of their own block with probability ~0.4; with_junk adds zero and
 * negative entries across blocks, which fit must ignore. */
enum { N_USERS = 60, N_ITEMS = 50 };

static int user_block(int32_t u) { return u < N_USERS / 2; }
static int item_block(int32_t i) { return i < N_ITEMS / 2; }

static void planted(struct rec_csr *m, int with_junk)
{
    struct rec_triplet *t = malloc((size_t)N_USERS * N_ITEMS * sizeof *t);
    assert_non_null(t);
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

/* Best n items by score among those not excluded. */
static void top_n(const float *scores, int32_t n_items, const char *exclude, int n, int32_t *out)
{
    char used[N_ITEMS] = {0};
    for (int r = 0; r < n; r++) {
        int32_t best = -1;
        for (int32_t i = 0; i < n_items; i++)
            if (!used[i] && !(exclude && exclude[i]) && (best < 0 || scores[i] > scores[best]))
                best = i;
        assert_true(best >= 0);
        used[best] = 1;
        out[r] = best;
    }
}

/* ---- planted structure -------------------------------------------------------------------- */

static void planted_blocks(int k);

/* Plain EASE, EDLAE, DLAE and DLAE with pop_exp all keep recommendations inside the block. */
static void test_planted_blocks(void **state)
{
    for (int k = 0; k < 4; k++)
        planted_blocks(k);
}

static void planted_blocks(int k)
{
    struct rec_csr m;
    planted(&m, 1);
    double p[REC_MODEL_MAX_PARAMS];
    const double dropout[] = {0.0, 0.5, 0.5, 0.5}, pop[] = {0.0, 0.0, 0.0, 0.3};
    variant(p, 10.0, 1, dropout[k], k < 2, pop[k]);
    struct rec_model *model = fit_ok(&m, p, 1);

    float scores[N_ITEMS];
    for (int32_t u = 0; u < N_USERS; u++) {
        char excl[N_ITEMS] = {0};
        int64_t lo = m.indptr[u], hi = m.indptr[u + 1];
        for (int64_t e = lo; e < hi; e++)
            excl[m.indices[e]] = m.values[e] > 0;
        score_hist(model, u, m.indices + lo, m.values + lo, (int)(hi - lo), scores);
        int32_t top[5];
        top_n(scores, N_ITEMS, excl, 5, top);
        for (int r = 0; r < 5; r++)
            if (item_block(top[r]) != user_block(u))
                fail_msg("user %d: rank %d item %d is from the other block", u, r, top[r]);
    }

    /* an unknown user with three block-B items gets block-B items */
    const int32_t hist[] = {N_ITEMS / 2 + 1, N_ITEMS / 2 + 4, N_ITEMS - 1};
    const float str[] = {1, 2, 1};
    char excl[N_ITEMS] = {0};
    for (int e = 0; e < 3; e++)
        excl[hist[e]] = 1;
    score_hist(model, -1, hist, str, 3, scores);
    int32_t top[5];
    top_n(scores, N_ITEMS, excl, 5, top);
    for (int r = 0; r < 5; r++)
        assert_false(item_block(top[r]));

    /* similar: the strongest neighbours of an item are in its block, and it is not its own */
    for (int32_t i = 0; i < N_ITEMS; i += 7) {
        assert_int_equal(T->similar(model, i, scores), REC_OK);
        assert_true(scores[i] == 0.0f);
        char self[N_ITEMS] = {0};
        self[i] = 1;
        top_n(scores, N_ITEMS, self, 3, top);
        for (int r = 0; r < 3; r++)
            assert_int_equal(item_block(top[r]), item_block(i));
    }
    assert_int_equal(T->similar(model, N_ITEMS, scores), REC_ENOTFOUND);
    assert_int_equal(T->similar(model, -1, scores), REC_EINVAL);
    T->destroy(model);
    rec_csr_free(&m);
}

/* Junk entries (<= 0) change nothing, and the thread count does not change the result beyond
 * the rounding of the threaded inverse. */
static void test_junk_and_threads(void **state)
{
    struct rec_csr clean, junk;
    planted(&clean, 0);
    planted(&junk, 1);
    double p[REC_MODEL_MAX_PARAMS];
    params_with(p, 20.0, 0);
    struct rec_model *a = fit_ok(&clean, p, 1), *b = fit_ok(&junk, p, 1), *c = fit_ok(&junk, p, 2);
    float ra[N_ITEMS], rb[N_ITEMS], rc[N_ITEMS];
    for (int32_t i = 0; i < N_ITEMS; i++) {
        assert_int_equal(T->similar(a, i, ra), REC_OK);
        assert_int_equal(T->similar(b, i, rb), REC_OK);
        assert_int_equal(T->similar(c, i, rc), REC_OK);
        assert_memory_equal(ra, rb, sizeof ra);
        for (int32_t j = 0; j < N_ITEMS; j++)
            assert_near(rc[j], ra[j], 1e-5, "threads", j);
    }
    T->destroy(a);
    T->destroy(b);
    T->destroy(c);
    rec_csr_free(&clean);
    rec_csr_free(&junk);
}

/* ---- closed form -------------------------------------------------------------------------- */

/* Two items. Binary: u0 {0, 1}, u1 {0}, u2 {1}, lambda 1: G = [[3, 1], [1, 3]],
 * P = [[3, -1], [-1, 3]] / 8, B[0][1] = -P[0][1] / P[1][1] = 1/3 = B[1][0].
 * Strengths (binary = 0): u0 {0: 2, 1: 1}, u1 {0: 1}, u2 {1: 3}: G = [[6, 2], [2, 11]],
 * P = [[11, -2], [-2, 6]] / 62, B[0][1] = 2/6 = 1/3, B[1][0] = 2/11. */
static void test_closed_form_by_hand(void **state)
{
    const struct rec_triplet t[] = {{0, 0, 2.0f}, {0, 1, 1.0f}, {1, 0, 1.0f}, {2, 1, 3.0f}};
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 3, 2, t, 4), REC_OK);
    double p[REC_MODEL_MAX_PARAMS];
    float s[2];

    params_with(p, 1.0, 1);
    struct rec_model *bin = fit_ok(&m, p, 1);
    assert_int_equal(T->similar(bin, 0, s), REC_OK);
    assert_near(s[0], 0.0, 1e-7, "b00", 0);
    assert_near(s[1], 1.0 / 3.0, 1e-6, "b01", 0);
    assert_int_equal(T->similar(bin, 1, s), REC_OK);
    assert_near(s[0], 1.0 / 3.0, 1e-6, "b10", 0);
    assert_near(s[1], 0.0, 1e-7, "b11", 0);
    /* binary scoring ignores the strength: history {0: 5} scores item 1 with 1/3 */
    const int32_t h0[] = {0};
    const float five[] = {5.0f};
    score_hist(bin, -1, h0, five, 1, s);
    assert_near(s[1], 1.0 / 3.0, 1e-6, "score", 1);

    params_with(p, 1.0, 0);
    struct rec_model *str = fit_ok(&m, p, 1);
    assert_int_equal(T->similar(str, 0, s), REC_OK);
    assert_near(s[1], 1.0 / 3.0, 1e-6, "b01", 0);
    assert_int_equal(T->similar(str, 1, s), REC_OK);
    assert_near(s[0], 2.0 / 11.0, 1e-6, "b10", 0);
    /* history {0: 2, 1: 3}: item 0 gets 3 * 2/11, item 1 gets 2 * 1/3 */
    const int32_t h01[] = {0, 1};
    const float w01[] = {2.0f, 3.0f};
    score_hist(str, 0, h01, w01, 2, s);
    assert_near(s[0], 6.0 / 11.0, 1e-6, "score", 0);
    assert_near(s[1], 2.0 / 3.0, 1e-6, "score", 1);

    T->destroy(bin);
    T->destroy(str);
    rec_csr_free(&m);
}

/* The same two items with dropout p = 0.5 (p/(1-p) = 1), lambda 1. For 2 x 2, G + L =
 * [[a, b], [b, c]]: EDLAE B[0][1] = b / a, B[1][0] = b / c; DLAE B = I - P L, so
 * B[0][1] = b L11 / (ac - b^2), B[1][0] = b L00 / (ac - b^2).
 * Binary: X'X = [[2, 1], [1, 2]], L = 1 + 2 = 3 each, G + L = [[5, 1], [1, 5]]:
 *     EDLAE 1/5 both ways;  DLAE 3/24 = 1/8 both ways.
 * Strengths: X'X = [[5, 2], [2, 10]], L = diag(6, 11), G + L = [[11, 2], [2, 21]], det 227:
 *     EDLAE B[0][1] = 2/11, B[1][0] = 2/21;  DLAE B[0][1] = 22/227, B[1][0] = 12/227. */
static void test_dropout_closed_form_by_hand(void **state)
{
    const struct rec_triplet t[] = {{0, 0, 2.0f}, {0, 1, 1.0f}, {1, 0, 1.0f}, {2, 1, 3.0f}};
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 3, 2, t, 4), REC_OK);
    const struct {
        int binary, zero_diag;
        double b01, b10;
    } cases[] = {
        {1, 1, 1.0 / 5.0, 1.0 / 5.0},
        {1, 0, 1.0 / 8.0, 1.0 / 8.0},
        {0, 1, 2.0 / 11.0, 2.0 / 21.0},
        {0, 0, 22.0 / 227.0, 12.0 / 227.0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double p[REC_MODEL_MAX_PARAMS];
        variant(p, 1.0, cases[c].binary, 0.5, cases[c].zero_diag, 0.0);
        struct rec_model *model = fit_ok(&m, p, 1);
        float s[2];
        assert_int_equal(T->similar(model, 0, s), REC_OK);
        assert_true(s[0] == 0.0f); /* DLAE's diagonal is dropped too */
        assert_near(s[1], cases[c].b01, 1e-6, "b01", (int)c);
        assert_int_equal(T->similar(model, 1, s), REC_OK);
        assert_near(s[0], cases[c].b10, 1e-6, "b10", (int)c);
        assert_true(s[1] == 0.0f);
        T->destroy(model);
    }
    rec_csr_free(&m);
}

/* pop_exp 1 on binary u0 {0, 1}, u1 {0}, u2 {1}, u3 {1}: counts 2 and 3, mean 5/2, so
 * d = (5/4, 5/6) and the scaled X'X is [[25/8, 25/24], [25/24, 25/12]]. EASE with lambda 1:
 * B'[0][1] = (25/24) / (25/8 + 1) = 25/99, B'[1][0] = (25/24) / (25/12 + 1) = 25/74, and the
 * stored rows carry d: B[0][1] = 5/4 * 25/99 = 125/396, B[1][0] = 5/6 * 25/74 = 125/444. */
static void test_pop_exp_by_hand(void **state)
{
    const struct rec_triplet t[] = {{0, 0, 1}, {0, 1, 1}, {1, 0, 1}, {2, 1, 1}, {3, 1, 1}};
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 4, 2, t, 5), REC_OK);
    double p[REC_MODEL_MAX_PARAMS];
    variant(p, 1.0, 1, 0.0, 1, 1.0);
    struct rec_model *model = fit_ok(&m, p, 1);
    float s[2];
    assert_int_equal(T->similar(model, 0, s), REC_OK);
    assert_near(s[1], 125.0 / 396.0, 1e-6, "b01", 0);
    assert_int_equal(T->similar(model, 1, s), REC_OK);
    assert_near(s[0], 125.0 / 444.0, 1e-6, "b10", 0);
    /* against plain EASE (B[0][1] = 1/3, B[1][0] = 1/4): the rarer item 0 scores higher from a
     * history {1}, the popular item 1 lower from a history {0} */
    const int32_t h0[] = {0}, h1[] = {1};
    const float one[] = {1.0f};
    score_hist(model, -1, h1, one, 1, s);
    assert_near(s[0], 125.0 / 444.0, 1e-6, "score", 0);
    assert_true(s[0] > 0.25f);
    score_hist(model, -1, h0, one, 1, s);
    assert_near(s[1], 125.0 / 396.0, 1e-6, "score", 1);
    assert_true(s[1] < 1.0f / 3.0f);
    T->destroy(model);
    rec_csr_free(&m);
}

/* Random integer strengths shared by the two tests below. */
enum { RU = 40, RI = 25 };

static int64_t random_triplets(struct rec_triplet *t, struct rec_csr *m)
{
    int64_t n = 0;
    rng_state = 7;
    for (int32_t u = 0; u < RU; u++)
        for (int32_t i = 0; i < RI; i++)
            if (urand() < 0.3)
                t[n++] = (struct rec_triplet){u, i, (float)(1 + (int)(urand() * 5))};
    assert_int_equal(rec_csr_from_triplets(m, RU, RI, t, n), REC_OK);
    return n;
}

/* Every variant against the closed form written out here: G and the item scales in double,
 * the penalty on the diagonal, the _ref inverse, then B. */
static void test_closed_form_against_ref(void **state)
{
    struct rec_triplet t[RU * RI];
    struct rec_csr m;
    int64_t n = random_triplets(t, &m);
    const struct {
        double lambda, dropout, pop_exp;
        int zero_diag;
    } cases[] = {
        {3.0, 0.0, 0.0, 1}, {3.0, 0.3, 0.0, 1}, {3.0, 0.3, 0.0, 0},
        {1.0, 0.8, 0.0, 0}, {3.0, 0.5, 0.4, 0}, {3.0, 0.2, -0.5, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double g[RI][RI] = {{0}}, cnt[RI] = {0}, d[RI], pen[RI];
        for (int64_t a = 0; a < n; a++) {
            cnt[t[a].col] += 1;
            for (int64_t b = 0; b < n; b++)
                if (t[a].row == t[b].row)
                    g[t[a].col][t[b].col] += (double)t[a].value * t[b].value;
        }
        for (int i = 0; i < RI; i++) {
            assert_true(cnt[i] > 0); /* else fit's scale is 1 */
            d[i] = pow(cnt[i] / ((double)n / RI), -cases[c].pop_exp);
        }
        float p[RI * RI];
        for (int i = 0; i < RI; i++) {
            pen[i] = cases[c].lambda +
                     cases[c].dropout / (1 - cases[c].dropout) * g[i][i] * d[i] * d[i];
            for (int j = 0; j < RI; j++)
                p[i * RI + j] = (float)(g[i][j] * d[i] * d[j] + (i == j ? pen[i] : 0.0));
        }
        assert_int_equal(rec_linalg_spd_inverse_ref(p, RI), REC_OK);

        double params[REC_MODEL_MAX_PARAMS];
        variant(params, cases[c].lambda, 0, cases[c].dropout, cases[c].zero_diag,
                cases[c].pop_exp);
        struct rec_model *model = fit_ok(&m, params, 2);
        float row[RI];
        for (int i = 0; i < RI; i++) {
            assert_int_equal(T->similar(model, i, row), REC_OK);
            for (int j = 0; j < RI; j++) {
                double b = cases[c].zero_diag ? -(double)p[i * RI + j] / p[j * RI + j]
                                              : -(double)p[i * RI + j] * pen[j];
                double want = i == j ? 0.0 : d[i] * b;
                assert_near(row[j], want, 1e-4, "B", (int)c * 1000 + i * RI + j);
            }
        }
        T->destroy(model);
    }
    rec_csr_free(&m);
}

/* dropout 0 is plain EASE bit for bit: the same float G (integer sums, exact), lambda on the
 * diagonal, the same inverse, B[i][j] = P[i][j] * (-1 / P[j][j]). DLAE at dropout 0 is exactly
 * -lambda P off the diagonal. */
static void test_dropout_zero_is_plain_ease(void **state)
{
    struct rec_triplet t[RU * RI];
    struct rec_csr m;
    int64_t n = random_triplets(t, &m);
    const float lambda = 3.0f;
    float *p = calloc(RI * RI, sizeof *p);
    assert_non_null(p);
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++)
            if (t[a].row == t[b].row && t[a].col <= t[b].col)
                p[t[a].col * RI + t[b].col] += t[a].value * t[b].value;
    for (int i = 0; i < RI; i++)
        p[i * RI + i] += lambda;
    rec_linalg_set_blas_threads(1);
    assert_int_equal(rec_linalg_spd_inverse(p, RI), REC_OK);
    rec_linalg_set_blas_threads(0);

    double params[REC_MODEL_MAX_PARAMS];
    for (int zero_diag = 0; zero_diag <= 1; zero_diag++) {
        variant(params, lambda, 0, 0.0, zero_diag, 0.0);
        struct rec_model *model = fit_ok(&m, params, 1);
        float row[RI], want[RI];
        for (int i = 0; i < RI; i++) {
            for (int j = 0; j < RI; j++)
                want[j] = p[i * RI + j] * (zero_diag ? -1.0f / p[j * RI + j] : -lambda);
            want[i] = 0.0f;
            assert_int_equal(T->similar(model, i, row), REC_OK);
            assert_memory_equal(row, want, sizeof row);
        }
        T->destroy(model);
    }
    free(p);
    rec_csr_free(&m);
}

/* ---- linalg pair -------------------------------------------------------------------------- */

static void test_spd_inverse_matches_ref(void **state)
{
    const int sizes[] = {1, 2, 7, 64, 150};
    rng_state = 3;
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        int n = sizes[c];
        size_t nn = (size_t)n * n;
        float *a = malloc(nn * sizeof *a), *s = malloc(nn * sizeof *s);
        float *x = malloc(nn * sizeof *x), *y = malloc(nn * sizeof *y);
        assert_true(a && s && x && y);
        for (size_t e = 0; e < nn; e++)
            a[e] = (float)(urand() * 2 - 1);
        rec_linalg_gram_ref(a, n, n, s); /* A'A + n/4 I: SPD, condition number modest */
        for (int i = 0; i < n; i++)
            s[(size_t)i * n + i] += 0.25f * (float)n;
        memcpy(x, s, nn * sizeof *x);
        memcpy(y, s, nn * sizeof *y);
        for (int i = 0; i < n; i++) /* the lower triangle is not read */
            for (int j = 0; j < i; j++)
                x[(size_t)i * n + j] = y[(size_t)i * n + j] = NAN;
        assert_int_equal(rec_linalg_spd_inverse(x, n), REC_OK);
        assert_int_equal(rec_linalg_spd_inverse_ref(y, n), REC_OK);
        for (size_t e = 0; e < nn; e++)
            assert_near(x[e], y[e], 1e-4, "inverse", (int)e);
        for (int i = 0; i < n; i++) { /* S * S^-1 = I, both triangles filled */
            for (int j = 0; j < n; j++) {
                double v = 0;
                for (int k = 0; k < n; k++)
                    v += (double)s[(size_t)i * n + k] * x[(size_t)k * n + j];
                if (!(fabs(v - (i == j)) < 1e-3))
                    fail_msg("n=%d: (S S^-1)[%d][%d] = %g", n, i, j, v);
            }
        }
        free(a);
        free(s);
        free(x);
        free(y);
    }
    /* not positive definite: both refuse */
    float bad[4] = {1, 2, 2, 1}, bad2[4] = {1, 2, 2, 1};
    assert_int_equal(rec_linalg_spd_inverse(bad, 2), REC_EINVAL);
    assert_int_equal(rec_linalg_spd_inverse_ref(bad2, 2), REC_EINVAL);
    assert_int_equal(rec_linalg_spd_inverse(NULL, 0), REC_OK);
    assert_int_equal(rec_linalg_spd_inverse_ref(NULL, 0), REC_OK);
    assert_int_equal(rec_linalg_spd_inverse(bad, -1), REC_EINVAL);
    assert_int_equal(rec_linalg_spd_inverse_ref(bad, -1), REC_EINVAL);
}

/* ---- limits and errors -------------------------------------------------------------------- */

static void test_refuses_above_max_items(void **state)
{
    int64_t indptr[2] = {0, 0};
    struct rec_csr m = {.n_rows = 1, .n_cols = 41233, .indptr = indptr};
    struct rec_train_input in = {.ui = &m};
    double p[REC_MODEL_MAX_PARAMS];
    rec_model_params_default(T, p);
    assert_true(p[REC_EASE_MAX_ITEMS] == 30000.0);
    struct rec_model *out = (struct rec_model *)&m; /* must be reset to NULL */
    char err[256];
    assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_EINVAL);
    assert_null(out);
    assert_string_equal(err, "ease: 41,233 items exceed max_items=30000 (needs 6.8 GB); use als "
                             "or itemknn");

    m.n_cols = 11;
    p[REC_EASE_MAX_ITEMS] = 10;
    assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_EINVAL);
    assert_string_equal(err, "ease: 11 items exceed max_items=10 (needs 0.0 GB); use als or "
                             "itemknn");
    p[REC_EASE_MAX_ITEMS] = 11;
    assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_OK);
    float s[11];
    assert_int_equal(T->similar(out, 3, s), REC_OK);
    for (int i = 0; i < 11; i++) /* no data: B = 0 */
        assert_true(s[i] == 0.0f);
    T->destroy(out);
}

/* A child process with its address space capped must get REC_ENOMEM and a message, not a crash.
 * Skipped under sanitizers, which reserve terabytes of address space. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static void test_out_of_memory(void **state)
{
#ifdef UNDER_SANITIZER
    skip();
#else
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1)
            _exit(2);
        fclose(f);
        rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20);
        struct rlimit rl = {cap, cap};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(3);
        int64_t indptr[2] = {0, 0};
        struct rec_csr m = {.n_rows = 1, .n_cols = 20000, .indptr = indptr}; /* 1.6 GB */
        struct rec_train_input in = {.ui = &m, .threads = 1};
        double p[REC_MODEL_MAX_PARAMS];
        rec_model_params_default(T, p);
        struct rec_model *out = NULL;
        char err[256] = "";
        int rc = T->fit(&in, p, &out, err, sizeof err);
        _exit(rc == REC_ENOMEM && !out && strstr(err, "cannot allocate 1.6 GB") ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

static void test_params_and_bad_input(void **state)
{
    assert_string_equal(T->name, "ease");
    assert_int_equal(T->n_params, REC_EASE_N_PARAMS);
    assert_int_equal(rec_model_param_index(T, "lambda"), REC_EASE_LAMBDA);
    assert_int_equal(rec_model_param_index(T, "binary"), REC_EASE_BINARY);
    assert_int_equal(rec_model_param_index(T, "max_items"), REC_EASE_MAX_ITEMS);
    assert_int_equal(rec_model_param_index(T, "dropout"), REC_EASE_DROPOUT);
    assert_int_equal(rec_model_param_index(T, "zero_diag"), REC_EASE_ZERO_DIAG);
    assert_int_equal(rec_model_param_index(T, "pop_exp"), REC_EASE_POP_EXP);
    double p[REC_MODEL_MAX_PARAMS];
    char err[256];
    rec_model_params_default(T, p);
    assert_true(p[REC_EASE_LAMBDA] >= 100 && p[REC_EASE_LAMBDA] <= 1000);
    assert_true(p[REC_EASE_BINARY] == 1.0);
    assert_true(p[REC_EASE_DROPOUT] > 0.0 && p[REC_EASE_DROPOUT] < 0.95);
    assert_int_equal(rec_model_params_parse(T, "dropout=0.96", p, err, sizeof err), REC_EINVAL);
    assert_int_equal(rec_model_params_parse(T, "dropout=0,zero_diag=1,pop_exp=0", p, err,
                                            sizeof err),
                     REC_OK);
    assert_int_equal(rec_model_params_parse(T, "lambda=0.5", p, err, sizeof err), REC_EINVAL);

    struct rec_csr m;
    planted(&m, 0);
    struct rec_train_input in = {.ui = &m, .threads = 1};
    struct rec_model *out = NULL;
    const struct { int idx; double v; } bad[] = {
        {REC_EASE_LAMBDA, 0.5}, {REC_EASE_LAMBDA, NAN}, {REC_EASE_BINARY, 2},
        {REC_EASE_BINARY, 0.5}, {REC_EASE_MAX_ITEMS, 0}, {REC_EASE_MAX_ITEMS, 1.5},
        {REC_EASE_DROPOUT, -0.1}, {REC_EASE_DROPOUT, 1.0}, {REC_EASE_DROPOUT, NAN},
        {REC_EASE_ZERO_DIAG, 2}, {REC_EASE_POP_EXP, 1.5}, {REC_EASE_POP_EXP, NAN},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        rec_model_params_default(T, p);
        p[bad[c].idx] = bad[c].v;
        err[0] = '\0';
        assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_EINVAL);
        assert_null(out);
        assert_true(strncmp(err, "ease: ", 6) == 0);
    }
    rec_model_params_default(T, p);
    assert_int_equal(T->fit(NULL, p, &out, err, sizeof err), REC_EINVAL);
    assert_int_equal(T->fit(&in, NULL, &out, err, sizeof err), REC_EINVAL);
    assert_int_equal(T->fit(&in, p, NULL, err, sizeof err), REC_EINVAL);
    in.threads = -1;
    assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_EINVAL);
    in.threads = 1;
    m.indices[1] = m.indices[0]; /* unsorted / repeated column */
    assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_EINVAL);
    assert_string_equal(err, "ease: malformed interaction matrix");
    m.indices[1] = N_ITEMS; /* out of range */
    assert_int_equal(T->fit(&in, p, &out, err, sizeof err), REC_EINVAL);
    rec_csr_free(&m);
    T->destroy(NULL);
}

/* Scoring rules: user is ignored, repeats are summed, out-of-range items and non-positive sums
 * are dropped, binary counts a repeated item once. */
static void test_score_rules(void **state)
{
    struct rec_csr m;
    planted(&m, 0);
    double p[REC_MODEL_MAX_PARAMS];
    params_with(p, 10.0, 0);
    struct rec_model *str = fit_ok(&m, p, 1);
    params_with(p, 10.0, 1);
    struct rec_model *bin = fit_ok(&m, p, 1);

    const int32_t base_i[] = {3, 7, 12};
    const float base_w[] = {2, 1, 3};
    const int32_t mess_i[] = {12, 3, -1, 7, N_ITEMS, 3, 20, 20, 21};
    const float mess_w[] = {3, 1, 5, 1, 5, 1, 1, -1, -2};
    float a[N_ITEMS], b[N_ITEMS], c[N_ITEMS];
    for (int k = 0; k < 2; k++) {
        const struct rec_model *model = k ? bin : str;
        score_hist(model, 5, base_i, base_w, 3, a);
        score_hist(model, -1, mess_i, mess_w, 9, b);
        for (int j = 0; j < N_ITEMS; j++)
            assert_near(b[j], a[j], 1e-6, "messy history", j);
        /* linear in the history: the sum of the single-item rows */
        memset(c, 0, sizeof c);
        for (int e = 0; e < 3; e++) {
            float row[N_ITEMS];
            assert_int_equal(T->similar(model, base_i[e], row), REC_OK);
            for (int j = 0; j < N_ITEMS; j++)
                c[j] += (k ? 1.0f : base_w[e]) * row[j];
        }
        for (int j = 0; j < N_ITEMS; j++)
            assert_near(a[j], c[j], 1e-6, "linearity", j);
    }
    /* 9 history items: the 4-row kernel and its tail agree with plain sums */
    const int32_t nine[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    const float ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    score_hist(bin, -1, nine, ones, 9, a);
    memset(c, 0, sizeof c);
    for (int e = 0; e < 9; e++) {
        assert_int_equal(T->similar(bin, nine[e], b), REC_OK);
        for (int j = 0; j < N_ITEMS; j++)
            c[j] += b[j];
    }
    for (int j = 0; j < N_ITEMS; j++)
        assert_near(a[j], c[j], 1e-5, "nine", j);

    score_hist(bin, -1, NULL, NULL, 0, a);
    for (int j = 0; j < N_ITEMS; j++)
        assert_true(a[j] == 0.0f);
    struct rec_user_query q = {.user = -1, .n = 2};
    assert_int_equal(T->score(bin, &q, a), REC_EINVAL);
    q.n = -1;
    assert_int_equal(T->score(bin, &q, a), REC_EINVAL);
    assert_int_equal(T->score(bin, NULL, a), REC_EINVAL);
    T->destroy(str);
    T->destroy(bin);
    rec_csr_free(&m);
}

/* ---- save / load -------------------------------------------------------------------------- */

static struct rec_model *small_model_with(int32_t n_items, double dropout, int zero_diag,
                                          double pop_exp)
{
    struct rec_triplet t[64];
    int n = 0;
    for (int32_t u = 0; u < 8; u++)
        for (int32_t i = 0; i < n_items; i++)
            if ((u * 7 + i * 3) % 4 == 0)
                t[n++] = (struct rec_triplet){u, i, 1.0f + (float)(u % 3)};
    struct rec_csr m;
    assert_int_equal(rec_csr_from_triplets(&m, 8, n_items, t, n), REC_OK);
    double p[REC_MODEL_MAX_PARAMS];
    variant(p, 2.0, 0, dropout, zero_diag, pop_exp);
    p[REC_EASE_MAX_ITEMS] = 100;
    struct rec_model *model = fit_ok(&m, p, 1);
    rec_csr_free(&m);
    return model;
}

static struct rec_model *small_model(int32_t n_items)
{
    return small_model_with(n_items, 0.0, 1, 0.0);
}

/* Bytes of a saved model (caller frees). */
static unsigned char *saved_bytes(const struct rec_model *m, size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(T->save(m, f), REC_OK);
    long end = ftell(f);
    assert_true(end > 0);
    unsigned char *buf = malloc((size_t)end);
    assert_non_null(buf);
    rewind(f);
    assert_int_equal(fread(buf, 1, (size_t)end, f), (size_t)end);
    fclose(f);
    *len = (size_t)end;
    return buf;
}

static int load_bytes(const unsigned char *buf, size_t len, struct rec_model **out)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    rewind(f);
    int rc = T->load(f, out);
    fclose(f);
    return rc;
}

enum { HEADER = 8 + 4 * 8 }; /* magic, version, 3 + 3 params, n_items */

static void test_save_load_round_trip(void **state)
{
    const int32_t sizes[] = {6, 0, 6};
    for (size_t c = 0; c < 3; c++) {
        int32_t n = sizes[c];
        struct rec_model *m = c < 2 ? small_model(n) : small_model_with(n, 0.4, 0, -0.3), *l = NULL;
        size_t len;
        unsigned char *buf = saved_bytes(m, &len);
        assert_int_equal(len, HEADER + 4 * (size_t)n * n + 8);
        assert_int_equal(load_bytes(buf, len, &l), REC_OK);
        float a[8], b[8];
        for (int32_t i = 0; i < n; i++) {
            assert_int_equal(T->similar(m, i, a), REC_OK);
            assert_int_equal(T->similar(l, i, b), REC_OK);
            assert_memory_equal(a, b, (size_t)n * sizeof *a);
        }
        assert_int_equal(T->similar(l, n, b), REC_ENOTFOUND);
        /* the reloaded model saves to the same bytes (params kept) */
        size_t len2;
        unsigned char *buf2 = saved_bytes(l, &len2);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len);
        free(buf2);
        free(buf);
        T->destroy(m);
        T->destroy(l);
    }
    struct rec_model *l = NULL;
    assert_int_equal(T->save(NULL, stdout), REC_EINVAL);
    assert_int_equal(T->load(NULL, &l), REC_EINVAL);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Rewrites the trailing checksum so only the content check can object. */
static void reseal(unsigned char *buf, size_t len)
{
    uint64_t h = fnv1a(buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* A version 1 file (no dropout, zero_diag, pop_exp) loads as plain EASE and saves again as
 * version 2 with dropout 0, zero_diag 1, pop_exp 0: the bytes of a plain model saved today. */
static void test_load_version_1(void **state)
{
    struct rec_model *m = small_model(6), *l = NULL;
    size_t len;
    unsigned char *v2 = saved_bytes(m, &len);
    size_t len1 = len - 12;
    unsigned char *v1 = malloc(len1);
    assert_non_null(v1);
    memcpy(v1, v2, 24); /* magic, version, lambda, binary, max_items */
    memcpy(v1 + 24, v2 + 36, len - 36);
    put_u32(v1 + 8, 1);
    reseal(v1, len1);
    assert_int_equal(load_bytes(v1, len1, &l), REC_OK);
    size_t len2;
    unsigned char *again = saved_bytes(l, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, v2, len);
    T->destroy(l);
    put_u32(v1 + 8, 3); /* unknown version */
    reseal(v1, len1);
    assert_int_equal(load_bytes(v1, len1, &l), REC_EFORMAT);
    free(again);
    free(v1);
    free(v2);
    T->destroy(m);
}

static void test_load_rejects_damage(void **state)
{
    struct rec_model *m = small_model(6), *l = NULL;
    size_t len;
    unsigned char *buf = saved_bytes(m, &len);
    for (size_t cut = 0; cut < len; cut++) { /* every truncation */
        if (load_bytes(buf, cut, &l) != REC_EFORMAT)
            fail_msg("truncated to %zu bytes: not REC_EFORMAT", cut);
        assert_null(l);
    }
    for (size_t at = 0; at < len; at++) { /* every single-bit flip */
        buf[at] ^= 0x10;
        if (load_bytes(buf, len, &l) != REC_EFORMAT)
            fail_msg("bit flip at byte %zu: not REC_EFORMAT", at);
        assert_null(l);
        buf[at] ^= 0x10;
    }
    /* valid checksum around bad content: a NaN weight, binary = 2, max_items (5) below
     * n_items (6), lambda = 0, version 3, dropout 0.96, zero_diag 2, pop_exp NaN and 1.5 */
    const struct { size_t off; uint32_t v; } bad[] = {
        {HEADER + 4 * 7, 0x7fc00000u}, {8 + 8, 2}, {8 + 12, 5}, {8 + 4, 0}, {8, 3},
        {8 + 16, 0x3f75c28fu}, {8 + 20, 2}, {8 + 24, 0x7fc00000u}, {8 + 24, 0x3fc00000u},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        unsigned char *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        put_u32(copy + bad[c].off, bad[c].v);
        reseal(copy, len);
        if (load_bytes(copy, len, &l) != REC_EFORMAT)
            fail_msg("case %zu: not REC_EFORMAT", c);
        free(copy);
    }
    assert_int_equal(load_bytes(buf, len, &l), REC_OK); /* the untouched file still loads */
    T->destroy(l);

    /* a header announcing 100000 x 100000 weights (40 GB) over a short file fails fast */
    unsigned char hdr[HEADER + 64] = {0};
    memcpy(hdr, buf, HEADER);
    put_u32(hdr + 8 + 12, 100000);
    put_u32(hdr + 8 + 28, 100000);
    assert_int_equal(load_bytes(hdr, sizeof hdr, &l), REC_EFORMAT);
    free(buf);
    T->destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_blocks),
        cmocka_unit_test(test_junk_and_threads),
        cmocka_unit_test(test_closed_form_by_hand),
        cmocka_unit_test(test_dropout_closed_form_by_hand),
        cmocka_unit_test(test_pop_exp_by_hand),
        cmocka_unit_test(test_closed_form_against_ref),
        cmocka_unit_test(test_dropout_zero_is_plain_ease),
        cmocka_unit_test(test_spd_inverse_matches_ref),
        cmocka_unit_test(test_refuses_above_max_items),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_params_and_bad_input),
        cmocka_unit_test(test_score_rules),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_load_version_1),
        cmocka_unit_test(test_load_rejects_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
