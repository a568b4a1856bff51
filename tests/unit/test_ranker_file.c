/* The served ranker's file (src/serve/ranker_file.c, ranker_saver.c): a ranker saved and loaded
 * into a new one is ready at once and predicts bit for bit the same, before and after more
 * learning; damaged and mismatched files are refused and leave the ranker as it was; an erasure
 * resets the user's id slot and the saver writes the file again; a stop saves what changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "core/err.h"
#include "core/rand.h"
#include "model/binio.h"
#include "rank/auc.h"
#include "rank/features.h"
#include "rank/fm.h"
#include "serve/engine.h"
#include "serve/pipeline.h"
#include "serve/ranker.h"
#include "serve/ranker_file.h"
#include "test_files.h"
#include "serve/ranker_saver.h"

#define N_USERS 30
#define N_ITEMS 40
#define BITS 12

static char tmpdir[64];
static struct rec_engine *engine;

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_ranker_file.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    struct rec_engine_params p;
    if (rec_app_default_engine_params(&p) || rec_engine_create(&p, NULL, &engine))
        return -1;
    char user[16], item[16];
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(item, sizeof item, "i%d", i);
        if (rec_engine_put_item(engine, item, NULL))
            return -1;
    }
    for (int u = 0; u < N_USERS; u++) {
        snprintf(user, sizeof user, "u%d", u);
        if (rec_engine_put_user(engine, user))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    rec_engine_destroy(engine);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct rec_ranker *open_scaled(int bits, unsigned features, double side_scale)
{
    struct rec_ranker_config c;
    rec_ranker_config_default(&c);
    c.min_examples = 200;
    c.bits = bits;
    c.features = features;
    c.side_scale = side_scale;
    struct rec_ranker *r = NULL;
    char err[256];
    assert_int_equal(rec_ranker_open(&c, &r, err, sizeof err), 0);
    return r;
}

static struct rec_ranker *open_ranker(int bits, unsigned features)
{
    return open_scaled(bits, features, 0);
}

/* n labelled events from a stream where mobile users click even items: clicks, skips and
 * impressions (those become negatives after the window, never in these tests). */
static void learn(struct rec_ranker *r, uint64_t seed, int n)
{
    static const char *ctx[2] = {"{\"device\":\"mobile\",\"hour\":20}",
                                 "{\"device\":\"desktop\",\"hour\":9}"};
    char user[16], item[16];
    for (int k = 0; k < n; k++) {
        int u = (int)(rec_splitmix64(&seed) % N_USERS), i = (int)(rec_splitmix64(&seed) % N_ITEMS);
        int mobile = (int)(rec_splitmix64(&seed) & 1);
        snprintf(user, sizeof user, "u%d", u);
        snprintf(item, sizeof item, "i%d", i);
        uint64_t dice = rec_splitmix64(&seed) % 10;
        int click = (i % 2 == 0) == mobile ? dice < 5 : dice == 0;
        struct rec_event ev = {NULL, user, item, click ? REC_EVENT_CLICK : REC_EVENT_SKIP, 0,
                               1700000000 + k, ctx[mobile], 0, NULL};
        rec_ranker_events(r, engine, &ev, NULL, 1, 1700000000.0 + k);
    }
}

/* The ranker's probabilities for every user x item in both contexts into p. */
static void score_all(struct rec_ranker *r, double *p)
{
    int32_t items[N_ITEMS];
    char name[16];
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(name, sizeof name, "i%d", i);
        items[i] = rec_engine_item_index(engine, name);
    }
    struct rec_context ctx[2] = {{.device = "mobile", .hour = 20, .weekday = 3},
                                 {.device = "desktop", .hour = 9, .weekday = 3}};
    for (int u = 0; u < N_USERS; u++) {
        snprintf(name, sizeof name, "u%d", u);
        for (int c = 0; c < 2; c++) /* single-threaded: no engine writer to lock out */
            rec_ranker_score_locked(r, engine, rec_engine_user_index(engine, name), items, N_ITEMS,
                                    &ctx[c], 1800000000.0, p + (u * 2 + c) * N_ITEMS);
    }
}

static void assert_same_stats(struct rec_ranker *a, struct rec_ranker *b)
{
    struct rec_ranker_stats sa, sb;
    rec_ranker_stats(a, &sa);
    rec_ranker_stats(b, &sb);
    assert_int_equal(sa.examples, sb.examples);
    assert_int_equal(sa.positives, sb.positives);
    assert_int_equal(sa.negatives, sb.negatives);
    assert_int_equal(sa.ready, sb.ready);
    assert_true(sa.auc == sb.auc);
    assert_true(sa.auc_recent == sb.auc_recent);
}

