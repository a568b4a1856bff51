/* The engine without a store: recommendations follow tastes, react to each event at once,
 * respect deletions and dislikes, and explain themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "app/app.h"
#include "serve/engine.h"
#include "serve/pipeline.h"

#define N_USERS 60
#define BLOCK 12

static struct rec_engine *make_engine(void)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.knn_shrink = 1.0f; /* a tiny catalog: little shrinkage */
    p.als.factors = 8;
    p.als.iters = 10;
    p.als.threads = 1;
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(&p, NULL, &e), 0);
    return e;
}

static void add(struct rec_engine *e, const char *user, const char *item, int type, int64_t ts)
{
    static int64_t seq;
    struct rec_event ev = {NULL, user, item, type, 0, ts, NULL, ++seq, NULL};
    assert_int_equal(rec_engine_apply_events(e, &ev, 1, NULL), 0);
}

/* Users u0..u29 like items a0..a11, users u30..u59 like b0..b11; each skips a few. */
static struct rec_engine *two_tastes(void)
{
    struct rec_engine *e = make_engine();
    char user[16], item[16];
    int64_t ts = 1700000000;
    for (int u = 0; u < N_USERS; u++) {
        snprintf(user, sizeof user, "u%d", u);
        for (int i = 0; i < BLOCK; i++) {
            if ((i + u) % 4 == 0)
                continue; /* leave holes to recommend */
            snprintf(item, sizeof item, "%c%d", u < N_USERS / 2 ? 'a' : 'b', i);
            add(e, user, item, REC_EVENT_VIEW, ts++);
        }
    }
    /* a little cross-traffic so popularity alone is not the answer */
    add(e, "u0", "b0", REC_EVENT_VIEW, ts++);
    add(e, "u31", "a0", REC_EVENT_VIEW, ts++);
    for (int i = 0; i < BLOCK; i++) {
        snprintf(item, sizeof item, "a%d", i);
        assert_int_equal(rec_engine_put_item(e, item, i == 1 ? "Alpha One" : NULL), 0);
    }
    assert_int_equal(rec_engine_train_now(e), 0);
    return e;
}

static int count_prefix(const struct rec_result *r, int n, char c)
{
    int k = 0;
    for (int j = 0; j < n; j++)
        k += r[j].id[0] == c;
    return k;
}

static void test_follows_taste(void **state)
{
    struct rec_engine *e = two_tastes();
    struct rec_result r[5];
    int got;
    const char *model;
    assert_int_equal(rec_engine_recommend(e, "u2", 3, r, &got, &model), 0);
    assert_int_equal(got, 3);
    assert_string_equal(model, "hybrid");
    assert_int_equal(count_prefix(r, got, 'a'), 3);
    for (int j = 0; j < got; j++) {
        assert_non_null(strstr(r[j].reason, "because you viewed"));
        assert_true(r[j].because[0] == 'a');
    }
    assert_int_equal(rec_engine_recommend(e, "u40", 3, r, &got, &model), 0);
    assert_int_equal(count_prefix(r, got, 'b'), 3);
    /* a seen item is never recommended */
    struct rec_user_info info;
    assert_int_equal(rec_engine_user_info(e, "u40", 64, &info), 0);
    for (int j = 0; j < got; j++)
        for (int k = 0; k < info.n_recent; k++)
            assert_string_not_equal(r[j].id, info.recent[k].item);
    rec_engine_destroy(e);
}

static void test_new_user_gets_popular_then_personal(void **state)
{
    struct rec_engine *e = two_tastes();
    struct rec_result r[5];
    int got;
    const char *model;
    assert_int_equal(rec_engine_recommend(e, "stranger", 5, r, &got, &model), 0);
    assert_int_equal(got, 5);
    assert_string_equal(model, "popular");
    assert_string_equal(r[0].reason, "popular now");

    /* one event: the very next request is personal, no retrain in between */
    add(e, "stranger", "b3", REC_EVENT_PURCHASE, 1800000000);
    assert_int_equal(rec_engine_recommend(e, "stranger", 5, r, &got, &model), 0);
    assert_string_equal(model, "hybrid");
    assert_true(count_prefix(r, got, 'b') >= 4);
    for (int j = 0; j < got; j++)
        assert_string_not_equal(r[j].id, "b3");
    rec_engine_destroy(e);
}

