/* event_batch.c: JSON batches of events and the commit path every source shares. */
#include "ingest/event_batch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/uid.h"
#include "ingest/event_json.h"
#include "serve/engine.h"
#include "store/store.h"

void rec_event_batch_free(struct rec_event_batch *b)
{
    for (int i = 0; b->contexts && i < b->n; i++)
        free(b->contexts[i]);
    free(b->contexts);
    free(b->events);
    free(b->index);
    free(b->rejected);
    json_decref(b->root);
    memset(b, 0, sizeof *b);
}

static int add_reject(struct rec_event_batch *b, size_t index, const char *reason)
{
    /* grows by doubling; rejects are rare, so start small */
    if ((b->n_rejected & (b->n_rejected - 1)) == 0) {
        size_t cap = b->n_rejected ? 2 * (size_t)b->n_rejected : 1;
        struct rec_event_reject *r = realloc(b->rejected, cap * sizeof *r);
        if (!r)
            return REC_ENOMEM;
        b->rejected = r;
    }
    struct rec_event_reject *r = &b->rejected[b->n_rejected++];
    r->index = index;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    return 0;
}

/* Replaces ev's user id by its keyed id, in the element obj that ev borrows its strings from.
 * The raw id's string is freed with the old value. 0 or REC_ENOMEM. */
static int key_user(json_t *obj, struct rec_event *ev, const struct rec_uid_key *users)
{
    char buf[REC_UID_BUF];
    if (json_object_set_new(obj, "user", json_string(rec_uid_map(users, ev->user, buf))))
        return REC_ENOMEM;
    ev->user = json_string_value(json_object_get(obj, "user"));
    return 0;
}

int rec_event_batch_from_json(struct rec_event_batch *b, void *root, int64_t now,
                              const struct rec_uid_key *users)
{
    memset(b, 0, sizeof *b);
    b->root = root;
    size_t n = json_array_size(root);
    b->n_total = n;
    b->events = calloc(n ? n : 1, sizeof *b->events);
    b->index = calloc(n ? n : 1, sizeof *b->index);
    b->contexts = calloc(n ? n : 1, sizeof *b->contexts);
    if (!b->events || !b->index || !b->contexts)
        goto nomem;
    for (size_t j = 0; j < n; j++) {
        char msg[256];
        int rc = rec_event_from_json(json_array_get(root, j), now, &b->events[b->n],
                                     &b->contexts[b->n], msg, sizeof msg);
        if (rc == REC_ENOMEM)
            goto nomem;
        if (rc) {
            if (add_reject(b, j, msg))
                goto nomem;
            continue;
        }
        if (users && key_user(json_array_get(root, j), &b->events[b->n], users)) {
            free(b->contexts[b->n]); /* not counted in b->n yet, so not freed with b */
            goto nomem;
        }
        b->index[b->n++] = j;
    }
    return 0;
nomem:
    rec_event_batch_free(b);
    return REC_ENOMEM;
}

int rec_event_batch_parse(struct rec_event_batch *b, const char *text, size_t len, int max,
                          int64_t now, const struct rec_uid_key *users, char *err,
                          size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (len == 0)
        return rec_errf(err, errlen, REC_EINVAL, "empty message; expected a JSON event or array");
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root)
        return rec_errf(err, errlen, REC_EFORMAT, "malformed JSON at line %d, column %d: %s",
                        jerr.line, jerr.column, jerr.text);
    if (json_is_object(root)) {
        json_t *arr = json_array();
        if (!arr || json_array_append_new(arr, root)) {
            json_decref(arr);
            return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
        }
        root = arr;
    }
    if (!json_is_array(root)) {
        json_decref(root);
        return rec_errf(err, errlen, REC_EINVAL,
                        "expected a JSON event object or an array of them");
    }
    if (json_array_size(root) > (size_t)max) {
        size_t n = json_array_size(root);
        json_decref(root);
        return rec_errf(err, errlen, REC_ETOOBIG, "batch of %zu events exceeds the limit of %d", n,
                        max);
    }
    if (rec_event_batch_from_json(b, root, now, users))
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    return 0;
}

int rec_event_commit(struct rec_store *s, struct rec_engine *engine, struct rec_event *ev, int n,
                     uint8_t *inserted, int *apply_rc)
{
    if (apply_rc)
        *apply_rc = 0;
    if (engine)
        rec_engine_ingest_begin(engine, 0);
    int rc = rec_store_append_events(s, ev, n, inserted);
    if (rc == 0 && engine) {
        int arc = rec_engine_apply_events(engine, ev, n, inserted);
        if (apply_rc)
            *apply_rc = arc;
    }
    if (engine)
        rec_engine_ingest_end(engine);
    if (rc == 0 && engine)
        rec_engine_notify(engine, ev, inserted, n);
    return rc;
}
