/* Factorization machine ranker (src/rank/fm.c): the O(kn) prediction against the O(kn^2)
 * formula (all pairs, or pairs across groups only), what LR and the FM can and cannot learn, progressive validation, save/load, clone,
 * determinism, config checks and the feature hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rand.h"
#include "model/binio.h"
#include "rank/fm.h"
#include "test_files.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static double unif(uint64_t *st) { return (double)(rec_splitmix64(st) >> 11) * 0x1p-53; }
static int below(uint64_t *st, int n) { return (int)(unif(st) * n); }

struct scored {
    double s;
    int y;
};

static int cmp_scored(const void *pa, const void *pb)
{
    const struct scored *a = pa, *b = pb;
    return (a->s > b->s) - (a->s < b->s);
}

/* Exact AUC (Mann-Whitney with midranks for ties); sorts v. */
static double exact_auc(struct scored *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double rank_sum = 0;
    long pos = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double mid = (i + 1 + j) / 2.0; /* ranks i+1..j */
        for (int t = i; t < j; t++)
            if (v[t].y) {
                rank_sum += mid;
                pos++;
            }
        i = j;
    }
    long neg = n - pos;
    return (rank_sum - pos * (pos + 1) / 2.0) / ((double)pos * neg);
}

static struct rec_fm *new_model(int bits, int k, double lr, double init_sd, uint64_t seed)
{
    struct rec_fm_config c;
    rec_fm_config_default(&c);
    c.bits = bits;
    c.k = k;
    c.lr = lr;
    c.init_sd = init_sd;
    c.seed = seed;
    struct rec_fm *m = NULL;
    assert_int_equal(rec_fm_new(&c, &m), REC_OK);
    assert_non_null(m);
    return m;
}

/* A random example over slots 0..n_slots-1, 1..max_n features, values in [-1, 1]. */
static int random_x(uint64_t *st, struct rec_fm_feature *x, int max_n, int n_slots)
{
    int n = 1 + below(st, max_n);
    for (int i = 0; i < n; i++) {
        x[i].index = (uint32_t)below(st, n_slots);
        x[i].value = (float)(2 * unif(st) - 1);
    }
    return n;
}

/* ---- the formula ---------------------------------------------------------------------------- */

/* w0 + sum_i w_i x_i (+ sum_{i<j} <v_i, v_j> x_i x_j when pairs), straight from the paper. */
static double naive_logit(const struct rec_fm *m, const struct rec_fm_feature *x, int n, int pairs)
{
    struct rec_fm_view mv;
    rec_fm_params(m, &mv);
    uint32_t mask = mv.n_slots - 1;
    double z = mv.w0;
    for (int i = 0; i < n; i++) {
        const float *ri = mv.rows + (size_t)(x[i].index & mask) * mv.stride;
        z += (double)ri[0] * x[i].value;
        for (int j = i + 1; pairs && j < n; j++) {
            if ((x[i].index | x[j].index) & REC_FM_LINEAR)
                continue; /* a linear-only feature has no factors: it is in no pair */
            const float *rj = mv.rows + (size_t)(x[j].index & mask) * mv.stride;
            double d = 0;
            for (int f = 1; f < mv.stride; f++)
                d += (double)ri[f] * rj[f];
            z += d * x[i].value * x[j].value;
        }
    }
    return z;
}

static void test_predict_matches_naive_formula(void **state)
{
    struct rec_fm *m = new_model(12, 8, 0.2, 0.3, 7);
    uint64_t st = 1;
    struct rec_fm_feature x[16];
    /* move every parameter away from its initial value */
    for (int t = 0; t < 500; t++) {
        int n = random_x(&st, x, 12, 64);
        rec_fm_learn(m, x, n, below(&st, 2), 1.0);
    }
    int mid = 0, interacting = 0, dups = 0;
    for (int t = 0; t < 300; t++) {
        int n = random_x(&st, x, 16, 64);
        if (n >= 2 && t % 3 == 0) { /* force a repeated slot: it interacts with itself */
            x[n - 1].index = x[0].index;
            dups++;
        }
        if (t % 5 == 0) /* a wider hash: only the low bits count */
            x[0].index |= 0x7ff00000u;
        if (t % 4 == 0) /* a linear-only feature, sometimes on a slot another position has */
            x[n - 1].index |= REC_FM_LINEAR;
        double z = naive_logit(m, x, n, 1);
        double want = 1.0 / (1.0 + exp(-z));
        double got = rec_fm_predict(m, x, n);
        assert_true(fabs(got - want) < 1e-6);
        mid += want > 0.02 && want < 0.98;
        interacting += fabs(z - naive_logit(m, x, n, 0)) > 0.1;
    }
    /* the comparison means something: predictions not saturated, pair terms not negligible */
    assert_true(mid > 200);
    assert_true(interacting > 150);
    assert_true(dups > 50);
    /* no features: the bias alone; non-finite values are ignored */
    struct rec_fm_view mv;
    rec_fm_params(m, &mv);
    assert_true(fabs(rec_fm_predict(m, NULL, 0) - 1.0 / (1.0 + exp(-mv.w0))) < 1e-12);
    x[0] = (struct rec_fm_feature){3, NAN};
    x[1] = (struct rec_fm_feature){5, INFINITY};
    assert_true(rec_fm_predict(m, x, 2) == rec_fm_predict(m, NULL, 0));
    rec_fm_free(m);
}

