/* test_metrics.c: top-K metrics on hand-computed cases, plus a cross-check against the team's
 * reference implementation shared/tools/evalkit.py (`score`) on random data; several K in one
 * pass against separate calls; AUC by hand (ties, exclusions, NaN) and against pair counting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "eval/metrics.h"

#define EPS 1e-12
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void assert_close(double got, double want, double tol, const char *what)
{
    if (fabs(got - want) > tol) {
        print_error("%s: got %.12f, want %.12f (tolerance %g)\n", what, got, want, tol);
        fail();
    }
}

static void expect(const struct rec_metrics *m, double p, double r, double ndcg, double map,
                   double hr, double mrr)
{
    assert_close(m->precision, p, EPS, "precision");
    assert_close(m->recall, r, EPS, "recall");
    assert_close(m->ndcg, ndcg, EPS, "ndcg");
    assert_close(m->map, map, EPS, "map");
    assert_close(m->hr, hr, EPS, "hr");
    assert_close(m->mrr, mrr, EPS, "mrr");
}

/* Relevant {1,2,3}; the list holds them at ranks 1..3, then two misses. K = 5.
 * hits 3: P = 3/5, R = 1, DCG = IDCG (3 ideal hits) so NDCG = 1,
 * AP = (1/1 + 2/2 + 3/3) / min(3,5) = 1, HR = 1, MRR = 1. */
static void test_perfect_list(void **state)
{
    const int32_t rel[] = {1, 2, 3}, recs[] = {1, 2, 3, 40, 50};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, N_OF(recs), rel, N_OF(rel), 5);
    rec_metrics_finish(&m);
    assert_int_equal(m.n_users, 1);
    expect(&m, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0);

    /* With K = 3 the same list is perfect on every metric, precision included. */
    struct rec_metrics m3 = {0};
    rec_metrics_add(&m3, recs, N_OF(recs), rel, N_OF(rel), 3);
    rec_metrics_finish(&m3);
    expect(&m3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0);
}

static void test_no_hits(void **state)
{
    const int32_t rel[] = {1, 2}, recs[] = {7, 8, 9};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, N_OF(recs), rel, N_OF(rel), 3);
    rec_metrics_finish(&m);
    assert_int_equal(m.n_users, 1);
    expect(&m, 0, 0, 0, 0, 0, 0);
}

/* Relevant {1,2,3}; list 10 1 11 2 12, K = 5: hits at ranks 2 and 4.
 *   P = 2/5, R = 2/3, HR = 1, MRR = 1/2
 *   DCG  = 1/log2(3) + 1/log2(5)            = 0.630929753571 + 0.430676558073 = 1.061606311645
 *   IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.630929753571 + 0.5        = 2.130929753571
 *   NDCG = 1.061606311645 / 2.130929753571 = 0.498189257466
 *   AP   = (1/2 + 2/4) / min(3, 5) = 1/3 */
static void test_hits_at_known_ranks(void **state)
{
    const int32_t rel[] = {1, 2, 3}, recs[] = {10, 1, 11, 2, 12};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, N_OF(recs), rel, N_OF(rel), 5);
    rec_metrics_finish(&m);
    expect(&m, 0.4, 2.0 / 3.0, 0.49818925746641285, 1.0 / 3.0, 1.0, 0.5);
}

/* Same list with K = 2: only 10 1 count, the hit at rank 4 is cut off.
 *   P = 1/2, R = 1/3, MRR = 1/2
 *   NDCG = (1/log2(3)) / (1 + 1/log2(3))   (ideal over min(3, 2) = 2 ranks) = 0.386852807235
 *   AP   = (1/2) / min(3, 2) = 1/4 */
static void test_k_smaller_than_list(void **state)
{
    const int32_t rel[] = {1, 2, 3}, recs[] = {10, 1, 11, 2, 12};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, N_OF(recs), rel, N_OF(rel), 2);
    rec_metrics_finish(&m);
    expect(&m, 0.5, 1.0 / 3.0, 0.38685280723454163, 0.25, 1.0, 0.5);
}

