/* tracker.c: see tracker.h.
 *
 * Memory: each served list of the window is one struct list, reachable three ways: by
 * recommendation_id (chained hash), from its user's chain (newest first; the chain heads sit in
 * a second chained hash keyed by the user's hash) and from the FIFO of all lists in serving
 * order, whose head is the oldest and so the next to expire. Items are held as 64-bit hashes
 * (an attribution needs only "is this item at some position"); a collision between two of one
 * list's items is about n^2 / 2^65 likely.
 *
 * One mutex guards everything; the flush thread swaps the pending rows out under it and writes
 * them to the store without it, served rows before outcomes so an outcome never precedes its
 * list on disk.
 */
#include "exp/tracker.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rand.h"
#include "store/store.h"

#define F_IMPRESSION 1u
#define F_CLICK      2u
#define F_CONVERSION 4u
#define F_DWELL      8u

struct list {
    char rec_id[REC_TRACKER_ID_LEN + 1];
    char *user;                  /* owned */
    uint64_t user_h;
    int exp;                     /* index into x->list, -1: no experiment */
    int slot;                    /* variant index, n_variants for the holdout */
    double ts;
    int n;
    uint64_t *item_h;            /* [n] */
    uint8_t *flags;              /* [n] F_* */
    double *dwell;               /* [n] summed seconds */
    int arm;                     /* source bandit arm, -1: untagged */
    int rewarded;                /* the bandit heard about this list */
    float x[REC_TRACKER_TAG_DIM];
    struct list *id_next, *user_next, *fifo_next;
};

struct user_head {
    uint64_t h;
    struct list *newest;
    struct user_head *next;
};

struct u64set {
    uint64_t *keys;              /* 0 = empty */
    size_t cap, n;
};

struct series {
    struct rec_series_point p[REC_TRACKER_SERIES_MAX];
    int start, n;                /* ring */
};

struct exp_state {
    struct rec_variant_stats st[REC_EXP_MAX_VARIANTS + 1];
    struct series *series;       /* [REC_EXP_MAX_VARIANTS + 1] */
    struct u64set users;
};

struct pending_served {
    char rec_id[REC_TRACKER_ID_LEN + 1];
    char *user, *items;          /* owned */
    const char *experiment, *variant; /* names owned by the experiments */
    double ts;
    int n;
};

struct pending_outcome {
    char rec_id[REC_TRACKER_ID_LEN + 1];
    uint64_t user_h;             /* the list's user, so an erasure can drop it */
    int position, type;
    double value, ts;
};

struct rec_tracker {
    struct rec_tracker_config c;
    const struct rec_experiments *x;
    struct rec_store *store;
    pthread_mutex_t mu;
    struct exp_state *exps;      /* [x->n] */
    struct list **ids;           /* [id_cap] buckets */
    size_t id_cap, n_lists;
    struct user_head **users;    /* [user_cap] buckets */
    size_t user_cap, n_users;
    struct list *fifo_head, *fifo_tail;
    int64_t positives, hits;
    uint64_t id_seed[2], id_counter;
    rec_tracker_reward_fn reward;
    void *reward_ctx;
    /* to the store */
    struct pending_served *ps;
    size_t n_ps, cap_ps;
    struct pending_outcome *po;
    size_t n_po, cap_po;
    pthread_mutex_t flush_mu;    /* held for a whole flush, so forget_user can wait one out */
    pthread_t flusher;
    pthread_cond_t cv;
    int stopping, has_flusher;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return rec_mix64(h) | 1; /* never 0: the sets' empty mark */
}

static size_t bucket(uint64_t h, size_t cap) { return (size_t)(h >> 7) & (cap - 1); }

static uint64_t id_hash(const char *rec_id) { return str_hash(rec_id); }

/* ---- sets and tables ---- */

static int u64set_add(struct u64set *s, uint64_t k) /* 1 when new, 0 when present, <0 error */
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *keys = calloc(cap, sizeof *keys);
        if (!keys)
            return REC_ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->keys[i]) {
                size_t j = bucket(s->keys[i], cap);
                while (keys[j])
                    j = (j + 1) & (cap - 1);
                keys[j] = s->keys[i];
            }
        free(s->keys);
        s->keys = keys;
        s->cap = cap;
    }
    size_t j = bucket(k, s->cap);
    while (s->keys[j]) {
        if (s->keys[j] == k)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->keys[j] = k;
    s->n++;
    return 1;
}

