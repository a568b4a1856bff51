/* fuzz_sink.c: see fuzz_sink.h. */
#include "fuzz_sink.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_common.h"

static void check_doc(const char *id, const char *doc)
{
    char msg[256];
    FUZZ_CHECK(id && rec_event_check_id(id, "id", msg, sizeof msg) == 0,
               "an imported document has a valid id");
    json_error_t jerr;
    json_t *j = doc ? json_loads(doc, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    FUZZ_CHECK(json_is_object(j), "an imported document is a JSON object");
    json_t *jid = json_object_get(j, "id");
    FUZZ_CHECK(json_is_string(jid) && strcmp(json_string_value(jid), id) == 0,
               "an imported document carries its id");
    json_decref(j);
}

static int on_item(void *ctx, const char *id, const char *doc)
{
    check_doc(id, doc);
    ((struct fuzz_sink_counts *)ctx)->items++;
    return 0;
}

static int on_user(void *ctx, const char *id, const char *doc)
{
    check_doc(id, doc);
    ((struct fuzz_sink_counts *)ctx)->users++;
    return 0;
}

static int on_event(void *ctx, const struct rec_event *ev)
{
    char msg[256];
    FUZZ_CHECK(ev->user && rec_event_check_id(ev->user, "user", msg, sizeof msg) == 0,
               "an imported event has a valid user id");
    FUZZ_CHECK(ev->item && rec_event_check_id(ev->item, "item", msg, sizeof msg) == 0,
               "an imported event has a valid item id");
    FUZZ_CHECK(!ev->id || rec_event_check_id(ev->id, "id", msg, sizeof msg) == 0,
               "an imported event's id is a valid id");
    FUZZ_CHECK(ev->type >= 0 && ev->type < REC_EVENT__COUNT, "an imported event has a known type");
    FUZZ_CHECK(isfinite(ev->value), "an imported event's value is finite");
    FUZZ_CHECK(ev->ts >= 0, "an imported event's ts is not negative");
    if (ev->context) {
        FUZZ_CHECK(strlen(ev->context) <= REC_CONTEXT_MAX, "an imported context is capped");
        json_t *j = json_loads(ev->context, 0, NULL);
        FUZZ_CHECK(json_is_object(j), "an imported context is a JSON object");
        json_decref(j);
    }
    ((struct fuzz_sink_counts *)ctx)->events++;
    return 0;
}

struct rec_import_sink fuzz_sink(struct fuzz_sink_counts *counts)
{
    return (struct rec_import_sink){.ctx = counts, .item = on_item, .user = on_user,
                                    .event = on_event};
}

void fuzz_sink_check_result(int rc, const char *err, const struct rec_import_stats *st,
                            const struct fuzz_sink_counts *counts)
{
    FUZZ_CHECK(rc == 0 || rc == REC_EFORMAT || rc == REC_EIO || rc == REC_EINVAL ||
                   rc == REC_ENOTFOUND,
               "an import returns 0 or a documented error (never out of memory here)");
    FUZZ_CHECK(rc == 0 || err[0], "a failed import says why");
    FUZZ_CHECK(st->items == counts->items && st->users == counts->users &&
                   st->events == counts->events,
               "the import's counts match the records the sink got");
    FUZZ_CHECK(st->n_reasons >= 0 && st->n_reasons <= REC_IMPORT_MAX_REASONS &&
                   st->rejected >= st->n_reasons,
               "rejections are counted");
    for (int i = 0; i < st->n_reasons; i++)
        FUZZ_CHECK(memchr(st->reasons[i], '\0', sizeof st->reasons[i]) != NULL,
                   "a rejection reason is a string");
}
