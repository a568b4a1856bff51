/* Hybrid cold start in the engine (no store): an item without history gets factors from its
 * content and is recommended and listed as similar at once; a user without history but with
 * attributes gets the items of users like them instead of global popularity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "serve/engine.h"

#define N_SCIFI_USERS 20
#define N_ROMANCE_USERS 40 /* romance is globally more popular */
#define BLOCK 12

static const char SCIFI_DOC[] =
    "{\"categories\":[\"scifi\"],\"tags\":[\"space\",\"aliens\"],\"title\":\"Space Film %d\"}";
static const char ROMANCE_DOC[] =
    "{\"categories\":[\"romance\"],\"tags\":[\"love\",\"paris\"],\"title\":\"Love Story %d\"}";
static const char SCIFI_USER[] = "{\"attributes\":{\"country\":\"SE\",\"age\":29}}";
static const char ROMANCE_USER[] = "{\"attributes\":{\"country\":\"FR\",\"age\":61}}";

static int64_t seq, ts = 1700000000;

static void add(struct rec_engine *e, const char *user, const char *item)
{
    struct rec_event ev = {NULL, user, item, REC_EVENT_VIEW, 0, ts++, NULL, ++seq, NULL};
    assert_int_equal(rec_engine_apply_events(e, &ev, 1, NULL), 0);
}

static void put_item(struct rec_engine *e, const char *id, const char *fmt, int n)
{
    char doc[256];
    snprintf(doc, sizeof doc, fmt, n);
    assert_int_equal(rec_engine_put_item_doc(e, id, NULL, doc), 0);
}

/* s0..s11 (scifi) watched by users sf0..sf19 from Sweden, r0..r11 (romance) by rm0..rm39 from
 * France; each user skips a quarter. "s-pre" is a scifi item with a doc and no events. */
static struct rec_engine *two_clusters(void)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.knn_shrink = 1.0f;
    p.als.factors = 8;
    p.als.iters = 10;
    p.als.threads = 1;
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), 0);
    char id[32], title[64];
    for (int i = 0; i < BLOCK; i++) {
        snprintf(id, sizeof id, "s%d", i);
        put_item(e, id, SCIFI_DOC, i);
        snprintf(id, sizeof id, "r%d", i);
        put_item(e, id, ROMANCE_DOC, i);
    }
    put_item(e, "s-pre", SCIFI_DOC, 99);
    for (int u = 0; u < N_SCIFI_USERS + N_ROMANCE_USERS; u++) {
        int scifi = u < N_SCIFI_USERS;
        snprintf(id, sizeof id, scifi ? "sf%d" : "rm%d", u);
        assert_int_equal(rec_engine_put_user_doc(e, id, scifi ? SCIFI_USER : ROMANCE_USER), 0);
        for (int i = 0; i < BLOCK; i++) {
            if ((i + u) % 4 == 0)
                continue;
            snprintf(title, sizeof title, "%c%d", scifi ? 's' : 'r', i);
            add(e, id, title);
        }
    }
    assert_int_equal(rec_engine_train_now(e), 0);
    return e;
}

/* Rank of id in r[0..n), or -1. */
static int rank_of(const struct rec_result *r, int n, const char *id)
{
    for (int j = 0; j < n; j++)
        if (!strcmp(r[j].id, id))
            return j;
    return -1;
}

static int count_prefix(const struct rec_result *r, int n, char c)
{
    int k = 0;
    for (int j = 0; j < n; j++)
        k += r[j].id[0] == c;
    return k;
}

