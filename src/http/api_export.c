/* api_export.c: GET /v1/users/{id}/export: everything recd holds about one user, as one JSON
 * document per page (format in docs/PRIVACY.md).
 *
 * A page is bounded twice: at most limit events and limit served lists, and about PAGE_BYTES of
 * stored data, so a user with 100k events is exported in pages of bounded memory, each read in
 * one snapshot of the store (export.h) while the read mutex is held for one page only. Events
 * come first; served lists (with their outcomes) start on the page where the events end. The
 * small parts (document, preferences, counts, memory) come with every page; the dead-letter
 * search only with the first.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/utf8.h"
#include "http/api.h"
#include "serve/engine.h"
#include "store/export.h"
#include "store/store.h"

#define LIMIT_DEFAULT 1000
#define LIMIT_MAX 10000
#define PAGE_BYTES (4u << 20)       /* stored bytes per page, about; the JSON is ~1.5x that */
#define ROW_OVERHEAD 96             /* JSON keys and numbers of one row, about */
#define DEAD_MAX 1000               /* dead letters listed at most */
#define FORMAT "recd-user-export/1"

/* One page under construction. */
struct page {
    json_t *events, *served, *dead;
    json_t *items;                  /* the served list being filled: its item ids */
    json_t *outcomes;               /* and its outcomes (borrowed) */
    size_t bytes;                   /* stored bytes taken so far */
    int rows;                       /* rows taken so far (the first is always taken) */
    int oom;
};

/* 1 when the page has room for a row of about len bytes. The first row is always taken, so
 * every page makes progress. */
static int room_for(const struct page *p, size_t len)
{
    return p->rows == 0 || p->bytes + len + ROW_OVERHEAD <= PAGE_BYTES;
}

static void take(struct page *p, size_t len)
{
    p->bytes += len + ROW_OVERHEAD;
    p->rows++;
}

/* Parses stored JSON text; text that does not parse (never written by recd) is kept as a string. */
static json_t *stored_json(const char *text)
{
    if (!text)
        return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

static int event_cb(void *ctx, const struct rec_event *ev)
{
    struct page *p = ctx;
    size_t len = strlen(ev->item) + (ev->id ? strlen(ev->id) : 0) +
                 (ev->context ? strlen(ev->context) : 0);
    if (!room_for(p, len))
        return REC_STORE_EXPORT_FULL;
    json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:f,s:I,s:o}", "seq", (json_int_t)ev->seq, "id",
                          ev->id ? json_string(ev->id) : json_null(), "item", ev->item, "type",
                          rec_event_type_name(ev->type), "value", ev->value, "ts",
                          (json_int_t)ev->ts, "context", stored_json(ev->context));
    if (!o || json_array_append_new(p->events, o))
        return REC_ENOMEM;
    take(p, len);
    return 0;
}

static int served_cb(void *ctx, int64_t cursor, const struct rec_served_row *r)
{
    struct page *p = ctx;
    size_t len = strlen(r->items) + strlen(r->rec_id) + strlen(r->experiment) + strlen(r->variant);
    if (!room_for(p, len))
        return REC_STORE_EXPORT_FULL;
    json_t *items = json_array();
    for (const char *q = r->items; items && *q;) { /* '\n'-joined ids */
        const char *nl = strchr(q, '\n');
        size_t n = nl ? (size_t)(nl - q) : strlen(q);
        if (json_array_append_new(items, json_stringn(q, n)))
            p->oom = 1;
        q = nl ? nl + 1 : q + n;
    }
    json_t *outcomes = json_array();
    json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:o,s:o}", "recommendation_id", r->rec_id,
                          "experiment", r->experiment, "variant", r->variant, "ts", r->ts,
                          "items", items, "outcomes", outcomes);
    if (!o || p->oom || json_array_append_new(p->served, o))
        return REC_ENOMEM;
    p->items = items;
    p->outcomes = outcomes;
    take(p, len);
    return 0;
}

