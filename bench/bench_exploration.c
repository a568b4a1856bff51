/* bench_exploration: does exploration pay? Two simulations of recd's exploration modules
 * (src/rank/bandit.h), each a markdown table of cumulative reward at checkpoints.
 *
 *   bench_exploration [rounds=100000] [seed=42] [seeds=5]
 *
 * Items (Thompson sampling; Chapelle & Li, NIPS 2011): a catalog of 500 items whose true click
 * rates are Beta(1, 20) draws (mean ~5%, a long tail of few good items), each with a history of
 * 50 impressions before the run (clicks drawn from its rate), and 100 new items with no
 * history arriving evenly over the run (new item j at round (j + 1/2) rounds / 100) with rates
 * from Beta(1, 10): unknown, mean ~9%, and sometimes better than any catalog item. Each round
 * one user sees 10 distinct available items (no position bias) and clicks each with its true
 * rate. Policies, all starting from the same history and prior Beta(1, 20):
 *   greedy      top 10 by empirical CTR (clicks / impressions; an unseen item scores the prior
 *               mean 1/21; ties: the lower index): no exploration
 *   eps-greedy  each slot: with probability 0.1 a uniformly random available item, else the
 *               next greedy one
 *   ts-2-slots  8 greedy slots, then 2 by Thompson sampling (rec_ts_choose) from the rest
 *   ts-all      all 10 slots by Thompson sampling
 *   oracle      expected clicks of the 10 best true rates available (a ceiling, not a policy)
 * Reported: mean over the seeds of cumulative clicks and clicks per 1000 impressions at
 * rounds/10, rounds/2 and rounds; the per-seed difference from greedy at the end (mean and sd
 * over seeds: the worlds differ a lot between seeds, so the paired difference is what tells
 * policies apart); the share of impressions that went to new items; rounds/s.
 *
 * Sources (LinUCB; Li, Chu, Langford, Schapire, WWW 2010): 3 candidate sources (popular,
 * personal, fresh) whose click probability depends on the request's context, device (mobile
 * 60%, desktop) x daypart (4, uniform), 8 contexts, additively: p = base[s] + dev[s][device] +
 * part[s][daypart], so the disjoint linear model over the 6 one-hot features is well specified.
 * Each source is best somewhere (fresh in the mornings, popular on mobile and personal on
 * desktop otherwise), so no fixed source comes near the per-context best. Per request:
 * LinUCB (alpha 0.2 and 1.0) choosing the source, each fixed source, uniform random, and the
 * oracle (expected reward of the best source per context).
 *
 * Prints both tables, per-phase seconds and a checksum of every cumulative count, so a faster
 * build with different answers is caught. All randomness is splitmix64 from the seed. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/rand.h"
#include "rank/bandit.h"

#define N_OLD 500
#define N_NEW 100
#define N_ITEMS (N_OLD + N_NEW)
#define SLOTS 10
#define HISTORY 50
#define PRIOR_A 1.0
#define PRIOR_B 20.0
#define EPSILON 0.1
#define TS_SLOTS 2
#define N_CHECK 3
#define MAX_SEEDS 100

static double unif(uint64_t *rng) { return (double)(rec_splitmix64(rng) >> 11) * 0x1.0p-53; }

static uint64_t checksum = 0xcbf29ce484222325ULL;
static void sum_in(uint64_t v) { checksum = rec_mix64(checksum ^ v); }

/* ---- Items: Thompson sampling against greedy --------------------------------------------- */

struct world {
    double ctr[N_ITEMS];     /* true click rate */
    int64_t arrive[N_ITEMS]; /* first round the item is available (catalog: 0); nondecreasing */
    int64_t hist_imp[N_ITEMS], hist_clk[N_ITEMS]; /* history before round 0 */
};

static void world_init(struct world *w, int64_t rounds, uint64_t seed)
{
    uint64_t rng = seed;
    for (int i = 0; i < N_ITEMS; i++) {
        int is_new = i >= N_OLD;
        w->ctr[i] = rec_beta_sample(1.0, is_new ? 10.0 : 20.0, &rng);
        w->arrive[i] = is_new ? (2 * (int64_t)(i - N_OLD) + 1) * rounds / (2 * N_NEW) : 0;
        w->hist_imp[i] = is_new ? 0 : HISTORY;
        w->hist_clk[i] = 0;
        for (int h = 0; h < w->hist_imp[i]; h++)
            w->hist_clk[i] += unif(&rng) < w->ctr[i];
    }
}

