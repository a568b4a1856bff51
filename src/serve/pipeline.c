/* pipeline.c: see pipeline.h. Every stage runs under the engine's read lock, on a candidate
 * array allocated per request (a few hundred entries, never the catalog). */
#include "serve/pipeline.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/utf8.h"
#include "model/linalg.h"
#include "rank/bandit.h"
#include "rank/mmr.h"
#include "rank/rules.h"
#include "serve/engine_impl.h"
#include "serve/ranker.h"

#define MIN_POOL 100                /* candidates retrieved, at least */
#define POOL_PER_SLOT 5             /* ... and this many per requested item */
#define MAX_PINS 16
#define TOP_CATS 3                  /* the user's interests: their most frequent categories */
#define CLOSE_COSINE 0.6f           /* factor cosine that makes an item "close" to another */
#define MAX_REJECTED_NEAR 200       /* = MAX_REJECTED x NEAR_TOP */

static const char *const source_names[] = {"als", "knn", "popular", "fresh", "explore", "pin"};

const char *rec_source_name(int source)
{
    return source >= 0 && source < 6 ? source_names[source] : "unknown";
}

void rec_pipeline_config_default(struct rec_pipeline_config *c)
{
    memset(c, 0, sizeof *c);
    c->diversity = 0;
    c->max_per_category = 0;
    c->fresh_boost = 0.5;
    c->fresh_half_life_s = 7 * 86400.0;
    c->fresh_candidates = 10;
    c->explore_share = 0;
    c->explore_max_impressions = 100;
    c->prefer_boost = 1.5;
    c->not_interested_demote = 0.5;
}

struct cand {
    int32_t idx;
    float retrieval;                /* fused retrieval score */
    float rel;                      /* relevance after scoring */
    int8_t src;
    int32_t seed;                   /* kNN seed from retrieval, -1 (rec_explain_seed) */
    int cat;                        /* primary category id, -1 */
    float mult;                     /* rules, preferences, freshness, demotion (scoring) */
    double p;                       /* the learned ranker's probability, NAN when unscored */
};

struct run {
    struct rec_engine *e;
    const struct rec_pipeline_config *c;
    struct rec_pipeline_request *rq;
    struct rec_pipeline_result *res;
    const struct user *us;
    int32_t u;
    struct cand *cand;
    int n;
    int by_attrs;
    int top_cat[TOP_CATS], n_top_cat; /* user_interests; interests_done once computed */
    int interests_done;
    json_t *user_json;
    json_t *item_ctx;               /* computed item fields the rules read (age_days) */
    int32_t *block;                 /* the request's excluded items (-1: unknown ids) */
    int n_block;
    int32_t want_cat;               /* the request's category, -1 unknown, -2 any */
    int32_t near[MAX_REJECTED_NEAR];/* items close to rejected ones (find_near) */
    int n_near;
    int rejections;                 /* "not interested" entries in the user's history */
    int ranked;                     /* the learned ranker scored the candidates */
    double t;                       /* start of the current stage */
};

static void stage(struct run *r, const char *name, int in)
{
    double now = rec_mono_s();
    if (r->res->n_stages < REC_PIPE_MAX_STAGES)
        r->res->stage[r->res->n_stages++] =
            (struct rec_stage_time){name, (now - r->t) * 1e3, in, r->n};
    r->t = now;
}

static const struct item_meta *meta_of(const struct rec_engine *e, int32_t i)
{
    return e->items[i].meta;
}

static int has_cat(const struct item_meta *m, int32_t cat)
{
    for (int k = 0; m && k < m->n_cat; k++)
        if (m->cat[k] == cat)
            return 1;
    return 0;
}

static int has_tag(const struct item_meta *m, int32_t tag)
{
    for (int k = 0; m && k < m->n_tag; k++)
        if (m->tag[k] == tag)
            return 1;
    return 0;
}

