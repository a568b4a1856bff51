/* ranker.c: see ranker.h.
 *
 * Locks: the model has its own reader-writer lock (scoring reads, learning writes); features
 * are built under the engine's read lock (item metadata, user documents), never while holding
 * the model's lock, so the two are never held in the opposite order. Pending impressions wait
 * in a FIFO (oldest first) with a chained hash on (user, item) so a positive can cancel them.
 */
#include "serve/ranker.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/rand.h"
#include "rank/auc.h"
#include "rank/features.h"
#include "rank/fm.h"
#include "serve/engine_impl.h"
#include "serve/pipeline.h"

#define MAX_FEATURES 96
#define MAX_ATTRS 16
#define PENDING_MAX 200000          /* impressions waiting for their outcome, at most */
#define PENDING_BUCKETS 65536
#define AUC_HALF_LIFE 5000          /* examples, for the recent AUC */
#define DWELL_POSITIVE_S 30.0

struct pending {
    uint64_t key;
    char *user, *item;              /* owned */
    char device[16], region[16];
    int hour, weekday;
    double due;                     /* wall time when it becomes a negative */
    double p;                       /* the prediction when it was shown (validation) */
    int cancelled;
    struct pending *next, *chain;
};

struct rec_ranker {
    struct rec_ranker_config c;
    pthread_rwlock_t lock;          /* the model, the AUC, the counts and counters */
    struct rec_fm *fm;
    struct rec_auc auc;
    int64_t positives, negatives;
    uint64_t changes, erasures;     /* since open (rec_ranker_changes) */
    pthread_mutex_t pending_mu;
    struct pending *head, *tail;
    struct pending *buckets[PENDING_BUCKETS];
    int64_t n_pending;
};

void rec_ranker_config_default(struct rec_ranker_config *c)
{
    c->weight = 0.5;
    c->min_examples = 1000;
    c->negative_window_s = 1800;
    c->features = REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT;
    c->bits = 18;
    c->k = 8;
}

int rec_ranker_open(const struct rec_ranker_config *c, struct rec_ranker **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!(c->weight >= 0 && c->weight <= 1) || c->min_examples < 0 ||
        !(c->negative_window_s > 0) || !(c->side_scale >= 0 && c->side_scale <= 100))
        return rec_errf(err, errlen, REC_EINVAL,
                        "ranker weight must be 0..1, min examples >= 0, negative window > 0, "
                        "side scale 0..100");
    struct rec_ranker *r = calloc(1, sizeof *r);
    if (!r)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    r->c = *c;
    struct rec_fm_config fc;
    rec_fm_config_default(&fc);
    fc.bits = c->bits;
    fc.k = c->k;
    fc.across_groups = 1; /* user side x item side x context only (rank/features.h) */
    int rc = rec_fm_new(&fc, &r->fm);
    if (rc) {
        free(r);
        return rec_errf(err, errlen, rc, "ranker: bad factorization machine settings (bits %d, k %d)",
                        c->bits, c->k);
    }
    rec_auc_init(&r->auc, AUC_HALF_LIFE);
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->pending_mu, NULL);
    *out = r;
    return 0;
}

static void pending_free(struct pending *p)
{
    free(p->user);
    free(p->item);
    free(p);
}

void rec_ranker_close(struct rec_ranker *r)
{
    if (!r)
        return;
    for (struct pending *p = r->head, *next; p; p = next) {
        next = p->next;
        pending_free(p);
    }
    rec_fm_free(r->fm);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->pending_mu);
    free(r);
}

double rec_ranker_weight(const struct rec_ranker *r) { return r->c.weight; }

/* ---- features ---- */

/* The user's attributes as strings (ages by decade), from their document. */
struct user_attrs {
    json_t *doc;
    const char *key[MAX_ATTRS], *val[MAX_ATTRS];
    char buf[MAX_ATTRS][32];
    int n;
};