/* One step is AdaGrad on the gradient of the formula, differentiated position by position
 * (dz/dv_af = sum over positions i of slot a of x_i sum_{j != i} v_jf x_j), plus L2. */
static void test_step_is_adagrad_on_exact_gradient(void **state)
{
    struct rec_fm_config c;
    rec_fm_config_default(&c);
    c.bits = 10;
    c.k = 4;
    c.l2_w = 1e-2;
    c.l2_v = 2e-2;
    c.init_sd = 0.3;
    struct rec_fm *m = NULL;
    assert_int_equal(rec_fm_new(&c, &m), REC_OK);
    uint64_t st = 21;
    struct rec_fm_feature x[8];
    for (int t = 0; t < 300; t++) {
        int n = random_x(&st, x, 8, 32);
        rec_fm_learn(m, x, n, below(&st, 2), 1.0);
    }
    struct rec_fm_view mv;
    rec_fm_params(m, &mv);
    const int stride = mv.stride, k = stride - 1;
    size_t cells = (size_t)mv.n_slots * stride;
    float *p0 = malloc(cells * sizeof *p0), *g0 = malloc(cells * sizeof *g0);
    assert_non_null(p0);
    assert_non_null(g0);
    memcpy(p0, mv.rows, cells * sizeof *p0);
    memcpy(g0, mv.acc, cells * sizeof *g0);
    double w0 = mv.w0, acc0 = mv.g0;

    /* slots 3 (1027 reduces to it) and 7 twice each; 12 and the second 7 linear-only */
    const uint32_t idx[6] = {3, 7, 1027, 12 | REC_FM_LINEAR, 20, 7 | REC_FM_LINEAR};
    int n = 6;
    for (int i = 0; i < n; i++)
        x[i] = (struct rec_fm_feature){idx[i], (float)(0.2 + unif(&st))};
    const double weight = 0.7;
    double p = rec_fm_learn(m, x, n, 1, weight);
    double e = p - 1.0;
    rec_fm_params(m, &mv);

    double gb = e, Gb = acc0 + weight * gb * gb;
    assert_true(fabs(mv.g0 - Gb) < 1e-9 * Gb);
    assert_true(fabs(mv.w0 - (w0 - weight * c.lr * gb / sqrt(Gb))) < 1e-9);
    char touched[1024] = {0};
    double max_step = 0;
    for (int i = 0; i < n; i++) {
        uint32_t a = x[i].index & (mv.n_slots - 1);
        if (touched[a])
            continue;
        touched[a] = 1;
        int factors = 0; /* a position of slot a with factors */
        for (int q = 0; q < n; q++)
            factors |= (x[q].index & (mv.n_slots - 1)) == a && !(x[q].index & REC_FM_LINEAR);
        for (int f = 0; f <= k; f++) {
            if (f > 0 && !factors) { /* factors out of z: not touched, not even by L2 */
                size_t cell = (size_t)a * stride + f;
                assert_true(mv.rows[cell] == p0[cell]);
                assert_true(mv.acc[cell] == g0[cell]);
                continue;
            }
            double dz = 0; /* d z / d row_a[f] */
            for (int q = 0; q < n; q++) {
                if ((x[q].index & (mv.n_slots - 1)) != a)
                    continue;
                if (f == 0) {
                    dz += x[q].value;
                    continue;
                }
                if (x[q].index & REC_FM_LINEAR)
                    continue; /* no factors at this position */
                for (int j = 0; j < n; j++)
                    if (j != q && !(x[j].index & REC_FM_LINEAR))
                        dz += (double)x[q].value * x[j].value *
                              p0[(size_t)(x[j].index & (mv.n_slots - 1)) * stride + f];
            }
            size_t cell = (size_t)a * stride + f;
            double t = p0[cell], g = e * dz + (f ? c.l2_v : c.l2_w) * t;
            double G = g0[cell] + weight * g * g, want = t - weight * c.lr * g / sqrt(G);
            assert_true(fabs(mv.acc[cell] - G) < 1e-5 * G);
            assert_true(fabs(mv.rows[cell] - want) < 1e-6);
            max_step = fmax(max_step, fabs(want - t));
        }
    }
    assert_true(max_step > 1e-3); /* the tolerance above is far below the steps */
    for (size_t cell = 0; cell < cells; cell++)
        if (!touched[cell / stride]) {
            assert_true(mv.rows[cell] == p0[cell]);
            assert_true(mv.acc[cell] == g0[cell]);
        }
    free(p0);
    free(g0);
    rec_fm_free(m);
}

/* ---- pairs across groups only ------------------------------------------------------------ */