static struct list *find_list(const struct rec_tracker *t, const char *rec_id)
{
    for (struct list *l = t->ids[bucket(id_hash(rec_id), t->id_cap)]; l; l = l->id_next)
        if (strcmp(l->rec_id, rec_id) == 0)
            return l;
    return NULL;
}

static struct user_head *find_user(const struct rec_tracker *t, uint64_t h)
{
    for (struct user_head *u = t->users[bucket(h, t->user_cap)]; u; u = u->next)
        if (u->h == h)
            return u;
    return NULL;
}

/* Doubles a chained table when it holds more entries than buckets. */
static int grow_ids(struct rec_tracker *t)
{
    if (t->n_lists < t->id_cap)
        return 0;
    size_t cap = t->id_cap * 2;
    struct list **b = calloc(cap, sizeof *b);
    if (!b)
        return REC_ENOMEM;
    for (size_t i = 0; i < t->id_cap; i++)
        for (struct list *l = t->ids[i], *next; l; l = next) {
            next = l->id_next;
            size_t j = bucket(id_hash(l->rec_id), cap);
            l->id_next = b[j];
            b[j] = l;
        }
    free(t->ids);
    t->ids = b;
    t->id_cap = cap;
    return 0;
}

static int grow_users(struct rec_tracker *t)
{
    if (t->n_users < t->user_cap)
        return 0;
    size_t cap = t->user_cap * 2;
    struct user_head **b = calloc(cap, sizeof *b);
    if (!b)
        return REC_ENOMEM;
    for (size_t i = 0; i < t->user_cap; i++)
        for (struct user_head *u = t->users[i], *next; u; u = next) {
            next = u->next;
            size_t j = bucket(u->h, cap);
            u->next = b[j];
            b[j] = u;
        }
    free(t->users);
    t->users = b;
    t->user_cap = cap;
    return 0;
}

static void list_free(struct list *l)
{
    if (!l)
        return;
    free(l->user);
    free(l->item_h);
    free(l->flags);
    free(l->dwell);
    free(l);
}

/* Unlinks l from the id table and its user's chain (not from the FIFO) and frees it. */
static void drop_list(struct rec_tracker *t, struct list *l)
{
    struct list **pp = &t->ids[bucket(id_hash(l->rec_id), t->id_cap)];
    while (*pp && *pp != l)
        pp = &(*pp)->id_next;
    if (*pp)
        *pp = l->id_next;
    struct user_head **up = &t->users[bucket(l->user_h, t->user_cap)];
    while (*up && (*up)->h != l->user_h)
        up = &(*up)->next;
    if (*up) {
        struct list **lp = &(*up)->newest;
        while (*lp && *lp != l)
            lp = &(*lp)->user_next;
        if (*lp)
            *lp = l->user_next;
        if (!(*up)->newest) {
            struct user_head *dead = *up;
            *up = dead->next;
            free(dead);
            t->n_users--;
        }
    }
    t->n_lists--;
    list_free(l);
}

static void expire(struct rec_tracker *t, double now)
{
    while (t->fifo_head && t->fifo_head->ts < now - t->c.window_s) {
        struct list *l = t->fifo_head;
        if (l->arm >= 0 && !l->rewarded && t->reward) /* no positive within the window */
            t->reward(t->reward_ctx, l->arm, l->x, 0.0);
        t->fifo_head = l->fifo_next;
        if (!t->fifo_head)
            t->fifo_tail = NULL;
        drop_list(t, l);
    }
}

/* Links a new list into the three structures. The FIFO stays in time order when lists arrive
 * in order (serving, replay); a list older than the tail (a clock step back) goes in at the tail
 * anyway and expires a little late. */
static int link_list(struct rec_tracker *t, struct list *l)
{
    if (grow_ids(t) || grow_users(t))
        return REC_ENOMEM;
    struct user_head *u = find_user(t, l->user_h);
    if (!u) {
        if (!(u = calloc(1, sizeof *u)))
            return REC_ENOMEM;
        u->h = l->user_h;
        size_t j = bucket(u->h, t->user_cap);
        u->next = t->users[j];
        t->users[j] = u;
        t->n_users++;
    }
    l->user_next = u->newest;
    u->newest = l;
    size_t j = bucket(id_hash(l->rec_id), t->id_cap);
    l->id_next = t->ids[j];
    t->ids[j] = l;
    t->n_lists++;
    if (t->fifo_tail)
        t->fifo_tail->fifo_next = l;
    else
        t->fifo_head = l;
    t->fifo_tail = l;
    return 0;
}

