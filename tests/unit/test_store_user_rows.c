/* The store's schema version 5: events are indexed by (block of 4096 sequence numbers, user),
 * so a user's events are found block by block. Export and erasure must still see every event
 * of the user in every block, in sequence order, and none of anyone else's; a version-4
 * database gets the new index in place of the old one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/export.h"
#include "store/store.h"
#include "store/store_int.h" /* REC_STORE_USER_ROWS */

#define N_USERS 3
#define N_EVENTS 10000 /* three blocks of 4096 sequence numbers */

#include "test_store_fx.h"

/* Event k belongs to user "u<k % N_USERS>" and has ts 1000 + k, so ts tells whose it is. */
static void fill(struct rec_store *s)
{
    static struct rec_event evs[N_EVENTS];
    static char users[N_USERS][8];
    for (int u = 0; u < N_USERS; u++)
        snprintf(users[u], sizeof users[u], "u%d", u);
    for (int k = 0; k < N_EVENTS; k++)
        evs[k] = (struct rec_event){.user = users[k % N_USERS], .item = "i1",
                                    .type = REC_EVENT_VIEW, .ts = 1000 + k};
    assert_int_equal(rec_store_append_events(s, evs, N_EVENTS, NULL), 0);
}

struct seen {
    const char *user;
    int n;
    int64_t last_seq, last_ts;
    int wrong;                 /* events of another user, or out of order */
};

static int seen_cb(void *ctx, const struct rec_event *e)
{
    struct seen *v = ctx;
    if (strcmp(e->user, v->user) != 0 || e->seq <= v->last_seq || e->ts <= v->last_ts)
        v->wrong++;
    v->last_seq = e->seq;
    v->last_ts = e->ts;
    v->n++;
    return 0;
}

/* Pages through the user's events 700 at a time, as GET /v1/users/{id}/export does. */
static struct seen export_all(struct rec_store *s, const char *user)
{
    struct seen v = {.user = user};
    int64_t after = 0;
    assert_int_equal(rec_store_export_begin(s), 0);
    for (int pages = 0; pages < 100; pages++) {
        struct rec_store_export_cursor cur;
        assert_int_equal(rec_store_export_events(s, user, after, 700, seen_cb, &v, &cur), 0);
        after = cur.next;
        if (cur.done)
            break;
    }
    rec_store_export_end(s);
    return v;
}

static int64_t count_events(struct rec_store *s, const char *user)
{
    struct rec_store_export_counts c;
    assert_int_equal(rec_store_export_begin(s), 0);
    assert_int_equal(rec_store_export_counts(s, user, &c), 0);
    rec_store_export_end(s);
    return c.n_events;
}

static void test_export_and_erase_span_blocks(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    fill(s);
    int want[N_USERS];
    for (int u = 0; u < N_USERS; u++)
        want[u] = N_EVENTS / N_USERS + (u < N_EVENTS % N_USERS);
    for (int u = 0; u < N_USERS; u++) {
        char user[8];
        snprintf(user, sizeof user, "u%d", u);
        assert_int_equal(count_events(s, user), want[u]);
        struct seen v = export_all(s, user);
        assert_int_equal(v.n, want[u]);
        assert_int_equal(v.wrong, 0);
        int last = N_EVENTS - 1 - (N_EVENTS - 1 - u) % N_USERS; /* in the last block */
        assert_int_equal(v.last_ts, 1000 + last);
    }
    /* an export starting in the middle of the second block */
    struct seen v = {.user = "u1"};
    struct rec_store_export_cursor cur;
    assert_int_equal(rec_store_export_begin(s), 0);
    assert_int_equal(rec_store_export_events(s, "u1", 5000, 10, seen_cb, &v, &cur), 0);
    rec_store_export_end(s);
    assert_int_equal(v.n, 10);
    assert_int_equal(v.wrong, 0);

    assert_int_equal(rec_store_delete_user(s, "u1"), 0);
    assert_int_equal(count_events(s, "u1"), 0);
    assert_int_equal(export_all(s, "u1").n, 0);
    int64_t ni, nu, ne;
    assert_int_equal(rec_store_count(s, &ni, &nu, &ne), 0);
    assert_int_equal(ne, want[0] + want[2]);
    assert_int_equal(count_events(s, "u0"), want[0]);
    assert_int_equal(count_events(s, "u2"), want[2]);
    assert_int_equal(count_events(s, "nobody"), 0);
    rec_store_close(s);
}

/* The database has events_user_block and not events_user, and the user lookups are seeks on it:
 * the plan scans no table but the block numbers. */
static void check_block_index(const char *dir)
{
    sqlite3 *db = open_raw(dir);
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
                      " AND name LIKE 'events_user%'";
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "events_user_block");
    assert_int_equal(sqlite3_step(st), SQLITE_DONE); /* events_user is gone */
    sqlite3_finalize(st);

    const char *plan = "EXPLAIN QUERY PLAN " REC_STORE_USER_ROWS "SELECT count(*) FROM user_rows";
    assert_int_equal(sqlite3_prepare_v2(db, plan, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, "u1", -1, SQLITE_STATIC), SQLITE_OK);
    int seeks = 0, scans = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        if (strstr(detail, "INDEX events_user_block"))
            seeks++;
        else if (strncmp(detail, "SCAN", 4) == 0 && strcmp(detail, "SCAN block") != 0 &&
                 strcmp(detail, "SCAN CONSTANT ROW") != 0)
            scans++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(seeks, 1);
    assert_int_equal(scans, 0);
}

static void test_lookups_use_the_block_index(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    fill(s);
    rec_store_close(s);
    check_block_index(f->dir);
}

/* A version-4 database (index events_user on (user)) is migrated to the block index, keeping its
 * events. */
static void test_migration_from_version_4(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    fill(s);
    rec_store_close(s);
    sqlite3 *db = open_raw(f->dir);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX events_user_block;"
                                  "CREATE INDEX events_user ON events(user);"
                                  "PRAGMA user_version = 4;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    s = open_ok(f->dir);
    assert_int_equal(rec_store_schema_version(s), 5);
    assert_int_equal(count_events(s, "u2"), N_EVENTS / N_USERS);
    assert_int_equal(export_all(s, "u2").wrong, 0);
    rec_store_close(s);
    check_block_index(f->dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export_and_erase_span_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups_use_the_block_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_version_4, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
