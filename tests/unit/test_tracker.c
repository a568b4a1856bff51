/* test_tracker.c: the served-list log and the attribution of later events (exp/tracker.c).
 *
 * The experiment "e1" pins its QA users with overrides (qa-c: control, qa-t: treat, qa-h:
 * holdout), so every assignment here is known exactly. Time is a fixed `now`, never the clock;
 * only the two store tests use a real SQLite database, in a temporary directory. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/err.h"
#include "core/log.h"
#include "exp/experiment.h"
#include "exp/tracker.h"
#include "ingest/event.h"
#include "store/store.h"

#define NOW 1700000000.0

static const char E1_JSON[] =
    "{\"experiments\": [{\"name\": \"e1\", \"holdout\": 0.2,"
    " \"variants\": [{\"name\": \"control\", \"weight\": 50}, {\"name\": \"treat\", \"weight\": 50}],"
    " \"overrides\": {\"qa-c\": \"control\", \"qa-t\": \"treat\", \"qa-h\": \"holdout\"}}]}";

/* The same file with e1 renamed. */
static const char E1_RENAMED_JSON[] =
    "{\"experiments\": [{\"name\": \"e1-renamed\", \"holdout\": 0.2,"
    " \"variants\": [{\"name\": \"control\", \"weight\": 50}, {\"name\": \"treat\", \"weight\": 50}],"
    " \"overrides\": {\"qa-c\": \"control\", \"qa-t\": \"treat\", \"qa-h\": \"holdout\"}}]}";

/* e1, then e2 whose impressions are counted from impression events. */
static const char E1_E2_JSON[] =
    "{\"experiments\": [{\"name\": \"e1\", \"holdout\": 0.2,"
    " \"variants\": [{\"name\": \"control\", \"weight\": 50}, {\"name\": \"treat\", \"weight\": 50}],"
    " \"overrides\": {\"qa-c\": \"control\", \"qa-t\": \"treat\", \"qa-h\": \"holdout\"}},"
    " {\"name\": \"e2\", \"impressions\": \"events\","
    " \"variants\": [{\"name\": \"only\", \"weight\": 1}], \"overrides\": {\"qa-e\": \"only\"}}]}";

/* slots of e1 in rec_tracker_stats */
enum { CONTROL = 0, TREAT = 1, HOLDOUT = 2, N_SLOTS = 3 };

/* ---- fixture: what a test opens, owned here so a failed assertion (which leaves the test at
 * once) still gets it closed in teardown; and a temporary directory for the store ---- */

