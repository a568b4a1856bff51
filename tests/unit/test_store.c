/* test_store.c: the durable store against a real SQLite database in a temporary directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

/* ---- fixture: one fresh temporary directory per test ---- */

struct fx {
    char tmp[256];   /* mkdtemp result, removed in teardown */
    char dir[300];   /* data directory given to the store: tmp/data */
};

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *base = getenv("TMPDIR");
    snprintf(f->tmp, sizeof f->tmp, "%s/recd-store-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(f->tmp)) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "%s/data", f->tmp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rm_tree(f->tmp);
    free(f);
    return 0;
}

static struct rec_store *open_ok(const char *dir)
{
    struct rec_store *s = NULL;
    char err[256] = "";
    int rc = rec_store_open(dir, &s, err, sizeof err);
    if (rc != 0)
        print_error("rec_store_open(%s): %d %s\n", dir, rc, err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

static struct rec_event ev_make(const char *id, const char *user, const char *item, int type,
                                double value, int64_t ts, const char *context)
{
    struct rec_event e = {.id = id, .user = user, .item = item, .type = type, .value = value,
                          .ts = ts, .context = context};
    return e;
}

static void counts_are(struct rec_store *s, int64_t items, int64_t users, int64_t events)
{
    int64_t ni = -1, nu = -1, ne = -1;
    assert_int_equal(rec_store_count(s, &ni, &nu, &ne), 0);
    assert_int_equal(ni, items);
    assert_int_equal(nu, users);
    assert_int_equal(ne, events);
}

/* Collects scanned rows/events into fixed arrays (copies, since scan pointers are temporary). */
#define MAX_ROWS 64
struct rows {
    int n;
    char id[MAX_ROWS][64];
    char doc[MAX_ROWS][128];
    int deleted[MAX_ROWS];
};

static int collect_row(void *ctx, const char *id, const char *doc, int deleted)
{
    struct rows *r = ctx;
    if (r->n >= MAX_ROWS)
        return -100;
    snprintf(r->id[r->n], sizeof r->id[0], "%s", id);
    snprintf(r->doc[r->n], sizeof r->doc[0], "%s", doc);
    r->deleted[r->n] = deleted;
    r->n++;
    return 0;
}

struct evs {
    int n;
    int stop_at;                 /* return 42 when n reaches this (0: never) */
    struct rec_event ev[MAX_ROWS];
    char id[MAX_ROWS][64];       /* "" for a NULL id */
    char user[MAX_ROWS][64];
    char item[MAX_ROWS][64];
    char context[MAX_ROWS][128]; /* "" for a NULL context */
    int id_null[MAX_ROWS];
    int context_null[MAX_ROWS];
};

static int collect_event(void *ctx, const struct rec_event *ev)
{
    struct evs *r = ctx;
    if (r->n >= MAX_ROWS)
        return -100;
    int i = r->n++;
    r->ev[i] = *ev;
    r->id_null[i] = ev->id == NULL;
    r->context_null[i] = ev->context == NULL;
    snprintf(r->id[i], sizeof r->id[0], "%s", ev->id ? ev->id : "");
    snprintf(r->user[i], sizeof r->user[0], "%s", ev->user);
    snprintf(r->item[i], sizeof r->item[0], "%s", ev->item);
    snprintf(r->context[i], sizeof r->context[0], "%s", ev->context ? ev->context : "");
    r->ev[i].id = r->ev[i].user = r->ev[i].item = r->ev[i].context = NULL;
    if (r->stop_at && r->n == r->stop_at)
        return 42;
    return 0;
}

/* ---- tests ---- */

static void test_open_close_reopen_keeps_data(void **state)
{
    struct fx *f = *state;
    char dir[320];
    /* Two missing levels: tmp/data and tmp/data/db; trailing slash is tolerated. */
    snprintf(dir, sizeof dir, "%s/db/", f->dir);
    struct rec_store *s = open_ok(dir);
    char expect_dir[320];
    snprintf(expect_dir, sizeof expect_dir, "%s/db", f->dir);
    assert_string_equal(rec_store_dir(s), expect_dir);
    assert_int_equal(rec_store_schema_version(s), REC_STORE_SCHEMA_VERSION);
    assert_int_equal(REC_STORE_SCHEMA_VERSION, 5);

    const char *item_ids[] = {"i1", "i2"};
    const char *item_docs[] = {"{\"title\":\"one\"}", "{\"title\":\"two\"}"};
    assert_int_equal(rec_store_upsert_items(s, item_ids, item_docs, 2), 0);
    const char *user_ids[] = {"u1"};
    const char *user_docs[] = {"{\"age\":30}"};
    assert_int_equal(rec_store_upsert_users(s, user_ids, user_docs, 1), 0);
    struct rec_event evs[3] = {
        ev_make("e1", "u1", "i1", REC_EVENT_VIEW, 0, 1700000000, NULL),
        ev_make(NULL, "u2", "i3", REC_EVENT_RATING, 4.5, 1700000001, "{\"page\":\"home\"}"),
        ev_make("e3", "u1", "i2", REC_EVENT_DWELL, 12.25, 1700000002, NULL),
    };
    uint8_t ins[3] = {9, 9, 9};
    assert_int_equal(rec_store_append_events(s, evs, 3, ins), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ins[i], 1);
        assert_true(evs[i].seq > 0);
        if (i)
            assert_true(evs[i].seq > evs[i - 1].seq);
    }
    assert_int_equal(rec_store_meta_set(s, "model.als", "snap-7"), 0);
    assert_true(rec_store_commit_count(s) >= 4);
    rec_store_close(s);

    char db[400];
    snprintf(db, sizeof db, "%s/%s", expect_dir, REC_STORE_DB_NAME);
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    /* A clean close checkpoints: the -wal file is gone, recd.db alone holds everything. */
    char wal[420];
    snprintf(wal, sizeof wal, "%s-wal", db);
    assert_int_not_equal(stat(wal, &st), 0);

    s = open_ok(expect_dir);
    assert_int_equal(rec_store_schema_version(s), REC_STORE_SCHEMA_VERSION);
    assert_int_equal(rec_store_commit_count(s), 0);
    /* i3 and u2 were created by the event with an empty document. */
    counts_are(s, 3, 2, 3);
    char *doc = NULL;
    int deleted = -1;
    assert_int_equal(rec_store_get_item(s, "i2", &doc, &deleted), 0);
    assert_string_equal(doc, "{\"title\":\"two\"}");
    assert_int_equal(deleted, 0);
    free(doc);
    assert_int_equal(rec_store_get_item(s, "i3", &doc, &deleted), 0);
    assert_string_equal(doc, "{}");
    free(doc);
    assert_int_equal(rec_store_get_user(s, "u1", &doc), 0);
    assert_string_equal(doc, "{\"age\":30}");
    free(doc);
    assert_int_equal(rec_store_get_user(s, "u2", &doc), 0);
    assert_string_equal(doc, "{}");
    free(doc);
    doc = (char *)"sentinel";
    assert_int_equal(rec_store_get_user(s, "nobody", &doc), REC_ENOTFOUND);
    assert_null(doc);
    assert_int_equal(rec_store_get_item(s, "nothing", &doc, &deleted), REC_ENOTFOUND);

    struct evs got = {0};
    assert_int_equal(rec_store_scan_events(s, 0, collect_event, &got), 0);
    assert_int_equal(got.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(got.ev[i].seq, evs[i].seq);
        assert_int_equal(got.ev[i].type, evs[i].type);
        assert_true(got.ev[i].value == evs[i].value);
        assert_int_equal(got.ev[i].ts, evs[i].ts);
        assert_string_equal(got.user[i], evs[i].user);
        assert_string_equal(got.item[i], evs[i].item);
    }
    assert_false(got.id_null[0]);
    assert_string_equal(got.id[0], "e1");
    assert_true(got.id_null[1]);
    assert_false(got.context_null[1]);
    assert_string_equal(got.context[1], "{\"page\":\"home\"}");
    assert_true(got.context_null[0]);

    char *v = NULL;
    assert_int_equal(rec_store_meta_get(s, "model.als", &v), 0);
    assert_string_equal(v, "snap-7");
    free(v);
    rec_store_close(s);
    rec_store_close(NULL);
}

static void test_upsert_keeps_rowid_and_undeletes(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    const char *ids[] = {"a", "b", "c"};
    const char *docs[] = {"{\"v\":1}", "{\"v\":2}", "{\"v\":3}"};
    assert_int_equal(rec_store_upsert_items(s, ids, docs, 3), 0);

    assert_int_equal(rec_store_delete_item(s, "b"), 0);
    assert_int_equal(rec_store_delete_item(s, "b"), 0); /* already deleted: still exists */
    assert_int_equal(rec_store_delete_item(s, "zzz"), REC_ENOTFOUND);
    char *doc = NULL;
    int deleted = 0;
    assert_int_equal(rec_store_get_item(s, "b", &doc, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_string_equal(doc, "{\"v\":2}"); /* soft delete keeps the document */
    free(doc);
    counts_are(s, 3, 0, 0);

    const char *ids2[] = {"b", "d", "a"};
    const char *docs2[] = {"{\"v\":20}", "{\"v\":4}", "{\"v\":10}"};
    assert_int_equal(rec_store_upsert_items(s, ids2, docs2, 3), 0);
    struct rows r = {0};
    assert_int_equal(rec_store_scan_items(s, collect_row, &r), 0);
    assert_int_equal(r.n, 4);
    const char *order[] = {"a", "b", "c", "d"};
    const char *want[] = {"{\"v\":10}", "{\"v\":20}", "{\"v\":3}", "{\"v\":4}"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(r.id[i], order[i]);
        assert_string_equal(r.doc[i], want[i]);
        assert_int_equal(r.deleted[i], 0); /* b's upsert cleared the flag */
    }
    assert_int_equal(rec_store_delete_item(s, "c"), 0);
    memset(&r, 0, sizeof r);
    assert_int_equal(rec_store_scan_items(s, collect_row, &r), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.deleted[2], 1);

    /* Users: upsert replaces the document, keeps the row position. */
    const char *uids[] = {"x", "y"};
    const char *udocs[] = {"{\"n\":1}", "{\"n\":2}"};
    assert_int_equal(rec_store_upsert_users(s, uids, udocs, 2), 0);
    const char *uids2[] = {"x"};
    const char *udocs2[] = {"{\"n\":9}"};
    assert_int_equal(rec_store_upsert_users(s, uids2, udocs2, 1), 0);
    memset(&r, 0, sizeof r);
    assert_int_equal(rec_store_scan_users(s, collect_row, &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.id[0], "x");
    assert_string_equal(r.doc[0], "{\"n\":9}");
    assert_string_equal(r.id[1], "y");
    rec_store_close(s);
}

static void test_delete_user_removes_events(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    struct rec_event evs[5] = {
        ev_make("a1", "u1", "i1", REC_EVENT_VIEW, 0, 10, NULL),
        ev_make("b1", "u2", "i1", REC_EVENT_CLICK, 0, 11, NULL),
        ev_make("a2", "u1", "i2", REC_EVENT_LIKE, 0, 12, NULL),
        ev_make("b2", "u2", "i2", REC_EVENT_VIEW, 0, 13, NULL),
        ev_make(NULL, "u1", "i3", REC_EVENT_PURCHASE, 0, 14, NULL),
    };
    assert_int_equal(rec_store_append_events(s, evs, 5, NULL), 0);
    int64_t max_seq = evs[4].seq;
    counts_are(s, 3, 2, 5);

    assert_int_equal(rec_store_delete_user(s, "u1"), 0);
    assert_int_equal(rec_store_delete_user(s, "u1"), REC_ENOTFOUND);
    assert_int_equal(rec_store_delete_user(s, "ghost"), REC_ENOTFOUND);
    char *doc = NULL;
    assert_int_equal(rec_store_get_user(s, "u1", &doc), REC_ENOTFOUND);
    counts_are(s, 3, 1, 2); /* items stay */
    struct evs got = {0};
    assert_int_equal(rec_store_scan_events(s, 0, collect_event, &got), 0);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.id[0], "b1");
    assert_string_equal(got.id[1], "b2");

    /* The erased newest event's seq is never handed out again. */
    struct rec_event again = ev_make("c1", "u3", "i1", REC_EVENT_VIEW, 0, 15, NULL);
    assert_int_equal(rec_store_append_events(s, &again, 1, NULL), 0);
    assert_true(again.seq > max_seq);
    rec_store_close(s);

    s = open_ok(f->dir);
    counts_are(s, 3, 2, 3);
    assert_int_equal(rec_store_get_user(s, "u1", &doc), REC_ENOTFOUND);

    /* The writer remembers which users rows exist (to skip their no-op inserts); an erased
     * user is forgotten, so a new event brings the row back. */
    struct rec_event e1 = ev_make("d1", "u2", "i1", REC_EVENT_VIEW, 0, 16, NULL);
    struct rec_event e2 = ev_make("d2", "u2", "i2", REC_EVENT_VIEW, 0, 17, NULL);
    assert_int_equal(rec_store_append_events(s, &e1, 1, NULL), 0);
    assert_int_equal(rec_store_delete_user(s, "u2"), 0);
    assert_int_equal(rec_store_get_user(s, "u2", &doc), REC_ENOTFOUND);
    assert_int_equal(rec_store_append_events(s, &e2, 1, NULL), 0);
    assert_int_equal(rec_store_get_user(s, "u2", &doc), 0);
    free(doc);
    rec_store_close(s);
}

static void test_duplicate_event_ids(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    struct rec_event evs[5] = {
        ev_make("e1", "u1", "i1", REC_EVENT_VIEW, 0, 1, NULL),
        ev_make("e2", "u1", "i2", REC_EVENT_VIEW, 0, 2, NULL),
        ev_make("e1", "u9", "i9", REC_EVENT_LIKE, 3, 3, NULL), /* same id, same call */
        ev_make(NULL, "u1", "i1", REC_EVENT_VIEW, 0, 4, NULL),
        ev_make(NULL, "u1", "i1", REC_EVENT_VIEW, 0, 4, NULL),  /* id-less: same content */
    };
    uint8_t ins[5];
    memset(ins, 7, sizeof ins);
    assert_int_equal(rec_store_append_events(s, evs, 5, ins), 0);
    const uint8_t want[5] = {1, 1, 0, 1, 0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(ins[i], want[i]);
    assert_int_equal(evs[2].seq, 0);
    assert_int_equal(evs[4].seq, 0);
    assert_true(evs[0].seq < evs[1].seq && evs[1].seq < evs[3].seq);
    /* The duplicates created nothing: no u9/i9. */
    counts_are(s, 2, 1, 3);

    struct rec_event evs2[3] = {
        ev_make("e2", "u1", "i2", REC_EVENT_VIEW, 0, 5, NULL), /* stored by the earlier call */
        ev_make("e3", "u2", "i1", REC_EVENT_VIEW, 0, 6, NULL),
        ev_make("e3", "u2", "i1", REC_EVENT_VIEW, 0, 6, NULL),
    };
    uint8_t ins2[3];
    assert_int_equal(rec_store_append_events(s, evs2, 3, ins2), 0);
    assert_int_equal(ins2[0], 0);
    assert_int_equal(ins2[1], 1);
    assert_int_equal(ins2[2], 0);
    assert_true(evs2[1].seq > evs[3].seq);
    counts_are(s, 2, 2, 4);

    struct evs got = {0};
    assert_int_equal(rec_store_scan_events(s, 0, collect_event, &got), 0);
    assert_int_equal(got.n, 4);
    assert_string_equal(got.user[0], "u1"); /* the first e1 won */
    assert_int_equal(got.ev[0].type, REC_EVENT_VIEW);
    rec_store_close(s);

    /* Dedup survives a restart. */
    s = open_ok(f->dir);
    struct rec_event e1 = ev_make("e1", "u1", "i1", REC_EVENT_VIEW, 0, 7, NULL);
    uint8_t one = 9;
    assert_int_equal(rec_store_append_events(s, &e1, 1, &one), 0);
    assert_int_equal(one, 0);
    struct rec_event same = ev_make(NULL, "u1", "i1", REC_EVENT_VIEW, 0, 4, NULL);
    assert_int_equal(rec_store_append_events(s, &same, 1, &one), 0);
    assert_int_equal(one, 0);
    counts_are(s, 2, 2, 4);
    rec_store_close(s);
}

static void test_invalid_arguments_store_nothing(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    struct rec_event evs[2] = {
        ev_make("ok", "u1", "i1", REC_EVENT_VIEW, 0, 1, NULL),
        ev_make("bad", NULL, "i1", REC_EVENT_VIEW, 0, 1, NULL),
    };
    assert_int_equal(rec_store_append_events(s, evs, 2, NULL), REC_EINVAL);
    evs[1].user = "u1";
    evs[1].type = REC_EVENT__COUNT;
    assert_int_equal(rec_store_append_events(s, evs, 2, NULL), REC_EINVAL);
    evs[1].type = -1;
    assert_int_equal(rec_store_append_events(s, evs, 2, NULL), REC_EINVAL);
    assert_int_equal(rec_store_append_events(s, evs, -1, NULL), REC_EINVAL);
    assert_int_equal(rec_store_append_events(s, NULL, 0, NULL), 0);
    const char *ids[] = {"a", NULL};
    const char *docs[] = {"{}", "{}"};
    assert_int_equal(rec_store_upsert_items(s, ids, docs, 2), REC_EINVAL);
    assert_int_equal(rec_store_upsert_users(s, ids, docs, 2), REC_EINVAL);
    assert_int_equal(rec_store_meta_set(s, "k", NULL), REC_EINVAL);
    counts_are(s, 0, 0, 0);
    assert_int_equal(rec_store_commit_count(s), 0);
    rec_store_close(s);
}

static void test_scans_after_seq_and_stop(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    struct rec_event evs[10];
    char ids[10][16];
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i);
        evs[i] = ev_make(ids[i], "u", "i", REC_EVENT_VIEW, 0, i, NULL);
    }
    /* Two calls, so seqs come from two commits. */
    assert_int_equal(rec_store_append_events(s, evs, 4, NULL), 0);
    assert_int_equal(rec_store_append_events(s, evs + 4, 6, NULL), 0);

    struct evs got = {0};
    assert_int_equal(rec_store_scan_events(s, evs[4].seq, collect_event, &got), 0);
    assert_int_equal(got.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(got.ev[i].seq, evs[5 + i].seq);
        assert_string_equal(got.id[i], ids[5 + i]);
    }
    memset(&got, 0, sizeof got);
    assert_int_equal(rec_store_scan_events(s, evs[9].seq, collect_event, &got), 0);
    assert_int_equal(got.n, 0);

    memset(&got, 0, sizeof got);
    got.stop_at = 3;
    assert_int_equal(rec_store_scan_events(s, 0, collect_event, &got), 42);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.id[2], "e2");

    memset(&got, 0, sizeof got);
    assert_int_equal(rec_store_scan_events(s, -5, collect_event, &got), 0);
    assert_int_equal(got.n, 10);
    rec_store_close(s);
}

static void test_meta_get_set(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    char *v = (char *)"sentinel";
    assert_int_equal(rec_store_meta_get(s, "k", &v), REC_ENOTFOUND);
    assert_null(v);
    assert_int_equal(rec_store_meta_set(s, "k", "1"), 0);
    assert_int_equal(rec_store_meta_get(s, "k", &v), 0);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(rec_store_meta_set(s, "k", "two"), 0);
    assert_int_equal(rec_store_meta_set(s, "empty", ""), 0);
    assert_int_equal(rec_store_meta_get(s, "k", &v), 0);
    assert_string_equal(v, "two");
    free(v);
    assert_int_equal(rec_store_meta_get(s, "empty", &v), 0);
    assert_string_equal(v, "");
    free(v);
    rec_store_close(s);
}

static void test_open_errors_have_messages(void **state)
{
    struct fx *f = *state;
    /* A regular file where a directory should be (root ignores permission bits, so a chmod
     * test would pass for the wrong reason). */
    char file[320], dir[400];
    snprintf(file, sizeof file, "%s/plain", f->tmp);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("not a directory\n", fp);
    fclose(fp);
    snprintf(dir, sizeof dir, "%s/sub", file);
    struct rec_store *s = (struct rec_store *)&s;
    char err[256] = "";
    int rc = rec_store_open(dir, &s, err, sizeof err);
    assert_true(rc < 0);
    assert_null(s);
    assert_non_null(strstr(err, "cannot create data directory"));
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "Not a directory"));

    /* The data directory itself is a file. */
    err[0] = '\0';
    assert_true(rec_store_open(file, &s, err, sizeof err) < 0);
    assert_non_null(strstr(err, file));

    /* recd.db is not a database. */
    assert_int_equal(mkdir(f->dir, 0755), 0);
    char db[400];
    snprintf(db, sizeof db, "%s/%s", f->dir, REC_STORE_DB_NAME);
    fp = fopen(db, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite file, ", fp);
    fclose(fp);
    err[0] = '\0';
    rc = rec_store_open(f->dir, &s, err, sizeof err);
    assert_int_equal(rc, REC_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err, db));
    print_message("  open errors: \"%s\"\n", err);

    /* Permission bits only stop a non-root user. */
    if (geteuid() != 0) {
        char locked[320], inside[400];
        snprintf(locked, sizeof locked, "%s/locked", f->tmp);
        assert_int_equal(mkdir(locked, 0500), 0);
        snprintf(inside, sizeof inside, "%s/data", locked);
        err[0] = '\0';
        assert_true(rec_store_open(inside, &s, err, sizeof err) < 0);
        assert_non_null(strstr(err, "Permission denied"));
        chmod(locked, 0700);
    }

    err[0] = '\0';
    assert_int_equal(rec_store_open("", &s, err, sizeof err), REC_EINVAL);
    assert_true(err[0] != '\0');
}