/* The user's most frequent categories among positive history entries. */
static void user_interests(struct run *r)
{
    r->n_top_cat = 0;
    if (!r->us || r->e->cat_ids.n_names == 0)
        return;
    int32_t n_cats = r->e->cat_ids.n_names;
    float *w = calloc((size_t)n_cats, sizeof *w);
    if (!w)
        return;
    for (int32_t h = 0; h < r->us->n_hist; h++) {
        const struct hist_entry *he = &r->us->hist[h];
        const struct item_meta *m = he->weight > 0 ? meta_of(r->e, he->item) : NULL;
        for (int k = 0; m && k < m->n_cat; k++)
            w[m->cat[k]] += he->weight;
    }
    for (int t = 0; t < TOP_CATS; t++) {
        int best = -1;
        for (int32_t c = 0; c < n_cats; c++)
            if (w[c] > 0 && (best < 0 || w[c] > w[best]))
                best = c;
        if (best < 0)
            break;
        r->top_cat[r->n_top_cat++] = best;
        w[best] = 0;
    }
    free(w);
}

/* ---- stages ---- */

static int retrieve(struct run *r, int m)
{
    struct rec_engine *e = r->e;
    struct rec_pipeline_request *rq = r->rq;
    int32_t *block = malloc((size_t)(rq->n_exclude > 0 ? rq->n_exclude : 1) * sizeof *block);
    struct rec_candidate *rc_out = malloc((size_t)m * sizeof *rc_out);
    if (!block || !rc_out) {
        free(block);
        free(rc_out);
        return REC_ENOMEM;
    }
    for (int k = 0; k < rq->n_exclude; k++)
        block[k] = rec_idmap_get(&e->item_ids, rq->exclude[k]);
    r->block = block;
    r->n_block = rq->n_exclude;
    int got = 0;
    int rc = rec_retrieve(e, r->u, m, &rq->opts, block, rq->n_exclude, rc_out, &got, &r->by_attrs);
    for (int k = 0; !rc && k < got; k++) {
        const struct item_meta *md = meta_of(e, rc_out[k].idx);
        r->cand[r->n++] = (struct cand){rc_out[k].idx, rc_out[k].score, 0, rc_out[k].src,
                                        rc_out[k].seed, md && md->n_cat ? md->cat[0] : -1, 1,
                                        NAN};
    }
    free(rc_out);
    /* new arrivals, newest first: live, not excluded, not in the user's history, not already in */
    for (int k = 0; !rc && k < e->n_arrivals && k < r->c->fresh_candidates * 4 &&
                    r->n < m + r->c->fresh_candidates; k++) {
        int32_t i = e->arrivals[(e->arrivals_head - 1 - k + REC_ARRIVALS) % REC_ARRIVALS];
        int skip = !rec_item_live(e, i);
        for (int j = 0; !skip && j < rq->n_exclude; j++)
            skip = block[j] == i;
        for (int j = 0; !skip && j < r->n; j++)
            skip = r->cand[j].idx == i;
        for (int32_t h = 0; !skip && r->us && h < r->us->n_hist; h++)
            skip = r->us->hist[h].item == i;
        if (!skip) {
            const struct item_meta *md = meta_of(e, i);
            r->cand[r->n++] = (struct cand){i, 0, 0, REC_SOURCE_FRESH, -1,
                                            md && md->n_cat ? md->cat[0] : -1, 1, NAN};
        }
    }
    return rc; /* block stays with the run (r->block) */
}

/* The items close to what the user marked not interested (their latest
 * MAX_REJECTED such entries): each one's NEAR_TOP strongest co-occurrence neighbours. Factor
 * neighbours are checked per candidate (near_rejected). */
#define MAX_REJECTED 20
#define NEAR_TOP 10

/* Only "not interested" reaches the neighbours: a dislike removes the item and, through its
 * negative weight, moves the user's factors away from it, and that is all (demoting the
 * neighbours of dislikes too cost NDCG@10 0.390 -> 0.365 on recd gen's data, whose dislikes
 * fall inside users' tastes). */
