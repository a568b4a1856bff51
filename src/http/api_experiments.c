/* api_experiments.c: GET /v1/experiments and GET /v1/experiments/{name}: per variant counts,
 * rates with 95% intervals, and each variant against the control (the first variant). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "core/err.h"
#include "exp/experiment.h"
#include "exp/stats.h"
#include "exp/tracker.h"
#include "http/api.h"

#define CONFIDENCE 0.95
#define ALPHA 0.05
/* mSPRT mixing sd of the CTR difference: the size of effect the test is most sensitive to.
 * 0.01 suits click-through rates of a few percent to a few tens of percent. */
#define MSPRT_TAU 0.01
#define FEW_IMPRESSIONS 100

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *pair(double lo, double hi)
{
    return isfinite(lo) && isfinite(hi) ? json_pack("[f,f]", lo, hi) : json_null();
}

/* A rate x/n with its Wilson interval, into o as name and name_ci. */
static void set_rate(json_t *o, const char *name, const char *ci_name, int64_t x, int64_t n)
{
    if (n <= 0) {
        json_object_set_new(o, name, json_null());
        json_object_set_new(o, ci_name, json_null());
        return;
    }
    double lo, hi;
    rec_wilson(x, n, CONFIDENCE, &lo, &hi);
    json_object_set_new(o, name, json_real((double)x / (double)n));
    json_object_set_new(o, ci_name, pair(lo, hi));
}

static int64_t impressions_of(const struct rec_experiment *x, const struct rec_variant_stats *s)
{
    return x->impressions == REC_EXP_IMPRESSIONS_EVENTS ? s->impressions : s->served_items;
}

static json_t *versus_json(const struct rec_experiment *x, const struct rec_variant_stats *ctl,
                           const struct rec_variant_stats *s)
{
    struct rec_two_prop t;
    if (rec_two_prop_test(ctl->clicks, impressions_of(x, ctl), s->clicks, impressions_of(x, s),
                          CONFIDENCE, ALPHA, MSPRT_TAU, &t))
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "lift", num_or_null(t.lift));
    json_object_set_new(o, "diff", num_or_null(t.diff));
    json_object_set_new(o, "diff_ci", pair(t.diff_lo, t.diff_hi));
    json_object_set_new(o, "z", num_or_null(t.z));
    json_object_set_new(o, "p_value", num_or_null(t.p_value));
    json_object_set_new(o, "p_sequential", num_or_null(t.p_sequential));
    json_object_set_new(o, "significant", json_boolean(t.significant));
    return o;
}

static json_t *variant_json(const struct rec_experiment *x, const struct rec_variant_stats *s,
                            const struct rec_variant_stats *ctl)
{
    int64_t imp = impressions_of(x, s);
    json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "name", s->name, "users",
                          (json_int_t)s->users, "requests", (json_int_t)s->requests,
                          "served_items", (json_int_t)s->served_items, "impressions",
                          (json_int_t)imp, "clicks", (json_int_t)s->clicks, "conversions",
                          (json_int_t)s->conversions, "dwell_n", (json_int_t)s->dwell_n);
    set_rate(o, "ctr", "ctr_ci", s->clicks, imp);
    set_rate(o, "conversion_rate", "conversion_ci", s->conversions, imp);
    double mean, lo, hi;
    rec_mean_ci(s->dwell_n, s->dwell_sum, s->dwell_sumsq, CONFIDENCE, &mean, &lo, &hi);
    json_object_set_new(o, "dwell_mean", num_or_null(mean));
    json_object_set_new(o, "dwell_ci", s->dwell_n >= 2 ? pair(lo, hi) : json_null());
    json_object_set_new(o, "vs_control", ctl ? versus_json(x, ctl, s) : json_null());
    return o;
}

