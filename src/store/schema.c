/* schema.c: the database schema as an ordered list of migrations.
 *
 * PRAGMA user_version holds the number of migrations applied. A release that changes the schema
 * appends one row to the table below and bumps REC_STORE_SCHEMA_VERSION; rows are never edited
 * once released. Each migration runs in its own transaction together with the version bump, so
 * a crash leaves the database at a whole version.
 */
#include <stdio.h>

#include "core/err.h"
#include "core/log.h" /* rec_info */
#include "store/store_int.h"

/* Why the schema looks like this:
 * - items/users declare their rowid (INTEGER PRIMARY KEY) so VACUUM cannot renumber it: scans
 *   return rows in insertion order, and an upsert (ON CONFLICT DO UPDATE) keeps the row.
 * - events.seq is AUTOINCREMENT: after a user erasure removed the newest events, a plain rowid
 *   would hand the same seq out again and a consumer that replayed up to that seq would miss the
 *   new event. AUTOINCREMENT guarantees seqs only grow.
 * - events.event_id is UNIQUE; NULLs are distinct in SQLite, so events without an id are
 *   deduplicated by event_key instead (version 2).
 * - No foreign keys: the writer creates the users/items rows an event names in the same
 *   transaction, and items are only soft-deleted, so checks would cost time on every insert and
 *   catch nothing. */
static const char migration_1[] =
    "CREATE TABLE items ("
    "  rowid INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  doc TEXT NOT NULL,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE users ("
    "  rowid INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  doc TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id TEXT UNIQUE,"
    "  user TEXT NOT NULL,"
    "  item TEXT NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  value REAL NOT NULL DEFAULT 0,"
    "  ts INTEGER NOT NULL,"
    "  context TEXT);"
    "CREATE INDEX events_user ON events(user);"
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL) WITHOUT ROWID;";

/* Version 2: deduplication of events without an id, and dead letters.
 * - events.event_key is rec_store_event_key(user, item, type, ts) for an event without id, NULL
 *   for one with an id (event_id dedups those). Its unique index makes a redelivered id-less
 *   event (Kafka at-least-once, a retried POST) a duplicate. The index leads with ts (which the
 *   key covers anyway, so uniqueness is the same): events arrive roughly in time order, so new
 *   entries land at the end of the b-tree, not on random pages (a random 64-bit key alone made
 *   id-less inserts 3x slower: 116k -> 37k events/s in batches of 1000; 103k with ts first).
 *   Existing rows get their key through the rec_event_key() SQL function registered for the
 *   migration; UPDATE OR IGNORE leaves the key NULL on the later copies of events that were
 *   stored twice before this version.
 * - dead_letters keeps messages a stream source could not use (malformed JSON, invalid events),
 *   with the first bytes of the message and why. (source, topic, partition, offset) is unique,
 *   so a message redelivered after a crash is recorded once. */
static const char migration_2[] =
    "ALTER TABLE events ADD COLUMN event_key INTEGER;"
    "CREATE UNIQUE INDEX events_key ON events(ts, event_key);"
    "UPDATE OR IGNORE events SET event_key = rec_event_key(user, item, type, ts)"
    "  WHERE event_id IS NULL;"
    "CREATE TABLE dead_letters ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  source TEXT NOT NULL,"
    "  topic TEXT NOT NULL,"
    "  src_partition INTEGER NOT NULL,"
    "  src_offset INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  payload BLOB,"
    "  payload_bytes INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(source, topic, src_partition, src_offset));";

/* Version 3: the experiments' log (exp/tracker.c).
 * - served: one row per recommendation list served to a user in an experiment: its
 *   recommendation_id, the variant, when, and the item ids in order ('\n'-joined: ids never
 *   hold control characters).
 * - outcomes: what happened to a position of a served list, one row per (list, position, event
 *   type): n events, value their summed value (dwell seconds). A click on the same position
 *   twice is one clicked position, so click-through stays a proportion.
 * Both go when their user is erased. */
static const char migration_3[] =
    "CREATE TABLE served ("
    "  rec_id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  experiment TEXT NOT NULL,"
    "  variant TEXT NOT NULL,"
    "  ts REAL NOT NULL,"
    "  n_items INTEGER NOT NULL,"
    "  items TEXT NOT NULL);"
    "CREATE INDEX served_user ON served(user);"
    "CREATE INDEX served_ts ON served(ts);"
    "CREATE TABLE outcomes ("
    "  rec_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  value REAL NOT NULL,"
    "  ts REAL NOT NULL,"
    "  PRIMARY KEY (rec_id, position, type)) WITHOUT ROWID;";