/* A list shorter than K: precision still divides by K; the ideal has min(1, 10) = 1 rank. */
static void test_list_shorter_than_k(void **state)
{
    const int32_t rel[] = {5}, recs[] = {5};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, N_OF(recs), rel, N_OF(rel), 10);
    rec_metrics_finish(&m);
    expect(&m, 0.1, 1.0, 1.0, 1.0, 1.0, 1.0);
}

/* MAP and NDCG normalise by min(|relevant|, K), not |relevant|: 10 relevant items, K = 2 and
 * both slots hit gives AP = (1/1 + 2/2) / 2 = 1 (not 2/10) and NDCG = 1, while recall = 2/10. */
static void test_map_normalised_by_min_rel_k(void **state)
{
    const int32_t rel[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, recs[] = {3, 7, 99};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, N_OF(recs), rel, N_OF(rel), 2);
    rec_metrics_finish(&m);
    expect(&m, 1.0, 0.2, 1.0, 1.0, 1.0, 1.0);
}

/* Users without relevant items do not count; the means are over the others. User A is perfect
 * (K = 2, rel {1,2}, list 1 2), user B has no hit: every mean is 0.5. */
static void test_users_without_relevant_ignored(void **state)
{
    const int32_t rel_a[] = {1, 2}, recs_a[] = {1, 2}, rel_b[] = {3}, recs_b[] = {1, 2};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs_a, 2, rel_a, 2, 2);
    rec_metrics_add(&m, recs_a, 2, NULL, 0, 2);  /* no relevant items: ignored */
    rec_metrics_add(&m, recs_a, 2, rel_a, 0, 2); /* n_rel 0 with an array: ignored too */
    rec_metrics_add(&m, recs_b, 2, rel_b, 1, 2);
    assert_int_equal(m.n_users, 2);
    rec_metrics_finish(&m);
    /* B: P 0, R 0, NDCG 0; A: all 1. */
    expect(&m, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5);
}

/* A user with relevant items but no list counts with zero on every metric (evalkit does the
 * same for users missing from the recommendations file). */
static void test_empty_list_counts_as_zero(void **state)
{
    const int32_t rel[] = {4}, recs[] = {4};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, 1, rel, 1, 1);
    rec_metrics_add(&m, NULL, 0, rel, 1, 1);
    rec_metrics_finish(&m);
    assert_int_equal(m.n_users, 2);
    expect(&m, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5);
}

/* Repeated values in the relevant array count once (evalkit keeps a set): rel {2,2,5} has
 * |relevant| = 2, so one hit gives recall 1/2, not 1/3. MRR: first hit at rank 2. */
static void test_duplicate_relevant_counted_once(void **state)
{
    const int32_t rel[] = {2, 2, 5}, recs[] = {9, 2, 8};
    struct rec_metrics m = {0};
    rec_metrics_add(&m, recs, 3, rel, 3, 3);
    rec_metrics_finish(&m);
    /* NDCG = (1/log2 3) / (1 + 1/log2 3); AP = (1/2) / min(2, 3). */
    expect(&m, 1.0 / 3.0, 0.5, 0.38685280723454163, 0.25, 1.0, 0.5);
}

static void test_finish_without_users(void **state)
{
    struct rec_metrics m = {0};
    rec_metrics_finish(&m);
    assert_int_equal(m.n_users, 0);
    expect(&m, 0, 0, 0, 0, 0, 0);
}

/* ---- cross-check against evalkit.py ---------------------------------------------------- */

#define XC_USERS 60
#define XC_ITEMS 40
#define XC_MAX_REL 8
#define XC_MAX_RECS 25

