/* store.c: opening and closing the store, and everything that reads.
 *
 * Reads share one connection guarded by a recursive mutex. In WAL mode it reads the last
 * committed state without waiting for the writer thread, and the writer does not wait for it.
 * A scan holds the mutex (and one read transaction) for its whole length: that is what makes
 * it see one consistent snapshot while appends go on, and why scans are for start-up and tools,
 * not for request paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_int.h"

static const char *const read_sql[R__COUNT] = {
#define READ_STMT_SQL(name, sql) sql,
    READ_STMTS(READ_STMT_SQL)
#undef READ_STMT_SQL
};

/* ---- helpers shared with the other store files ---- */

int rec_store_db_fail(sqlite3 *db, const char *what)
{
    int code = sqlite3_errcode(db);
    rec_error("store: %s: %s (%d)", what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    return code == SQLITE_NOMEM ? REC_ENOMEM : REC_ESTORE;
}

static int pragma(sqlite3 *db, const char *sql, const char *expect, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = rec_errf(err, errlen, REC_ESTORE, "%s: %s", sql, sqlite3_errmsg(db));
        goto out;
    }
    rc = 0;
    if (expect) {
        const char *got = (const char *)sqlite3_column_text(st, 0); /* NULL without a row */
        if (!got || strcmp(got, expect) != 0)
            rc = rec_errf(err, errlen, REC_ESTORE, "%s: got \"%s\", need \"%s\"", sql,
                          got ? got : "nothing", expect);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/* Process-wide SQLite settings, before its first use. Memory statistics off: with them every
 * allocation of every connection takes one global mutex (a few percent of the writer thread's
 * time) and recd never reads them. SQLITE_MISUSE when SQLite was started already is harmless. */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int rec_store_db_open(const char *path, int flags, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    *out = NULL;
    pthread_once(&sqlite_once, sqlite_setup);
    /* NOMUTEX: each connection is used by one thread at a time (the writer thread, or whoever
     * holds read_mu), so SQLite's own per-connection mutex would only cost time. The VFS
     * gathers WAL writes: every connection here runs with synchronous=FULL, as it requires. */
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, rec_store_vfs()) != SQLITE_OK) {
        int rc = rec_errf(err, errlen, REC_ESTORE, "cannot open database %s: %s", path,
                          db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, REC_STORE_BUSY_MS);
    int rc;
    char detail[256];
    /* WAL: readers and the writer do not block each other, and a commit is one sequential
     * write plus one fsync. synchronous=FULL: that fsync happens on every commit, so an
     * acknowledged write survives power loss, not only a process crash. */
    if ((rc = pragma(db, "PRAGMA journal_mode=WAL", "wal", detail, sizeof detail)) ||
        (rc = pragma(db, "PRAGMA synchronous=FULL", NULL, detail, sizeof detail)) ||
        (rc = pragma(db, "PRAGMA foreign_keys=OFF", NULL, detail, sizeof detail)) ||
        (rc = pragma(db, "PRAGMA cache_size=" REC_STORE_CACHE_KIB, NULL, detail, sizeof detail)) ||
        (rc = pragma(db, "PRAGMA wal_autocheckpoint=" REC_STORE_CHECKPOINT_PAGES, NULL, detail,
                     sizeof detail))) {
        rec_errf(err, errlen, rc, "cannot set up database %s: %s", path, detail);
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

/* ---- open / close ---- */

static void errno_text(int e, char *buf, size_t len)
{
    if (strerror_r(e, buf, len) != 0)
        snprintf(buf, len, "error %d", e);
}

static int mkdir_one(const char *path)
{
    if (mkdir(path, 0755) == 0)
        return 0;
    int e = errno;
    struct stat st;
    if (e == EEXIST) {
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return ENOTDIR;
    }
    return e;
}

/* fsyncs a directory so the entries just created in it survive power loss. */
static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rec_warn("store: cannot sync directory %s: errno %d", path, errno);
    if (fd >= 0)
        close(fd);
}

/* Creates dir, and its parent when that is missing too (mkdir -p, two levels deep). */
static int make_dir(const char *dir, char *err, size_t errlen)
{
    int e = mkdir_one(dir);
    if (e == ENOENT) {
        size_t len = strlen(dir);
        char *parent = malloc(len + 1);
        if (!parent)
            return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
        memcpy(parent, dir, len + 1);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = '\0';
            e = mkdir_one(parent);
            if (e == 0)
                e = mkdir_one(dir);
            if (e == 0)
                sync_dir(parent);
        }
        free(parent);
    }
    if (e == 0)
        return 0;
    char why[128];
    errno_text(e, why, sizeof why);
    return rec_errf(err, errlen, REC_EIO, "cannot create data directory %s: %s", dir, why);
}

static char *dup_str(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static void close_reader(struct rec_store *s)
{
    for (int k = 0; k < R__COUNT; k++)
        sqlite3_finalize(s->rst[k]);
    if (s->rdb && sqlite3_close(s->rdb) != SQLITE_OK)
        rec_error("store: closing the read connection: %s", sqlite3_errmsg(s->rdb));
    s->rdb = NULL;
}

static int open_reader(struct rec_store *s, char *err, size_t errlen)
{
    int rc = rec_store_db_open(s->db_path, SQLITE_OPEN_READWRITE, &s->rdb, err, errlen);
    if (rc)
        return rc;
    if ((rc = pragma(s->rdb, "PRAGMA query_only=1", NULL, err, errlen)))
        return rc;
    for (int k = 0; k < R__COUNT; k++)
        if (sqlite3_prepare_v3(s->rdb, read_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s->rst[k],
                               NULL) != SQLITE_OK)
            return rec_errf(err, errlen, REC_ESTORE, "cannot prepare \"%s\": %s", read_sql[k],
                            sqlite3_errmsg(s->rdb));
    return 0;
}

static int init_read_mutex(pthread_mutex_t *mu)
{
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr))
        return REC_ENOMEM;
    int rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE) ||
             pthread_mutex_init(mu, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc ? REC_ENOMEM : 0;
}

