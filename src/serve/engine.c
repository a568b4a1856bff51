/* engine.c: the engine's state: catalog, users, histories, and their incremental models. */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np: writers must not starve behind event posts */
#include "serve/engine_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/half.h"
#include "core/halt.h"
#include "core/log.h"
#include "model/linalg.h"
#include "store/store.h"

int rec_engine_create(const struct rec_engine_params *p, struct rec_store *store,
                      struct rec_engine **out)
{
    const char *msg = rec_als_check_params(&p->als);
    if (!msg && !(p->cold_damping >= 0 && p->cold_damping <= 1))
        msg = "--cold-weight must be 0..1";
    if (!msg && (p->ann_min_items < 0 || p->ann_nprobe < 1 || p->ann_lists < 0))
        msg = "ann-min-items and ann-lists must be >= 0, ann-nprobe >= 1";
    if (msg) {
        rec_error("engine: %s", msg);
        return REC_EINVAL;
    }
    struct rec_engine *e = calloc(1, sizeof *e);
    if (!e)
        return REC_ENOMEM;
    /* requests run on many threads already; a threaded BLAS call per request would only spin
     * (training uses its own worker threads) */
    rec_linalg_set_blas_threads(1);
    e->p = *p;
    if (e->p.knn_window < 1)
        e->p.knn_window = 1;
    if (e->p.recent_items < 1)
        e->p.recent_items = 1;
    e->p.model_dir = NULL;  /* re-pointed below to our own copy */
    e->store = store;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&e->ingest, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_rwlock_init(&e->lock, NULL);
    pthread_mutex_init(&e->train_mu, NULL);
    pthread_mutex_init(&e->fit_mu, NULL);
    pthread_cond_init(&e->train_cv, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    rec_idmap_init(&e->user_ids);
    rec_idmap_init(&e->item_ids);
    rec_idmap_init(&e->cat_ids);
    rec_idmap_init(&e->tag_ids);
    rec_pop_init(&e->pop, p->half_life_s);
    rec_knn_init(&e->knn, p->knn_shrink, p->knn_neighbors);
    rec_scratch_pool_init(&e->scratch);
    if (p->model_dir && !(e->p.model_dir = strdup(p->model_dir))) {
        rec_engine_destroy(e);
        return REC_ENOMEM;
    }
    if (p->background) {
        int rc = rec_engine_trainer_start(e);
        if (rc) {
            rec_engine_destroy(e);
            return rc;
        }
    }
    *out = e;
    return 0;
}

void rec_engine_destroy(struct rec_engine *e)
{
    if (!e)
        return;
    rec_engine_trainer_stop(e);
    rec_online_free(e); /* it clears marks in items[] */
    for (int32_t u = 0; u < e->user_ids.n_names; u++) {
        free(e->users[u].hist);
        free(e->users[u].doc);
        rec_meta_prefs_free(e->users[u].prefs);
    }
    free(e->users);
    for (int32_t i = 0; i < e->item_ids.n_names; i++) {
        free(e->items[i].title);
        free(e->items[i].doc);
        rec_meta_item_free(e->items[i].meta);
    }
    free(e->items);
    free(e->item_live);
    rec_cold_destroy(e);
    rec_idmap_free(&e->user_ids);
    rec_idmap_free(&e->item_ids);
    rec_idmap_free(&e->cat_ids);
    rec_idmap_free(&e->tag_ids);
    rec_pop_free(&e->pop);
    rec_knn_free(&e->knn);
    rec_scratch_pool_free(&e->scratch);
    rec_ann_destroy(e->ann);
    free(e->ann_log.item);
    free(e->ann_log.epoch_of);
    rec_als_destroy(e->als);
    if (e->blend) {
        rec_blend_clear(e->blend);
        free(e->blend);
    }
    free(e->ux);
    free((char *)e->p.model_dir);
    pthread_rwlock_destroy(&e->ingest);
    pthread_rwlock_destroy(&e->lock);
    pthread_mutex_destroy(&e->train_mu);
    pthread_mutex_destroy(&e->fit_mu);
    pthread_cond_destroy(&e->train_cv);
    pthread_cond_destroy(&e->done_cv);
    free(e);
}

void rec_engine_ingest_begin(struct rec_engine *e, int exclusive)
{
    if (exclusive)
        pthread_rwlock_wrlock(&e->ingest);
    else
        pthread_rwlock_rdlock(&e->ingest);
}

void rec_engine_ingest_end(struct rec_engine *e) { pthread_rwlock_unlock(&e->ingest); }

struct user *rec_engine_user_at(struct rec_engine *e, int32_t u)
{
    return u >= 0 && u < e->user_ids.n_names ? &e->users[u] : NULL;
}

/* Index of a user, created when absent. Lock held for write. -1 on allocation failure. */
static int32_t user_put(struct rec_engine *e, const char *id)
{
    int created;
    int32_t u = rec_idmap_put(&e->user_ids, id, &created);
    if (u < 0 || !created)
        return u;
    if (u >= e->cap_users) {
        int32_t cap = e->cap_users ? e->cap_users * 2 : 1024;
        /* no memset of the new room: each slot is cleared when its user comes, and the pages
         * of slots never used then stay out of the resident set */
        struct user *users = realloc(e->users, (size_t)cap * sizeof *users);
        if (!users)
            return -1;
        e->users = users;
        e->cap_users = cap;
    }
    memset(&e->users[u], 0, sizeof e->users[u]);
    e->users[u].live = 1;
    e->n_live_users++;
    return u;
}

static int32_t item_put(struct rec_engine *e, const char *id)
{
    int created;
    int32_t i = rec_idmap_put(&e->item_ids, id, &created);
    if (i < 0 || !created)
        return i;
    if (i >= e->cap_items) {
        int32_t cap = e->cap_items ? e->cap_items * 2 : 1024;
        struct item *items = realloc(e->items, (size_t)cap * sizeof *items); /* as users */
        if (!items)
            return -1;
        e->items = items;
        uint64_t *live = realloc(e->item_live, (size_t)cap / 64 * sizeof *live);
        if (!live)
            return -1;
        memset(live + e->cap_items / 64, 0, (size_t)(cap - e->cap_items) / 64 * sizeof *live);
        e->item_live = live;
        e->cap_items = cap;
    }
    memset(&e->items[i], 0, sizeof e->items[i]);
    rec_item_set_live(e, i, 1);
    e->n_live_items++;
    return i;
}

static struct hist_entry *hist_find(struct user *us, int32_t item)
{
    /* newest first: repeated events usually touch recent items */
    for (int32_t k = us->n_hist - 1; k >= 0; k--)
        if (us->hist[k].item == item)
            return &us->hist[k];
    return NULL;
}

static struct hist_entry *hist_append(struct user *us, int32_t item)
{
    if (us->n_hist == us->cap_hist) {
        /* by a sixteenth, not doubling: histories are a fifth of the memory per event;
         * doubling left a third of their entries unused, an eighth 9% (10M synthetic events) */
        int32_t cap = us->cap_hist + us->cap_hist / 16 + 4;
        struct hist_entry *h = realloc(us->hist, (size_t)cap * sizeof *h);
        if (!h)
            return NULL;
        us->hist = h;
        us->cap_hist = cap;
    }
    struct hist_entry *h = &us->hist[us->n_hist++];
    memset(h, 0, sizeof *h);
    h->item = item;
    return h;
}

/* Moves entry idx to the end of the history (keeping the others' order); returns it there. */
static struct hist_entry *hist_move_last(struct user *us, int32_t idx)
{
    struct hist_entry moved = us->hist[idx];
    memmove(&us->hist[idx], &us->hist[idx + 1], (size_t)(us->n_hist - 1 - idx) * sizeof moved);
    us->hist[us->n_hist - 1] = moved;
    return &us->hist[us->n_hist - 1];
}

/* Adds (sign +1) or takes back (sign -1) the co-occurrences counted entry idx brought when it
 * entered: pairs with the knn_window counted entries before it. Counted entries stay in the
 * order they were counted (apply_one), so these are the same entries then and now, and a
 * deletion subtracts exactly what was added. Visits the entries back to the window's start. */
static void knn_link(struct rec_engine *e, const struct user *us, int32_t idx, int32_t sign)
{
    int32_t item = us->hist[idx].item, from = idx;
    for (int32_t left = e->p.knn_window; from > 0 && left > 0;)
        left -= us->hist[--from].knn;
    /* oldest first, the order the pairs always had: a full row's ties break the same way */
    for (int32_t k = from; k < idx; k++)
        if (us->hist[k].knn)
            rec_knn_add_pair(&e->knn, item, us->hist[k].item, sign);
    rec_knn_add_item(&e->knn, item, (float)sign);
}

/* Applies one event; lock held for write. Returns the user's index or -1. */
static int32_t apply_one(struct rec_engine *e, const struct rec_event *ev)
{
    int32_t u = user_put(e, ev->user), i = item_put(e, ev->item);
    if (u < 0 || i < 0)
        return -1;
    struct user *us = &e->users[u];
    double w = rec_event_weight(e->p.weights, ev->type, ev->value);
    us->n_events++;
    if (ev->seq > us->last_seq)
        us->last_seq = ev->seq;
    if (ev->seq > e->last_seq)
        e->last_seq = ev->seq;
    if (ev->ts > e->max_ts)
        e->max_ts = ev->ts;
    e->n_events++;
    if (w == 0)
        return u; /* impressions and zero-weight types leave history alone */

    if (!e->p.user_only)
        rec_pop_add(&e->pop, i, w, ev->ts);
    struct hist_entry *h = hist_find(us, i);
    if (!h && !(h = hist_append(us, i)))
        return -1;
    h->weight += (float)w;
    if ((uint32_t)ev->ts >= h->ts)
        h->type = (uint8_t)ev->type;
    /* the same decay as the item's total, so deleting the user takes back this share (to the
     * half's 11 bits) */
    int64_t ref = h->ts;
    if (!e->p.user_only)
        h->pop_mass = rec_half_from_float((float)rec_pop_decay_add(
            rec_half_to_float(h->pop_mass), &ref, w, ev->ts, e->pop.half_life_s));
    else if (ev->ts > ref)
        ref = ev->ts;
    h->ts = (uint32_t)ref;
    if (!h->knn && h->weight > 0 && !e->p.user_only) {
        /* counted from now on, so it goes after every counted entry; only an entry that had
         * no positive weight before can be elsewhere than last (rare: a like after a skip) */
        if (h != &us->hist[us->n_hist - 1])
            h = hist_move_last(us, (int32_t)(h - us->hist));
        h->knn = 1;
        knn_link(e, us, us->n_hist - 1, 1);
    }
    return u;
}

int rec_engine_ux_reserve(struct rec_engine *e, int32_t n_users, int k)
{
    if (n_users <= e->cap_ux_users)
        return 0;
    int32_t cap = e->cap_ux_users ? e->cap_ux_users : 1024;
    while (cap < n_users)
        cap *= 2;
    float *ux = realloc(e->ux, (size_t)cap * (size_t)k * sizeof *ux);
    if (!ux)
        return REC_ENOMEM;
    e->ux = ux;
    e->cap_ux_users = cap;
    return 0;
}

int64_t rec_engine_user_latest(const struct user *us)
{
    int64_t t = 0;
    for (int32_t j = 0; j < us->n_hist; j++)
        if (us->hist[j].ts > t)
            t = us->hist[j].ts;
    return t;
}

float rec_engine_hist_strength(const struct rec_engine *e, const struct hist_entry *h, int64_t latest_ts)
{
    float w = h->weight;
    if (w <= 0)
        return w;
    double age = (double)(latest_ts - (int64_t)h->ts);
    if (age < 0)
        age = 0;
    if (e->p.user_half_life_s > 0)
        w *= (float)exp2(-age / e->p.user_half_life_s);
    if (e->p.session_boost != 1.0f && e->p.session_boost > 0 && age <= e->p.session_gap_s)
        w *= e->p.session_boost;
    return w;
}

void rec_engine_fold_in(struct rec_engine *e, int32_t u)
{
    struct user *us = rec_engine_user_at(e, u);
    if (!e->als || !us)
        return;
    int k = rec_als_factors(e->als);
    int32_t n_model_items = rec_als_n_items(e->als);
    if (rec_engine_ux_reserve(e, e->user_ids.n_names, k))
        return;
    int32_t *items = malloc((size_t)(us->n_hist + 1) * sizeof *items);
    float *w = malloc((size_t)(us->n_hist + 1) * sizeof *w);
    int n = 0;
    int64_t latest = rec_engine_user_latest(us);
    if (items && w)
        for (int32_t j = 0; j < us->n_hist; j++)
            if (us->hist[j].weight > 0 && us->hist[j].item < n_model_items) {
                items[n] = us->hist[j].item;
                w[n++] = rec_engine_hist_strength(e, &us->hist[j], latest);
            }
    /* a user with factors moves from them by a few CG steps (an event changes the system a
     * little); a user without gets the exact solve */
    float *x = e->ux + (size_t)u * k;
    if (n > 0 && us->has_x && e->p.fold_in_steps > 0)
        us->has_x = rec_als_fold_in_cg(e->als, items, w, n, e->p.fold_in_steps, x) == 0;
    else
        us->has_x = n > 0 && rec_als_fold_in(e->als, items, w, n, x) == 0;
    free(items);
    free(w);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void rec_engine_set_observer(struct rec_engine *e, rec_engine_observer_fn fn, void *ctx)
{
    e->observer = fn;
    e->observer_ctx = ctx;
}

void rec_engine_notify(struct rec_engine *e, const struct rec_event *ev, const uint8_t *inserted,
                       int n)
{
    if (e->observer)
        e->observer(e->observer_ctx, ev, inserted, n);
}

void rec_engine_set_user_only(struct rec_engine *e, int on)
{
    pthread_rwlock_wrlock(&e->lock);
    e->p.user_only = on;
    pthread_rwlock_unlock(&e->lock);
}

int rec_engine_apply_events(struct rec_engine *e, const struct rec_event *ev, int n,
                            const uint8_t *mask)
{
    int32_t touched_small[64], *touched = touched_small, ev_user_small[64], *ev_user = ev_user_small;
    if (n > 64 && (!(touched = malloc((size_t)n * sizeof *touched)) ||
                   !(ev_user = malloc((size_t)n * sizeof *ev_user)))) {
        if (touched != touched_small)
            free(touched);
        return REC_ENOMEM;
    }
    int n_touched = 0, rc = 0, applied = 0;

    pthread_rwlock_wrlock(&e->lock);
    for (int j = 0; j < n; j++) {
        if (mask && !mask[j])
            continue;
        int32_t u = apply_one(e, &ev[j]);
        ev_user[j] = u;
        if (u < 0) {
            rc = REC_ENOMEM;
            break;
        }
        applied++;
        if (n_touched == 0 || touched[n_touched - 1] != u)
            touched[n_touched++] = u;
    }
    /* one fold-in per user however many of their events came in this batch; sorting keeps a
     * 10,000-event batch of distinct users at n log n instead of n^2 comparisons */
    qsort(touched, (size_t)n_touched, sizeof *touched, cmp_i32);
    for (int t = 0; t < n_touched; t++)
        if ((t == 0 || touched[t] != touched[t - 1]) && e->users[touched[t]].n_hist > 0)
            rec_engine_fold_in(e, touched[t]);
    /* then items the model has no row for learn from these events against the new user rows */
    for (int j = 0; j < n && !rc && e->online.k > 0; j++) {
        if (mask && !mask[j])
            continue;
        int32_t i = rec_idmap_get(&e->item_ids, ev[j].item);
        float w = (float)rec_event_weight(e->p.weights, ev[j].type, ev[j].value);
        if (i >= 0 && rec_item_live(e, i) && w > 0)
            rec_online_event(e, ev_user[j], i, w);
    }
    pthread_rwlock_unlock(&e->lock);

    if (touched != touched_small)
        free(touched);
    if (ev_user != ev_user_small)
        free(ev_user);
    rec_engine_note_events(e, applied);
    return rc;
}

/* The "title" of a JSON item document (malloc'd), or NULL. */
static char *doc_title(const char *doc)
{
    json_t *obj = doc ? json_loads(doc, 0, NULL) : NULL;
    const char *title = json_string_value(json_object_get(obj, "title"));
    char *t = title ? strdup(title) : NULL;
    json_decref(obj);
    return t;
}

static void set_item_title(struct rec_engine *e, int32_t i, char *t)
{
    if (t) {
        free(e->items[i].title);
        e->items[i].title = t;
    }
}

/* Replaces item i's doc by keep (owned; NULL = none). Lock held for write. */
static void set_item_doc(struct rec_engine *e, int32_t i, char *keep)
{
    e->n_item_docs += (keep != NULL) - (e->items[i].doc != NULL);
    free(e->items[i].doc);
    e->items[i].doc = keep;
    e->items[i].doc_gen = ++e->doc_gen;
}

static void set_user_doc(struct rec_engine *e, int32_t u, char *keep)
{
    e->n_user_docs += (keep != NULL) - (e->users[u].doc != NULL);
    free(e->users[u].doc);
    e->users[u].doc = keep;
}

int rec_engine_put_item(struct rec_engine *e, const char *id, const char *title)
{
    return rec_engine_put_item_doc(e, id, title, NULL);
}

int rec_engine_put_item_doc(struct rec_engine *e, const char *id, const char *title,
                            const char *doc)
{
    int rc = 0, rc_meta = 0;
    char *keep = doc ? rec_cold_keep_item_doc(doc, &rc) : NULL;
    char *t = title ? strdup(title) : doc_title(doc);
    struct meta_draft *meta = doc ? rec_meta_item_draft(id, doc, &rc_meta) : NULL;
    if (rc || rc_meta) {
        free(t);
        free(keep);
        rec_meta_draft_free(meta);
        return rc ? rc : rc_meta;
    }
    pthread_rwlock_wrlock(&e->lock);
    int32_t i = item_put(e, id);
    if (i < 0) {
        rc = REC_ENOMEM;
        rec_meta_draft_free(meta);
    } else {
        if (doc) {
            rc = rec_meta_install_item(e, i, meta);
            /* a new arrival, for the pipeline's fresh source (repeats are skipped there) */
            e->arrivals[e->arrivals_head] = i;
            e->arrivals_head = (e->arrivals_head + 1) % REC_ARRIVALS;
            if (e->n_arrivals < REC_ARRIVALS)
                e->n_arrivals++;
        }
        if (!rec_item_live(e, i)) {
            rec_item_set_live(e, i, 1);
            e->n_live_items++;
        }
        set_item_title(e, i, t);
        t = NULL;
        if (doc) {
            set_item_doc(e, i, keep);
            keep = NULL;
        }
    }
    pthread_rwlock_unlock(&e->lock);
    free(keep);
    free(t);
    /* outside the write lock: a content query costs up to a pass over the catalog */
    if (!rc && doc)
        rec_cold_fill(e, i);
    return rc;
}

int rec_engine_put_user(struct rec_engine *e, const char *id)
{
    return rec_engine_put_user_doc(e, id, NULL);
}

int rec_engine_put_user_doc(struct rec_engine *e, const char *id, const char *doc)
{
    int rc = 0;
    char *keep = doc ? rec_cold_keep_user_doc(doc, &rc) : NULL;
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&e->lock);
    int32_t u = user_put(e, id);
    if (u >= 0 && doc) {
        set_user_doc(e, u, keep);
        keep = NULL;
    }
    pthread_rwlock_unlock(&e->lock);
    free(keep);
    return u < 0 ? REC_ENOMEM : 0;
}

int rec_engine_set_prefs(struct rec_engine *e, const char *id, const char *prefs)
{
    int rc = 0;
    struct meta_draft *d = prefs ? rec_meta_prefs_draft(prefs, 1, &rc) : NULL;
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&e->lock);
    int32_t u = user_put(e, id);
    rc = u < 0 ? REC_ENOMEM : rec_meta_install_prefs(e, u, d);
    if (u < 0)
        rec_meta_draft_free(d);
    pthread_rwlock_unlock(&e->lock);
    return rc;
}

