/* Drift between time windows: KL divergence, window rolling, alerts and their log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "obs/drift.h"

static void test_kl_hand_computed(void **state)
{
    /* p = {1, 0}, q = {0, 1}, alpha = 1: p' = {2/3, 1/3}, q' = {1/3, 2/3};
     * KL = (2/3) ln 2 + (1/3) ln(1/2) = (1/3) ln 2 = 0.23104906018664842 */
    const double p1[] = {1, 0}, q1[] = {0, 1};
    assert_true(fabs(rec_kl_divergence(p1, q1, 2, 1.0) - 0.23104906018664842) < 1e-12);
    /* p = {2, 0, 0}, q = {1, 1, 0}, alpha = 0.5: both totals 2 + 1.5 = 3.5;
     * p' = {5/7, 1/7, 1/7}, q' = {3/7, 3/7, 1/7};
     * KL = (5/7) ln(5/3) + (1/7) ln(1/3) + 0 = 0.36487544554713624 - 0.15694461266687283
     *    = 0.2079308328802634 */
    const double p2[] = {2, 0, 0}, q2[] = {1, 1, 0};
    assert_true(fabs(rec_kl_divergence(p2, q2, 3, 0.5) - 0.2079308328802634) < 1e-12);
    /* KL is not symmetric: KL(q || p) = (3/7) ln(3/5) + (3/7) ln 3 = (3/7) ln(9/5)
     *    = 0.25190984328... */
    assert_true(fabs(rec_kl_divergence(q2, p2, 3, 0.5) - (3.0 / 7.0) * log(9.0 / 5.0)) < 1e-12);
    /* identical distributions, and the same shape at another scale without smoothing effects */
    const double same[] = {5, 0, 3, 9};
    assert_true(rec_kl_divergence(same, same, 4, 0.5) == 0.0);
    assert_true(rec_kl_divergence(NULL, NULL, 0, 0.5) == 0.0);
    assert_true(isnan(rec_kl_divergence(p1, q1, 2, 0.0)));
}

static struct rec_drift *make(double window_s, int min_events, int min_scores, double now)
{
    struct rec_drift_config c;
    rec_drift_config_default(&c);
    c.window_s = window_s;
    c.min_events = min_events;
    c.min_scores = min_scores;
    struct rec_drift *d = NULL;
    char err[128];
    assert_int_equal(rec_drift_new(&c, now, &d, err, sizeof err), 0);
    return d;
}

static void test_config_checks(void **state)
{
    struct rec_drift_config c;
    rec_drift_config_default(&c);
    assert_true(c.window_s == 3600 && c.min_events == 200 && c.min_scores == 200);
    assert_true(c.score_bins == 40 && c.threshold == 0.5 && c.alpha == 0.5);
    struct rec_drift *d = NULL;
    char err[128];
    c.window_s = 0;
    assert_int_equal(rec_drift_new(&c, 0, &d, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "window"));
    rec_drift_config_default(&c);
    c.score_hi = c.score_lo;
    assert_int_equal(rec_drift_new(&c, 0, &d, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "score range"));
    rec_drift_config_default(&c);
    c.alpha = 0;
    assert_int_equal(rec_drift_new(&c, 0, &d, err, sizeof err), REC_EINVAL);
    assert_int_equal(rec_drift_new(NULL, NAN, &d, err, sizeof err), REC_EINVAL);
    assert_null(d);
    assert_int_equal(rec_drift_new(NULL, 0, &d, NULL, 0), 0);
    rec_drift_free(d);
    rec_drift_free(NULL);
}

