/* test_blend_learn.c: blend weights learned on validation carves (eval/blend_learn.c): on one
 * carve a source that happens to fit that carve's held-out item takes weight; averaged over
 * three carves, where it misses twice, it does not. Plus the argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "eval/blend_learn.h"
#include "eval/runner.h"

#define N_ITEMS 5
#define N_CARVES 3

/* A fixed score table as a "model": the same scores for every user. */
struct table {
    float s[N_ITEMS];
};

static int table_score(const struct rec_model *m, const struct rec_user_query *q, float *scores)
{
    (void)q;
    memcpy(scores, ((const struct table *)m)->s, sizeof ((const struct table *)m)->s);
    return 0;
}

static const struct rec_model_type table_type = {"table", "fixed scores", NULL, 0, NULL, NULL,
                                                 table_score, NULL, NULL, NULL};

/* Source 0 ranks item 0 first, source 1 item 1 (item 4 is the user's training item). */
static struct table src0 = {{3, 2, 1, 0, 5}}, src1 = {{0, 3, 0, 0, 5}};

/* One user: item 4 trains, held_out is the test item. */
static void carve(struct rec_eval_split *s, int32_t held_out)
{
    struct rec_interaction x[2] = {{0, held_out, 1, 0}, {0, 4, 1, 0}};
    uint8_t is_test[2] = {1, 0};
    assert_int_equal(rec_eval_split_build(s, 1, N_ITEMS, x, 2, is_test), 0);
}

static void blend_of_tables(struct rec_blend *b)
{
    memset(b, 0, sizeof *b);
    b->n = 2;
    b->n_items = N_ITEMS;
    b->type[0] = b->type[1] = &table_type;
    b->model[0] = (struct rec_model *)&src0;
    b->model[1] = (struct rec_model *)&src1;
}

/* Carve 0 holds out item 1 (source 1's pick), carves 1 and 2 item 0 (source 0's). */
static void three_carves(struct rec_eval_split *v, struct rec_blend *b)
{
    static const int32_t held_out[N_CARVES] = {1, 0, 0};
    for (int j = 0; j < N_CARVES; j++) {
        carve(&v[j], held_out[j]);
        blend_of_tables(&b[j]);
    }
}

static void one_carve_follows_its_noise(void **state)
{
    (void)state;
    struct rec_eval_split v[N_CARVES];
    struct rec_blend b[N_CARVES];
    three_carves(v, b);
    double ndcg = 0;
    assert_int_equal(rec_blend_learn(&b[0], &v[0], 1, 1, &ndcg), 0);
    assert_true(b[0].weight[1] > 0); /* source 1 alone hits carve 0 */
    assert_true(ndcg > 0.99);
    for (int j = 0; j < N_CARVES; j++)
        rec_eval_split_free(&v[j]);
}

static void carves_average_it_out(void **state)
{
    (void)state;
    struct rec_eval_split v[N_CARVES];
    struct rec_blend b[N_CARVES];
    three_carves(v, b);
    double ndcg = 0;
    assert_int_equal(rec_blend_learn_carves(b, v, N_CARVES, 1, 1, &ndcg), 0);
    for (int j = 0; j < N_CARVES; j++) { /* every carve's blend gets the same weights */
        assert_true(b[j].weight[0] == 1.0f);
        assert_true(b[j].weight[1] == 0.0f);
    }
    assert_true(ndcg > 0.66 && ndcg < 0.67); /* source 0 hits two carves of three */
    for (int j = 0; j < N_CARVES; j++)
        rec_eval_split_free(&v[j]);
}

static void carves_agreeing_move_the_weight(void **state)
{
    (void)state;
    struct rec_eval_split v[N_CARVES];
    struct rec_blend b[N_CARVES];
    for (int j = 0; j < N_CARVES; j++) {
        carve(&v[j], 1);
        blend_of_tables(&b[j]);
    }
    double ndcg = 0;
    assert_int_equal(rec_blend_learn_carves(b, v, N_CARVES, 1, 1, &ndcg), 0);
    assert_true(b[0].weight[1] > 0);
    assert_true(ndcg > 0.99);
    for (int j = 0; j < N_CARVES; j++)
        rec_eval_split_free(&v[j]);
}

static void bad_carve_counts(void **state)
{
    (void)state;
    struct rec_eval_split v;
    struct rec_blend b;
    carve(&v, 0);
    blend_of_tables(&b);
    double ndcg = 0;
    assert_int_equal(rec_blend_learn_carves(&b, &v, 0, 1, 1, &ndcg), REC_EINVAL);
    assert_int_equal(rec_blend_learn_carves(&b, &v, REC_BLEND_LEARN_MAX_CARVES + 1, 1, 1, &ndcg),
                     REC_EINVAL);
    rec_eval_split_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_carve_follows_its_noise),
        cmocka_unit_test(carves_average_it_out),
        cmocka_unit_test(carves_agreeing_move_the_weight),
        cmocka_unit_test(bad_carve_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