static void user_attrs_load(struct user_attrs *a, const struct user *us)
{
    memset(a, 0, sizeof *a);
    a->doc = us && us->doc ? json_loads(us->doc, 0, NULL) : NULL;
    json_t *attrs = json_object_get(a->doc, "attributes");
    const char *key;
    json_t *v;
    json_object_foreach(attrs, key, v) {
        if (a->n == MAX_ATTRS)
            break;
        if (json_is_string(v)) {
            a->val[a->n] = json_string_value(v);
        } else if (json_is_number(v)) {
            double x = json_number_value(v);
            if (!strcmp(key, "age"))
                snprintf(a->buf[a->n], sizeof a->buf[0], "%d0s", (int)(x / 10));
            else
                snprintf(a->buf[a->n], sizeof a->buf[0], "%g", x);
            a->val[a->n] = a->buf[a->n];
        } else if (json_is_boolean(v)) {
            a->val[a->n] = json_is_true(v) ? "true" : "false";
        } else {
            continue;
        }
        a->key[a->n++] = key;
    }
}

static double duration_of(const struct item_meta *m)
{
    json_t *attrs = m ? json_object_get(m->json, "attributes") : NULL;
    json_t *d = json_object_get(attrs, "duration_min");
    if (!d && m)
        d = json_object_get(m->json, "duration_min");
    return json_is_number(d) ? json_number_value(d) : NAN;
}

struct ctx_fields {
    const char *device, *region;
    int hour, weekday;
};

/* Features of (user, item) in a context; engine read lock held. */
static int features_of(const struct rec_ranker *r, const struct rec_engine *e, const char *user,
                       const struct user_attrs *ua, int32_t i, const struct ctx_fields *cx,
                       double now, struct rec_fm_feature *out)
{
    const struct item_meta *m = i >= 0 ? e->items[i].meta : NULL;
    const char *cats[REC_META_MAX_CATS], *tags[REC_META_MAX_TAGS];
    int n_cat = 0, n_tag = 0;
    for (int k = 0; m && k < m->n_cat; k++)
        cats[n_cat++] = rec_idmap_name(&e->cat_ids, m->cat[k]);
    for (int k = 0; m && k < m->n_tag; k++)
        tags[n_tag++] = rec_idmap_name(&e->tag_ids, m->tag[k]);
    struct rec_rank_input in = {
        .user = user,
        .item = i >= 0 ? rec_idmap_name(&e->item_ids, i) : "",
        .categories = cats,
        .n_categories = n_cat,
        .tags = tags,
        .n_tags = n_tag,
        .duration_min = duration_of(m),
        .age_days = m && m->published_at > 0 ? (now - (double)m->published_at) / 86400.0 : NAN,
        .user_attr_keys = ua->key,
        .user_attr_values = ua->val,
        .n_user_attrs = ua->n,
        .device = cx->device,
        .region = cx->region,
        .hour = cx->hour,
        .weekday = cx->weekday,
    };
    int n = rec_rank_features(&in, r->c.features, r->c.bits, out, MAX_FEATURES);
    rec_rank_scale_side(&in, r->c.features, r->c.side_scale, out, n);
    return n;
}

/* ---- learning ---- */

/* Learns (x, y). The AUC gets p_shown, the prediction made when the item was shown, when there
 * was one (an impression's outcome arrives later, and by then the model has moved on: scoring
 * it at learning time would let the order in which labels arrive inflate the AUC), else the
 * prediction just before this update. */
static void learn(struct rec_ranker *r, const struct rec_fm_feature *x, int n, int y,
                  double p_shown)
{
    pthread_rwlock_wrlock(&r->lock);
    double p = rec_fm_learn(r->fm, x, n, y, 1.0);
    rec_auc_add(&r->auc, isnan(p_shown) ? p : p_shown, y);
    if (y)
        r->positives++;
    else
        r->negatives++;
    r->changes++;
    pthread_rwlock_unlock(&r->lock);
}

/* Features of (user, item) in a context, built under the engine's read lock; 0 when the item
 * is unknown. */
static int build(struct rec_ranker *r, struct rec_engine *e, const char *user, const char *item,
                 const struct ctx_fields *cx, double now, struct rec_fm_feature *x)
{
    struct user_attrs ua;
    pthread_rwlock_rdlock(&e->lock);
    int32_t u = rec_idmap_get(&e->user_ids, user), i = rec_idmap_get(&e->item_ids, item);
    user_attrs_load(&ua, u >= 0 ? &e->users[u] : NULL);
    int n = i >= 0 ? features_of(r, e, user, &ua, i, cx, now, x) : 0;
    pthread_rwlock_unlock(&e->lock);
    json_decref(ua.doc);
    return n;
}

/* Learns one example for (user, item) in context. */
static void learn_one(struct rec_ranker *r, struct rec_engine *e, const char *user,
                      const char *item, const struct ctx_fields *cx, double now, int y,
                      double p_shown)
{
    struct rec_fm_feature x[MAX_FEATURES];
    int n = build(r, e, user, item, cx, now, x);
    if (n > 0)
        learn(r, x, n, y, p_shown);
}

