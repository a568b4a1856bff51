/* test_split.c: per-user random split, global temporal split, leave-last-N-out and k-fold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eval/split.h"

#define N_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int64_t rng_below(uint64_t *s, int64_t n)
{
    return (int64_t)(rng_next(s) % (uint64_t)n);
}

/* n_users users; user u has counts[u] rows with distinct items (so every row is unique),
 * random timestamps with ties, rows interleaved in a random order. Returns the row count. */
static int64_t make_log(struct rec_interaction *x, const int *counts, int n_users, uint64_t seed)
{
    uint64_t s = seed;
    int64_t n = 0;
    for (int u = 0; u < n_users; u++)
        for (int j = 0; j < counts[u]; j++)
            x[n++] = (struct rec_interaction){.user = u, .item = 1000 + j,
                                              .value = 1.0f + (float)(j % 5),
                                              .ts = 1700000000 + rng_below(&s, 50)};
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rng_below(&s, i + 1);
        struct rec_interaction t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    return n;
}

/* Train rows of user u according to is_test. */
static int64_t n_train_of(const struct rec_interaction *x, const uint8_t *is_test, int64_t n,
                          int32_t u)
{
    int64_t c = 0;
    for (int64_t j = 0; j < n; j++)
        c += x[j].user == u && !is_test[j];
    return c;
}

/* round(ratio * n_u), ties to even as Python's round(): the count evalkit split trains. */
static void test_random_ratio_per_user(void **state)
{
    static const struct {
        double ratio;
        int n_u, n_train;
    } cases[] = {
        {0.8, 10, 8}, {0.8, 4, 3}, {0.8, 3, 2}, {0.8, 1, 1}, {0.8, 2, 2}, /* 3.2, 2.4, .8, 1.6 */
        {0.5, 1, 0},  {0.5, 3, 2}, {0.5, 5, 2}, {0.5, 7, 4}, {0.5, 8, 4}, /* .5, 1.5, 2.5, 3.5 */
        {0.75, 2, 2}, {0.75, 6, 4}, {0.75, 7, 5},                         /* 1.5, 4.5, 5.25 */
        {0.0, 5, 0},  {1.0, 5, 5}, {0.25, 37, 9},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        /* Two users with the same count, so the split is checked per user, not globally. */
        int counts[2] = {cases[c].n_u, cases[c].n_u};
        struct rec_interaction x[80];
        uint8_t is_test[80];
        int64_t n = make_log(x, counts, 2, 7 + c);
        memset(is_test, 0xAA, sizeof is_test);
        assert_int_equal(rec_split_random(x, n, cases[c].ratio, 42, is_test), 0);
        for (int64_t j = 0; j < n; j++)
            assert_true(is_test[j] == 0 || is_test[j] == 1);
        for (int32_t u = 0; u < 2; u++) {
            int64_t got = n_train_of(x, is_test, n, u);
            if (got != cases[c].n_train)
                fail_msg("ratio %g, n_u %d: %lld train rows, want %d", cases[c].ratio,
                         cases[c].n_u, (long long)got, cases[c].n_train);
        }
    }
}

static void test_random_deterministic(void **state)
{
    enum { USERS = 200 };
    int counts[USERS];
    for (int u = 0; u < USERS; u++)
        counts[u] = 1 + u % 23;
    static struct rec_interaction x[USERS * 23];
    static uint8_t a[USERS * 23], b[USERS * 23], c[USERS * 23];
    int64_t n = make_log(x, counts, USERS, 99);
    assert_int_equal(rec_split_random(x, n, 0.7, 12345, a), 0);
    assert_int_equal(rec_split_random(x, n, 0.7, 12345, b), 0);
    assert_memory_equal(a, b, (size_t)n);
    /* Another seed picks other rows (same counts): with ~2400 rows, an equal split would mean
     * the seed is ignored. */
    assert_int_equal(rec_split_random(x, n, 0.7, 12346, c), 0);
    int64_t differ = 0, ta = 0, tc = 0;
    for (int64_t j = 0; j < n; j++) {
        differ += a[j] != c[j];
        ta += a[j];
        tc += c[j];
    }
    assert_int_equal(ta, tc);
    assert_true(differ > n / 10);
}

