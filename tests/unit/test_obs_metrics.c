/* Prometheus registry: exact exposition text, escaping, histograms, quantiles, concurrent
 * updates, the label-combination cap and name checks. */
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

#include "obs/metrics.h"

#define V(...) ((const char *const[]){__VA_ARGS__})

static void collect_store(void *ctx, struct rec_metrics_out *out)
{
    int *calls = ctx;
    (*calls)++;
    rec_metrics_out_family(out, "recd_store_items", "gauge", "Items in the store.");
    rec_metrics_out_sample(out, "recd_store_items", 42, "shard", "a\"b\\c\nd", NULL);
    rec_metrics_out_sample(out, "bad-name", 1, NULL);                /* skipped */
    rec_metrics_out_sample(out, "recd_store_items", 1, "bad label", "x", NULL); /* skipped */
}

static void test_render_exact(void **state)
{
    struct rec_metrics_registry *m = rec_metrics_new();
    assert_non_null(m);
    struct rec_metric *req =
        rec_metrics_counter(m, "recd_requests_total", "Requests served.", "route,status");
    struct rec_metric *age =
        rec_metrics_gauge(m, "recd_model_age_seconds", "Age of the model.\nIn seconds \\ wall", NULL);
    const double bounds[] = {0.01, 0.1, 1};
    struct rec_metric *lat =
        rec_metrics_histogram(m, "recd_latency_seconds", "Latency.", "route", bounds, 3);
    assert_non_null(req);
    assert_non_null(age);
    assert_non_null(lat);
    int calls = 0;
    assert_int_equal(rec_metrics_add_collector(m, collect_store, &calls), 0);

    rec_metric_add(req, V("/recommend", "200"), 3);
    rec_metric_add(req, V("/events", "400"), 1);
    rec_metric_add(req, V("/recommend", "200"), 2);   /* 3 + 2 = 5 */
    rec_metric_add(req, V("/recommend", "200"), -7);  /* counters never go down: ignored */
    rec_metric_set(req, V("/recommend", "200"), 100); /* set on a counter: ignored */
    rec_metric_set(age, NULL, 12.5);
    /* dyadic values so the sum is exact: 2^-7 + 2^-4 + 2^-4 + 2^-1 + 2 = 2.6328125;
     * per bucket (le 0.01, 0.1, 1, +Inf): 1, 2, 1, 1 -> cumulative 1, 3, 4, 5 */
    const double obs[] = {0.0078125, 0.0625, 0.0625, 0.5, 2};
    for (int i = 0; i < 5; i++)
        rec_metric_observe(lat, V("/recommend"), obs[i]);
    rec_metric_observe(lat, V("/recommend"), NAN);    /* ignored */

    size_t len = 0;
    char *text = rec_metrics_render(m, &len);
    assert_non_null(text);
    const char *want =
        "# HELP recd_requests_total Requests served.\n"
        "# TYPE recd_requests_total counter\n"
        "recd_requests_total{route=\"/recommend\",status=\"200\"} 5\n"
        "recd_requests_total{route=\"/events\",status=\"400\"} 1\n"
        "# HELP recd_model_age_seconds Age of the model.\\nIn seconds \\\\ wall\n"
        "# TYPE recd_model_age_seconds gauge\n"
        "recd_model_age_seconds 12.5\n"
        "# HELP recd_latency_seconds Latency.\n"
        "# TYPE recd_latency_seconds histogram\n"
        "recd_latency_seconds_bucket{route=\"/recommend\",le=\"0.01\"} 1\n"
        "recd_latency_seconds_bucket{route=\"/recommend\",le=\"0.1\"} 3\n"
        "recd_latency_seconds_bucket{route=\"/recommend\",le=\"1\"} 4\n"
        "recd_latency_seconds_bucket{route=\"/recommend\",le=\"+Inf\"} 5\n"
        "recd_latency_seconds_sum{route=\"/recommend\"} 2.6328125\n"
        "recd_latency_seconds_count{route=\"/recommend\"} 5\n"
        "# HELP recd_metrics_dropped_total Metric updates dropped because a family had too many "
        "label combinations.\n"
        "# TYPE recd_metrics_dropped_total counter\n"
        "recd_metrics_dropped_total 0\n"
        "# HELP recd_store_items Items in the store.\n"
        "# TYPE recd_store_items gauge\n"
        "recd_store_items{shard=\"a\\\"b\\\\c\\nd\"} 42\n";
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    assert_int_equal(calls, 1);
    free(text);

    /* the dashboard views agree with the text */
    assert_true(rec_metric_total(req) == 6.0);
    assert_true(rec_metric_total(age) == 12.5);
    assert_true(isnan(rec_metric_total(lat)));
    rec_metrics_free(m);
}

