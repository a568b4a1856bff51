/* recommend.c: candidates from each source, fusion, filters and explanations.
 *
 * Sources: iALS (user factors against every item), item-kNN (neighbours of the user's latest
 * items) and decayed popularity. Each gives a ranked candidate list; the lists are fused by
 * weighted reciprocal rank (score = sum_s w_s / (RRF_K + rank_s)), which needs no score
 * calibration between sources. Each item's reason names the source that contributed most.
 * Cold start (coldstart_serve.c): items with content-derived factors join the iALS source (dot
 * with the user's factors) and similar lists (factor cosine); a user without history but with
 * attributes gets the attributes model's list in place of global popularity.
 * On a large catalog the iALS source scans the lists of the approximate index (model/ann.h)
 * nearest the user's factors instead of every item, once the trainer built one for the model.
 * Every function here runs under the engine's read lock.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"
#include "serve/engine_impl.h"
#include "model/attrs.h"
#include "model/linalg.h"
#include "serve/topk.h"

#define RRF_K 60.0f
#define EXPLAIN_COSINE 0.3f   /* factor cosine a history item needs to be named as the reason */
#define MIN_CANDIDATES 100
#define LIST_SLACK 4           /* a source's list buffers this many times its length */
#define PREFETCH 8            /* items ahead whose memory a loop over scattered items requests */

static const char *const mode_names[] = {
    [REC_MODE_HYBRID] = "hybrid",
    [REC_MODE_POPULAR] = "popular",
    [REC_MODE_KNN] = "knn",
    [REC_MODE_ALS] = "als",
};

/* One request's working state. The per-item part (slots) comes from the engine's pool and
 * is reset item by item at the end (serve/scratch.h), so a request costs what it touches, not
 * the catalog: nothing here loops over every item except the exact iALS scan (small catalogs,
 * or no index yet), the attributes model and the fallback of the popular source. */
struct scratch {
    int32_t n_items;
    struct rec_scratch *ws;       /* from e->scratch; slots of items < n_items */
    struct rec_item_slot *slot;   /* ws->slot */
    const struct rec_engine *e;   /* deleted items are tested inline (rec_item_live), not copied */
    struct rec_topk_entry *lists[3];  /* list_cap entries: room for rec_topk's buffering */
    int list_cap;
    int n_list[3];
    int by_attrs;         /* the popular list came from the attributes model */
    int als_search;       /* rec_request_opts.als_search */
    int ann_scanned;
    int ann_exact;        /* cold items scored exactly beside the index */
    const int32_t *extra_block;   /* items the request excludes */
    int n_extra_block;
};

static void scratch_free(struct rec_engine *e, struct scratch *s)
{
    rec_scratch_release(&e->scratch, s->ws);
    for (int k = 0; k < 3; k++)
        free(s->lists[k]);
}

/* Lock held (the catalog size must not change while the scratch is in use). */
static int scratch_init(struct rec_engine *e, struct scratch *s, int m)
{
    memset(s, 0, sizeof *s);
    s->n_items = e->item_ids.n_names;
    s->e = e;
    s->list_cap = LIST_SLACK * m;
    for (int k = 0; k < 3; k++)
        s->lists[k] = malloc((size_t)s->list_cap * sizeof *s->lists[k]);
    int rc = s->lists[0] && s->lists[1] && s->lists[2] ? 0 : REC_ENOMEM;
    if (!rc)
        rc = rec_scratch_acquire(&e->scratch, s->n_items, &s->ws);
    if (rc) {
        for (int k = 0; k < 3; k++)
            free(s->lists[k]);
        return rc;
    }
    s->slot = s->ws->slot;
    return 0;
}

/* Item i (< n_items) may not be recommended: deleted, or blocked by block_items. */
static inline int is_blocked(const struct scratch *s, int32_t i)
{
    return !rec_item_live(s->e, i) || (s->slot[i].mark & REC_SLOT_BLOCKED);
}

/* Marks the request's exclusions and the history items that may not come back: a few entries
 * per request, where a byte per catalog item used to be written. */
static void block_items(const struct rec_engine *e, const struct user *us, struct scratch *s)
{
    for (int k = 0; k < s->n_extra_block; k++)
        if (s->extra_block[k] >= 0 && s->extra_block[k] < s->n_items)
            rec_scratch_touch(s->ws, s->extra_block[k])->mark |= REC_SLOT_BLOCKED;
    if (!us)
        return;
    for (int32_t k = 0; k < us->n_hist; k++) {
        const struct hist_entry *h = &us->hist[k];
        /* disliked items never come back; consumed ones only when configured */
        if (h->weight <= 0 || e->p.exclude_seen)
            rec_scratch_touch(s->ws, h->item)->mark |= REC_SLOT_BLOCKED;
    }
}

/* The m most popular items not blocked, best first, as rec_topk ranks (float key, then index).
 * Walks the kept top list (model/pop_top.h) while it yields them; the list holds the best
 * REC_POP_TOP_CAP items, so only a request blocking most of them (or a list cut short by
 * removals) ranks the whole catalog. */