static struct rec_fm *new_grouped(int bits, int k, double init_sd, uint64_t seed)
{
    struct rec_fm_config c;
    rec_fm_config_default(&c);
    c.bits = bits;
    c.k = k;
    c.lr = 0.2;
    c.l2_w = 1e-2;
    c.l2_v = 2e-2;
    c.init_sd = init_sd;
    c.seed = seed;
    c.across_groups = 1;
    struct rec_fm *m = NULL;
    assert_int_equal(rec_fm_new(&c, &m), REC_OK);
    return m;
}

static int has_factors(uint32_t index) { return !(index & REC_FM_LINEAR); }

static int crosses(uint32_t a, uint32_t b)
{
    return has_factors(a) && has_factors(b) && REC_FM_GROUP_OF(a) != REC_FM_GROUP_OF(b);
}

/* w0 + sum_i w_i x_i + sum_{i<j, groups differ} <v_i, v_j> x_i x_j, pair by pair. */
static double naive_grouped_logit(const struct rec_fm *m, const struct rec_fm_feature *x, int n)
{
    struct rec_fm_view mv;
    rec_fm_params(m, &mv);
    uint32_t mask = mv.n_slots - 1;
    double z = mv.w0;
    for (int i = 0; i < n; i++) {
        const float *ri = mv.rows + (size_t)(x[i].index & mask) * mv.stride;
        z += (double)ri[0] * x[i].value;
        for (int j = i + 1; j < n; j++) {
            if (!crosses(x[i].index, x[j].index))
                continue;
            const float *rj = mv.rows + (size_t)(x[j].index & mask) * mv.stride;
            double d = 0;
            for (int f = 1; f < mv.stride; f++)
                d += (double)ri[f] * rj[f];
            z += d * x[i].value * x[j].value;
        }
    }
    return z;
}

/* A random example with a random group per position. */
static int random_grouped_x(uint64_t *st, struct rec_fm_feature *x, int max_n, int n_slots)
{
    int n = random_x(st, x, max_n, n_slots);
    for (int i = 0; i < n; i++)
        x[i].index |= REC_FM_GROUP(below(st, REC_FM_GROUPS));
    return n;
}

static void test_across_groups_predict_matches_formula(void **state)
{
    struct rec_fm *m = new_grouped(12, 8, 0.3, 7);
    uint64_t st = 5;
    struct rec_fm_feature x[16];
    for (int t = 0; t < 500; t++) {
        int n = random_grouped_x(&st, x, 12, 64);
        rec_fm_learn(m, x, n, below(&st, 2), 1.0);
    }
    int interacting = 0, same_group_dropped = 0;
    for (int t = 0; t < 300; t++) {
        int n = random_grouped_x(&st, x, 16, 64);
        if (n >= 2 && t % 3 == 0) /* one slot in two groups (a hash collision across fields) */
            x[n - 1].index = (x[0].index & ~REC_FM_GROUP(3)) | REC_FM_GROUP(REC_FM_GROUP_OF(x[0].index) + 1);
        if (t % 4 == 0)
            x[n - 1].index |= REC_FM_LINEAR;
        double z = naive_grouped_logit(m, x, n);
        assert_true(fabs(rec_fm_predict(m, x, n) - 1.0 / (1.0 + exp(-z))) < 1e-6);
        interacting += fabs(z - naive_logit(m, x, n, 0)) > 0.1;
        same_group_dropped += fabs(z - naive_logit(m, x, n, 1)) > 0.1;
    }
    assert_true(interacting > 150);        /* cross-group pairs count */
    assert_true(same_group_dropped > 150); /* and within-group pairs do not */
    /* one group only: no pairs at all, the linear part alone */
    for (int i = 0; i < 6; i++)
        x[i] = (struct rec_fm_feature){(uint32_t)(3 * i + 1) | REC_FM_GROUP(2), 1.0f};
    assert_true(fabs(rec_fm_predict(m, x, 6) - 1.0 / (1.0 + exp(-naive_logit(m, x, 6, 0)))) < 1e-6);
    /* a model without across_groups ignores the group bits */
    struct rec_fm *plain = new_model(12, 8, 0.2, 0.3, 7);
    for (int t = 0; t < 50; t++) {
        int n = random_grouped_x(&st, x, 16, 64);
        assert_true(fabs(rec_fm_predict(plain, x, n) - 1.0 / (1.0 + exp(-naive_logit(plain, x, n, 1)))) < 1e-6);
    }
    rec_fm_free(plain);
    rec_fm_free(m);
}

/* One step with across_groups: AdaGrad on dz/dv_af = sum over positions q of slot a of
 * x_q sum_{j in another group} v_jf x_j, plus L2; a slot at positions of two groups included. */
