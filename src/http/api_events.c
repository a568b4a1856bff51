/* api_events.c: POST /v1/events. Validate every event, store the good ones durably (group
 * commit, deduplicated), apply them to the live models, then answer; a bad event never drops a
 * good one. The validation and the commit path are ingest/event_batch.c, shared with Kafka. */
#include <jansson.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "http/api.h"
#include "ingest/event_batch.h"
#include "obs/monitor.h"

#include <string.h>

/* A short label for a validation message (metrics count rejections by reason). */
static const char *reason_label(const char *msg)
{
    static const struct {
        const char *prefix, *label;
    } table[] = {
        {"missing field", "missing_field"},
        {"unknown field", "unknown_field"},
        {"field \"type\"", "bad_type"},
        {"field \"ts\"", "bad_timestamp"},
        {"field \"context\"", "bad_context"},
        {"field \"value\"", "bad_value"},
        {"a rating event", "bad_value"},
        {"rating", "bad_value"},
        {"dwell", "bad_value"},
        {"event must be", "not_an_object"},
    };
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
        if (strncmp(msg, table[k].prefix, strlen(table[k].prefix)) == 0)
            return table[k].label;
    return strstr(msg, "field \"") ? "bad_id" : "other";
}

static void count_rejected(struct rec_api *api, const struct rec_event_batch *b)
{
    for (int i = 0; api->monitor && i < b->n_rejected; i++)
        rec_monitor_rejected(api->monitor, "http", reason_label(b->rejected[i].reason), 1);
}

static json_t *rejected_json(const struct rec_event_batch *b)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < b->n_rejected; i++)
        json_array_append_new(arr, json_pack("{s:I,s:s}", "index", (json_int_t)b->rejected[i].index,
                                             "reason", b->rejected[i].reason));
    return arr;
}

void rec_api_post_events(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    json_t *root = rec_api_parse_batch(api, req, res, 1);
    if (!root)
        return;
    struct rec_event_batch b;
    uint8_t *inserted = NULL;
    json_t *rejected = NULL;
    if (rec_event_batch_from_json(&b, root, rec_now_s(), api->user_key) ||
        !(inserted = calloc(b.n ? (size_t)b.n : 1, 1)) || !(rejected = rejected_json(&b))) {
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
        goto out;
    }
    count_rejected(api, &b);
    if (b.n == 0) {
        json_t *body = json_pack("{s:{s:s,s:s},s:i,s:O}", "error", "code", "invalid_argument",
                                 "message", b.n_total ? "no valid event in the batch" : "empty batch",
                                 "accepted", 0, "rejected", rejected);
        rec_http_reply_json(res, 400, body);
        goto out;
    }
    int apply_rc = 0;
    int rc = rec_event_commit(api->store, api->engine, b.events, b.n, inserted, &apply_rc);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "events could not be stored; nothing was accepted");
        goto out;
    }
    int accepted = 0, duplicates = 0;
    for (int j = 0; j < b.n; j++)
        inserted[j] ? accepted++ : duplicates++;
    if (api->monitor)
        rec_monitor_received(api->monitor, "http", b.n, duplicates);
    /* stored events are safe even if memory could not take them: a restart replays them */
    json_t *body = json_pack("{s:i,s:i,s:O}", "accepted", accepted, "duplicates", duplicates,
                             "rejected", rejected);
    if (apply_rc)
        json_object_set_new(body, "warning", json_string("stored, but live models were not updated"));
    rec_http_reply_json(res, 200, body);
out:
    free(inserted);
    json_decref(rejected);
    rec_event_batch_free(&b);
}