int rec_engine_delete_item(struct rec_engine *e, const char *id)
{
    int rc = 0;
    pthread_rwlock_wrlock(&e->lock);
    int32_t i = rec_idmap_get(&e->item_ids, id);
    if (i < 0 || !rec_item_live(e, i)) {
        rc = REC_ENOTFOUND;
    } else {
        rec_item_set_live(e, i, 0);
        e->n_live_items--;
    }
    pthread_rwlock_unlock(&e->lock);
    return rc;
}

int rec_engine_delete_user(struct rec_engine *e, const char *id)
{
    int rc = 0;
    pthread_rwlock_wrlock(&e->lock);
    int32_t u = rec_idmap_remove(&e->user_ids, id);
    if (u < 0) {
        rc = REC_ENOTFOUND;
    } else {
        struct user *us = &e->users[u];
        /* take back this user's share of the shared statistics */
        for (int32_t k = 0; k < us->n_hist; k++) {
            struct hist_entry *h = &us->hist[k];
            rec_pop_add(&e->pop, h->item, -rec_half_to_float(h->pop_mass), h->ts);
            if (h->knn)
                knn_link(e, us, k, -1);
        }
        e->n_events -= us->n_events;
        free(us->hist);
        set_user_doc(e, u, NULL);
        rec_meta_prefs_free(us->prefs);
        memset(us, 0, sizeof *us);
        e->n_live_users--;
    }
    int model = e->als != NULL;
    pthread_rwlock_unlock(&e->lock);
    if (rc == 0) {
        /* the served model and its snapshot still hold the user's factors: retrain in the
         * background, after which the snapshots that name them are removed */
        atomic_fetch_add(&e->erasures, 1);
        if (model && e->p.background)
            rec_engine_request_train(e, 0);
    }
    return rc;
}