static void assert_same_predictions(struct rec_ranker *a, struct rec_ranker *b)
{
    static double pa[N_USERS * 2 * N_ITEMS], pb[N_USERS * 2 * N_ITEMS];
    score_all(a, pa);
    score_all(b, pb);
    assert_memory_equal(pa, pb, sizeof pa);
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void test_round_trip_serves_the_same(void **state)
{
    struct rec_ranker *a = open_ranker(BITS, REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT);
    learn(a, 1, 1500);
    struct rec_ranker_stats st;
    rec_ranker_stats(a, &st);
    assert_true(st.ready);
    assert_true(st.auc > 0.6); /* it learned something worth keeping */
    char path[128], err[512] = "";
    path_of(path, sizeof path, "models/ranker.bin"); /* the directory is created */
    struct rec_ranker_saved saved;
    assert_int_equal(rec_ranker_save(a, path, &saved, err, sizeof err), 0);
    assert_int_equal(saved.examples, st.examples);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(saved.bytes, sb.st_size);
    /* two tables of 2^12 x 9 floats, the AUC tracker, headers and checksums */
    assert_true(sb.st_size > 2 * 4096 * 9 * 4 + 32000 && sb.st_size < 2 * 4096 * 9 * 4 + 33000);

    struct rec_ranker *b = open_ranker(BITS, REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT);
    rec_ranker_stats(b, &st);
    assert_false(st.ready);
    assert_int_equal(rec_ranker_load(b, path, err, sizeof err), 0);
    assert_true(rec_ranker_ready(b));
    assert_same_stats(a, b);
    assert_same_predictions(a, b);
    /* learning resumes exactly (the AdaGrad accumulators came along) */
    learn(a, 2, 300);
    learn(b, 2, 300);
    assert_same_stats(a, b);
    assert_same_predictions(a, b);
    /* a load does not count as a change to save */
    uint64_t changes, erasures;
    struct rec_ranker *c = open_ranker(BITS, REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT);
    assert_int_equal(rec_ranker_load(c, path, err, sizeof err), 0);
    rec_ranker_changes(c, &changes, &erasures);
    assert_true(changes == 0 && erasures == 0);
    rec_ranker_close(c);
    rec_ranker_close(a);
    rec_ranker_close(b);
}

/* Refused with rc and a message naming the file; r keeps its state (fresh: no examples). */
static void assert_refused(struct rec_ranker *r, const char *path, int rc)
{
    char err[512] = "";
    assert_int_equal(rec_ranker_load(r, path, err, sizeof err), rc);
    assert_non_null(strstr(err, path));
    struct rec_ranker_stats st;
    rec_ranker_stats(r, &st);
    assert_int_equal(st.examples, 0);
}

static void test_damage_is_refused(void **state)
{
    struct rec_ranker *a = open_ranker(10, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    learn(a, 3, 400);
    char path[128], bad[128], err[512];
    path_of(path, sizeof path, "good.bin");
    path_of(bad, sizeof bad, "bad.bin");
    assert_int_equal(rec_ranker_save(a, path, NULL, err, sizeof err), 0);
    rec_ranker_close(a);
    long n;
    unsigned char *b = read_all(path, &n);
    struct rec_ranker *r = open_ranker(10, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    /* a flipped byte anywhere: magic, counts, AUC bins, the model's config and parameters,
     * either checksum */
    int tried = 0;
    for (long at = 0; at < n; at += at < 64 ? 5 : 997) {
        b[at] ^= 0x10;
        write_all(bad, b, n);
        assert_refused(r, bad, REC_EFORMAT);
        b[at] ^= 0x10;
        tried++;
    }
    assert_true(tried > 80);
    b[n - 1] ^= 0x01;
    write_all(bad, b, n);
    assert_refused(r, bad, REC_EFORMAT);
    b[n - 1] ^= 0x01;
    /* truncated (in the header, in the model, just before the last checksum), empty, longer */
    long cuts[] = {20, 20000, n / 2, n - 8, 0};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_all(bad, b, cuts[k]);
        assert_refused(r, bad, REC_EFORMAT);
    }
    b[n] = 0;
    write_all(bad, b, n + 1);
    assert_refused(r, bad, REC_EFORMAT);
    path_of(bad, sizeof bad, "missing.bin");
    assert_refused(r, bad, REC_ENOTFOUND);
    /* the intact file loads */
    assert_int_equal(rec_ranker_load(r, path, err, sizeof err), 0);
    rec_ranker_close(r);
    /* another hash space, another feature mask: REC_EINVAL, saying which */
    r = open_ranker(11, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    assert_refused(r, path, REC_EINVAL);
    assert_int_equal(rec_ranker_load(r, path, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "bits 10"));
    rec_ranker_close(r);
    r = open_ranker(10, REC_FEAT_IDS);
    assert_refused(r, path, REC_EINVAL);
    rec_ranker_close(r);
    /* a model learned with every pair interacting (before across_groups): refused, saying so */
    r = open_ranker(10, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    struct rec_ranker_state st;
    assert_int_equal(rec_ranker_get_state(r, &st, NULL, NULL), 0);
    struct rec_fm_config fc;
    rec_fm_get_config(st.fm, &fc);
    assert_int_equal(fc.across_groups, 1);
    rec_fm_free(st.fm);
    fc.across_groups = 0;
    assert_int_equal(rec_fm_new(&fc, &st.fm), 0);
    assert_int_equal(rec_ranker_set_state(r, &st, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "all-pairs"));
    rec_fm_free(st.fm);
    rec_ranker_close(r);
    /* another side-feature scale: the features' values differ, so refused, saying so */
    r = open_scaled(10, REC_FEAT_IDS | REC_FEAT_CONTEXT, 0.3);
    assert_refused(r, path, REC_EINVAL);
    assert_int_equal(rec_ranker_load(r, path, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "side-feature scale 0, configured 0.3"));
    rec_ranker_close(r);
    free(b);
}

/* A ranker with a side-feature scale predicts from scaled features (not the same as values 1
 * once it has learned), saves the scale and loads back into a ranker with the same scale; a
 * file of format version 1 (no scale field: learned with values 1) loads as scale 0. */
static void test_side_scale_saved(void **state)
{
    struct rec_ranker *a = open_scaled(10, REC_FEAT_IDS | REC_FEAT_CONTEXT, 0.3);
    struct rec_ranker *z = open_ranker(10, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    learn(a, 3, 400);
    learn(z, 3, 400);
    enum { N_P = N_USERS * 2 * N_ITEMS };
    static double pa[N_P], pz[N_P], pb[N_P];
    score_all(a, pa);
    score_all(z, pz);
    int differ = 0;
    for (int i = 0; i < N_P; i++)
        differ += fabs(pa[i] - pz[i]) > 1e-6;
    assert_true(differ > N_P / 2);
    char path[128], err[512];
    path_of(path, sizeof path, "scaled.bin");
    assert_int_equal(rec_ranker_save(a, path, NULL, err, sizeof err), 0);
    struct rec_ranker *b = open_scaled(10, REC_FEAT_IDS | REC_FEAT_CONTEXT, 0.3);
    assert_int_equal(rec_ranker_load(b, path, err, sizeof err), 0);
    score_all(b, pb);
    assert_memory_equal(pa, pb, sizeof pa);
    rec_ranker_close(b);
    rec_ranker_close(a);

    /* version 1: the header without the scale, then the model, as ranker_file.c wrote it */
    struct rec_ranker_state st;
    assert_int_equal(rec_ranker_get_state(z, &st, NULL, NULL), 0);
    path_of(path, sizeof path, "v1.bin");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, (const char[8]){'R', 'E', 'C', 'D', 'R', 'A', 'N', 'K'}, 1);
    rec_binw_u32(&w, st.features);
    rec_binw_u64(&w, (uint64_t)st.positives);
    rec_binw_u64(&w, (uint64_t)st.negatives);
    rec_auc_write(&st.auc, &w);
    assert_int_equal(rec_binw_finish(&w), 0);
    assert_int_equal(rec_fm_write(st.fm, f), 0);
    assert_int_equal(fclose(f), 0);
    rec_fm_free(st.fm);
    b = open_ranker(10, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    assert_int_equal(rec_ranker_load(b, path, err, sizeof err), 0);
    score_all(b, pb);
    assert_memory_equal(pz, pb, sizeof pz);
    rec_ranker_close(b);
    b = open_scaled(10, REC_FEAT_IDS | REC_FEAT_CONTEXT, 0.5);
    assert_int_equal(rec_ranker_load(b, path, err, sizeof err), REC_EINVAL);
    rec_ranker_close(b);
    rec_ranker_close(z);
}

/* A save leaves no temporary file; a stale one (a crash in a save) goes at the next load. */
static void test_no_temporary_left(void **state)
{
    char dir[128], path[160], tmp[180], err[512], cmd[300];
    path_of(dir, sizeof dir, "tmpcheck");
    snprintf(path, sizeof path, "%s/ranker.bin", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct rec_ranker *r = open_ranker(10, REC_FEAT_IDS);
    learn(r, 4, 50);
    assert_int_equal(rec_ranker_save(r, path, NULL, err, sizeof err), 0);
    assert_int_equal(rec_ranker_save(r, path, NULL, err, sizeof err), 0); /* over an existing one */
    snprintf(cmd, sizeof cmd, "test \"$(ls '%s')\" = ranker.bin", dir);
    assert_int_equal(system(cmd), 0);
    write_all(tmp, (const unsigned char *)"partial", 7);
    assert_int_equal(rec_ranker_load(r, path, err, sizeof err), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    rec_ranker_close(r);
}

/* Whether the model row of user's id slot is all zeros. */
static int user_row_zero(const struct rec_ranker_state *st, const char *user)
{
    struct rec_fm_view v;
    rec_fm_params(st->fm, &v);
    const float *row = v.rows + (size_t)rec_fm_hash("user", user, BITS) * (size_t)v.stride;
    for (int f = 0; f < v.stride; f++)
        if (row[f] != 0.0f)
            return 0;
    return 1;
}

static time_t mtime_ns(const char *path, long *ns)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    *ns = sb.st_mtim.tv_nsec;
    return sb.st_mtime;
}

/* An erasure resets the user's id slot in memory, and the saver writes the file again within
 * about a second, though its timer is off; a stop saves what was learned since. */
static void test_erasure_and_saver(void **state)
{
    struct rec_ranker *r = open_ranker(BITS, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    learn(r, 5, 600);
    char path[128], err[512];
    path_of(path, sizeof path, "saver/ranker.bin");
    struct rec_ranker_saver *s = NULL;
    assert_int_equal(rec_ranker_saver_start(r, path, -1, &s, err, sizeof err), REC_EINVAL);
    assert_null(s);
    assert_int_equal(rec_ranker_saver_start(r, path, 0, &s, err, sizeof err), 0);
    usleep(1300 * 1000);
    assert_int_equal(access(path, F_OK), -1); /* learned before the start: not a change */

    static struct rec_ranker_state st;
    assert_int_equal(rec_ranker_get_state(r, &st, NULL, NULL), 0);
    assert_false(user_row_zero(&st, "u7"));
    rec_fm_free(st.fm);
    uint64_t c0, e0, c1, e1;
    rec_ranker_changes(r, &c0, &e0);
    rec_ranker_forget_user(r, "u7");
    rec_ranker_changes(r, &c1, &e1);
    assert_true(c1 == c0 + 1 && e1 == e0 + 1);
    assert_int_equal(rec_ranker_get_state(r, &st, NULL, NULL), 0);
    assert_true(user_row_zero(&st, "u7"));
    assert_false(user_row_zero(&st, "u8"));
    rec_fm_free(st.fm);
    long ns0 = 0, ns1 = 0;
    time_t t0 = 0;
    for (int k = 0; k < 50 && !(t0 = mtime_ns(path, &ns0)); k++)
        usleep(100 * 1000);
    assert_true(t0 > 0);
    struct rec_ranker *l = open_ranker(BITS, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    assert_int_equal(rec_ranker_load(l, path, err, sizeof err), 0);
    assert_same_predictions(r, l);
    rec_ranker_close(l);

    /* learning after that, with the timer off: saved by the stop only */
    learn(r, 6, 100);
    usleep(1300 * 1000);
    assert_true(mtime_ns(path, &ns1) == t0 && ns1 == ns0);
    rec_ranker_saver_stop(s);
    l = open_ranker(BITS, REC_FEAT_IDS | REC_FEAT_CONTEXT);
    assert_int_equal(rec_ranker_load(l, path, err, sizeof err), 0);
    assert_same_stats(r, l);
    assert_same_predictions(r, l);
    rec_ranker_close(l);
    rec_ranker_saver_stop(NULL);
    rec_ranker_close(r);
}

/* With a timer, what is learned is saved within the interval. */
static void test_saver_timer(void **state)
{
    struct rec_ranker *r = open_ranker(10, REC_FEAT_IDS);
    char path[128], err[512];
    path_of(path, sizeof path, "timer.bin");
    struct rec_ranker_saver *s = NULL;
    assert_int_equal(rec_ranker_saver_start(r, path, 1, &s, err, sizeof err), 0);
    learn(r, 7, 300);
    struct rec_ranker_stats want, got = {0};
    rec_ranker_stats(r, &want);
    for (int k = 0; k < 50 && got.examples != want.examples; k++) {
        usleep(100 * 1000);
        /* a load removes PATH.tmp (a crashed save's, at start-up): not while the first save is
         * still writing it (the save then failed, and its retry comes after this loop) */
        if (access(path, F_OK) != 0)
            continue;
        struct rec_ranker *l = open_ranker(10, REC_FEAT_IDS);
        if (rec_ranker_load(l, path, err, sizeof err) == 0)
            rec_ranker_stats(l, &got);
        rec_ranker_close(l);
    }
    assert_int_equal(got.examples, want.examples);
    rec_ranker_saver_stop(s);
    rec_ranker_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_serves_the_same),
        cmocka_unit_test(test_damage_is_refused),
        cmocka_unit_test(test_side_scale_saved),
        cmocka_unit_test(test_no_temporary_left),
        cmocka_unit_test(test_erasure_and_saver),
        cmocka_unit_test(test_saver_timer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