struct fx {
    char tmp[256];                 /* mkdtemp result, removed in teardown */
    char dir[300];                 /* the store's data directory: tmp/data */
    struct rec_experiments *x, *x2;
    struct rec_tracker *t;
    struct rec_store *s;
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
    snprintf(f->tmp, sizeof f->tmp, "%s/recd-tracker-XXXXXX", base && base[0] ? base : "/tmp");
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
    rec_tracker_close(f->t);       /* before the store it flushes to and the experiments */
    rec_store_close(f->s);
    rec_experiments_free(f->x);
    rec_experiments_free(f->x2);
    rm_tree(f->tmp);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static struct rec_experiments *parse_x(const char *json)
{
    struct rec_experiments *x = NULL;
    char err[512] = "";
    int rc = rec_experiments_parse(json, strlen(json), NULL, &x, err, sizeof err);
    if (rc)
        fail_msg("rec_experiments_parse: %d %s", rc, err);
    assert_non_null(x);
    return x;
}

static struct rec_tracker *open_tracker(const struct rec_experiments *x, struct rec_store *s,
                                        double window_s, double now)
{
    struct rec_tracker_config c;
    rec_tracker_config_default(&c);
    if (window_s > 0)
        c.window_s = window_s;
    c.flush_interval_s = 0.05;
    struct rec_tracker *t = NULL;
    char err[256] = "";
    int rc = rec_tracker_open(&c, x, s, now, &t, err, sizeof err);
    if (rc)
        fail_msg("rec_tracker_open: %d %s", rc, err);
    assert_non_null(t);
    return t;
}

/* Closes the fixture's tracker (which flushes it to the store). */
static void close_tracker(struct fx *f)
{
    rec_tracker_close(f->t);
    f->t = NULL;
}

/* Serves items[0..n) to user under its assignment in x; rec_id gets the list's id. */
static void serve(struct rec_tracker *t, const struct rec_experiments *x, const char *user,
                  const char *const *items, int n, double now, char rec_id[REC_TRACKER_ID_LEN + 1])
{
    struct rec_exp_assignment a;
    rec_experiments_assign(x, user, &a);
    assert_int_equal(rec_tracker_served(t, user, &a, items, n, now, rec_id), 0);
}

/* Serves to user outside every experiment. */
static void serve_no_exp(struct rec_tracker *t, const char *user, const char *const *items, int n,
                         double now, char rec_id[REC_TRACKER_ID_LEN + 1])
{
    struct rec_exp_assignment a = {.exp = NULL, .variant = REC_EXP_NONE, .variant_name = "default"};
    assert_int_equal(rec_tracker_served(t, user, &a, items, n, now, rec_id), 0);
}

/* One event, attributed at now. */
static void event(struct rec_tracker *t, const char *user, const char *item, int type,
                  double value, const char *rec_id, double now)
{
    struct rec_event e = {.user = user, .item = item, .type = type, .value = value,
                          .ts = (int64_t)now, .rec_id = rec_id};
    rec_tracker_events(t, &e, NULL, 1, now);
}

static void click(struct rec_tracker *t, const char *user, const char *item, const char *rec_id,
                  double now)
{
    event(t, user, item, REC_EVENT_CLICK, 0, rec_id, now);
}

/* Stats of e1 (3 rows: control, treat, holdout). */
static void stats_e1(struct rec_tracker *t, struct rec_variant_stats out[N_SLOTS])
{
    struct rec_variant_stats st[REC_EXP_MAX_VARIANTS + 1];
    memset(st, 0, sizeof st);
    int n = -1;
    assert_int_equal(rec_tracker_stats(t, "e1", st, &n), 0);
    assert_int_equal(n, N_SLOTS);
    memcpy(out, st, N_SLOTS * sizeof *out);
}

static int64_t clicks_of(struct rec_tracker *t, int slot)
{
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    return st[slot].clicks;
}

static void online(struct rec_tracker *t, int64_t positives, int64_t hits, int64_t lists)
{
    struct rec_online_stats o = {-1, -1, -1};
    rec_tracker_online(t, &o);
    assert_int_equal(o.positives, positives);
    assert_int_equal(o.hits, hits);
    assert_int_equal(o.lists_in_memory, lists);
}

static int is_hex_id(const char *s)
{
    if (strlen(s) != REC_TRACKER_ID_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return 0;
    return 1;
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

/* ---- 1. serving: ids, requests, served items, users ---- */

static void test_served_ids_and_counts(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_exp_assignment a;
    rec_experiments_assign(x, "qa-c", &a);
    assert_non_null(a.exp);
    assert_int_equal(a.variant, 0);
    rec_experiments_assign(x, "qa-t", &a);
    assert_int_equal(a.variant, 1);
    rec_experiments_assign(x, "qa-h", &a);
    assert_int_equal(a.variant, REC_EXP_HOLDOUT);
    assert_string_equal(a.variant_name, "holdout");

    struct rec_tracker *t = f->t = open_tracker(x, NULL, 0, NOW);
    /* before anything is served: three rows, all zero */
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    for (int v = 0; v < N_SLOTS; v++) {
        assert_int_equal(st[v].requests, 0);
        assert_int_equal(st[v].users, 0);
    }

    static char ids[1000][REC_TRACKER_ID_LEN + 1];
    const char *users[3] = {"qa-c", "qa-t", "qa-h"};
    const char *items[3] = {"i1", "i2", "i3"};
    for (int i = 0; i < 1000; i++) {
        int u = i % 3;                 /* qa-c: 334 lists of 3, qa-t: 333 of 2, qa-h: 333 of 1 */
        memset(ids[i], 'z', sizeof ids[i]);
        serve(t, x, users[u], items, 3 - u, NOW, ids[i]);
        if (!is_hex_id(ids[i]))
            fail_msg("rec_id %d is not %d hex digits: \"%.40s\"", i, REC_TRACKER_ID_LEN, ids[i]);
    }
    qsort(ids, 1000, sizeof ids[0], cmp_id);
    for (int i = 1; i < 1000; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("rec_id %s served twice", ids[i]);

    /* a user outside the experiment changes nothing in e1 */
    char rid[REC_TRACKER_ID_LEN + 1];
    serve_no_exp(t, "anon", items, 3, NOW, rid);
    assert_true(is_hex_id(rid));
    assert_int_equal(rec_tracker_served(t, "anon2", NULL, items, 2, NOW, rid), 0);

    stats_e1(t, st);
    assert_string_equal(st[CONTROL].name, "control");
    assert_string_equal(st[TREAT].name, "treat");
    assert_string_equal(st[HOLDOUT].name, "holdout");
    assert_int_equal(st[CONTROL].requests, 334);
    assert_int_equal(st[TREAT].requests, 333);
    assert_int_equal(st[HOLDOUT].requests, 333);
    assert_int_equal(st[CONTROL].served_items, 334 * 3);
    assert_int_equal(st[TREAT].served_items, 333 * 2);
    assert_int_equal(st[HOLDOUT].served_items, 333 * 1);
    for (int v = 0; v < N_SLOTS; v++) {
        assert_int_equal(st[v].users, 1);  /* served hundreds of times, one user */
        assert_int_equal(st[v].impressions, 0);
        assert_int_equal(st[v].clicks, 0);
        assert_int_equal(st[v].conversions, 0);
        assert_int_equal(st[v].dwell_n, 0);
    }
    online(t, 0, 0, 1002);

    int n = -1;
    assert_int_equal(rec_tracker_stats(t, "nope", st, &n), REC_ENOTFOUND);
}

/* ---- 2. attribution by recommendation_id ---- */

static void test_attribution_by_rec_id(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_tracker *t = f->t = open_tracker(x, NULL, 0, NOW);
    char id_c[REC_TRACKER_ID_LEN + 1], id_t[REC_TRACKER_ID_LEN + 1];
    const char *lc[3] = {"i1", "i2", "i3"};
    const char *lt[3] = {"i1", "i2", "i4"};
    serve(t, x, "qa-c", lc, 3, NOW, id_c);
    serve(t, x, "qa-t", lt, 3, NOW, id_t);
    double at = NOW + 10;

    click(t, "qa-c", "i2", id_c, at);
    assert_int_equal(clicks_of(t, CONTROL), 1);
    click(t, "qa-c", "i2", id_c, at);              /* the same position again */
    assert_int_equal(clicks_of(t, CONTROL), 1);
    click(t, "qa-c", "i3", id_c, at);              /* another position */
    assert_int_equal(clicks_of(t, CONTROL), 2);
    /* qa-t's rec_id, an item only qa-t's list holds: attributed to nobody */
    click(t, "qa-c", "i4", id_t, at);
    assert_int_equal(clicks_of(t, CONTROL), 2);
    assert_int_equal(clicks_of(t, TREAT), 0);
    /* qa-t's rec_id, an item both lists hold: not to qa-t's list by id, but to qa-c's own list
     * by user + item */
    click(t, "qa-c", "i1", id_t, at);
    assert_int_equal(clicks_of(t, CONTROL), 3);
    assert_int_equal(clicks_of(t, TREAT), 0);
    /* an item on no list, with and without the rec_id */
    click(t, "qa-c", "zzz", id_c, at);
    click(t, "qa-c", "zzz", NULL, at);
    assert_int_equal(clicks_of(t, CONTROL), 3);
    /* an unknown rec_id falls back to user + item: i1 is clicked already */
    click(t, "qa-c", "i1", "00000000000000000000000000000000", at);
    assert_int_equal(clicks_of(t, CONTROL), 3);
    /* qa-t's own click by id counts for treat */
    click(t, "qa-t", "i4", id_t, at);
    assert_int_equal(clicks_of(t, TREAT), 1);
    assert_int_equal(clicks_of(t, HOLDOUT), 0);

}

/* ---- 3. attribution by user + item within the window ---- */

static void test_attribution_by_user_item_window(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    const double W = 1000;
    struct rec_tracker *t = f->t = open_tracker(x, NULL, W, NOW);
    char id1[REC_TRACKER_ID_LEN + 1], id2[REC_TRACKER_ID_LEN + 1];
    const char *l1[3] = {"a", "b", "c"};
    const char *l2[2] = {"x", "b"};
    serve(t, x, "qa-c", l1, 3, NOW, id1);
    serve(t, x, "qa-c", l2, 2, NOW + 100, id2);

    /* b is on both lists: the newest (l2, position 1) gets it */
    click(t, "qa-c", "b", NULL, NOW + 200);
    assert_int_equal(clicks_of(t, CONTROL), 1);
    click(t, "qa-c", "b", id2, NOW + 200);          /* l2's position 1 is clicked already */
    assert_int_equal(clicks_of(t, CONTROL), 1);
    click(t, "qa-c", "b", id1, NOW + 200);          /* l1's position 1 was not */
    assert_int_equal(clicks_of(t, CONTROL), 2);

    /* a: only on l1; at exactly the window's end it is still attributed */
    click(t, "qa-c", "a", NULL, NOW + W);
    assert_int_equal(clicks_of(t, CONTROL), 3);
    /* c: only on l1, one second after its window: not attributed */
    click(t, "qa-c", "c", NULL, NOW + W + 1);
    assert_int_equal(clicks_of(t, CONTROL), 3);
    /* x: on l2, still within l2's window */
    click(t, "qa-c", "x", NULL, NOW + 100 + W);
    assert_int_equal(clicks_of(t, CONTROL), 4);
    /* a purchase of c after the window counts nowhere either */
    event(t, "qa-c", "c", REC_EVENT_PURCHASE, 0, NULL, NOW + W + 1);
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(st[CONTROL].conversions, 0);

}

/* An event that names its list by rec_id after the list's window is not attributed either,
 * whether or not a sample has expired the list yet. */
static void test_rec_id_after_window(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    const double W = 1000;
    struct rec_tracker *t = f->t = open_tracker(x, NULL, W, NOW);
    char id1[REC_TRACKER_ID_LEN + 1];
    const char *l1[2] = {"a", "b"};
    serve(t, x, "qa-c", l1, 2, NOW, id1);
    click(t, "qa-c", "a", id1, NOW + W);            /* at the window's end: attributed */
    assert_int_equal(clicks_of(t, CONTROL), 1);
    /* past the window, even by rec_id and before any expiry ran: not attributed (as without the
     * id, and as after a restart, which drops lists past the window) */
    click(t, "qa-c", "b", id1, NOW + W + 1);
    assert_int_equal(clicks_of(t, CONTROL), 1);
    /* once sampled, the list is gone and the event is not attributed */
    rec_tracker_sample(t, NOW + W + 1);
    event(t, "qa-c", "b", REC_EVENT_PURCHASE, 0, id1, NOW + W + 1);
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(st[CONTROL].conversions, 0);
}

/* ---- 4. impressions, purchases, dwell ---- */

static void test_impressions_purchases_dwell(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_tracker *t = f->t = open_tracker(x, NULL, 0, NOW);
    char id[REC_TRACKER_ID_LEN + 1];
    const char *l[3] = {"p0", "p1", "p2"};
    serve(t, x, "qa-t", l, 3, NOW, id);
    double at = NOW + 5;

    event(t, "qa-t", "p0", REC_EVENT_IMPRESSION, 0, id, at);
    event(t, "qa-t", "p0", REC_EVENT_IMPRESSION, 0, id, at);
    event(t, "qa-t", "p1", REC_EVENT_IMPRESSION, 0, NULL, at);
    event(t, "qa-t", "p2", REC_EVENT_PURCHASE, 0, id, at);
    event(t, "qa-t", "p2", REC_EVENT_PURCHASE, 0, NULL, at);
    event(t, "qa-t", "p0", REC_EVENT_DWELL, 10, id, at);
    event(t, "qa-t", "p0", REC_EVENT_DWELL, 20, NULL, at);

    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(st[TREAT].impressions, 2);
    assert_int_equal(st[TREAT].conversions, 1);
    assert_int_equal(st[TREAT].clicks, 0);
    assert_int_equal(st[TREAT].dwell_n, 1);
    assert_true(st[TREAT].dwell_sum == 30.0);
    assert_true(st[TREAT].dwell_sumsq == 900.0); /* (10 + 20)^2: per position, not per event */

    event(t, "qa-t", "p1", REC_EVENT_DWELL, 5, id, at);
    stats_e1(t, st);
    assert_int_equal(st[TREAT].dwell_n, 2);
    assert_true(st[TREAT].dwell_sum == 35.0);
    assert_true(st[TREAT].dwell_sumsq == 925.0);
    assert_int_equal(st[TREAT].served_items, 3);
    assert_int_equal(st[TREAT].requests, 1);
    /* the other variants saw nothing */
    assert_int_equal(st[CONTROL].impressions + st[CONTROL].conversions + st[CONTROL].dwell_n, 0);
    assert_int_equal(st[HOLDOUT].impressions + st[HOLDOUT].conversions + st[HOLDOUT].dwell_n, 0);

}

/* ---- 5. the inserted mask ---- */

static void test_inserted_mask(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_tracker *t = f->t = open_tracker(x, NULL, 0, NOW);
    char id[REC_TRACKER_ID_LEN + 1];
    const char *l[3] = {"p0", "p1", "p2"};
    serve(t, x, "qa-h", l, 3, NOW, id);

    struct rec_event ev[4] = {
        {.user = "qa-h", .item = "p0", .type = REC_EVENT_CLICK, .rec_id = id},
        {.user = "qa-h", .item = "p1", .type = REC_EVENT_CLICK, .rec_id = id},
        {.user = "qa-h", .item = "p2", .type = REC_EVENT_CLICK, .rec_id = NULL},
        {.user = "qa-h", .item = "p1", .type = REC_EVENT_PURCHASE, .rec_id = id},
    };
    const uint8_t inserted[4] = {1, 0, 1, 0};
    rec_tracker_events(t, ev, inserted, 4, NOW + 1);
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(st[HOLDOUT].clicks, 2);
    assert_int_equal(st[HOLDOUT].conversions, 0);
    online(t, 2, 2, 1);                           /* skipped events are not positives either */

    /* p1 was never counted: with inserted NULL all four apply, only p1's click and purchase are new */
    rec_tracker_events(t, ev, NULL, 4, NOW + 2);
    stats_e1(t, st);
    assert_int_equal(st[HOLDOUT].clicks, 3);
    assert_int_equal(st[HOLDOUT].conversions, 1);
    online(t, 6, 6, 1);

}

/* ---- 6. online stats ---- */

static void test_online_stats(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    const double W = 1000;
    struct rec_tracker *t = f->t = open_tracker(x, NULL, W, NOW);
    char id_c[REC_TRACKER_ID_LEN + 1], id_a[REC_TRACKER_ID_LEN + 1];
    const char *lc[2] = {"a", "b"};
    const char *la[2] = {"a", "c"};
    serve(t, x, "qa-c", lc, 2, NOW, id_c);
    serve_no_exp(t, "anon", la, 2, NOW, id_a);
    online(t, 0, 0, 2);

    double at = NOW + 10;
    struct rec_event ev[] = {
        /* qa-c: six positives, three of them on the list */
        {.user = "qa-c", .item = "a", .type = REC_EVENT_CLICK},          /* +, hit */
        {.user = "qa-c", .item = "z", .type = REC_EVENT_LIKE},           /* + */
        {.user = "qa-c", .item = "b", .type = REC_EVENT_ADD_TO_CART},    /* +, hit */
        {.user = "qa-c", .item = "z", .type = REC_EVENT_PURCHASE},       /* + */
        {.user = "qa-c", .item = "z", .type = REC_EVENT_SHARE},          /* + */
        {.user = "qa-c", .item = "b", .type = REC_EVENT_RATING, .value = 4}, /* +, hit */
        {.user = "qa-c", .item = "a", .type = REC_EVENT_RATING, .value = 3}, /* not positive */
        {.user = "qa-c", .item = "a", .type = REC_EVENT_VIEW},
        {.user = "qa-c", .item = "a", .type = REC_EVENT_DISLIKE},
        {.user = "qa-c", .item = "b", .type = REC_EVENT_SKIP},
        {.user = "qa-c", .item = "a", .type = REC_EVENT_IMPRESSION},
        /* anon (no experiment): two positives, one hit */
        {.user = "anon", .item = "c", .type = REC_EVENT_CLICK},          /* +, hit */
        {.user = "anon", .item = "z", .type = REC_EVENT_RATING, .value = 5}, /* + */
        {.user = "anon", .item = "a", .type = REC_EVENT_VIEW},
        /* users without a list */
        {.user = "nobody", .item = "a", .type = REC_EVENT_CLICK},
        {.user = "qa-t", .item = "a", .type = REC_EVENT_PURCHASE},
    };
    int n = (int)(sizeof ev / sizeof ev[0]);
    rec_tracker_events(t, ev, NULL, n, at);
    online(t, 8, 4, 2);

    /* e1 saw qa-c's list only; anon's click on c is in no experiment */
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(st[CONTROL].requests, 1);
    assert_int_equal(st[CONTROL].served_items, 2);
    assert_int_equal(st[CONTROL].users, 1);
    assert_int_equal(st[CONTROL].clicks, 1);
    assert_int_equal(st[CONTROL].conversions, 0);   /* the purchase was of z */
    assert_int_equal(st[CONTROL].impressions, 1);
    for (int v = TREAT; v <= HOLDOUT; v++) {
        assert_int_equal(st[v].requests, 0);
        assert_int_equal(st[v].served_items, 0);
        assert_int_equal(st[v].users, 0);
        assert_int_equal(st[v].clicks, 0);
    }

    /* after the window neither user counts any more */
    struct rec_event late[2] = {
        {.user = "qa-c", .item = "a", .type = REC_EVENT_CLICK},
        {.user = "anon", .item = "c", .type = REC_EVENT_CLICK},
    };
    rec_tracker_events(t, late, NULL, 2, NOW + W + 1);
    online(t, 8, 4, 2);

}

/* ---- 7. forgetting a user ---- */

static void test_forget_user(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_tracker *t = f->t = open_tracker(x, NULL, 0, NOW);
    char id_c[REC_TRACKER_ID_LEN + 1], id_t[REC_TRACKER_ID_LEN + 1], id_c2[REC_TRACKER_ID_LEN + 1];
    const char *l[2] = {"a", "b"};
    serve(t, x, "qa-c", l, 2, NOW, id_c);
    serve(t, x, "qa-t", l, 2, NOW + 1, id_t);
    serve(t, x, "qa-c", l, 2, NOW + 2, id_c2);
    online(t, 0, 0, 3);

    rec_tracker_forget_user(t, "qa-c");
    online(t, 0, 0, 1);
    click(t, "qa-c", "a", id_c, NOW + 10);
    click(t, "qa-c", "b", id_c2, NOW + 10);
    click(t, "qa-c", "a", NULL, NOW + 10);
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(st[CONTROL].clicks, 0);
    assert_int_equal(st[CONTROL].requests, 2);      /* the counts stay */
    online(t, 0, 0, 1);                             /* no list, no positive */

    /* the other user is untouched */
    click(t, "qa-t", "a", id_t, NOW + 10);
    assert_int_equal(clicks_of(t, TREAT), 1);
    online(t, 1, 1, 1);
    /* forgetting someone unknown is harmless; a forgotten user can be served again */
    rec_tracker_forget_user(t, "nobody");
    serve(t, x, "qa-c", l, 2, NOW + 20, id_c);
    click(t, "qa-c", "b", id_c, NOW + 21);
    assert_int_equal(clicks_of(t, CONTROL), 1);
    online(t, 2, 2, 2);

}

/* ---- 8. sample and series ---- */

static void test_sample_series(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_E2_JSON);
    const double W = 1000;
    struct rec_tracker *t = f->t = open_tracker(x, NULL, W, NOW);
    char id1[REC_TRACKER_ID_LEN + 1], id2[REC_TRACKER_ID_LEN + 1], ide[REC_TRACKER_ID_LEN + 1];
    const char *l1[3] = {"a", "b", "c"};
    const char *l2[2] = {"d", "e"};
    struct rec_series_point p[8];
    assert_int_equal(rec_tracker_series(t, "e1", CONTROL, p, 8), 0);

    serve(t, x, "qa-c", l1, 3, NOW, id1);
    serve(t, x, "qa-e", l1, 3, NOW, ide);
    rec_tracker_sample(t, NOW + 1);
    click(t, "qa-c", "a", id1, NOW + 1.5);
    rec_tracker_sample(t, NOW + 2);
    serve(t, x, "qa-c", l2, 2, NOW + 3, id2);
    event(t, "qa-c", "d", REC_EVENT_IMPRESSION, 0, id2, NOW + 3);
    click(t, "qa-c", "b", id1, NOW + 3);
    event(t, "qa-e", "a", REC_EVENT_IMPRESSION, 0, ide, NOW + 3);
    event(t, "qa-e", "b", REC_EVENT_IMPRESSION, 0, ide, NOW + 3);
    event(t, "qa-e", "b", REC_EVENT_CLICK, 0, ide, NOW + 3);
    rec_tracker_sample(t, NOW + 4);
    online(t, 3, 3, 3);
    /* a sample past the window expires every list */
    rec_tracker_sample(t, NOW + 3 + W + 1);
    online(t, 3, 3, 0);

    assert_int_equal(rec_tracker_series(t, "e1", CONTROL, p, 8), 4);
    const double ts[4] = {NOW + 1, NOW + 2, NOW + 4, NOW + 3 + W + 1};
    const int64_t imp[4] = {3, 3, 5, 5}, clk[4] = {0, 1, 2, 2};
    for (int k = 0; k < 4; k++) {
        assert_true(p[k].ts == ts[k]);
        assert_int_equal(p[k].impressions, imp[k]);
        assert_int_equal(p[k].clicks, clk[k]);
    }
    struct rec_variant_stats st[N_SLOTS];
    stats_e1(t, st);
    assert_int_equal(p[3].impressions, st[CONTROL].served_items); /* the "served" basis */
    assert_int_equal(st[CONTROL].impressions, 1);
    assert_int_equal(p[3].clicks, st[CONTROL].clicks);
    /* max cuts the oldest */
    assert_int_equal(rec_tracker_series(t, "e1", CONTROL, p, 2), 2);
    assert_true(p[0].ts == NOW + 4);
    assert_int_equal(p[0].impressions, 5);
    assert_true(p[1].ts == NOW + 3 + W + 1);
    /* the other variants have points too, all zero */
    for (int v = TREAT; v <= HOLDOUT; v++) {
        assert_int_equal(rec_tracker_series(t, "e1", v, p, 8), 4);
        for (int k = 0; k < 4; k++)
            assert_int_equal(p[k].impressions + p[k].clicks, 0);
    }
    /* e2 counts impressions from impression events */
    assert_int_equal(rec_tracker_series(t, "e2", 0, p, 8), 4);
    assert_int_equal(p[0].impressions, 0);
    assert_int_equal(p[2].impressions, 2);
    assert_int_equal(p[2].clicks, 1);
    /* e2 has no holdout share: its slot 1 (the holdout) exists and stays empty */
    assert_int_equal(rec_tracker_series(t, "e2", 1, p, 8), 4);
    assert_int_equal(rec_tracker_series(t, "e2", 2, p, 8), REC_ENOTFOUND);
    assert_int_equal(rec_tracker_series(t, "e1", 3, p, 8), REC_ENOTFOUND);
    assert_int_equal(rec_tracker_series(t, "e1", -1, p, 8), REC_ENOTFOUND);
    assert_int_equal(rec_tracker_series(t, "nope", 0, p, 8), REC_ENOTFOUND);
    struct rec_variant_stats st2[REC_EXP_MAX_VARIANTS + 1];
    int n = -1;
    assert_int_equal(rec_tracker_stats(t, "e2", st2, &n), 0);
    assert_int_equal(n, 1);                         /* no holdout share, nobody pinned to it */

    /* the ring keeps the newest REC_TRACKER_SERIES_MAX points */
    for (int k = 0; k < REC_TRACKER_SERIES_MAX; k++)
        rec_tracker_sample(t, NOW + 10000 + k);
    static struct rec_series_point all[REC_TRACKER_SERIES_MAX + 8];
    assert_int_equal(rec_tracker_series(t, "e1", CONTROL, all, REC_TRACKER_SERIES_MAX + 8),
                     REC_TRACKER_SERIES_MAX);
    assert_true(all[0].ts == NOW + 10000);
    assert_true(all[REC_TRACKER_SERIES_MAX - 1].ts == NOW + 10000 + REC_TRACKER_SERIES_MAX - 1);

}

/* ---- 9. a real store: the counts survive a restart ---- */

static struct rec_store *store_open_ok(const char *dir)
{
    struct rec_store *s = NULL;
    char err[256] = "";
    int rc = rec_store_open(dir, &s, err, sizeof err);
    if (rc)
        fail_msg("rec_store_open(%s): %d %s", dir, rc, err);
    assert_non_null(s);
    return s;
}

static void assert_same_stats(const struct rec_variant_stats *a, const struct rec_variant_stats *b)
{
    for (int v = 0; v < N_SLOTS; v++) {
        assert_string_equal(a[v].name, b[v].name);
        assert_int_equal(a[v].users, b[v].users);
        assert_int_equal(a[v].requests, b[v].requests);
        assert_int_equal(a[v].served_items, b[v].served_items);
        assert_int_equal(a[v].impressions, b[v].impressions);
        assert_int_equal(a[v].clicks, b[v].clicks);
        assert_int_equal(a[v].conversions, b[v].conversions);
        assert_int_equal(a[v].dwell_n, b[v].dwell_n);
        assert_true(a[v].dwell_sum == b[v].dwell_sum);
        assert_true(a[v].dwell_sumsq == b[v].dwell_sumsq);
    }
}

static void test_store_replay(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_store *s = f->s = store_open_ok(f->dir);

    /* session 1 */
    struct rec_tracker *t = f->t = open_tracker(x, s, 0, NOW);
    char id1[REC_TRACKER_ID_LEN + 1], id2[REC_TRACKER_ID_LEN + 1], id3[REC_TRACKER_ID_LEN + 1],
        id4[REC_TRACKER_ID_LEN + 1], ida[REC_TRACKER_ID_LEN + 1];
    const char *l1[3] = {"a", "b", "c"};
    const char *l2[2] = {"a", "b"};
    const char *l3[1] = {"a"};
    const char *l4[1] = {"d"};
    serve(t, x, "qa-c", l1, 3, NOW, id1);
    serve(t, x, "qa-t", l2, 2, NOW + 1, id2);
    serve(t, x, "qa-h", l3, 1, NOW + 2, id3);
    serve(t, x, "qa-c", l4, 1, NOW + 3, id4);
    serve_no_exp(t, "anon", l1, 3, NOW + 3, ida);    /* never logged */
    double at = NOW + 10;
    click(t, "qa-c", "b", id1, at);
    click(t, "qa-c", "b", id1, at);
    click(t, "qa-c", "c", NULL, at);                 /* l1, position 2 */
    event(t, "qa-c", "a", REC_EVENT_DWELL, 10, id1, at);
    event(t, "qa-c", "a", REC_EVENT_DWELL, 20, id1, at);
    click(t, "qa-t", "a", id2, at);
    event(t, "qa-t", "b", REC_EVENT_PURCHASE, 0, id2, at);
    event(t, "qa-t", "b", REC_EVENT_DWELL, 5, id2, at);
    event(t, "qa-h", "a", REC_EVENT_IMPRESSION, 0, id3, at);
    click(t, "anon", "a", ida, at);
    struct rec_variant_stats before[N_SLOTS];
    stats_e1(t, before);
    assert_int_equal(before[CONTROL].users, 1);
    assert_int_equal(before[CONTROL].requests, 2);
    assert_int_equal(before[CONTROL].served_items, 4);
    assert_int_equal(before[CONTROL].clicks, 2);
    assert_int_equal(before[CONTROL].dwell_n, 1);
    assert_true(before[CONTROL].dwell_sum == 30.0);
    assert_true(before[CONTROL].dwell_sumsq == 900.0);
    assert_int_equal(before[TREAT].clicks, 1);
    assert_int_equal(before[TREAT].conversions, 1);
    assert_true(before[TREAT].dwell_sumsq == 25.0);
    assert_int_equal(before[HOLDOUT].impressions, 1);
    assert_int_equal(before[HOLDOUT].requests, 1);
    close_tracker(f);                            /* flushes */

    /* session 2: same store, same experiments, within the window */
    t = f->t = open_tracker(x, s, 0, NOW + 20);
    struct rec_variant_stats after[N_SLOTS];
    stats_e1(t, after);
    assert_same_stats(before, after);
    online(t, 0, 0, 4);                              /* the four experiment lists, not anon's */
    /* positions clicked before the restart do not count again; new ones do */
    double at2 = NOW + 30;
    click(t, "qa-c", "b", id1, at2);
    click(t, "qa-c", "c", id1, at2);
    assert_int_equal(clicks_of(t, CONTROL), 2);
    click(t, "qa-c", "a", id1, at2);
    assert_int_equal(clicks_of(t, CONTROL), 3);
    click(t, "qa-t", "a", id2, at2);
    assert_int_equal(clicks_of(t, TREAT), 1);
    click(t, "qa-t", "b", NULL, at2);
    assert_int_equal(clicks_of(t, TREAT), 2);
    event(t, "qa-t", "b", REC_EVENT_PURCHASE, 0, id2, at2);
    event(t, "qa-h", "a", REC_EVENT_IMPRESSION, 0, id3, at2);
    /* dwell continues the stored sum of its position: 30 + 10 = 40 */
    event(t, "qa-c", "a", REC_EVENT_DWELL, 10, id1, at2);
    /* a new list after the restart */
    char id5[REC_TRACKER_ID_LEN + 1];
    serve(t, x, "qa-c", l2, 2, at2, id5);
    click(t, "qa-c", "b", id5, at2);
    struct rec_variant_stats s2[N_SLOTS];
    stats_e1(t, s2);
    assert_int_equal(s2[CONTROL].users, 1);
    assert_int_equal(s2[CONTROL].requests, 3);
    assert_int_equal(s2[CONTROL].served_items, 6);
    assert_int_equal(s2[CONTROL].clicks, 4);
    assert_int_equal(s2[CONTROL].dwell_n, 1);
    assert_true(s2[CONTROL].dwell_sum == 40.0);
    assert_true(s2[CONTROL].dwell_sumsq == 1600.0);
    assert_int_equal(s2[TREAT].conversions, 1);
    assert_int_equal(s2[HOLDOUT].impressions, 1);
    close_tracker(f);

    /* session 3: the renamed file; e1 is simply absent and nothing of its log is replayed */
    struct rec_experiments *xr = f->x2 = parse_x(E1_RENAMED_JSON);
    t = f->t = open_tracker(xr, s, 0, NOW + 40);
    struct rec_variant_stats st[REC_EXP_MAX_VARIANTS + 1];
    int n = -1;
    assert_int_equal(rec_tracker_stats(t, "e1", st, &n), REC_ENOTFOUND);
    assert_int_equal(rec_tracker_stats(t, "e1-renamed", st, &n), 0);
    assert_int_equal(n, N_SLOTS);
    for (int v = 0; v < N_SLOTS; v++) {
        assert_int_equal(st[v].requests, 0);
        assert_int_equal(st[v].users, 0);
        assert_int_equal(st[v].clicks, 0);
    }
    online(t, 0, 0, 0);
    click(t, "qa-c", "a", id1, NOW + 41);            /* an old rec_id: nothing to attribute */
    assert_int_equal(rec_tracker_stats(t, "e1-renamed", st, &n), 0);
    assert_int_equal(st[CONTROL].clicks, 0);
    close_tracker(f);
    rec_experiments_free(xr);
    f->x2 = NULL;

    /* session 4: the original file again, past every list's window: the counts of both earlier
     * sessions are there, but no list is in memory to attribute to */
    t = f->t = open_tracker(x, s, 0, NOW + 30 + 3600 + 1);
    stats_e1(t, after);
    assert_same_stats(s2, after);
    online(t, 0, 0, 0);
    click(t, "qa-t", "b", id2, NOW + 30 + 3600 + 2);
    assert_int_equal(clicks_of(t, TREAT), 2);
    close_tracker(f);
}

/* Rows of table whose rec_id is rec_id, read with SQLite directly (the store is closed). */
static int64_t rows_of(const struct fx *f, const char *table, const char *rec_id)
{
    char path[400], sql[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, REC_STORE_DB_NAME);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE rec_id = ?1", table);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, rec_id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Erasure: rec_api_delete_user calls rec_tracker_forget_user first, "so no pending log row of
 * theirs lands after the delete", then rec_store_delete_user. Nothing of the user's lists may
 * reach the store after that. A long flush interval keeps everything pending until close. */
static void test_forget_user_drops_pending_log(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_store *s = f->s = store_open_ok(f->dir);
    const char *uid[1] = {"qa-c"}, *udoc[1] = {"{}"};
    assert_int_equal(rec_store_upsert_users(s, uid, udoc, 1), 0);
    struct rec_tracker_config c;
    rec_tracker_config_default(&c);
    c.flush_interval_s = 3600;
    struct rec_tracker *t = NULL;
    char err[256] = "";
    assert_int_equal(rec_tracker_open(&c, x, s, NOW, &t, err, sizeof err), 0);
    f->t = t;
    char id_c[REC_TRACKER_ID_LEN + 1], id_t[REC_TRACKER_ID_LEN + 1];
    const char *l[2] = {"a", "b"};
    serve(t, x, "qa-c", l, 2, NOW, id_c);
    serve(t, x, "qa-t", l, 2, NOW, id_t);
    click(t, "qa-c", "a", id_c, NOW + 1);
    event(t, "qa-c", "b", REC_EVENT_DWELL, 12, id_c, NOW + 1);
    click(t, "qa-t", "a", id_t, NOW + 1);
    rec_tracker_forget_user(t, "qa-c");
    assert_int_equal(rec_store_delete_user(s, "qa-c"), 0);
    close_tracker(f);                                /* flushes what is still pending */
    rec_store_close(s);
    f->s = NULL;
    /* the other user's log is there */
    assert_int_equal(rows_of(f, "served", id_t), 1);
    assert_int_equal(rows_of(f, "outcomes", id_t), 1);
    assert_int_equal(rows_of(f, "served", id_c), 0);
    /* the erased user's pending outcomes are dropped with their lists: no orphan rows */
    assert_int_equal(rows_of(f, "outcomes", id_c), 0);
}

/* ---- 10. configuration ---- */

static void test_open_rejects_bad_config(void **state)
{
    struct fx *f = *state;
    struct rec_experiments *x = f->x = parse_x(E1_JSON);
    struct rec_tracker_config c;
    char err[256];
    const double bad_windows[3] = {0, -1, -3600};
    for (int k = 0; k < 3; k++) {
        rec_tracker_config_default(&c);
        c.window_s = bad_windows[k];
        struct rec_tracker *t = (void *)1;
        err[0] = '\0';
        assert_int_equal(rec_tracker_open(&c, x, NULL, NOW, &t, err, sizeof err), REC_EINVAL);
        assert_null(t);
        assert_true(err[0] != '\0');
    }
    rec_tracker_config_default(&c);
    c.flush_interval_s = 0;
    struct rec_tracker *t = (void *)1;
    assert_int_equal(rec_tracker_open(&c, x, NULL, NOW, &t, err, sizeof err), REC_EINVAL);
    assert_null(t);
    /* defaults */
    rec_tracker_config_default(&c);
    assert_true(c.window_s == 3600);
    assert_true(c.flush_interval_s == 0.2);
    /* no experiments at all: lists still count online */
    assert_int_equal(rec_tracker_open(&c, NULL, NULL, NOW, &t, err, sizeof err), 0);
    f->t = t;
    char id[REC_TRACKER_ID_LEN + 1];
    const char *l[1] = {"a"};
    assert_int_equal(rec_tracker_served(t, "u", NULL, l, 1, NOW, id), 0);
    click(t, "u", "a", id, NOW + 1);
    online(t, 1, 1, 1);
    struct rec_variant_stats st[1];
    int n;
    assert_int_equal(rec_tracker_stats(t, "e1", st, &n), REC_ENOTFOUND);
    close_tracker(f);
    rec_tracker_close(NULL);
}

int main(void)
{
    rec_log_set_level(REC_LOG_WARN); /* the tracker's and store's info lines; errors still show */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_served_ids_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribution_by_rec_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribution_by_user_item_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rec_id_after_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impressions_purchases_dwell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inserted_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_online_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_user_drops_pending_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_rejects_bad_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