static int is_rejection(const struct hist_entry *h)
{
    return h->type == REC_EVENT_NOT_INTERESTED;
}

static void find_near(struct run *r)
{
    const struct rec_engine *e = r->e;
    r->n_near = 0;
    r->rejections = 0;
    for (int32_t h = 0; r->us && h < r->us->n_hist; h++) /* near_rejected's loop, once */
        r->rejections += is_rejection(&r->us->hist[h]);
    int seen = 0;
    for (int32_t h = r->us ? r->us->n_hist - 1 : -1; h >= 0 && seen < MAX_REJECTED; h--) {
        const struct hist_entry *he = &r->us->hist[h];
        if (!is_rejection(he) || he->item >= e->knn.n_items)
            continue;
        seen++;
        struct rec_knn_view nb;
        rec_knn_row_view(&e->knn, he->item, &nb);
        int32_t top[NEAR_TOP];
        float sim[NEAR_TOP];
        int n_top = 0;
        for (int32_t k = 0; k < nb.n; k++) {
            if (rec_knn_view_cnt(&nb, k) == 0)
                continue;
            int32_t nbr = rec_knn_view_nbr(&nb, k);
            float s = rec_knn_sim(&e->knn, he->item, nbr);
            int at = n_top < NEAR_TOP ? n_top++ : NEAR_TOP - 1;
            if (at == NEAR_TOP - 1 && n_top == NEAR_TOP && s <= sim[at])
                continue;
            while (at > 0 && sim[at - 1] < s) { /* insertion into the short sorted list */
                sim[at] = sim[at - 1];
                top[at] = top[at - 1];
                at--;
            }
            sim[at] = s;
            top[at] = nbr;
        }
        for (int k = 0; k < n_top && r->n_near < (int)(sizeof r->near / sizeof r->near[0]); k++)
            r->near[r->n_near++] = top[k];
    }
}

/* Is candidate item i close to something the user marked not interested? */
static int near_rejected(const struct run *r, int32_t i)
{
    const struct rec_engine *e = r->e;
    for (int k = 0; k < r->n_near; k++)
        if (r->near[k] == i)
            return 1;
    if (!r->rejections)
        return 0;
    const float *xi = rec_cold_item_vec(e, i);
    int k = e->als ? rec_als_factors(e->als) : 0;
    for (int32_t h = 0; xi && k > 0 && h < r->us->n_hist; h++) {
        const struct hist_entry *he = &r->us->hist[h];
        if (!is_rejection(he))
            continue;
        const float *xj = rec_cold_item_vec(e, he->item);
        if (xj) {
            float d = rec_linalg_dot(xi, xj, k), ni = rec_linalg_dot(xi, xi, k),
                  nj = rec_linalg_dot(xj, xj, k);
            if (ni > 0 && nj > 0 && d / sqrtf(ni * nj) > CLOSE_COSINE)
                return 1;
        }
    }
    return 0;
}

/* Freshness multiplier: 1 + boost * 2^(-age / half-life of the item's category). */
static double freshness(const struct run *r, const struct item_meta *m)
{
    const struct rec_pipeline_config *c = r->c;
    if (!m || m->published_at <= 0 || c->fresh_boost <= 0)
        return 1.0;
    double hl = c->fresh_half_life_s;
    for (int k = 0; k < m->n_cat; k++) {
        const char *name = rec_idmap_name(&r->e->cat_ids, m->cat[k]);
        for (int j = 0; name && j < c->n_half_lives; j++)
            if (strcmp(name, c->half_life_cat[j]) == 0) {
                hl = c->half_life_s[j];
                k = m->n_cat;
                break;
            }
    }
    double age = r->rq->now - (double)m->published_at;
    if (age < 0)
        age = 0;
    return hl > 0 ? 1.0 + c->fresh_boost * exp2(-age / hl) : 1.0;
}

