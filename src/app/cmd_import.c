/* cmd_import.c: `recd import PATH`: MovieLens, CSV or JSON-lines into the data directory's store.
 * Records are buffered and written in batches (one group commit each), so a million events take
 * seconds; the summary lists counts and the first rejected lines with their reasons. With
 * --user-id-key, user ids (of events and of user documents) are keyed here, before they are
 * buffered. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/uid.h"
#include "ingest/import.h"
#include "store/store.h"

#define BATCH 20000

struct batch {
    struct rec_progress progress;   /* of the file being read */
    int progress_on;
    struct rec_store *store;
    const struct rec_uid_key *user_key; /* NULL: user ids as given */
    /* docs (items or users) */
    char *doc_ids[BATCH], *docs[BATCH];
    int n_docs;
    int docs_are_items;
    /* events: strings copied into one buffer per batch */
    struct rec_event ev[BATCH];
    uint8_t inserted[BATCH];
    int n_ev;
    char *strs;
    size_t n_strs, cap_strs;
    int64_t duplicates;
    int rc;
};

static int flush_docs(struct batch *b)
{
    if (b->n_docs == 0)
        return 0;
    int rc = b->docs_are_items
                 ? rec_store_upsert_items(b->store, (const char *const *)b->doc_ids, (const char *const *)b->docs, b->n_docs)
                 : rec_store_upsert_users(b->store, (const char *const *)b->doc_ids, (const char *const *)b->docs, b->n_docs);
    for (int k = 0; k < b->n_docs; k++) {
        free(b->doc_ids[k]);
        free(b->docs[k]);
    }
    b->n_docs = 0;
    return rc;
}

static int flush_events(struct batch *b)
{
    if (b->n_ev == 0)
        return 0;
    int rc = rec_store_append_events(b->store, b->ev, b->n_ev, b->inserted);
    for (int k = 0; !rc && k < b->n_ev; k++)
        b->duplicates += !b->inserted[k];
    b->n_ev = 0;
    b->n_strs = 0;
    return rc;
}

static int add_doc(struct batch *b, int is_item, const char *id, const char *doc)
{
    int rc;
    if ((b->n_docs && b->docs_are_items != is_item) || b->n_docs == BATCH)
        if ((rc = flush_docs(b)))
            return rc;
    if ((rc = flush_events(b)))
        return rc;
    b->docs_are_items = is_item;
    b->doc_ids[b->n_docs] = strdup(id);
    b->docs[b->n_docs] = strdup(doc);
    if (!b->doc_ids[b->n_docs] || !b->docs[b->n_docs])
        return REC_ENOMEM;
    b->n_docs++;
    return 0;
}

static int sink_item(void *ctx, const char *id, const char *doc) { return add_doc(ctx, 1, id, doc); }

static int sink_user(void *ctx, const char *id, const char *doc)
{
    struct batch *b = ctx;
    if (!b->user_key)
        return add_doc(b, 0, id, doc);
    /* the document names the user too ({"id": ...}): it is stored with the keyed id */
    char keyed[REC_UID_BUF];
    id = rec_uid_map(b->user_key, id, keyed);
    json_t *obj = json_loads(doc, 0, NULL);
    char *text = NULL;
    if (json_is_object(obj) && json_object_set_new(obj, "id", json_string(id)) == 0)
        text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    int rc = text ? add_doc(b, 0, id, text) : REC_ENOMEM;
    free(text);
    return rc;
}

/* Copies s into the batch's string buffer (fixed size, never moved; sink_event flushes before
 * it could overflow). */
static const char *keep(struct batch *b, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    if (b->n_strs + len > b->cap_strs)
        return NULL;
    char *p = b->strs + b->n_strs;
    memcpy(p, s, len);
    b->n_strs += len;
    return p;
}

