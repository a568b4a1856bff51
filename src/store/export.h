/* export.h: the store's reads behind a user's data export (GET /v1/users/{id}/export).
 *
 * An export page is read inside one read transaction on the store's read connection, so every
 * part of the page (the user's row, preferences, events, experiment log) comes from one
 * committed snapshot:
 *
 *   rec_store_export_begin(s);
 *   rec_store_export_counts(s, user, &c);
 *   rec_store_get_user(s, user, &doc); ...   (point reads see the same snapshot)
 *   rec_store_export_events(s, user, after_seq, limit, cb, ctx, &page);
 *   rec_store_export_served(...); rec_store_export_dead_letters(...);
 *   rec_store_export_end(s);
 *
 * Between begin and end the caller holds the store's read mutex: every other reader (point reads
 * on request paths, scans) waits, so a caller keeps the section short (a bounded page) and takes
 * no other lock in it (the engine's lock in particular: the engine takes the read mutex under its
 * own lock at start-up). Writes are not blocked (WAL).
 */
#ifndef REC_STORE_EXPORT_H
#define REC_STORE_EXPORT_H

#include <stdint.h>

#include "store/store.h"

/* A row callback's answer: 0 = row taken, go on; REC_STORE_EXPORT_FULL = row not taken, end the
 * section here (the page is full; the next page starts at this row); negative = error, returned. */
#define REC_STORE_EXPORT_FULL 1

/* Dead letters searched per export at most (the newest ones): a search is a scan of their
 * payloads, so it is bounded to keep the read mutex short. */
#define REC_STORE_EXPORT_DEAD_WINDOW 10000

/* Opens a read transaction and takes the read mutex (recursive: point reads may run inside).
 * 0 or an error (then nothing is held). Every successful begin needs one end. */
int rec_store_export_begin(struct rec_store *s);
/* Ends the transaction and lets the mutex go. */
void rec_store_export_end(struct rec_store *s);

/* What the store holds about a user, counted in the open snapshot (index lookups: O(rows of
 * that user)). */
struct rec_store_export_counts {
    int has_user_row;          /* table users */
    int has_preferences;       /* table preferences */
    int64_t n_events;          /* table events */
    int64_t n_served;          /* table served (the user's experiment lists) */
    int64_t n_outcomes;        /* table outcomes, of those lists */
};
int rec_store_export_counts(struct rec_store *s, const char *user,
                            struct rec_store_export_counts *c);

/* Where a section of a page ended. */
struct rec_store_export_cursor {
    int64_t next;              /* cursor of the last row taken (the input cursor when none) */
    int n;                     /* rows taken */
    int done;                  /* 1: no row of the user after next */
};

/* The user's events with seq > after_seq in seq order, at most limit (>= 1), each passed to cb
 * (ev->seq is the cursor). Pointers in ev are valid during the call only. 0 or an error. */
int rec_store_export_events(struct rec_store *s, const char *user, int64_t after_seq, int limit,
                            rec_store_event_cb cb, void *ctx, struct rec_store_export_cursor *cur);

/* The user's served lists after cursor after (0: from the first) in the order they were logged,
 * at most limit (>= 1). For each list served_cb gets the list and its cursor; when it takes the
 * list, outcome_cb gets each outcome of it (ordered by position, then type; experiment and
 * variant set), and may not refuse one (REC_STORE_EXPORT_FULL there is an error). The cursor is
 * the served row's rowid: stable while the database is not VACUUMed (recd never does). */
typedef int (*rec_store_export_served_cb)(void *ctx, int64_t cursor,
                                          const struct rec_served_row *r);
int rec_store_export_served(struct rec_store *s, const char *user, int64_t after, int limit,
                            rec_store_export_served_cb served_cb, rec_store_outcome_cb outcome_cb,
                            void *ctx, struct rec_store_export_cursor *cur);

/* Dead letters have no user column; this finds those among the newest
 * REC_STORE_EXPORT_DEAD_WINDOW whose payload contains needle (the caller passes the user id as a
 * JSON string, quotes included), oldest first, at most limit. *searched_all is set to 1 when the
 * window covered the whole table. */
int rec_store_export_dead_letters(struct rec_store *s, const char *needle, int limit,
                                  rec_store_dead_letter_cb cb, void *ctx,
                                  struct rec_store_export_cursor *cur, int *searched_all);

#endif