static int popular_list(const struct rec_engine *e, const struct scratch *s, int32_t n_items,
                        struct rec_topk_entry *out, int m)
{
    const struct rec_pop_top *top = &e->pop.top;
    int got = 0;
    for (int32_t r = 0; r < top->n && got < m; r++) {
        int32_t i = top->item[r];
        if (i < n_items && (s ? !is_blocked(s, i) : rec_item_live(e, i)))
            out[got++] = (struct rec_topk_entry){top->key[r], i};
    }
    if (got == m || rec_pop_top_complete(top))
        return got;
    struct rec_topk t;
    rec_topk_init(&t, out, m);
    for (int32_t i = 0; i < n_items; i++) {
        if (s ? is_blocked(s, i) : !rec_item_live(e, i))
            continue;
        double key = rec_pop_key(&e->pop, i);
        if (key > -INFINITY)
            rec_topk_push(&t, (float)key, i);
    }
    return rec_topk_sort(&t);
}

static void source_popular(const struct rec_engine *e, struct scratch *s, int m)
{
    s->n_list[REC_SOURCE_POPULAR] = popular_list(e, s, s->n_items, s->lists[REC_SOURCE_POPULAR], m);
}

/* Neighbours of the user's latest positive items. Visits at most recent_items rows. */
static void source_knn(const struct rec_engine *e, const struct user *us, struct scratch *s, int m)
{
    s->n_list[REC_SOURCE_KNN] = 0;
    if (!us)
        return;
    const struct rec_knn *knn = &e->knn;
    struct rec_scratch *ws = s->ws;
    int seeds = 0;
    for (int32_t k = us->n_hist - 1; k >= 0 && seeds < e->p.recent_items; k--) {
        const struct hist_entry *h = &us->hist[k];
        if (h->weight <= 0)
            continue;
        /* more recent seeds weigh a little more, so the list follows the user's latest interest */
        float w = 1.0f / (1.0f + 0.05f * (float)seeds++);
        float ni = h->item < knn->n_items ? knn->norm[h->item] : 0;
        if (ni <= 0)
            continue;
        struct rec_knn_view nb;
        rec_knn_row_view(knn, h->item, &nb);
        /* the hot loop of a request: one pass over the seed's neighbours, no calls. Each
         * neighbour costs two cache misses on a large catalog (its norm and its slot); asking
         * for them PREFETCH neighbours ahead overlaps the misses instead of paying them in turn */
        for (int32_t p = 0; p < nb.n; p++) {
            if (p + PREFETCH < nb.n) {
                int32_t ahead = rec_knn_view_nbr(&nb, p + PREFETCH);
                if (ahead < s->n_items) {
                    __builtin_prefetch(&knn->norm[ahead]);
                    __builtin_prefetch(&s->slot[ahead], 1);
                }
            }
            int32_t j = rec_knn_view_nbr(&nb, p);
            uint32_t cnt = rec_knn_view_cnt(&nb, p);
            float d = ni * knn->norm[j];
            if (cnt == 0 || d <= 0 || j >= s->n_items)
                continue;
            float c = w * (float)cnt / (d + knn->shrink);
            struct rec_item_slot *sl = rec_scratch_touch(ws, j);
            sl->acc += c;
            if (c > sl->seed_sim) {
                sl->seed_sim = c;
                sl->seed = h->item;
            }
        }
    }
    /* every item with acc > 0 was touched above: the candidates come from the touched list
     * (rec_topk's order is total, so the visiting order does not change the list) */
    struct rec_topk t;
    rec_topk_init_buffered(&t, s->lists[REC_SOURCE_KNN], m, s->list_cap);
    for (int32_t k = 0; k < ws->n_touched; k++) {
        if (k + PREFETCH < ws->n_touched)
            __builtin_prefetch(&s->slot[ws->touched[k + PREFETCH]]);
        int32_t i = ws->touched[k];
        float a = s->slot[i].acc;
        /* a score below a full heap's worst cannot enter: decide that before is_blocked, whose
         * read of items[] is a cache miss per item (most of them, with many neighbours) */
        if (!(a > 0) || a < rec_topk_floor(&t))
            continue;
        if (!is_blocked(s, i))
            rec_topk_push(&t, a, i);
    }
    s->n_list[REC_SOURCE_KNN] = rec_topk_sort(&t);
}

/* *mean and *scale (1/std) of the finite s[0..n), as rec_blend_standardize computes them. */
static void zscore_params(const float *s, int32_t n, float *mean, float *scale)
{
    double sum = 0, sq = 0;
    int64_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (isfinite(s[i])) {
            sum += s[i];
            sq += (double)s[i] * s[i];
            m++;
        }
    double mu = m ? sum / (double)m : 0, var = m ? sq / (double)m - mu * mu : 0;
    *mean = (float)mu;
    *scale = var > 1e-30 ? (float)(1.0 / sqrt(var)) : 0.0f;
}

/* With extra sources published (recd tune's blend), scores[0..n_model) becomes the weighted
 * sum of the standardized iALS scores and each source's scores for the user's live history.
 * *mean and *scale give the iALS part's transform (weight included) for cold items past
 * n_model, which the sources cannot score. */