static int sink_event(void *ctx, const struct rec_event *ev)
{
    struct batch *b = ctx;
    int rc;
    if ((rc = flush_docs(b)))
        return rc;
    size_t need = strlen(ev->user) + strlen(ev->item) + (ev->id ? strlen(ev->id) : 0) +
                  (ev->context ? strlen(ev->context) : 0) + 4;
    if (b->n_ev == BATCH || b->n_strs + need > b->cap_strs)
        if ((rc = flush_events(b)))
            return rc;
    struct rec_event *e = &b->ev[b->n_ev++];
    *e = *ev;
    char keyed[REC_UID_BUF];
    e->user = keep(b, rec_uid_map(b->user_key, ev->user, keyed));
    e->item = keep(b, ev->item);
    e->id = keep(b, ev->id);
    e->context = keep(b, ev->context);
    return 0;
}

static void sink_progress(void *ctx, const char *file, uint64_t done, uint64_t total)
{
    struct batch *b = ctx;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (!b->progress_on || strncmp(b->progress.label, base, sizeof b->progress.label - 1)) {
        if (b->progress_on)
            rec_progress_finish(&b->progress);
        rec_progress_start(&b->progress, base, (int64_t)total);
        b->progress_on = 1;
    }
    rec_progress_update(&b->progress, (int64_t)done);
}

int rec_cmd_import(int argc, char **argv)
{
    struct rec_config c;
    const char *pos[1];
    int np;
    int rc = rec_app_config(&c, REC_CMD_IMPORT, "import", "PATH [--format F] [--data DIR]", argc,
                            argv, pos, 1, &np);
    if (rc)
        return rc - 1;
    int fmt = rec_import_format_parse(c.format);
    if (np != 1 || fmt < 0) {
        fprintf(stderr, "recd import: give one PATH (a MovieLens directory, .csv or .jsonl file) "
                        "and --format auto|ml100k|ml1m|csv|jsonl\n");
        rec_config_free(&c);
        return 2;
    }
    char err[512] = "";
    struct batch *b = calloc(1, sizeof *b);
    if (!b || !(b->strs = malloc(b->cap_strs = (size_t)8 << 20))) {
        fprintf(stderr, "recd import: out of memory\n");
        free(b);
        rec_config_free(&c);
        return 1;
    }
    if ((rc = rec_store_open(c.data, &b->store, err, sizeof err))) {
        fprintf(stderr, "recd import: cannot open store %s: %s\n", c.data, err);
        free(b->strs);
        free(b);
        rec_config_free(&c);
        return 1;
    }
    struct rec_uid_key *user_key = NULL;
    if (rec_app_user_key(&c, b->store, 1, &user_key)) {
        rec_store_close(b->store);
        free(b->strs);
        free(b);
        rec_config_free(&c);
        return 1;
    }
    b->user_key = user_key;
    struct rec_import_sink sink = {b, sink_item, sink_user, sink_event, sink_progress};
    struct rec_import_stats st;
    memset(&st, 0, sizeof st);
    double t0 = rec_mono_s();
    rc = rec_import_path(pos[0], (enum rec_import_format)fmt, &sink, &st, err, sizeof err);
    if (!rc)
        rc = flush_docs(b);
    if (!rc)
        rc = flush_events(b);
    if (b->progress_on)
        rec_progress_finish(&b->progress);
    double dt = rec_mono_s() - t0;
    if (rc) {
        fprintf(stderr, "recd import: %s\n", err[0] ? err : rec_strerror(rc));
    } else {
        printf("imported %s into %s in %.1fs\n", pos[0], c.data, dt);
        printf("  items %lld, users %lld, events %lld (%lld duplicates skipped), rejected lines %lld\n",
               (long long)st.items, (long long)st.users, (long long)st.events,
               (long long)b->duplicates, (long long)st.rejected);
        for (int k = 0; k < st.n_reasons; k++)
            printf("  rejected: %s\n", st.reasons[k]);
        if (st.rejected > st.n_reasons)
            printf("  ... and %lld more rejected lines\n", (long long)(st.rejected - st.n_reasons));
    }
    rec_store_close(b->store);
    rec_uid_key_destroy(user_key);
    free(b->strs);
    free(b);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