int rec_store_open(const char *dir, struct rec_store **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return rec_errf(err, errlen, REC_EINVAL, "no output pointer");
    *out = NULL;
    if (!dir || !dir[0])
        return rec_errf(err, errlen, REC_EINVAL, "no data directory given");

    int rc = REC_ENOMEM;
    sqlite3 *wdb = NULL;
    struct rec_store *s = calloc(1, sizeof *s);
    if (!s)
        goto fail_alloc;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t path_len = len + 1 + sizeof REC_STORE_DB_NAME;
    if (!(s->dir = dup_str(dir, len)) || !(s->db_path = malloc(path_len)))
        goto fail_strings;
    snprintf(s->db_path, path_len, "%s/%s", s->dir, REC_STORE_DB_NAME);
    if ((rc = make_dir(s->dir, err, errlen)))
        goto fail_strings;

    rc = rec_store_db_open(s->db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &wdb, err,
                           errlen);
    if (rc)
        goto fail_strings;
    if ((rc = rec_store_schema_migrate(wdb, &s->schema_version, err, errlen))) {
        sqlite3_close(wdb);
        goto fail_strings;
    }
    /* After migrating, so the read statements find their tables. */
    if ((rc = open_reader(s, err, errlen))) {
        sqlite3_close(wdb);
        goto fail_reader;
    }
    if ((rc = init_read_mutex(&s->read_mu))) {
        sqlite3_close(wdb);
        rec_errf(err, errlen, rc, "cannot create the read mutex");
        goto fail_reader;
    }
    /* SQLite syncs the directory when it creates the -wal file but not for recd.db itself;
     * once per open makes a fresh database's directory entries durable. */
    sync_dir(s->dir);
    if ((rc = rec_store_writer_start(wdb, &s->writer, err, errlen)))
        goto fail_writer;
    rec_info("store: opened %s (schema %d)", s->db_path, s->schema_version);
    *out = s;
    return 0;

fail_writer:
    pthread_mutex_destroy(&s->read_mu);
fail_reader:
    close_reader(s);
fail_strings:
    free(s->db_path);
    free(s->dir);
    free(s);
fail_alloc:
    if (rc == REC_ENOMEM && err && errlen && !err[0])
        rec_errf(err, errlen, rc, "out of memory");
    if (err && errlen)
        rec_error("store: %s", err);
    return rc;
}

