/* source_bandit.c: see source_bandit.h. */
#include "serve/source_bandit.h"

#include <stdlib.h>
#include <string.h>

#include "rank/bandit.h"

struct rec_source_bandit {
    struct rec_linucb *ucb;
};

/* The arms: fusion weights of kNN and popularity next to iALS (weight 1); < 0 keeps the
 * server's configured weight. */
static const struct {
    const char *name;
    float knn, popular;
} arms[REC_SOURCE_ARMS] = {
    {"configured", -1.0f, -1.0f},
    {"knn", 1.0f, 0.01f},
    {"popular", 0.1f, 0.5f},
    {"als", 0.0f, 0.0f},
};

int rec_source_bandit_new(double alpha, struct rec_source_bandit **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return -1;
    int rc = rec_linucb_new(REC_SOURCE_ARMS, REC_TRACKER_TAG_DIM, alpha, &(*out)->ucb);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

void rec_source_bandit_free(struct rec_source_bandit *b)
{
    if (!b)
        return;
    rec_linucb_free(b->ucb);
    free(b);
}

void rec_source_bandit_x(const struct rec_context *ctx, float x[REC_TRACKER_TAG_DIM])
{
    memset(x, 0, REC_TRACKER_TAG_DIM * sizeof *x);
    x[0] = 1;
    const char *d = ctx->device;
    if (d && !strcmp(d, "mobile"))
        x[1] = 1;
    else if (d && !strcmp(d, "desktop"))
        x[2] = 1;
    else if (d && !strcmp(d, "tv"))
        x[3] = 1;
    int h = ctx->hour;
    if (h >= 6 && h < 12)
        x[4] = 1;
    else if (h >= 12 && h < 17)
        x[5] = 1;
    else if (h >= 17 && h < 23)
        x[6] = 1;
    else if (h >= 0)
        x[7] = 1;
}

int rec_source_bandit_choose(struct rec_source_bandit *b, const float *x,
                             struct rec_request_opts *o)
{
    int arm = rec_linucb_choose(b->ucb, x);
    if (arm < 0 || arm >= REC_SOURCE_ARMS)
        arm = 0;
    if (arms[arm].knn >= 0)
        o->blend_knn = arms[arm].knn;
    if (arms[arm].popular >= 0)
        o->blend_popular = arms[arm].popular;
    return arm;
}

void rec_source_bandit_reward(void *ctx, int arm, const float *x, double reward)
{
    struct rec_source_bandit *b = ctx;
    rec_linucb_update(b->ucb, arm, x, reward);
}

const char *rec_source_bandit_arm_name(int arm)
{
    return arm >= 0 && arm < REC_SOURCE_ARMS ? arms[arm].name : "none";
}