static int outcome_cb(void *ctx, const struct rec_outcome_row *oc)
{
    struct page *p = ctx;
    json_t *item = json_array_get(p->items, (size_t)oc->position); /* NULL when out of range */
    /* 1-based, as in the list the client got (the store counts from 0) */
    json_t *o = json_pack("{s:i,s:O?,s:s,s:I,s:f,s:f}", "position", oc->position + 1, "item", item,
                          "type", rec_event_type_name(oc->type), "n", (json_int_t)oc->n, "value",
                          oc->value, "ts", oc->ts);
    if (!o || json_array_append_new(p->outcomes, o))
        return REC_ENOMEM;
    p->bytes += ROW_OVERHEAD / 2;
    return 0;
}

static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = s[i] ? rec_utf8_seq_len(s + i, n - i) : 0; /* NUL: not text */
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static char *base64(const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *w++ = tab[v >> 18 & 63];
        *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = '\0';
    return out;
}

static int dead_cb(void *ctx, int64_t seq, const struct rec_dead_letter *d)
{
    struct page *p = ctx;
    const unsigned char *b = d->payload ? d->payload : (const unsigned char *)"";
    int text = utf8_ok(b, d->payload_len);
    char *b64 = text ? NULL : base64(b, d->payload_len);
    if (!text && !b64)
        return REC_ENOMEM;
    json_t *o = json_pack("{s:I,s:s,s:s,s:i,s:I,s:s,s:s%,s:s,s:I,s:I}", "seq", (json_int_t)seq,
                          "source", d->source, "topic", d->topic, "partition", (int)d->partition,
                          "offset", (json_int_t)d->offset, "reason", d->reason, "payload",
                          text ? (const char *)b : b64, text ? d->payload_len : strlen(b64),
                          "payload_encoding", text ? "utf-8" : "base64", "payload_bytes",
                          (json_int_t)d->payload_bytes, "ts", (json_int_t)d->ts);
    free(b64);
    if (!o || json_array_append_new(p->dead, o))
        return REC_ENOMEM;
    return 0;
}

/* Query argument key as an integer in [min, max], def when absent. 0, or REC_EINVAL with a 400
 * reply written. */
static int query_int(const struct rec_http_request *req, struct rec_http_response *res,
                     const char *key, int64_t min, int64_t max, int64_t def, int64_t *out)
{
    const char *v = rec_http_query(req, key);
    *out = def;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        rec_http_reply_error(res, 0, REC_EINVAL, "%s must be an integer in %lld..%lld", key,
                             (long long)min, (long long)max);
        return REC_EINVAL;
    }
    *out = x;
    return 0;
}

static json_t *memory_json(const struct rec_user_info *info, int present)
{
    if (!present)
        return json_pack("{s:b}", "present", 0);
    json_t *hist = json_array();
    for (int k = 0; hist && k < info->n_recent; k++)
        json_array_append_new(hist, json_pack("{s:s,s:s,s:f,s:I}", "item", info->recent[k].item,
                                              "type", rec_event_type_name(info->recent[k].type),
                                              "weight", (double)info->recent[k].weight, "ts",
                                              (json_int_t)info->recent[k].ts));
    return json_pack("{s:b,s:I,s:i,s:o,s:b}", "present", 1, "events", (json_int_t)info->n_events,
                     "items", (int)info->n_items, "history", hist, "history_complete",
                     info->n_recent >= info->n_items);
}

/* The parts read from the store for one page, in one snapshot. */
struct store_part {
    struct rec_store_export_counts counts;
    char *doc, *prefs;                    /* malloc'd, NULL when none */
    struct rec_store_export_cursor ev, sv, dl;
    int served_read, dead_read, dead_all;
};

static int read_store(struct rec_store *s, const char *id, int64_t after_seq,
                      int64_t after_served, int limit, int first, struct page *p,
                      struct store_part *sp)
{
    int rc = rec_store_export_begin(s);
    if (rc)
        return rc;
    if ((rc = rec_store_export_counts(s, id, &sp->counts)))
        goto out;
    if ((rc = rec_store_get_user(s, id, &sp->doc)) && rc != REC_ENOTFOUND)
        goto out;
    if ((rc = rec_store_get_preferences(s, id, &sp->prefs)) && rc != REC_ENOTFOUND)
        goto out;
    if ((rc = rec_store_export_events(s, id, after_seq, limit, event_cb, p, &sp->ev)))
        goto out;
    if (sp->ev.done) { /* served lists follow the last event */
        sp->served_read = 1;
        if ((rc = rec_store_export_served(s, id, after_served, limit, served_cb, outcome_cb, p,
                                          &sp->sv)))
            goto out;
    }
    if (first) {
        json_t *js = json_string(id); /* the id as it appears in a JSON payload */
        char *needle = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        rc = needle ? rec_store_export_dead_letters(s, needle, DEAD_MAX, dead_cb, p, &sp->dl,
                                                    &sp->dead_all)
                    : REC_ENOMEM;
        free(needle);
        sp->dead_read = 1;
    }
out:
    rec_store_export_end(s);
    return rc == REC_ENOTFOUND ? 0 : rc;
}

