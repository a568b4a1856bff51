/* api_metrics.c: GET /metrics (Prometheus), GET /v1/metrics/history (the sampled history the
 * dashboard plots) and GET /dashboard (the page, built into the binary). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/api.h"
#include "obs/monitor.h"

/* cmake/embed.cmake's output for web/dashboard.html */
extern const unsigned char rec_dashboard_html[];
extern const unsigned long rec_dashboard_html_len;

static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

void rec_api_metrics(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    if (!api->monitor) {
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "metrics are not enabled");
        return;
    }
    size_t len = 0;
    char *text = rec_monitor_render(api->monitor, &len);
    rec_http_reply_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void rec_api_metrics_history(void *app, const struct rec_http_request *req,
                             struct rec_http_response *res)
{
    struct rec_api *api = app;
    if (!api->monitor) {
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "metrics are not enabled");
        return;
    }
    double since = 0;
    const char *v = rec_http_query(req, "since");
    if (v) {
        char *end;
        since = strtod(v, &end);
        if (end == v || *end || !isfinite(since)) {
            rec_http_reply_error(res, 0, REC_EINVAL, "query parameter since must be Unix seconds, got '%.40s'", v);
            return;
        }
    }
    struct rec_monitor_sample *s = malloc(REC_MONITOR_HISTORY * sizeof *s);
    if (!s) {
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
        return;
    }
    int n = rec_monitor_history(api->monitor, since, s, REC_MONITOR_HISTORY);
    json_t *arr = json_array();
    for (int k = 0; k < n; k++) {
        json_t *o = json_pack("{s:f,s:I,s:I,s:f,s:f,s:I}", "ts", s[k].ts, "events_total",
                              (json_int_t)s[k].events_total, "requests_total",
                              (json_int_t)s[k].requests_total, "events_per_s", s[k].events_per_s,
                              "requests_per_s", s[k].requests_per_s, "model_version",
                              (json_int_t)s[k].model_version);
        json_object_set_new(o, "p50_ms", num_or_null(s[k].p50_ms));
        json_object_set_new(o, "p99_ms", num_or_null(s[k].p99_ms));
        json_object_set_new(o, "hit_rate", num_or_null(s[k].hit_rate));
        json_object_set_new(o, "kl_popularity", num_or_null(s[k].kl_popularity));
        json_object_set_new(o, "kl_score", num_or_null(s[k].kl_score));
        json_array_append_new(arr, o);
    }
    free(s);
    rec_http_reply_json(res, 200, json_pack("{s:f,s:o}", "interval_s",
                                            rec_monitor_interval(api->monitor), "samples", arr));
}

void rec_api_dashboard(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    char *page = malloc(rec_dashboard_html_len + 1);
    if (page)
        memcpy(page, rec_dashboard_html, rec_dashboard_html_len + 1);
    rec_http_reply_text(res, 200, "text/html; charset=utf-8", page, rec_dashboard_html_len);
}
