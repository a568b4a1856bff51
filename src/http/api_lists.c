/* api_lists.c: GET /v1/items/{id}/similar and /v1/popular (recommendations: api_recommend.c). */
#include <jansson.h>
#include <stdlib.h>

#include "core/err.h"
#include "http/api.h"
#include "serve/engine.h"

#define DEFAULT_N 10

static const char *const source_names[] = {
    [REC_SOURCE_ALS] = "als",
    [REC_SOURCE_KNN] = "knn",
    [REC_SOURCE_POPULAR] = "popular",
};

/* The reason as /v1/recommend gives it: {"kind", "item" (the evidence, when there is one),
 * "text"}. */
static json_t *reason_json(const struct rec_result *r)
{
    json_t *o = json_pack("{s:s,s:s}", "kind", r->kind, "text", r->reason);
    if (o && r->because[0])
        json_object_set_new(o, "item", json_string(r->because));
    return o;
}

static json_t *items_json(const struct rec_result *r, int n)
{
    json_t *arr = json_array();
    for (int k = 0; k < n; k++) {
        json_t *o = json_pack("{s:s,s:f,s:i,s:s,s:o}", "id", r[k].id, "score", r[k].score,
                              "position", k + 1, "source", source_names[r[k].source], "reason",
                              reason_json(&r[k]));
        if (!o) { /* never drop an item silently: the whole answer fails instead */
            json_decref(arr);
            return NULL;
        }
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