/* Shuffling the input rows gives the same split of every row; so does adding other users. */
static void test_random_invariant_to_input_order(void **state)
{
    enum { USERS = 150, MAX = 30, CAP = USERS * MAX + 40 };
    int counts[USERS + 1];
    for (int u = 0; u < USERS; u++)
        counts[u] = 1 + (u * 13) % MAX;
    static struct rec_interaction x[CAP], y[CAP], z[CAP];
    static uint8_t tx[CAP], ty[CAP], tz[CAP];
    static int64_t perm[CAP];
    int64_t n = make_log(x, counts, USERS, 5);
    assert_int_equal(rec_split_random(x, n, 0.6, 777, tx), 0);

    /* y[i] = x[perm[i]] for a random permutation; also the reverse order. */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t s = 31 + (uint64_t)pass;
        for (int64_t i = 0; i < n; i++)
            perm[i] = pass ? n - 1 - i : i;
        if (!pass)
            for (int64_t i = n - 1; i > 0; i--) {
                int64_t j = rng_below(&s, i + 1), t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
        for (int64_t i = 0; i < n; i++)
            y[i] = x[perm[i]];
        assert_int_equal(rec_split_random(y, n, 0.6, 777, ty), 0);
        for (int64_t i = 0; i < n; i++)
            if (ty[i] != tx[perm[i]])
                fail_msg("pass %d: row (user %d, item %d) moved from %lld to %lld changed side",
                         pass, (int)y[i].user, (int)y[i].item, (long long)perm[i], (long long)i);
    }

    /* Other users' rows do not matter either: drop users 0 and 7 (a stream carried from user
     * to user would shift), add a new user in front, and every remaining row keeps its side. */
    int64_t extra = 40, m = 0;
    for (int64_t i = 0; i < extra; i++)
        z[m++] = (struct rec_interaction){.user = USERS, .item = (int32_t)i, .value = 1.0f,
                                          .ts = 1700000000 + i % 3};
    for (int64_t i = 0; i < n; i++)
        if (x[i].user != 0 && x[i].user != 7) {
            perm[m] = i;
            z[m++] = x[i];
        }
    assert_int_equal(rec_split_random(z, m, 0.6, 777, tz), 0);
    for (int64_t i = extra; i < m; i++)
        if (tz[i] != tx[perm[i]])
            fail_msg("row (user %d, item %d) changed side when other users changed",
                     (int)z[i].user, (int)z[i].item);
}

/* The choice is random, not a fixed position: across many users with 10 rows each and ratio
 * 0.5, every position in (ts, item) order is held out about half the time. A split that always
 * held out the latest rows, or a biased shuffle, lands far outside the band. */
static void test_random_positions_uniform(void **state)
{
    enum { USERS = 4000, PER = 10 };
    static struct rec_interaction x[USERS * PER];
    static uint8_t t[USERS * PER];
    int64_t n = 0;
    for (int u = 0; u < USERS; u++)
        for (int j = 0; j < PER; j++) /* position j in canonical order: ts increases with j */
            x[n++] = (struct rec_interaction){.user = u, .item = 50 - j, .value = 1.0f,
                                              .ts = 1000 + j};
    assert_int_equal(rec_split_random(x, n, 0.5, 2024, t), 0);
    for (int j = 0; j < PER; j++) {
        int held = 0;
        for (int u = 0; u < USERS; u++)
            held += t[u * PER + j];
        /* Binomial(4000, 0.5): sd ~ 31.6, so +-200 is over 6 sd. */
        if (held < 1800 || held > 2200)
            fail_msg("position %d held out for %d of %d users", j, held, USERS);
    }
}