/* Relevance: the retrieval rank, blended with the learned ranker's order once it is ready
 * (both as ranks scaled to [0,1]: the ranker's probabilities are calibrated for clicks, not on
 * the retrieval scale), times the multipliers. */
struct keyed {
    double key;
    int idx;
};

static int cmp_keyed_desc(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->key != y->key)
        return (x->key < y->key) - (x->key > y->key);
    return (x->idx > y->idx) - (x->idx < y->idx); /* ties keep retrieval order */
}

static int rank(struct run *r)
{
    struct rec_ranker *rk = r->c->ranker;
    int use = rk && r->n > 1 && rec_ranker_ready(rk);
    int32_t *items = use ? malloc((size_t)r->n * sizeof *items) : NULL;
    double *p = use ? malloc((size_t)r->n * sizeof *p) : NULL;
    struct keyed *order = use ? malloc((size_t)r->n * sizeof *order) : NULL;
    if (use && (!items || !p || !order))
        use = 0; /* out of memory: retrieval order serves */
    if (use) {
        for (int k = 0; k < r->n; k++)
            items[k] = r->cand[k].idx;
        rec_ranker_score_locked(rk, r->e, r->us ? r->u : -1, items, r->n, &r->rq->ctx, r->rq->now, p);
        for (int k = 0; k < r->n; k++) {
            order[k] = (struct keyed){p[k], k};
            r->cand[k].p = p[k];
        }
        qsort(order, (size_t)r->n, sizeof *order, cmp_keyed_desc);
        for (int q = 0; q < r->n; q++) /* p becomes the ranker's rank in [0,1] */
            p[order[q].idx] = 1.0 - (double)q / (double)r->n;
        r->ranked = 1;
    }
    double w = use ? rec_ranker_weight(rk) : 0;
    for (int k = 0; k < r->n; k++)
        r->cand[k].rel = (float)(((1 - w) * r->cand[k].rel + w * (use ? p[k] : 0)) * r->cand[k].mult);
    free(items);
    free(p);
    free(order);
    return 0;
}

/* Whether item i may be in this request's list at all: the request's filters (exclude,
 * category, min_published), the user's exclusions, and the rules' filters and blocks. *mult
 * gets the rules' boosts and buries. Every stage that adds items (scoring, exploration, pins)
 * asks this. */
static int admissible(struct run *r, int32_t i, double *mult)
{
    struct rec_engine *e = r->e;
    const struct rec_pipeline_request *rq = r->rq;
    const struct user_prefs *p = r->us ? r->us->prefs : NULL;
    const struct item_meta *m = meta_of(e, i);
    *mult = 1.0;
    if (!rec_item_live(e, i))
        return 0;
    for (int k = 0; k < r->n_block; k++)
        if (r->block[k] == i)
            return 0;
    if (r->want_cat != -2 && !has_cat(m, r->want_cat))
        return 0;
    if (rq->min_published > 0 && (!m || m->published_at < rq->min_published))
        return 0;
    for (int j = 0; p && j < p->n_exclude_cat; j++)
        if (has_cat(m, p->exclude_cat[j]))
            return 0;
    for (int j = 0; p && j < p->n_exclude_tag; j++)
        if (has_tag(m, p->exclude_tag[j]))
            return 0;
    if (!r->c->rules && !rq->filter)
        return 1;
    struct rec_rule_effect eff = {1, 1.0, -1, 0};
    json_t *doc = m && m->json ? m->json : NULL;
    json_t *tmp = NULL;
    if (!doc) { /* an item without a document still has an id for the rules */
        tmp = json_pack("{s:s}", "id", rec_idmap_name(&e->item_ids, i));
        doc = tmp;
    }
    if (m && m->published_at > 0)
        json_object_set_new(r->item_ctx, "age_days",
                            json_real((rq->now - (double)m->published_at) / 86400.0));
    else
        json_object_del(r->item_ctx, "age_days");
    if (rq->filter) /* the request's own attribute conditions */
        rec_rules_apply(rq->filter, doc, r->item_ctx, r->user_json, rq->ctx.json, &eff);
    double m_req = eff.multiplier;
    if (eff.keep && r->c->rules)
        rec_rules_apply(r->c->rules, doc, r->item_ctx, r->user_json, rq->ctx.json, &eff);
    json_decref(tmp);
    *mult = eff.multiplier * (r->c->rules ? m_req : 1.0);
    return eff.keep;
}