static void test_escaping_and_numbers(void **state)
{
    struct rec_metrics_registry *m = rec_metrics_new();
    struct rec_metric *g = rec_metrics_gauge(m, "g", "", "case");
    assert_non_null(g);
    rec_metric_set(g, V("quote\"back\\slash\nnewline"), 1);
    rec_metric_set(g, V("bad\xff utf8 caf\xc3\xa9"), 2);   /* 0xff is never valid UTF-8 */
    rec_metric_set(g, V("third"), 1.0 / 3.0);   /* shortest round trip: 16 digits */
    rec_metric_set(g, V("big"), 1e20);
    rec_metric_set(g, V("negzero"), -0.0);
    rec_metric_set(g, V("nan"), NAN);
    rec_metric_set(g, V("inf"), INFINITY);
    rec_metric_set(g, V("-inf"), -INFINITY);
    rec_metric_set(g, V("neg"), -3);
    rec_metric_set(g, V("tenth"), 0.1);
    rec_metric_add(g, V("tenth"), -0.1);          /* gauges go down too: 0.1 - 0.1 = 0 */
    rec_metric_set(g, NULL, 7);                   /* NULL values: the "" combination */
    char *text = rec_metrics_render(m, NULL);
    assert_non_null(text);
    const char *want =
        "# HELP g \n"
        "# TYPE g gauge\n"
        "g{case=\"quote\\\"back\\\\slash\\nnewline\"} 1\n"
        "g{case=\"bad? utf8 caf\xc3\xa9\"} 2\n"
        "g{case=\"third\"} 0.3333333333333333\n"
        "g{case=\"big\"} 1e+20\n"
        "g{case=\"negzero\"} 0\n"
        "g{case=\"nan\"} NaN\n"
        "g{case=\"inf\"} +Inf\n"
        "g{case=\"-inf\"} -Inf\n"
        "g{case=\"neg\"} -3\n"
        "g{case=\"tenth\"} 0\n"
        "g{case=\"\"} 7\n";
    assert_true(strlen(text) > strlen(want));
    text[strlen(want)] = '\0';   /* recd_metrics_dropped_total follows */
    assert_string_equal(text, want);
    free(text);

    /* a value longer than REC_METRICS_VALUE_MAX is cut, and its prefix is the same series */
    char longv[REC_METRICS_VALUE_MAX + 50];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    struct rec_metric *c = rec_metrics_counter(m, "c_total", "", "id");
    rec_metric_add(c, V(longv), 1);
    longv[REC_METRICS_VALUE_MAX + 10] = 'y';   /* differs only past the cut */
    rec_metric_add(c, V(longv), 1);
    text = rec_metrics_render(m, NULL);
    char line[REC_METRICS_VALUE_MAX + 32];
    snprintf(line, sizeof line, "c_total{id=\"%.*s\"} 2\n", REC_METRICS_VALUE_MAX, longv);
    assert_non_null(strstr(text, line));
    free(text);
    rec_metrics_free(m);
}