void rec_store_close(struct rec_store *s)
{
    if (!s)
        return;
    /* Reader first: the writer's connection is then the last one, and closing it checkpoints
     * the WAL into recd.db and removes the -wal file. */
    close_reader(s);
    pthread_mutex_destroy(&s->read_mu);
    rec_store_writer_stop(s->writer);
    free(s->db_path);
    free(s->dir);
    free(s);
}

int rec_store_schema_version(struct rec_store *s) { return s->schema_version; }

const char *rec_store_dir(const struct rec_store *s) { return s->dir; }

/* ---- point reads ---- */

/* Runs read statement k with ?1 = key. On a row, copies column 0 to *text (malloc'd) and
 * column 1 to *flag when flag is not NULL. */
static int read_one(struct rec_store *s, enum read_stmt k, const char *key, char **text,
                    int *flag)
{
    if (!s || !key || !text)
        return REC_EINVAL;
    *text = NULL;
    pthread_mutex_lock(&s->read_mu);
    sqlite3_stmt *st = s->rst[k];
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *text = dup_str(v ? v : "", (size_t)sqlite3_column_bytes(st, 0));
        if (flag)
            *flag = sqlite3_column_int(st, 1);
        rc = *text ? 0 : REC_ENOMEM;
    } else if (rc == SQLITE_DONE) {
        rc = REC_ENOTFOUND;
    } else {
        rc = rec_store_db_fail(s->rdb, read_sql[k]);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

int rec_store_get_item(struct rec_store *s, const char *id, char **doc, int *deleted)
{
    int flag = 0;
    int rc = read_one(s, R_ITEM_GET, id, doc, &flag);
    if (rc == 0 && deleted)
        *deleted = flag;
    return rc;
}

int rec_store_get_user(struct rec_store *s, const char *id, char **doc)
{
    return read_one(s, R_USER_GET, id, doc, NULL);
}

int rec_store_get_preferences(struct rec_store *s, const char *user, char **doc)
{
    return read_one(s, R_PREFS_GET, user, doc, NULL);
}

int rec_store_meta_get(struct rec_store *s, const char *key, char **value)
{
    return read_one(s, R_META_GET, key, value, NULL);
}

static int step_read(struct rec_store *s, enum read_stmt k)
{
    int rc = sqlite3_step(s->rst[k]);
    int out = rc == SQLITE_DONE ? 0 : rec_store_db_fail(s->rdb, read_sql[k]);
    sqlite3_reset(s->rst[k]);
    return out;
}

static int count_rows(struct rec_store *s, enum read_stmt k, int64_t *n)
{
    sqlite3_stmt *st = s->rst[k];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (n)
            *n = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = rec_store_db_fail(s->rdb, read_sql[k]);
    }
    sqlite3_reset(st);
    return rc;
}

/* Counts every stored row (soft-deleted items included) in one snapshot. Each count walks its
 * table's smallest b-tree: O(rows), fine for stats and start-up, not for every request. */