static int filter_and_score(struct run *r)
{
    struct rec_engine *e = r->e;
    const struct user_prefs *p = r->us ? r->us->prefs : NULL;
    /* retrieval scores to [0,1] by rank within the retrieved list, so fresh items (no score)
     * and sources on different scales meet on one footing */
    int n_retrieved = 0;
    for (int k = 0; k < r->n; k++)
        n_retrieved += r->cand[k].src != REC_SOURCE_FRESH;
    int kept = 0;
    for (int k = 0; k < r->n; k++) {
        struct cand c = r->cand[k];
        const struct item_meta *m = meta_of(e, c.idx);
        double mult;
        if (!admissible(r, c.idx, &mult))
            continue;
        for (int j = 0; p && j < p->n_prefer_cat; j++)
            if (has_cat(m, p->prefer_cat[j])) {
                mult *= r->c->prefer_boost;
                break;
            }
        mult *= freshness(r, m);
        if (near_rejected(r, c.idx))
            mult *= r->c->not_interested_demote;
        double base = c.src == REC_SOURCE_FRESH ? 0.5 / (1.0 + n_retrieved)
                                                : 1.0 - (double)k / (1.0 + n_retrieved);
        c.rel = (float)base;
        c.mult = (float)mult;
        r->cand[kept++] = c;
    }
    r->n = kept;
    return rank(r);
}

static int cmp_rel(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return (x->rel < y->rel) - (x->rel > y->rel);
}

struct sim_ctx {
    const struct run *r;
};

/* Similarity of two candidates: category overlap (Jaccard) and factor cosine, averaged. */
static float cand_sim(void *ctx, int a, int b)
{
    const struct run *r = ((struct sim_ctx *)ctx)->r;
    const struct rec_engine *e = r->e;
    int32_t i = r->cand[a].idx, j = r->cand[b].idx;
    const struct item_meta *mi = meta_of(e, i), *mj = meta_of(e, j);
    float jac = 0;
    if (mi && mj && mi->n_cat && mj->n_cat) {
        int inter = 0;
        for (int k = 0; k < mi->n_cat; k++)
            inter += has_cat(mj, mi->cat[k]);
        jac = (float)inter / (float)(mi->n_cat + mj->n_cat - inter);
    }
    int k = e->als ? rec_als_factors(e->als) : 0;
    const float *xi = k ? rec_cold_item_vec(e, i) : NULL, *xj = k ? rec_cold_item_vec(e, j) : NULL;
    float cs = 0;
    if (xi && xj) {
        float d = rec_linalg_dot(xi, xj, k), ni = rec_linalg_dot(xi, xi, k), nj = rec_linalg_dot(xj, xj, k);
        cs = ni > 0 && nj > 0 ? d / sqrtf(ni * nj) : 0;
        if (cs < 0)
            cs = 0;
    }
    if (!xi || !xj)
        return jac;
    if (!mi || !mj || !mi->n_cat || !mj->n_cat)
        return cs;
    return 0.5f * (jac + cs);
}