static void test_window_rolling(void **state)
{
    struct rec_drift *d = make(100, 1, 1, 1000);
    struct rec_drift_status st;
    for (int i = 0; i < 30; i++)
        rec_drift_observe_item(d, i % 3, 1000 + i);   /* t = 1000..1029 */
    rec_drift_observe_score(d, 0.5, 1099.9);
    rec_drift_status(d, 1050, &st);
    assert_true(st.window_start == 1000);
    assert_true(isnan(st.reference_start));
    assert_true(isnan(st.kl_popularity));           /* no reference yet */
    assert_int_equal(st.current_events, 30);
    assert_int_equal(st.current_scores, 1);
    assert_int_equal(st.alert, 0);

    /* t = 1100 is the end of [1000, 1100): the window rolls */
    rec_drift_observe_item(d, 7, 1100);
    rec_drift_status(d, 1100, &st);
    assert_true(st.window_start == 1100);
    assert_true(st.reference_start == 1000);
    assert_int_equal(st.reference_events, 30);
    assert_int_equal(st.reference_scores, 1);
    assert_int_equal(st.current_events, 1);
    assert_int_equal(st.current_scores, 0);
    /* current {7: 1} vs reference {0: 10, 1: 10, 2: 10} over 4 items, alpha 0.5:
     * totals 1 + 2 = 3 and 30 + 2 = 32; P = {1.5, .5, .5, .5} / 3, Q = {.5, 10.5, 10.5, 10.5} / 32;
     * KL = 0.5 ln((1.5/3) / (.5/32)) + 3 (.5/3) ln((.5/3) / (10.5/32))
     *    = 0.5 ln 32 + 0.5 ln(32 / 63) */
    assert_true(fabs(st.kl_popularity - (0.5 * log(32) + 0.5 * log(32.0 / 63.0))) < 1e-12);
    assert_true(isnan(st.kl_score));                /* no score in the current window */

    /* nothing in [1200, 1400); an event at 1450 lands in the window [1400, 1500) on the grid
     * and the reference is the last window that had observations, [1100, 1200) */
    rec_drift_observe_item(d, 1, 1450);
    rec_drift_status(d, 1460, &st);
    assert_true(st.window_start == 1400);
    assert_true(st.reference_start == 1100);
    assert_int_equal(st.reference_events, 1);
    /* an empty window never becomes the reference: [1400, 1500) stays it after [1500, 1600)
     * passes empty */
    rec_drift_status(d, 1650, &st);
    assert_true(st.window_start == 1600);
    assert_true(st.reference_start == 1400);
    assert_int_equal(st.current_events, 0);
    /* a clock step back counts in the current window */
    rec_drift_observe_item(d, 2, 1599);
    rec_drift_status(d, 1650, &st);
    assert_true(st.window_start == 1600);
    assert_int_equal(st.current_events, 1);
    /* ignored: negative and huge items, NaN scores */
    rec_drift_observe_item(d, -1, 1650);
    rec_drift_observe_item(d, REC_DRIFT_MAX_ITEMS, 1650);
    rec_drift_observe_score(d, NAN, 1650);
    rec_drift_status(d, 1650, &st);
    assert_int_equal(st.current_events, 1);
    assert_int_equal(st.current_scores, 0);
    rec_drift_free(d);
}

/* Fills [start, start + 500) with events on items base..base+9, counts[i] of them for item
 * base+i, and 500 scores evenly spread over [lo, hi) (at the centres of 500 equal steps, so no
 * score sits on a bin edge). */
static void fill(struct rec_drift *d, double start, int base, const int *counts, double lo,
                 double hi)
{
    double t = start;
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < counts[i]; k++, t += 0.5)
            rec_drift_observe_item(d, base + i, t);
    for (int k = 0; k < 500; k++)
        rec_drift_observe_score(d, lo + (hi - lo) * (k + 0.5) / 500.0, start + k);
}

static const int flat[10] = {100, 100, 100, 100, 100, 100, 100, 100, 100, 100};

/* Runs fn with stderr going to a temporary file and returns the lines it wrote there. */
static int count_log_lines(void (*fn)(void *), void *arg, const char *needle)
{
    char path[] = "/tmp/recd-drift-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    int lines = 0;
    for (const char *p = buf; n > 0 && (p = strstr(p, needle)) != NULL; p++)
        lines++;
    return lines;
}

static void test_same_popularity_no_alert(void **state)
{
    struct rec_drift *d = make(1000, 200, 200, 0);
    fill(d, 0, 0, flat, 0, 1);
    /* the next window: the same items, item 0 a little more popular, item 9 a little less */
    const int near[10] = {110, 100, 100, 100, 100, 100, 100, 100, 100, 90};
    fill(d, 1000, 0, near, 0, 1);
    struct rec_drift_status st;
    rec_drift_status(d, 1999, &st);
    assert_true(st.window_start == 1000);
    assert_int_equal(st.current_events, 1000);
    assert_int_equal(st.reference_events, 1000);
    /* totals 1000 + 5 each: KL = (110.5 ln(110.5/100.5) + 90.5 ln(90.5/100.5)) / 1005
     *    = (10.4815... - 9.4853...) / 1005 ~= 0.000991 */
    double want = (110.5 * log(110.5 / 100.5) + 90.5 * log(90.5 / 100.5)) / 1005.0;
    assert_true(fabs(st.kl_popularity - want) < 1e-12);
    assert_true(st.kl_popularity < 0.002);
    assert_true(st.kl_score == 0.0);   /* the same 500 scores in both windows */
    assert_int_equal(st.alert, 0);
    assert_true(st.threshold == 0.5);
    rec_drift_free(d);
}

struct status_call {
    struct rec_drift *d;
    double now;
    struct rec_drift_status st;
};

static void status_twice(void *p)
{
    struct status_call *c = p;
    rec_drift_status(c->d, c->now, &c->st);
    rec_drift_status(c->d, c->now + 0.5, &c->st);   /* still the same window */
}

