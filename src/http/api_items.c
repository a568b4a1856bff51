/* api_items.c: POST /v1/items, GET and DELETE /v1/items/{id}. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/api.h"
#include "serve/engine.h"
#include "store/store.h"

#define TEXT_MAX (64 * 1024)

static int string_array(json_t *v, const char *field, char *err, size_t errlen)
{
    if (!json_is_array(v))
        return rec_errf(err, errlen, REC_EINVAL, "field \"%s\" must be an array of strings", field);
    size_t k;
    json_t *s;
    json_array_foreach(v, k, s) {
        if (!json_is_string(s))
            return rec_errf(err, errlen, REC_EINVAL, "%s[%zu] must be a string", field, k);
        if (rec_event_check_id(json_string_value(s), field, err, errlen))
            return REC_EINVAL;
    }
    return 0;
}

/* Checks one item document; returns 0 or REC_EINVAL with the reason. */
static int check_item(json_t *doc, char *err, size_t errlen)
{
    if (!json_is_object(doc))
        return rec_errf(err, errlen, REC_EINVAL, "item must be a JSON object");
    json_t *id = json_object_get(doc, "id");
    if (!json_is_string(id))
        return rec_errf(err, errlen, REC_EINVAL, "missing string field \"id\"");
    if (rec_event_check_id(json_string_value(id), "id", err, errlen))
        return REC_EINVAL;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (!strcmp(key, "id"))
            continue;
        if (!strcmp(key, "categories") || !strcmp(key, "tags")) {
            if (string_array(v, key, err, errlen))
                return REC_EINVAL;
        } else if (!strcmp(key, "title") || !strcmp(key, "text")) {
            if (!json_is_string(v) && !json_is_null(v))
                return rec_errf(err, errlen, REC_EINVAL, "field \"%s\" must be a string", key);
            if (json_is_string(v) && json_string_length(v) > TEXT_MAX)
                return rec_errf(err, errlen, REC_EINVAL, "field \"%s\" is over %d bytes", key, TEXT_MAX);
        } else if (!strcmp(key, "published_at")) {
            if (!json_is_null(v) && (!json_is_number(v) || !isfinite(json_number_value(v))))
                return rec_errf(err, errlen, REC_EINVAL, "field \"published_at\" must be Unix seconds");
        } else if (!strcmp(key, "attributes")) {
            if (!json_is_object(v))
                return rec_errf(err, errlen, REC_EINVAL, "field \"attributes\" must be an object");
        } else {
            return rec_errf(err, errlen, REC_EINVAL, "unknown field \"%.64s\"", key);
        }
    }
    return 0;
}

void rec_api_post_items(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    json_t *batch = rec_api_parse_batch(api, req, res, 1);
    if (!batch)
        return;
    size_t n = json_array_size(batch);
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    char **docs = calloc(n ? n : 1, sizeof *docs);
    const char **titles = calloc(n ? n : 1, sizeof *titles);
    json_t *rejected = json_array();
    int n_ok = 0;
    if (!ids || !docs || !titles || !rejected) {
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        json_t *doc = json_array_get(batch, j);
        char msg[256];
        if (check_item(doc, msg, sizeof msg)) {
            json_array_append_new(rejected, json_pack("{s:I,s:s}", "index", (json_int_t)j, "reason", msg));
            continue;
        }
        ids[n_ok] = json_string_value(json_object_get(doc, "id"));
        json_t *t = json_object_get(doc, "title");
        titles[n_ok] = json_is_string(t) ? json_string_value(t) : NULL;
        if (!(docs[n_ok] = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS))) {
            rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
            goto out;
        }
        n_ok++;
    }
    if (n_ok == 0) {
        rec_http_reply_json(res, 400, json_pack("{s:{s:s,s:s},s:i,s:O}", "error", "code",
                                                "invalid_argument", "message", "no valid item in the batch",
                                                "upserted", 0, "rejected", rejected));
        goto out;
    }
    int rc = rec_store_upsert_items(api->store, ids, (const char *const *)docs, n_ok);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "items could not be stored");
        goto out;
    }
    for (int j = 0; j < n_ok; j++)
        rec_engine_put_item(api->engine, ids[j], titles[j]);
    rec_http_reply_json(res, 200, json_pack("{s:i,s:O}", "upserted", n_ok, "rejected", rejected));
out:
    for (int j = 0; docs && j < n_ok; j++)
        free(docs[j]);
    free(docs);
    free(ids);
    free(titles);
    json_decref(rejected);
    json_decref(batch);
}

void rec_api_get_item(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    char *doc = NULL;
    int deleted = 0;
    int rc = rec_store_get_item(api->store, req->params[0], &doc, &deleted);
    if (rc == REC_ENOTFOUND || (!rc && deleted)) {
        free(doc);
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "no item with id \"%.256s\"", req->params[0]);
        return;
    }
    if (rc) {
        rec_http_reply_error(res, 0, rc, "item could not be read");
        return;
    }
    json_t *obj = json_loads(doc, 0, NULL);
    free(doc);
    if (!json_is_object(obj)) {
        json_decref(obj);
        obj = json_object();
    }
    json_object_set_new(obj, "id", json_string(req->params[0]));
    rec_http_reply_json(res, 200, obj);
}

void rec_api_delete_item(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    char *doc = NULL;
    int deleted = 0;
    int rc = rec_store_get_item(api->store, req->params[0], &doc, &deleted);
    free(doc);
    if (!rc && deleted)
        rc = REC_ENOTFOUND; /* deleting twice finds nothing the second time */
    if (!rc)
        rc = rec_store_delete_item(api->store, req->params[0]);
    if (rc) {
        rec_http_reply_error(res, 0, rc, rc == REC_ENOTFOUND ? "no item with id \"%.256s\""
                                                             : "item \"%.256s\" could not be deleted",
                             req->params[0]);
        return;
    }
    rec_engine_delete_item(api->engine, req->params[0]);
    rec_http_reply_json(res, 200, json_pack("{s:s}", "deleted", req->params[0]));
}