static void test_new_item_is_recommended_at_once(void **state)
{
    struct rec_engine *e = two_clusters();
    put_item(e, "s-new", SCIFI_DOC, 100); /* after the model: no training in between */
    struct rec_result r[6];
    int got;
    const char *model;
    int found = 0, found_pre = 0;
    for (int u = 0; u < N_SCIFI_USERS; u++) {
        char user[32];
        snprintf(user, sizeof user, "sf%d", u);
        assert_int_equal(rec_engine_recommend(e, user, 6, r, &got, &model), 0);
        int k = rank_of(r, got, "s-new");
        found += k >= 0;
        if (k >= 0) {
            assert_int_equal(r[k].source, REC_SOURCE_ALS);
            assert_non_null(strstr(r[k].reason, "new: like Space Film"));
            assert_true(r[k].because[0] == 's');
        }
        found_pre += rank_of(r, got, "s-pre") >= 0; /* cold at publish time */
    }
    assert_true(found >= N_SCIFI_USERS * 3 / 4);
    assert_true(found_pre >= N_SCIFI_USERS * 3 / 4);
    for (int u = N_SCIFI_USERS; u < N_SCIFI_USERS + N_ROMANCE_USERS; u++) {
        char user[32];
        snprintf(user, sizeof user, "rm%d", u);
        assert_int_equal(rec_engine_recommend(e, user, 6, r, &got, &model), 0);
        assert_int_equal(rank_of(r, got, "s-new"), -1); /* not pushed to everybody */
        assert_int_equal(rank_of(r, got, "s-pre"), -1);
    }
    rec_engine_destroy(e);
}

/* The cold weight: at 0 cold items leave the iALS list (per request, or as the engine's
 * setting); in between they keep their place among themselves. */
static void test_cold_weight(void **state)
{
    struct rec_engine *e = two_clusters();
    put_item(e, "s-new", SCIFI_DOC, 100);
    struct rec_request_opts o;
    rec_request_opts_default(&o);
    int32_t items[8], n_new = rec_engine_item_index(e, "s-new"), n_pre = rec_engine_item_index(e, "s-pre");
    assert_true(n_new >= 0 && n_pre >= 0);
    int with = 0, without = 0, half = 0;
    for (int u = 0; u < N_SCIFI_USERS; u++) {
        char user[32];
        snprintf(user, sizeof user, "sf%d", u);
        int32_t ui = rec_engine_user_index(e, user);
        int got;
        for (int pass = 0; pass < 3; pass++) {
            o.cold_weight = pass == 0 ? -1.0f : pass == 1 ? 0.0f : 0.5f;
            assert_int_equal(rec_engine_recommend_idx(e, ui, 6, REC_MODE_ALS, &o, items, &got), 0);
            int hit = 0;
            for (int r = 0; r < got; r++)
                hit += items[r] == n_new || items[r] == n_pre;
            *(pass == 0 ? &with : pass == 1 ? &without : &half) += hit;
        }
    }
    assert_true(with >= N_SCIFI_USERS * 3 / 2); /* both, for most scifi users (as above) */
    assert_int_equal(without, 0);
    assert_true(half <= with);
    rec_engine_destroy(e);

    /* the engine's own setting (--cold-weight 0 is cold_damping 1) */
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    assert_true(p.cold_damping == 0.0f); /* --cold-weight 1 by default */
    p.cold_damping = 1.5f;
    e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), REC_EINVAL);
    assert_null(e);
}

static void test_new_item_in_similar_lists(void **state)
{
    struct rec_engine *e = two_clusters();
    put_item(e, "s-new", SCIFI_DOC, 100);
    put_item(e, "odd", "{\"title\":\"Zyzzyva Quux %d\"}", 1); /* no term in common */
    struct rec_result r[10];
    int got, listed = 0;
    for (int i = 0; i < BLOCK; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%d", i);
        assert_int_equal(rec_engine_similar(e, id, 10, r, &got), 0);
        assert_int_equal(got, 10);
        int k = rank_of(r, got, "s-new");
        if (k >= 0) {
            listed++;
            assert_int_equal(r[k].source, REC_SOURCE_ALS);
            assert_non_null(strstr(r[k].reason, "new: like Space Film"));
        }
        assert_true(count_prefix(r, got, 's') >= 9);
        assert_int_equal(rank_of(r, got, "odd"), -1);
        snprintf(id, sizeof id, "r%d", i);
        assert_int_equal(rec_engine_similar(e, id, 10, r, &got), 0);
        assert_int_equal(rank_of(r, got, "s-new"), -1);
        assert_int_equal(rank_of(r, got, "s-pre"), -1);
    }
    assert_true(listed >= BLOCK * 3 / 4);

    /* a cold item's own list: its look-alikes, not a 404 or nothing */
    assert_int_equal(rec_engine_similar(e, "s-new", 5, r, &got), 0);
    assert_int_equal(got, 5);
    assert_int_equal(count_prefix(r, got, 's'), 5);
    assert_int_equal(rec_engine_similar(e, "s-pre", 5, r, &got), 0);
    assert_int_equal(count_prefix(r, got, 's'), 5);
    assert_int_equal(rank_of(r, got, "s-pre"), -1);
    /* nothing alike: no factors, so an empty list rather than noise */
    assert_int_equal(rec_engine_similar(e, "odd", 5, r, &got), 0);
    assert_int_equal(got, 0);

    /* new items take at most a fifth of a list with co-occurrence neighbours */
    for (int j = 0; j < 6; j++) {
        char id[32];
        snprintf(id, sizeof id, "s-more%d", j);
        put_item(e, id, SCIFI_DOC, 200 + j);
    }
    assert_int_equal(rec_engine_similar(e, "s3", 10, r, &got), 0);
    assert_int_equal(got, 10);
    int n_new = 0;
    for (int j = 0; j < got; j++)
        n_new += strchr(r[j].id, '-') != NULL;
    assert_int_equal(n_new, 2);
    rec_engine_destroy(e);
}

