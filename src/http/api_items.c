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
static int check_item(void *d, char *err, size_t errlen)
{
    json_t *doc = d;
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

static const struct rec_api_doc_kind item_kind = {"item", 0, check_item, rec_store_upsert_items,
                                                  rec_engine_put_item_doc};

void rec_api_post_items(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    rec_api_upsert_docs(app, req, res, &item_kind);
}
void rec_api_get_item(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    const char *id = rec_api_path_id(req, res, "item id");
    if (!id)
        return;
    char *doc = NULL;
    int deleted = 0;
    int rc = rec_store_get_item(api->store, id, &doc, &deleted);
    if (rc == REC_ENOTFOUND || (!rc && deleted)) {
        free(doc);
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "no item with id \"%.256s\"", id);
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
    json_object_set_new(obj, "id", json_string(id));
    rec_http_reply_json(res, 200, obj);
}

void rec_api_delete_item(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    const char *id = rec_api_path_id(req, res, "item id");
    if (!id)
        return;
    char *doc = NULL;
    int deleted = 0;
    rec_engine_ingest_begin(api->engine, 1);
    int rc = rec_store_get_item(api->store, id, &doc, &deleted);
    free(doc);
    if (!rc && deleted)
        rc = REC_ENOTFOUND; /* deleting twice finds nothing the second time */
    if (!rc)
        rc = rec_store_delete_item(api->store, id);
    if (!rc)
        rec_engine_delete_item(api->engine, id);
    rec_engine_ingest_end(api->engine);
    if (rc) {
        rec_http_reply_error(res, 0, rc, rc == REC_ENOTFOUND ? "no item with id \"%.256s\""
                                                             : "item \"%.256s\" could not be deleted",
                             id);
        return;
    }
    rec_http_reply_json(res, 200, json_pack("{s:s}", "deleted", id));
}