static void test_histogram_totals(void **state)
{
    struct rec_metrics_registry *m = rec_metrics_new();
    const double bounds[] = {1, 2, 4};
    struct rec_metric *h = rec_metrics_histogram(m, "h", "x", "shard", bounds, 3);
    assert_non_null(h);
    /* shard a: 0.5 (le 1), 1 (le 1: bounds are inclusive), 3 (le 4); shard b: 2 (le 2), 9 (+Inf) */
    rec_metric_observe(h, V("a"), 0.5);
    rec_metric_observe(h, V("a"), 1);
    rec_metric_observe(h, V("a"), 3);
    rec_metric_observe(h, V("b"), 2);
    rec_metric_observe(h, V("b"), 9);
    uint64_t counts[4];
    double sum;
    uint64_t count;
    assert_int_equal(rec_metric_histogram_totals(h, counts, &sum, &count), 3);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 1);
    assert_int_equal(counts[3], 1);
    assert_true(sum == 15.5);   /* 0.5 + 1 + 3 + 2 + 9 */
    assert_int_equal(count, 5);
    int nb = 0;
    const double *b = rec_metric_buckets(h, &nb);
    assert_int_equal(nb, 3);
    assert_true(b[0] == 1 && b[1] == 2 && b[2] == 4);

    char *text = rec_metrics_render(m, NULL);
    /* shard b cumulative: le 1 -> 0, le 2 -> 1, le 4 -> 1, +Inf -> 2 */
    assert_non_null(strstr(text, "h_bucket{shard=\"b\",le=\"1\"} 0\n"
                                 "h_bucket{shard=\"b\",le=\"2\"} 1\n"
                                 "h_bucket{shard=\"b\",le=\"4\"} 1\n"
                                 "h_bucket{shard=\"b\",le=\"+Inf\"} 2\n"
                                 "h_sum{shard=\"b\"} 11\n"
                                 "h_count{shard=\"b\"} 2\n"));
    free(text);

    struct rec_metric *c = rec_metrics_counter(m, "c", "x", NULL);
    assert_int_equal(rec_metric_histogram_totals(c, counts, &sum, &count), -1);
    assert_null(rec_metric_buckets(c, &nb));
    assert_int_equal(nb, 0);
    rec_metric_observe(c, NULL, 1);   /* wrong kind: no-op */
    rec_metric_add(NULL, NULL, 1);    /* NULL family: no-op */
    assert_true(rec_metric_total(c) == 0);
    assert_true(rec_metric_total(NULL) == 0);
    rec_metrics_free(m);
}

static void test_quantile(void **state)
{
    const double bounds[] = {1, 2, 4};
    /* counts {10, 20, 10, 0}: cumulative 10, 30, 40, 40; total 40. */
    const uint64_t counts[] = {10, 20, 10, 0};
    /* q = 0.5: rank 20, first cumulative >= 20 is bucket (1, 2] holding 20 with 10 below:
     * 1 + (2 - 1) * (20 - 10) / 20 = 1.5 */
    assert_true(rec_histogram_quantile(bounds, 3, counts, 0.5) == 1.5);
    /* q = 0.9: rank 36 in (2, 4] holding 10 with 30 below: 2 + 2 * (36 - 30) / 10 = 3.2 */
    assert_true(fabs(rec_histogram_quantile(bounds, 3, counts, 0.9) - 3.2) < 1e-12);
    /* q = 0.1: rank 4 in (0, 1] holding 10: 0 + 1 * 4 / 10 = 0.4 */
    assert_true(fabs(rec_histogram_quantile(bounds, 3, counts, 0.1) - 0.4) < 1e-12);
    /* q = 0.25: rank 10 is exactly the first bucket's cumulative count: 1 * 10 / 10 = 1 */
    assert_true(rec_histogram_quantile(bounds, 3, counts, 0.25) == 1.0);
    /* q = 1: rank 40 reached in (2, 4]: 2 + 2 * 10 / 10 = 4 */
    assert_true(rec_histogram_quantile(bounds, 3, counts, 1.0) == 4.0);

    /* all in +Inf: the highest finite bound */
    const uint64_t inf_only[] = {0, 0, 0, 5};
    assert_true(rec_histogram_quantile(bounds, 3, inf_only, 0.5) == 4.0);
    /* q = 0 is the lower edge of the first non-empty bucket; q = 1 its upper edge here */
    const uint64_t mid[] = {0, 5, 0, 0};
    assert_true(rec_histogram_quantile(bounds, 3, mid, 0.0) == 1.0);
    assert_true(rec_histogram_quantile(bounds, 3, mid, 1.0) == 2.0);
    /* a first bound <= 0 is returned as is (no interpolation from 0) */
    const double neg[] = {-1, 0, 1};
    const uint64_t first[] = {4, 0, 0, 0};
    assert_true(rec_histogram_quantile(neg, 3, first, 0.5) == -1.0);
    /* no observations, bad q */
    const uint64_t none[] = {0, 0, 0, 0};
    assert_true(isnan(rec_histogram_quantile(bounds, 3, none, 0.5)));
    assert_true(isnan(rec_histogram_quantile(bounds, 3, counts, NAN)));
    assert_true(rec_histogram_quantile(bounds, 3, counts, -0.1) == -INFINITY);
    assert_true(rec_histogram_quantile(bounds, 3, counts, 1.1) == INFINITY);
}