enum policy { GREEDY, EPS_GREEDY, TS_TWO, TS_ALL, N_POLICIES };
static const char *const policy_name[N_POLICIES] = {"greedy", "eps-greedy 10%",
                                                    "ts-2-slots + greedy", "ts-all-slots"};

struct item_result {
    double clicks[N_CHECK];
    double new_share; /* impressions of new items / all impressions */
    double seconds;
};

/* The k items of [0, n) with the highest empirical CTR (unseen: prior mean), skipping those with
 * skip[i] set, best first; ties keep the lower index. Returns how many. */
static int greedy_top(const int64_t *imp, const int64_t *clk, int n, const uint8_t *skip, int k,
                      int32_t *out)
{
    double val[SLOTS];
    int m = 0;
    const double prior = PRIOR_A / (PRIOR_A + PRIOR_B);
    for (int i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        double v = imp[i] > 0 ? (double)clk[i] / (double)imp[i] : prior;
        if (m == k && !(v > val[m - 1]))
            continue;
        int p = m < k ? m : m - 1;
        while (p > 0 && v > val[p - 1]) {
            val[p] = val[p - 1];
            out[p] = out[p - 1];
            p--;
        }
        val[p] = v;
        out[p] = i;
        if (m < k)
            m++;
    }
    return m;
}