static void test_across_groups_step_is_exact(void **state)
{
    struct rec_fm *m = new_grouped(10, 4, 0.3, 3);
    struct rec_fm_config c;
    rec_fm_get_config(m, &c);
    uint64_t st = 33;
    struct rec_fm_feature x[8];
    for (int t = 0; t < 300; t++) {
        int n = random_grouped_x(&st, x, 8, 32);
        rec_fm_learn(m, x, n, below(&st, 2), 1.0);
    }
    struct rec_fm_view mv;
    rec_fm_params(m, &mv);
    const int stride = mv.stride, k = stride - 1;
    const uint32_t mask = mv.n_slots - 1;
    size_t cells = (size_t)mv.n_slots * stride;
    float *p0 = malloc(cells * sizeof *p0), *g0 = malloc(cells * sizeof *g0);
    assert_non_null(p0);
    assert_non_null(g0);
    memcpy(p0, mv.rows, cells * sizeof *p0);
    memcpy(g0, mv.acc, cells * sizeof *g0);
    /* slot 3 in groups 0 and 1; 7 twice in group 2; 9 in group 1; 12 linear-only; 20 group 0 */
    const uint32_t idx[7] = {3 | REC_FM_GROUP(0), 7 | REC_FM_GROUP(2), 3 | REC_FM_GROUP(1),
                             9 | REC_FM_GROUP(1), 12 | REC_FM_LINEAR, 20 | REC_FM_GROUP(0),
                             7 | REC_FM_GROUP(2)};
    int n = 7;
    for (int i = 0; i < n; i++)
        x[i] = (struct rec_fm_feature){idx[i], (float)(0.2 + unif(&st))};
    double p = rec_fm_learn(m, x, n, 0, 1.0), e = p;
    rec_fm_params(m, &mv);
    char touched[1024] = {0};
    double max_step = 0;
    for (int i = 0; i < n; i++) {
        uint32_t a = x[i].index & mask;
        if (touched[a])
            continue;
        touched[a] = 1;
        for (int f = 0; f <= k; f++) {
            double dz = 0;
            int factors = 0;
            for (int q = 0; q < n; q++) {
                if ((x[q].index & mask) != a)
                    continue;
                if (f == 0) {
                    dz += x[q].value;
                    continue;
                }
                if (!has_factors(x[q].index))
                    continue;
                factors = 1;
                for (int j = 0; j < n; j++)
                    if (j != q && crosses(x[q].index, x[j].index))
                        dz += (double)x[q].value * x[j].value * p0[(size_t)(x[j].index & mask) * stride + f];
            }
            size_t cell = (size_t)a * stride + f;
            if (f > 0 && !factors) {
                assert_true(mv.rows[cell] == p0[cell]);
                continue;
            }
            double t = p0[cell], g = e * dz + (f ? c.l2_v : c.l2_w) * t;
            double G = g0[cell] + g * g, want = t - c.lr * g / sqrt(G);
            assert_true(fabs(mv.acc[cell] - G) < 1e-5 * G);
            assert_true(fabs(mv.rows[cell] - want) < 1e-6);
            max_step = fmax(max_step, fabs(want - t));
        }
    }
    assert_true(max_step > 1e-3);
    free(p0);
    free(g0);
    rec_fm_free(m);
}

/* ---- what LR and the FM learn --------------------------------------------------------------- */

#define LR_FIELDS 10
#define LR_VALUES 5

/* A linearly separable example: one of 5 values per field, label = the sign of a hidden
 * additive score, with a margin. Returns the label. */
static int separable_x(uint64_t *st, const double hidden[LR_FIELDS][LR_VALUES],
                       struct rec_fm_feature *x, int bits)
{
    for (;;) {
        double s = 0;
        for (int f = 0; f < LR_FIELDS; f++) {
            int v = below(st, LR_VALUES);
            char field[8], value[8];
            snprintf(field, sizeof field, "f%d", f);
            snprintf(value, sizeof value, "%d", v);
            x[f] = (struct rec_fm_feature){rec_fm_hash(field, value, bits), 1.0f};
            s += hidden[f][v];
        }
        if (fabs(s) >= 0.3)
            return s > 0;
    }
}

static void test_lr_learns_separable(void **state)
{
    const int bits = 16;
    double hidden[LR_FIELDS][LR_VALUES];
    uint64_t st = 11;
    for (int f = 0; f < LR_FIELDS; f++)
        for (int v = 0; v < LR_VALUES; v++)
            hidden[f][v] = 2 * unif(&st) - 1;
    struct rec_fm *m = new_model(bits, 0, 0.05, 0.01, 42);
    struct rec_fm_feature x[LR_FIELDS];
    for (int t = 0; t < 50000; t++) {
        int y = separable_x(&st, hidden, x, bits);
        rec_fm_learn(m, x, LR_FIELDS, y, 1.0);
    }
    assert_int_equal(rec_fm_examples(m), 50000);
    enum { N_TEST = 3000 };
    static struct scored v[N_TEST];
    for (int t = 0; t < N_TEST; t++) {
        v[t].y = separable_x(&st, hidden, x, bits);
        v[t].s = rec_fm_predict(m, x, LR_FIELDS);
    }
    double auc = exact_auc(v, N_TEST);
    print_message("LR on a separable problem: held-out AUC %.6f\n", auc);
    assert_true(auc == 1.0);
    rec_fm_free(m);
}

#define XV 20 /* values per field */

