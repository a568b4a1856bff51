/* MMR re-ranking with category caps and intra-list diversity (src/rank/mmr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "rank/mmr.h"

/* A similarity given as a dense n x n matrix, counting calls. */
struct mat {
    const float *s;
    int n;
    int calls;
};

static float mat_sim(void *ctx, int a, int b)
{
    struct mat *m = ctx;
    m->calls++;
    return m->s[a * m->n + b];
}

/* Candidates i and j are similar (0.9) when i % 3 == j % 3, else 0.1. */
static float cluster_sim(void *ctx, int a, int b)
{
    (void)ctx;
    return a == b ? 1.0f : (a % 3 == b % 3 ? 0.9f : 0.1f);
}

static float never_sim(void *ctx, int a, int b)
{
    fail_msg("similarity called at diversity 0 (%d, %d)", a, b);
    return 0.0f;
}

static void test_diversity_zero_is_topk(void **state)
{
    /* ties at 0.7 (indexes 1, 4) and 0.2 (2, 5): lower index first */
    const float rel[] = {0.3f, 0.7f, 0.2f, 0.9f, 0.7f, 0.2f, -1.0f};
    float aligned[16];
    assert_true(rec_mmr_scratch_size(7) <= sizeof aligned);
    int out[7], n_out = -1;
    assert_int_equal(rec_mmr(rel, 7, 5, 0.0, never_sim, NULL, NULL, 0, aligned, out, &n_out), 0);
    assert_int_equal(n_out, 5);
    const int want[] = {3, 1, 4, 0, 2};
    assert_memory_equal(out, want, sizeof want);
    /* k > n returns all n; sim may be NULL at diversity 0 */
    int all[10];
    assert_int_equal(rec_mmr(rel, 7, 10, 0.0, NULL, NULL, NULL, 0, aligned, all, &n_out), 0);
    assert_int_equal(n_out, 7);
    const int want_all[] = {3, 1, 4, 0, 2, 5, 6};
    assert_memory_equal(all, want_all, sizeof want_all);
}

static void test_diversity_one_picks_one_per_cluster(void **state)
{
    /* 9 candidates in 3 clusters (i % 3); the cluster 0 members are the three most relevant,
     * so a relevance ranking would put them all first. */
    const float rel[] = {1.0f, 0.5f, 0.4f, 0.95f, 0.45f, 0.35f, 0.9f, 0.3f, 0.2f};
    float scratch[32];
    int out[9], n_out;
    assert_int_equal(rec_mmr(rel, 9, 9, 0.0, NULL, NULL, NULL, 0, scratch, out, &n_out), 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 6);

    assert_int_equal(rec_mmr(rel, 9, 6, 1.0, cluster_sim, NULL, NULL, 0, scratch, out, &n_out),
                     0);
    assert_int_equal(n_out, 6);
    /* first pick: the most relevant (all MMR scores are 0, relevance breaks the tie) */
    assert_int_equal(out[0], 0);
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        seen[out[i] % 3]++;
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
    /* equal max-similarity: relevance decides, so cluster 1 (rel .5) comes before 2 (.4) */
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 2);
    /* once every cluster is represented all the rest are at max-similarity .9 and relevance
     * alone orders them */
    assert_int_equal(out[3], 3);
    assert_int_equal(out[4], 6);
    assert_int_equal(out[5], 4);
}

