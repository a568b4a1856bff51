/* api_events.c: POST /v1/events. Validate every event, store the good ones durably (group
 * commit), apply them to the live models, then answer; a bad event never drops a good one. */
#include <jansson.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "http/api.h"
#include "ingest/event_json.h"
#include "serve/engine.h"
#include "store/store.h"

void rec_api_post_events(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    json_t *batch = rec_api_parse_batch(api, req, res, 1);
    if (!batch)
        return;
    size_t n = json_array_size(batch);
    struct rec_event *ev = calloc(n ? n : 1, sizeof *ev);
    char **ctx = calloc(n ? n : 1, sizeof *ctx);
    size_t *index = calloc(n ? n : 1, sizeof *index);
    uint8_t *inserted = calloc(n ? n : 1, 1);
    json_t *rejected = json_array();
    if (!ev || !ctx || !index || !inserted || !rejected) {
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
        goto out;
    }

    int64_t now = rec_now_s();
    int n_ok = 0;
    for (size_t j = 0; j < n; j++) {
        char msg[256];
        if (rec_event_from_json(json_array_get(batch, j), now, &ev[n_ok], &ctx[n_ok], msg,
                                sizeof msg)) {
            json_array_append_new(rejected, json_pack("{s:I,s:s}", "index", (json_int_t)j, "reason", msg));
            continue;
        }
        index[n_ok++] = j;
    }
    if (n_ok == 0) {
        json_t *body = json_pack("{s:{s:s,s:s},s:i,s:O}", "error", "code", "invalid_argument",
                                 "message", n ? "no valid event in the batch" : "empty batch",
                                 "accepted", 0, "rejected", rejected);
        rec_http_reply_json(res, 400, body);
        goto out;
    }
    rec_engine_ingest_begin(api->engine, 0);
    int rc = rec_store_append_events(api->store, ev, n_ok, inserted);
    if (rc) {
        rec_engine_ingest_end(api->engine);
        rec_http_reply_error(res, 0, rc, "events could not be stored; nothing was accepted");
        goto out;
    }
    rc = rec_engine_apply_events(api->engine, ev, n_ok, inserted);
    rec_engine_ingest_end(api->engine);
    int accepted = 0, duplicates = 0;
    for (int j = 0; j < n_ok; j++)
        inserted[j] ? accepted++ : duplicates++;
    /* stored events are safe even if memory could not take them: a restart replays them */
    json_t *body = json_pack("{s:i,s:i,s:O}", "accepted", accepted, "duplicates", duplicates,
                             "rejected", rejected);
    if (rc)
        json_object_set_new(body, "warning", json_string("stored, but live models were not updated"));
    rec_http_reply_json(res, 200, body);
out:
    for (size_t j = 0; ctx && j < n; j++)
        free(ctx[j]);
    free(ctx);
    free(ev);
    free(index);
    free(inserted);
    json_decref(rejected);
    json_decref(batch);
}