/* Trains on label = (A == B) with 25% of the off-diagonal pairs held out, and returns the exact
 * AUC over all 20 positive pairs and the held-out negative pairs. */
static double xor_auc(int k)
{
    const int bits = 16;
    uint32_t ha[XV], hb[XV];
    for (int i = 0; i < XV; i++) {
        char value[8];
        snprintf(value, sizeof value, "%d", i);
        ha[i] = rec_fm_hash("A", value, bits);
        hb[i] = rec_fm_hash("B", value, bits);
    }
    uint64_t st = 5;
    int held[XV][XV] = {{0}}, n_held = 0;
    while (n_held < XV * (XV - 1) / 4) {
        int a = below(&st, XV), b = below(&st, XV);
        if (a != b && !held[a][b]) {
            held[a][b] = 1;
            n_held++;
        }
    }
    struct rec_fm *m = new_model(bits, k, 0.05, 0.01, 42);
    struct rec_fm_feature x[2];
    for (int t = 0; t < 100000; t++) {
        int a = below(&st, XV), b = a;
        if (t % 2) /* half positives, half training negatives */
            do
                b = below(&st, XV);
            while (b == a || held[a][b]);
        x[0] = (struct rec_fm_feature){ha[a], 1.0f};
        x[1] = (struct rec_fm_feature){hb[b], 1.0f};
        rec_fm_learn(m, x, 2, a == b, 1.0);
    }
    struct scored v[XV * XV];
    int n = 0;
    for (int a = 0; a < XV; a++)
        for (int b = 0; b < XV; b++)
            if (a == b || held[a][b]) {
                x[0] = (struct rec_fm_feature){ha[a], 1.0f};
                x[1] = (struct rec_fm_feature){hb[b], 1.0f};
                v[n++] = (struct scored){rec_fm_predict(m, x, 2), a == b};
            }
    rec_fm_free(m);
    return exact_auc(v, n);
}

static void test_fm_learns_interaction_lr_cannot(void **state)
{
    double fm = xor_auc(8), lr = xor_auc(0);
    print_message("A == B on held-out pairs: FM AUC %.4f, LR AUC %.4f\n", fm, lr);
    assert_true(fm > 0.95);
    assert_true(lr < 0.65);
}

/* ---- progressive validation and weights ----------------------------------------------------- */

static void test_learn_returns_prediction_before_step(void **state)
{
    struct rec_fm *m = new_model(12, 8, 0.05, 0.01, 42);
    uint64_t st = 3;
    struct rec_fm_feature x[8];
    for (int t = 0; t < 200; t++) {
        int n = random_x(&st, x, 8, 1000);
        int y = below(&st, 2);
        double before = rec_fm_predict(m, x, n);
        double got = rec_fm_learn(m, x, n, y, 1.0);
        double after = rec_fm_predict(m, x, n);
        assert_true(got == before);
        /* the step moves this example's prediction towards its label */
        assert_true(y ? after > before : after < before);
    }
    assert_int_equal(rec_fm_examples(m), 200);
    /* no step for weight 0, a negative or a non-finite weight */
    int n = random_x(&st, x, 8, 1000);
    double p = rec_fm_predict(m, x, n);
    assert_true(rec_fm_learn(m, x, n, 1, 0.0) == p);
    assert_true(rec_fm_learn(m, x, n, 1, -1.0) == p);
    assert_true(rec_fm_learn(m, x, n, 1, NAN) == p);
    assert_true(rec_fm_predict(m, x, n) == p);
    assert_int_equal(rec_fm_examples(m), 200);
    /* a heavier example moves further */
    struct rec_fm *a = NULL, *b = NULL;
    assert_int_equal(rec_fm_clone(m, &a), REC_OK);
    assert_int_equal(rec_fm_clone(m, &b), REC_OK);
    rec_fm_learn(a, x, n, 1, 1.0);
    rec_fm_learn(b, x, n, 1, 4.0);
    assert_true(rec_fm_predict(b, x, n) > rec_fm_predict(a, x, n));
    rec_fm_free(a);
    rec_fm_free(b);
    rec_fm_free(m);
}

/* A repeated slot learns from the summed gradient: [(s, 0.5), (s, 0.5)] and [(s, 1)] give the
 * same linear model (k = 0) step for step. */
static void test_duplicates_sum(void **state)
{
    struct rec_fm *a = new_model(10, 0, 0.05, 0.01, 1), *b = new_model(10, 0, 0.05, 0.01, 1);
    struct rec_fm_feature two[3] = {{7, 0.5f}, {9, 1.0f}, {7, 0.5f}}, one[2] = {{7, 1.0f}, {9, 1.0f}};
    for (int t = 0; t < 50; t++) {
        assert_true(fabs(rec_fm_learn(a, two, 3, t % 3 == 0, 1.0) -
                         rec_fm_learn(b, one, 2, t % 3 == 0, 1.0)) < 1e-12);
    }
    rec_fm_free(a);
    rec_fm_free(b);
}

/* ---- persistence, clone, determinism --------------------------------------------------------- */