/* Global temporal split: earliest floor(ratio * n) rows by ts train, equal ts in input order. */
static void test_temporal_boundary(void **state)
{
    static const int64_t ts[10] = {5, 1, 3, 3, 3, 9, 3, 2, 8, 7};
    struct rec_interaction x[10];
    for (int i = 0; i < 10; i++)
        x[i] = (struct rec_interaction){.user = i % 3, .item = i, .value = 1.0f, .ts = ts[i]};
    /* By ts, ties by position: idx 1(1) 7(2) 2(3) 3(3) 4(3) 6(3) 0(5) 9(7) 8(8) 5(9). */
    uint8_t t[10];
    assert_int_equal(rec_split_temporal(x, 10, 0.7, t), 0); /* 7 train */
    static const uint8_t want7[10] = {0, 0, 0, 0, 0, 1, 0, 0, 1, 1};
    assert_memory_equal(t, want7, 10);
    /* The cut at 5 falls inside the ts = 3 group: idx 2, 3, 4 train, the later idx 6 tests. */
    assert_int_equal(rec_split_temporal(x, 10, 0.5, t), 0);
    static const uint8_t want5[10] = {1, 0, 0, 0, 0, 1, 1, 0, 1, 1};
    assert_memory_equal(t, want5, 10);
    /* floor: 0.75 * 10 = 7.5 trains 7. */
    assert_int_equal(rec_split_temporal(x, 10, 0.75, t), 0);
    assert_memory_equal(t, want7, 10);
    assert_int_equal(rec_split_temporal(x, 10, 0.0, t), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(t[i], 1);
    assert_int_equal(rec_split_temporal(x, 10, 1.0, t), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(t[i], 0);
}

/* On a larger shuffled log: count is floor(ratio * n) and no training row is newer than a test
 * row. */
static void test_temporal_random_log(void **state)
{
    enum { USERS = 300 };
    int counts[USERS];
    for (int u = 0; u < USERS; u++)
        counts[u] = 1 + u % 17;
    static struct rec_interaction x[USERS * 17];
    static uint8_t t[USERS * 17];
    int64_t n = make_log(x, counts, USERS, 11);
    const double ratios[] = {0.1, 0.33, 0.8, 0.999};
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
        assert_int_equal(rec_split_temporal(x, n, ratios[r], t), 0);
        int64_t n_train = 0, max_train = INT64_MIN, min_test = INT64_MAX;
        for (int64_t j = 0; j < n; j++) {
            if (t[j]) {
                if (x[j].ts < min_test)
                    min_test = x[j].ts;
            } else {
                n_train++;
                if (x[j].ts > max_train)
                    max_train = x[j].ts;
            }
        }
        assert_int_equal(n_train, (int64_t)floor(ratios[r] * (double)n));
        assert_true(max_train <= min_test);
    }
}

static void test_bad_arguments(void **state)
{
    struct rec_interaction x[3] = {{0, 1, 1.0f, 10}, {0, 2, 1.0f, 11}, {1, 1, 1.0f, 12}};
    uint8_t t[3] = {0xAA, 0xAA, 0xAA};
    const double bad[] = {-0.1, 1.0000001, 2.0, -INFINITY, INFINITY, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rec_split_random(x, 3, bad[i], 1, t), REC_EINVAL);
        assert_int_equal(rec_split_temporal(x, 3, bad[i], t), REC_EINVAL);
    }
    assert_int_equal(rec_split_random(x, -1, 0.5, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_temporal(x, -1, 0.5, t), REC_EINVAL);
    assert_int_equal(rec_split_random(NULL, 3, 0.5, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_random(x, 3, 0.5, 1, NULL), REC_EINVAL);
    assert_int_equal(rec_split_temporal(NULL, 3, 0.5, t), REC_EINVAL);
    assert_int_equal(rec_split_temporal(x, 3, 0.5, NULL), REC_EINVAL);
    /* Rejected calls leave the output alone. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(t[i], 0xAA);
    /* An empty log is fine. */
    assert_int_equal(rec_split_random(NULL, 0, 0.5, 1, NULL), 0);
    assert_int_equal(rec_split_temporal(NULL, 0, 0.5, NULL), 0);
}


/* ---- leave-last-N-out -------------------------------------------------------------------- */

/* User 0: ts 5 3 5 1 9 in input order; N = 2 holds out ts 9 (idx 4) and, of the two ts 5 rows,
 * the later one in the input (idx 2). User 1 has exactly N rows: all train. User 2 has 3 rows
 * with equal ts: the last two by input position (idx 7, 9) test. */
static void test_last_n_hand_case(void **state)
{
    static const struct {
        int32_t user;
        int64_t ts;
    } rows[10] = {{0, 5}, {0, 3}, {0, 5}, {0, 1}, {0, 9}, {1, 4}, {2, 7}, {2, 7}, {1, 2}, {2, 7}};
    struct rec_interaction x[10];
    for (int i = 0; i < 10; i++)
        x[i] = (struct rec_interaction){.user = rows[i].user, .item = 100 + i, .value = 1.0f,
                                        .ts = rows[i].ts};
    uint8_t t[10];
    memset(t, 0xAA, sizeof t);
    assert_int_equal(rec_split_last_n(x, 10, 2, t), 0);
    static const uint8_t want2[10] = {0, 0, 1, 0, 1, 0, 0, 1, 0, 1};
    assert_memory_equal(t, want2, 10);

    /* N = 1: only the latest row of each user with more than one row. */
    assert_int_equal(rec_split_last_n(x, 10, 1, t), 0);
    static const uint8_t want1[10] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 1};
    assert_memory_equal(t, want1, 10);

    /* N = 0 holds out nothing; N >= every user's count holds out nothing either. */
    assert_int_equal(rec_split_last_n(x, 10, 0, t), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(t[i], 0);
    assert_int_equal(rec_split_last_n(x, 10, 5, t), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(t[i], 0);
}

/* On a random log: per user, N test rows when n_u > N (else none), and no test row is older
 * than a training row of the same user. Reordering the users (each user's rows keep
 * their relative order, which breaks ts ties) changes nothing. */
static void test_last_n_random_log(void **state)
{
    enum { USERS = 120, MAX = 20 };
    int counts[USERS];
    for (int u = 0; u < USERS; u++)
        counts[u] = 1 + u % MAX;
    static struct rec_interaction x[USERS * MAX], y[USERS * MAX];
    static uint8_t t[USERS * MAX], ty[USERS * MAX];
    static int64_t from[USERS * MAX];
    int64_t n = make_log(x, counts, USERS, 5150);
    const int n_last = 3;
    assert_int_equal(rec_split_last_n(x, n, n_last, t), 0);
    for (int32_t u = 0; u < USERS; u++) {
        int64_t n_test = 0, max_train = INT64_MIN, min_test = INT64_MAX;
        for (int64_t j = 0; j < n; j++) {
            if (x[j].user != u)
                continue;
            n_test += t[j];
            if (t[j] && x[j].ts < min_test)
                min_test = x[j].ts;
            if (!t[j] && x[j].ts > max_train)
                max_train = x[j].ts;
        }
        assert_int_equal(n_test, counts[u] <= n_last ? 0 : n_last);
        assert_true(max_train <= min_test);
    }
    /* Users in reverse order, each user's rows in their original relative order. */
    int64_t m = 0;
    for (int32_t u = USERS - 1; u >= 0; u--)
        for (int64_t j = 0; j < n; j++)
            if (x[j].user == u) {
                from[m] = j;
                y[m++] = x[j];
            }
    assert_int_equal(m, n);
    assert_int_equal(rec_split_last_n(y, n, n_last, ty), 0);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(ty[i], t[from[i]]);
}

/* ---- k-fold ------------------------------------------------------------------------------ */

/* Each row gets one fold in [0, k); the k test masks partition the rows; per user the fold
 * sizes differ by at most one. */
static void test_kfold_partition(void **state)
{
    enum { USERS = 90, MAX = 23 };
    int counts[USERS];
    for (int u = 0; u < USERS; u++)
        counts[u] = 1 + (u * 7) % MAX;
    static struct rec_interaction x[USERS * MAX];
    static uint8_t fold[USERS * MAX], mask[USERS * MAX];
    static int covered[USERS * MAX];
    int64_t n = make_log(x, counts, USERS, 8);
    const int ks[] = {2, 3, 5, 10};
    for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++) {
        int k = ks[c];
        memset(fold, 0xEE, sizeof fold);
        assert_int_equal(rec_split_kfold(x, n, k, 42, fold), 0);
        memset(covered, 0, sizeof covered);
        for (int f = 0; f < k; f++) {
            rec_split_fold_mask(fold, n, f, mask);
            for (int64_t j = 0; j < n; j++)
                covered[j] += mask[j];
        }
        for (int64_t j = 0; j < n; j++) {
            assert_true(fold[j] < k);
            assert_int_equal(covered[j], 1);
        }
        for (int32_t u = 0; u < USERS; u++) {
            int size[10] = {0};
            for (int64_t j = 0; j < n; j++)
                if (x[j].user == u)
                    size[fold[j]]++;
            int lo = INT32_MAX, hi = 0, sum = 0;
            for (int f = 0; f < k; f++) {
                lo = size[f] < lo ? size[f] : lo;
                hi = size[f] > hi ? size[f] : hi;
                sum += size[f];
            }
            assert_int_equal(sum, counts[u]);
            if (hi - lo > 1)
                fail_msg("k %d, user %d (%d rows): fold sizes %d..%d", k, u, counts[u], lo, hi);
        }
    }
}

/* Same folds for any input order and for any set of other users; another seed differs. */
static void test_kfold_deterministic(void **state)
{
    enum { USERS = 100, MAX = 25, CAP = USERS * MAX };
    int counts[USERS];
    for (int u = 0; u < USERS; u++)
        counts[u] = 1 + u % MAX;
    static struct rec_interaction x[CAP], y[CAP];
    static uint8_t fx[CAP], fy[CAP], fz[CAP];
    static int64_t perm[CAP];
    int64_t n = make_log(x, counts, USERS, 64);
    assert_int_equal(rec_split_kfold(x, n, 5, 9, fx), 0);

    uint64_t s = 3;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rng_below(&s, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = x[perm[i]];
    assert_int_equal(rec_split_kfold(y, n, 5, 9, fy), 0);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(fy[i], fx[perm[i]]);

    /* Drop every user with an odd index: the others keep their folds. */
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i].user % 2 == 0) {
            perm[m] = i;
            y[m++] = x[i];
        }
    assert_int_equal(rec_split_kfold(y, m, 5, 9, fy), 0);
    for (int64_t i = 0; i < m; i++)
        assert_int_equal(fy[i], fx[perm[i]]);

    assert_int_equal(rec_split_kfold(x, n, 5, 10, fz), 0);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++)
        differ += fz[i] != fx[i];
    assert_true(differ > n / 2); /* about 4/5 of the rows move */
}