int rec_store_count(struct rec_store *s, int64_t *n_items, int64_t *n_users, int64_t *n_events)
{
    if (!s)
        return REC_EINVAL;
    pthread_mutex_lock(&s->read_mu);
    int rc = step_read(s, R_BEGIN);
    if (rc == 0) {
        if ((rc = count_rows(s, R_COUNT_ITEMS, n_items)) == 0 &&
            (rc = count_rows(s, R_COUNT_USERS, n_users)) == 0)
            rc = count_rows(s, R_COUNT_EVENTS, n_events);
        int rc2 = step_read(s, R_COMMIT);
        rc = rc ? rc : rc2;
    }
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

/* ---- scans ---- */

struct scan {
    const char *sql;
    int has_after;              /* bind ?1 = after */
    int64_t after;
    int (*row)(sqlite3_stmt *st, const struct scan *sc);
    rec_store_row_cb row_cb;
    rec_store_event_cb event_cb;
    rec_store_dead_letter_cb dead_cb;
    rec_store_served_cb served_cb;
    rec_store_outcome_cb outcome_cb;
    void *ctx;
};

/* Each scan prepares its own statement, so a callback may run point reads (or even another
 * scan) on the same connection without clobbering it. */
static int scan_run(struct rec_store *s, const struct scan *sc)
{
    pthread_mutex_lock(&s->read_mu);
    sqlite3_stmt *st = NULL;
    int rc;
    if (sqlite3_prepare_v2(s->rdb, sc->sql, -1, &st, NULL) != SQLITE_OK) {
        rc = rec_store_db_fail(s->rdb, sc->sql);
        goto out;
    }
    if (sc->has_after && sqlite3_bind_int64(st, 1, sc->after) != SQLITE_OK) {
        rc = rec_store_db_fail(s->rdb, sc->sql);
        goto out;
    }
    for (;;) {
        int step_rc = sqlite3_step(st);
        if (step_rc == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (step_rc != SQLITE_ROW) {
            rc = rec_store_db_fail(s->rdb, sc->sql);
            break;
        }
        if ((rc = sc->row(st, sc)))
            break;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int item_row(sqlite3_stmt *st, const struct scan *sc)
{
    const char *id = col_text(st, 0), *doc = col_text(st, 1);
    if (!id || !doc)
        return REC_ENOMEM; /* a NOT NULL column came back NULL: SQLite failed to allocate */
    return sc->row_cb(sc->ctx, id, doc, sqlite3_column_int(st, 2));
}

static int user_row(sqlite3_stmt *st, const struct scan *sc)
{
    const char *id = col_text(st, 0), *doc = col_text(st, 1);
    if (!id || !doc)
        return REC_ENOMEM;
    return sc->row_cb(sc->ctx, id, doc, 0);
}

int rec_store_event_decode(sqlite3_stmt *st, struct rec_event *ev)
{
    *ev = (struct rec_event){
        .seq = sqlite3_column_int64(st, 0),
        .id = col_text(st, 1),
        .user = col_text(st, 2),
        .item = col_text(st, 3),
        .type = sqlite3_column_int(st, 4),
        .value = sqlite3_column_double(st, 5),
        .ts = sqlite3_column_int64(st, 6),
        .context = col_text(st, 7),
    };
    /* a NOT NULL column came back NULL: SQLite failed to allocate */
    return ev->user && ev->item ? 0 : REC_ENOMEM;
}

static int event_row(sqlite3_stmt *st, const struct scan *sc)
{
    struct rec_event ev;
    int rc = rec_store_event_decode(st, &ev);
    return rc ? rc : sc->event_cb(sc->ctx, &ev);
}

int rec_store_scan_items(struct rec_store *s, rec_store_row_cb cb, void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT id, doc, deleted FROM items ORDER BY rowid",
                      .row = item_row, .row_cb = cb, .ctx = ctx};
    return scan_run(s, &sc);
}

int rec_store_scan_users(struct rec_store *s, rec_store_row_cb cb, void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT id, doc FROM users ORDER BY rowid", .row = user_row,
                      .row_cb = cb, .ctx = ctx};
    return scan_run(s, &sc);
}

int rec_store_scan_events(struct rec_store *s, int64_t after_seq, rec_store_event_cb cb,
                          void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT seq, event_id, user, item, type, value, ts, context"
                             " FROM events WHERE seq > ?1 ORDER BY seq",
                      .has_after = 1, .after = after_seq, .row = event_row, .event_cb = cb,
                      .ctx = ctx};
    return scan_run(s, &sc);
}

int rec_store_dead_letter_decode(sqlite3_stmt *st, struct rec_dead_letter *d)
{
    *d = (struct rec_dead_letter){
        .source = col_text(st, 1),
        .topic = col_text(st, 2),
        .partition = sqlite3_column_int(st, 3),
        .offset = sqlite3_column_int64(st, 4),
        .reason = col_text(st, 5),
        .payload = sqlite3_column_blob(st, 6),
        .payload_len = (size_t)sqlite3_column_bytes(st, 6),
        .payload_bytes = sqlite3_column_int64(st, 7),
        .ts = sqlite3_column_int64(st, 8),
    };
    return d->source && d->topic && d->reason ? 0 : REC_ENOMEM;
}

static int dead_letter_row(sqlite3_stmt *st, const struct scan *sc)
{
    struct rec_dead_letter d;
    int rc = rec_store_dead_letter_decode(st, &d);
    return rc ? rc : sc->dead_cb(sc->ctx, sqlite3_column_int64(st, 0), &d);
}

int rec_store_scan_dead_letters(struct rec_store *s, int64_t after_seq,
                                rec_store_dead_letter_cb cb, void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT seq, source, topic, src_partition, src_offset, reason,"
                             " payload, payload_bytes, created_at"
                             " FROM dead_letters WHERE seq > ?1 ORDER BY seq",
                      .has_after = 1, .after = after_seq, .row = dead_letter_row, .dead_cb = cb,
                      .ctx = ctx};
    return scan_run(s, &sc);
}