static int blend_scores(const struct rec_engine *e, int32_t u, const struct user *us, float *scores,
                        int32_t n_model, float *mean, float *scale)
{
    const struct rec_blend *b = e->blend;
    zscore_params(scores, n_model, mean, scale);
    *scale *= b->weight[0];
    for (int32_t i = 0; i < n_model; i++)
        scores[i] = isfinite(scores[i]) ? (scores[i] - *mean) * *scale : -INFINITY;
    float *tmp = malloc(((size_t)b->n_items + 1) * sizeof *tmp);
    int32_t *items = malloc(((size_t)us->n_hist + 1) * sizeof *items);
    float *w = malloc(((size_t)us->n_hist + 1) * sizeof *w);
    int64_t *ts = malloc(((size_t)us->n_hist + 1) * sizeof *ts);
    int rc = tmp && items && w && ts ? 0 : REC_ENOMEM;
    int n = 0;
    for (int32_t h = 0; h < us->n_hist && !rc; h++)
        if (us->hist[h].weight > 0 && us->hist[h].item < b->n_items) {
            items[n] = us->hist[h].item;
            w[n] = us->hist[h].weight;
            ts[n++] = us->hist[h].ts;
        }
    /* a user with no event since the fit keeps the fitted row (BPR); others are folded in */
    struct rec_user_query q = {us->last_seq <= e->model_trained_seq ? u : -1, items, w, ts, n,
                               e->max_ts, NULL};
    int32_t n_src = b->n_items < n_model ? b->n_items : n_model;
    for (int src = 1; src < b->n && !rc; src++) {
        if (!b->model[src] || b->weight[src] <= 0)
            continue;
        if ((rc = b->type[src]->score(b->model[src], &q, tmp)))
            break;
        rec_blend_standardize(tmp, b->n_items);
        for (int32_t i = 0; i < n_src; i++)
            scores[i] += b->weight[src] * tmp[i];
        for (int32_t i = n_src; i < n_model; i++)
            scores[i] = -INFINITY; /* items the sources never saw cannot be compared */
    }
    free(tmp);
    free(items);
    free(w);
    free(ts);
    return rc;
}

/* The index search's filter: blocked items, and cold ones (REC_SLOT_ANN_SKIP). */
static int ann_skip(const void *ctx, int32_t i)
{
    const struct scratch *s = ctx;
    return !rec_item_live(s->e, i) || (s->slot[i].mark & (REC_SLOT_BLOCKED | REC_SLOT_ANN_SKIP));
}

/* Leaves item i out of the index search (ann_skip), once per request. */
static void ann_skip_mark(struct scratch *s, int32_t i)
{
    if (i >= 0 && i < s->n_items)
        rec_scratch_touch(s->ws, i)->mark |= REC_SLOT_ANN_SKIP;
}

/* After the search: if item i was left out (and not seen here before), its exact score when it
 * has cold factors now. */
static void ann_skipped_score(const struct rec_engine *e, const float *xu, float cw,
                              struct scratch *s, int32_t i, struct rec_topk *t)
{
    if (i < 0 || i >= s->n_items || !(s->slot[i].mark & REC_SLOT_ANN_SKIP))
        return;
    s->slot[i].mark &= (uint8_t)~REC_SLOT_ANN_SKIP;
    const struct cold_set *c = &e->cold;
    int k = rec_als_factors(e->als);
    int32_t slot = e->items[i].cold - 1;
    if (slot >= 0 && c->k == k && cw > 0 && !is_blocked(s, i)) {
        rec_topk_push(t, cw * rec_linalg_dot(xu, c->x + (size_t)slot * k, k), i);
        s->ann_exact++;
    }
}

/* source_als through the approximate index: the items of its ann_nprobe best lists. The index
 * holds the cold items' factors as they were at its build, times the cold weight it was built
 * with (ann_cold.c); the cold items changed since (e->ann_log) are left out of the search and
 * scored exactly, times the cold weight cw (at 0 they are left out). A request with another
 * cold weight than the index's scores every cold item exactly. Returns 0, or REC_ENOMEM (the
 * caller scans every item instead). */
static int source_als_ann(const struct rec_engine *e, const float *xu, float cw, struct scratch *s,
                          int m)
{
    const struct cold_set *c = &e->cold;
    const struct ann_log *l = &e->ann_log;
    int all_cold = cw != e->ann_cold_weight;
    int32_t n_cold = all_cold && c->k == rec_als_factors(e->als) ? c->n : 0;
    for (int32_t j = l->from; j < l->n; j++)
        ann_skip_mark(s, l->item[j]);
    for (int32_t j = 0; j < n_cold; j++)
        ann_skip_mark(s, c->item[j]);
    struct rec_topk t;
    rec_topk_init_buffered(&t, s->lists[REC_SOURCE_ALS], m, s->list_cap);
    int scanned = rec_ann_search_filter(e->ann, xu, e->p.ann_nprobe, ann_skip, s, &t);
    for (int32_t j = l->from; j < l->n; j++) /* every mark is cleared, error or not */
        ann_skipped_score(e, xu, cw, s, l->item[j], &t);
    for (int32_t j = 0; j < n_cold; j++)
        ann_skipped_score(e, xu, cw, s, c->item[j], &t);
    if (scanned < 0) {
        s->ann_exact = 0;
        return scanned;
    }
    s->n_list[REC_SOURCE_ALS] = rec_topk_sort(&t);
    s->als_search = 2;
    s->ann_scanned = scanned;
    return 0;
}