/* The current prediction for (user, item) in a context (NAN when the item is unknown). */
static double predict_one(struct rec_ranker *r, struct rec_engine *e, const char *user,
                          const char *item, const struct ctx_fields *cx, double now)
{
    struct rec_fm_feature x[MAX_FEATURES];
    int n = build(r, e, user, item, cx, now, x);
    if (n <= 0)
        return NAN;
    pthread_rwlock_rdlock(&r->lock);
    double p = rec_fm_predict(r->fm, x, n);
    pthread_rwlock_unlock(&r->lock);
    return p;
}

/* 1 positive, 0 negative, -1 impression (pending), -2 not a label */
static int label_of(const struct rec_event *ev)
{
    switch (ev->type) {
    case REC_EVENT_CLICK: case REC_EVENT_LIKE: case REC_EVENT_ADD_TO_CART:
    case REC_EVENT_PURCHASE: case REC_EVENT_SHARE:
        return 1;
    case REC_EVENT_RATING:
        return ev->value >= 4 ? 1 : 0;
    case REC_EVENT_DWELL:
        return ev->value >= DWELL_POSITIVE_S ? 1 : -2;
    case REC_EVENT_SKIP: case REC_EVENT_DISLIKE: case REC_EVENT_NOT_INTERESTED:
        return 0;
    case REC_EVENT_IMPRESSION:
        return -1;
    default:
        return -2;
    }
}

/* Context of an event: its context object, the hour and weekday from its time (UTC) when the
 * client did not say. Strings are copied into the caller's buffers. */
static void event_ctx(const struct rec_event *ev, struct ctx_fields *cx, char *device,
                      char *region)
{
    device[0] = region[0] = '\0';
    cx->hour = cx->weekday = -1;
    json_t *c = ev->context ? json_loads(ev->context, 0, NULL) : NULL;
    json_t *v;
    if (json_is_string(v = json_object_get(c, "device")))
        snprintf(device, 16, "%s", json_string_value(v));
    if (json_is_string(v = json_object_get(c, "region")))
        snprintf(region, 16, "%s", json_string_value(v));
    if (json_is_integer(v = json_object_get(c, "hour")) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 24)
        cx->hour = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(c, "weekday")) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 7)
        cx->weekday = (int)json_integer_value(v);
    json_decref(c);
    time_t t = (time_t)ev->ts;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (cx->hour < 0)
        cx->hour = tm.tm_hour;
    if (cx->weekday < 0)
        cx->weekday = tm.tm_wday;
    cx->device = device[0] ? device : NULL;
    cx->region = region[0] ? region : NULL;
}

static uint64_t pair_key(const char *user, const char *item)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h *= 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)item; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return rec_mix64(h);
}

static void pending_add(struct rec_ranker *r, const struct rec_event *ev,
                        const struct ctx_fields *cx, double now, double p_shown)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p || !(p->user = strdup(ev->user)) || !(p->item = strdup(ev->item))) {
        if (p)
            pending_free(p);
        return;
    }
    p->key = pair_key(ev->user, ev->item);
    snprintf(p->device, sizeof p->device, "%s", cx->device ? cx->device : "");
    snprintf(p->region, sizeof p->region, "%s", cx->region ? cx->region : "");
    p->hour = cx->hour;
    p->weekday = cx->weekday;
    p->due = now + r->c.negative_window_s;
    p->p = p_shown;
    pthread_mutex_lock(&r->pending_mu);
    if (r->n_pending >= PENDING_MAX) { /* overloaded: this impression's outcome is not learned */
        pthread_mutex_unlock(&r->pending_mu);
        pending_free(p);
        return;
    }
    size_t b = (size_t)(p->key % PENDING_BUCKETS);
    p->chain = r->buckets[b];
    r->buckets[b] = p;
    if (r->tail)
        r->tail->next = p;
    else
        r->head = p;
    r->tail = p;
    r->n_pending++;
    pthread_mutex_unlock(&r->pending_mu);
}

/* A positive on (user, item) settles its pending impressions: they are not negatives. Returns
 * the prediction made when the earliest of them was shown (NAN when none was pending). */