/* ---- concurrency ---- */

#define N_THREADS 8
#define N_PER_THREAD 2000

struct appender {
    struct rec_store *s;
    int t;
    int64_t seqs[N_PER_THREAD];
    int failures;
};

static void *append_singles(void *arg)
{
    struct appender *a = arg;
    char id[32], user[16], item[16];
    snprintf(user, sizeof user, "u%d", a->t);
    for (int i = 0; i < N_PER_THREAD; i++) {
        snprintf(id, sizeof id, "t%d-%d", a->t, i);
        snprintf(item, sizeof item, "i%d", i % 50);
        struct rec_event ev = ev_make(id, user, item, REC_EVENT_CLICK, 0, i, NULL);
        uint8_t ins = 0;
        if (rec_store_append_events(a->s, &ev, 1, &ins) != 0 || ins != 1)
            a->failures++;
        a->seqs[i] = ev.seq;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct replay {
    int n;
    int64_t last_seq;
    int bad;
    struct appender *ap;
};

static int check_replayed(void *ctx, const struct rec_event *ev)
{
    struct replay *r = ctx;
    if (ev->seq <= r->last_seq)
        r->bad++;
    r->last_seq = ev->seq;
    r->n++;
    /* id "t<thread>-<i>" must carry the seq its caller was given */
    char *end = NULL;
    long t = ev->id && ev->id[0] == 't' ? strtol(ev->id + 1, &end, 10) : -1;
    long i = end && *end == '-' ? strtol(end + 1, NULL, 10) : -1;
    if (t < 0 || t >= N_THREADS || i < 0 || i >= N_PER_THREAD || r->ap[t].seqs[i] != ev->seq)
        r->bad++;
    return 0;
}

static void test_concurrent_single_appends_group_commit(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);

    /* Baseline: one thread, one commit (one fsync) per call. */
    double t0 = rec_mono_s();
    for (int i = 0; i < 500; i++) {
        char id[32];
        snprintf(id, sizeof id, "base-%d", i);
        struct rec_event ev = ev_make(id, "base", "i0", REC_EVENT_VIEW, 0, i, NULL);
        assert_int_equal(rec_store_append_events(s, &ev, 1, NULL), 0);
    }
    double base_secs = rec_mono_s() - t0;
    assert_int_equal(rec_store_commit_count(s), 500);
    print_message("  baseline: 500 single-event calls from 1 thread: %.0f events/s\n",
                  500.0 / base_secs);
    assert_int_equal(rec_store_delete_user(s, "base"), 0);

    static struct appender ap[N_THREADS];
    pthread_t th[N_THREADS];
    int64_t commits0 = rec_store_commit_count(s);
    t0 = rec_mono_s();
    for (int t = 0; t < N_THREADS; t++) {
        ap[t] = (struct appender){.s = s, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, append_singles, &ap[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    double secs = rec_mono_s() - t0;
    int64_t commits = rec_store_commit_count(s) - commits0;
    int calls = N_THREADS * N_PER_THREAD;
    print_message("  group commit: %d single-event calls from %d threads: %lld commits "
                  "(%.1f calls/commit), %.2f s, %.0f events/s\n",
                  calls, N_THREADS, (long long)commits, (double)calls / (double)commits, secs,
                  (double)calls / secs);
    /* A writer that committed each call alone would need exactly `calls` commits. */
    assert_true(commits > 0 && commits < calls);

    static int64_t all[N_THREADS * N_PER_THREAD];
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(ap[t].failures, 0);
        for (int i = 0; i < N_PER_THREAD; i++) {
            assert_true(ap[t].seqs[i] > 0);
            if (i)
                assert_true(ap[t].seqs[i] > ap[t].seqs[i - 1]);
            all[t * N_PER_THREAD + i] = ap[t].seqs[i];
        }
    }
    qsort(all, (size_t)calls, sizeof all[0], cmp_i64);
    for (int k = 1; k < calls; k++)
        assert_true(all[k] > all[k - 1]);
    rec_store_close(s);

    s = open_ok(f->dir);
    counts_are(s, 50, N_THREADS, calls);
    struct replay r = {.ap = ap};
    assert_int_equal(rec_store_scan_events(s, 0, check_replayed, &r), 0);
    assert_int_equal(r.n, calls);
    assert_int_equal(r.bad, 0);
    rec_store_close(s);
}

#define BULK_BATCHES 100
#define BULK_N 1000

static void test_batch_append_throughput(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    static struct rec_event evs[BULK_N];
    static char ids[BULK_N][24], users[BULK_N][16], items[BULK_N][16];
    static uint8_t ins[BULK_N];
    double t0 = rec_mono_s();
    int64_t stored = 0;
    for (int b = 0; b < BULK_BATCHES; b++) {
        for (int i = 0; i < BULK_N; i++) {
            int k = b * BULK_N + i;
            snprintf(ids[i], sizeof ids[i], "ev-%d", k);
            snprintf(users[i], sizeof users[i], "u%d", k / 20); /* sessions of 20 events */
            snprintf(items[i], sizeof items[i], "i%d", (k * 7919) % 5000);
            evs[i] = ev_make(ids[i], users[i], items[i], k % REC_EVENT__COUNT, 1.0, k, NULL);
        }
        assert_int_equal(rec_store_append_events(s, evs, BULK_N, ins), 0);
        for (int i = 0; i < BULK_N; i++)
            stored += ins[i];
    }
    double secs = rec_mono_s() - t0;
    int64_t total = (int64_t)BULK_BATCHES * BULK_N;
    print_message("  batches: %d x %d events from 1 thread: %.2f s, %.0f events/s\n",
                  BULK_BATCHES, BULK_N, secs, (double)total / secs);
    assert_int_equal(stored, total);
    counts_are(s, 5000, total / 20, total);
    rec_store_close(s);
}

struct bg_appender {
    struct rec_store *s;
    int batches;
    volatile int done;
    int failures;
};

static void *append_in_background(void *arg)
{
    struct bg_appender *a = arg;
    char ids[10][32];
    struct rec_event evs[10];
    for (int b = 0; b < a->batches; b++) {
        for (int i = 0; i < 10; i++) {
            snprintf(ids[i], sizeof ids[i], "bg-%d-%d", b, i);
            evs[i] = ev_make(ids[i], "bg-user", "bg-item", REC_EVENT_VIEW, 0, b, NULL);
        }
        if (rec_store_append_events(a->s, evs, 10, NULL) != 0)
            a->failures++;
    }
    __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

struct live_scan {
    struct rec_store *s;
    int n;
    int64_t last_seq;
    int bad;
    int lookups;
};

static int check_live(void *ctx, const struct rec_event *ev)
{
    struct live_scan *l = ctx;
    if (ev->seq <= l->last_seq)
        l->bad++;
    l->last_seq = ev->seq;
    l->n++;
    if (l->n == 1) {
        /* A point read from inside a scan callback (same thread, same connection). */
        char *doc = NULL;
        int deleted = -1;
        if (rec_store_get_item(l->s, ev->item, &doc, &deleted) != 0 || strcmp(doc, "{}") != 0)
            l->bad++;
        free(doc);
        int64_t ne = 0;
        if (rec_store_count(l->s, NULL, NULL, &ne) != 0 || ne < l->n)
            l->bad++;
        l->lookups++;
    }
    return 0;
}

static void test_scan_while_appending(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    struct bg_appender a = {.s = s, .batches = 300};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_in_background, &a), 0);
    int scans = 0, prev_n = 0, grew = 0;
    for (;;) {
        int finished = __atomic_load_n(&a.done, __ATOMIC_ACQUIRE);
        struct live_scan l = {.s = s};
        assert_int_equal(rec_store_scan_events(s, 0, check_live, &l), 0);
        assert_int_equal(l.bad, 0);
        assert_true(l.n >= prev_n);
        assert_int_equal(l.n % 10, 0); /* whole calls only: a scan never sees half a commit */
        grew += l.n > prev_n;
        prev_n = l.n;
        scans++;
        if (finished)
            break;
    }
    pthread_join(th, NULL);
    assert_int_equal(a.failures, 0);
    assert_int_equal(prev_n, 3000);
    print_message("  %d scans ran during 300 appends, %d saw new events\n", scans, grew);
    assert_true(scans >= 2);
    rec_store_close(s);
}

/* ---- crash: kill -9 after acknowledgements ---- */

static void child_append_forever(const char *dir, int fd)
{
    struct rec_store *s = NULL;
    char err[256];
    if (rec_store_open(dir, &s, err, sizeof err) != 0)
        _exit(3);
    for (int i = 0;; i++) {
        char id[32];
        snprintf(id, sizeof id, "k%d", i);
        struct rec_event ev = ev_make(id, "crash-user", "crash-item", REC_EVENT_VIEW, 0, i, NULL);
        if (rec_store_append_events(s, &ev, 1, NULL) != 0)
            _exit(4);
        /* Acknowledge only after the call returned, as the HTTP handler would. */
        if (write(fd, &ev.seq, sizeof ev.seq) != (ssize_t)sizeof ev.seq)
            _exit(5);
    }
}

static void test_acknowledged_events_survive_kill9(void **state)
{
    struct fx *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_append_forever(f->dir, fds[1]);
    }
    close(fds[1]);
    static int64_t acked[100000];
    int n_acked = 0;
    while (n_acked < 300) {
        ssize_t got = read(fds[0], &acked[n_acked], sizeof acked[0]);
        assert_int_equal(got, (ssize_t)sizeof acked[0]);
        n_acked++;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    /* Acks written before the kill are still in the pipe. */
    while (n_acked < 100000 && read(fds[0], &acked[n_acked], sizeof acked[0]) ==
                                   (ssize_t)sizeof acked[0])
        n_acked++;
    close(fds[0]);

    struct rec_store *s = open_ok(f->dir);
    int64_t ne = 0;
    assert_int_equal(rec_store_count(s, NULL, NULL, &ne), 0);
    assert_true(ne >= n_acked);
    /* Every acknowledged seq is there: scan from just before it. */
    for (int k = 0; k < n_acked; k += 37) {
        struct evs got = {0};
        got.stop_at = 1;
        assert_int_equal(rec_store_scan_events(s, acked[k] - 1, collect_event, &got), 42);
        assert_int_equal(got.ev[0].seq, acked[k]);
    }
    struct evs last = {0};
    last.stop_at = 1;
    assert_int_equal(rec_store_scan_events(s, acked[n_acked - 1] - 1, collect_event, &last), 42);
    assert_int_equal(last.ev[0].seq, acked[n_acked - 1]);
    print_message("  kill -9 after %d acknowledged appends: all present (%lld stored)\n",
                  n_acked, (long long)ne);
    rec_store_close(s);
}

/* ---- tests that reach around the store with the sqlite3 shell (skipped without it) ---- */

/* Runs `sqlite3 db sql`; returns its exit status, 127 when the shell is not installed. */
static int sqlite_shell(const char *db, const char *sql)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execlp("sqlite3", "sqlite3", "-batch", db, sql, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void db_path_of(const struct fx *f, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", f->dir, REC_STORE_DB_NAME);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    rec_store_close(open_ok(f->dir));
    char db[400];
    db_path_of(f, db, sizeof db);
    int st = sqlite_shell(db, "PRAGMA user_version = 99;");
    if (st == 127)
        skip();
    assert_int_equal(st, 0);
    struct rec_store *s = NULL;
    char err[256] = "";
    assert_int_equal(rec_store_open(f->dir, &s, err, sizeof err), REC_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "newer"));
}

#define ISO_THREADS 4
#define ISO_CALLS 300

struct iso_worker {
    struct rec_store *s;
    int t;
    int ok_calls;
    int failed_calls;
    int wrong;
};

/* Every 10th call carries an event the trigger rejects, after a good event that would create a
 * new user and item: the whole call must vanish, and nobody else's call may be affected. */
static void *iso_run(void *arg)
{
    struct iso_worker *w = arg;
    for (int k = 0; k < ISO_CALLS; k++) {
        char id[48], bad_id[48], user[48], item[48];
        snprintf(id, sizeof id, "iso-%d-%d", w->t, k);
        snprintf(bad_id, sizeof bad_id, "iso-%d-%d-bad", w->t, k);
        snprintf(user, sizeof user, "fresh-%d-%d", w->t, k);
        snprintf(item, sizeof item, "fresh-item-%d-%d", w->t, k);
        int poison = k % 10 == 5;
        struct rec_event evs[2] = {
            ev_make(id, poison ? user : "steady", poison ? item : "i0", REC_EVENT_VIEW, 0, k,
                    NULL),
            ev_make(bad_id, "boom", "i0", REC_EVENT_VIEW, 0, k, NULL),
        };
        uint8_t ins[2] = {9, 9};
        int rc = rec_store_append_events(w->s, evs, poison ? 2 : 1, ins);
        if (poison) {
            w->failed_calls++;
            if (rc != REC_ESTORE || ins[0] != 0 || ins[1] != 0 || evs[0].seq != 0)
                w->wrong++;
        } else {
            w->ok_calls++;
            if (rc != 0 || ins[0] != 1 || evs[0].seq <= 0)
                w->wrong++;
        }
    }
    return NULL;
}

static void test_failing_call_rolls_back_only_itself(void **state)
{
    struct fx *f = *state;
    struct rec_store *s = open_ok(f->dir);
    char db[400];
    db_path_of(f, db, sizeof db);
    int st = sqlite_shell(db, "CREATE TRIGGER boom BEFORE INSERT ON events"
                              " WHEN NEW.user = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END;");
    if (st == 127) {
        rec_store_close(s);
        skip();
    }
    assert_int_equal(st, 0);

    struct iso_worker w[ISO_THREADS];
    pthread_t th[ISO_THREADS];
    int64_t c0 = rec_store_commit_count(s);
    rec_log_set_level(REC_LOG_OFF); /* 120 expected failures, each logged */
    for (int t = 0; t < ISO_THREADS; t++) {
        w[t] = (struct iso_worker){.s = s, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, iso_run, &w[t]), 0);
    }
    int ok = 0, failed = 0;
    for (int t = 0; t < ISO_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].wrong, 0);
        ok += w[t].ok_calls;
        failed += w[t].failed_calls;
    }
    rec_log_set_level(REC_LOG_WARN);
    print_message("  isolation: %d good + %d failing calls in %lld commits\n", ok, failed,
                  (long long)(rec_store_commit_count(s) - c0));
    assert_int_equal(failed, ISO_THREADS * ISO_CALLS / 10);
    /* Only the good calls' events, and none of the users/items the failed calls named. */
    counts_are(s, 1, 1, ok);
    char *doc = NULL;
    assert_int_equal(rec_store_get_user(s, "fresh-0-5", &doc), REC_ENOTFOUND);
    assert_int_equal(rec_store_get_item(s, "fresh-item-0-5", &doc, NULL), REC_ENOTFOUND);

    /* A call that fails after its first event made the users and items rows rolls them back:
     * the writer's memory of existing rows forgets them too, so a later call recreates them. */
    struct rec_event pair[2] = {ev_make("p1", "cache-u", "cache-i", REC_EVENT_VIEW, 0, 1, NULL),
                                ev_make("p2", "boom", "i0", REC_EVENT_VIEW, 0, 2, NULL)};
    rec_log_set_level(REC_LOG_OFF);
    assert_int_not_equal(rec_store_append_events(s, pair, 2, NULL), 0);
    rec_log_set_level(REC_LOG_WARN);
    assert_int_equal(rec_store_get_user(s, "cache-u", &doc), REC_ENOTFOUND);
    struct rec_event later = ev_make("p3", "cache-u", "cache-i", REC_EVENT_VIEW, 0, 3, NULL);
    assert_int_equal(rec_store_append_events(s, &later, 1, NULL), 0);
    assert_int_equal(rec_store_get_user(s, "cache-u", &doc), 0);
    free(doc);
    doc = NULL;
    assert_int_equal(rec_store_get_item(s, "cache-i", &doc, NULL), 0);
    free(doc);
    counts_are(s, 2, 2, ok + 1);

    /* The writer's cached statements survive the schema change back. */
    assert_int_equal(sqlite_shell(db, "DROP TRIGGER boom;"), 0);
    struct rec_event ev = ev_make("after", "boom", "i0", REC_EVENT_VIEW, 0, 1, NULL);
    assert_int_equal(rec_store_append_events(s, &ev, 1, NULL), 0);
    counts_are(s, 2, 3, ok + 2);
    rec_store_close(s);
}

int main(void)
{
    rec_log_set_level(REC_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_keeps_rowid_and_undeletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_user_removes_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_event_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scans_after_seq_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_get_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors_have_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_events_survive_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_call_rolls_back_only_itself, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_single_appends_group_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_append_throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_while_appending, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
