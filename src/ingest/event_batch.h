/* event_batch.h: what every event source shares between receiving events and acknowledging
 * them: a JSON batch (one event object or an array) validated event by event with
 * rec_event_from_json, and the one path from valid events to the store (durable, deduplicated)
 * and the live engine. POST /v1/events and the Kafka consumer both use it, so an event means
 * the same thing whichever way it came in.
 */
#ifndef REC_INGEST_EVENT_BATCH_H
#define REC_INGEST_EVENT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"

struct rec_store;
struct rec_engine;
struct rec_uid_key;

/* An event of a batch that failed validation. */
struct rec_event_reject {
    size_t index;              /* position in the batch */
    char reason[256];          /* rec_event_from_json's message */
};

/* A validated batch. Caller-owned struct: rec_event_batch_free releases what it points to. */
struct rec_event_batch {
    void *root;                /* json_t array, owned; events borrow their strings from it */
    size_t n_total;            /* elements in the batch, valid or not */
    int n;                     /* valid events */
    struct rec_event *events;  /* [n], in batch order */
    size_t *index;             /* [n]: position of events[i] in the batch */
    char **contexts;           /* [n]: serialized contexts (owned), NULL when none */
    int n_rejected;
    struct rec_event_reject *rejected; /* [n_rejected], in batch order */
};

/* Takes ownership of root (a json_t array; on error too) and validates every element with
 * rec_event_from_json; now is the ts of events without one. A bad element never drops a good
 * one: it goes to b->rejected. With users (the --user-id-key; NULL: ids as given), each valid
 * event's user id is replaced, in root too, by its keyed id (rec_uid_map), so what is stored
 * and applied never holds the raw one. Returns 0 (b->n may be 0) or REC_ENOMEM (b left
 * empty). */
int rec_event_batch_from_json(struct rec_event_batch *b, void *root, int64_t now,
                              const struct rec_uid_key *users);

/* Parses text[0..len) as one event object or a JSON array of at most max elements, then as
 * rec_event_batch_from_json. Returns 0, or REC_EFORMAT (malformed JSON), REC_EINVAL (neither an
 * object nor an array), REC_ETOOBIG, REC_ENOMEM, with a message in err; b is then empty. */
int rec_event_batch_parse(struct rec_event_batch *b, const char *text, size_t len, int max,
                          int64_t now, const struct rec_uid_key *users, char *err,
                          size_t errlen);

/* Releases what b owns and zeroes it. Safe on a zeroed or already freed batch. */
void rec_event_batch_free(struct rec_event_batch *b);

/* The one ingestion path: stores ev[0..n) durably in one group commit (events seen before, by
 * id or by rec_store_event_key, are duplicates: inserted[i] = 0) and applies the stored ones to
 * engine (NULL: store only), all under rec_engine_ingest_begin/end so deletions and training
 * never see a commit whose effect is not yet in memory. Returns the store's result: on error
 * nothing was stored. *apply_rc (may be NULL) gets the engine's: stored events the engine
 * could not take are still durable and a restart replays them. Thread-safe. */
int rec_event_commit(struct rec_store *s, struct rec_engine *engine, struct rec_event *ev, int n,
                     uint8_t *inserted, int *apply_rc);

#endif