static void test_redescribed_item_moves(void **state)
{
    struct rec_engine *e = two_clusters();
    put_item(e, "flip", SCIFI_DOC, 7);
    struct rec_result r[5];
    int got;
    assert_int_equal(rec_engine_similar(e, "flip", 5, r, &got), 0);
    assert_int_equal(count_prefix(r, got, 's'), 5);
    put_item(e, "flip", ROMANCE_DOC, 7);
    assert_int_equal(rec_engine_similar(e, "flip", 5, r, &got), 0);
    assert_int_equal(count_prefix(r, got, 'r'), 5);
    /* a doc without content fields takes the factors away */
    assert_int_equal(rec_engine_put_item_doc(e, "flip", NULL, "{\"id\":\"flip\"}"), 0);
    assert_int_equal(rec_engine_similar(e, "flip", 5, r, &got), 0);
    assert_int_equal(got, 0);
    rec_engine_destroy(e);
}

static void test_history_takes_over_after_training(void **state)
{
    struct rec_engine *e = two_clusters();
    put_item(e, "s-new", SCIFI_DOC, 100);
    char user[32];
    for (int u = 0; u < N_SCIFI_USERS; u += 2) {
        snprintf(user, sizeof user, "sf%d", u);
        add(e, user, "s-new");
    }
    assert_int_equal(rec_engine_train_now(e), 0);
    struct rec_result r[6];
    int got, found = 0;
    const char *model;
    for (int u = 1; u < N_SCIFI_USERS; u += 2) {
        snprintf(user, sizeof user, "sf%d", u);
        assert_int_equal(rec_engine_recommend(e, user, 6, r, &got, &model), 0);
        int k = rank_of(r, got, "s-new");
        found += k >= 0;
        if (k >= 0)
            assert_null(strstr(r[k].reason, "new:")); /* trained factors now */
    }
    assert_true(found >= N_SCIFI_USERS / 4);
    rec_engine_destroy(e);
}

static void test_user_attributes_over_popularity(void **state)
{
    struct rec_engine *e = two_clusters();
    struct rec_result r[8];
    int got;
    const char *model;
    /* global popularity is romance */
    assert_int_equal(rec_engine_recommend(e, "plain", 8, r, &got, &model), 0);
    assert_string_equal(model, "popular");
    assert_true(count_prefix(r, got, 'r') >= 7);

    assert_int_equal(rec_engine_put_user_doc(e, "newbie", SCIFI_USER), 0);
    assert_int_equal(rec_engine_recommend(e, "newbie", 8, r, &got, &model), 0);
    assert_int_equal(got, 8);
    assert_string_equal(model, "attributes");
    assert_true(count_prefix(r, got, 's') >= 7);
    assert_string_equal(r[0].reason, "popular with people like you");
    assert_int_equal(r[0].source, REC_SOURCE_POPULAR);

    /* a user doc without attributes changes nothing */
    assert_int_equal(rec_engine_put_user_doc(e, "bare", "{\"attributes\":{}}"), 0);
    assert_int_equal(rec_engine_recommend(e, "bare", 8, r, &got, &model), 0);
    assert_string_equal(model, "popular");

    /* once they have history the normal pipeline takes over */
    add(e, "newbie", "r3");
    assert_int_equal(rec_engine_recommend(e, "newbie", 8, r, &got, &model), 0);
    assert_string_equal(model, "hybrid");
    assert_true(count_prefix(r, got, 'r') >= 6);
    rec_engine_destroy(e);
}