static struct rec_fm *trained(uint64_t seed, int bits, int k, int steps)
{
    struct rec_fm *m = new_model(bits, k, 0.05, 0.01, seed);
    uint64_t st = 99;
    struct rec_fm_feature x[8];
    for (int t = 0; t < steps; t++) {
        int n = random_x(&st, x, 8, 1 << bits);
        rec_fm_learn(m, x, n, below(&st, 2), 1.0);
    }
    return m;
}

/* Same predictions bit for bit on random inputs, and after the same further learning. */
static void assert_same_model(struct rec_fm *a, struct rec_fm *b, int bits)
{
    uint64_t st = 1234;
    struct rec_fm_feature x[8];
    assert_int_equal(rec_fm_examples(a), rec_fm_examples(b));
    for (int t = 0; t < 200; t++) {
        int n = random_x(&st, x, 8, 1 << bits);
        assert_true(rec_fm_predict(a, x, n) == rec_fm_predict(b, x, n));
    }
    for (int t = 0; t < 200; t++) {
        int n = random_x(&st, x, 8, 1 << bits);
        int y = below(&st, 2);
        assert_true(rec_fm_learn(a, x, n, y, 1.0) == rec_fm_learn(b, x, n, y, 1.0));
    }
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_fm.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Field by field: the struct has padding. */
static void assert_same_config(const struct rec_fm_config *a, const struct rec_fm_config *b)
{
    assert_int_equal(a->bits, b->bits);
    assert_int_equal(a->k, b->k);
    assert_true(a->lr == b->lr && a->l2_w == b->l2_w && a->l2_v == b->l2_v);
    assert_true(a->init_sd == b->init_sd);
    assert_true(a->seed == b->seed);
    assert_int_equal(a->across_groups, b->across_groups);
}

static void test_save_load_round_trip(void **state)
{
    struct rec_fm *m = trained(42, 12, 8, 2000), *l = NULL;
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/fm.bin", tmpdir);
    assert_int_equal(rec_fm_save(m, path, err, sizeof err), REC_OK);
    assert_int_equal(rec_fm_load(path, &l, err, sizeof err), REC_OK);
    struct rec_fm_config cm, cl;
    rec_fm_get_config(m, &cm);
    rec_fm_get_config(l, &cl);
    assert_same_config(&cm, &cl);
    assert_same_model(m, l, 12);
    rec_fm_free(l);
    /* logistic regression too; overwriting an existing file */
    rec_fm_free(m);
    m = trained(42, 10, 0, 500);
    assert_int_equal(rec_fm_save(m, path, err, sizeof err), REC_OK);
    assert_int_equal(rec_fm_load(path, &l, err, sizeof err), REC_OK);
    assert_same_model(m, l, 10);
    rec_fm_free(l);
    rec_fm_free(m);
    /* a model with pairs across groups only keeps that setting */
    m = new_grouped(11, 4, 0.1, 9);
    uint64_t st = 8;
    struct rec_fm_feature x[8];
    for (int t = 0; t < 300; t++) {
        int n = random_grouped_x(&st, x, 8, 1 << 11);
        rec_fm_learn(m, x, n, below(&st, 2), 1.0);
    }
    assert_int_equal(rec_fm_save(m, path, err, sizeof err), REC_OK);
    assert_int_equal(rec_fm_load(path, &l, err, sizeof err), REC_OK);
    rec_fm_get_config(l, &cl);
    assert_int_equal(cl.across_groups, 1);
    assert_same_model(m, l, 11);
    rec_fm_free(l);
    rec_fm_free(m);
    /* no temporary files left behind */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* A file in format version 1 (before across_groups), written field by field as fm.c wrote it:
 * it loads as a model with all pairs, with the same parameters. */
static void test_version_1_file_loads(void **state)
{
    struct rec_fm *m = trained(42, 10, 4, 500), *l = NULL;
    struct rec_fm_config c;
    rec_fm_get_config(m, &c);
    struct rec_fm_view mv;
    rec_fm_params(m, &mv);
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/v1.bin", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const char magic[8] = {'R', 'E', 'C', 'D', 'F', 'M', '_', '1'};
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, magic, 1);
    rec_binw_i32(&w, c.bits);
    rec_binw_i32(&w, c.k);
    rec_binw_f64(&w, c.lr);
    rec_binw_f64(&w, c.l2_w);
    rec_binw_f64(&w, c.l2_v);
    rec_binw_f64(&w, c.init_sd);
    rec_binw_u64(&w, c.seed);
    rec_binw_u64(&w, (uint64_t)rec_fm_examples(m));
    rec_binw_f64(&w, mv.w0);
    rec_binw_f64(&w, mv.g0);
    rec_binw_f32s(&w, mv.rows, (size_t)mv.n_slots * mv.stride);
    rec_binw_f32s(&w, mv.acc, (size_t)mv.n_slots * mv.stride);
    assert_int_equal(rec_binw_finish(&w), REC_OK);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rec_fm_load(path, &l, err, sizeof err), REC_OK);
    struct rec_fm_config cl;
    rec_fm_get_config(l, &cl);
    assert_int_equal(cl.across_groups, 0);
    assert_same_model(m, l, 10);
    rec_fm_free(l);
    rec_fm_free(m);
}

