/* api_docs.c: the batch upsert shared by POST /v1/items and POST /v1/users: validate each
 * document, key user ids (--user-id-key), store the good ones in one commit, tell the engine,
 * list the rejected ones. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "http/api.h"
#include "serve/engine.h"
#include "store/store.h"

void rec_api_upsert_docs(struct rec_api *api, const struct rec_http_request *req,
                         struct rec_http_response *res, const struct rec_api_doc_kind *kind)
{
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
        if (kind->check(doc, msg, sizeof msg)) {
            json_array_append_new(rejected, json_pack("{s:I,s:s}", "index", (json_int_t)j, "reason", msg));
            continue;
        }
        if (kind->user_ids && api->user_key) {
            /* the document is stored and kept with the keyed id, never the raw one */
            char keyed[REC_UID_BUF];
            const char *raw = json_string_value(json_object_get(doc, "id"));
            const char *id = rec_uid_map(api->user_key, raw, keyed);
            if (json_object_set_new(doc, "id", json_string(id))) {
                rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
                goto out;
            }
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
        char msg[64];
        snprintf(msg, sizeof msg, "no valid %s in the batch", kind->name);
        rec_http_reply_json(res, 400, json_pack("{s:{s:s,s:s},s:i,s:O}", "error", "code",
                                                "invalid_argument", "message", msg, "upserted", 0,
                                                "rejected", rejected));
        goto out;
    }
    rec_engine_ingest_begin(api->engine, 0);
    int rc = kind->store(api->store, ids, (const char *const *)docs, n_ok);
    for (int j = 0; !rc && j < n_ok; j++)
        kind->engine_put(api->engine, ids[j], titles[j], docs[j]);
    rec_engine_ingest_end(api->engine);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "%ss could not be stored", kind->name);
        goto out;
    }
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