static void test_deleted_and_disliked_items_disappear(void **state)
{
    struct rec_engine *e = two_tastes();
    struct rec_result r[5], r2[5];
    int got, got2;
    const char *model;
    assert_int_equal(rec_engine_recommend(e, "u1", 5, r, &got, &model), 0);
    assert_true(got > 1);
    char top[REC_ID_MAX + 1], second[REC_ID_MAX + 1];
    snprintf(top, sizeof top, "%s", r[0].id);
    snprintf(second, sizeof second, "%s", r[1].id);
    assert_int_equal(rec_engine_delete_item(e, top), 0);
    assert_int_equal(rec_engine_delete_item(e, top), REC_ENOTFOUND);
    add(e, "u1", second, REC_EVENT_DISLIKE, 1800000001);
    assert_int_equal(rec_engine_recommend(e, "u1", 5, r2, &got2, &model), 0);
    for (int j = 0; j < got2; j++) {
        assert_string_not_equal(r2[j].id, top);
        assert_string_not_equal(r2[j].id, second);
    }
    static struct rec_result pop[50];
    assert_int_equal(rec_engine_popular(e, 50, pop, &got2), 0);
    assert_true(got2 > 10);
    for (int j = 0; j < got2; j++) {
        assert_string_not_equal(pop[j].id, top);
        assert_string_equal(pop[j].kind, "trending_in");
        assert_string_equal(pop[j].reason, "trending now"); /* no categories here */
        assert_string_equal(pop[j].because, "");
    }
    rec_engine_destroy(e);
}

static void test_similar_and_user_delete(void **state)
{
    struct rec_engine *e = two_tastes();
    struct rec_result r[5];
    int got;
    assert_int_equal(rec_engine_similar(e, "a1", 5, r, &got), 0);
    assert_int_equal(got, 5);
    assert_true(count_prefix(r, got, 'a') >= 4);
    assert_non_null(strstr(r[0].reason, "Alpha One"));
    for (int j = 0; j < got; j++) { /* co-occurrence neighbours; the evidence is the query item */
        assert_string_equal(r[j].kind, "often_together_with");
        assert_string_equal(r[j].because, "a1");
    }
    assert_int_equal(rec_engine_similar(e, "nope", 5, r, &got), REC_ENOTFOUND);

    struct rec_engine_status before, after;
    rec_engine_status(e, &before);
    assert_int_equal(before.n_users, N_USERS);
    assert_true(before.als.present);
    assert_int_equal(rec_engine_delete_user(e, "u5"), 0);
    assert_int_equal(rec_engine_delete_user(e, "u5"), REC_ENOTFOUND);
    rec_engine_status(e, &after);
    assert_int_equal(after.n_users, N_USERS - 1);
    assert_true(after.n_events < before.n_events);
    assert_int_equal(rec_engine_user_index(e, "u5"), -1);
    struct rec_user_info info;
    assert_int_equal(rec_engine_user_info(e, "u5", 10, &info), REC_ENOTFOUND);
    rec_engine_destroy(e);
}

/* Regression: deleting a user must take back exactly what that user added to the shared
 * co-occurrence counts and popularity, even when an item entered their history late (after a
 * dislike) or their events lie far apart in time. */
static void test_user_delete_takes_back_exactly_its_share(void **state)
{
    struct rec_engine *e = make_engine();
    add(e, "kA", "kX", REC_EVENT_DISLIKE, 1000);
    add(e, "kA", "kY", REC_EVENT_LIKE, 1001);
    add(e, "kA", "kX", REC_EVENT_LIKE, 1002);
    add(e, "kA", "kX", REC_EVENT_LIKE, 1003);
    add(e, "kB", "kX", REC_EVENT_LIKE, 1004);
    add(e, "kB", "kY", REC_EVENT_LIKE, 1005);
    struct rec_result r[4];
    int got;
    assert_int_equal(rec_engine_similar(e, "kX", 1, r, &got), 0);
    assert_int_equal(got, 1);
    assert_string_equal(r[0].id, "kY");
    assert_int_equal(rec_engine_delete_user(e, "kA"), 0);
    assert_int_equal(rec_engine_similar(e, "kX", 1, r, &got), 0);
    assert_int_equal(got, 1); /* kB still saw both */
    assert_string_equal(r[0].id, "kY");

    /* popularity: pP's old purchase has decayed; taking it back must not sink pQ's like */
    add(e, "pP", "pW", REC_EVENT_PURCHASE, 1000);
    add(e, "pP", "pW", REC_EVENT_VIEW, 13000000);
    add(e, "pQ", "pW", REC_EVENT_LIKE, 13000000);
    assert_int_equal(rec_engine_delete_user(e, "pP"), 0);
    static struct rec_result pop[16];
    assert_int_equal(rec_engine_popular(e, 16, pop, &got), 0);
    int found = 0;
    for (int j = 0; j < got; j++)
        if (!strcmp(pop[j].id, "pW")) {
            found = 1;
            assert_true(pop[j].score > 3.99 && pop[j].score < 4.01); /* pQ's like, weight 4 */
        }
    assert_true(found);
    rec_engine_destroy(e);
}

