/* store.h: recd's durable store, one SQLite database (WAL mode) in the data directory.
 *
 * Only store/ includes sqlite3.h. Writes go through one writer thread that batches whatever is
 * queued into one transaction (group commit): a caller blocks until its own work is committed
 * and synced, and concurrent callers share the commit. Reads use a separate connection.
 * All functions are thread-safe unless noted.
 *
 * Items and users are stored as JSON documents (text) the caller builds; the store does not
 * look inside them. Items are soft-deleted (kept with deleted=1) so their history stays valid;
 * users are erased with all their events.
 *
 * Events are deduplicated: by id when they have one, else by rec_store_event_key (user, item,
 * type, ts), so a redelivered or retried event is stored, and applied, once.
 */
#ifndef REC_STORE_STORE_H
#define REC_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"

#define REC_STORE_SCHEMA_VERSION 5
#define REC_STORE_DB_NAME "recd.db"

struct rec_store;

/* Opens (creating when needed) dir and dir/recd.db, applies pending schema migrations and starts
 * the writer thread. On error returns a negative code and a message in err. */
int rec_store_open(const char *dir, struct rec_store **out, char *err, size_t errlen);
/* Drains queued writes, stops the writer and closes. NULL is a no-op. */
void rec_store_close(struct rec_store *s);

/* Appends n events durably in one group commit. Users and items named by the events that have
 * no row yet get one (doc "{}"). An event stored before is not stored again: one with the same
 * id, or, for an event without id, one without id and the same rec_store_event_key (earlier in
 * this call counts too). inserted[i] is set to 1 when events[i] was stored (and events[i].seq
 * to its sequence number, increasing in commit order), 0 for a duplicate. Returns 0 or a
 * negative code; on error nothing of this call is stored. */
int rec_store_append_events(struct rec_store *s, struct rec_event *events, int n,
                            uint8_t *inserted);

/* Dedup key of an event without id (events.event_key): a 64-bit hash of user, item, type and
 * ts. Two id-less events that agree on all four are one event. Two different ones collide with
 * probability about n^2 / 2^65 among n stored events (3e-8 at a million); clients that must
 * never lose such an event send ids. Stored on disk: never change the function. Pure. */
int64_t rec_store_event_key(const char *user, const char *item, int type, int64_t ts);

/* A message a stream source could not use (table dead_letters). */
struct rec_dead_letter {
    const char *source;        /* "kafka" */
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *reason;        /* why it was rejected */
    const void *payload;       /* the message's first bytes (the caller truncates); may be NULL */
    size_t payload_len;
    int64_t payload_bytes;     /* size of the whole message */
    int64_t ts;                /* Unix seconds when it was rejected */
};

/* Records n dead letters in one group commit. A letter whose (source, topic, partition,
 * offset) is recorded already (a redelivered message) is skipped; *n_added (may be NULL) gets
 * how many rows are new. Returns 0 or a negative code; on error nothing is stored. */
int rec_store_add_dead_letters(struct rec_store *s, const struct rec_dead_letter *dl, int n,
                               int *n_added);

/* The experiments' log (tables served and outcomes; see schema.c). */
struct rec_served_row {
    const char *rec_id;        /* recommendation_id, unique */
    const char *user;
    const char *experiment;
    const char *variant;
    double ts;                 /* Unix seconds */
    int n_items;
    const char *items;         /* the item ids in list order, '\n'-joined */
};
struct rec_outcome_row {
    const char *rec_id;
    int position;              /* 0-based */
    int type;                  /* enum rec_event_type */
    int64_t n;                 /* events (log: 1 per event; scans: the total) */
    double value;              /* summed event values (dwell seconds) */
    double ts;                 /* first event's time */
    const char *experiment;    /* scans only: the served list's experiment and variant */
    const char *variant;
};
/* Appends served lists, one group commit; a rec_id seen before is skipped. */
int rec_store_log_served(struct rec_store *s, const struct rec_served_row *rows, int n);
/* Adds outcomes: a new (rec_id, position, type) is inserted, an existing one gets n and value
 * added. One group commit. */