void rec_api_export_user(void *app, const struct rec_http_request *req,
                         struct rec_http_response *res)
{
    struct rec_api *api = app;
    char keyed[REC_UID_BUF];
    const char *id = rec_api_path_user(api, req, res, keyed);
    if (!id)
        return;
    int64_t limit, after_seq, after_served;
    if (query_int(req, res, "limit", 1, LIMIT_MAX, LIMIT_DEFAULT, &limit) ||
        query_int(req, res, "after_seq", 0, INT64_MAX, 0, &after_seq) ||
        query_int(req, res, "after_served", 0, INT64_MAX, 0, &after_served))
        return;
    int first = after_seq == 0 && after_served == 0;

    /* memory first, outside the store's read mutex (the engine's lock comes before it) */
    struct rec_user_info *info = malloc(sizeof *info);
    struct page p = {.events = json_array(), .served = json_array(), .dead = json_array()};
    struct store_part sp = {0};
    if (!info || !p.events || !p.served || !p.dead) {
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
        goto out;
    }
    int in_memory = rec_engine_user_info(api->engine, id, 64, info) == 0;
    int rc = read_store(api->store, id, after_seq, after_served, (int)limit, first, &p, &sp);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "the export of user \"%.256s\" could not be read", id);
        goto out;
    }
    const struct rec_store_export_counts *c = &sp.counts;
    if (!in_memory && !c->has_user_row && !c->has_preferences && !c->n_events && !c->n_served) {
        rec_http_reply_error(res, 0, REC_ENOTFOUND, "no user with id \"%.256s\"", id);
        goto out;
    }

    int64_t next_seq = sp.ev.next, next_served = sp.served_read ? sp.sv.next : after_served;
    int complete = sp.ev.done && sp.served_read && sp.sv.done;
    json_t *dead;
    if (sp.dead_read)
        dead = json_pack("{s:b,s:s,s:b,s:b,s:O}", "included", 1, "match",
                         "payload contains the user id as a JSON string", "searched_all",
                         sp.dead_all, "truncated", !sp.dl.done, "letters", p.dead);
    else
        dead = json_pack("{s:b,s:s}", "included", 0, "reason", "on the first page only");
    json_t *doc = json_pack(
        "{s:s,s:s,s:I,s:o,s:o,"
        "s:{s:b,s:b,s:I,s:I,s:I},"
        "s:O,s:O,s:o,s:o,"
        "s:{s:I,s:I,s:I,s:i,s:i,s:b},s:o}",
        "format", FORMAT, "user", id, "exported_at", (json_int_t)rec_now_s(),
        "document", sp.doc ? stored_json(sp.doc) : json_null(),
        "preferences", sp.prefs ? stored_json(sp.prefs) : json_null(),
        "stored", "user_row", c->has_user_row, "preferences", c->has_preferences,
        "events", (json_int_t)c->n_events, "served", (json_int_t)c->n_served,
        "outcomes", (json_int_t)c->n_outcomes,
        "events", p.events, "served", p.served, "dead_letters", dead,
        "memory", memory_json(info, in_memory),
        "page", "limit", (json_int_t)limit, "after_seq", (json_int_t)after_seq,
        "after_served", (json_int_t)after_served, "events", sp.ev.n, "served", sp.sv.n,
        "complete", complete,
        "next", complete ? json_null()
                         : json_pack("{s:I,s:I}", "after_seq", (json_int_t)next_seq,
                                     "after_served", (json_int_t)next_served));
    rec_http_reply_json(res, 200, doc); /* NULL (out of memory) gives a 500 */
out:
    json_decref(p.events);
    json_decref(p.served);
    json_decref(p.dead);
    free(sp.doc);
    free(sp.prefs);
    free(info);
}