static int served_row(sqlite3_stmt *st, const struct scan *sc)
{
    struct rec_served_row r = {
        .rec_id = col_text(st, 0),
        .user = col_text(st, 1),
        .experiment = col_text(st, 2),
        .variant = col_text(st, 3),
        .ts = sqlite3_column_double(st, 4),
        .n_items = sqlite3_column_int(st, 5),
        .items = col_text(st, 6),
    };
    if (!r.rec_id || !r.user || !r.experiment || !r.variant || !r.items)
        return REC_ENOMEM;
    return sc->served_cb(sc->ctx, &r);
}

int rec_store_scan_served(struct rec_store *s, int64_t since, rec_store_served_cb cb, void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT rec_id, user, experiment, variant, ts, n_items, items"
                             " FROM served WHERE ts >= ?1 ORDER BY ts",
                      .has_after = 1, .after = since, .row = served_row, .served_cb = cb,
                      .ctx = ctx};
    return scan_run(s, &sc);
}

static int outcome_row(sqlite3_stmt *st, const struct scan *sc)
{
    struct rec_outcome_row o = {
        .rec_id = col_text(st, 0),
        .position = sqlite3_column_int(st, 1),
        .type = sqlite3_column_int(st, 2),
        .n = sqlite3_column_int64(st, 3),
        .value = sqlite3_column_double(st, 4),
        .ts = sqlite3_column_double(st, 5),
        .experiment = col_text(st, 6),
        .variant = col_text(st, 7),
    };
    if (!o.rec_id || !o.experiment || !o.variant)
        return REC_ENOMEM;
    return sc->outcome_cb(sc->ctx, &o);
}

int rec_store_scan_outcomes(struct rec_store *s, int64_t since, rec_store_outcome_cb cb,
                            void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT o.rec_id, o.position, o.type, o.n, o.value, o.ts,"
                             " s.experiment, s.variant"
                             " FROM outcomes o JOIN served s ON s.rec_id = o.rec_id"
                             " WHERE s.ts >= ?1",
                      .has_after = 1, .after = since, .row = outcome_row, .outcome_cb = cb,
                      .ctx = ctx};
    return scan_run(s, &sc);
}

int rec_store_scan_preferences(struct rec_store *s, rec_store_row_cb cb, void *ctx)
{
    if (!s || !cb)
        return REC_EINVAL;
    struct scan sc = {.sql = "SELECT user, doc FROM preferences ORDER BY user", .row = user_row,
                      .row_cb = cb, .ctx = ctx};
    return scan_run(s, &sc);
}
