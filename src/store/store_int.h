/* store_int.h: what the files of src/store/ share with each other and nobody else.
 *
 * store.c  open/close, the read connection, point reads, scans
 * schema.c the ordered migration table (PRAGMA user_version)
 * writer.c the writer connection, its thread, the job queue (group commit) and the write API
 */
#ifndef REC_STORE_STORE_INT_H
#define REC_STORE_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

/* Milliseconds a connection waits on a lock held by another connection (another process, or
 * a checkpoint) before failing with SQLITE_BUSY. */
#define REC_STORE_BUSY_MS 5000
/* Page cache per connection, in KiB as SQLite's negative cache_size takes it (the 2 MiB default
 * made the writer re-read index pages of a large events table from the OS on every batch). */
#define REC_STORE_CACHE_KIB "-32768"
/* WAL pages between automatic checkpoints (SQLite's default is 1000): hot index pages are
 * copied back to the database once per 16 MiB of WAL instead of once per 4 MiB. */
#define REC_STORE_CHECKPOINT_N 4000
#define REC_STORE_STR_(x) #x
#define REC_STORE_STR(x) REC_STORE_STR_(x)
#define REC_STORE_CHECKPOINT_PAGES REC_STORE_STR(REC_STORE_CHECKPOINT_N)

/* events_user_block (schema version 5) indexes events by (seq >> this, user). */
#define REC_STORE_USER_BLOCK_SHIFT "12"
/* A common table expression naming, as user_rows(seq), the sequence numbers of user ?1's events
 * after sequence number ?2 (all of them when ?2 is not bound): the blocks from ?2's to the newest, one index seek on
 * (block, user) each (CROSS JOIN keeps the blocks as the outer loop). Prefix a statement with
 * it and select from user_rows. */
#define REC_STORE_USER_ROWS                                                                   \
    "WITH RECURSIVE block(n) AS ("                                                           \
    "  SELECT coalesce(?2, 0) >> " REC_STORE_USER_BLOCK_SHIFT                                             \
    "  UNION ALL SELECT n + 1 FROM block"                                                     \
    "  WHERE n < (SELECT max(seq) >> " REC_STORE_USER_BLOCK_SHIFT " FROM events)),"           \
    " user_rows(seq) AS ("                                                                    \
    "  SELECT e.seq FROM block CROSS JOIN events AS e"                                        \
    "  ON (e.seq >> " REC_STORE_USER_BLOCK_SHIFT ") = block.n AND e.user = ?1"               \
    "  WHERE e.seq > coalesce(?2, 0)) "

/* Name of the VFS of recd's connections (wal_buffer.c: the default VFS, with the WAL's writes
 * gathered into few large ones). */
#define REC_STORE_VFS "recd-walbuf"

/* Statements of the read connection, prepared once at open. */
#define READ_STMTS(X)                                                 \
    X(R_BEGIN,       "BEGIN")                                         \
    X(R_COMMIT,      "COMMIT")                                        \
    X(R_ITEM_GET,    "SELECT doc, deleted FROM items WHERE id = ?1")  \
    X(R_USER_GET,    "SELECT doc FROM users WHERE id = ?1")           \
    X(R_META_GET,    "SELECT value FROM meta WHERE key = ?1")         \
    X(R_PREFS_GET,   "SELECT doc FROM preferences WHERE user = ?1")   \
    X(R_COUNT_ITEMS, "SELECT count(*) FROM items")                    \
    X(R_COUNT_USERS, "SELECT count(*) FROM users")                    \
    X(R_COUNT_EVENTS, "SELECT count(*) FROM events")

enum read_stmt {
#define READ_STMT_ENUM(name, sql) name,
    READ_STMTS(READ_STMT_ENUM)
#undef READ_STMT_ENUM
    R__COUNT
};

struct rec_store_writer;

struct rec_store {
    char *dir;                     /* as given to open, owned */
    char *db_path;                 /* dir/recd.db, owned */
    int schema_version;            /* user_version after migrations */
    struct rec_store_writer *writer;
    /* Read side: one connection shared by all readers. Recursive so a scan callback may call
     * the point reads (they run inside the scan's read transaction, on the same snapshot). */
    pthread_mutex_t read_mu;
    sqlite3 *rdb;
    sqlite3_stmt *rst[R__COUNT];
};

/* Logs "store: <what>: <sqlite3_errmsg>" with rec_error() and returns REC_ESTORE
 * (REC_ENOMEM for SQLITE_NOMEM). The caller must own db (its mutex or its thread). */
int rec_store_db_fail(sqlite3 *db, const char *what);

/* Opens path with the pragmas every recd connection uses (WAL, synchronous=FULL, busy timeout,
 * extended result codes). flags are sqlite3_open_v2 flags. On error returns a negative code, a
 * message in err and *out NULL. Thread-safe. */
int rec_store_db_open(const char *path, int flags, sqlite3 **out, char *err, size_t errlen);

/* store.c: an events row selected as (seq, event_id, user, item, type, value, ts, context) into
 * ev (strings valid until the next step). 0 or REC_ENOMEM. */
int rec_store_event_decode(sqlite3_stmt *st, struct rec_event *ev);
/* store.c: a dead_letters row selected as (seq, source, topic, src_partition, src_offset,
 * reason, payload, payload_bytes, created_at) into d (pointers valid until the next step).
 * 0 or REC_ENOMEM. */
int rec_store_dead_letter_decode(sqlite3_stmt *st, struct rec_dead_letter *d);

/* schema.c: brings db to REC_STORE_SCHEMA_VERSION, one transaction per migration, and stores
 * the resulting version in *version. Fails (REC_ESTORE, message in err) on a database written by
 * a newer recd. Call before any other connection uses the tables. */
int rec_store_schema_migrate(sqlite3 *db, int *version, char *err, size_t errlen);

/* wal_buffer.c: registers the REC_STORE_VFS shim once (not as the default VFS) and returns its
 * name, or NULL when it could not be registered (connections then use the default VFS). Only for
 * connections with synchronous=FULL. Thread-safe. */
const char *rec_store_vfs(void);

/* checkpointer.c: a thread with its own connection to path that runs a PASSIVE WAL checkpoint
 * each time one is requested (requests made while one runs fold into one more pass). 0, or a
 * negative code with a message in err. */
struct rec_store_ckpt;
int rec_store_ckpt_start(const char *path, struct rec_store_ckpt **out, char *err,
                         size_t errlen);
/* Asks for a checkpoint and returns at once. Thread-safe. */
void rec_store_ckpt_request(struct rec_store_ckpt *c);
/* Lets a running checkpoint finish, stops the thread, closes its connection. NULL is a no-op. */
void rec_store_ckpt_stop(struct rec_store_ckpt *c);

/* writer.c: takes ownership of db (even on failure), prepares the write statements and starts
 * the writer thread. */
int rec_store_writer_start(sqlite3 *db, struct rec_store_writer **out, char *err,
                           size_t errlen);
/* Refuses new jobs, runs every queued one, stops the thread, closes the connection.
 * NULL is a no-op. */
void rec_store_writer_stop(struct rec_store_writer *w);

#endif