static void source_als(const struct rec_engine *e, int32_t u, const struct user *us,
                       const struct rec_request_opts *o, struct scratch *s, int m)
{
    s->n_list[REC_SOURCE_ALS] = 0;
    if (!e->als || !us || !us->has_x)
        return;
    int k = rec_als_factors(e->als);
    int32_t n_model = rec_als_n_items(e->als);
    if (n_model > s->n_items)
        n_model = s->n_items;
    const float *xu = e->ux + (size_t)u * k;
    float cw = o && o->cold_weight >= 0 ? o->cold_weight : 1.0f - e->p.cold_damping;
    /* a published blend standardizes and mixes every item's score: it needs the full scan */
    if (e->ann && !e->blend && n_model >= e->p.ann_min_items &&
        rec_ann_n_items(e->ann) <= s->n_items && source_als_ann(e, xu, cw, s, m) == 0)
        return;
    /* the full scan: scores for every model item (n_model may be clamped, the model is not) */
    int32_t n_all = rec_als_n_items(e->als);
    float *scores = rec_scratch_scores(s->ws, n_all > s->n_items ? n_all : s->n_items);
    if (!scores)
        return; /* out of memory: this source is left out; popular items stand in */
    s->als_search = 1;
    rec_als_score_all(e->als, xu, scores);
    /* cold items: content-derived factors instead of untrained rows (a short list), their
     * scores times the cold weight; at 0 they stay out of this list */
    const struct cold_set *c = &e->cold;
    int n_cold = c->k == k && cw > 0 ? c->n : 0;
    for (int32_t j = 0; j < n_cold; j++)
        if (c->item[j] < n_model)
            scores[c->item[j]] = cw * rec_linalg_dot(xu, c->x + (size_t)j * k, k);
    if (cw <= 0) /* untrained rows of cold items score nothing */
        for (int32_t j = 0; j < c->n && c->k == k; j++)
            if (c->item[j] < n_model)
                scores[c->item[j]] = -INFINITY;
    float mean = 0, scale = 1;
    if (e->blend && blend_scores(e, u, us, scores, n_model, &mean, &scale))
        return; /* out of memory: this source is left out; popular items stand in */
    struct rec_topk t;
    rec_topk_init_buffered(&t, s->lists[REC_SOURCE_ALS], m, s->list_cap);
    for (int32_t i = 0; i < n_model; i++) /* the floor first: is_blocked reads two arrays */
        if (scores[i] > -INFINITY && scores[i] >= rec_topk_floor(&t) && !is_blocked(s, i))
            rec_topk_push(&t, scores[i], i);
    for (int32_t j = 0; j < n_cold; j++) {
        int32_t i = c->item[j];
        if (i >= n_model && i < s->n_items && !is_blocked(s, i))
            rec_topk_push(&t, (cw * rec_linalg_dot(xu, c->x + (size_t)j * k, k) - mean) * scale, i);
    }
    s->n_list[REC_SOURCE_ALS] = rec_topk_sort(&t);
}

/* A user without history but with attributes: the attributes model's list in the popular slot.
 * Returns 0 when it does not apply (no model, no attributes), and popularity is used. */
static int source_attrs(const struct rec_engine *e, const struct user *us, struct scratch *s,
                        int m)
{
    int32_t n = e->attrs_n_items;
    if (!e->attrs || !us || !us->doc || n > s->n_items)
        return 0;
    struct rec_user_query q = {-1, NULL, NULL, NULL, 0, e->max_ts, us->doc};
    float *scores = rec_scratch_scores(s->ws, s->n_items);
    if (!scores || rec_model_attrs.score(e->attrs, &q, scores))
        return 0;
    struct rec_topk t;
    rec_topk_init_buffered(&t, s->lists[REC_SOURCE_POPULAR], m, s->list_cap);
    for (int32_t i = 0; i < n; i++)
        if (scores[i] > -INFINITY && !is_blocked(s, i))
            rec_topk_push(&t, scores[i], i);
    s->n_list[REC_SOURCE_POPULAR] = rec_topk_sort(&t);
    s->by_attrs = s->n_list[REC_SOURCE_POPULAR] > 0;
    return s->by_attrs;
}

/* Weighted reciprocal-rank fusion of the lists present; returns the final top-n. */
static int fuse(const struct rec_engine *e, const struct rec_request_opts *o, struct scratch *s,
                int n, struct rec_topk_entry *out)
{
    /* with a published blend (tune's sources) the iALS list is that blend; kNN and popularity
     * are fused with it as without one, at the weights recd tune chose with it */
    float w_knn = o && o->blend_knn >= 0 ? o->blend_knn : e->p.blend_knn;
    float w_pop = o && o->blend_popular >= 0 ? o->blend_popular : e->p.blend_popular;
    const float source_weight[] = {
        [REC_SOURCE_ALS] = 1.0f,
        [REC_SOURCE_KNN] = w_knn,
        [REC_SOURCE_POPULAR] = w_pop,
    };
    for (int src = 0; src < 3; src++) {
        for (int r = 0; r < s->n_list[src]; r++) {
            struct rec_item_slot *sl = rec_scratch_touch(s->ws, s->lists[src][r].idx);
            float c = source_weight[src] / (RRF_K + (float)(r + 1));
            if (sl->fused == 0 || c > sl->best_contrib) {
                sl->best_contrib = c;
                sl->best_src = (int8_t)src;
            }
            sl->fused += c;
        }
    }
    struct rec_topk t;
    rec_topk_init(&t, out, n);
    for (int src = 0; src < 3; src++)
        for (int r = 0; r < s->n_list[src]; r++) {
            int32_t i = s->lists[src][r].idx;
            if (s->slot[i].fused > 0) {
                rec_topk_push(&t, s->slot[i].fused, i);
                s->slot[i].fused = -s->slot[i].fused; /* an item on several lists is offered once */
            }
        }
    return rec_topk_sort(&t);
}