struct xc_user {
    int32_t rel[XC_MAX_REL];
    int n_rel;            /* 0: user absent from test.tsv */
    int32_t recs[XC_MAX_RECS];
    int n_recs;
    int has_recs;         /* 0: user absent from recs.tsv */
};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int rng_below(uint64_t *s, int n)
{
    return (int)(rng_next(s) % (uint64_t)n);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Random users: 0..7 distinct relevant items (0 means the user is not in the test file),
 * lists of 0..25 items drawn with replacement (so some repeat an item), some users without a
 * list, and some lists for users with nothing relevant. */
static void make_users(struct xc_user *u, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < XC_USERS; i++) {
        memset(&u[i], 0, sizeof u[i]);
        int want = rng_below(&s, XC_MAX_REL);
        while (u[i].n_rel < want) {
            int32_t it = (int32_t)rng_below(&s, XC_ITEMS);
            int dup = 0;
            for (int j = 0; j < u[i].n_rel; j++)
                dup |= u[i].rel[j] == it;
            if (!dup)
                u[i].rel[u[i].n_rel++] = it;
        }
        qsort(u[i].rel, (size_t)u[i].n_rel, sizeof(int32_t), cmp_i32);
        u[i].has_recs = rng_below(&s, 8) != 0;
        if (u[i].has_recs) {
            u[i].n_recs = rng_below(&s, XC_MAX_RECS + 1);
            for (int j = 0; j < u[i].n_recs; j++)
                u[i].recs[j] = (int32_t)rng_below(&s, XC_ITEMS);
        }
    }
}

/* Writes test.tsv (user item rating ts) and recs.tsv (user item rank) in evalkit's format. */
static int write_files(const struct xc_user *u, const char *test_path, const char *recs_path)
{
    FILE *ft = fopen(test_path, "w");
    FILE *fr = fopen(recs_path, "w");
    if (!ft || !fr) {
        if (ft)
            fclose(ft);
        if (fr)
            fclose(fr);
        return -1;
    }
    /* Ranks are written in reverse so evalkit has to sort by rank, as it does. */
    for (int i = 0; i < XC_USERS; i++) {
        for (int j = 0; j < u[i].n_rel; j++)
            fprintf(ft, "u%d\t%d\t4\t%d\n", i, (int)u[i].rel[j], 1000 + j);
        for (int j = u[i].n_recs - 1; j >= 0; j--)
            fprintf(fr, "u%d\t%d\t%d\n", i, (int)u[i].recs[j], j + 1);
    }
    int bad = ferror(ft) || ferror(fr);
    bad |= fclose(ft) != 0;
    bad |= fclose(fr) != 0;
    return bad ? -1 : 0;
}

/* Finds "key": number in evalkit's one-line JSON output; returns 0 and sets *v when found. */
static int json_number(const char *out, const char *key, double *v)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(out, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    char *end;
    *v = strtod(p, &end);
    return end == p ? -1 : 0;
}

/* Runs evalkit's `score` once per K of ks[0..n_k) in one python process (a python start costs
 * most of a second on a loaded machine), calling the same function as its command line does;
 * -B keeps python from writing bytecode next to evalkit.py. Fills out with one JSON line per K
 * (NUL-terminated). Returns the exit status or -1. */