/* Without any document the engine behaves as before: no content or attribute model. */
static void test_no_docs_no_change(void **state)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.als.factors = 4;
    p.als.threads = 1;
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), 0);
    add(e, "a", "x");
    add(e, "a", "y");
    add(e, "b", "x");
    assert_int_equal(rec_engine_put_item(e, "z", "Zed"), 0);
    assert_int_equal(rec_engine_put_user(e, "c"), 0);
    assert_int_equal(rec_engine_train_now(e), 0);
    struct rec_result r[4];
    int got;
    const char *model;
    assert_int_equal(rec_engine_recommend(e, "c", 4, r, &got, &model), 0);
    assert_string_equal(model, "popular");
    assert_int_equal(rec_engine_similar(e, "z", 4, r, &got), 0);
    assert_int_equal(got, 0);
    rec_engine_destroy(e);
}

/* Readers and item puts while training publishes (run under -fsanitize=thread). */
struct reader_arg {
    struct rec_engine *e;
    int stop;
    pthread_mutex_t mu;
};

static int should_stop(struct reader_arg *a)
{
    pthread_mutex_lock(&a->mu);
    int s = a->stop;
    pthread_mutex_unlock(&a->mu);
    return s;
}

static void *reader(void *arg)
{
    struct reader_arg *a = arg;
    struct rec_result r[10];
    int got, n = 0;
    const char *model;
    char id[32];
    while (!should_stop(a) || n < 20) {
        snprintf(id, sizeof id, "sf%d", n % N_SCIFI_USERS);
        if (rec_engine_recommend(a->e, id, 10, r, &got, &model) ||
            rec_engine_similar(a->e, "s1", 10, r, &got) ||
            rec_engine_similar(a->e, "s-pre", 10, r, &got) ||
            rec_engine_recommend(a->e, "newbie", 10, r, &got, &model))
            return (void *)1;
        n++;
    }
    return NULL;
}

static void test_concurrent_publish(void **state)
{
    struct rec_engine *e = two_clusters();
    assert_int_equal(rec_engine_put_user_doc(e, "newbie", SCIFI_USER), 0);
    struct reader_arg a = {e, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, reader, &a), 0);
    char id[32];
    for (int run = 0; run < 3; run++) {
        for (int j = 0; j < 5; j++) {
            snprintf(id, sizeof id, "c%d-%d", run, j);
            put_item(e, id, j % 2 ? ROMANCE_DOC : SCIFI_DOC, j);
        }
        add(e, "sf1", "r1");
        assert_int_equal(rec_engine_train_now(e), 0);
    }
    pthread_mutex_lock(&a.mu);
    a.stop = 1;
    pthread_mutex_unlock(&a.mu);
    for (int t = 0; t < 2; t++) {
        void *ret;
        pthread_join(th[t], &ret);
        assert_null(ret);
    }
    struct rec_result r[5];
    int got;
    assert_int_equal(rec_engine_similar(e, "c2-0", 5, r, &got), 0);
    assert_int_equal(got, 5);
    assert_int_equal(count_prefix(r, got, 'r'), 0);
    rec_engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_weight),
        cmocka_unit_test(test_new_item_is_recommended_at_once),
        cmocka_unit_test(test_new_item_in_similar_lists),
        cmocka_unit_test(test_redescribed_item_moves),
        cmocka_unit_test(test_history_takes_over_after_training),
        cmocka_unit_test(test_user_attributes_over_popularity),
        cmocka_unit_test(test_no_docs_no_change),
        cmocka_unit_test(test_concurrent_publish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