/* Runs the sources mode allows and fills out[0..n) best first, with each item's source. */
static int rank_for_user(struct rec_engine *e, int32_t u, int n, enum rec_mode mode,
                         const struct rec_request_opts *o, struct scratch *s,
                         struct rec_topk_entry *out, int *src_of)
{
    const struct user *us = u >= 0 ? rec_engine_user_at(e, u) : NULL;
    if (us && !us->live)
        us = NULL;
    int m = n > MIN_CANDIDATES ? n : MIN_CANDIDATES;
    block_items(e, us, s);
    if (mode == REC_MODE_HYBRID || mode == REC_MODE_ALS)
        source_als(e, u, us, o, s, m);
    if (mode == REC_MODE_HYBRID || mode == REC_MODE_KNN)
        source_knn(e, us, s, m);
    int no_history = s->n_list[REC_SOURCE_ALS] + s->n_list[REC_SOURCE_KNN] == 0;
    if (mode == REC_MODE_HYBRID && no_history && source_attrs(e, us, s, m))
        ; /* people like this user stand in for global popularity */
    else if (mode == REC_MODE_HYBRID || mode == REC_MODE_POPULAR || no_history)
        source_popular(e, s, m);

    int got;
    if (mode == REC_MODE_HYBRID) {
        got = fuse(e, o, s, n, out);
        for (int r = 0; r < got; r++)
            src_of[r] = s->slot[out[r].idx].best_src;
    } else {
        int src = mode == REC_MODE_ALS ? REC_SOURCE_ALS : mode == REC_MODE_KNN ? REC_SOURCE_KNN
                                                                                : REC_SOURCE_POPULAR;
        if (s->n_list[src] == 0)
            src = REC_SOURCE_POPULAR; /* no signal for this user: fall back */
        got = s->n_list[src] < n ? s->n_list[src] : n;
        memcpy(out, s->lists[src], (size_t)got * sizeof *out);
        for (int r = 0; r < got; r++)
            src_of[r] = src;
    }
    return got;
}

static const char *item_label(const struct rec_engine *e, int32_t i)
{
    const char *t = e->items[i].title;
    return t && *t ? t : rec_idmap_name(&e->item_ids, i);
}

int32_t rec_explain_seed(const struct rec_engine *e, const struct user *us, int32_t i,
                         int32_t knn_seed, int32_t *hist_pos)
{
    int32_t best = knn_seed;
    const float *yi = best < 0 ? rec_cold_item_vec(e, i) : NULL; /* cold items have factors too */
    if (yi) {
        int k = rec_als_factors(e->als), seen = 0;
        float ni = 0;
        for (int f = 0; f < k; f++)
            ni += yi[f] * yi[f];
        /* only a history item clearly alike explains: cosine above EXPLAIN_COSINE (a weak
         * positive dot product would name an unrelated item as the reason) */
        float best_cos = EXPLAIN_COSINE;
        for (int32_t h = us->n_hist - 1; h >= 0 && seen < e->p.recent_items && ni > 0; h--) {
            const struct hist_entry *he = &us->hist[h];
            const float *yj = he->weight > 0 ? rec_cold_item_vec(e, he->item) : NULL;
            if (!yj)
                continue;
            seen++;
            float d = 0, nj = 0;
            for (int f = 0; f < k; f++) {
                d += yi[f] * yj[f];
                nj += yj[f] * yj[f];
            }
            float cs = nj > 0 ? d / sqrtf(ni * nj) : 0;
            if (cs > best_cos) {
                best_cos = cs;
                best = he->item;
            }
        }
    }
    if (best < 0)
        return -1;
    for (int32_t h = us->n_hist - 1; h >= 0; h--) {
        if (us->hist[h].item == best) {
            *hist_pos = h;
            return best;
        }
    }
    return -1;
}

/* One ranking request: its buffers and the read lock, taken by ranking_begin and given back by
 * ranking_end whatever happened in between. */
struct ranking {
    struct rec_topk_entry *top;
    int *src;
    struct scratch s;
    int ready;
};

static int ranking_begin(struct rec_engine *e, int n, struct ranking *rk)
{
    rk->top = malloc((size_t)n * sizeof *rk->top);
    rk->src = malloc((size_t)n * sizeof *rk->src);
    pthread_rwlock_rdlock(&e->lock);
    int rc = rk->top && rk->src ? scratch_init(e, &rk->s, n > MIN_CANDIDATES ? n : MIN_CANDIDATES)
                                : REC_ENOMEM;
    rk->ready = rc == 0;
    return rc;
}

static void ranking_end(struct rec_engine *e, struct ranking *rk)
{
    if (rk->ready)
        scratch_free(e, &rk->s);
    pthread_rwlock_unlock(&e->lock);
    free(rk->top);
    free(rk->src);
}

