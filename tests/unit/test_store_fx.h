/* test_store_fx.h: the fixture of the store tests that open a store in a fresh temporary
 * directory: cmocka setup and teardown (the directory and everything in it), and open_ok.
 * and open_raw. Include after <cmocka.h>, <sqlite3.h>, "core/log.h" and "store/store.h". */
#ifndef REC_TEST_STORE_FX_H
#define REC_TEST_STORE_FX_H

#include <stdio.h>
#include <stdlib.h>

struct fx {
    char dir[256];
};

static int setup(void **state)
{
    rec_log_set_level(REC_LOG_WARN);
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/recd-test-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* rec_store_open of dir, which must succeed. */
static struct rec_store *open_ok(const char *dir)
{
    struct rec_store *s = NULL;
    char err[256];
    int rc = rec_store_open(dir, &s, err, sizeof err);
    if (rc)
        print_error("rec_store_open: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

/* The store's database file in dir, opened by SQLite directly (to build or inspect a schema). */
static sqlite3 *open_raw(const char *dir)
{
    char path[320];
    snprintf(path, sizeof path, "%s/%s", dir, REC_STORE_DB_NAME);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

#endif
