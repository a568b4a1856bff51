/* source_bandit.h: a contextual bandit (LinUCB, rank/bandit) that learns, per context (device,
 * daypart), how to weight the candidate sources of a list. Each arm is a fusion setting; a
 * request picks the arm with the highest upper confidence bound for its context, the tracker
 * tags the served list with (arm, context), and the list's outcome (a positive event within
 * the attribution window, or none) is the arm's reward.
 */
#ifndef REC_SERVE_SOURCE_BANDIT_H
#define REC_SERVE_SOURCE_BANDIT_H

#include "exp/tracker.h"
#include "serve/engine.h"
#include "serve/pipeline.h"

#define REC_SOURCE_ARMS 4

struct rec_source_bandit;

int rec_source_bandit_new(double alpha, struct rec_source_bandit **out);
void rec_source_bandit_free(struct rec_source_bandit *b);
/* The context vector: bias, device (mobile, desktop, tv), daypart (morning, afternoon,
 * evening, night). */
void rec_source_bandit_x(const struct rec_context *ctx, float x[REC_TRACKER_TAG_DIM]);
/* Picks an arm for x and sets o's fusion weights from it. Thread-safe. */
int rec_source_bandit_choose(struct rec_source_bandit *b, const float *x,
                             struct rec_request_opts *o);
/* The tracker's reward hook (ctx is the bandit). */
void rec_source_bandit_reward(void *ctx, int arm, const float *x, double reward);
const char *rec_source_bandit_arm_name(int arm);

#endif