static void assert_bad_file(const char *path)
{
    struct rec_fm *l = (struct rec_fm *)1;
    char err[256] = "";
    assert_int_equal(rec_fm_load(path, &l, err, sizeof err), REC_EFORMAT);
    assert_null(l);
    assert_true(strlen(err) > 0);
}

static void test_corrupted_file_fails(void **state)
{
    struct rec_fm *m = trained(42, 10, 4, 300);
    char path[128], bad[128], err[256];
    snprintf(path, sizeof path, "%s/good.bin", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.bin", tmpdir);
    assert_int_equal(rec_fm_save(m, path, err, sizeof err), REC_OK);
    rec_fm_free(m);
    long n;
    unsigned char *b = read_all(path, &n);
    /* one flipped byte anywhere: magic, config, counters, parameters, checksum */
    int tried = 0;
    for (long at = 0; at < n; at += at < 128 ? 7 : 1009) {
        b[at] ^= 0x10;
        write_all(bad, b, n);
        assert_bad_file(bad);
        b[at] ^= 0x10;
        tried++;
    }
    b[n - 1] ^= 0x01;
    write_all(bad, b, n);
    assert_bad_file(bad);
    b[n - 1] ^= 0x01;
    assert_true(tried > 30);
    /* truncated (in the body, and just before the checksum), or with bytes after it */
    write_all(bad, b, n / 2);
    assert_bad_file(bad);
    write_all(bad, b, n - 8);
    assert_bad_file(bad);
    write_all(bad, b, 0);
    assert_bad_file(bad);
    b[n] = 0;
    write_all(bad, b, n + 1);
    assert_bad_file(bad);
    /* the intact bytes still load; a missing file is not found */
    write_all(bad, b, n);
    struct rec_fm *l = NULL;
    assert_int_equal(rec_fm_load(bad, &l, err, sizeof err), REC_OK);
    rec_fm_free(l);
    snprintf(bad, sizeof bad, "%s/missing.bin", tmpdir);
    assert_int_equal(rec_fm_load(bad, &l, err, sizeof err), REC_ENOTFOUND);
    assert_null(l);
    free(b);
}

/* A model inside a larger file: read back exactly, the bytes after it left for the caller. */
static void test_write_read_in_a_stream(void **state)
{
    struct rec_fm *m = trained(42, 11, 4, 800), *l = NULL;
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/stream.bin", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("head", f);
    assert_int_equal(rec_fm_write(m, f), REC_OK);
    fputs("tail", f);
    fclose(f);
    f = fopen(path, "rb");
    char b[5] = "";
    assert_int_equal(fread(b, 1, 4, f), 4);
    assert_int_equal(rec_fm_read(f, &l, err, sizeof err), REC_OK);
    assert_int_equal(fread(b, 1, 4, f), 4);
    assert_string_equal(b, "tail");
    fclose(f);
    assert_same_model(m, l, 11);
    rec_fm_free(l);
    /* cut inside the model: damage, named without a path */
    f = fopen(path, "rb");
    assert_int_equal(fread(b, 1, 4, f), 4);
    FILE *cut = tmpfile();
    char buf[4096];
    for (int k = 0; k < 3; k++)
        fwrite(buf, 1, fread(buf, 1, sizeof buf, f), cut);
    fclose(f);
    rewind(cut);
    l = (struct rec_fm *)1;
    assert_int_equal(rec_fm_read(cut, &l, err, sizeof err), REC_EFORMAT);
    assert_null(l);
    assert_non_null(strstr(err, "truncated"));
    fclose(cut);
    unlink(path);
    rec_fm_free(m);
}

/* A reset slot adds nothing to a prediction; the other slots are untouched, and it learns again. */
static void test_reset_slot(void **state)
{
    struct rec_fm *m = trained(42, 10, 4, 3000), *before = NULL;
    assert_int_equal(rec_fm_clone(m, &before), REC_OK);
    struct rec_fm_view v;
    rec_fm_params(m, &v);
    uint32_t slot = 77;
    struct rec_fm_feature x[2] = {{slot, 1.0f}, {3, 1.0f}}, y[1] = {{3, 1.0f}};
    assert_true(rec_fm_predict(m, x, 2) != rec_fm_predict(m, y, 1));
    rec_fm_reset_slot(m, slot + (1u << 10)); /* reduced to the low bits, as a feature's index */
    for (int f = 0; f < v.stride; f++) {
        assert_true(v.rows[slot * v.stride + f] == 0.0f);
        assert_true(v.acc[slot * v.stride + f] == 0.0f);
    }
    assert_true(rec_fm_predict(m, x, 2) == rec_fm_predict(m, y, 1));
    struct rec_fm_view b;
    rec_fm_params(before, &b);
    for (uint32_t a = 0; a < v.n_slots; a++)
        if (a != slot)
            assert_memory_equal(v.rows + a * v.stride, b.rows + a * b.stride,
                                (size_t)v.stride * sizeof(float));
    rec_fm_learn(m, x, 2, 1, 1.0);
    assert_true(v.rows[slot * v.stride] != 0.0f);
    rec_fm_reset_slot(NULL, 0);
    rec_fm_free(before);
    rec_fm_free(m);
}

static void test_clone_is_independent(void **state)
{
    struct rec_fm *m = trained(42, 12, 8, 1000), *c = NULL;
    assert_int_equal(rec_fm_clone(m, &c), REC_OK);
    struct rec_fm_feature x[8];
    uint64_t st = 8;
    int n = random_x(&st, x, 8, 1 << 12);
    double p = rec_fm_predict(c, x, n);
    assert_true(rec_fm_predict(m, x, n) == p);
    for (int t = 0; t < 20; t++)
        rec_fm_learn(m, x, n, 1, 1.0);
    assert_true(rec_fm_predict(c, x, n) == p);
    assert_true(rec_fm_predict(m, x, n) > p);
    assert_int_equal(rec_fm_examples(c), 1000);
    assert_int_equal(rec_fm_examples(m), 1020);
    rec_fm_free(c);
    rec_fm_free(m);
}

static void test_deterministic_given_seed(void **state)
{
    struct rec_fm *a = trained(42, 14, 8, 3000), *b = trained(42, 14, 8, 3000);
    assert_same_model(a, b, 14);
    /* and the seed matters */
    struct rec_fm *c = trained(43, 14, 8, 3000);
    uint64_t st = 77;
    struct rec_fm_feature x[8];
    int differ = 0;
    for (int t = 0; t < 100; t++) {
        int n = random_x(&st, x, 8, 1 << 14);
        differ += rec_fm_predict(a, x, n) != rec_fm_predict(c, x, n);
    }
    assert_true(differ > 90);
    rec_fm_free(a);
    rec_fm_free(b);
    rec_fm_free(c);
}

/* ---- config and hash ------------------------------------------------------------------------ */

static void test_config_checked(void **state)
{
    struct rec_fm_config c;
    rec_fm_config_default(&c);
    assert_int_equal(c.bits, 20);
    assert_int_equal(c.k, 8);
    assert_null(rec_fm_config_check(&c));
    assert_int_equal(c.across_groups, 0);
    struct rec_fm_config bad[10];
    for (int i = 0; i < 10; i++)
        bad[i] = c;
    bad[0].bits = 9;
    bad[1].bits = 27;
    bad[2].k = -1;
    bad[3].k = REC_FM_K_MAX + 1;
    bad[4].lr = 0;
    bad[5].lr = NAN;
    bad[6].l2_v = -1e-6;
    bad[7].init_sd = INFINITY;
    bad[8].across_groups = 2;
    bad[9].across_groups = -1;
    for (int i = 0; i < 10; i++) {
        struct rec_fm *m = (struct rec_fm *)1;
        assert_non_null(rec_fm_config_check(&bad[i]));
        assert_int_equal(rec_fm_new(&bad[i], &m), REC_EINVAL);
        assert_null(m);
    }
    struct rec_fm *m = NULL;
    assert_int_equal(rec_fm_new(NULL, &m), REC_EINVAL);
    rec_fm_free(NULL);
}

static void test_hash_is_stable(void **state)
{
    /* values from an independent implementation (Python) of FNV-1a 64 + splitmix64 finaliser */
    assert_int_equal(rec_fm_hash("item", "i42", 20), 0x251f2);
    assert_int_equal(rec_fm_hash("daypart*category", "evening*news", 20), 0xb5);
    assert_int_equal(rec_fm_hash("", "", 10), 0x97);
    assert_int_equal(rec_fm_hash(NULL, NULL, 10), 0x97);
    assert_int_equal(rec_fm_hash("user", "u1", 32), 0x6bafe557);
    /* the separator keeps ("ab", "c") and ("a", "bc") apart */
    assert_int_not_equal(rec_fm_hash("ab", "c", 26), rec_fm_hash("a", "bc", 26));
    for (int bits = 10; bits <= 26; bits++)
        assert_true(rec_fm_hash("user", "u1", bits) < (1u << bits));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict_matches_naive_formula),
        cmocka_unit_test(test_step_is_adagrad_on_exact_gradient),
        cmocka_unit_test(test_across_groups_predict_matches_formula),
        cmocka_unit_test(test_across_groups_step_is_exact),
        cmocka_unit_test(test_lr_learns_separable),
        cmocka_unit_test(test_fm_learns_interaction_lr_cannot),
        cmocka_unit_test(test_learn_returns_prediction_before_step),
        cmocka_unit_test(test_duplicates_sum),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_version_1_file_loads),
        cmocka_unit_test(test_corrupted_file_fails),
        cmocka_unit_test(test_write_read_in_a_stream),
        cmocka_unit_test(test_reset_slot),
        cmocka_unit_test(test_clone_is_independent),
        cmocka_unit_test(test_deterministic_given_seed),
        cmocka_unit_test(test_config_checked),
        cmocka_unit_test(test_hash_is_stable),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