static int run_items(const struct world *w, enum policy pol, int64_t rounds,
                     const int64_t *checks, uint64_t seed, struct item_result *res)
{
    int64_t imp[N_ITEMS], clk[N_ITEMS];
    memcpy(imp, w->hist_imp, sizeof imp);
    memcpy(clk, w->hist_clk, sizeof clk);
    struct rec_ts *ts = NULL;
    int rc = rec_ts_new(PRIOR_A, PRIOR_B, &ts);
    if (rc)
        return rc;
    for (int i = 0; i < N_ITEMS; i++)
        if (imp[i] && (rc = rec_ts_update(ts, i, imp[i], clk[i])) != 0)
            goto out;
    uint64_t prng = rec_mix64(seed ^ 0x706f6c696379ULL); /* choices */
    uint64_t erng = rec_mix64(seed ^ 0x656e76ULL);       /* clicks: the same stream per policy */
    int32_t pool[N_ITEMS], slate[SLOTS];
    uint8_t in_slate[N_ITEMS] = {0};
    int n_av = N_OLD, next_check = 0;
    int64_t clicks = 0, new_imp = 0;
    double t0 = rec_mono_s();
    for (int64_t r = 0; r < rounds; r++) {
        while (n_av < N_ITEMS && w->arrive[n_av] <= r)
            n_av++;
        int n = 0;
        switch (pol) {
        case GREEDY:
            n = greedy_top(imp, clk, n_av, NULL, SLOTS, slate);
            break;
        case EPS_GREEDY: {
            /* top 10 greedy suffice: each random pick blocks at most one of them */
            int32_t g[SLOTS];
            int ng = greedy_top(imp, clk, n_av, NULL, SLOTS, g), gi = 0;
            while (n < SLOTS) {
                int32_t it;
                if (unif(&prng) < EPSILON) {
                    do
                        it = (int32_t)(rec_splitmix64(&prng) % (uint64_t)n_av);
                    while (in_slate[it]);
                } else {
                    while (gi < ng && in_slate[g[gi]])
                        gi++;
                    it = g[gi++];
                }
                in_slate[it] = 1;
                slate[n++] = it;
            }
            break;
        }
        case TS_TWO: {
            n = greedy_top(imp, clk, n_av, NULL, SLOTS - TS_SLOTS, slate);
            for (int j = 0; j < n; j++)
                in_slate[slate[j]] = 1;
            int np = 0;
            for (int i = 0; i < n_av; i++)
                if (!in_slate[i])
                    pool[np++] = i;
            int got = rec_ts_choose(ts, pool, np, TS_SLOTS, &prng, slate + n);
            if (got < 0) {
                rc = got;
                goto out;
            }
            n += got;
            break;
        }
        case TS_ALL:
            for (int i = 0; i < n_av; i++)
                pool[i] = i;
            n = rec_ts_choose(ts, pool, n_av, SLOTS, &prng, slate);
            if (n < 0) {
                rc = n;
                goto out;
            }
            break;
        default:
            break;
        }
        for (int j = 0; j < n; j++) {
            int32_t it = slate[j];
            in_slate[it] = 0;
            int c = unif(&erng) < w->ctr[it];
            imp[it]++;
            clk[it] += c;
            clicks += c;
            new_imp += it >= N_OLD;
            if (pol == TS_TWO || pol == TS_ALL)
                if ((rc = rec_ts_update(ts, it, 1, c)) != 0)
                    goto out;
        }
        if (r + 1 == checks[next_check]) {
            res->clicks[next_check] = (double)clicks;
            sum_in((uint64_t)clicks);
            if (next_check < N_CHECK - 1)
                next_check++;
        }
    }
    res->seconds = rec_mono_s() - t0;
    res->new_share = (double)new_imp / ((double)rounds * SLOTS);
out:
    rec_ts_free(ts);
    return rc;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Expected cumulative clicks of showing the 10 best true rates available, at the checkpoints. */
static void oracle_items(const struct world *w, int64_t rounds, const int64_t *checks,
                         double *out)
{
    double sorted[N_ITEMS], best = 0.0, cum = 0.0;
    int n_av = 0, next_check = 0;
    for (int64_t r = 0; r < rounds; r++) {
        if (n_av < N_ITEMS && w->arrive[n_av] <= r) {
            while (n_av < N_ITEMS && w->arrive[n_av] <= r)
                n_av++;
            memcpy(sorted, w->ctr, (size_t)n_av * sizeof *sorted);
            qsort(sorted, (size_t)n_av, sizeof *sorted, cmp_desc);
            best = 0.0;
            for (int j = 0; j < SLOTS; j++)
                best += sorted[j];
        }
        cum += best;
        if (r + 1 == checks[next_check]) {
            out[next_check] = cum;
            if (next_check < N_CHECK - 1)
                next_check++;
        }
    }
}

static void print_row(const char *name, const double *clicks, const int64_t *checks,
                      int per_round, const char *extra)
{
    printf("| %-22s |", name);
    for (int c = 0; c < N_CHECK; c++)
        printf(" %14.0f | %7.2f |", clicks[c],
               1000.0 * clicks[c] / ((double)checks[c] * per_round));
    printf("%s\n", extra);
}

static void print_header(const char *unit, const int64_t *checks, const char *extra_cols,
                         const char *extra_rule)
{
    printf("| %-22s |", "policy");
    for (int c = 0; c < N_CHECK; c++) {
        char label[32];
        snprintf(label, sizeof label, "%s @%" PRId64, unit, checks[c]);
        printf(" %14s | per 1k  |", label);
    }
    printf("%s\n|------------------------|", extra_cols);
    for (int c = 0; c < N_CHECK; c++)
        printf("---------------:|--------:|");
    printf("%s\n", extra_rule);
}

static int bench_items(int64_t rounds, const int64_t *checks, uint64_t seed0, int n_seeds)
{
    double mean[N_POLICIES + 1][N_CHECK] = {{0}}, share[N_POLICIES] = {0};
    double secs[N_POLICIES] = {0}, diff[N_POLICIES + 1][2] = {{0}}, end[N_POLICIES + 1];
    struct world *w = malloc(sizeof *w);
    if (!w)
        return REC_ENOMEM;
    for (int s = 0; s < n_seeds; s++) {
        uint64_t seed = seed0 + (uint64_t)s;
        world_init(w, rounds, seed);
        for (int p = 0; p < N_POLICIES; p++) {
            struct item_result res;
            int rc = run_items(w, (enum policy)p, rounds, checks, seed, &res);
            if (rc) {
                free(w);
                return rc;
            }
            for (int c = 0; c < N_CHECK; c++)
                mean[p][c] += res.clicks[c] / n_seeds;
            end[p] = res.clicks[N_CHECK - 1];
            share[p] += res.new_share / n_seeds;
            secs[p] += res.seconds;
        }
        double oracle[N_CHECK];
        oracle_items(w, rounds, checks, oracle);
        for (int c = 0; c < N_CHECK; c++)
            mean[N_POLICIES][c] += oracle[c] / n_seeds;
        end[N_POLICIES] = oracle[N_CHECK - 1];
        for (int p = 0; p <= N_POLICIES; p++) {
            double d = end[p] - end[GREEDY];
            diff[p][0] += d;
            diff[p][1] += d * d;
        }
    }
    free(w);
    print_header("clicks", checks, " vs greedy @end (sd) | new-item impr | rounds/s |",
                 "--------------------:|--------------:|---------:|");
    char extra[128];
    for (int p = 0; p <= N_POLICIES; p++) {
        double m = diff[p][0] / n_seeds, var = diff[p][1] / n_seeds - m * m;
        int len = snprintf(extra, sizeof extra, " %+10.0f (%6.0f) |", m, var > 0 ? sqrt(var) : 0.0);
        if (p < N_POLICIES)
            snprintf(extra + len, sizeof extra - (size_t)len, " %12.1f%% | %8.0f |",
                     100.0 * share[p], (double)rounds * n_seeds / secs[p]);
        else
            snprintf(extra + len, sizeof extra - (size_t)len, "               |          |");
        print_row(p < N_POLICIES ? policy_name[p] : "oracle (expected)", mean[p], checks, SLOTS,
                  extra);
    }
    return REC_OK;
}

/* ---- Sources: LinUCB against fixed choices ------------------------------------------------ */

#define N_SRC 3
#define N_DEV 2
#define N_PART 4
#define D (N_DEV + N_PART)

/* p = base + dev + part: popular is strong on mobile evenings, personal on desktop, fresh in
 * the morning. */
static const double src_base[N_SRC] = {0.10, 0.09, 0.08};
static const double src_dev[N_SRC][N_DEV] = {{0.04, 0.00}, {0.00, 0.06}, {0.02, 0.01}};
static const double src_part[N_SRC][N_PART] = {
    {0.00, 0.01, 0.04, 0.02}, {0.01, 0.02, 0.00, 0.03}, {0.09, 0.02, 0.00, -0.01}};
static const char *const src_name[N_SRC] = {"popular", "personal", "fresh"};

static double src_p(int s, int dev, int part)
{
    return src_base[s] + src_dev[s][dev] + src_part[s][part];
}

enum src_policy { LIN_LO, LIN_HI, FIXED0, FIXED1, FIXED2, RANDOM_SRC, ORACLE_SRC, N_SRC_POL };
static const double lin_alpha[2] = {0.2, 1.0};

static int run_sources(enum src_policy pol, int64_t rounds, const int64_t *checks, uint64_t seed,
                       double *out, double *seconds)
{
    struct rec_linucb *l = NULL;
    if (pol == LIN_LO || pol == LIN_HI) {
        int rc = rec_linucb_new(N_SRC, D, lin_alpha[pol - LIN_LO], &l);
        if (rc)
            return rc;
    }
    uint64_t crng = rec_mix64(seed ^ 0x637478ULL); /* contexts: the same stream per policy */
    uint64_t erng = rec_mix64(seed ^ 0x656e76ULL); /* rewards */
    uint64_t prng = rec_mix64(seed ^ 0x706f6cULL); /* random choices */
    double cum = 0.0;
    int next_check = 0;
    double t0 = rec_mono_s();
    for (int64_t r = 0; r < rounds; r++) {
        int dev = unif(&crng) < 0.6 ? 0 : 1, part = (int)(rec_splitmix64(&crng) % N_PART);
        float x[D] = {0};
        x[dev] = 1.0f;
        x[N_DEV + part] = 1.0f;
        int s;
        switch (pol) {
        case LIN_LO:
        case LIN_HI:
            s = rec_linucb_choose(l, x);
            break;
        case FIXED0:
        case FIXED1:
        case FIXED2:
            s = pol - FIXED0;
            break;
        case RANDOM_SRC:
            s = (int)(rec_splitmix64(&prng) % N_SRC);
            break;
        default: {
            s = 0;
            for (int k = 1; k < N_SRC; k++)
                if (src_p(k, dev, part) > src_p(s, dev, part))
                    s = k;
            break;
        }
        }
        double u = unif(&erng);
        if (pol == ORACLE_SRC)
            cum += src_p(s, dev, part);
        else {
            double reward = u < src_p(s, dev, part) ? 1.0 : 0.0;
            cum += reward;
            if (l)
                rec_linucb_update(l, s, x, reward);
        }
        if (r + 1 == checks[next_check]) {
            out[next_check] = cum;
            sum_in((uint64_t)(cum * 1000.0));
            if (next_check < N_CHECK - 1)
                next_check++;
        }
    }
    *seconds = rec_mono_s() - t0;
    rec_linucb_free(l);
    return REC_OK;
}

static int bench_sources(int64_t rounds, const int64_t *checks, uint64_t seed0, int n_seeds)
{
    double mean[N_SRC_POL][N_CHECK] = {{0}}, secs[N_SRC_POL] = {0};
    for (int s = 0; s < n_seeds; s++)
        for (int p = 0; p < N_SRC_POL; p++) {
            double cum[N_CHECK], sec;
            int rc = run_sources((enum src_policy)p, rounds, checks, seed0 + (uint64_t)s, cum, &sec);
            if (rc)
                return rc;
            for (int c = 0; c < N_CHECK; c++)
                mean[p][c] += cum[c] / n_seeds;
            secs[p] += sec;
        }
    printf("best source per context (device x daypart):");
    for (int dev = 0; dev < N_DEV; dev++)
        for (int part = 0; part < N_PART; part++) {
            int b = 0;
            for (int k = 1; k < N_SRC; k++)
                if (src_p(k, dev, part) > src_p(b, dev, part))
                    b = k;
            printf(" %s/%d:%s", dev ? "desktop" : "mobile", part, src_name[b]);
        }
    printf("\n\n");
    print_header("reward", checks, " requests/s |", "-----------:|");
    char name[64], extra[64];
    for (int p = 0; p < N_SRC_POL; p++) {
        if (p == LIN_LO || p == LIN_HI)
            snprintf(name, sizeof name, "linucb alpha %.1f", lin_alpha[p - LIN_LO]);
        else if (p <= FIXED2)
            snprintf(name, sizeof name, "fixed: %s", src_name[p - FIXED0]);
        else
            snprintf(name, sizeof name, "%s", p == RANDOM_SRC ? "uniform random" : "oracle (expected)");
        snprintf(extra, sizeof extra, " %10.0f |", (double)rounds * n_seeds / secs[p]);
        print_row(name, mean[p], checks, 1, p == ORACLE_SRC ? "            |" : extra);
    }
    return REC_OK;
}

/* ---- main --------------------------------------------------------------------------------- */

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return REC_EINVAL;
    *out = v;
    return REC_OK;
}