static void test_shifted_popularity_alerts(void **state)
{
    struct rec_drift *d = make(1000, 200, 200, 0);
    fill(d, 0, 0, flat, 0, 1);
    fill(d, 1000, 10, flat, 0, 1);   /* items 10..19 instead of 0..9, same scores */
    struct status_call call = {.d = d, .now = 1999};
    /* two status calls in the same window log one line */
    assert_int_equal(count_log_lines(status_twice, &call, "drift: KL popularity"), 1);
    struct rec_drift_status st = call.st;
    /* union of 20 items, totals 1000 + 20 * 0.5 = 1010 in both windows; the current window's
     * items have P = 100.5/1010 and Q = 0.5/1010, the reference's the other way round:
     * KL = 10 (100.5/1010) ln 201 + 10 (0.5/1010) ln(1/201) = (1000/1010) ln 201 = 5.2507969... */
    assert_true(fabs(st.kl_popularity - (1000.0 / 1010.0) * log(201.0)) < 1e-9);
    assert_true(st.kl_score == 0.0);
    assert_int_equal(st.alert, 1);
    /* a new window logs again when it alerts again */
    fill(d, 2000, 0, flat, 0, 1);
    call.now = 2999;
    assert_int_equal(count_log_lines(status_twice, &call, "drift: KL popularity"), 1);
    assert_int_equal(call.st.alert, 1);
    rec_drift_free(d);
}

static void test_shifted_scores_alert(void **state)
{
    struct rec_drift *d = make(1000, 200, 200, 0);
    fill(d, 0, 0, flat, 0, 0.5);
    fill(d, 1000, 0, flat, 0.5, 1.0);   /* same items, scores moved to the upper half */
    struct rec_drift_status st;
    struct status_call call = {.d = d, .now = 1999};
    assert_int_equal(count_log_lines(status_twice, &call, "drift:"), 1);
    st = call.st;
    assert_true(st.kl_popularity == 0.0);
    /* 40 bins of 0.025: each window puts 25 scores in each of 20 bins, the other 20 empty;
     * totals 500 + 40 * 0.5 = 520; KL = 20 (25.5/520) ln(25.5/0.5) + 20 (0.5/520) ln(0.5/25.5)
     *    = (500/520) ln 51 */
    assert_true(fabs(st.kl_score - (500.0 / 520.0) * log(51.0)) < 1e-9);
    assert_int_equal(st.alert, 1);
    /* scores outside the range are clamped into the end bins, not dropped */
    rec_drift_observe_score(d, -5, 1999);
    rec_drift_observe_score(d, 7, 1999);
    rec_drift_status(d, 1999, &st);
    assert_int_equal(st.current_scores, 502);
    rec_drift_free(d);
}

static void test_nan_under_minimum(void **state)
{
    struct rec_drift *d = make(1000, 200, 200, 0);
    fill(d, 0, 0, flat, 0, 1);
    struct rec_drift_status st;
    /* 199 events in the current window: one short of min_events */
    for (int i = 0; i < 199; i++)
        rec_drift_observe_item(d, 50 + i % 5, 1000 + i);
    for (int k = 0; k < 200; k++)
        rec_drift_observe_score(d, 0.9, 1000 + k);
    rec_drift_status(d, 1500, &st);
    assert_int_equal(st.current_events, 199);
    assert_true(isnan(st.kl_popularity));
    /* scores have their own minimum, met here: 200 of 0.9 vs 500 spread over [0, 1) */
    assert_false(isnan(st.kl_score));
    assert_true(st.kl_score > 0.5);
    assert_int_equal(st.alert, 1);
    /* the 200th event makes the windows comparable */
    rec_drift_observe_item(d, 50, 1501);
    rec_drift_status(d, 1501, &st);
    assert_false(isnan(st.kl_popularity));
    assert_true(st.kl_popularity > 0.5);
    rec_drift_free(d);
}

/* ---- concurrency ---- */

#define N_THREADS 4
#define N_OBS 20000

static void *observe_many(void *p)
{
    struct rec_drift *d = p;
    struct rec_drift_status st;
    for (int i = 0; i < N_OBS; i++) {
        rec_drift_observe_item(d, i % 5000, 10);   /* grows the arrays while others observe */
        rec_drift_observe_score(d, (i % 10) / 10.0, 10);
        if (i % 1000 == 0)
            rec_drift_status(d, 10, &st);
    }
    return NULL;
}

static void test_concurrent_observe(void **state)
{
    struct rec_drift *d = make(100, 1, 1, 0);
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, observe_many, d), 0);
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    struct rec_drift_status st;
    rec_drift_status(d, 150, &st);   /* rolls: the busy window is now the reference */
    assert_int_equal(st.reference_events, N_THREADS * N_OBS);
    assert_int_equal(st.reference_scores, N_THREADS * N_OBS);
    assert_int_equal(st.current_events, 0);
    rec_drift_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kl_hand_computed),
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_window_rolling),
        cmocka_unit_test(test_same_popularity_no_alert),
        cmocka_unit_test(test_shifted_popularity_alerts),
        cmocka_unit_test(test_shifted_scores_alert),
        cmocka_unit_test(test_nan_under_minimum),
        cmocka_unit_test(test_concurrent_observe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
