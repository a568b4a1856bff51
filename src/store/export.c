/* export.c: the reads behind a user's data export (see export.h).
 *
 * Every query here is an index lookup on the user (events_user_block, served_user, the primary keys
 * of users, preferences and outcomes) bounded by a LIMIT, except the dead-letter search, which
 * has no user column to look up and so scans a bounded window of the newest rows. Statements
 * are prepared per call (a few microseconds, nothing next to an export page) so that the read
 * statement table of store_int.h stays what the request paths use.
 */
#include "store/export.h"

#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

static const char sql_count_user[] = "SELECT count(*) FROM users WHERE id = ?1";
static const char sql_count_prefs[] = "SELECT count(*) FROM preferences WHERE user = ?1";
static const char sql_count_events[] = REC_STORE_USER_ROWS "SELECT count(*) FROM user_rows";
static const char sql_count_served[] = "SELECT count(*) FROM served WHERE user = ?1";
static const char sql_count_outcomes[] =
    "SELECT count(*) FROM outcomes WHERE rec_id IN (SELECT rec_id FROM served WHERE user = ?1)";
/* The user's rows after ?2, from events_user_block (store_int.h), a page of them in seq order. */
static const char sql_events[] =
    REC_STORE_USER_ROWS "SELECT seq, event_id, user, item, type, value, ts, context FROM events"
    " WHERE seq IN (SELECT seq FROM user_rows) ORDER BY seq LIMIT ?3";
/* Likewise served_user orders a user's lists by rowid, which grows in logging order. */
static const char sql_served[] =
    "SELECT rowid, rec_id, user, experiment, variant, ts, n_items, items FROM served"
    " WHERE user = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3";
static const char sql_outcomes[] =
    "SELECT position, type, n, value, ts FROM outcomes WHERE rec_id = ?1"
    " ORDER BY position, type";
static const char sql_dead_range[] =
    "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM dead_letters";
static const char sql_dead[] =
    "SELECT seq, source, topic, src_partition, src_offset, reason, payload, payload_bytes,"
    " created_at FROM dead_letters"
    " WHERE seq > ?2 AND instr(payload, ?1) > 0 ORDER BY seq LIMIT ?3";

/* Prepares sql on the read connection (read mutex held). */
static int prepare(struct rec_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->rdb, sql, -1, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return rec_store_db_fail(s->rdb, sql);
    }
    return 0;
}

static int step_end(struct rec_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : rec_store_db_fail(s->rdb, sqlite3_sql(st));
    sqlite3_reset(st);
    return rc;
}

int rec_store_export_begin(struct rec_store *s)
{
    if (!s)
        return REC_EINVAL;
    pthread_mutex_lock(&s->read_mu);
    int rc = step_end(s, s->rst[R_BEGIN]);
    if (rc)
        pthread_mutex_unlock(&s->read_mu);
    return rc;
}

void rec_store_export_end(struct rec_store *s)
{
    if (!s)
        return;
    /* A read transaction commits nothing; COMMIT only fails when a statement is still active,
     * and every function here finalizes its own. */
    step_end(s, s->rst[R_COMMIT]);
    pthread_mutex_unlock(&s->read_mu);
}

/* count(*) of sql with ?1 = user. */
static int count_of(struct rec_store *s, const char *sql, const char *user, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, sql, &st);
    if (rc)
        return rc;
    if (sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = rec_store_db_fail(s->rdb, sql);
    } else {
        *n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}

int rec_store_export_counts(struct rec_store *s, const char *user,
                            struct rec_store_export_counts *c)
{
    if (!s || !user || !c)
        return REC_EINVAL;
    memset(c, 0, sizeof *c);
    int64_t n_user = 0, n_prefs = 0;
    pthread_mutex_lock(&s->read_mu);
    int rc;
    if (!(rc = count_of(s, sql_count_user, user, &n_user)) &&
        !(rc = count_of(s, sql_count_prefs, user, &n_prefs)) &&
        !(rc = count_of(s, sql_count_events, user, &c->n_events)) &&
        !(rc = count_of(s, sql_count_served, user, &c->n_served)))
        rc = count_of(s, sql_count_outcomes, user, &c->n_outcomes);
    pthread_mutex_unlock(&s->read_mu);
    c->has_user_row = n_user > 0;
    c->has_preferences = n_prefs > 0;
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Binds ?1 = user (text), ?2 = after, ?3 = limit + 1 (see run_page). */
static int bind_page(sqlite3_stmt *st, const char *user, int64_t after, int limit)
{
    return sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC) != SQLITE_OK ||
           sqlite3_bind_int64(st, 2, after) != SQLITE_OK ||
           sqlite3_bind_int64(st, 3, (int64_t)limit + 1) != SQLITE_OK;
}