/* ---- concurrency ---- */

#define N_THREADS 4
#define N_ADDS 100000

struct worker {
    struct rec_metric *c, *h;
    int t;
};

static void *hammer(void *p)
{
    struct worker *w = p;
    char own[32], shared[32];
    for (int i = 0; i < N_ADDS; i++) {
        rec_metric_add(w->c, V("same"), 1);
        snprintf(own, sizeof own, "t%d-%d", w->t, i % 50);   /* 50 combinations per thread */
        rec_metric_add(w->c, V(own), 1);
        snprintf(shared, sizeof shared, "s-%d", i % 100);    /* 100 raced for by all threads */
        rec_metric_add(w->c, V(shared), 1);
        rec_metric_observe(w->h, NULL, i % 4);
    }
    return NULL;
}

/* Renders while the workers update; returns how many renders failed (cmocka's asserts belong
 * on the main thread). */
static void *render_loop(void *p)
{
    intptr_t failed = 0;
    for (int i = 0; i < 20; i++) {
        char *text = rec_metrics_render(p, NULL);
        failed += text == NULL;
        free(text);
    }
    return (void *)failed;
}

static void test_concurrent_updates(void **state)
{
    struct rec_metrics_registry *m = rec_metrics_new();
    const double bounds[] = {0.5, 1.5, 2.5};
    struct worker w[N_THREADS];
    pthread_t th[N_THREADS], renderer;
    struct rec_metric *c = rec_metrics_counter(m, "c_total", "", "k");
    struct rec_metric *h = rec_metrics_histogram(m, "h", "", NULL, bounds, 3);
    for (int t = 0; t < N_THREADS; t++) {
        w[t] = (struct worker){c, h, t};
        assert_int_equal(pthread_create(&th[t], NULL, hammer, &w[t]), 0);
    }
    assert_int_equal(pthread_create(&renderer, NULL, render_loop, m), 0);
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    void *render_failures;
    pthread_join(renderer, &render_failures);
    assert_true(render_failures == NULL);

    /* 3 adds of 1 per iteration: 3 * 4 * 100000 = 1200000, exact in a double */
    assert_true(rec_metric_total(c) == 1200000.0);
    char *text = rec_metrics_render(m, NULL);
    assert_non_null(strstr(text, "c_total{k=\"same\"} 400000\n"));
    /* t0-7 gets i = 7, 57, 107, ...: 100000 / 50 = 2000 adds */
    assert_non_null(strstr(text, "c_total{k=\"t0-7\"} 2000\n"));
    /* s-42 gets 100000 / 100 = 1000 adds from each of 4 threads */
    assert_non_null(strstr(text, "c_total{k=\"s-42\"} 4000\n"));
    /* one series per combination: 1 + 4 * 50 + 100 = 301 lines */
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "\nc_total{")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 301);
    free(text);

    /* i % 4 = 0, 1, 2, 3 each 25000 times per thread: 100000 per bucket;
     * sum = 4 * 25000 * (0 + 1 + 2 + 3) = 600000 */
    uint64_t counts[4], count;
    double sum;
    rec_metric_histogram_totals(h, counts, &sum, &count);
    for (int b = 0; b < 4; b++)
        assert_int_equal(counts[b], 100000);
    assert_int_equal(count, 400000);
    assert_true(sum == 600000.0);
    rec_metrics_free(m);
}