int32_t rec_engine_user_index(struct rec_engine *e, const char *id)
{
    pthread_rwlock_rdlock(&e->lock);
    int32_t u = rec_idmap_get(&e->user_ids, id);
    pthread_rwlock_unlock(&e->lock);
    return u;
}

const char *rec_engine_item_name(struct rec_engine *e, int32_t item)
{
    pthread_rwlock_rdlock(&e->lock);
    const char *s = rec_idmap_name(&e->item_ids, item);
    pthread_rwlock_unlock(&e->lock);
    return s ? s : "";
}

int32_t rec_engine_item_index(struct rec_engine *e, const char *id)
{
    pthread_rwlock_rdlock(&e->lock);
    int32_t i = rec_idmap_get(&e->item_ids, id);
    pthread_rwlock_unlock(&e->lock);
    return i;
}

int rec_engine_status(struct rec_engine *e, struct rec_engine_status *st)
{
    pthread_rwlock_rdlock(&e->lock);
    st->n_items = e->n_live_items;
    st->n_users = e->n_live_users;
    st->n_events = e->n_events;
    st->als = e->model;
    st->n_sources = e->p.n_sources;
    st->als_weight = e->blend ? e->blend->weight[0] : e->p.als_weight;
    for (int s = 0; s < e->p.n_sources; s++) {
        st->source_name[s] = e->p.source_type[s]->name;
        st->source_weight[s] = e->blend ? e->blend->weight[s + 1] : e->p.source_weight[s];
        st->source_ready[s] = e->blend && e->blend->model[s + 1] != NULL;
    }
    pthread_rwlock_unlock(&e->lock);
    pthread_mutex_lock(&e->train_mu);
    st->als.training = e->training;
    pthread_mutex_unlock(&e->train_mu);
    return 0;
}