static struct list *list_new(const char *rec_id, const char *user, int exp, int slot, double ts,
                             int n)
{
    struct list *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    snprintf(l->rec_id, sizeof l->rec_id, "%s", rec_id);
    l->user = strdup(user);
    l->user_h = str_hash(user);
    l->arm = -1;
    l->exp = exp;
    l->slot = slot;
    l->ts = ts;
    l->n = n;
    size_t m = n > 0 ? (size_t)n : 1;
    l->item_h = malloc(m * sizeof *l->item_h);
    l->flags = calloc(m, 1);
    l->dwell = calloc(m, sizeof *l->dwell);
    if (!l->user || !l->item_h || !l->flags || !l->dwell) {
        list_free(l);
        return NULL;
    }
    return l;
}

/* ---- counting ---- */

static int slot_of(const struct rec_experiment *e, int variant)
{
    return variant == REC_EXP_HOLDOUT ? e->n_variants : variant;
}

static int count_user(struct rec_tracker *t, int exp, int slot, const char *user)
{
    int added = u64set_add(&t->exps[exp].users, str_hash(user));
    if (added > 0)
        t->exps[exp].st[slot].users++;
    return added < 0 ? added : 0;
}

/* An outcome of type with value at position of a list of (exp, slot): counts it when the
 * position had none of that kind yet. f/dw are the position's flags and dwell when the list is
 * in memory (replay of older lists passes first = 1 and the stored sums). */
static void count_outcome(struct rec_variant_stats *s, int type, double value, uint8_t *f,
                          double *dw)
{
    switch (type) {
    case REC_EVENT_IMPRESSION:
        if (!(*f & F_IMPRESSION))
            s->impressions++;
        *f |= F_IMPRESSION;
        break;
    case REC_EVENT_CLICK:
        if (!(*f & F_CLICK))
            s->clicks++;
        *f |= F_CLICK;
        break;
    case REC_EVENT_PURCHASE:
        if (!(*f & F_CONVERSION))
            s->conversions++;
        *f |= F_CONVERSION;
        break;
    case REC_EVENT_DWELL: {
        double old = *f & F_DWELL ? *dw : 0.0, now = old + value;
        if (!(*f & F_DWELL))
            s->dwell_n++;
        *f |= F_DWELL;
        s->dwell_sum += value;
        s->dwell_sumsq += now * now - old * old;
        *dw = now;
        break;
    }
    default:
        break;
    }
}

static int is_positive(const struct rec_event *ev)
{
    switch (ev->type) {
    case REC_EVENT_CLICK: case REC_EVENT_LIKE: case REC_EVENT_ADD_TO_CART:
    case REC_EVENT_PURCHASE: case REC_EVENT_SHARE:
        return 1;
    case REC_EVENT_RATING:
        return ev->value >= 4;
    default:
        return 0;
    }
}

static int position_of(const struct list *l, uint64_t item_h)
{
    for (int p = 0; p < l->n; p++)
        if (l->item_h[p] == item_h)
            return p;
    return -1;
}

static void queue_outcome(struct rec_tracker *t, const struct list *l, int pos, int type,
                          double value, double now)
{
    if (!t->store || l->exp < 0)
        return;
    if (t->n_po == t->cap_po) {
        size_t cap = t->cap_po ? 2 * t->cap_po : 256;
        struct pending_outcome *po = realloc(t->po, cap * sizeof *po);
        if (!po) {
            rec_warn("tracker: out of memory: an outcome of %s is not logged", l->rec_id);
            return;
        }
        t->po = po;
        t->cap_po = cap;
    }
    struct pending_outcome *o = &t->po[t->n_po++];
    memcpy(o->rec_id, l->rec_id, sizeof o->rec_id);
    o->user_h = l->user_h;
    o->position = pos;
    o->type = type;
    o->value = value;
    o->ts = now;
}