int main(int argc, char **argv)
{
    int64_t rounds = 100000, seed = 42, n_seeds = 5;
    if (argc > 4 || (argc > 1 && parse_i64(argv[1], 1000, INT64_C(1) << 40, &rounds)) ||
        (argc > 2 && parse_i64(argv[2], 0, INT64_MAX, &seed)) ||
        (argc > 3 && parse_i64(argv[3], 1, MAX_SEEDS, &n_seeds))) {
        fprintf(stderr, "usage: %s [rounds>=1000 (100000)] [seed (42)] [seeds 1..%d (5)]\n",
                argv[0], MAX_SEEDS);
        return 2;
    }
    int64_t checks[N_CHECK] = {rounds / 10, rounds / 2, rounds};
    char cmd[512];
    size_t len = 0;
    cmd[0] = '\0';
    for (int i = 0; i < argc && len < sizeof cmd; i++) {
        int w = snprintf(cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", argv[i]);
        len += w > 0 ? (size_t)w : 0;
    }
    uint64_t seed0 = (uint64_t)seed;
    printf("# bench_exploration: `%s` rounds=%" PRId64 " seeds=%" PRId64 "..%" PRId64
           " (mean of %" PRId64 ")\n\n",
           cmd, rounds, seed, seed + n_seeds - 1, n_seeds);

    printf("## Items: %d catalog (Beta(1,20) CTRs, %d impressions of history each) + %d new "
           "(Beta(1,10), arriving evenly), %d slots per round\n\n",
           N_OLD, HISTORY, N_NEW, SLOTS);
    double t0 = rec_mono_s();
    int rc = bench_items(rounds, checks, seed0, (int)n_seeds);
    double t_items = rec_mono_s() - t0;
    if (rc) {
        fprintf(stderr, "items: %s\n", rec_strerror(rc));
        return 1;
    }
    printf("\n## Sources: LinUCB over %d candidate sources, context device x daypart (%d one-hot "
           "features, 8 contexts), 1 request per round\n\n", N_SRC, D);
    t0 = rec_mono_s();
    rc = bench_sources(rounds, checks, seed0, (int)n_seeds);
    double t_src = rec_mono_s() - t0;
    if (rc) {
        fprintf(stderr, "sources: %s\n", rec_strerror(rc));
        return 1;
    }
    printf("\nphases: items %.2f s, sources %.2f s\nchecksum: %016" PRIx64 "\n", t_items, t_src,
           checksum);
    return 0;
}