int rec_engine_user_info(struct rec_engine *e, const char *id, int max_recent,
                         struct rec_user_info *info)
{
    int cap = (int)(sizeof info->recent / sizeof info->recent[0]);
    if (max_recent > cap)
        max_recent = cap;
    memset(info, 0, sizeof *info);
    pthread_rwlock_rdlock(&e->lock);
    int32_t u = rec_idmap_get(&e->user_ids, id);
    if (u < 0) {
        pthread_rwlock_unlock(&e->lock);
        return REC_ENOTFOUND;
    }
    const struct user *us = &e->users[u];
    info->n_events = us->n_events;
    info->n_items = us->n_hist;
    for (int32_t k = us->n_hist - 1; k >= 0 && info->n_recent < max_recent; k--) {
        const struct hist_entry *h = &us->hist[k];
        const char *name = rec_idmap_name(&e->item_ids, h->item);
        snprintf(info->recent[info->n_recent].item, sizeof info->recent[0].item, "%s",
                 name ? name : "");
        info->recent[info->n_recent].type = h->type;
        info->recent[info->n_recent].weight = h->weight;
        info->recent[info->n_recent].ts = h->ts;
        info->n_recent++;
    }
    pthread_rwlock_unlock(&e->lock);
    return 0;
}

/* ---- start-up replay from the store ---- */