static void attribute(struct rec_tracker *t, const struct rec_event *ev, double now)
{
    uint64_t uh = str_hash(ev->user), ih = str_hash(ev->item);
    struct user_head *u = find_user(t, uh);
    struct list *hit = NULL;
    int pos = -1;
    if (ev->rec_id) {
        struct list *l = find_list(t, ev->rec_id);
        if (l && l->user_h == uh && strcmp(l->user, ev->user) == 0 &&
            l->ts >= now - t->c.window_s && (pos = position_of(l, ih)) >= 0)
            hit = l;
    }
    int recent = 0;
    for (struct list *l = u ? u->newest : NULL; l; l = l->user_next) {
        if (l->ts < now - t->c.window_s || strcmp(l->user, ev->user) != 0)
            continue;
        recent = 1;
        if (!hit && (pos = position_of(l, ih)) >= 0)
            hit = l;
        if (hit)
            break;
    }
    if (recent && is_positive(ev)) {
        t->positives++;
        t->hits += hit != NULL;
    }
    if (hit && hit->arm >= 0 && !hit->rewarded && is_positive(ev) && t->reward) {
        hit->rewarded = 1;
        t->reward(t->reward_ctx, hit->arm, hit->x, 1.0);
    }
    if (!hit || hit->exp < 0)
        return;
    struct rec_variant_stats *s = &t->exps[hit->exp].st[hit->slot];
    count_outcome(s, ev->type, ev->value, &hit->flags[pos], &hit->dwell[pos]);
    queue_outcome(t, hit, pos, ev->type, ev->value, now);
}

/* ---- the store ---- */

static void flush_pending(struct rec_tracker *t)
{
    pthread_mutex_lock(&t->flush_mu);
    pthread_mutex_lock(&t->mu);
    struct pending_served *ps = t->ps;
    size_t n_ps = t->n_ps;
    struct pending_outcome *po = t->po;
    size_t n_po = t->n_po;
    t->ps = NULL;
    t->n_ps = t->cap_ps = 0;
    t->po = NULL;
    t->n_po = t->cap_po = 0;
    pthread_mutex_unlock(&t->mu);
    if (n_ps) {
        struct rec_served_row *rows = malloc(n_ps * sizeof *rows);
        for (size_t i = 0; rows && i < n_ps; i++)
            rows[i] = (struct rec_served_row){ps[i].rec_id, ps[i].user, ps[i].experiment,
                                              ps[i].variant, ps[i].ts, ps[i].n, ps[i].items};
        if (!rows || rec_store_log_served(t->store, rows, (int)n_ps))
            rec_error("tracker: %zu served lists could not be logged", n_ps);
        free(rows);
    }
    if (n_po) {
        struct rec_outcome_row *rows = malloc(n_po * sizeof *rows);
        for (size_t i = 0; rows && i < n_po; i++)
            rows[i] = (struct rec_outcome_row){.rec_id = po[i].rec_id, .position = po[i].position,
                                               .type = po[i].type, .n = 1, .value = po[i].value,
                                               .ts = po[i].ts};
        if (!rows || rec_store_log_outcomes(t->store, rows, (int)n_po))
            rec_error("tracker: %zu outcomes could not be logged", n_po);
        free(rows);
    }
    pthread_mutex_unlock(&t->flush_mu);
    for (size_t i = 0; i < n_ps; i++) {
        free(ps[i].user);
        free(ps[i].items);
    }
    free(ps);
    free(po);
}