static json_t *series_json(struct rec_tracker *t, const struct rec_experiment *x,
                           const struct rec_variant_stats *st, int n)
{
    json_t *arr = json_array();
    struct rec_series_point *pts = malloc(REC_TRACKER_SERIES_MAX * sizeof *pts);
    for (int v = 0; pts && v < n; v++) {
        int slot = v < x->n_variants ? v : x->n_variants;
        int got = rec_tracker_series(t, x->name, slot, pts, REC_TRACKER_SERIES_MAX);
        json_t *points = json_array();
        for (int k = 0; k < got; k++) {
            json_t *p = json_pack("{s:f,s:I,s:I}", "ts", pts[k].ts, "impressions",
                                  (json_int_t)pts[k].impressions, "clicks",
                                  (json_int_t)pts[k].clicks);
            double lo = NAN, hi = NAN;
            if (pts[k].impressions > 0)
                rec_wilson(pts[k].clicks, pts[k].impressions, CONFIDENCE, &lo, &hi);
            json_object_set_new(p, "ctr", pts[k].impressions > 0
                                              ? json_real((double)pts[k].clicks / (double)pts[k].impressions)
                                              : json_null());
            json_object_set_new(p, "lo", num_or_null(lo));
            json_object_set_new(p, "hi", num_or_null(hi));
            json_array_append_new(points, p);
        }
        json_array_append_new(arr, json_pack("{s:s,s:o}", "variant", st[v].name, "points", points));
    }
    free(pts);
    return arr;
}

static const char *impressions_name(const struct rec_experiment *x)
{
    return x->impressions == REC_EXP_IMPRESSIONS_EVENTS ? "events" : "served";
}

void rec_api_experiments(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    json_t *list = json_array();
    for (int e = 0; api->experiments && e < api->experiments->n; e++) {
        const struct rec_experiment *x = &api->experiments->list[e];
        json_t *names = json_array();
        for (int v = 0; v < x->n_variants; v++)
            json_array_append_new(names, json_string(x->variants[v].name));
        json_array_append_new(list, json_pack("{s:s,s:o,s:f,s:f,s:s}", "name", x->name, "variants",
                                              names, "traffic", x->traffic, "holdout", x->holdout,
                                              "impressions", impressions_name(x)));
    }
    rec_http_reply_json(res, 200, json_pack("{s:o}", "experiments", list));
}

void rec_api_experiment(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    const char *name = req->n_params > 0 ? req->params[0] : "";
    const struct rec_experiment *x = rec_experiments_find(api->experiments, name);
    struct rec_variant_stats st[REC_EXP_MAX_VARIANTS + 1];
    int n = 0;
    if (!x || !api->tracker || rec_tracker_stats(api->tracker, name, st, &n)) {
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "no experiment called \"%.64s\"", name);
        return;
    }
    json_t *variants = json_array();
    int few = 0;
    for (int v = 0; v < n; v++) {
        json_array_append_new(variants, variant_json(x, &st[v], v > 0 ? &st[0] : NULL));
        few |= impressions_of(x, &st[v]) < FEW_IMPRESSIONS;
    }
    json_t *body = json_pack("{s:s,s:s,s:f,s:f,s:o}", "name", x->name, "impressions",
                             impressions_name(x), "alpha", ALPHA, "confidence", CONFIDENCE,
                             "variants", variants);
    /* p_value is the classic fixed-horizon test; looking at it again and again until it dips
     * under alpha inflates false positives. p_sequential stays valid at every look. */
    json_object_set_new(body, "warning", json_string(
        few ? "fewer than 100 impressions in a variant: too early to read; and decide on "
              "p_sequential, not p_value, when you look repeatedly"
            : "p_value assumes one look at a sample size fixed in advance; when checking "
              "repeatedly, decide on p_sequential (always valid), which 'significant' uses"));
    const char *series = rec_http_query(req, "series");
    if (series && series[0] != '0')
        json_object_set_new(body, "series", series_json(api->tracker, x, st, n));
    rec_http_reply_json(res, 200, body);
}