int rec_store_log_outcomes(struct rec_store *s, const struct rec_outcome_row *rows, int n);
/* Served lists with ts >= since, in time order; outcomes of those lists (in no set order). */
typedef int (*rec_store_served_cb)(void *ctx, const struct rec_served_row *r);
typedef int (*rec_store_outcome_cb)(void *ctx, const struct rec_outcome_row *o);
int rec_store_scan_served(struct rec_store *s, int64_t since, rec_store_served_cb cb, void *ctx);
int rec_store_scan_outcomes(struct rec_store *s, int64_t since, rec_store_outcome_cb cb,
                            void *ctx);

/* A user's preferences (a JSON object the caller checked); NULL doc deletes them. One commit. */
int rec_store_set_preferences(struct rec_store *s, const char *user, const char *doc);
/* *doc gets a malloc'd copy; REC_ENOTFOUND when the user has none. */
int rec_store_get_preferences(struct rec_store *s, const char *user, char **doc);

/* Inserts or replaces items (id, JSON doc); replacing clears the deleted flag. One commit. */
int rec_store_upsert_items(struct rec_store *s, const char *const *ids, const char *const *docs,
                           int n);
/* Marks an item deleted. REC_ENOTFOUND when there is no such item. */
int rec_store_delete_item(struct rec_store *s, const char *id);
/* Inserts or replaces users (id, JSON doc). One commit. */
int rec_store_upsert_users(struct rec_store *s, const char *const *ids, const char *const *docs,
                           int n);
/* Erases a user row, every event of that user and their experiment log. REC_ENOTFOUND when
 * there is no such user. */
int rec_store_delete_user(struct rec_store *s, const char *id);

/* Reads one item: *doc gets a malloc'd copy (caller frees), *deleted its flag. REC_ENOTFOUND. */
int rec_store_get_item(struct rec_store *s, const char *id, char **doc, int *deleted);
/* Reads one user: *doc gets a malloc'd copy (caller frees). REC_ENOTFOUND. */
int rec_store_get_user(struct rec_store *s, const char *id, char **doc);

/* Scans, in insertion order, calling cb for each row; a non-zero return from cb stops the scan and
 * is returned. Pointers passed to cb are valid only during the call. Run on the read connection;
 * meant for start-up replay and offline tools. */
typedef int (*rec_store_row_cb)(void *ctx, const char *id, const char *doc, int deleted);
typedef int (*rec_store_event_cb)(void *ctx, const struct rec_event *ev);
int rec_store_scan_items(struct rec_store *s, rec_store_row_cb cb, void *ctx);
int rec_store_scan_users(struct rec_store *s, rec_store_row_cb cb, void *ctx);
/* Every user's preferences (cb gets the user id as id and the JSON object as doc). */
int rec_store_scan_preferences(struct rec_store *s, rec_store_row_cb cb, void *ctx);
/* Events with seq > after_seq in seq order. */
int rec_store_scan_events(struct rec_store *s, int64_t after_seq, rec_store_event_cb cb,
                          void *ctx);

/* Dead letters with seq > after_seq in seq order; pointers valid during the call only. */
typedef int (*rec_store_dead_letter_cb)(void *ctx, int64_t seq, const struct rec_dead_letter *dl);
int rec_store_scan_dead_letters(struct rec_store *s, int64_t after_seq,
                                rec_store_dead_letter_cb cb, void *ctx);

/* Stored counts. */
int rec_store_count(struct rec_store *s, int64_t *n_items, int64_t *n_users, int64_t *n_events);

/* Small key/value table (model snapshot pointers, counters). get: REC_ENOTFOUND when absent,
 * else *value is malloc'd (caller frees). */
int rec_store_meta_set(struct rec_store *s, const char *key, const char *value);
/* Sets n keys in one transaction: all or none. */
int rec_store_meta_set_many(struct rec_store *s, const char *const *keys,
                            const char *const *values, int n);
int rec_store_meta_get(struct rec_store *s, const char *key, char **value);

/* Schema version of the open database (REC_STORE_SCHEMA_VERSION once migrated). */
int rec_store_schema_version(struct rec_store *s);

/* Directory the store lives in (owned by the store). */
const char *rec_store_dir(const struct rec_store *s);

/* Debug counter: transactions the writer has committed since open. Comparing it with the number
 * of write calls shows how much group commit batched. */
int64_t rec_store_commit_count(struct rec_store *s);

#endif