static double pending_cancel(struct rec_ranker *r, const char *user, const char *item)
{
    uint64_t key = pair_key(user, item);
    double shown = NAN;
    pthread_mutex_lock(&r->pending_mu);
    for (struct pending *p = r->buckets[key % PENDING_BUCKETS]; p; p = p->chain)
        if (p->key == key && !p->cancelled && !strcmp(p->user, user) && !strcmp(p->item, item)) {
            p->cancelled = 1;
            shown = p->p; /* the chain is newest first: ends at the earliest */
        }
    pthread_mutex_unlock(&r->pending_mu);
    return shown;
}

/* Takes the impressions due by now out of the queue (oldest first). */
static struct pending *pending_due(struct rec_ranker *r, double now)
{
    struct pending *due = NULL, **tail = &due;
    pthread_mutex_lock(&r->pending_mu);
    while (r->head && r->head->due <= now) {
        struct pending *p = r->head;
        r->head = p->next;
        if (!r->head)
            r->tail = NULL;
        struct pending **pp = &r->buckets[p->key % PENDING_BUCKETS];
        while (*pp && *pp != p)
            pp = &(*pp)->chain;
        if (*pp)
            *pp = p->chain;
        r->n_pending--;
        p->next = NULL;
        *tail = p;
        tail = &p->next;
    }
    pthread_mutex_unlock(&r->pending_mu);
    return due;
}

void rec_ranker_events(struct rec_ranker *r, struct rec_engine *e, const struct rec_event *ev,
                       const uint8_t *inserted, int n, double now)
{
    for (int k = 0; k < n; k++) {
        if (inserted && !inserted[k])
            continue;
        int y = label_of(&ev[k]);
        if (y == -2)
            continue;
        struct ctx_fields cx;
        char device[16], region[16];
        event_ctx(&ev[k], &cx, device, region);
        if (y == -1) {
            pending_add(r, &ev[k], &cx, now, predict_one(r, e, ev[k].user, ev[k].item, &cx, now));
            continue;
        }
        double shown = y == 1 ? pending_cancel(r, ev[k].user, ev[k].item) : NAN;
        learn_one(r, e, ev[k].user, ev[k].item, &cx, now, y, shown);
    }
    for (struct pending *p = pending_due(r, now), *next; p; p = next) {
        next = p->next;
        if (!p->cancelled) {
            struct ctx_fields cx = {p->device[0] ? p->device : NULL, p->region[0] ? p->region : NULL,
                                    p->hour, p->weekday};
            learn_one(r, e, p->user, p->item, &cx, now, 0, p->p);
        }
        pending_free(p);
    }
}

void rec_ranker_forget_user(struct rec_ranker *r, const char *user)
{
    pthread_mutex_lock(&r->pending_mu);
    for (struct pending *p = r->head; p; p = p->next)
        if (!strcmp(p->user, user)) {
            p->cancelled = 1; /* unlinked when due, never learned; the id is wiped now */
            memset(p->user, 0, strlen(p->user));
        }
    pthread_mutex_unlock(&r->pending_mu);
    /* the slot features_of gives the id: the "user" field of rank/features.c */
    struct rec_rank_input in = {.user = user, .hour = -1, .weekday = -1};
    struct rec_fm_feature x[1];
    int n = rec_rank_features(&in, r->c.features & REC_FEAT_IDS, r->c.bits, x, 1);
    pthread_rwlock_wrlock(&r->lock);
    if (n == 1)
        rec_fm_reset_slot(r->fm, x[0].index);
    r->changes++;
    r->erasures++;
    pthread_rwlock_unlock(&r->lock);
}

/* ---- serving ---- */

int rec_ranker_ready(struct rec_ranker *r)
{
    pthread_rwlock_rdlock(&r->lock);
    int ready = r->positives + r->negatives >= r->c.min_examples && r->positives > 0 &&
                r->negatives > 0;
    pthread_rwlock_unlock(&r->lock);
    return ready;
}

void rec_ranker_score_locked(struct rec_ranker *r, const struct rec_engine *e, int32_t u,
                             const int32_t *items, int n, const struct rec_context *ctx,
                             double now, double *p)
{
    struct user_attrs ua;
    user_attrs_load(&ua, u >= 0 ? &e->users[u] : NULL);
    const char *user = u >= 0 ? rec_idmap_name(&e->user_ids, u) : "";
    struct ctx_fields cx = {ctx->device, ctx->region, ctx->hour, ctx->weekday};
    struct rec_fm_feature x[MAX_FEATURES];
    for (int k = 0; k < n; k++) {
        int m = features_of(r, e, user, &ua, items[k], &cx, now, x);
        pthread_rwlock_rdlock(&r->lock);
        p[k] = rec_fm_predict(r->fm, x, m);
        pthread_rwlock_unlock(&r->lock);
    }
    json_decref(ua.doc);
}