static void test_hand_computed_half_diversity(void **state)
{
    /* rel (raw) 0.9 0.8 0.5 0.1 -> min-max rescaled 1, 0.875, 0.5, 0.
     * sim: s01 = .9, s02 = .2, s03 = .1, s12 = .3, s13 = .2, s23 = .4. Score at 0.5:
     *   step 1 (no picks): .5 * rel' = .5, .4375, .25, 0            -> pick 0
     *   step 2: c1 .4375 - .5 * .9 = -.0125; c2 .25 - .5 * .2 = .15;
     *           c3 0 - .5 * .1 = -.05                                 -> pick 2
     *   step 3: c1 max(.9, .3) = .9: -.0125; c3 max(.1, .4) = .4: -.2 -> pick 1
     *   step 4: c3                                                    -> pick 3
     * so 0, 2, 1, 3 where relevance alone gives 0, 1, 2, 3. */
    const float rel[] = {0.9f, 0.8f, 0.5f, 0.1f};
    const float s[16] = {
        1.0f, 0.9f, 0.2f, 0.1f, /**/ 0.9f, 1.0f, 0.3f, 0.2f,
        0.2f, 0.3f, 1.0f, 0.4f, /**/ 0.1f, 0.2f, 0.4f, 1.0f,
    };
    struct mat m = {s, 4, 0};
    float scratch[8];
    int out[4], n_out;
    assert_int_equal(rec_mmr(rel, 4, 4, 0.5, mat_sim, &m, NULL, 0, scratch, out, &n_out), 0);
    assert_int_equal(n_out, 4);
    const int want[] = {0, 2, 1, 3};
    assert_memory_equal(out, want, sizeof want);
    assert_true(m.calls <= 3 * 4); /* (k - 1) n at most */
    /* k = 2 stops after the second pick */
    m.calls = 0;
    assert_int_equal(rec_mmr(rel, 4, 2, 0.5, mat_sim, &m, NULL, 0, scratch, out, &n_out), 0);
    assert_int_equal(n_out, 2);
    assert_int_equal(out[1], 2);
    assert_true(m.calls <= 4);
}

static void test_equal_relevance_rescales_to_one(void **state)
{
    /* all rel equal -> rel' = 1 everywhere; the second pick is then the least similar */
    const float rel[] = {2.0f, 2.0f, 2.0f};
    const float s[9] = {1, .8f, .1f, .8f, 1, .5f, .1f, .5f, 1};
    struct mat m = {s, 3, 0};
    float scratch[8];
    int out[3], n_out;
    assert_int_equal(rec_mmr(rel, 3, 3, 0.3, mat_sim, &m, NULL, 0, scratch, out, &n_out), 0);
    const int want[] = {0, 2, 1};
    assert_memory_equal(out, want, sizeof want);
}

static void test_category_caps(void **state)
{
    const float rel[] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f};
    const int cat[] = {0, 0, 0, 1, 1, 2, -1};
    float scratch[16];
    int out[7], n_out;
    /* cap 1, k 3: one per category */
    assert_int_equal(rec_mmr(rel, 7, 3, 0.0, NULL, NULL, cat, 1, scratch, out, &n_out), 0);
    assert_int_equal(n_out, 3);
    const int want1[] = {0, 3, 5};
    assert_memory_equal(out, want1, sizeof want1);
    /* cap 2, k 6: 0 1 | 3 4 | 5 | uncategorized 6 (never capped) */
    assert_int_equal(rec_mmr(rel, 7, 6, 0.0, NULL, NULL, cat, 2, scratch, out, &n_out), 0);
    assert_int_equal(n_out, 6);
    const int want2[] = {0, 1, 3, 4, 5, 6};
    assert_memory_equal(out, want2, sizeof want2);
    /* cap 1, k 6: only 3 categories + 1 uncategorized are eligible: the list stops short */
    assert_int_equal(rec_mmr(rel, 7, 6, 0.0, NULL, NULL, cat, 1, scratch, out, &n_out), 0);
    assert_int_equal(n_out, 4);
    const int want3[] = {0, 3, 5, 6};
    assert_memory_equal(out, want3, sizeof want3);
    /* caps hold with diversity too */
    assert_int_equal(rec_mmr(rel, 7, 7, 0.7, cluster_sim, NULL, cat, 1, scratch, out, &n_out), 0);
    assert_int_equal(n_out, 4);
    int per[3] = {0, 0, 0};
    for (int i = 0; i < n_out; i++)
        if (cat[out[i]] >= 0)
            per[cat[out[i]]]++;
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 1);
    assert_int_equal(per[2], 1);
    /* max_per_category 0: no caps */
    assert_int_equal(rec_mmr(rel, 7, 3, 0.0, NULL, NULL, cat, 0, scratch, out, &n_out), 0);
    const int want4[] = {0, 1, 2};
    assert_memory_equal(out, want4, sizeof want4);
}