/* Random, not positional: with 4 rows per user and k = 3, each position in (ts) order lands in
 * each fold a third of the time, and the one fold of size 2 per user is spread evenly. */
static void test_kfold_uniform(void **state)
{
    enum { USERS = 3000, PER = 4, K = 3 };
    static struct rec_interaction x[USERS * PER];
    static uint8_t f[USERS * PER];
    int64_t n = 0;
    for (int u = 0; u < USERS; u++)
        for (int j = 0; j < PER; j++)
            x[n++] = (struct rec_interaction){.user = u, .item = j, .value = 1.0f, .ts = 10 + j};
    assert_int_equal(rec_split_kfold(x, n, K, 2024, f), 0);
    int64_t total[K] = {0};
    for (int j = 0; j < PER; j++) {
        int64_t in[K] = {0};
        for (int u = 0; u < USERS; u++)
            in[f[u * PER + j]]++;
        for (int q = 0; q < K; q++) {
            total[q] += in[q];
            /* Binomial(3000, 1/3): sd ~ 26, so +-150 is over 5 sd. */
            if (in[q] < 850 || in[q] > 1150)
                fail_msg("position %d in fold %d for %lld of %d users", j, q, (long long)in[q],
                         USERS);
        }
    }
    /* 12000 rows, 4000 per fold expected; a fixed first fold would give 6000/3000/3000. */
    for (int q = 0; q < K; q++)
        if (total[q] < 3800 || total[q] > 4200)
            fail_msg("fold %d holds %lld rows", q, (long long)total[q]);
}