static void test_modes_for_eval(void **state)
{
    struct rec_engine *e = two_tastes();
    int32_t items[4];
    int got;
    int32_t u = rec_engine_user_index(e, "u3");
    for (int mode = REC_MODE_HYBRID; mode <= REC_MODE_ALS; mode++) {
        assert_int_equal(rec_engine_recommend_idx(e, u, 4, mode, NULL, items, &got), 0);
        assert_int_equal(got, 4);
    }
    rec_engine_destroy(e);
}

/* Requests reuse per-item memory (serve/scratch.h): what one request accumulated (kNN sums,
 * fused scores, its user's seen items, its exclusions) must not leak into the next one. Each
 * user's list is compared with the same user's list asked first, before any other request. */
static void assert_same_results(const struct rec_result *a, const struct rec_result *b, int n)
{
    for (int j = 0; j < n; j++) {
        assert_string_equal(a[j].id, b[j].id);
        assert_true(a[j].score == b[j].score);
        assert_int_equal(a[j].source, b[j].source);
        assert_string_equal(a[j].because, b[j].because);
        assert_string_equal(a[j].reason, b[j].reason);
    }
}

static int pipeline_ids(struct rec_engine *e, const char *user, const char *const *exclude,
                        int n_exclude, char ids[][REC_ID_MAX + 1])
{
    struct rec_pipeline_config pc;
    rec_pipeline_config_default(&pc);
    struct rec_pipeline_request rq = {.user = user, .n = 6, .diversity = 0, .exclude = exclude,
                                      .n_exclude = n_exclude, .now = 2e9};
    rec_request_opts_default(&rq.opts);
    rq.ctx.hour = rq.ctx.weekday = -1;
    struct rec_pick picks[6];
    struct rec_pipeline_result res;
    assert_int_equal(rec_pipeline_run(e, &pc, &rq, picks, &res), 0);
    for (int j = 0; j < res.n; j++)
        memcpy(ids[j], picks[j].id, sizeof picks[j].id);
    return res.n;
}

static void test_requests_leave_no_state(void **state)
{
    struct rec_engine *e = two_tastes();
    const char *users[] = {"u2", "u40", "u0", "u31", "new-user"};
    enum { N_U = 5, N = 6 };
    struct rec_result first[N_U][N], again[N];
    int n_first[N_U], got;
    const char *model;
    for (int k = 0; k < N_U; k++)
        assert_int_equal(rec_engine_recommend(e, users[k], N, first[k], &n_first[k], &model), 0);
    /* every other order: each list as it was when asked first */
    for (int round = 0; round < 3; round++)
        for (int k = N_U - 1; k >= 0; k--) {
            assert_int_equal(rec_engine_recommend(e, users[k], N, again, &got, &model), 0);
            assert_int_equal(got, n_first[k]);
            assert_same_results(first[k], again, got);
        }
    /* a request's exclusions end with it */
    char before[N][REC_ID_MAX + 1], excluded[N][REC_ID_MAX + 1], after[N][REC_ID_MAX + 1];
    int n_before = pipeline_ids(e, "u2", NULL, 0, before);
    assert_true(n_before > 1);
    const char *ex[] = {before[0]};
    int n_ex = pipeline_ids(e, "u2", ex, 1, excluded);
    for (int j = 0; j < n_ex; j++)
        assert_string_not_equal(excluded[j], before[0]);
    int n_after = pipeline_ids(e, "u2", NULL, 0, after);
    assert_int_equal(n_after, n_before);
    for (int j = 0; j < n_after; j++)
        assert_string_equal(after[j], before[j]);
    rec_engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_taste),
        cmocka_unit_test(test_new_user_gets_popular_then_personal),
        cmocka_unit_test(test_deleted_and_disliked_items_disappear),
        cmocka_unit_test(test_similar_and_user_delete),
        cmocka_unit_test(test_user_delete_takes_back_exactly_its_share),
        cmocka_unit_test(test_modes_for_eval),
        cmocka_unit_test(test_requests_leave_no_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