/* Version 4: users' preferences (PUT /v1/users/{id}/preferences), one JSON object per user,
 * apart from the user's document so that upserting a user keeps them. */
static const char migration_4[] =
    "CREATE TABLE preferences ("
    "  user TEXT PRIMARY KEY,"
    "  doc TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL) WITHOUT ROWID;";

/* Version 5: the index of events by user leads with the event's block of 4096 sequence numbers
 * (REC_STORE_USER_BLOCK_SHIFT). An index on (user) alone took each new event to a random leaf
 * page, so a batch of 1,000 events from 1,000 users dirtied about as many index pages, and
 * every commit wrote them all to the WAL and the checkpoint wrote them again: about 4.5 KB
 * per event once the table held a million rows, against about 200 bytes without the index;
 * ingestion slowed as the table grew (117k -> 73k events/s over the first 1.7M events of
 * bench_http_ingest.py, 8 x 1,000). Now new entries share the few leaf pages of the newest
 * block. A user's rows are found by one seek per block (store_int.h, REC_STORE_USER_ROWS),
 * a few milliseconds at ten million events; only erasure and export look them up. */
static const char migration_5[] =
    "DROP INDEX events_user;"
    "CREATE INDEX events_user_block ON events(seq >> " REC_STORE_USER_BLOCK_SHIFT ", user);";

/* migrations[i] brings the schema from version i to i + 1. */
static const char *const migrations[] = {
    migration_1,
    migration_2,
    migration_3,
    migration_4,
    migration_5,
};

_Static_assert(sizeof migrations / sizeof migrations[0] == REC_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    int rc = rec_errf(err, errlen, REC_ESTORE, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return rc;
}

static int read_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = rec_errf(err, errlen, REC_ESTORE, "cannot read schema version: %s",
                      sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* Applies the migration after the current version, if any. The version is read inside the
 * write transaction, so two processes opening the same new database cannot both apply it. */
static int migrate_one(sqlite3 *db, int *version, int *done, char *err, size_t errlen)
{
    int rc = exec_sql(db, "BEGIN IMMEDIATE", err, errlen, "cannot start schema migration");
    if (rc)
        return rc;
    int v = 0;
    if ((rc = read_version(db, &v, err, errlen)))
        goto fail;
    *version = v;
    if (v > REC_STORE_SCHEMA_VERSION) {
        rc = rec_errf(err, errlen, REC_ESTORE,
                      "database schema version %d is newer than this recd supports (%d)", v,
                      REC_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (v == REC_STORE_SCHEMA_VERSION) {
        *done = 1;
        return exec_sql(db, "COMMIT", err, errlen, "cannot end schema check");
    }
    char what[64];
    snprintf(what, sizeof what, "schema migration %d failed", v + 1);
    if ((rc = exec_sql(db, migrations[v], err, errlen, what)))
        goto fail;
    char bump[48];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
    if ((rc = exec_sql(db, bump, err, errlen, what)))
        goto fail;
    if ((rc = exec_sql(db, "COMMIT", err, errlen, what)))
        goto fail;
    *version = v + 1;
    rec_info("store: schema migrated to version %d", v + 1);
    return 0;
fail:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* rec_event_key(user, item, type, ts): the dedup key of an id-less event, for migration 2. */
static void event_key_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *user = (const char *)sqlite3_value_text(argv[0]);
    const char *item = (const char *)sqlite3_value_text(argv[1]);
    if (!user || !item) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_int64(ctx, rec_store_event_key(user, item, sqlite3_value_int(argv[2]),
                                                  sqlite3_value_int64(argv[3])));
}

int rec_store_schema_migrate(sqlite3 *db, int *version, char *err, size_t errlen)
{
    if (sqlite3_create_function(db, "rec_event_key", 4,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                event_key_fn, NULL, NULL) != SQLITE_OK)
        return rec_errf(err, errlen, REC_ESTORE, "cannot register rec_event_key: %s",
                        sqlite3_errmsg(db));
    int done = 0;
    /* At most one pass per migration plus the final check. */
    for (int pass = 0; pass <= REC_STORE_SCHEMA_VERSION && !done; pass++) {
        int rc = migrate_one(db, version, &done, err, errlen);
        if (rc)
            return rc;
    }
    return done ? 0 : rec_errf(err, errlen, REC_EINTERNAL, "schema migration did not converge");
}
