/* pipeline.h: the serving pipeline of one recommendation request, in stages:
 *
 *   retrieve   fused candidates from iALS, item-kNN and popularity (recommend.c), plus new
 *              arrivals (items published or added recently) so fresh items get seen
 *   filter     the request's filters (exclude, category, min_published), the user's
 *              preferences, and the rules' filters and blocks
 *   score      relevance from retrieval (or the learned ranker when one is given), times the
 *              rules' boosts and buries, the user's preferred categories, freshness (a recency
 *              boost with a half-life per category), and a demotion of items close to what the
 *              user marked not interested
 *   diversify  Maximal Marginal Relevance with a per-request trade-off, and a cap per category
 *   explore    a share of the slots given to new or little-shown items by Thompson sampling
 *   pin        the rules' pins at their positions
 *   explain    a reason with evidence for every item
 *
 * Each stage's time and candidate counts are reported (the API shows them with ?debug=1).
 */
#ifndef REC_SERVE_PIPELINE_H
#define REC_SERVE_PIPELINE_H

#include <stdint.h>

#include "serve/engine.h"

struct rec_rules;
struct rec_ts;
struct rec_ranker;

#define REC_PIPE_MAX_STAGES 8
#define REC_PIPE_MAX_HALF_LIVES 32

/* What a request runs in: server-wide settings. */
struct rec_pipeline_config {
    double diversity;                  /* default MMR trade-off (0: pure relevance) */
    int max_per_category;              /* 0: no cap */
    double fresh_boost;                /* relevance multiplier of a brand-new item: 1 + this */
    double fresh_half_life_s;          /* default half-life of freshness */
    int n_half_lives;                  /* per category: */
    char half_life_cat[REC_PIPE_MAX_HALF_LIVES][64];
    double half_life_s[REC_PIPE_MAX_HALF_LIVES];
    int fresh_candidates;              /* new arrivals added to the candidates */
    double explore_share;              /* share of slots for exploration (0: off) */
    int explore_max_impressions;       /* "little-shown": fewer impressions than this */
    double prefer_boost;               /* multiplier of a preferred category */
    double not_interested_demote;      /* multiplier of an item close to a not-interested one */
    const struct rec_rules *rules;     /* NULL: none (swapped on reload by the caller) */
    struct rec_ts *explore;            /* Thompson state; NULL: no exploration */
    struct rec_ranker *ranker;         /* learned ranker; NULL: retrieval order */
};
void rec_pipeline_config_default(struct rec_pipeline_config *c);

/* The request's context. Strings may be NULL (unknown). */
struct rec_context {
    const char *device, *region, *session, *referrer;
    int hour, weekday;                 /* local; -1 unknown (weekday 0 = Sunday) */
    const void *json;                  /* json_t object with every field (rules read it), or NULL */
};

struct rec_pipeline_request {
    const char *user;
    int n;
    double diversity;                  /* < 0: the config's */
    const char *const *exclude;        /* item ids left out */
    int n_exclude;
    const char *category;              /* only items of this category; NULL: any */
    int64_t min_published;             /* only items published at or after; 0: any */
    const struct rec_rules *filter;    /* the request's attribute conditions (one filter rule,
                                        * the rules' condition language); NULL: none */
    struct rec_context ctx;
    struct rec_request_opts opts;      /* experiment variant settings; out: top_model_score */
    double now;                        /* wall-clock seconds */
};

struct rec_reason {
    const char *kind;                  /* because_you, trending_in, popular_with_similar_users,
                                        * new_in, matches_your_interest, exploration, and
                                        * promoted (a rule's pin: "featured") */
    char item[REC_ID_MAX + 1];         /* evidence item ("" when none) */
    char text[REC_ID_MAX + 96];
};

struct rec_pick {
    char id[REC_ID_MAX + 1];
    double score;
    int source;                        /* enum rec_source, or REC_SOURCE_FRESH / _EXPLORE */
    struct rec_reason reason;
    double ranker_p;                   /* the learned ranker's P(engagement) for the item in
                                        * this context; NAN when it did not score it */
};

#define REC_SOURCE_FRESH 3
#define REC_SOURCE_EXPLORE 4
#define REC_SOURCE_PIN 5                /* placed by a rule's pin */

struct rec_stage_time {
    const char *name;
    double ms;
    int in, out;                       /* candidates entering and leaving */
};

struct rec_pipeline_result {
    int n;                             /* picks written */
    const char *model;                 /* "hybrid", "popular", "attributes", ... */
    int ranked;                        /* the learned ranker re-scored the list */
    struct rec_stage_time stage[REC_PIPE_MAX_STAGES];
    int n_stages;
};

/* Runs the pipeline for rq into out[0..rq->n). 0, REC_EINVAL (n < 1) or REC_ENOMEM.
 * Thread-safe (takes the engine's read lock). */
int rec_pipeline_run(struct rec_engine *e, const struct rec_pipeline_config *c,
                     struct rec_pipeline_request *rq, struct rec_pick *out,
                     struct rec_pipeline_result *res);

/* Name of a source (als, knn, popular, fresh, explore, pin). */
const char *rec_source_name(int source);

#endif
