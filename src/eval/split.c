/* split.c: per-user random, global temporal, per-user leave-last-N-out train/test splits, and
 * per-user k-fold assignment.
 *
 * Random split: rows are sorted into a canonical order, (user, ts, item, value bits, input
 * index), so each user's rows form one run whose order does not depend on where they sat in the
 * input. Each run is shuffled by Fisher-Yates driven by splitmix64 seeded from (seed, user) only,
 * so a user's split depends on the seed and that user's own interactions: reordering the input,
 * or adding and removing other users, leaves it unchanged. (The input index only breaks ties
 * between rows identical in every field, which cannot change which rows train.)
 *
 * Train counts follow evalkit.py so both tools cut the same sizes: the random split trains
 * round(ratio * n_u) rows per user with Python's round (half to even: 2.5 -> 2, 3.5 -> 4); the
 * temporal split trains floor(ratio * n) rows, as evalkit's int(len * fraction).
 *
 * k-fold shuffles each user's run exactly as the random split does (with another salt, so the
 * two are not the same permutation) and deals it round-robin from a random first fold: per user
 * the fold sizes differ by at most one, and over many users no fold is systematically larger.
 */
#include "eval/split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rand.h"

struct key {
    int64_t ts;
    int64_t idx;   /* position in the input */
    int32_t user;
    int32_t item;
    uint32_t vbits; /* bit pattern of value: a total order even for NaN */
};

static int cmp_canonical(const void *pa, const void *pb)
{
    const struct key *a = pa, *b = pb;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    if (a->vbits != b->vbits)
        return a->vbits < b->vbits ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* By user, then ts, then input position: the order of each user's history. */
static int cmp_user_time(const void *pa, const void *pb)
{
    const struct key *a = pa, *b = pb;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_time(const void *pa, const void *pb)
{
    const struct key *a = pa, *b = pb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}


/* Uniform in [0, bound), bound >= 1, without modulo bias: rejects the lowest 2^64 mod bound
 * values, which are fewer than bound, so the expected number of draws is below 2. */
static uint64_t below(uint64_t *state, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t r = rec_splitmix64(state);
        if (r >= threshold)
            return r % bound;
    }
}

/* Round to nearest, ties to even, independent of the floating-point environment. */
static int64_t round_half_even(double t)
{
    double f = floor(t), d = t - f;
    if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return (int64_t)f;
}

/* End of the run of rows of user k[a].user that starts at a (k sorted by user first). */
static int64_t user_end(const struct key *k, int64_t n, int64_t a)
{
    int64_t b = a + 1;
    while (b < n && k[b].user == k[a].user)
        b++;
    return b;
}

/* Random state of one user: depends on the seed, the user and a per-protocol salt only. */
static uint64_t user_stream(uint64_t seed, int32_t user, uint64_t salt)
{
    return rec_mix64(seed ^ rec_mix64((uint64_t)(uint32_t)user ^ salt));
}

/* Fisher-Yates shuffle of k[0..n) with unbiased draws. */
static void shuffle(struct key *k, int64_t n, uint64_t *state)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(state, (uint64_t)i + 1);
        struct key t = k[i];
        k[i] = k[j];
        k[j] = t;
    }
}

static int check_args(const struct rec_interaction *x, int64_t n, double ratio, uint8_t *is_test)
{
    if (n < 0 || (n > 0 && (!x || !is_test)))
        return REC_EINVAL;
    if (!(ratio >= 0.0 && ratio <= 1.0)) /* also rejects NaN */
        return REC_EINVAL;
    return REC_OK;
}

/* Heap array of n keys built from x; NULL when out of memory. Caller frees. */
static struct key *make_keys(const struct rec_interaction *x, int64_t n)
{
    if ((uint64_t)n > SIZE_MAX / sizeof(struct key))
        return NULL;
    struct key *k = malloc((size_t)n * sizeof *k);
    if (!k)
        return NULL;
    for (int64_t j = 0; j < n; j++) {
        k[j].ts = x[j].ts;
        k[j].idx = j;
        k[j].user = x[j].user;
        k[j].item = x[j].item;
        memcpy(&k[j].vbits, &x[j].value, sizeof k[j].vbits);
    }
    return k;
}

/* Marks every row of x[0..n) in is_test[0..n): 1 test, 0 train, keeping round(ratio * n_u)
 * rows of each user for training (ties to even, as Python's round), chosen by a shuffle that
 * depends only on seed, the user and the user's rows. ratio must be in [0, 1]. Returns 0;
 * REC_EINVAL for n < 0, NULL arrays with n > 0, or a ratio outside [0, 1] or NaN; REC_ENOMEM.
 * On error is_test is left untouched. Uses O(n) temporary memory and O(n log n) time.
 * Thread-safe: no shared state; the caller owns both arrays. */
