/* api_users.c: POST /v1/users, GET and DELETE /v1/users/{id}. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "exp/tracker.h"
#include "http/api.h"
#include "serve/ranker.h"
#include "serve/engine.h"
#include "store/store.h"

static int check_user(void *d, char *err, size_t errlen)
{
    json_t *doc = d;
    if (!json_is_object(doc))
        return rec_errf(err, errlen, REC_EINVAL, "user must be a JSON object");
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
        if (strcmp(key, "attributes"))
            return rec_errf(err, errlen, REC_EINVAL, "unknown field \"%.64s\"", key);
        if (!json_is_object(v))
            return rec_errf(err, errlen, REC_EINVAL, "field \"attributes\" must be an object");
    }
    return 0;
}

/* Users have no title. */
static int put_user(struct rec_engine *e, const char *id, const char *title, const char *doc)
{
    return rec_engine_put_user_doc(e, id, doc);
}

static const struct rec_api_doc_kind user_kind = {"user", 1, check_user, rec_store_upsert_users,
                                                  put_user};

void rec_api_post_users(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    rec_api_upsert_docs(app, req, res, &user_kind);
}
void rec_api_get_user(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    char keyed[REC_UID_BUF];
    const char *id = rec_api_path_user(api, req, res, keyed);
    if (!id)
        return;
    struct rec_user_info *info = malloc(sizeof *info);
    if (!info) {
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
        return;
    }
    if (rec_engine_user_info(api->engine, id, api->history_max, info)) {
        free(info);
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "no user with id \"%.256s\"", id);
        return;
    }
    char *doc = NULL;
    json_t *obj = NULL;
    if (rec_store_get_user(api->store, id, &doc) == 0)
        obj = json_loads(doc, 0, NULL);
    free(doc);
    if (!json_is_object(obj)) {
        json_decref(obj);
        obj = json_object();
    }
    json_object_set_new(obj, "id", json_string(id));
    if (!json_object_get(obj, "attributes"))
        json_object_set_new(obj, "attributes", json_object());
    json_object_set_new(obj, "events", json_integer(info->n_events));
    json_object_set_new(obj, "items", json_integer(info->n_items));
    json_t *hist = json_array();
    for (int k = 0; k < info->n_recent; k++)
        json_array_append_new(hist, json_pack("{s:s,s:s,s:f,s:I}", "item", info->recent[k].item,
                                              "type", rec_event_type_name(info->recent[k].type),
                                              "weight", (double)info->recent[k].weight, "ts",
                                              (json_int_t)info->recent[k].ts));
    json_object_set_new(obj, "history", hist);
    free(info);
    rec_http_reply_json(res, 200, obj);
}

void rec_api_delete_user(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    char keyed[REC_UID_BUF];
    const char *id = rec_api_path_user(api, req, res, keyed);
    if (!id)
        return;
    if (api->tracker) /* first, so no pending log row of theirs lands after the delete */
        rec_tracker_forget_user(api->tracker, id);
    rec_engine_ingest_begin(api->engine, 1);
    int rc = rec_store_delete_user(api->store, id);
    /* memory follows the store: a failed store delete leaves the user in both */
    int rc_mem = rc == 0 || rc == REC_ENOTFOUND ? rec_engine_delete_user(api->engine, id) : rc;
    rec_engine_ingest_end(api->engine);
    /* impressions waiting for an outcome name the user, and the model has a slot for their id
     * (reset, and its file rewritten): only for a user who was there, since a reset slot may be
     * shared with another id */
    if (api->ranker && (rc == 0 || rc_mem == 0))
        rec_ranker_forget_user(api->ranker, id);
    if (rc == REC_ENOTFOUND && rc_mem == REC_ENOTFOUND) {
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "no user with id \"%.256s\"", id);
        return;
    }
    if (rc && rc != REC_ENOTFOUND) {
        rec_http_reply_error(res, 0, rc, "user \"%.256s\" could not be deleted", id);
        return;
    }
    rec_http_reply_json(res, 200, json_pack("{s:s}", "deleted", id));
}