static int load_item_row(void *ctx, const char *id, const char *doc, int deleted)
{
    struct rec_engine *e = ctx;
    int32_t i = item_put(e, id);
    if (i < 0)
        return REC_ENOMEM;
    set_item_title(e, i, doc_title(doc)); /* for reasons */
    int rc = 0;
    char *keep = doc ? rec_cold_keep_item_doc(doc, &rc) : NULL;
    if (rc)
        return rc;
    set_item_doc(e, i, keep);
    struct meta_draft *meta = doc ? rec_meta_item_draft(id, doc, &rc) : NULL;
    if (rc || (meta && (rc = rec_meta_install_item(e, i, meta))))
        return rc;
    if (meta) { /* the latest items of the catalog are its new arrivals after a restart too */
        e->arrivals[e->arrivals_head] = i;
        e->arrivals_head = (e->arrivals_head + 1) % REC_ARRIVALS;
        if (e->n_arrivals < REC_ARRIVALS)
            e->n_arrivals++;
    }
    if (deleted && rec_item_live(e, i)) {
        rec_item_set_live(e, i, 0);
        e->n_live_items--;
    }
    return 0;
}

static int load_user_row(void *ctx, const char *id, const char *doc, int deleted)
{
    struct rec_engine *e = ctx;
    int32_t u = user_put(e, id);
    if (u < 0)
        return REC_ENOMEM;
    int rc = 0;
    char *keep = deleted || !doc ? NULL : rec_cold_keep_user_doc(doc, &rc);
    if (!rc)
        set_user_doc(e, u, keep);
    return rc;
}