int rec_split_random(const struct rec_interaction *x, int64_t n, double ratio, uint64_t seed,
                     uint8_t *is_test)
{
    int rc = check_args(x, n, ratio, is_test);
    if (rc != REC_OK || n == 0)
        return rc;
    struct key *k = make_keys(x, n);
    if (!k)
        return REC_ENOMEM;
    qsort(k, (size_t)n, sizeof *k, cmp_canonical);

    for (int64_t a = 0, b; a < n; a = b) {
        b = user_end(k, n, a);
        int64_t n_u = b - a;
        uint64_t state = user_stream(seed, k[a].user, 0x5EEDULL);
        shuffle(k + a, n_u, &state);
        int64_t n_train = round_half_even(ratio * (double)n_u);
        for (int64_t i = 0; i < n_u; i++)
            is_test[k[a + i].idx] = i >= n_train;
    }
    free(k);
    return REC_OK;
}

/* Marks x[0..n) in is_test[0..n): the floor(ratio * n) earliest rows by ts (equal ts: earlier
 * input position first) train (0), the rest test (1), so every training ts <= every test ts.
 * Same errors, memory, cost and thread-safety as rec_split_random. */
int rec_split_temporal(const struct rec_interaction *x, int64_t n, double ratio, uint8_t *is_test)
{
    int rc = check_args(x, n, ratio, is_test);
    if (rc != REC_OK || n == 0)
        return rc;
    struct key *k = make_keys(x, n);
    if (!k)
        return REC_ENOMEM;
    qsort(k, (size_t)n, sizeof *k, cmp_time);

    int64_t cut = (int64_t)floor(ratio * (double)n);
    if (cut > n) /* cannot happen for ratio <= 1, but keep the write in bounds regardless */
        cut = n;
    for (int64_t i = 0; i < n; i++)
        is_test[k[i].idx] = i >= cut;
    free(k);
    return REC_OK;
}

/* Marks x[0..n): per user, the n_last latest rows test (1), earlier rows train (0); users with
 * at most n_last rows train entirely. Errors: REC_EINVAL for n < 0, n_last < 0, NULL arrays with
 * n > 0; REC_ENOMEM. O(n) temporary memory, O(n log n) time; thread-safe. */
int rec_split_last_n(const struct rec_interaction *x, int64_t n, int n_last, uint8_t *is_test)
{
    if (n_last < 0)
        return REC_EINVAL;
    int rc = check_args(x, n, 0.0, is_test);
    if (rc != REC_OK || n == 0)
        return rc;
    struct key *k = make_keys(x, n);
    if (!k)
        return REC_ENOMEM;
    qsort(k, (size_t)n, sizeof *k, cmp_user_time);
    for (int64_t a = 0, b; a < n; a = b) {
        b = user_end(k, n, a);
        int64_t n_train = b - a <= n_last ? b - a : b - a - n_last;
        for (int64_t i = a; i < b; i++)
            is_test[k[i].idx] = i - a >= n_train;
    }
    free(k);
    return REC_OK;
}

/* Sets fold[j] for x[0..n); see split.h. Same memory, cost and thread-safety as
 * rec_split_random. */
int rec_split_kfold(const struct rec_interaction *x, int64_t n, int k, uint64_t seed,
                    uint8_t *fold)
{
    if (k < 2 || k > REC_SPLIT_MAX_FOLDS)
        return REC_EINVAL;
    int rc = check_args(x, n, 0.0, fold);
    if (rc != REC_OK || n == 0)
        return rc;
    struct key *keys = make_keys(x, n);
    if (!keys)
        return REC_ENOMEM;
    qsort(keys, (size_t)n, sizeof *keys, cmp_canonical);
    for (int64_t a = 0, b; a < n; a = b) {
        b = user_end(keys, n, a);
        uint64_t state = user_stream(seed, keys[a].user, 0xF01DULL);
        shuffle(keys + a, b - a, &state);
        uint64_t first = below(&state, (uint64_t)k);
        for (int64_t i = a; i < b; i++)
            fold[keys[i].idx] = (uint8_t)((first + (uint64_t)(i - a)) % (uint64_t)k);
    }
    free(keys);
    return REC_OK;
}

/* Test mask of fold f; NULL arrays or n <= 0 do nothing. Thread-safe. */
void rec_split_fold_mask(const uint8_t *fold, int64_t n, int f, uint8_t *is_test)
{
    if (!fold || !is_test)
        return;
    for (int64_t j = 0; j < n; j++)
        is_test[j] = fold[j] == f;
}