static void *flusher_main(void *arg)
{
    struct rec_tracker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double at = (double)ts.tv_sec + ts.tv_nsec / 1e9 + t->c.flush_interval_s;
        ts.tv_sec = (time_t)at;
        ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        pthread_mutex_unlock(&t->mu);
        flush_pending(t);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int lookup_slot(const struct rec_tracker *t, const char *exp, const char *variant, int *e,
                       int *slot)
{
    const struct rec_experiment *x = rec_experiments_find(t->x, exp);
    if (!x)
        return 0;
    int v = rec_exp_variant_find(x, variant);
    if (v == REC_EXP_NONE)
        return 0;
    *e = (int)(x - t->x->list);
    *slot = slot_of(x, v);
    return 1;
}

struct replay {
    struct rec_tracker *t;
    double now;
};

static int replay_served(void *ctx, const struct rec_served_row *r)
{
    struct replay *rp = ctx;
    struct rec_tracker *t = rp->t;
    int e, slot;
    if (!lookup_slot(t, r->experiment, r->variant, &e, &slot))
        return 0; /* an experiment or variant no longer configured */
    struct rec_variant_stats *s = &t->exps[e].st[slot];
    s->requests++;
    s->served_items += r->n_items;
    int rc = count_user(t, e, slot, r->user);
    if (rc || r->ts < rp->now - t->c.window_s)
        return rc;
    struct list *l = list_new(r->rec_id, r->user, e, slot, r->ts, r->n_items);
    if (!l)
        return REC_ENOMEM;
    const char *p = r->items;
    int k = 0;
    while (k < l->n && *p) {
        size_t len = strcspn(p, "\n");
        char id[REC_ID_MAX + 1];
        snprintf(id, sizeof id, "%.*s", (int)(len < REC_ID_MAX ? len : REC_ID_MAX), p);
        l->item_h[k++] = str_hash(id);
        p += len + (p[len] == '\n');
    }
    l->n = k;
    if ((rc = link_list(t, l)))
        list_free(l);
    return rc;
}

static int replay_outcome(void *ctx, const struct rec_outcome_row *o)
{
    struct rec_tracker *t = ((struct replay *)ctx)->t;
    int e, slot;
    if (!lookup_slot(t, o->experiment, o->variant, &e, &slot))
        return 0;
    struct list *l = find_list(t, o->rec_id);
    uint8_t f = 0;
    double dw = 0;
    uint8_t *fp = l && o->position < l->n ? &l->flags[o->position] : &f;
    double *dp = l && o->position < l->n ? &l->dwell[o->position] : &dw;
    count_outcome(&t->exps[e].st[slot], o->type, o->value, fp, dp);
    return 0;
}

/* ---- public API ---- */

void rec_tracker_config_default(struct rec_tracker_config *c)
{
    c->window_s = 3600;
    c->flush_interval_s = 0.2;
}

int rec_tracker_open(const struct rec_tracker_config *c, const struct rec_experiments *x,
                     struct rec_store *store, double now, struct rec_tracker **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (!(c->window_s > 0) || !(c->flush_interval_s > 0))
        return rec_errf(err, errlen, REC_EINVAL, "attribution window and flush interval must be > 0");
    struct rec_tracker *t = calloc(1, sizeof *t);
    if (!t)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    static const struct rec_experiments none = {0, NULL};
    t->c = *c;
    t->x = x ? x : &none;
    t->store = store;
    t->id_cap = t->user_cap = 1024;
    t->ids = calloc(t->id_cap, sizeof *t->ids);
    t->users = calloc(t->user_cap, sizeof *t->users);
    t->exps = calloc((size_t)(t->x->n > 0 ? t->x->n : 1), sizeof *t->exps);
    int rc = t->ids && t->users && t->exps ? 0 : REC_ENOMEM;
    for (int e = 0; e < t->x->n && !rc; e++) {
        const struct rec_experiment *xe = &t->x->list[e];
        struct exp_state *es = &t->exps[e];
        if (!(es->series = calloc(REC_EXP_MAX_VARIANTS + 1, sizeof *es->series)))
            rc = REC_ENOMEM;
        for (int v = 0; v <= xe->n_variants; v++)
            snprintf(es->st[v].name, sizeof es->st[v].name, "%s",
                     v < xe->n_variants ? xe->variants[v].name : "holdout");
    }
    if (getrandom(t->id_seed, sizeof t->id_seed, 0) != (ssize_t)sizeof t->id_seed) {
        t->id_seed[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t; /* still unique per run */
        t->id_seed[1] = rec_mix64(t->id_seed[0]);
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->flush_mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    struct replay rp = {t, now};
    if (!rc && store && t->x->n > 0) {
        if ((rc = rec_store_scan_served(store, 0, replay_served, &rp)) == 0)
            rc = rec_store_scan_outcomes(store, 0, replay_outcome, &rp);
        if (rc)
            rec_errf(err, errlen, rc, "cannot read the experiments' log: %s", rec_strerror(rc));
    } else if (rc) {
        rec_errf(err, errlen, rc, "out of memory");
    }
    if (!rc && store) {
        if (pthread_create(&t->flusher, NULL, flusher_main, t))
            rc = rec_errf(err, errlen, REC_ENOMEM, "cannot start the tracker's flush thread");
        else
            t->has_flusher = 1;
    }
    if (rc) {
        rec_tracker_close(t);
        return rc;
    }
    if (t->x->n > 0)
        rec_info("tracker: %d experiments, %zu lists within the %.0f s attribution window",
                 t->x->n, t->n_lists, t->c.window_s);
    *out = t;
    return 0;
}

void rec_tracker_close(struct rec_tracker *t)
{
    if (!t)
        return;
    if (t->has_flusher) {
        pthread_mutex_lock(&t->mu);
        t->stopping = 1;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->flusher, NULL);
        flush_pending(t);
    }
    for (struct list *l = t->fifo_head, *next; l; l = next) {
        next = l->fifo_next;
        list_free(l);
    }
    for (size_t i = 0; t->users && i < t->user_cap; i++)
        for (struct user_head *u = t->users[i], *next; u; u = next) {
            next = u->next;
            free(u);
        }
    for (int e = 0; t->exps && e < t->x->n; e++) {
        free(t->exps[e].series);
        free(t->exps[e].users.keys);
    }
    for (size_t i = 0; i < t->n_ps; i++) {
        free(t->ps[i].user);
        free(t->ps[i].items);
    }
    free(t->ps);
    free(t->po);
    free(t->exps);
    free(t->ids);
    free(t->users);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->flush_mu);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Joins ids with '\n' into a new string. */
static char *join_items(const char *const *items, int n)
{
    size_t len = 1;
    for (int k = 0; k < n; k++)
        len += strlen(items[k]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int k = 0; k < n; k++) {
        size_t m = strlen(items[k]);
        memcpy(p, items[k], m);
        p += m;
        if (k + 1 < n)
            *p++ = '\n';
    }
    *p = '\0';
    return s;
}

int rec_tracker_served(struct rec_tracker *t, const char *user, const struct rec_exp_assignment *a,
                       const char *const *items, int n, double now,
                       char rec_id[REC_TRACKER_ID_LEN + 1])
{
    int exp = -1, slot = 0;
    if (a && a->exp) {
        exp = (int)(a->exp - t->x->list);
        slot = slot_of(a->exp, a->variant);
    }
    char *joined = exp >= 0 && t->store ? join_items(items, n) : NULL;
    char *user_copy = exp >= 0 && t->store ? strdup(user) : NULL;
    if (exp >= 0 && t->store && (!joined || !user_copy)) {
        free(joined);
        free(user_copy);
        return REC_ENOMEM;
    }
    pthread_mutex_lock(&t->mu);
    uint64_t c = t->id_counter++;
    snprintf(rec_id, REC_TRACKER_ID_LEN + 1, "%016llx%016llx",
             (unsigned long long)rec_mix64(t->id_seed[0] ^ c),
             (unsigned long long)rec_mix64(t->id_seed[1] + c));
    expire(t, now);
    int rc = 0;
    struct list *l = list_new(rec_id, user, exp, slot, now, n);
    if (!l) {
        rc = REC_ENOMEM;
    } else {
        for (int k = 0; k < n; k++)
            l->item_h[k] = str_hash(items[k]);
        if ((rc = link_list(t, l)))
            list_free(l);
    }
    if (!rc && exp >= 0) {
        struct rec_variant_stats *s = &t->exps[exp].st[slot];
        s->requests++;
        s->served_items += n;
        rc = count_user(t, exp, slot, user);
        if (!rc && t->store) {
            if (t->n_ps == t->cap_ps) {
                size_t cap = t->cap_ps ? 2 * t->cap_ps : 256;
                struct pending_served *ps = realloc(t->ps, cap * sizeof *ps);
                if (ps) {
                    t->ps = ps;
                    t->cap_ps = cap;
                }
            }
            if (t->n_ps < t->cap_ps) {
                struct pending_served *p = &t->ps[t->n_ps++];
                memcpy(p->rec_id, rec_id, sizeof p->rec_id);
                p->user = user_copy;
                p->items = joined;
                p->experiment = a->exp->name;
                p->variant = a->variant_name;
                p->ts = now;
                p->n = n;
                user_copy = joined = NULL;
            } else {
                rec_warn("tracker: out of memory: list %s is not logged", rec_id);
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
    free(joined);
    free(user_copy);
    return rc;
}

void rec_tracker_set_reward_hook(struct rec_tracker *t, rec_tracker_reward_fn fn, void *ctx)
{
    pthread_mutex_lock(&t->mu);
    t->reward = fn;
    t->reward_ctx = ctx;
    pthread_mutex_unlock(&t->mu);
}

void rec_tracker_tag(struct rec_tracker *t, const char *rec_id, int arm, const float *x)
{
    pthread_mutex_lock(&t->mu);
    struct list *l = find_list(t, rec_id);
    if (l) {
        l->arm = arm;
        memcpy(l->x, x, sizeof l->x);
    }
    pthread_mutex_unlock(&t->mu);
}

void rec_tracker_events(struct rec_tracker *t, const struct rec_event *ev, const uint8_t *inserted,
                        int n, double now)
{
    pthread_mutex_lock(&t->mu);
    if (t->n_lists > 0)
        for (int i = 0; i < n; i++)
            if (!inserted || inserted[i])
                attribute(t, &ev[i], now);
    pthread_mutex_unlock(&t->mu);
}

void rec_tracker_forget_user(struct rec_tracker *t, const char *user)
{
    uint64_t h = str_hash(user);
    pthread_mutex_lock(&t->flush_mu); /* a flush under way finishes first */
    pthread_mutex_lock(&t->mu);
    /* unlink from the FIFO first, then drop */
    for (struct list **pp = &t->fifo_head, *prev = NULL; *pp;) {
        struct list *l = *pp;
        if (l->user_h == h && strcmp(l->user, user) == 0) {
            *pp = l->fifo_next;
            if (t->fifo_tail == l)
                t->fifo_tail = prev;
            drop_list(t, l);
        } else {
            prev = l;
            pp = &l->fifo_next;
        }
    }
    /* and from what is still to be logged */
    size_t k = 0;
    for (size_t i = 0; i < t->n_ps; i++) {
        if (strcmp(t->ps[i].user, user) == 0) {
            free(t->ps[i].user);
            free(t->ps[i].items);
        } else {
            t->ps[k++] = t->ps[i];
        }
    }
    t->n_ps = k;
    k = 0;
    for (size_t i = 0; i < t->n_po; i++)
        if (t->po[i].user_h != h) /* a 64-bit hash collision drops another user's row: rare, harmless */
            t->po[k++] = t->po[i];
    t->n_po = k;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_unlock(&t->flush_mu);
}

int rec_tracker_stats(struct rec_tracker *t, const char *name, struct rec_variant_stats *out,
                      int *n_out)
{
    const struct rec_experiment *x = rec_experiments_find(t->x, name);
    if (!x)
        return REC_ENOTFOUND;
    int e = (int)(x - t->x->list);
    pthread_mutex_lock(&t->mu);
    /* the holdout is listed when it has a share, or users pinned to it by overrides */
    int n = x->n_variants + (x->holdout > 0 || t->exps[e].st[x->n_variants].requests > 0);
    memcpy(out, t->exps[e].st, (size_t)n * sizeof *out);
    pthread_mutex_unlock(&t->mu);
    *n_out = n;
    return 0;
}

void rec_tracker_online(struct rec_tracker *t, struct rec_online_stats *o)
{
    pthread_mutex_lock(&t->mu);
    o->positives = t->positives;
    o->hits = t->hits;
    o->lists_in_memory = (int64_t)t->n_lists;
    pthread_mutex_unlock(&t->mu);
}

void rec_tracker_sample(struct rec_tracker *t, double now)
{
    pthread_mutex_lock(&t->mu);
    expire(t, now);
    for (int e = 0; e < t->x->n; e++) {
        const struct rec_experiment *x = &t->x->list[e];
        for (int v = 0; v <= x->n_variants; v++) {
            const struct rec_variant_stats *s = &t->exps[e].st[v];
            struct series *sr = &t->exps[e].series[v];
            int at = (sr->start + sr->n) % REC_TRACKER_SERIES_MAX;
            if (sr->n == REC_TRACKER_SERIES_MAX)
                sr->start = (sr->start + 1) % REC_TRACKER_SERIES_MAX;
            else
                sr->n++;
            sr->p[at] = (struct rec_series_point){
                now, x->impressions == REC_EXP_IMPRESSIONS_EVENTS ? s->impressions : s->served_items,
                s->clicks};
        }
    }
    pthread_mutex_unlock(&t->mu);
}

int rec_tracker_series(struct rec_tracker *t, const char *name, int v, struct rec_series_point *out,
                       int max)
{
    const struct rec_experiment *x = rec_experiments_find(t->x, name);
    if (!x || v < 0 || v > x->n_variants)
        return REC_ENOTFOUND;
    pthread_mutex_lock(&t->mu);
    const struct series *sr = &t->exps[x - t->x->list].series[v];
    int n = sr->n < max ? sr->n : max;
    for (int k = 0; k < n; k++)
        out[k] = sr->p[(sr->start + sr->n - n + k) % REC_TRACKER_SERIES_MAX];
    pthread_mutex_unlock(&t->mu);
    return n;
}