static int run_evalkit(const char *evalkit, const char *test_path, const char *recs_path,
                       const int *ks, int n_k, char *out, size_t out_len)
{
    char cmd[2048];
    int n = snprintf(cmd, sizeof cmd,
                     "python3 -B -c 'import argparse, os, sys; "
                     "sys.path.insert(0, os.path.dirname(sys.argv[1])); import evalkit; "
                     "[evalkit.cmd_score(argparse.Namespace(test=sys.argv[2], recs=sys.argv[3], "
                     "k=int(k))) for k in sys.argv[4:]]' '%s' '%s' '%s'",
                     evalkit, test_path, recs_path);
    for (int i = 0; i < n_k && n > 0 && (size_t)n < sizeof cmd; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %d", ks[i]);
    if (n < 0 || (size_t)n + 5 >= sizeof cmd)
        return -1;
    memcpy(cmd + n, " 2>&1", 6);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t used = fread(out, 1, out_len - 1, p);
    out[used] = '\0';
    int st = pclose(p);
    return st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Copies line i (0-based) of text into line; returns 0, or -1 when there is no such line. */
static int nth_line(const char *text, int i, char *line, size_t len)
{
    for (; i > 0 && text; i--) {
        text = strchr(text, '\n');
        text = text ? text + 1 : NULL;
    }
    if (!text || !*text)
        return -1;
    size_t n = strcspn(text, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(line, text, n);
    line[n] = '\0';
    return 0;
}

static void test_matches_evalkit(void **state)
{
    const char *src = getenv("RECD_SOURCE_DIR");
    if (!src || !*src) {
        print_message("SKIP: RECD_SOURCE_DIR is not set, cannot find shared/tools/evalkit.py\n");
        skip();
    }
    char evalkit[1024];
    int n = snprintf(evalkit, sizeof evalkit, "%s/../shared/tools/evalkit.py", src);
    if (n < 0 || (size_t)n >= sizeof evalkit || strchr(evalkit, '\'')) {
        print_message("SKIP: unusable RECD_SOURCE_DIR '%s'\n", src);
        skip();
    }
    if (access(evalkit, R_OK) != 0) {
        print_message("SKIP: %s not found\n", evalkit);
        skip();
    }
    if (system("python3 -c 'import json, math' >/dev/null 2>&1") != 0) {
        print_message("SKIP: python3 is not available\n");
        skip();
    }

    char dir[] = "/tmp/recd_test_metrics_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char test_path[128], recs_path[128];
    snprintf(test_path, sizeof test_path, "%s/test.tsv", dir);
    snprintf(recs_path, sizeof recs_path, "%s/recs.tsv", dir);

    static struct xc_user users[XC_USERS];
    const int ks[] = {1, 3, 5, 10, 20, 30};
    int failed = 0;
    for (int trial = 0; trial < 3 && !failed; trial++) {
        make_users(users, 0xC0FFEEULL + (uint64_t)trial);
        assert_int_equal(write_files(users, test_path, recs_path), 0);
        char out[8192];
        int st = run_evalkit(evalkit, test_path, recs_path, ks, N_OF(ks), out, sizeof out);
        if (st != 0) {
            print_error("evalkit exited with %d: %s\n", st, out);
            failed = 1;
            break;
        }
        for (int ki = 0; ki < N_OF(ks) && !failed; ki++) {
            int k = ks[ki];
            struct rec_metrics m = {0};
            for (int i = 0; i < XC_USERS; i++)
                rec_metrics_add(&m, users[i].recs, users[i].n_recs, users[i].rel, users[i].n_rel,
                                k);
            rec_metrics_finish(&m);

            char line[1024];
            if (nth_line(out, ki, line, sizeof line) != 0) {
                print_error("no output line for k %d: %s\n", k, out);
                failed = 1;
                break;
            }
            static const char *const names[] = {"precision", "recall", "ndcg", "map", "hr"};
            const double ours[] = {m.precision, m.recall, m.ndcg, m.map, m.hr};
            for (int q = 0; q < N_OF(names); q++) {
                char key[32];
                double theirs;
                snprintf(key, sizeof key, "%s@%d", names[q], k);
                if (json_number(line, key, &theirs) != 0) {
                    print_error("no %s in evalkit output: %s\n", key, line);
                    failed = 1;
                } else if (fabs(ours[q] - theirs) > 1e-6) {
                    /* evalkit prints 6 decimals, so agreement is to within 5e-7. */
                    print_error("trial %d %s: C %.9f, evalkit %.9f\n", trial, key, ours[q],
                                theirs);
                    failed = 1;
                }
            }
            double users_theirs;
            if (json_number(line, "users", &users_theirs) != 0 ||
                users_theirs != (double)m.n_users) {
                print_error("trial %d k %d: users C %lld, evalkit output %s\n", trial, k,
                            (long long)m.n_users, line);
                failed = 1;
            }
        }
    }
    unlink(test_path);
    unlink(recs_path);
    rmdir(dir);
    if (failed)
        fail_msg("C metrics disagree with evalkit.py (details above)");
}


/* ---- several K in one pass -------------------------------------------------------------- */

static void check_at_matches_single(const int *ks, int n_k, uint64_t seed)
{
    static struct xc_user users[XC_USERS];
    make_users(users, seed);
    struct rec_metrics_at at[8];
    struct rec_metrics single[8];
    assert_true(n_k <= 8);
    for (int i = 0; i < n_k; i++) {
        at[i] = (struct rec_metrics_at){.k = ks[i]};
        single[i] = (struct rec_metrics){0};
    }
    for (int u = 0; u < XC_USERS; u++) {
        const int32_t *recs = users[u].has_recs ? users[u].recs : NULL;
        rec_metrics_add_at(at, n_k, recs, users[u].n_recs, users[u].rel, users[u].n_rel);
        for (int i = 0; i < n_k; i++)
            rec_metrics_add(&single[i], recs, users[u].n_recs, users[u].rel, users[u].n_rel,
                            ks[i]);
    }
    rec_metrics_finish_at(at, n_k);
    for (int i = 0; i < n_k; i++) {
        rec_metrics_finish(&single[i]);
        assert_int_equal(at[i].k, ks[i]);
        /* Same additions in the same order: equal to the last bit. */
        if (memcmp(&at[i].m, &single[i], sizeof single[i]) != 0)
            fail_msg("k %d: multi-K ndcg %.17g vs %.17g, map %.17g vs %.17g", ks[i],
                     at[i].m.ndcg, single[i].ndcg, at[i].m.map, single[i].map);
        assert_true(at[i].m.n_users > 0);
    }
}

static void test_multi_k_equals_single_calls(void **state)
{
    const int ascending[] = {1, 3, 5, 10, 20, 30};
    const int shuffled[] = {10, 3, 30, 1, 10, 5}; /* unsorted, with a repeat */
    for (uint64_t seed = 1; seed <= 4; seed++) {
        check_at_matches_single(ascending, N_OF(ascending), seed);
        check_at_matches_single(shuffled, N_OF(shuffled), seed + 100);
    }
}

/* The worked example at K = 2 and 5 from one list; a k <= 0 entry stays zero. */
static void test_multi_k_hand_values(void **state)
{
    const int32_t rel[] = {1, 2, 3}, recs[] = {10, 1, 11, 2, 12};
    struct rec_metrics_at at[3] = {{.k = 2}, {.k = 5}, {.k = 0}};
    rec_metrics_add_at(at, 3, recs, N_OF(recs), rel, N_OF(rel));
    rec_metrics_finish_at(at, 3);
    expect(&at[0].m, 0.5, 1.0 / 3.0, 0.38685280723454163, 0.25, 1.0, 0.5);
    expect(&at[1].m, 0.4, 2.0 / 3.0, 0.49818925746641285, 1.0 / 3.0, 1.0, 0.5);
    assert_int_equal(at[2].m.n_users, 0);
    expect(&at[2].m, 0, 0, 0, 0, 0, 0);
}

/* ---- AUC --------------------------------------------------------------------------------- */

/* Items 0..7 with scores; item 4 is a training item (excluded) and relevant, so it is not a
 * positive. Positives {1, 3, 6}, negatives {0, 2, 5, 7}:
 *   item:   0    1    2    3    4(ex) 5    6     7
 *   score:  0.9  0.5  0.5  0.1  0.7   0.5  -inf  NaN
 *   pos 1 (0.5): beats 7 (NaN ranks lowest) -> 1, ties 2 and 5 -> 1/2 + 1/2, loses to 0 -> 2
 *   pos 3 (0.1): beats 7 -> 1, loses to 0, 2, 5                                   -> 1
 *   pos 6 (-inf): beats 7 -> 1                                                     -> 1
 *   AUC = (2 + 1 + 1) / (3 * 4) = 1/3 */
static void test_auc_hand_computed_with_ties(void **state)
{
    const float sc[8] = {0.9f, 0.5f, 0.5f, 0.1f, 0.7f, 0.5f, -INFINITY, NAN};
    const uint8_t ex[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    const int32_t rel[] = {1, 3, 3, 4, 6, 99}; /* repeat and out-of-range value are ignored */
    double a = -1;
    assert_int_equal(rec_metrics_auc_user(sc, ex, 8, rel, N_OF(rel), &a), 0);
    assert_close(a, 1.0 / 3.0, EPS, "auc with ties");

    /* Without the exclusion item 4 (0.7) is a fourth positive: it beats 2, 5, 7 and loses to
     * 0 -> 3 correct pairs; total (4 + 3) / (4 * 4) = 7/16. */
    assert_int_equal(rec_metrics_auc_user(sc, NULL, 8, rel, N_OF(rel), &a), 0);
    assert_close(a, 7.0 / 16.0, EPS, "auc without exclusions");

    /* -0 and +0 tie: one positive at -0, one negative at +0 -> 1/2. */
    const float z[2] = {-0.0f, 0.0f};
    const int32_t r0[] = {0};
    assert_int_equal(rec_metrics_auc_user(z, NULL, 2, r0, 1, &a), 0);
    assert_close(a, 0.5, EPS, "signed zeros tie");

    /* All equal scores give 1/2; a perfect ranking 1; a reversed one 0. */
    const float flat[4] = {3, 3, 3, 3}, up[4] = {1, 2, 3, 4};
    const int32_t top[] = {2, 3}, bottom[] = {0, 1};
    assert_int_equal(rec_metrics_auc_user(flat, NULL, 4, top, 2, &a), 0);
    assert_close(a, 0.5, EPS, "flat");
    assert_int_equal(rec_metrics_auc_user(up, NULL, 4, top, 2, &a), 0);
    assert_close(a, 1.0, EPS, "perfect");
    assert_int_equal(rec_metrics_auc_user(up, NULL, 4, bottom, 2, &a), 0);
    assert_close(a, 0.0, EPS, "reversed");
}

/* Undefined AUC (no positive or no negative candidate) is NaN and skipped by the accumulator;
 * the mean is over the other users. */
static void test_auc_accumulator(void **state)
{
    const float up[4] = {1, 2, 3, 4};
    const int32_t top[] = {2, 3}, all[] = {0, 1, 2, 3}, one[] = {1};
    const uint8_t ex_rest[4] = {1, 0, 1, 1};
    struct rec_auc acc = {0};
    double a = 0;
    assert_int_equal(rec_metrics_auc_user(up, NULL, 4, all, 4, &a), 0);
    assert_true(isnan(a));
    assert_int_equal(rec_metrics_auc_user(up, ex_rest, 4, one, 1, &a), 0); /* no negative */
    assert_true(isnan(a));
    assert_int_equal(rec_metrics_auc_add(&acc, up, NULL, 4, all, 4), 0);
    assert_int_equal(rec_metrics_auc_add(&acc, up, NULL, 4, NULL, 0), 0);
    assert_int_equal(rec_metrics_auc_add(&acc, up, ex_rest, 4, one, 1), 0);
    assert_int_equal(acc.n_users, 0);
    assert_int_equal(rec_metrics_auc_add(&acc, up, NULL, 4, top, 2), 0); /* 1 */
    assert_int_equal(rec_metrics_auc_add(&acc, up, NULL, 4, one, 1), 0); /* 1/3 */
    rec_metrics_auc_finish(&acc);
    assert_int_equal(acc.n_users, 2);
    assert_close(acc.auc, (1.0 + 1.0 / 3.0) / 2.0, EPS, "mean auc");

    assert_int_equal(rec_metrics_auc_add(NULL, up, NULL, 4, top, 2), REC_EINVAL);
    assert_int_equal(rec_metrics_auc_user(NULL, NULL, 4, top, 2, &a), REC_EINVAL);
    assert_int_equal(rec_metrics_auc_user(up, NULL, -1, top, 2, &a), REC_EINVAL);
    assert_int_equal(rec_metrics_auc_user(up, NULL, 4, NULL, 2, &a), REC_EINVAL);
}

/* Against the definition by pair counting on random vectors with many ties (scores on a coarse
 * grid, some -inf), random exclusions and catalogs past one radix digit (2048). */
static void test_auc_matches_pair_counting(void **state)
{
    enum { MAX_ITEMS = 5000 };
    static float sc[MAX_ITEMS];
    static uint8_t ex[MAX_ITEMS];
    static int32_t rel[MAX_ITEMS];
    uint64_t s = 77;
    for (int trial = 0; trial < 40; trial++) {
        int n = 1 + rng_below(&s, trial < 30 ? 60 : MAX_ITEMS);
        int grid = 1 + rng_below(&s, 20), n_rel = 0;
        for (int i = 0; i < n; i++) {
            int g = rng_below(&s, grid + 1);
            sc[i] = g == grid ? -INFINITY : (float)(g - grid / 2) * 0.25f;
            ex[i] = rng_below(&s, 5) == 0;
            if (rng_below(&s, 4) == 0)
                rel[n_rel++] = i;
        }
        /* Pair counting over a flag array; 2 per correct pair, 1 per tie, kept exact. */
        static uint8_t is_rel[MAX_ITEMS];
        memset(is_rel, 0, sizeof is_rel);
        for (int r = 0; r < n_rel; r++)
            is_rel[rel[r]] = 1;
        uint64_t correct2 = 0, n_pos = 0, n_neg = 0;
        for (int i = 0; i < n; i++) {
            if (ex[i])
                continue;
            is_rel[i] ? n_pos++ : n_neg++;
            for (int j = 0; is_rel[i] && j < n; j++)
                if (!ex[j] && !is_rel[j])
                    correct2 += sc[i] > sc[j] ? 2 : sc[i] == sc[j] ? 1 : 0;
        }
        double a;
        assert_int_equal(rec_metrics_auc_user(sc, ex, n, rel, n_rel, &a), 0);
        if (!n_pos || !n_neg) {
            assert_true(isnan(a));
            continue;
        }
        double want = (double)correct2 / (2.0 * (double)n_pos * (double)n_neg);
        if (a != want)
            fail_msg("trial %d (n %d): auc %.17g, pair counting %.17g", trial, n, a, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perfect_list),
        cmocka_unit_test(test_no_hits),
        cmocka_unit_test(test_hits_at_known_ranks),
        cmocka_unit_test(test_k_smaller_than_list),
        cmocka_unit_test(test_list_shorter_than_k),
        cmocka_unit_test(test_map_normalised_by_min_rel_k),
        cmocka_unit_test(test_users_without_relevant_ignored),
        cmocka_unit_test(test_empty_list_counts_as_zero),
        cmocka_unit_test(test_duplicate_relevant_counted_once),
        cmocka_unit_test(test_finish_without_users),
        cmocka_unit_test(test_matches_evalkit),
        cmocka_unit_test(test_multi_k_equals_single_calls),
        cmocka_unit_test(test_multi_k_hand_values),
        cmocka_unit_test(test_auc_hand_computed_with_ties),
        cmocka_unit_test(test_auc_accumulator),
        cmocka_unit_test(test_auc_matches_pair_counting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