static int load_event(void *ctx, const struct rec_event *ev)
{
    struct rec_engine *e = ctx;
    if ((e->n_events & 4095) == 0 && rec_halt_requested())
        return REC_ECANCELED; /* a shutdown during the replay: the store keeps every event */
    return apply_one(e, ev) < 0 ? REC_ENOMEM : 0;
}

/* Under rec_engine_load's write lock (so not rec_engine_set_prefs, which takes it). */
static int load_prefs_row(void *ctx, const char *id, const char *doc, int deleted)
{
    struct rec_engine *e = ctx;
    int rc = 0;
    struct meta_draft *d = rec_meta_prefs_draft(doc, 1, &rc);
    if (rc)
        return rc;
    int32_t u = user_put(e, id);
    if (u < 0) {
        rec_meta_draft_free(d);
        return REC_ENOMEM;
    }
    return rec_meta_install_prefs(e, u, d);
}

int rec_engine_load(struct rec_engine *e, char *err, size_t errlen)
{
    if (!e->store)
        return 0;
    pthread_rwlock_wrlock(&e->lock);
    int rc = rec_store_scan_items(e->store, load_item_row, e);
    if (!rc)
        rc = rec_store_scan_users(e->store, load_user_row, e);
    if (rc == 0)
        rc = rec_store_scan_preferences(e->store, load_prefs_row, e);
    if (!rc)
        rc = rec_store_scan_events(e->store, 0, load_event, e);
    pthread_rwlock_unlock(&e->lock);
    if (rc == REC_ECANCELED)
        return rec_errf(err, errlen, rc, "replay of the store given up: shutting down");
    if (rc)
        return rec_errf(err, errlen, rc, "replaying the store failed: %s", rec_strerror(rc));
    rec_info("engine: replayed %lld events, %lld items, %lld users", (long long)e->n_events,
             (long long)e->n_live_items, (long long)e->n_live_users);
    if (rec_engine_load_snapshot(e) == 0)
        rec_info("engine: serving model snapshot version %lld", (long long)e->model.version);
    else
        rec_engine_note_events(e, e->n_events); /* no usable snapshot: train from the events */
    return 0;
}