static int diversify(struct run *r, int k)
{
    double d = r->rq->diversity >= 0 ? r->rq->diversity : r->c->diversity;
    qsort(r->cand, (size_t)r->n, sizeof *r->cand, cmp_rel);
    if ((d <= 0 && r->c->max_per_category <= 0) || r->n <= 1) {
        if (r->n > k)
            r->n = k;
        return 0;
    }
    int n = r->n < 4 * k ? r->n : 4 * k; /* MMR over the head of the list: O(k n) */
    float *rel = malloc((size_t)n * sizeof *rel);
    int *cat = malloc((size_t)n * sizeof *cat), *order = malloc((size_t)n * sizeof *order);
    void *scratch = malloc(rec_mmr_scratch_size(n));
    struct cand *picked = malloc((size_t)n * sizeof *picked);
    int rc = rel && cat && order && scratch && picked ? 0 : REC_ENOMEM;
    int got = 0;
    if (!rc) {
        for (int i = 0; i < n; i++) {
            rel[i] = r->cand[i].rel;
            cat[i] = r->cand[i].cat;
        }
        struct sim_ctx sc = {r};
        rc = rec_mmr(rel, n, k, d, cand_sim, &sc, cat, r->c->max_per_category, scratch, order, &got);
    }
    if (!rc) {
        for (int i = 0; i < got; i++)
            picked[i] = r->cand[order[i]];
        memcpy(r->cand, picked, (size_t)got * sizeof *picked);
        r->n = got;
    }
    free(rel);
    free(cat);
    free(order);
    free(scratch);
    free(picked);
    return rc;
}

/* Thompson sampling over new or little-shown live items in share of the slots. */
static void explore(struct run *r, int k)
{
    const struct rec_pipeline_config *c = r->c;
    int slots = (int)floor(c->explore_share * k + 0.5);
    if (!c->explore || slots <= 0 || r->e->n_arrivals == 0)
        return;
    int32_t pool[REC_ARRIVALS], chosen[REC_ARRIVALS];
    int n_pool = 0;
    for (int j = 0; j < r->e->n_arrivals; j++) {
        int32_t i = r->e->arrivals[j];
        int64_t imp, clk;
        rec_ts_counts(c->explore, i, &imp, &clk);
        double mult;
        int skip = imp >= c->explore_max_impressions || !admissible(r, i, &mult);
        for (int q = 0; !skip && q < r->n; q++)
            skip = r->cand[q].idx == i;
        for (int q = 0; !skip && q < n_pool; q++)
            skip = pool[q] == i;
        for (int32_t h = 0; !skip && r->us && h < r->us->n_hist; h++)
            skip = r->us->hist[h].item == i;
        if (!skip)
            pool[n_pool++] = i;
    }
    uint64_t rng = (uint64_t)(r->rq->now * 1e6) ^ (uint64_t)(uintptr_t)r->rq;
    int got = rec_ts_choose(c->explore, pool, n_pool, slots, &rng, chosen);
    /* exploration takes the last slots: the head of the list stays the best guesses */
    for (int q = 0; q < got; q++) {
        int at = r->n < k ? r->n : k - got + q;
        if (at < 0)
            break;
        const struct item_meta *m = meta_of(r->e, chosen[q]);
        struct cand cc = {chosen[q], 0, 0, REC_SOURCE_EXPLORE, -1,
                          m && m->n_cat ? m->cat[0] : -1, 1, NAN};
        if (at >= r->n)
            r->n = at + 1;
        r->cand[at] = cc;
    }
}

static void pin(struct run *r, int k)
{
    if (!r->c->rules)
        return;
    struct rec_rule_pin pins[MAX_PINS];
    int n = rec_rules_pins(r->c->rules, r->user_json, r->rq->ctx.json, pins, MAX_PINS);
    for (int q = 0; q < n; q++) {
        int32_t i = rec_idmap_get(&r->e->item_ids, pins[q].item);
        double mult;
        if (i < 0 || !admissible(r, i, &mult)) /* a pin never overrides a filter */
            continue;
        int from = -1;
        for (int j = 0; j < r->n; j++)
            if (r->cand[j].idx == i)
                from = j;
        int at = pins[q].position - 1;
        if (at >= k)
            continue;
        if (at > r->n)
            at = r->n;
        const struct item_meta *m = meta_of(r->e, i);
        struct cand pc = {i, 0, 0, REC_SOURCE_PIN, -1, m && m->n_cat ? m->cat[0] : -1, 1, NAN};
        if (from >= 0) {
            pc = r->cand[from];
            pc.src = REC_SOURCE_PIN;
            memmove(&r->cand[from], &r->cand[from + 1], (size_t)(r->n - from - 1) * sizeof *r->cand);
            r->n--;
        } else if (r->n == k) {
            r->n--; /* the last one makes room */
        }
        memmove(&r->cand[at + 1], &r->cand[at], (size_t)(r->n - at) * sizeof *r->cand);
        r->cand[at] = pc;
        r->n++;
    }
}

