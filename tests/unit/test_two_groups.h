/* test_two_groups.h: the engine data the online-item and approximate-index tests share. Include
 * after <cmocka.h>; each failure is a test failure.
 *
 * Group a (a0..a29) views items x0..x11, group b (b0..b29) views y0..y11, each user skipping a
 * quarter; no documents anywhere, so content cannot help. iALS alone ranks (k = 8, 10 sweeps,
 * one thread): what these tests measure is the item factor rows. */
#ifndef REC_TEST_TWO_GROUPS_H
#define REC_TEST_TWO_GROUPS_H

#include <stdio.h>

#include "app/app.h"
#include "serve/engine.h"

#define USERS_PER_GROUP 30
#define BLOCK 12

static int64_t seq, ts = 1700000000;

/* One view event, applied. */
static void add(struct rec_engine *e, const char *user, const char *item)
{
    struct rec_event ev = {NULL, user, item, REC_EVENT_VIEW, 0, ts++, NULL, ++seq, NULL};
    assert_int_equal(rec_engine_apply_events(e, &ev, 1, NULL), 0);
}

/* The server's default parameters with the settings above. */
static struct rec_engine_params two_groups_params(void)
{
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.als.factors = 8;
    p.als.iters = 10;
    p.als.threads = 1;
    p.blend_knn = 0;
    p.blend_popular = 0;
    return p;
}

/* An engine on p with the two groups' events, trained. */
static struct rec_engine *two_groups_engine(const struct rec_engine_params *p)
{
    struct rec_engine *e = NULL;
    assert_int_equal(rec_engine_create(p, NULL, &e), 0);
    char user[32], item[32];
    for (int u = 0; u < 2 * USERS_PER_GROUP; u++) {
        int a = u < USERS_PER_GROUP;
        snprintf(user, sizeof user, "%c%d", a ? 'a' : 'b', u);
        for (int i = 0; i < BLOCK; i++) {
            if ((i + u) % 4 == 0)
                continue;
            snprintf(item, sizeof item, "%c%d", a ? 'x' : 'y', i);
            add(e, user, item);
        }
    }
    assert_int_equal(rec_engine_train_now(e), 0);
    return e;
}

#endif
