/* The store's schema version 2: events without id are deduplicated by their content key
 * (user, item, type, ts), also across restarts and after migrating a version-1 database that
 * already holds duplicates; dead letters are recorded once per message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

#include "test_store_fx.h"

static struct rec_event ev(const char *id, const char *user, const char *item, int type, int64_t ts)
{
    return (struct rec_event){.id = id, .user = user, .item = item, .type = type, .ts = ts};
}

static int64_t n_events(struct rec_store *s)
{
    int64_t ni, nu, ne = -1;
    assert_int_equal(rec_store_count(s, &ni, &nu, &ne), 0);
    return ne;
}

static void test_event_key(void **state)
{
    int64_t k = rec_store_event_key("u1", "i1", REC_EVENT_VIEW, 1700000000);
    assert_true(k == rec_store_event_key("u1", "i1", REC_EVENT_VIEW, 1700000000));
    /* the key is on disk: pin its value (computed independently: FNV-1a 64 over "u1\0i1\0",
     * then the splitmix64 finaliser of h ^ type and of that ^ ts) */
    char pinned[32];
    snprintf(pinned, sizeof pinned, "%016llx", (unsigned long long)k);
    assert_string_equal(pinned, "889a7f4043d62314");
    /* every field counts, and the user/item boundary too */
    assert_true(k != rec_store_event_key("u1", "i1", REC_EVENT_CLICK, 1700000000));
    assert_true(k != rec_store_event_key("u1", "i1", REC_EVENT_VIEW, 1700000001));
    assert_true(k != rec_store_event_key("u2", "i1", REC_EVENT_VIEW, 1700000000));
    assert_true(rec_store_event_key("ab", "c", 0, 0) != rec_store_event_key("a", "bc", 0, 0));
}