/* Steps a page statement (LIMIT limit + 1), calling row() on each of the first limit rows;
 * fills cur. row returns 0 (taken), REC_STORE_EXPORT_FULL (stop) or an error; it sets *cursor
 * for a taken row. A row past limit only tells that the section is not done, so a page that
 * ends exactly at the last row says done and the client needs no empty page to learn it. */
static int run_page(struct rec_store *s, sqlite3_stmt *st, int limit, void *arg,
                    int (*row)(void *arg, sqlite3_stmt *st, int64_t *cursor),
                    struct rec_store_export_cursor *cur)
{
    for (;;) {
        int step_rc = sqlite3_step(st);
        if (step_rc == SQLITE_DONE) {
            cur->done = 1; /* nothing after the rows taken (in this snapshot) */
            return 0;
        }
        if (step_rc != SQLITE_ROW)
            return rec_store_db_fail(s->rdb, sqlite3_sql(st));
        if (cur->n == limit)
            return 0; /* the statement asks for limit + 1 rows: this one says "more" */
        int64_t cursor = 0;
        int rc = row(arg, st, &cursor);
        if (rc == REC_STORE_EXPORT_FULL)
            return 0;          /* done stays 0: the page is full */
        if (rc)
            return rc;
        cur->next = cursor;
        cur->n++;
    }
}

struct event_page {
    rec_store_event_cb cb;
    void *ctx;
};

static int event_page_row(void *arg, sqlite3_stmt *st, int64_t *cursor)
{
    const struct event_page *p = arg;
    struct rec_event ev;
    int rc = rec_store_event_decode(st, &ev);
    if (rc)
        return rc;
    *cursor = ev.seq;
    return p->cb(p->ctx, &ev);
}

int rec_store_export_events(struct rec_store *s, const char *user, int64_t after_seq, int limit,
                            rec_store_event_cb cb, void *ctx, struct rec_store_export_cursor *cur)
{
    if (!s || !user || !cb || !cur || limit < 1)
        return REC_EINVAL;
    *cur = (struct rec_store_export_cursor){.next = after_seq};
    pthread_mutex_lock(&s->read_mu);
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, sql_events, &st);
    if (!rc && bind_page(st, user, after_seq, limit))
        rc = rec_store_db_fail(s->rdb, sql_events);
    struct event_page p = {cb, ctx};
    if (!rc)
        rc = run_page(s, st, limit, &p, event_page_row, cur);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

struct served_page {
    struct rec_store *s;
    sqlite3_stmt *outcomes;
    rec_store_export_served_cb served_cb;
    rec_store_outcome_cb outcome_cb;
    void *ctx;
};