int rec_retrieve(struct rec_engine *e, int32_t u, int m, struct rec_request_opts *o,
                 const int32_t *block, int n_block, struct rec_candidate *out, int *n_out,
                 int *by_attrs)
{
    *n_out = 0;
    *by_attrs = 0;
    if (m <= 0)
        return 0;
    struct scratch sc;
    struct rec_topk_entry *top = malloc((size_t)m * sizeof *top);
    int *src = malloc((size_t)m * sizeof *src);
    int rc = top && src ? scratch_init(e, &sc, m > MIN_CANDIDATES ? m : MIN_CANDIDATES) : REC_ENOMEM;
    if (rc) {
        free(top);
        free(src);
        return rc;
    }
    /* rank_for_user blocks deleted and seen items itself; the request's own blocks ride on
     * the same array: block_items runs first inside, so mark after through a pre-pass */
    const struct user *us = u >= 0 ? rec_engine_user_at(e, u) : NULL;
    if (us && !us->live)
        us = NULL;
    enum rec_mode mode = o && o->mode >= 0 ? (enum rec_mode)o->mode : REC_MODE_HYBRID;
    sc.extra_block = block;
    sc.n_extra_block = n_block;
    int got = rank_for_user(e, us ? u : -1, m, mode, o, &sc, top, src);
    if (o && sc.n_list[REC_SOURCE_ALS] > 0)
        o->top_model_score = sc.lists[REC_SOURCE_ALS][0].score;
    if (o) {
        o->als_search = sc.als_search;
        o->ann_scanned = sc.ann_scanned;
        o->ann_exact = sc.ann_exact;
    }
    for (int r = 0; r < got; r++) {
        struct rec_candidate *c = &out[r];
        c->idx = top[r].idx;
        c->score = top[r].score;
        c->src = (int8_t)src[r];
        /* the reason is found later, for the few candidates that make the list */
        c->seed = src[r] != REC_SOURCE_POPULAR && us ? sc.slot[c->idx].seed : -1;
    }
    *n_out = got;
    *by_attrs = sc.by_attrs;
    scratch_free(e, &sc);
    free(top);
    free(src);
    return 0;
}

int rec_engine_recommend_idx(struct rec_engine *e, int32_t user, int n, enum rec_mode mode,
                             const struct rec_request_opts *o, int32_t *items, int *n_out)
{
    *n_out = 0;
    if (n <= 0)
        return 0;
    struct ranking rk;
    int rc = ranking_begin(e, n, &rk);
    if (!rc) {
        int got = rank_for_user(e, user, n, mode, o, &rk.s, rk.top, rk.src);
        for (int r = 0; r < got; r++)
            items[r] = rk.top[r].idx;
        *n_out = got;
    }
    ranking_end(e, &rk);
    return rc;
}

void rec_request_opts_default(struct rec_request_opts *o)
{
    o->mode = -1;
    o->blend_knn = o->blend_popular = -1.0f;
    o->cold_weight = -1.0f;
    o->top_model_score = NAN;
    o->als_search = o->ann_scanned = o->ann_exact = 0;
}

int rec_mode_parse(const char *name)
{
    for (int m = 0; m < (int)(sizeof mode_names / sizeof mode_names[0]); m++)
        if (strcmp(name, mode_names[m]) == 0)
            return m;
    return -1;
}

int rec_engine_recommend(struct rec_engine *e, const char *user, int n, struct rec_result *out,
                         int *n_out, const char **model)
{
    return rec_engine_recommend_opts(e, user, n, NULL, out, n_out, model);
}

int rec_engine_recommend_opts(struct rec_engine *e, const char *user, int n,
                              struct rec_request_opts *o, struct rec_result *out, int *n_out,
                              const char **model)
{
    *n_out = 0;
    if (o) {
        o->top_model_score = NAN;
        o->als_search = o->ann_scanned = o->ann_exact = 0;
    }
    *model = mode_names[REC_MODE_POPULAR];
    if (n <= 0)
        return 0;
    struct ranking rk;
    int rc = ranking_begin(e, n, &rk);
    if (!rc) {
        int32_t u = rec_idmap_get(&e->user_ids, user);
        const struct user *us = u >= 0 ? &e->users[u] : NULL;
        enum rec_mode mode = o && o->mode >= 0 ? (enum rec_mode)o->mode : REC_MODE_HYBRID;
        int got = rank_for_user(e, u, n, mode, o, &rk.s, rk.top, rk.src);
        if (o && rk.s.n_list[REC_SOURCE_ALS] > 0)
            o->top_model_score = rk.s.lists[REC_SOURCE_ALS][0].score;
        if (o) {
            o->als_search = rk.s.als_search;
            o->ann_scanned = rk.s.ann_scanned;
            o->ann_exact = rk.s.ann_exact;
        }
        int personal = 0;
        for (int r = 0; r < got; r++) {
            struct rec_result *res = &out[r];
            int32_t i = rk.top[r].idx, pos = -1;
            snprintf(res->id, sizeof res->id, "%s", rec_idmap_name(&e->item_ids, i));
            res->score = rk.top[r].score;
            res->source = rk.src[r];
            res->because[0] = '\0';
            res->kind = "because_you";
            int32_t why = rk.src[r] != REC_SOURCE_POPULAR && us
                              ? rec_explain_seed(e, us, i, rk.s.slot[i].seed, &pos) : -1;
            int cold = e->items[i].cold && rk.src[r] == REC_SOURCE_ALS;
            if (why >= 0) {
                personal = 1;
                snprintf(res->because, sizeof res->because, "%s", rec_idmap_name(&e->item_ids, why));
                if (cold)
                    snprintf(res->reason, sizeof res->reason, "new: like %s", item_label(e, why));
                else
                    snprintf(res->reason, sizeof res->reason, "because you %s %s",
                             rec_event_type_verb(us->hist[pos].type), item_label(e, why));
                rec_utf8_sanitize(res->reason); /* a long title may be cut mid-character */
            } else if (cold) {
                personal = 1; /* ranked by the user's factors, nothing in the history alike */
                res->kind = "matches_your_interest";
                snprintf(res->reason, sizeof res->reason, "new: matches your taste");
            } else if (rk.src[r] != REC_SOURCE_POPULAR && us) {
                personal = 1; /* the user's factors ranked it; no single history item alike */
                res->kind = "matches_your_interest";
                snprintf(res->reason, sizeof res->reason, "matches your taste");
            } else if (rk.s.by_attrs) {
                res->source = REC_SOURCE_POPULAR;
                res->kind = "popular_with_similar_users";
                snprintf(res->reason, sizeof res->reason, "popular with people like you");
            } else {
                res->source = REC_SOURCE_POPULAR;
                res->kind = "trending_in";
                snprintf(res->reason, sizeof res->reason, "popular now");
            }
        }
        *n_out = got;
        *model = personal ? mode_names[mode]
                          : rk.s.by_attrs ? "attributes" : mode_names[REC_MODE_POPULAR];
    }
    ranking_end(e, &rk);
    return rc;
}