static void test_idless_events_dedup_by_content(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    assert_int_equal(rec_store_schema_version(s), 5);
    struct rec_event evs[6] = {
        ev(NULL, "u1", "i1", REC_EVENT_VIEW, 100),
        ev(NULL, "u1", "i1", REC_EVENT_VIEW, 100),  /* same content, same call */
        ev(NULL, "u1", "i1", REC_EVENT_VIEW, 101),  /* another second */
        ev(NULL, "u1", "i1", REC_EVENT_CLICK, 100), /* another type */
        ev("x1", "u1", "i1", REC_EVENT_VIEW, 100),  /* an id: keyed by the id only */
        ev("x1", "u1", "i1", REC_EVENT_VIEW, 100),
    };
    uint8_t ins[6];
    assert_int_equal(rec_store_append_events(s, evs, 6, ins), 0);
    const uint8_t want[6] = {1, 0, 1, 1, 1, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(ins[i], want[i]);
    assert_int_equal(evs[1].seq, 0);
    assert_int_equal(n_events(s), 4);
    rec_store_close(s);

    s = open_ok(f->dir); /* survives a restart */
    struct rec_event again[2] = {ev(NULL, "u1", "i1", REC_EVENT_VIEW, 101),
                                 ev(NULL, "u9", "i1", REC_EVENT_VIEW, 101)};
    assert_int_equal(rec_store_append_events(s, again, 2, ins), 0);
    assert_int_equal(ins[0], 0);
    assert_int_equal(ins[1], 1);
    assert_int_equal(n_events(s), 5);
    /* erasing a user erases their keys: the same event may come back */
    assert_int_equal(rec_store_delete_user(s, "u9"), 0);
    assert_int_equal(rec_store_append_events(s, &again[1], 1, ins), 0);
    assert_int_equal(ins[0], 1);
    rec_store_close(s);
}

/* Builds a version-1 database (the schema as released in version 1) holding duplicates. */
static void make_v1_database(const char *dir)
{
    sqlite3 *db = open_raw(dir);
    const char *sql =
        "CREATE TABLE items (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL,"
        "  deleted INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL);"
        "CREATE TABLE users (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL);"
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE,"
        "  user TEXT NOT NULL, item TEXT NOT NULL, type INTEGER NOT NULL,"
        "  value REAL NOT NULL DEFAULT 0, ts INTEGER NOT NULL, context TEXT);"
        "CREATE INDEX events_user ON events(user);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        "INSERT INTO users(id, doc, created_at) VALUES('old', '{}', 1);"
        "INSERT INTO items(id, doc, updated_at) VALUES('i1', '{}', 1), ('i2', '{}', 1);"
        "INSERT INTO events(event_id, user, item, type, ts) VALUES"
        "  (NULL, 'old', 'i1', 0, 50), (NULL, 'old', 'i1', 0, 50), ('e1', 'old', 'i2', 0, 50),"
        "  (NULL, 'old', 'i2', 2, 60);"
        "PRAGMA user_version = 1;";
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        print_error("v1 database: %s\n", msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static int count_cb(void *ctx, const struct rec_event *e)
{
    (*(int *)ctx)++;
    return 0;
}

static void test_migration_keys_existing_events(void **state)
{
    struct fx *f = *state;
    make_v1_database(f->dir);
    struct rec_store *s = open_ok(f->dir);
    assert_int_equal(rec_store_schema_version(s), 5);
    int n = 0;
    assert_int_equal(rec_store_scan_events(s, 0, count_cb, &n), 0);
    assert_int_equal(n, 4); /* the migration deletes nothing, not even old duplicates */
    struct rec_event evs[4] = {
        ev(NULL, "old", "i1", 0, 50), /* keyed by the migration */
        ev(NULL, "old", "i2", 2, 60),
        ev("e1", "x", "y", 0, 1),     /* id dedup as before */
        ev(NULL, "old", "i2", 2, 61), /* new */
    };
    uint8_t ins[4];
    assert_int_equal(rec_store_append_events(s, evs, 4, ins), 0);
    assert_int_equal(ins[0], 0);
    assert_int_equal(ins[1], 0);
    assert_int_equal(ins[2], 0);
    assert_int_equal(ins[3], 1);
    assert_int_equal(n_events(s), 5);
    rec_store_close(s);
}

struct dl_rows {
    int n;
    char reason[8][64];
    int64_t offset[8], bytes[8];
    size_t kept[8];
    int has_payload[8];
};

static int dl_cb(void *ctx, int64_t seq, const struct rec_dead_letter *d)
{
    struct dl_rows *r = ctx;
    assert_true(r->n < 8);
    snprintf(r->reason[r->n], sizeof r->reason[0], "%s", d->reason);
    r->offset[r->n] = d->offset;
    r->bytes[r->n] = d->payload_bytes;
    r->kept[r->n] = d->payload_len;
    r->has_payload[r->n] = d->payload != NULL && memcmp(d->payload, "{\"us", 4) == 0;
    r->n++;
    return 0;
}

static void test_dead_letters_once_per_message(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    struct rec_dead_letter d[3] = {
        {.source = "kafka", .topic = "t", .partition = 0, .offset = 7, .reason = "bad json",
         .payload = "{\"user", .payload_len = 4, .payload_bytes = 900, .ts = 1},
        {.source = "kafka", .topic = "t", .partition = 1, .offset = 7, .reason = "empty",
         .payload = NULL, .payload_len = 0, .payload_bytes = 0, .ts = 1},
        {.source = "kafka", .topic = "t", .partition = 0, .offset = 7, .reason = "again",
         .payload = "x", .payload_len = 1, .payload_bytes = 1, .ts = 2},
    };
    int added = -1;
    assert_int_equal(rec_store_add_dead_letters(s, d, 3, &added), 0);
    assert_int_equal(added, 2); /* the third repeats the first's partition and offset */
    assert_int_equal(rec_store_add_dead_letters(s, d, 2, &added), 0);
    assert_int_equal(added, 0);
    struct dl_rows r = {0};
    assert_int_equal(rec_store_scan_dead_letters(s, 0, dl_cb, &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.reason[0], "bad json");
    assert_int_equal(r.bytes[0], 900);
    assert_int_equal(r.kept[0], 4);
    assert_true(r.has_payload[0]);
    assert_string_equal(r.reason[1], "empty");
    assert_int_equal(r.kept[1], 0);

    struct rec_dead_letter bad = d[0];
    bad.reason = NULL;
    assert_int_equal(rec_store_add_dead_letters(s, &bad, 1, &added), REC_EINVAL);
    assert_int_equal(rec_store_add_dead_letters(s, NULL, 0, &added), 0);
    rec_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_key),
        cmocka_unit_test_setup_teardown(test_idless_events_dedup_by_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_keys_existing_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters_once_per_message, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