static int served_page_row(void *arg, sqlite3_stmt *st, int64_t *cursor)
{
    const struct served_page *p = arg;
    struct rec_served_row r = {
        .rec_id = col_text(st, 1),
        .user = col_text(st, 2),
        .experiment = col_text(st, 3),
        .variant = col_text(st, 4),
        .ts = sqlite3_column_double(st, 5),
        .n_items = sqlite3_column_int(st, 6),
        .items = col_text(st, 7),
    };
    if (!r.rec_id || !r.user || !r.experiment || !r.variant || !r.items)
        return REC_ENOMEM;
    *cursor = sqlite3_column_int64(st, 0);
    int rc = p->served_cb(p->ctx, *cursor, &r);
    if (rc)
        return rc;
    /* the list is taken: now its outcomes (a list has at most n_items x types of them) */
    sqlite3_stmt *o = p->outcomes;
    if (sqlite3_bind_text(o, 1, r.rec_id, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        return rec_store_db_fail(p->s->rdb, sql_outcomes);
    for (;;) {
        int step_rc = sqlite3_step(o);
        if (step_rc == SQLITE_DONE)
            break;
        if (step_rc != SQLITE_ROW) {
            rc = rec_store_db_fail(p->s->rdb, sql_outcomes);
            break;
        }
        struct rec_outcome_row out = {
            .rec_id = r.rec_id,
            .position = sqlite3_column_int(o, 0),
            .type = sqlite3_column_int(o, 1),
            .n = sqlite3_column_int64(o, 2),
            .value = sqlite3_column_double(o, 3),
            .ts = sqlite3_column_double(o, 4),
            .experiment = r.experiment,
            .variant = r.variant,
        };
        if ((rc = p->outcome_cb(p->ctx, &out))) {
            if (rc == REC_STORE_EXPORT_FULL)
                rc = REC_EINVAL; /* a taken list is exported whole */
            break;
        }
    }
    sqlite3_reset(o);
    sqlite3_clear_bindings(o);
    return rc;
}

int rec_store_export_served(struct rec_store *s, const char *user, int64_t after, int limit,
                            rec_store_export_served_cb served_cb, rec_store_outcome_cb outcome_cb,
                            void *ctx, struct rec_store_export_cursor *cur)
{
    if (!s || !user || !served_cb || !outcome_cb || !cur || limit < 1)
        return REC_EINVAL;
    *cur = (struct rec_store_export_cursor){.next = after};
    pthread_mutex_lock(&s->read_mu);
    sqlite3_stmt *st = NULL;
    struct served_page p = {.s = s, .served_cb = served_cb, .outcome_cb = outcome_cb, .ctx = ctx};
    int rc = prepare(s, sql_served, &st);
    if (!rc)
        rc = prepare(s, sql_outcomes, &p.outcomes);
    if (!rc && bind_page(st, user, after, limit))
        rc = rec_store_db_fail(s->rdb, sql_served);
    if (!rc)
        rc = run_page(s, st, limit, &p, served_page_row, cur);
    sqlite3_finalize(p.outcomes);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

struct dead_page {
    rec_store_dead_letter_cb cb;
    void *ctx;
};

static int dead_page_row(void *arg, sqlite3_stmt *st, int64_t *cursor)
{
    const struct dead_page *p = arg;
    struct rec_dead_letter d;
    int rc = rec_store_dead_letter_decode(st, &d);
    if (rc)
        return rc;
    *cursor = sqlite3_column_int64(st, 0);
    return p->cb(p->ctx, *cursor, &d);
}

int rec_store_export_dead_letters(struct rec_store *s, const char *needle, int limit,
                                  rec_store_dead_letter_cb cb, void *ctx,
                                  struct rec_store_export_cursor *cur, int *searched_all)
{
    if (!s || !needle || !needle[0] || !cb || !cur || !searched_all || limit < 1)
        return REC_EINVAL;
    *cur = (struct rec_store_export_cursor){0};
    *searched_all = 0;
    pthread_mutex_lock(&s->read_mu);
    sqlite3_stmt *range = NULL, *st = NULL;
    int rc = prepare(s, sql_dead_range, &range);
    int64_t lo = 0, hi = 0;
    if (!rc) {
        if (sqlite3_step(range) == SQLITE_ROW) { /* min/max of the rowid: two b-tree seeks */
            lo = sqlite3_column_int64(range, 0);
            hi = sqlite3_column_int64(range, 1);
        } else {
            rc = rec_store_db_fail(s->rdb, sql_dead_range);
        }
    }
    /* seq is AUTOINCREMENT, so the rows after hi - window are at most window rows */
    int64_t after = hi > REC_STORE_EXPORT_DEAD_WINDOW ? hi - REC_STORE_EXPORT_DEAD_WINDOW : 0;
    *searched_all = lo > after || hi == 0;
    if (!rc)
        rc = prepare(s, sql_dead, &st);
    if (!rc && (sqlite3_bind_blob(st, 1, needle, (int)strlen(needle), SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_int64(st, 2, after) != SQLITE_OK ||
                sqlite3_bind_int64(st, 3, (int64_t)limit + 1) != SQLITE_OK))
        rc = rec_store_db_fail(s->rdb, sql_dead);
    struct dead_page p = {cb, ctx};
    if (!rc)
        rc = run_page(s, st, limit, &p, dead_page_row, cur);
    sqlite3_finalize(st);
    sqlite3_finalize(range);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}