static void test_invalid_arguments(void **state)
{
    const float rel[] = {1.0f, NAN};
    float scratch[8];
    int out[2], n_out = 5;
    assert_int_equal(rec_mmr(rel, 1, 1, 1.5, cluster_sim, NULL, NULL, 0, scratch, out, &n_out),
                     REC_EINVAL);
    assert_int_equal(n_out, 0);
    assert_int_equal(rec_mmr(rel, 1, 1, NAN, cluster_sim, NULL, NULL, 0, scratch, out, &n_out),
                     REC_EINVAL);
    assert_int_equal(rec_mmr(rel, 1, 1, 0.5, NULL, NULL, NULL, 0, scratch, out, &n_out),
                     REC_EINVAL);
    assert_int_equal(rec_mmr(rel, 2, 1, 0.0, NULL, NULL, NULL, 0, scratch, out, &n_out),
                     REC_EINVAL); /* NaN relevance */
    assert_int_equal(rec_mmr(rel, -1, 1, 0.0, NULL, NULL, NULL, 0, scratch, out, &n_out),
                     REC_EINVAL);
    assert_int_equal(rec_mmr(rel, 1, 1, 0.0, NULL, NULL, NULL, 0, NULL, out, &n_out), REC_EINVAL);
    /* empty input is fine */
    assert_int_equal(rec_mmr(NULL, 0, 3, 0.5, NULL, NULL, NULL, 0, NULL, NULL, &n_out), 0);
    assert_int_equal(n_out, 0);
    assert_int_equal(rec_mmr_scratch_size(0), 0);
    assert_int_equal(rec_mmr_scratch_size(10), 10 * sizeof(float) + 10);
}

static void test_ild_hand_example(void **state)
{
    /* pairs: 1 - .2, 1 - .5, 1 - .8 -> (.8 + .5 + .2) / 3 = .5 */
    const float s[9] = {1, .2f, .5f, .2f, 1, .8f, .5f, .8f, 1};
    struct mat m = {s, 3, 0};
    const int list[] = {0, 1, 2};
    assert_float_equal(rec_ild(list, 3, mat_sim, &m), 0.5, 1e-6);
    assert_int_equal(m.calls, 3);
    const int two[] = {2, 1}; /* one pair: 1 - .8 */
    assert_float_equal(rec_ild(two, 2, mat_sim, &m), 0.2, 1e-6);
    assert_float_equal(rec_ild(list, 1, mat_sim, &m), 0.0, 0.0);
    assert_float_equal(rec_ild(list, 0, mat_sim, &m), 0.0, 0.0);
    /* MMR at diversity 1 raises ILD over the relevance order on the clustered candidates */
    const float rel[] = {1.0f, 0.5f, 0.4f, 0.95f, 0.45f, 0.35f, 0.9f, 0.3f, 0.2f};
    float scratch[32];
    int top[3], div[3], n_out;
    rec_mmr(rel, 9, 3, 0.0, NULL, NULL, NULL, 0, scratch, top, &n_out);
    rec_mmr(rel, 9, 3, 1.0, cluster_sim, NULL, NULL, 0, scratch, div, &n_out);
    assert_float_equal(rec_ild(top, 3, cluster_sim, NULL), 0.1, 1e-6);
    assert_float_equal(rec_ild(div, 3, cluster_sim, NULL), 0.9, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diversity_zero_is_topk),
        cmocka_unit_test(test_diversity_one_picks_one_per_cluster),
        cmocka_unit_test(test_hand_computed_half_diversity),
        cmocka_unit_test(test_equal_relevance_rescales_to_one),
        cmocka_unit_test(test_category_caps),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_ild_hand_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