int rec_engine_popular(struct rec_engine *e, int n, struct rec_result *out, int *n_out)
{
    *n_out = 0;
    if (n <= 0)
        return 0;
    struct rec_topk_entry *top = malloc((size_t)n * sizeof *top);
    if (!top)
        return REC_ENOMEM;
    pthread_rwlock_rdlock(&e->lock);
    int got = popular_list(e, NULL, e->item_ids.n_names, top, n);
    for (int r = 0; r < got; r++) {
        int32_t i = top[r].idx;
        snprintf(out[r].id, sizeof out[r].id, "%s", rec_idmap_name(&e->item_ids, i));
        out[r].score = rec_pop_value(&e->pop, i, e->max_ts);
        out[r].source = REC_SOURCE_POPULAR;
        out[r].because[0] = '\0';
        /* as the pipeline's reasons from popularity say it (pipeline.c) */
        const struct item_meta *m = e->items[i].meta;
        out[r].kind = "trending_in";
        if (m && m->n_cat > 0)
            snprintf(out[r].reason, sizeof out[r].reason, "trending in %s",
                     rec_idmap_name(&e->cat_ids, m->cat[0]));
        else
            snprintf(out[r].reason, sizeof out[r].reason, "trending now");
        rec_utf8_sanitize(out[r].reason);
    }
    *n_out = got;
    pthread_rwlock_unlock(&e->lock);
    free(top);
    return 0;
}

struct similar_visit {
    struct rec_topk *t;
    const struct rec_engine *e;
    int32_t self;
};

static void similar_push(void *ctx, int32_t j, float sim)
{
    struct similar_visit *v = ctx;
    if (j != v->self && j < v->e->item_ids.n_names && rec_item_live(v->e, j))
        rec_topk_push(v->t, sim, j);
}

/* Cosine of x (norm nx) and y, k floats each; 0 when either is all zeros. */
static float cosine(const float *x, float nx, const float *y, int k)
{
    float d = nx * sqrtf(rec_linalg_dot(y, y, k));
    return d > 0 ? rec_linalg_dot(x, y, k) / d : 0;
}

/* Every live item with factors (cold ones included) by cosine with x, item self left out. */
static void similar_by_factors(const struct rec_engine *e, int32_t self, const float *x, int k,
                               struct rec_topk *t)
{
    float nx = sqrtf(rec_linalg_dot(x, x, k));
    int32_t n_model = rec_als_n_items(e->als);
    for (int32_t j = 0; j < n_model; j++) {
        const float *yj = j != self && rec_item_live(e, j) ? rec_cold_item_vec(e, j) : NULL;
        if (yj)
            rec_topk_push(t, cosine(x, nx, yj, k), j);
    }
    const struct cold_set *c = &e->cold;
    for (int32_t s = 0; s < c->n; s++) {
        int32_t j = c->item[s];
        if (j >= n_model && j != self && rec_item_live(e, j))
            rec_topk_push(t, cosine(x, nx, c->x + (size_t)s * k, k), j);
    }
}

/* Merges cold items into a kNN list top[0..got) (capacity n): each of the max(1, n/5) cold
 * items closest to x (positive cosine) goes before the first listed item it is at least as
 * close to (ties, within float noise, go to the new item), so a new item ranks among the
 * neighbours it resembles. The cap: a cold item's factors are a mean of its look-alikes', which
 * is closer to each of them than they are to one another, so uncapped, new items would fill
 * the lists of their whole neighbourhood (9.8 of 10 in a synthetic catalog with 10% new items).
 * cold_at[r] marks merged entries. Returns the new length. Costs the cold list plus n cosines. */