static void test_last_n_kfold_bad_arguments(void **state)
{
    struct rec_interaction x[3] = {{0, 1, 1.0f, 10}, {0, 2, 1.0f, 11}, {1, 1, 1.0f, 12}};
    uint8_t t[3] = {0xAA, 0xAA, 0xAA};
    assert_int_equal(rec_split_last_n(x, 3, -1, t), REC_EINVAL);
    assert_int_equal(rec_split_last_n(x, -1, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_last_n(NULL, 3, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_last_n(x, 3, 1, NULL), REC_EINVAL);
    assert_int_equal(rec_split_kfold(x, 3, 1, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_kfold(x, 3, 0, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_kfold(x, 3, REC_SPLIT_MAX_FOLDS + 1, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_kfold(x, -1, 3, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_kfold(NULL, 3, 3, 1, t), REC_EINVAL);
    assert_int_equal(rec_split_kfold(x, 3, 3, 1, NULL), REC_EINVAL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(t[i], 0xAA);
    assert_int_equal(rec_split_last_n(NULL, 0, 1, NULL), 0);
    assert_int_equal(rec_split_kfold(NULL, 0, 3, 1, NULL), 0);
    /* More folds than rows: every row in a distinct fold. */
    assert_int_equal(rec_split_kfold(x, 3, REC_SPLIT_MAX_FOLDS, 1, t), 0);
    assert_true(t[0] != t[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ratio_per_user),
        cmocka_unit_test(test_random_deterministic),
        cmocka_unit_test(test_random_invariant_to_input_order),
        cmocka_unit_test(test_random_positions_uniform),
        cmocka_unit_test(test_temporal_boundary),
        cmocka_unit_test(test_temporal_random_log),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_last_n_hand_case),
        cmocka_unit_test(test_last_n_random_log),
        cmocka_unit_test(test_kfold_partition),
        cmocka_unit_test(test_kfold_deterministic),
        cmocka_unit_test(test_kfold_uniform),
        cmocka_unit_test(test_last_n_kfold_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