static const char *label(const struct rec_engine *e, int32_t i)
{
    const char *t = e->items[i].title;
    return t && *t ? t : rec_idmap_name(&e->item_ids, i);
}

static const char *cat_name(const struct rec_engine *e, int cat)
{
    return cat >= 0 ? rec_idmap_name(&e->cat_ids, cat) : NULL;
}

/* The user's leading category that item meta m has, or -1. The interests are a pass over the
 * whole history: computed for the first list item that needs them, which most requests have
 * none of (a personal reason comes first). */
static int interest_of(struct run *r, const struct item_meta *m)
{
    if (!r->interests_done) {
        user_interests(r);
        r->interests_done = 1;
    }
    for (int t = 0; t < r->n_top_cat; t++)
        if (has_cat(m, r->top_cat[t]))
            return r->top_cat[t];
    return -1;
}

static void explain(struct run *r, const struct cand *c, struct rec_pick *p)
{
    const struct rec_engine *e = r->e;
    struct rec_reason *why = &p->reason;
    const struct item_meta *m = meta_of(e, c->idx);
    why->item[0] = '\0';
    int interest = -1;
    const char *cat = cat_name(e, c->cat);
    /* the history item behind a personal candidate, looked for only now that it made the list */
    int32_t seed = -1, seed_pos = -1;
    if (r->us && (c->src == REC_SOURCE_ALS || c->src == REC_SOURCE_KNN))
        seed = rec_explain_seed(e, r->us, c->idx, c->seed, &seed_pos);
    if (c->src == REC_SOURCE_PIN) {
        why->kind = "promoted";
        snprintf(why->text, sizeof why->text, "featured");
    } else if (c->src == REC_SOURCE_EXPLORE) {
        why->kind = "exploration";
        snprintf(why->text, sizeof why->text, "something new to try%s%s", cat ? " in " : "",
                 cat ? cat : "");
    } else if (seed >= 0 && seed_pos >= 0) {
        why->kind = "because_you";
        snprintf(why->item, sizeof why->item, "%s", rec_idmap_name(&e->item_ids, seed));
        if (e->items[c->idx].cold && c->src == REC_SOURCE_ALS) /* content-based factors */
            snprintf(why->text, sizeof why->text, "new: like %s", label(e, seed));
        else
            snprintf(why->text, sizeof why->text, "because you %s %s",
                     rec_event_type_verb(r->us->hist[seed_pos].type), label(e, seed));
    } else if (c->src == REC_SOURCE_FRESH || (e->items[c->idx].cold && c->src == REC_SOURCE_ALS)) {
        why->kind = "new_in";
        snprintf(why->text, sizeof why->text, "new in %s", cat ? cat : "the catalog");
    } else if ((interest = interest_of(r, m)) >= 0) {
        why->kind = "matches_your_interest";
        snprintf(why->text, sizeof why->text, "matches your interest in %s", cat_name(e, interest));
    } else if ((c->src == REC_SOURCE_ALS || c->src == REC_SOURCE_KNN) && r->us) {
        /* the user's factors (or neighbours) ranked it, with no single history item alike */
        why->kind = "matches_your_interest";
        snprintf(why->text, sizeof why->text, "matches your taste");
    } else if (c->src == REC_SOURCE_POPULAR && r->by_attrs) {
        why->kind = "popular_with_similar_users";
        snprintf(why->text, sizeof why->text, "popular with people like you");
    } else {
        why->kind = "trending_in";
        if (cat)
            snprintf(why->text, sizeof why->text, "trending in %s", cat);
        else if (r->rq->ctx.region)
            snprintf(why->text, sizeof why->text, "trending in %s", r->rq->ctx.region);
        else
            snprintf(why->text, sizeof why->text, "trending now");
    }
    rec_utf8_sanitize(why->text);
}