static void test_combination_cap(void **state)
{
    struct rec_metrics_registry *m = rec_metrics_new();
    struct rec_metric *c = rec_metrics_counter(m, "ids_total", "", "id");
    char id[16];
    for (int i = 0; i < REC_METRICS_MAX_CHILDREN + 100; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        rec_metric_add(c, V(id), 1);
    }
    /* 1000 kept, 100 dropped */
    assert_true(rec_metric_total(c) == 1000.0);
    rec_metric_add(c, V("id-5"), 1);      /* existing combinations still count */
    rec_metric_add(c, V("id-1050"), 1);   /* a dropped one stays dropped: 101 */
    assert_true(rec_metric_total(c) == 1001.0);
    char *text = rec_metrics_render(m, NULL);
    assert_non_null(strstr(text, "ids_total{id=\"id-5\"} 2\n"));
    assert_null(strstr(text, "id-1050"));
    assert_non_null(strstr(text, "\nrecd_metrics_dropped_total 101\n"));
    free(text);
    rec_metrics_free(m);
}

static void test_bad_names(void **state)
{
    struct rec_metrics_registry *m = rec_metrics_new();
    const double ok_b[] = {1, 2}, dup_b[] = {1, 1}, nan_b[] = {1, NAN};
    double many[REC_METRICS_MAX_BUCKETS + 1];
    for (int i = 0; i <= REC_METRICS_MAX_BUCKETS; i++)
        many[i] = i;
    assert_non_null(rec_metrics_counter(m, "ns:sub_total", "", "a,b_2,C,_d"));
    assert_null(rec_metrics_counter(m, "ns:sub_total", "", NULL));   /* duplicate */
    assert_null(rec_metrics_gauge(m, "ns:sub_total", "", NULL));     /* duplicate, other kind */
    assert_null(rec_metrics_counter(m, "recd_metrics_dropped_total", "", NULL)); /* reserved */
    assert_null(rec_metrics_counter(m, "1abc", "", NULL));
    assert_null(rec_metrics_counter(m, "a-b", "", NULL));
    assert_null(rec_metrics_counter(m, "", "", NULL));
    assert_null(rec_metrics_counter(m, NULL, "", NULL));
    assert_null(rec_metrics_counter(NULL, "x", "", NULL));
    assert_null(rec_metrics_counter(m, "x1", "", "a,,b"));
    assert_null(rec_metrics_counter(m, "x2", "", "a,"));
    assert_null(rec_metrics_counter(m, "x3", "", "a,b,c,d,e"));     /* 5 labels */
    assert_null(rec_metrics_counter(m, "x4", "", "a:b"));           /* no ':' in label names */
    assert_null(rec_metrics_counter(m, "x5", "", "__x"));           /* reserved prefix */
    assert_null(rec_metrics_counter(m, "x6", "", "a,a"));
    assert_null(rec_metrics_counter(m, "x7", "", "a, b"));
    assert_null(rec_metrics_histogram(m, "h1", "", "le", ok_b, 2));
    assert_null(rec_metrics_histogram(m, "h2", "", NULL, dup_b, 2));
    assert_null(rec_metrics_histogram(m, "h3", "", NULL, nan_b, 2));
    assert_null(rec_metrics_histogram(m, "h4", "", NULL, ok_b, 0));
    assert_null(rec_metrics_histogram(m, "h5", "", NULL, many, REC_METRICS_MAX_BUCKETS + 1));
    assert_non_null(rec_metrics_histogram(m, "h6", "", NULL, many, REC_METRICS_MAX_BUCKETS));
    assert_non_null(rec_metrics_gauge(m, "x1", "", "le"));          /* fine outside histograms */
    assert_int_equal(rec_metrics_add_collector(m, NULL, NULL), -1); /* REC_EINVAL */
    /* the rejected names left nothing behind */
    char *text = rec_metrics_render(m, NULL);
    assert_null(strstr(text, "x2"));
    assert_null(strstr(text, "h1"));
    free(text);
    rec_metrics_free(m);
    rec_metrics_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_escaping_and_numbers),
        cmocka_unit_test(test_histogram_totals),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_combination_cap),
        cmocka_unit_test(test_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
