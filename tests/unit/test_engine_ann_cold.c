/* The approximate index and the cold set (serve/ann_cold.c, serve/recommend.c): an item without
 * history but with content factors is in the index from its build, so a request scores it
 * there and not beside it; what changes after the build (a re-described item, a new one, one
 * whose factors went) is scored exactly beside the index; a request with another cold weight
 * than the index's scores every cold item exactly. In each case the list is the exact scan's
 * (every list of the index probed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "serve/engine.h"

#define USERS 24
#define BLOCK 10
#define N 8

static const char SCIFI_DOC[] =
    "{\"categories\":[\"scifi\"],\"tags\":[\"space\",\"aliens\"],\"title\":\"Space Film %d\"}";
static const char ROMANCE_DOC[] =
    "{\"categories\":[\"romance\"],\"tags\":[\"love\",\"paris\"],\"title\":\"Love Story %d\"}";

static int64_t seq, ts = 1700000000;

static void put_item(struct rec_engine *e, const char *id, const char *fmt, int n)
{
    char doc[256];
    snprintf(doc, sizeof doc, fmt, n);
    assert_int_equal(rec_engine_put_item_doc(e, id, NULL, doc), 0);
}

/* Two clusters of items with docs (s*, r*), half the users in each; "s-pre" and "r-pre" have
 * docs and no events (cold at training). min_items 0: no index; else an index of 4 lists. */
static struct rec_engine *engine_damped(int min_items, float cold_damping)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.als.factors = 8;
    p.als.iters = 10;
    p.als.threads = 1;
    p.ann_min_items = min_items;
    p.ann_lists = 4;
    p.ann_nprobe = 4;
    p.cold_damping = cold_damping;
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), 0);
    char id[32], user[32];
    for (int i = 0; i < BLOCK; i++) {
        snprintf(id, sizeof id, "s%d", i);
        put_item(e, id, SCIFI_DOC, i);
        snprintf(id, sizeof id, "r%d", i);
        put_item(e, id, ROMANCE_DOC, i);
    }
    put_item(e, "s-pre", SCIFI_DOC, 99);
    put_item(e, "r-pre", ROMANCE_DOC, 99);
    for (int u = 0; u < USERS; u++) {
        snprintf(user, sizeof user, "u%d", u);
        for (int i = 0; i < BLOCK; i++) {
            if ((i + u) % 3 == 0)
                continue;
            snprintf(id, sizeof id, "%c%d", u % 2 ? 's' : 'r', i);
            struct rec_event ev = {NULL, user, id, REC_EVENT_VIEW, 0, ts++, NULL, ++seq, NULL};
            assert_int_equal(rec_engine_apply_events(e, &ev, 1, NULL), 0);
        }
    }
    assert_int_equal(rec_engine_train_now(e), 0);
    return e;
}

static struct rec_engine *engine(int min_items)
{
    return engine_damped(min_items, 0.0f);
}

/* The iALS list of every user from the exact engine and the indexed one agree (items tie up to
 * rounding: scores compared rank by rank); returns the indexed requests' largest ann_exact. */
static int same_lists(struct rec_engine *exact, struct rec_engine *ann, float cold_weight)
{
    int most_exact = 0;
    for (int u = 0; u < USERS; u++) {
        char user[32];
        snprintf(user, sizeof user, "u%d", u);
        struct rec_result want[N], got[N];
        int n1 = 0, n2 = 0;
        const char *model;
        struct rec_request_opts o1, o2;
        rec_request_opts_default(&o1);
        o1.mode = REC_MODE_ALS;
        o1.cold_weight = cold_weight;
        o2 = o1;
        assert_int_equal(rec_engine_recommend_opts(exact, user, N, &o1, want, &n1, &model), 0);
        assert_int_equal(rec_engine_recommend_opts(ann, user, N, &o2, got, &n2, &model), 0);
        assert_int_equal(o1.als_search, 1);
        assert_int_equal(o2.als_search, 2);
        assert_int_equal(n1, n2);
        for (int j = 0; j < n1; j++)
            assert_true(fabs(want[j].score - got[j].score) <= 1e-5 * (1 + fabs(want[j].score)));
        if (o2.ann_exact > most_exact)
            most_exact = o2.ann_exact;
    }
    return most_exact;
}