static int merge_cold(const struct rec_engine *e, int32_t self, const float *x, int k,
                      struct rec_topk_entry *top, int got, int n, uint8_t *cold_at)
{
    int cap = n / 5 > 1 ? n / 5 : 1;
    struct rec_topk_entry *cand = malloc((size_t)cap * sizeof *cand);
    struct rec_topk_entry *warm = malloc((size_t)(got > 0 ? got : 1) * sizeof *warm);
    float *warm_cos = malloc((size_t)(got > 0 ? got : 1) * sizeof *warm_cos);
    int32_t *listed_slot = malloc((size_t)(got > 0 ? got : 1) * sizeof *listed_slot);
    int out = got;
    if (!cand || !warm || !warm_cos || !listed_slot)
        goto done; /* out of memory: the kNN list alone */
    /* cold items already listed (they got events since the fit): their slots, usually none */
    int n_listed = 0;
    for (int r = 0; r < got; r++)
        if (e->items[top[r].idx].cold)
            listed_slot[n_listed++] = e->items[top[r].idx].cold - 1;
    float nx = sqrtf(rec_linalg_dot(x, x, k));
    struct rec_topk t;
    rec_topk_init(&t, cand, cap);
    const struct cold_set *c = &e->cold;
    for (int32_t s = 0; s < c->n; s++) {
        int32_t j = c->item[s];
        int listed = 0;
        for (int r = 0; r < n_listed && !listed; r++)
            listed = listed_slot[r] == s;
        if (j == self || !rec_item_live(e, j) || listed || !(c->norm > 0) || !(nx > 0))
            continue;
        /* every cold row has norm c->norm: one dot per item */
        float cs = rec_linalg_dot(x, c->x + (size_t)s * k, k) / (nx * c->norm);
        if (cs > 0)
            rec_topk_push(&t, cs, j);
    }
    int n_cand = rec_topk_sort(&t);
    memcpy(warm, top, (size_t)got * sizeof *warm);
    for (int r = 0; r < got; r++) {
        const float *y = rec_cold_item_vec(e, warm[r].idx);
        warm_cos[r] = y ? cosine(x, nx, y, k) : -INFINITY;
    }
    int a = 0, b = 0;
    out = 0;
    while (out < n && (a < got || b < n_cand)) {
        int take_cold = b < n_cand && (a >= got || cand[b].score >= warm_cos[a] - 1e-4f);
        cold_at[out] = (uint8_t)take_cold;
        top[out++] = take_cold ? cand[b++] : warm[a++];
    }
done:
    free(cand);
    free(warm);
    free(warm_cos);
    free(listed_slot);
    return out;
}

int rec_engine_similar(struct rec_engine *e, const char *item, int n, struct rec_result *out,
                       int *n_out)
{
    *n_out = 0;
    struct rec_topk_entry *top = malloc((size_t)(n > 0 ? n : 1) * sizeof *top);
    struct rec_topk_entry *fac = malloc((size_t)(n > 0 ? n : 1) * sizeof *fac);
    uint8_t *cold_at = calloc((size_t)(n > 0 ? n : 1), 1);
    uint8_t *by_factors = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!top || !fac || !cold_at || !by_factors) {
        free(top);
        free(fac);
        free(cold_at);
        free(by_factors);
        return REC_ENOMEM;
    }
    pthread_rwlock_rdlock(&e->lock);
    int32_t i = rec_idmap_get(&e->item_ids, item);
    if (i < 0 || !rec_item_live(e, i)) {
        pthread_rwlock_unlock(&e->lock);
        free(top);
        free(fac);
        free(cold_at);
        free(by_factors);
        return REC_ENOTFOUND;
    }
    struct rec_topk t;
    rec_topk_init(&t, top, n);
    struct similar_visit v = {&t, e, i};
    rec_knn_each(&e->knn, i, similar_push, &v);
    int source = REC_SOURCE_KNN;
    const float *x = rec_cold_item_vec(e, i); /* trained row or cold factors */
    int k = e->als ? rec_als_factors(e->als) : 0;
    int got = rec_topk_sort(&t);
    if (got < n && x) {
        /* too few co-occurrences (a new item): the co-occurring items first, then the nearest
         * in factor space */
        struct rec_topk f;
        rec_topk_init(&f, fac, n);
        similar_by_factors(e, i, x, k, &f);
        int nf = rec_topk_sort(&f);
        for (int r = 0; r < nf && got < n; r++) {
            int dup = 0;
            for (int q = 0; q < got && !dup; q++)
                dup = top[q].idx == fac[r].idx;
            if (!dup) {
                by_factors[got] = 1;
                top[got++] = fac[r];
            }
        }
        if (got > 0 && by_factors[0])
            source = REC_SOURCE_ALS; /* nothing co-occurred */
    } else if (x && e->cold.n > 0) {
        got = merge_cold(e, i, x, k, top, got, n, cold_at);
    }
    for (int r = 0; r < got; r++) {
        int32_t j = top[r].idx;
        int src = cold_at[r] || by_factors[r] ? REC_SOURCE_ALS : source;
        int new_item = cold_at[r] || (src == REC_SOURCE_ALS && e->items[j].cold);
        snprintf(out[r].id, sizeof out[r].id, "%s", rec_idmap_name(&e->item_ids, j));
        out[r].score = top[r].score;
        out[r].source = src;
        snprintf(out[r].because, sizeof out[r].because, "%s", item);
        out[r].kind = src == REC_SOURCE_KNN ? "often_together_with" : "similar_to"; /* knn: never new */
        snprintf(out[r].reason, sizeof out[r].reason, "%s %s",
                 new_item ? "new: like" : src == REC_SOURCE_KNN ? "often together with" : "similar to",
                 item_label(e, i));
        rec_utf8_sanitize(out[r].reason);
    }
    *n_out = got;
    pthread_rwlock_unlock(&e->lock);
    free(top);
    free(fac);
    free(cold_at);
    free(by_factors);
    return 0;
}