void rec_ranker_stats(struct rec_ranker *r, struct rec_ranker_stats *st)
{
    pthread_rwlock_rdlock(&r->lock);
    st->positives = r->positives;
    st->negatives = r->negatives;
    st->examples = r->positives + r->negatives;
    st->auc = rec_auc_value(&r->auc);
    st->auc_recent = rec_auc_recent(&r->auc);
    st->ready = st->examples >= r->c.min_examples && r->positives > 0 && r->negatives > 0;
    pthread_rwlock_unlock(&r->lock);
    pthread_mutex_lock(&r->pending_mu);
    st->pending_impressions = r->n_pending;
    pthread_mutex_unlock(&r->pending_mu);
}

/* ---- state (ranker_file.c saves and loads it) ---- */

int rec_ranker_get_state(struct rec_ranker *r, struct rec_ranker_state *st, uint64_t *changes,
                         uint64_t *erasures)
{
    st->features = r->c.features;
    st->side_scale = r->c.side_scale;
    pthread_rwlock_rdlock(&r->lock);
    int rc = rec_fm_clone(r->fm, &st->fm);
    st->positives = r->positives;
    st->negatives = r->negatives;
    st->auc = r->auc;
    if (changes)
        *changes = r->changes;
    if (erasures)
        *erasures = r->erasures;
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

/* Why st cannot replace r's state (a message), NULL when it can; the model's lock is held. */
static const char *state_mismatch(const struct rec_ranker *r, const struct rec_ranker_state *st,
                                  char *buf, size_t len)
{
    struct rec_fm_config want, got;
    rec_fm_get_config(r->fm, &want);
    rec_fm_get_config(st->fm, &got);
    if (st->features != r->c.features)
        snprintf(buf, len, "learned with feature sets 0x%x, configured 0x%x", st->features,
                 r->c.features);
    else if (st->side_scale != r->c.side_scale)
        snprintf(buf, len, "learned with side-feature scale %g, configured %g", st->side_scale,
                 r->c.side_scale);
    else if (got.bits != want.bits || got.k != want.k)
        snprintf(buf, len, "learned with bits %d, k %d; configured bits %d, k %d", got.bits,
                 got.k, want.bits, want.k);
    else if (got.across_groups != want.across_groups)
        snprintf(buf, len, "learned with %s interactions; configured %s",
                 got.across_groups ? "cross-group" : "all-pairs",
                 want.across_groups ? "cross-group" : "all-pairs");
    else if (got.lr != want.lr || got.l2_w != want.l2_w || got.l2_v != want.l2_v ||
             got.init_sd != want.init_sd || got.seed != want.seed)
        snprintf(buf, len, "learned with another step size, regularization or seed");
    else if (st->auc.half_life != AUC_HALF_LIFE || st->positives < 0 || st->negatives < 0)
        snprintf(buf, len, "another AUC half-life, or negative counts");
    else
        return NULL;
    return buf;
}

int rec_ranker_set_state(struct rec_ranker *r, struct rec_ranker_state *st, char *err,
                         size_t errlen)
{
    if (!st->fm)
        return rec_errf(err, errlen, REC_EINVAL, "no model");
    char why[160];
    pthread_rwlock_wrlock(&r->lock);
    const char *bad = state_mismatch(r, st, why, sizeof why);
    struct rec_fm *old = bad ? NULL : r->fm;
    if (!bad) {
        r->fm = st->fm;
        r->positives = st->positives;
        r->negatives = st->negatives;
        r->auc = st->auc;
    }
    pthread_rwlock_unlock(&r->lock);
    if (bad)
        return rec_errf(err, errlen, REC_EINVAL, "%s", bad);
    st->fm = NULL;
    rec_fm_free(old);
    return 0;
}

void rec_ranker_changes(struct rec_ranker *r, uint64_t *changes, uint64_t *erasures)
{
    pthread_rwlock_rdlock(&r->lock);
    *changes = r->changes;
    *erasures = r->erasures;
    pthread_rwlock_unlock(&r->lock);
}
