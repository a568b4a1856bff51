/* api_prefs.c: GET and PUT /v1/users/{id}/preferences: topics a user excludes or prefers,
 * stored durably and applied to the very next recommendation request. */
#include <jansson.h>
#include <stdlib.h>

#include "core/err.h"
#include "http/api.h"
#include "serve/engine.h"
#include "serve/meta.h"
#include "store/store.h"

static json_t *empty_prefs(void)
{
    return json_pack("{s:[],s:[],s:[]}", "exclude_categories", "exclude_tags", "prefer_categories");
}

void rec_api_get_prefs(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    char keyed[REC_UID_BUF];
    const char *id = rec_api_path_user(api, req, res, keyed);
    if (!id)
        return;
    char *doc = NULL;
    int rc = rec_store_get_preferences(api->store, id, &doc);
    if (rc && rc != REC_ENOTFOUND) {
        rec_http_reply_error(res, 0, rc, "preferences could not be read");
        return;
    }
    json_t *prefs = doc ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    json_t *full = empty_prefs();
    json_object_update(full, prefs); /* every key present, given or empty */
    json_decref(prefs);
    rec_http_reply_json(res, 200, json_pack("{s:s,s:o}", "user", id, "preferences", full));
}

void rec_api_put_prefs(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    char keyed[REC_UID_BUF];
    const char *id = rec_api_path_user(api, req, res, keyed);
    if (!id)
        return;
    json_t *prefs = rec_api_parse_json(req, res, REC_API_MAX_VALUES);
    char err[256];
    if (!prefs)
        return;
    if (rec_meta_prefs_check(prefs, err, sizeof err)) {
        rec_http_reply_error(res, 0, REC_EINVAL, "%s", err);
        json_decref(prefs);
        return;
    }
    char *text = json_dumps(prefs, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = text ? rec_store_set_preferences(api->store, id, text) : REC_ENOMEM;
    if (!rc) /* durable first, then live: the next request sees them */
        rc = rec_engine_set_prefs(api->engine, id, text);
    free(text);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "preferences could not be stored");
        json_decref(prefs);
        return;
    }
    json_t *full = empty_prefs();
    json_object_update(full, prefs);
    json_decref(prefs);
    rec_http_reply_json(res, 200, json_pack("{s:s,s:o}", "user", id, "preferences", full));
}