int rec_pipeline_run(struct rec_engine *e, const struct rec_pipeline_config *c,
                     struct rec_pipeline_request *rq, struct rec_pick *out,
                     struct rec_pipeline_result *res)
{
    memset(res, 0, sizeof *res);
    res->model = "popular";
    if (rq->n < 1)
        return REC_EINVAL;
    int m = rq->n * POOL_PER_SLOT > MIN_POOL ? rq->n * POOL_PER_SLOT : MIN_POOL;
    struct run r = {.e = e, .c = c, .rq = rq, .res = res, .t = rec_mono_s()};
    r.cand = malloc((size_t)(m + c->fresh_candidates + MAX_PINS + 1) * sizeof *r.cand);
    if (!r.cand)
        return REC_ENOMEM;
    pthread_rwlock_rdlock(&e->lock);
    r.u = rec_idmap_get(&e->user_ids, rq->user);
    r.us = r.u >= 0 ? &e->users[r.u] : NULL;
    if (r.us && !r.us->live)
        r.us = NULL;
    if (c->rules || rq->filter) { /* what rules may read of the user */
        json_t *attrs = r.us && r.us->doc ? json_loads(r.us->doc, 0, NULL) : NULL;
        json_t *a = json_object_get(attrs, "attributes");
        r.user_json = json_pack("{s:s,s:O}", "id", rq->user, "attributes", a ? a : json_object());
        json_decref(attrs);
    }
    r.want_cat = rq->category ? rec_idmap_get(&e->cat_ids, rq->category) : -2;
    r.item_ctx = json_object();
    int rc = r.item_ctx ? retrieve(&r, m) : REC_ENOMEM;
    stage(&r, "retrieve", 0);
    int in = r.n;
    if (!rc) {
        find_near(&r);
        rc = filter_and_score(&r);
    }
    stage(&r, "filter_score", in);
    in = r.n;
    if (!rc)
        rc = diversify(&r, rq->n);
    stage(&r, "diversify", in);
    in = r.n;
    if (!rc)
        explore(&r, rq->n);
    stage(&r, "explore", in);
    in = r.n;
    if (!rc)
        pin(&r, rq->n);
    stage(&r, "pin", in);
    in = r.n;
    int personal = 0;
    if (!rc) {
        for (int k = 0; k < r.n && k < rq->n; k++) {
            struct rec_pick *p = &out[k];
            snprintf(p->id, sizeof p->id, "%s", rec_idmap_name(&e->item_ids, r.cand[k].idx));
            p->score = r.cand[k].rel;
            p->source = r.cand[k].src;
            p->ranker_p = r.cand[k].p;
            explain(&r, &r.cand[k], p);
            personal |= p->reason.kind[0] == 'b' || p->reason.kind[0] == 'm';
        }
        res->n = r.n < rq->n ? r.n : rq->n;
    }
    stage(&r, "explain", in);
    pthread_rwlock_unlock(&e->lock);
    json_decref(r.user_json);
    json_decref(r.item_ctx);
    free(r.block);
    free(r.cand);
    int mode = rq->opts.mode >= 0 ? rq->opts.mode : REC_MODE_HYBRID;
    static const char *const modes[] = {"hybrid", "popular", "knn", "als"};
    res->model = personal ? modes[mode] : r.by_attrs ? "attributes" : "popular";
    res->ranked = r.ranked;
    return rc;
}
