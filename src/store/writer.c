/* writer.c: every write of the store, through one connection owned by one thread.
 *
 * A write call fills a job on its own stack, queues it and sleeps until the writer marks it
 * done. The writer takes everything queued at once and runs it as one transaction:
 *
 *   BEGIN IMMEDIATE
 *     SAVEPOINT job; <job 1>; RELEASE job      (or ROLLBACK TO job: only job 1 fails)
 *     SAVEPOINT job; <job 2>; RELEASE job
 *     ...
 *   COMMIT                                     (one WAL fsync for the whole batch)
 *
 * then wakes each caller with its own result. While one batch waits for its fsync, new callers
 * queue up and share the next one, so the commit rate stays bounded by the disk and the event
 * rate grows with the number of concurrent callers (group commit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/idmap.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/store_int.h"

/* Statements of the writer connection, prepared once when the writer starts. */
#define WRITE_STMTS(X)                                                                      \
    X(W_BEGIN, "BEGIN IMMEDIATE")                                                            \
    X(W_COMMIT, "COMMIT")                                                                    \
    X(W_ROLLBACK, "ROLLBACK")                                                                \
    X(W_SAVEPOINT, "SAVEPOINT job")                                                          \
    X(W_RELEASE, "RELEASE job")                                                              \
    X(W_ROLLBACK_TO, "ROLLBACK TO job")                                                      \
    X(W_EVENT_INSERT,                                                                        \
      "INSERT INTO events(event_id, user, item, type, value, ts, context, event_key)"        \
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING")                      \
    X(W_DEAD_LETTER_INSERT,                                                                  \
      "INSERT INTO dead_letters(source, topic, src_partition, src_offset, reason, payload,"  \
      " payload_bytes, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"                   \
      " ON CONFLICT DO NOTHING")                                                             \
    X(W_USER_ENSURE,                                                                         \
      "INSERT INTO users(id, doc, created_at) VALUES(?1, '{}', ?2)"                          \
      " ON CONFLICT(id) DO NOTHING")                                                         \
    X(W_ITEM_ENSURE,                                                                         \
      "INSERT INTO items(id, doc, deleted, updated_at) VALUES(?1, '{}', 0, ?2)"              \
      " ON CONFLICT(id) DO NOTHING")                                                         \
    X(W_ITEM_UPSERT,                                                                         \
      "INSERT INTO items(id, doc, deleted, updated_at) VALUES(?1, ?2, 0, ?3)"                \
      " ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, deleted = 0,"                      \
      " updated_at = excluded.updated_at")                                                   \
    X(W_ITEM_DELETE, "UPDATE items SET deleted = 1, updated_at = ?2 WHERE id = ?1")          \
    X(W_USER_UPSERT,                                                                         \
      "INSERT INTO users(id, doc, created_at) VALUES(?1, ?2, ?3)"                            \
      " ON CONFLICT(id) DO UPDATE SET doc = excluded.doc")                                   \
    X(W_USER_EVENTS_DELETE, REC_STORE_USER_ROWS                                              \
      "DELETE FROM events WHERE seq IN (SELECT seq FROM user_rows)")                         \
    X(W_USER_OUTCOMES_DELETE,                                                                \
      "DELETE FROM outcomes WHERE rec_id IN (SELECT rec_id FROM served WHERE user = ?1)")    \
    X(W_USER_SERVED_DELETE, "DELETE FROM served WHERE user = ?1")                            \
    X(W_USER_PREFS_DELETE, "DELETE FROM preferences WHERE user = ?1")                        \
    X(W_USER_DEAD_LETTERS_DELETE,                                                            \
      "DELETE FROM dead_letters WHERE instr(CAST(payload AS TEXT), ?1) > 0")                 \
    X(W_PREFS_SET,                                                                           \
      "INSERT INTO preferences(user, doc, updated_at) VALUES(?1, ?2, ?3)"                    \
      " ON CONFLICT(user) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at") \
    X(W_SERVED_INSERT,                                                                       \
      "INSERT INTO served(rec_id, user, experiment, variant, ts, n_items, items)"           \
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING")                          \
    X(W_OUTCOME_ADD,                                                                         \
      "INSERT INTO outcomes(rec_id, position, type, n, value, ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)" \
      " ON CONFLICT DO UPDATE SET n = n + excluded.n, value = value + excluded.value")       \
    X(W_USER_DELETE, "DELETE FROM users WHERE id = ?1")                                      \
    X(W_META_SET,                                                                            \
      "INSERT INTO meta(key, value) VALUES(?1, ?2)"                                          \
      " ON CONFLICT(key) DO UPDATE SET value = excluded.value")

enum write_stmt {
#define WRITE_STMT_ENUM(name, sql) name,
    WRITE_STMTS(WRITE_STMT_ENUM)
#undef WRITE_STMT_ENUM
    W__COUNT
};

static const char *const write_sql[W__COUNT] = {
#define WRITE_STMT_SQL(name, sql) sql,
    WRITE_STMTS(WRITE_STMT_SQL)
#undef WRITE_STMT_SQL
};

/* Short names for log lines ("W_EVENT_INSERT"). */
static const char *const write_name[W__COUNT] = {
#define WRITE_STMT_NAME(name, sql) #name,
    WRITE_STMTS(WRITE_STMT_NAME)
#undef WRITE_STMT_NAME
};

struct job;
typedef int (*job_run_fn)(struct rec_store_writer *w, struct job *j);

/* One write call. Lives on the caller's stack; the caller sleeps on cv until done is set, so the
 * writer may read the arguments and fill the outputs without copying. */
struct job {
    job_run_fn run;
    const char *what;                 /* for log lines */
    /* arguments (which ones depends on run) */
    struct rec_event *events;         /* append: in, and seq out */
    uint8_t *inserted;                /* append: out, may be NULL */
    const char *const *ids;           /* upserts */
    const char *const *docs;
    int n;
    const char *key;                  /* deletes, meta */
    const char *value;
    const struct rec_dead_letter *dead; /* dead letters: in */
    const struct rec_served_row *served;   /* experiments' log: in */
    const struct rec_outcome_row *outcomes;
    int *n_added;                     /* dead letters: out, may be NULL */
    /* completion */
    int rc;
    int done;
    pthread_cond_t cv;
    struct job *next;
};

struct rec_store_writer {
    sqlite3 *db;                      /* used by the writer thread only once it runs */
    sqlite3_stmt *st[W__COUNT];
    pthread_t thread;
    pthread_mutex_t mu;               /* guards everything below */
    pthread_cond_t work_cv;           /* signalled when a job is queued or stopping is set */
    struct job *head, *tail;          /* FIFO of queued jobs */
    int stopping;
    int64_t n_commits;                /* successful COMMITs */
    int erased;                       /* writer thread only: a batch erased a user */
    /* Writer thread only: ids whose users / items row is known to exist, so an event's ensure
     * statement can be skipped (two of the three statements of an event in a batch of
     * distinct users and items). Emptied when a transaction or a job fails, since its rows may
     * be gone with it, and when it holds more than KNOWN_MAX ids (a cache, not a copy of the
     * tables); an erased user is forgotten. */
    struct rec_idmap known[2];        /* KNOWN_USERS, KNOWN_ITEMS */
    struct rec_store_ckpt *ckpt;      /* checkpoints the WAL off this thread; NULL: we do */
};

enum { KNOWN_USERS, KNOWN_ITEMS };
#define KNOWN_MAX (1 << 20)

/* ---- statement helpers (writer thread only) ---- */

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Steps a statement that returns no rows, then resets it and drops its bindings (they point
 * into caller memory that is gone once the job is done). */
static int step(struct rec_store_writer *w, enum write_stmt k)
{
    sqlite3_stmt *st = w->st[k];
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? 0 : rec_store_db_fail(w->db, write_name[k]);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return out;
}

/* ---- jobs: each runs inside its own savepoint; a non-zero return rolls it back ---- */

/* Binds ?1 = id, ?2 = now and steps k. */
static int step_id_time(struct rec_store_writer *w, enum write_stmt k, const char *id,
                        int64_t now)
{
    sqlite3_stmt *st = w->st[k];
    if (bind_text(st, 1, id) || sqlite3_bind_int64(st, 2, now))
        return rec_store_db_fail(w->db, "bind");
    return step(w, k);
}

static void known_clear(struct rec_store_writer *w)
{
    for (int k = 0; k < 2; k++) {
        rec_idmap_free(&w->known[k]);
        rec_idmap_init(&w->known[k]);
    }
}

/* Makes sure the users (KNOWN_USERS) or items row of id exists: one ensure statement unless
 * the row is known from an earlier one. */
static int ensure_row(struct rec_store_writer *w, int which, const char *id, int64_t now)
{
    struct rec_idmap *m = &w->known[which];
    if (rec_idmap_get(m, id) >= 0)
        return 0;
    int rc = step_id_time(w, which == KNOWN_USERS ? W_USER_ENSURE : W_ITEM_ENSURE, id, now);
    if (rc)
        return rc;
    if (m->n_names >= KNOWN_MAX)
        known_clear(w);
    rec_idmap_put(m, id, NULL); /* out of memory: only the next skip is lost */
    return 0;
}

static int run_append(struct rec_store_writer *w, struct job *j)
{
    int64_t now = rec_now_s();
    sqlite3_stmt *st = w->st[W_EVENT_INSERT];
    const char *last_user = NULL, *last_item = NULL;
    for (int i = 0; i < j->n; i++) {
        struct rec_event *ev = &j->events[i];
        ev->seq = 0;
        if (j->inserted)
            j->inserted[i] = 0;
        /* an id-less event is keyed by its content (?8 stays NULL for the others) */
        if (bind_text(st, 1, ev->id) || bind_text(st, 2, ev->user) ||
            bind_text(st, 3, ev->item) || sqlite3_bind_int(st, 4, ev->type) ||
            sqlite3_bind_double(st, 5, ev->value) || sqlite3_bind_int64(st, 6, ev->ts) ||
            bind_text(st, 7, ev->context) ||
            (!ev->id && sqlite3_bind_int64(st, 8, rec_store_event_key(ev->user, ev->item,
                                                                       ev->type, ev->ts))))
            return rec_store_db_fail(w->db, "bind");
        int rc = step(w, W_EVENT_INSERT);
        if (rc)
            return rc;
        if (sqlite3_changes(w->db) == 0)
            continue; /* id or key seen before (in an earlier commit or earlier in this call) */
        ev->seq = sqlite3_last_insert_rowid(w->db);
        if (j->inserted)
            j->inserted[i] = 1;
        /* Batches are often one user's session: repeats skip even the cache lookup. */
        if (!last_user || strcmp(last_user, ev->user) != 0) {
            if ((rc = ensure_row(w, KNOWN_USERS, ev->user, now)))
                return rc;
            last_user = ev->user;
        }
        if (!last_item || strcmp(last_item, ev->item) != 0) {
            if ((rc = ensure_row(w, KNOWN_ITEMS, ev->item, now)))
                return rc;
            last_item = ev->item;
        }
    }
    return 0;
}

static int run_upsert(struct rec_store_writer *w, struct job *j, enum write_stmt k)
{
    int64_t now = rec_now_s();
    sqlite3_stmt *st = w->st[k];
    for (int i = 0; i < j->n; i++) {
        if (bind_text(st, 1, j->ids[i]) || bind_text(st, 2, j->docs[i]) ||
            sqlite3_bind_int64(st, 3, now))
            return rec_store_db_fail(w->db, "bind");
        int rc = step(w, k);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_upsert_items(struct rec_store_writer *w, struct job *j)
{
    return run_upsert(w, j, W_ITEM_UPSERT);
}

static int run_upsert_users(struct rec_store_writer *w, struct job *j)
{
    return run_upsert(w, j, W_USER_UPSERT);
}

static int run_delete_item(struct rec_store_writer *w, struct job *j)
{
    int rc = step_id_time(w, W_ITEM_DELETE, j->key, rec_now_s());
    if (rc)
        return rc;
    return sqlite3_changes(w->db) == 0 ? REC_ENOTFOUND : 0;
}

/* Erasure: every row that names the user, in every table. REC_ENOTFOUND only when there was
 * none anywhere (a user may have preferences or an experiment log and no users row). */
static int run_delete_user(struct rec_store_writer *w, struct job *j)
{
    const enum write_stmt steps[] = {W_USER_EVENTS_DELETE, W_USER_OUTCOMES_DELETE,
                                     W_USER_SERVED_DELETE, W_USER_PREFS_DELETE,
                                     W_USER_DEAD_LETTERS_DELETE, W_USER_DELETE};
    int rc, changes = 0;
    char quoted[REC_ID_MAX + 3]; /* dead letters are raw messages: find the id as a JSON string */
    snprintf(quoted, sizeof quoted, "\"%s\"", j->key);
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        if (bind_text(w->st[steps[k]], 1, steps[k] == W_USER_DEAD_LETTERS_DELETE ? quoted : j->key))
            return rec_store_db_fail(w->db, "bind");
        if ((rc = step(w, steps[k])))
            return rc;
        changes += sqlite3_changes(w->db);
    }
    w->erased = 1; /* the writer checkpoints the WAL after this batch */
    rec_idmap_remove(&w->known[KNOWN_USERS], j->key);
    return changes == 0 ? REC_ENOTFOUND : 0;
}

static int run_meta_set(struct rec_store_writer *w, struct job *j)
{
    sqlite3_stmt *st = w->st[W_META_SET];
    if (bind_text(st, 1, j->key) || bind_text(st, 2, j->value))
        return rec_store_db_fail(w->db, "bind");
    return step(w, W_META_SET);
}

static int run_meta_set_many(struct rec_store_writer *w, struct job *j)
{
    sqlite3_stmt *st = w->st[W_META_SET];
    for (int i = 0; i < j->n; i++) {
        if (bind_text(st, 1, j->ids[i]) || bind_text(st, 2, j->docs[i]))
            return rec_store_db_fail(w->db, "bind");
        int rc = step(w, W_META_SET);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_dead_letters(struct rec_store_writer *w, struct job *j)
{
    sqlite3_stmt *st = w->st[W_DEAD_LETTER_INSERT];
    for (int i = 0; i < j->n; i++) {
        const struct rec_dead_letter *d = &j->dead[i];
        if (bind_text(st, 1, d->source) || bind_text(st, 2, d->topic) ||
            sqlite3_bind_int(st, 3, d->partition) || sqlite3_bind_int64(st, 4, d->offset) ||
            bind_text(st, 5, d->reason) ||
            (d->payload && sqlite3_bind_blob64(st, 6, d->payload, d->payload_len,
                                               SQLITE_STATIC)) ||
            sqlite3_bind_int64(st, 7, d->payload_bytes) || sqlite3_bind_int64(st, 8, d->ts))
            return rec_store_db_fail(w->db, "bind");
        int rc = step(w, W_DEAD_LETTER_INSERT);
        if (rc)
            return rc;
        if (j->n_added)
            *j->n_added += sqlite3_changes(w->db);
    }
    return 0;
}

static int run_prefs(struct rec_store_writer *w, struct job *j)
{
    if (!j->value) {
        if (bind_text(w->st[W_USER_PREFS_DELETE], 1, j->key))
            return rec_store_db_fail(w->db, "bind");
        return step(w, W_USER_PREFS_DELETE);
    }
    sqlite3_stmt *st = w->st[W_PREFS_SET];
    if (bind_text(st, 1, j->key) || bind_text(st, 2, j->value) ||
        sqlite3_bind_int64(st, 3, rec_now_s()))
        return rec_store_db_fail(w->db, "bind");
    return step(w, W_PREFS_SET);
}

static int run_served(struct rec_store_writer *w, struct job *j)
{
    sqlite3_stmt *st = w->st[W_SERVED_INSERT];
    for (int i = 0; i < j->n; i++) {
        const struct rec_served_row *r = &j->served[i];
        if (bind_text(st, 1, r->rec_id) || bind_text(st, 2, r->user) ||
            bind_text(st, 3, r->experiment) || bind_text(st, 4, r->variant) ||
            sqlite3_bind_double(st, 5, r->ts) || sqlite3_bind_int(st, 6, r->n_items) ||
            bind_text(st, 7, r->items))
            return rec_store_db_fail(w->db, "bind");
        int rc = step(w, W_SERVED_INSERT);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_outcomes(struct rec_store_writer *w, struct job *j)
{
    sqlite3_stmt *st = w->st[W_OUTCOME_ADD];
    for (int i = 0; i < j->n; i++) {
        const struct rec_outcome_row *o = &j->outcomes[i];
        if (bind_text(st, 1, o->rec_id) || sqlite3_bind_int(st, 2, o->position) ||
            sqlite3_bind_int(st, 3, o->type) || sqlite3_bind_int64(st, 4, o->n) ||
            sqlite3_bind_double(st, 5, o->value) || sqlite3_bind_double(st, 6, o->ts))
            return rec_store_db_fail(w->db, "bind");
        int rc = step(w, W_OUTCOME_ADD);
        if (rc)
            return rc;
    }
    return 0;
}

/* Clears what a job wrote into caller memory, for a job whose work was rolled back. */
static void undo_outputs(struct job *j)
{
    if (j->run == run_dead_letters && j->n_added)
        *j->n_added = 0;
    if (j->run != run_append)
        return;
    for (int i = 0; i < j->n; i++) {
        j->events[i].seq = 0;
        if (j->inserted)
            j->inserted[i] = 0;
    }
}

/* Fails every job in [first, last] that had succeeded: their transaction is gone. */
static void fail_range(struct job *first, struct job *last)
{
    for (struct job *j = first; j; j = j->next) {
        if (j->rc == 0) {
            j->rc = REC_ESTORE;
            undo_outputs(j);
        }
        if (j == last)
            break;
    }
}

/* Runs j inside a savepoint of the open transaction. Returns j's result; *aborted is set when
 * the whole transaction is gone (SQLite rolls back by itself on I/O errors, disk full, ...). */
static int run_in_savepoint(struct rec_store_writer *w, struct job *j, int *aborted)
{
    int rc = step(w, W_SAVEPOINT);
    if (rc == 0) {
        rc = j->run(w, j);
        if (rc == 0)
            rc = step(w, W_RELEASE);
        /* a failed job, or a failed RELEASE, must leave nothing behind: its caller is told
         * nothing was stored, so its rows may not ride along with the others' commit */
        if (rc != 0 && !sqlite3_get_autocommit(w->db) &&
            (step(w, W_ROLLBACK_TO) || step(w, W_RELEASE)))
            *aborted = 1;
    }
    if (sqlite3_get_autocommit(w->db))
        *aborted = 1;
    if (rc) {
        if (rc != REC_ENOTFOUND)
            rec_warn("store: %s failed: %s", j->what, rec_strerror(rc));
        undo_outputs(j);
        known_clear(w); /* rows it ensured were rolled back with it */
    }
    if (*aborted)
        known_clear(w);
    return rc;
}

/* Runs a list of jobs in as few transactions as possible (one unless SQLite aborts one).
 * Sets every job's rc. Returns 1 when the final transaction committed, else 0. */
static int run_batch(struct rec_store_writer *w, struct job *list)
{
    struct job *txn_first = NULL, *prev = NULL;
    for (struct job *j = list; j; prev = j, j = j->next) {
        if (!txn_first) {
            if ((j->rc = step(w, W_BEGIN))) {
                undo_outputs(j);
                continue;
            }
            txn_first = j;
        }
        int aborted = 0;
        j->rc = run_in_savepoint(w, j, &aborted);
        if (aborted) {
            if (!sqlite3_get_autocommit(w->db))
                step(w, W_ROLLBACK);
            fail_range(txn_first, j);
            txn_first = NULL;
        }
    }
    if (!txn_first)
        return 0;
    if (step(w, W_COMMIT) == 0)
        return 1;
    known_clear(w);
    if (!sqlite3_get_autocommit(w->db))
        step(w, W_ROLLBACK);
    fail_range(txn_first, prev);
    return 0;
}

/* SQLite's WAL hook, after each commit of the writer connection (in place of its automatic
 * checkpoint): frames is the WAL's length in pages. From half of REC_STORE_CHECKPOINT_N on,
 * the checkpointer copies frames back in the background; at REC_STORE_CHECKPOINT_N this thread
 * checkpoints as SQLite did, which now leaves it only the frames committed since the
 * checkpointer's last pass to copy, and lets the next batch restart the WAL (checkpointer.c
 * says why the checkpointer alone would not). The WAL stays about as long as before. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct rec_store_writer *w = arg;
    if (frames >= REC_STORE_CHECKPOINT_N / 2 && w->ckpt)
        rec_store_ckpt_request(w->ckpt);
    /* BUSY when the checkpointer is in a pass: the next commit tries again */
    if (frames >= REC_STORE_CHECKPOINT_N)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static void *writer_main(void *arg)
{
    struct rec_store_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->work_cv, &w->mu);
        if (!w->head)
            break; /* stopping, and the queue is drained */
        struct job *list = w->head;
        w->head = w->tail = NULL;
        pthread_mutex_unlock(&w->mu);

        w->erased = 0;
        int commits = run_batch(w, list);
        /* an erased user's rows linger in the WAL until it is reset: reset it now (readers on
         * an older snapshot may keep part of it until they finish: best effort, logged) */
        if (w->erased && commits) {
            int log = 0, ckpt = 0;
            if (sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt) !=
                SQLITE_OK)
                rec_warn("store: WAL checkpoint after an erasure: %s (%d of %d frames)",
                         sqlite3_errmsg(w->db), ckpt, log);
        }

        pthread_mutex_lock(&w->mu);
        w->n_commits += commits;
        /* Signal under the mutex: once it is released a caller may return and destroy its job
         * (and its cv). */
        for (struct job *j = list, *next; j; j = next) {
            next = j->next;
            j->done = 1;
            pthread_cond_signal(&j->cv);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Queues j and blocks until the writer has committed (or failed) it. Returns j's result. */
static int submit(struct rec_store_writer *w, struct job *j)
{
    j->rc = 0;
    j->done = 0;
    j->next = NULL;
    if (pthread_cond_init(&j->cv, NULL))
        return REC_ENOMEM;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        pthread_cond_destroy(&j->cv);
        rec_warn("store: %s refused: store is closing", j->what);
        return REC_EBUSY;
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->work_cv);
    while (!j->done)
        pthread_cond_wait(&j->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&j->cv);
    return j->rc;
}

/* ---- lifecycle ---- */

static void writer_free(struct rec_store_writer *w)
{
    /* before the writer's connection: closing the last one checkpoints and removes the WAL */
    rec_store_ckpt_stop(w->ckpt);
    for (int k = 0; k < 2; k++)
        rec_idmap_free(&w->known[k]);
    for (int k = 0; k < W__COUNT; k++)
        sqlite3_finalize(w->st[k]);
    if (sqlite3_close(w->db) != SQLITE_OK)
        rec_error("store: closing the writer connection: %s", sqlite3_errmsg(w->db));
    free(w);
}

int rec_store_writer_start(sqlite3 *db, struct rec_store_writer **out, char *err,
                           size_t errlen)
{
    *out = NULL;
    struct rec_store_writer *w = calloc(1, sizeof *w);
    if (!w) {
        sqlite3_close(db);
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    }
    w->db = db;
    for (int k = 0; k < W__COUNT; k++) {
        if (sqlite3_prepare_v3(db, write_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &w->st[k],
                               NULL) != SQLITE_OK) {
            int rc = rec_errf(err, errlen, REC_ESTORE, "cannot prepare \"%s\": %s",
                              write_sql[k], sqlite3_errmsg(db));
            rec_error("store: %s", err);
            writer_free(w);
            return rc;
        }
    }
    const char *path = sqlite3_db_filename(db, "main");
    if (path && path[0] && rec_store_ckpt_start(path, &w->ckpt, err, errlen) == 0)
        sqlite3_wal_hook(db, wal_hook, w);
    else /* SQLite's automatic checkpoints, on this thread, as before */
        rec_warn("store: no checkpointer thread: %s", path && path[0] ? err : "no file");
    if (pthread_mutex_init(&w->mu, NULL))
        goto fail_mutex;
    if (pthread_cond_init(&w->work_cv, NULL))
        goto fail_cond;
    if (pthread_create(&w->thread, NULL, writer_main, w))
        goto fail_thread;
    *out = w;
    return 0;
fail_thread:
    pthread_cond_destroy(&w->work_cv);
fail_cond:
    pthread_mutex_destroy(&w->mu);
fail_mutex:
    writer_free(w);
    return rec_errf(err, errlen, REC_ENOMEM, "cannot start the store writer thread");
}

void rec_store_writer_stop(struct rec_store_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->work_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->work_cv);
    pthread_mutex_destroy(&w->mu);
    writer_free(w);
}

/* ---- public write API (store.h) ---- */

static int check_pairs(const char *const *ids, const char *const *docs, int n)
{
    if (n < 0 || (n > 0 && (!ids || !docs)))
        return REC_EINVAL;
    for (int i = 0; i < n; i++)
        if (!ids[i] || !ids[i][0] || !docs[i])
            return REC_EINVAL;
    return 0;
}

int rec_store_append_events(struct rec_store *s, struct rec_event *events, int n,
                            uint8_t *inserted)
{
    if (!s || n < 0 || (n > 0 && !events))
        return REC_EINVAL;
    /* Checked before queueing so a bad event fails its call without touching the batch. */
    for (int i = 0; i < n; i++) {
        const struct rec_event *ev = &events[i];
        if (!ev->user || !ev->user[0] || !ev->item || !ev->item[0] || ev->type < 0 ||
            ev->type >= REC_EVENT__COUNT)
            return REC_EINVAL;
    }
    if (n == 0)
        return 0;
    struct job j = {.run = run_append, .what = "append events", .events = events,
                    .inserted = inserted, .n = n};
    return submit(s->writer, &j);
}

int64_t rec_store_event_key(const char *user, const char *item, int type, int64_t ts)
{
    /* FNV-1a over "user\0item\0", then type and ts through the splitmix64 finaliser */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int part = 0; part < 2; part++) {
        for (const unsigned char *p = (const unsigned char *)(part ? item : user); *p; p++)
            h = (h ^ *p) * 0x100000001b3ULL;
        h *= 0x100000001b3ULL; /* the terminating NUL: "ab","c" differs from "a","bc" */
    }
    h = rec_mix64(h ^ (uint64_t)(uint32_t)type);
    h = rec_mix64(h ^ (uint64_t)ts);
    return (int64_t)h;
}

int rec_store_add_dead_letters(struct rec_store *s, const struct rec_dead_letter *dl, int n,
                               int *n_added)
{
    if (n_added)
        *n_added = 0;
    if (!s || n < 0 || (n > 0 && !dl))
        return REC_EINVAL;
    for (int i = 0; i < n; i++)
        if (!dl[i].source || !dl[i].topic || !dl[i].reason || dl[i].payload_bytes < 0)
            return REC_EINVAL;
    if (n == 0)
        return 0;
    struct job j = {.run = run_dead_letters, .what = "add dead letters", .dead = dl, .n = n,
                    .n_added = n_added};
    return submit(s->writer, &j);
}

int rec_store_upsert_items(struct rec_store *s, const char *const *ids, const char *const *docs,
                           int n)
{
    if (!s || check_pairs(ids, docs, n))
        return REC_EINVAL;
    if (n == 0)
        return 0;
    struct job j = {.run = run_upsert_items, .what = "upsert items", .ids = ids, .docs = docs,
                    .n = n};
    return submit(s->writer, &j);
}

int rec_store_upsert_users(struct rec_store *s, const char *const *ids, const char *const *docs,
                           int n)
{
    if (!s || check_pairs(ids, docs, n))
        return REC_EINVAL;
    if (n == 0)
        return 0;
    struct job j = {.run = run_upsert_users, .what = "upsert users", .ids = ids, .docs = docs,
                    .n = n};
    return submit(s->writer, &j);
}

int rec_store_delete_item(struct rec_store *s, const char *id)
{
    if (!s || !id)
        return REC_EINVAL;
    struct job j = {.run = run_delete_item, .what = "delete item", .key = id};
    return submit(s->writer, &j);
}

int rec_store_delete_user(struct rec_store *s, const char *id)
{
    if (!s || !id)
        return REC_EINVAL;
    struct job j = {.run = run_delete_user, .what = "delete user", .key = id};
    return submit(s->writer, &j);
}

int rec_store_meta_set(struct rec_store *s, const char *key, const char *value)
{
    if (!s || !key || !value)
        return REC_EINVAL;
    struct job j = {.run = run_meta_set, .what = "set meta", .key = key, .value = value};
    return submit(s->writer, &j);
}

int rec_store_set_preferences(struct rec_store *s, const char *user, const char *doc)
{
    if (!s || !user)
        return REC_EINVAL;
    struct job j = {.run = run_prefs, .what = "set preferences", .key = user, .value = doc};
    return submit(s->writer, &j);
}

int rec_store_log_served(struct rec_store *s, const struct rec_served_row *rows, int n)
{
    if (!s || n < 0 || (n > 0 && !rows))
        return REC_EINVAL;
    for (int i = 0; i < n; i++)
        if (!rows[i].rec_id || !rows[i].user || !rows[i].experiment || !rows[i].variant ||
            !rows[i].items)
            return REC_EINVAL;
    if (n == 0)
        return 0;
    struct job j = {.run = run_served, .what = "log served lists", .served = rows, .n = n};
    return submit(s->writer, &j);
}

int rec_store_log_outcomes(struct rec_store *s, const struct rec_outcome_row *rows, int n)
{
    if (!s || n < 0 || (n > 0 && !rows))
        return REC_EINVAL;
    for (int i = 0; i < n; i++)
        if (!rows[i].rec_id)
            return REC_EINVAL;
    if (n == 0)
        return 0;
    struct job j = {.run = run_outcomes, .what = "log outcomes", .outcomes = rows, .n = n};
    return submit(s->writer, &j);
}

int rec_store_meta_set_many(struct rec_store *s, const char *const *keys,
                            const char *const *values, int n)
{
    if (!s || check_pairs(keys, values, n))
        return REC_EINVAL;
    if (n == 0)
        return 0;
    struct job j = {.run = run_meta_set_many, .what = "set meta", .ids = keys, .docs = values,
                    .n = n};
    return submit(s->writer, &j);
}

int64_t rec_store_commit_count(struct rec_store *s)
{
    pthread_mutex_lock(&s->writer->mu);
    int64_t n = s->writer->n_commits;
    pthread_mutex_unlock(&s->writer->mu);
    return n;
}