/* Where id ranks for user (iALS list), -1 when absent. */
static int rank_for(struct rec_engine *e, const char *user, const char *id)
{
    struct rec_result r[N];
    int n = 0;
    const char *model;
    struct rec_request_opts o;
    rec_request_opts_default(&o);
    o.mode = REC_MODE_ALS;
    assert_int_equal(rec_engine_recommend_opts(e, user, N, &o, r, &n, &model), 0);
    for (int j = 0; j < n; j++)
        if (!strcmp(r[j].id, id))
            return j;
    return -1;
}

static void test_cold_items_in_the_index(void **state)
{
    (void)state;
    struct rec_engine *exact = engine(0), *ann = engine(1);
    /* the cold items are in the index: nothing is scored beside it */
    assert_int_equal(same_lists(exact, ann, -1.0f), 0);
    assert_true(rank_for(ann, "u1", "s-pre") >= 0); /* u1 watches scifi: its cold item shows */
    /* another cold weight than the index's: the two cold items exactly */
    assert_int_equal(same_lists(exact, ann, 0.5f), 2);
    assert_int_equal(same_lists(exact, ann, 0.0f), 0); /* at 0 none is scored */
    assert_true(rank_for(ann, "u1", "s-pre") >= 0);
    rec_engine_destroy(exact);
    rec_engine_destroy(ann);
    /* the index's cold rows carry the engine's cold weight (here 0.5) */
    exact = engine_damped(0, 0.5f);
    ann = engine_damped(1, 0.5f);
    assert_int_equal(same_lists(exact, ann, -1.0f), 0);
    assert_int_equal(same_lists(exact, ann, 1.0f), 2);
    rec_engine_destroy(exact);
    rec_engine_destroy(ann);
}

static void test_changes_after_the_build(void **state)
{
    (void)state;
    struct rec_engine *exact = engine(0), *ann = engine(1);
    /* re-described: its factors move to the other cluster, the index still has the old ones */
    put_item(exact, "s-pre", ROMANCE_DOC, 50);
    put_item(ann, "s-pre", ROMANCE_DOC, 50);
    assert_int_equal(same_lists(exact, ann, -1.0f), 1);
    assert_true(rank_for(ann, "u0", "s-pre") >= 0); /* romance watchers get it now */
    /* a new item: not in the index at all */
    put_item(exact, "s-new", SCIFI_DOC, 51);
    put_item(ann, "s-new", SCIFI_DOC, 51);
    assert_int_equal(same_lists(exact, ann, -1.0f), 2);
    assert_true(rank_for(ann, "u1", "s-new") >= 0);
    /* a doc without content fields takes r-pre's factors away: the index must not offer it */
    assert_int_equal(rec_engine_put_item_doc(exact, "r-pre", NULL, "{\"id\":\"r-pre\"}"), 0);
    assert_int_equal(rec_engine_put_item_doc(ann, "r-pre", NULL, "{\"id\":\"r-pre\"}"), 0);
    assert_int_equal(same_lists(exact, ann, -1.0f), 2); /* logged; not scored: no factors */
    /* changed again: still logged once */
    put_item(ann, "s-pre", SCIFI_DOC, 52);
    put_item(exact, "s-pre", SCIFI_DOC, 52);
    assert_int_equal(same_lists(exact, ann, -1.0f), 2);
    /* a retrain's index has the current factors: nothing beside it again */
    assert_int_equal(rec_engine_train_now(exact), 0);
    assert_int_equal(rec_engine_train_now(ann), 0);
    assert_int_equal(same_lists(exact, ann, -1.0f), 0);
    assert_true(rank_for(ann, "u1", "s-new") >= 0);
    rec_engine_destroy(exact);
    rec_engine_destroy(ann);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_items_in_the_index),
        cmocka_unit_test(test_changes_after_the_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
