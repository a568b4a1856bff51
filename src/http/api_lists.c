/* api_lists.c: GET /v1/recommend/{user}, /v1/items/{id}/similar, /v1/popular. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "exp/tracker.h"
#include "http/api.h"
#include "obs/monitor.h"
#include "serve/engine.h"
#include "serve/settings.h"

#define DEFAULT_N 10

static const char *const source_names[] = {
    [REC_SOURCE_ALS] = "als",
    [REC_SOURCE_KNN] = "knn",
    [REC_SOURCE_POPULAR] = "popular",
};

static json_t *items_json(const struct rec_result *r, int n)
{
    json_t *arr = json_array();
    for (int k = 0; k < n; k++) {
        json_t *o = json_pack("{s:s,s:f,s:s,s:s}", "id", r[k].id, "score", r[k].score, "reason",
                              r[k].reason, "source", source_names[r[k].source]);
        if (!o) { /* never drop an item silently: the whole answer fails instead */
            json_decref(arr);
            return NULL;
        }
        if (r[k].because[0])
            json_object_set_new(o, "because", json_string(r[k].because));
        json_object_set_new(o, "position", json_integer(k + 1));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Shared shape of the three list handlers: parse n, allocate, call, reply. */
static struct rec_result *begin_list(struct rec_api *api, const struct rec_http_request *req,
                                     struct rec_http_response *res, int *n)
{
    if (rec_api_parse_n(req, res, DEFAULT_N, api->max_n, n))
        return NULL;
    struct rec_result *r = malloc((size_t)*n * sizeof *r);
    if (!r)
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
    return r;
}

/* Boolean query flag: "0"/"false" are false, anything else true; def when absent. */
static int query_flag(const struct rec_http_request *req, const char *key, int def)
{
    const char *v = rec_http_query(req, key);
    if (!v)
        return def;
    return !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0);
}

/* Logs the list with the tracker (unless track is off) and fills rec_id; "" when not logged. */
static int track_list(struct rec_api *api, const char *user, const struct rec_exp_assignment *a,
                      const struct rec_result *r, int n, char rec_id[REC_TRACKER_ID_LEN + 1])
{
    rec_id[0] = '\0';
    if (!api->tracker)
        return 0;
    const char **ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids)
        return REC_ENOMEM;
    for (int k = 0; k < n; k++)
        ids[k] = r[k].id;
    int rc = rec_tracker_served(api->tracker, user, a, ids, n, rec_wall_s(), rec_id);
    free(ids);
    return rc;
}

void rec_api_recommend(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    int n, got = 0;
    const char *model;
    double t0 = rec_mono_s();
    const char *id = rec_api_path_id(req, res, "user id");
    if (!id)
        return;
    struct rec_result *r = begin_list(api, req, res, &n);
    if (!r)
        return;
    /* the experiment decides the pipeline settings; track=0 (previews, the dashboard) serves
     * the same list without logging it or counting it for the experiment */
    struct rec_exp_assignment a;
    rec_experiments_assign(api->experiments, id, &a);
    int track = query_flag(req, "track", 1);
    struct rec_request_opts opts;
    rec_request_opts_default(&opts);
    rec_settings_apply(a.settings, &opts);
    int rc = rec_engine_recommend_opts(api->engine, id, n, &opts, r, &got, &model);
    char rec_id[REC_TRACKER_ID_LEN + 1] = "";
    if (rc == 0 && track)
        rc = track_list(api, id, &a, r, got, rec_id);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "recommendation failed");
    } else {
        if (api->monitor && track)
            rec_monitor_served(api->monitor, a.variant_name, rec_mono_s() - t0,
                               opts.top_model_score);
        json_t *body = json_pack("{s:s,s:o,s:s,s:s}", "user", id, "items", items_json(r, got),
                                 "model", model, "variant", a.variant_name);
        json_object_set_new(body, "recommendation_id", rec_id[0] ? json_string(rec_id) : json_null());
        json_object_set_new(body, "experiment", a.exp ? json_string(a.exp->name) : json_null());
        rec_http_reply_json(res, 200, body);
    }
    free(r);
}

void rec_api_similar(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    int n, got = 0;
    const char *id = rec_api_path_id(req, res, "item id");
    if (!id)
        return;
    struct rec_result *r = begin_list(api, req, res, &n);
    if (!r)
        return;
    int rc = rec_engine_similar(api->engine, id, n, r, &got);
    if (rc == REC_ENOTFOUND)
        rec_http_reply_error(res, 0, rc, "no item with id \"%.256s\"", id);
    else if (rc)
        rec_http_reply_error(res, 0, rc, "similar items failed");
    else
        rec_http_reply_json(res, 200, json_pack("{s:s,s:o}", "item", id, "items",
                                                items_json(r, got)));
    free(r);
}

void rec_api_popular(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    int n, got = 0;
    struct rec_result *r = begin_list(api, req, res, &n);
    if (!r)
        return;
    int rc = rec_engine_popular(api->engine, n, r, &got);
    if (rc)
        rec_http_reply_error(res, 0, rc, "popular items failed");
    else
        rec_http_reply_json(res, 200, json_pack("{s:o,s:s}", "items", items_json(r, got), "model",
                                                "popular"));
    free(r);
}
