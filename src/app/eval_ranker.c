/* eval_ranker.c: progressive validation of the learned ranker (see eval_ranker.h).
 *
 * Phases: load (items, users and events, each event with its parsed context), stream (examples,
 * labels and lists, sorted into processing order), run (per list: predict, score, learn, for
 * every feature set and the baseline), report. Memory: O(events) for the stream, plus 2^bits *
 * (k + 1) * 8 bytes per FM (72 MiB each at the defaults, three of them).
 */
#include "app/eval_ranker.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/idmap.h"
#include "ingest/event.h"
#include "ingest/import.h"
#include "rank/auc.h"
#include "rank/features.h"
#include "rank/fm.h"
#include "store/store.h"

#define N_SETS 4
#define N_SCORERS (N_SETS + 1) /* scorer 0 is the popularity baseline */
#define MAX_LIST_STRS 32       /* categories and tags used per item */
#define MAX_ATTRS 16           /* user attributes used per user */
#define VALUE_MAX 64           /* longer user attribute strings are free text, not groups */
#define NDCG_K 10
#define DAY_S 86400
#define SESSION_GAP_S 1800     /* a session: one user's consecutive events less than 30 min apart */
#define SESSION_LOOKBACK 64    /* session events searched for engaged categories, most recent first */

static const unsigned set_mask[N_SETS] = {
    REC_FEAT_IDS, REC_FEAT_IDS | REC_FEAT_ATTRS, REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT,
    REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT | REC_FEAT_SESSION};
static const char *const scorer_name[N_SCORERS] = {"popularity", "ids", "ids+attrs",
                                                   "ids+attrs+context",
                                                   "ids+attrs+context+session"};

/* ---- data ---------------------------------------------------------------------------------- */

struct item_info {
    int64_t cat, tag;      /* offsets into refs */
    int32_t n_cat, n_tag;
    double duration;       /* minutes, NAN unknown */
    int64_t published;     /* Unix seconds; INT64_MIN unknown */
};

struct user_info {
    int64_t attr;          /* offset into refs of n_attr (key, value) pairs */
    int32_t n_attr;
};

struct event {
    int64_t ts;
    int32_t user, item;
    int32_t session;       /* index in sessions, -1 none */
    int32_t device, region; /* indexes in strs, -1 unknown */
    float value;
    int8_t type, hour, weekday; /* hour and weekday from the context, -1 absent */
};

struct data {
    struct rec_idmap users, items, sessions, strs;
    struct item_info *item;
    struct user_info *user;
    int32_t cap_item, cap_user;
    int32_t *refs;         /* indexes in strs */
    int64_t n_refs, cap_refs;
    struct event *ev;
    int64_t n_ev, cap_ev;
    int64_t n_impressions;
};

static int grow(void **p, int64_t *cap, int64_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    int64_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * size);
    if (!q)
        return REC_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Makes item[] and user[] cover the indexes handed out so far. */
static int cover(struct data *d)
{
    while (d->cap_item < d->items.n_names) {
        int32_t n = d->cap_item ? d->cap_item * 2 : 1024;
        struct item_info *p = realloc(d->item, (size_t)n * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        for (int32_t i = d->cap_item; i < n; i++)
            p[i] = (struct item_info){0, 0, 0, 0, NAN, INT64_MIN};
        d->item = p;
        d->cap_item = n;
    }
    while (d->cap_user < d->users.n_names) {
        int32_t n = d->cap_user ? d->cap_user * 2 : 1024;
        struct user_info *p = realloc(d->user, (size_t)n * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        memset(p + d->cap_user, 0, (size_t)(n - d->cap_user) * sizeof *p);
        d->user = p;
        d->cap_user = n;
    }
    return 0;
}

static int add_ref(struct data *d, const char *s)
{
    int32_t x = rec_idmap_put(&d->strs, s, NULL);
    if (x < 0 || grow((void **)&d->refs, &d->cap_refs, d->n_refs + 1, sizeof *d->refs))
        return REC_ENOMEM;
    d->refs[d->n_refs++] = x;
    return 0;
}

/* Appends the non-empty strings of array a (at most MAX_LIST_STRS); their count in *n. */
static int add_strings(struct data *d, json_t *a, int32_t *n)
{
    size_t j;
    json_t *v;
    *n = 0;
    json_array_foreach(a, j, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s || *n == MAX_LIST_STRS)
            continue;
        if (add_ref(d, s))
            return REC_ENOMEM;
        (*n)++;
    }
    return 0;
}

static int on_item(void *ctx, const char *id, const char *doc)
{
    struct data *d = ctx;
    int32_t i = rec_idmap_put(&d->items, id, NULL);
    if (i < 0 || cover(d))
        return REC_ENOMEM;
    json_t *o = json_loads(doc, 0, NULL);
    if (!o)
        return 0; /* importers hand out valid documents; anything else has no attributes */
    struct item_info *it = &d->item[i];
    int rc;
    it->cat = d->n_refs;
    if ((rc = add_strings(d, json_object_get(o, "categories"), &it->n_cat)) == 0) {
        it->tag = d->n_refs;
        rc = add_strings(d, json_object_get(o, "tags"), &it->n_tag);
    }
    json_t *dur = json_object_get(json_object_get(o, "attributes"), "duration_min");
    if (!dur)
        dur = json_object_get(o, "duration_min");
    double m = json_is_number(dur) ? json_number_value(dur) : NAN;
    it->duration = isfinite(m) && m >= 0 ? m : NAN;
    json_t *pub = json_object_get(o, "published_at");
    it->published = json_is_integer(pub) ? (int64_t)json_integer_value(pub) : INT64_MIN;
    json_decref(o);
    return rc;
}

/* MovieLens 1M's age groups, used for any numeric "age". */
static const char *age_bucket(double a)
{
    return a < 18 ? "<18" : a < 25 ? "18-24" : a < 35 ? "25-34" : a < 45 ? "35-44"
         : a < 50 ? "45-49" : a < 56 ? "50-55" : "56+";
}

/* Attributes used: a numeric "age" (bucketed) and the strings of at most VALUE_MAX bytes, but
 * "zip" (nearly one value per user: an id in disguise). */
static int on_user(void *ctx, const char *id, const char *doc)
{
    struct data *d = ctx;
    int32_t u = rec_idmap_put(&d->users, id, NULL);
    if (u < 0 || cover(d))
        return REC_ENOMEM;
    json_t *o = json_loads(doc, 0, NULL);
    if (!o)
        return 0;
    struct user_info *ui = &d->user[u];
    ui->attr = d->n_refs;
    ui->n_attr = 0;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(json_object_get(o, "attributes"), key, v)
    {
        const char *s = json_string_value(v);
        if (!strcmp(key, "age") && json_is_number(v) && isfinite(json_number_value(v)))
            s = age_bucket(json_number_value(v));
        if (!s || !*s || strlen(s) > VALUE_MAX || !strcmp(key, "zip") || ui->n_attr == MAX_ATTRS)
            continue;
        if ((rc = add_ref(d, key)) || (rc = add_ref(d, s)))
            break;
        ui->n_attr++;
    }
    json_decref(o);
    return rc;
}

static int32_t str_index(struct data *d, json_t *v)
{
    const char *s = json_string_value(v);
    return s && *s ? rec_idmap_put(&d->strs, s, NULL) : -1;
}

static int8_t int_in(json_t *v, int lo, int hi)
{
    json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
    return x >= lo && x <= hi ? (int8_t)x : -1;
}

static int on_event(void *ctx, const struct rec_event *e)
{
    struct data *d = ctx;
    if (grow((void **)&d->ev, &d->cap_ev, d->n_ev + 1, sizeof *d->ev))
        return REC_ENOMEM;
    struct event x = {e->ts, rec_idmap_put(&d->users, e->user, NULL),
                      rec_idmap_put(&d->items, e->item, NULL), -1, -1, -1, (float)e->value,
                      (int8_t)e->type, -1, -1};
    if (x.user < 0 || x.item < 0 || cover(d))
        return REC_ENOMEM;
    json_t *c = e->context ? json_loads(e->context, 0, NULL) : NULL;
    if (c) {
        json_t *s = json_object_get(c, "session");
        char num[32];
        if (json_is_integer(s))
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(s));
        const char *sid = json_is_integer(s) ? num : json_string_value(s);
        x.session = sid && *sid ? rec_idmap_put(&d->sessions, sid, NULL) : -1;
        x.device = str_index(d, json_object_get(c, "device"));
        x.region = str_index(d, json_object_get(c, "region"));
        x.hour = int_in(json_object_get(c, "hour"), 0, 23);
        x.weekday = int_in(json_object_get(c, "weekday"), 0, 6);
        json_decref(c);
    }
    d->n_impressions += e->type == REC_EVENT_IMPRESSION;
    d->ev[d->n_ev++] = x;
    return 0;
}

static int store_item(void *ctx, const char *id, const char *doc, int deleted)
{
    return deleted ? 0 : on_item(ctx, id, doc);
}

static int store_user(void *ctx, const char *id, const char *doc, int deleted)
{
    return deleted ? 0 : on_user(ctx, id, doc);
}

static int load(struct data *d, const char *path, const char *data_dir, char *err, size_t errlen)
{
    rec_idmap_init(&d->users);
    rec_idmap_init(&d->items);
    rec_idmap_init(&d->sessions);
    rec_idmap_init(&d->strs);
    if (path) {
        struct rec_import_sink sink = {d, on_item, on_user, on_event, NULL};
        struct rec_import_stats st;
        memset(&st, 0, sizeof st);
        return rec_import_path(path, REC_IMPORT_AUTO, &sink, &st, err, errlen);
    }
    struct rec_store *store;
    int rc = rec_store_open(data_dir, &store, err, errlen);
    if (rc)
        return rc;
    if (!(rc = rec_store_scan_items(store, store_item, d)) && !(rc = rec_store_scan_users(store, store_user, d)))
        rc = rec_store_scan_events(store, 0, on_event, d);
    rec_store_close(store);
    return rc;
}

static void data_free(struct data *d)
{
    rec_idmap_free(&d->users);
    rec_idmap_free(&d->items);
    rec_idmap_free(&d->sessions);
    rec_idmap_free(&d->strs);
    free(d->item);
    free(d->user);
    free(d->refs);
    free(d->ev);
}

/* ---- the stream ---------------------------------------------------------------------------- */

struct example {
    int64_t start;         /* first timestamp of the list: the processing order */
    int64_t ts;
    int32_t ev;            /* index in d->ev, also the tie-break (input order) */
    int32_t list;
    uint8_t label, scored;
};

struct stream {
    struct example *ex;
    int64_t n, n_scored, n_pos;
    int32_t n_lists;       /* lists with a scored example */
    int max_list;          /* examples in the longest list */
    int impressions;       /* 1: impression stream, 0: every event scored */
};

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int label_of(const struct event *e)
{
    if (e->type == REC_EVENT_RATING)
        return e->value >= 4;
    return rec_event_default_weight(e->type) > 0;
}

static const struct data *sort_data; /* qsort has no context argument; the run is single-threaded */

/* impressions and clicks by (user, item, session, ts, clicks after impressions) */
static int cmp_key(const void *pa, const void *pb)
{
    const struct event *a = &sort_data->ev[*(const int32_t *)pa], *b = &sort_data->ev[*(const int32_t *)pb];
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    if (a->session != b->session)
        return a->session < b->session ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (*(const int32_t *)pa > *(const int32_t *)pb) - (*(const int32_t *)pa < *(const int32_t *)pb);
}

/* ratings: by (user, UTC day, ts, input order) */
static int cmp_user_day(const void *pa, const void *pb)
{
    int32_t x = *(const int32_t *)pa, y = *(const int32_t *)pb;
    const struct event *a = &sort_data->ev[x], *b = &sort_data->ev[y];
    int64_t da = floor_div(a->ts, DAY_S), db = floor_div(b->ts, DAY_S);
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    if (da != db)
        return da < db ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (x > y) - (x < y);
}

static int cmp_example(const void *pa, const void *pb)
{
    const struct example *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->list != b->list)
        return a->list < b->list ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (a->ev > b->ev) - (a->ev < b->ev);
}

/* Labels impressions by a later click on the same (user, item, session); such clicks are
 * consumed (their impression carries them). Marks in consumed[], labels in label[]. */
static int label_impressions(const struct data *d, uint8_t *label, uint8_t *consumed)
{
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(d->n_ev ? d->n_ev : 1));
    if (!idx)
        return REC_ENOMEM;
    int32_t n = 0;
    for (int32_t j = 0; j < d->n_ev; j++)
        if (d->ev[j].session >= 0 && (d->ev[j].type == REC_EVENT_IMPRESSION || d->ev[j].type == REC_EVENT_CLICK))
            idx[n++] = j;
    sort_data = d;
    qsort(idx, (size_t)n, sizeof *idx, cmp_key);
    for (int32_t a = 0, b; a < n; a = b) {
        const struct event *e = &d->ev[idx[a]];
        int64_t first_imp = INT64_MAX, last_click = INT64_MIN;
        for (b = a; b < n; b++) {
            const struct event *f = &d->ev[idx[b]];
            if (f->user != e->user || f->item != e->item || f->session != e->session)
                break;
            if (f->type == REC_EVENT_IMPRESSION && f->ts < first_imp)
                first_imp = f->ts;
            if (f->type == REC_EVENT_CLICK)
                last_click = f->ts;
        }
        for (int32_t j = a; j < b; j++) {
            const struct event *f = &d->ev[idx[j]];
            if (f->type == REC_EVENT_IMPRESSION)
                label[idx[j]] = last_click >= f->ts;
            else
                consumed[idx[j]] = f->ts >= first_imp;
        }
    }
    free(idx);
    return 0;
}

/* Examples, labels and lists; then the processing order. */
static int build_stream(const struct data *d, struct stream *s)
{
    memset(s, 0, sizeof *s);
    size_t n_ev = (size_t)(d->n_ev ? d->n_ev : 1);
    s->impressions = d->n_impressions > 0;
    uint8_t *label = calloc(n_ev, 1), *consumed = calloc(n_ev, 1);
    int32_t *idx = malloc(sizeof(int32_t) * n_ev), *list_of = malloc(sizeof(int32_t) * n_ev);
    s->ex = malloc(sizeof *s->ex * n_ev);
    int rc = !label || !consumed || !idx || !list_of || !s->ex ? REC_ENOMEM : 0;
    if (!rc && s->impressions)
        rc = label_impressions(d, label, consumed);
    if (rc)
        goto out;
    /* list ids: sessions first (their index), then one per other example or (user, day) */
    int32_t next = s->impressions ? d->sessions.n_names : 0;
    if (s->impressions) {
        for (int32_t j = 0; j < d->n_ev; j++) {
            const struct event *e = &d->ev[j];
            int imp = e->type == REC_EVENT_IMPRESSION;
            list_of[j] = imp && e->session >= 0 ? e->session : next++;
            if (!imp)
                label[j] = (uint8_t)label_of(e);
        }
    } else {
        for (int32_t j = 0; j < d->n_ev; j++) {
            idx[j] = j;
            label[j] = (uint8_t)label_of(&d->ev[j]);
        }
        sort_data = d;
        qsort(idx, (size_t)d->n_ev, sizeof *idx, cmp_user_day);
        for (int32_t j = 0; j < d->n_ev; j++) {
            const struct event *e = &d->ev[idx[j]], *p = j ? &d->ev[idx[j - 1]] : NULL;
            if (p && (p->user != e->user || floor_div(p->ts, DAY_S) != floor_div(e->ts, DAY_S)))
                next++;
            list_of[idx[j]] = next;
        }
        next += d->n_ev > 0;
    }
    int64_t *start = malloc(sizeof(int64_t) * (size_t)(next ? next : 1));
    int32_t *len = calloc((size_t)(next ? next : 1), sizeof(int32_t));
    uint8_t *has_scored = calloc((size_t)(next ? next : 1), 1);
    if (!start || !len || !has_scored) {
        free(start);
        free(len);
        free(has_scored);
        rc = REC_ENOMEM;
        goto out;
    }
    for (int32_t l = 0; l < next; l++)
        start[l] = INT64_MAX;
    for (int32_t j = 0; j < d->n_ev; j++) {
        const struct event *e = &d->ev[j];
        if (consumed[j])
            continue;
        int scored = !s->impressions || e->type == REC_EVENT_IMPRESSION;
        int32_t l = list_of[j];
        start[l] = e->ts < start[l] ? e->ts : start[l];
        s->ex[s->n++] = (struct example){0, e->ts, j, l, label[j], (uint8_t)scored};
        s->n_scored += scored;
        s->n_pos += scored && label[j];
        s->n_lists += scored && !has_scored[l];
        has_scored[l] |= (uint8_t)scored;
        if (++len[l] > s->max_list)
            s->max_list = len[l];
    }
    for (int64_t j = 0; j < s->n; j++)
        s->ex[j].start = start[s->ex[j].list];
    qsort(s->ex, (size_t)s->n, sizeof *s->ex, cmp_example);
    free(start);
    free(len);
    free(has_scored);
out:
    free(label);
    free(consumed);
    free(idx);
    free(list_of);
    return rc;
}

/* ---- sessions ------------------------------------------------------------------------------ */

/* The session inputs of one example, from the events before it (see compute_sessions). */
struct session {
    int32_t cat[REC_RANK_SESSION_CATS]; /* indexes in strs, most recent first, distinct */
    int32_t n_cat;
    int32_t position;      /* the user's events in the session before this one */
    double gap;            /* seconds since the user's previous event, NAN: none */
};

static const struct stream *sort_stream;

/* examples by (user, ts, processing order) */
static int cmp_user_time(const void *pa, const void *pb)
{
    int32_t x = *(const int32_t *)pa, y = *(const int32_t *)pb;
    const struct example *a = &sort_stream->ex[x], *b = &sort_stream->ex[y];
    int32_t ua = sort_data->ev[a->ev].user, ub = sort_data->ev[b->ev].user;
    if (ua != ub)
        return ua < ub ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (x > y) - (x < y);
}

/* Whether example i (before example j in time) counts as engaged for j's session categories. A
 * rating counts whatever its stars: that the user rated (watched) the item is no label, the stars
 * are. Any other event counts when its label is positive (a clicked impression, a view, a like,
 * ...), and only when its list was learned before j's list: the protocol never lets a label of
 * a list reach the predictions of that list. */
static int engaged(const struct data *d, const struct stream *s, int32_t i, int32_t j)
{
    if (d->ev[s->ex[i].ev].type == REC_EVENT_RATING)
        return 1;
    return s->ex[i].label && i < j && s->ex[i].list != s->ex[j].list;
}

/* Fills sess[j] for every example j of s (processing order) from the same user's examples with
 * an earlier timestamp (ties are not "before": their order is unknown): the session is the chain
 * of those events whose gaps, and the gap to j, are under SESSION_GAP_S; position counts its
 * events; the categories are those of its engaged events (see engaged()), most recent first,
 * distinct, from its last SESSION_LOOKBACK events. Nothing here depends on a model, so it is
 * computed once. Clicks consumed by their impression are labels, not events: they are not in s. */
static int compute_sessions(const struct data *d, const struct stream *s, struct session *sess)
{
    int32_t *ord = malloc(sizeof(int32_t) * (size_t)(s->n ? s->n : 1));
    if (!ord)
        return REC_ENOMEM;
    for (int32_t k = 0; k < s->n; k++)
        ord[k] = k;
    sort_data = d;
    sort_stream = s;
    qsort(ord, (size_t)s->n, sizeof *ord, cmp_user_time);
    int32_t a = 0, g = 0, cur_start = 0, prev_start = 0; /* user block, tie group, chain starts */
    for (int32_t k = 0; k < s->n; k++) {
        const struct example *x = &s->ex[ord[k]];
        if (k == 0 || d->ev[x->ev].user != d->ev[s->ex[ord[k - 1]].ev].user) {
            a = g = cur_start = prev_start = k;
        } else if (x->ts != s->ex[ord[k - 1]].ts) {
            g = k;
            prev_start = cur_start;
            if (x->ts - s->ex[ord[k - 1]].ts >= SESSION_GAP_S)
                cur_start = k;
        }
        struct session *se = &sess[ord[k]];
        se->n_cat = 0;
        se->position = 0;
        se->gap = NAN;
        if (g == a)
            continue; /* the user's first events: a session starts, the gap is unknown */
        se->gap = (double)(x->ts - s->ex[ord[g - 1]].ts);
        if (se->gap >= SESSION_GAP_S)
            continue;
        se->position = g - prev_start;
        int32_t stop = g - SESSION_LOOKBACK > prev_start ? g - SESSION_LOOKBACK : prev_start;
        for (int32_t i = g - 1; i >= stop && se->n_cat < REC_RANK_SESSION_CATS; i--) {
            if (!engaged(d, s, ord[i], ord[k]))
                continue;
            const struct item_info *it = &d->item[d->ev[s->ex[ord[i]].ev].item];
            for (int32_t c = 0; c < it->n_cat && se->n_cat < REC_RANK_SESSION_CATS; c++) {
                int32_t v = d->refs[it->cat + c], dup = 0;
                for (int32_t q = 0; q < se->n_cat; q++)
                    dup |= se->cat[q] == v;
                if (!dup)
                    se->cat[se->n_cat++] = v;
            }
        }
    }
    free(ord);
    return 0;
}

/* ---- features of one example --------------------------------------------------------------- */

struct input_buf {
    const char *cats[MAX_LIST_STRS], *tags[MAX_LIST_STRS];
    const char *keys[MAX_ATTRS], *vals[MAX_ATTRS];
    const char *sess[REC_RANK_SESSION_CATS];
};

static void make_input(const struct data *d, const struct event *e, const struct session *se,
                       struct rec_rank_input *in, struct input_buf *b)
{
    const struct item_info *it = &d->item[e->item];
    const struct user_info *ui = &d->user[e->user];
    for (int32_t j = 0; j < it->n_cat; j++)
        b->cats[j] = rec_idmap_name(&d->strs, d->refs[it->cat + j]);
    for (int32_t j = 0; j < it->n_tag; j++)
        b->tags[j] = rec_idmap_name(&d->strs, d->refs[it->tag + j]);
    for (int32_t j = 0; j < ui->n_attr; j++) {
        b->keys[j] = rec_idmap_name(&d->strs, d->refs[ui->attr + 2 * j]);
        b->vals[j] = rec_idmap_name(&d->strs, d->refs[ui->attr + 2 * j + 1]);
    }
    for (int32_t j = 0; j < se->n_cat; j++)
        b->sess[j] = rec_idmap_name(&d->strs, se->cat[j]);
    int64_t day = floor_div(e->ts, DAY_S);
    *in = (struct rec_rank_input){
        .user = rec_idmap_name(&d->users, e->user),
        .item = rec_idmap_name(&d->items, e->item),
        .categories = b->cats, .n_categories = it->n_cat,
        .tags = b->tags, .n_tags = it->n_tag,
        .duration_min = it->duration,
        .age_days = it->published == INT64_MIN ? NAN : (double)(e->ts - it->published) / DAY_S,
        .user_attr_keys = b->keys, .user_attr_values = b->vals, .n_user_attrs = ui->n_attr,
        .device = e->device >= 0 ? rec_idmap_name(&d->strs, e->device) : NULL,
        .region = e->region >= 0 ? rec_idmap_name(&d->strs, e->region) : NULL,
        /* from the context when it says, else from the timestamp (UTC; 1970-01-01 a Thursday) */
        .hour = e->hour >= 0 ? e->hour : (int)((e->ts - day * DAY_S) / 3600),
        .weekday = e->weekday >= 0 ? e->weekday : (int)(((day + 4) % 7 + 7) % 7),
        .session_categories = b->sess, .n_session_categories = se->n_cat,
        .session_known = 1, .session_position = se->position, .since_last_s = se->gap,
    };
}

/* ---- metrics ------------------------------------------------------------------------------- */

struct scored {
    double s;
    uint8_t y;
};

static int cmp_scored_desc(const void *pa, const void *pb)
{
    const struct scored *a = pa, *b = pb;
    return (a->s < b->s) - (a->s > b->s);
}

/* NDCG@NDCG_K of v[0..m) ranked by s with binary gains y; tied scores count in expectation over
 * their orders (a tie of g items with p positives over ranks r.. gives each rank p/g), so a
 * constant scorer is not flattered by the input order. Sorts v. */
static double ndcg(struct scored *v, int m)
{
    qsort(v, (size_t)m, sizeof *v, cmp_scored_desc);
    double dcg = 0, idcg = 0;
    int pos = 0;
    for (int i = 0; i < m; i++)
        pos += v[i].y;
    for (int r = 0; r < pos && r < NDCG_K; r++)
        idcg += 1 / log2(r + 2.0);
    for (int i = 0, j; i < m && i < NDCG_K; i = j) {
        int p = 0;
        for (j = i; j < m && v[j].s == v[i].s; j++)
            p += v[j].y;
        double disc = 0;
        for (int r = i; r < j && r < NDCG_K; r++)
            disc += 1 / log2(r + 2.0);
        dcg += disc * p / (j - i);
    }
    return idcg > 0 ? dcg / idcg : 0;
}

static int cmp_scored_asc(const void *pa, const void *pb) { return cmp_scored_desc(pb, pa); }

/* Exact AUC (Mann-Whitney with midranks); sorts v. NaN without both classes. */
static double exact_auc(struct scored *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_scored_asc);
    double rank_sum = 0;
    int64_t pos = 0;
    for (int64_t i = 0, j; i < n; i = j) {
        int64_t p = 0;
        for (j = i; j < n && v[j].s == v[i].s; j++)
            p += v[j].y;
        rank_sum += (double)p * (double)(i + 1 + j) / 2;
        pos += p;
    }
    int64_t neg = n - pos;
    if (!pos || !neg)
        return NAN;
    return (rank_sum - (double)pos * (double)(pos + 1) / 2) / ((double)pos * (double)neg);
}

/* ---- the run ------------------------------------------------------------------------------- */

struct result {
    struct rec_auc auc;    /* FM sets */
    struct rec_auc auc2;   /* FM sets, the second half of the scored stream */
    struct scored *all;    /* every scored example's prediction, for the exact AUC */
    double ndcg_sum, seconds;
    int64_t ndcg_n;
};

/* The served set, on whose first-half AUC the side-feature scale is chosen. */
#define SERVED_SET 2
/* Candidate scales of the side features (rec_rank_scale_side; 0: values 1). */
static const double side_scales[] = {0, 1, 0.5, 0.3, 0.2};
#define N_SIDE_SCALES ((int)(sizeof side_scales / sizeof side_scales[0]))

struct run {
    const struct data *d;
    const struct stream *s;
    struct session *sess;  /* per example of s */
    struct rec_fm *fm[N_SETS];
    int bits;
    struct result res[N_SCORERS];
    int64_t *pop;          /* positives so far per item */
    struct rec_fm_feature *feat; /* max_list x REC_RANK_FEATURES_CAP */
    int *n_feat;
    struct scored *list;   /* N_SCORERS x max_list */
    unsigned sets;         /* bit t: feature set t is run */
    double side_scale;     /* of every set but ids (rec_rank_scale_side) */
    int side_fixed;        /* 1: side_scale came from RECD_FM_SIDE_SCALE, else it was chosen */
    double side_auc[N_SIDE_SCALES]; /* chosen: each candidate's first-half AUC */
};

/* One list ex[a..b): predict and score, then learn. */
static void run_list(struct run *R, int64_t a, int64_t b, int64_t scored_before, int count_ndcg)
{
    const struct example *ex = R->s->ex;
    int L = R->s->max_list, m = 0, pos = 0;
    int64_t k0 = scored_before;
    for (int64_t j = a; j < b; j++)
        if (ex[j].scored) {
            struct scored v = {(double)R->pop[R->d->ev[ex[j].ev].item], ex[j].label};
            R->list[m++] = v;
            R->res[0].all[k0++] = v;
            pos += ex[j].label;
        }
    count_ndcg = count_ndcg && pos > 0 && pos < m;
    for (int t = 0; t < N_SETS; t++) {
        if (!(R->sets >> t & 1))
            continue;
        double t0 = rec_mono_s();
        struct result *res = &R->res[t + 1];
        struct scored *lv = R->list + (size_t)(t + 1) * (size_t)L;
        int q = 0;
        k0 = scored_before;
        for (int64_t j = a; j < b; j++) {
            struct rec_rank_input in;
            struct input_buf buf;
            struct rec_fm_feature *f = R->feat + (size_t)(j - a) * REC_RANK_FEATURES_CAP;
            make_input(R->d, &R->d->ev[ex[j].ev], &R->sess[j], &in, &buf);
            R->n_feat[j - a] = rec_rank_features(&in, set_mask[t], R->bits, f, REC_RANK_FEATURES_CAP);
            rec_rank_scale_side(&in, set_mask[t], R->side_scale, f, R->n_feat[j - a]);
            if (!ex[j].scored)
                continue;
            double p = rec_fm_predict(R->fm[t], f, R->n_feat[j - a]);
            rec_auc_add(&res->auc, p, ex[j].label);
            if (2 * k0 >= R->s->n_scored)
                rec_auc_add(&res->auc2, p, ex[j].label);
            lv[q++] = res->all[k0++] = (struct scored){p, ex[j].label};
        }
        for (int64_t j = a; j < b; j++)
            rec_fm_learn(R->fm[t], R->feat + (size_t)(j - a) * REC_RANK_FEATURES_CAP, R->n_feat[j - a],
                         ex[j].label, 1.0);
        res->seconds += rec_mono_s() - t0;
    }
    for (int t = 0; count_ndcg && t < N_SCORERS; t++) {
        if (t && !(R->sets >> (t - 1) & 1))
            continue;
        R->res[t].ndcg_sum += ndcg(R->list + (size_t)t * (size_t)L, m);
        R->res[t].ndcg_n++;
    }
    for (int64_t j = a; j < b; j++)
        R->pop[R->d->ev[ex[j].ev].item] += ex[j].label;
}

/* Runs the lists of the stream in order until limit scored examples have been predicted (a list
 * is not cut). */
static void run_stream(struct run *R, int64_t limit)
{
    const struct stream *s = R->s;
    int64_t scored = 0;
    for (int64_t a = 0, b; a < s->n && scored < limit; a = b) {
        int m = 0;
        for (b = a; b < s->n && s->ex[b].list == s->ex[a].list; b++)
            m += s->ex[b].scored;
        /* NDCG counts lists that start in the second half of the scored stream */
        run_list(R, a, b, scored, m >= 2 && 2 * scored >= s->n_scored);
        scored += m;
    }
}

/* Fresh models, counts and results for the sets in R->sets. */
static int run_reset(struct run *R, const struct rec_fm_config *fc)
{
    memset(R->pop, 0, sizeof *R->pop * (size_t)(R->d->items.n_names ? R->d->items.n_names : 1));
    for (int t = 0; t < N_SCORERS; t++) {
        struct result *r = &R->res[t];
        rec_auc_init(&r->auc, 0);
        rec_auc_init(&r->auc2, 0);
        r->ndcg_sum = r->seconds = 0;
        r->ndcg_n = 0;
    }
    for (int t = 0; t < N_SETS; t++) {
        rec_fm_free(R->fm[t]);
        R->fm[t] = NULL;
        int rc = R->sets >> t & 1 ? rec_fm_new(fc, &R->fm[t]) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* The side-feature scale of a deployment, chosen as a served ranker's would be: the candidate
 * whose served set (ids+attrs+context) has the best progressive AUC over the first half of the
 * scored stream. Every figure the report compares (AUC over the second half, NDCG@10 over lists
 * starting there) comes from examples the choice never saw. auc[c] gets candidate c's AUC. */
static int choose_side_scale(struct run *R, const struct rec_fm_config *fc, double *auc,
                             double *chosen)
{
    int best = 0;
    for (int c = 0; c < N_SIDE_SCALES; c++) {
        R->sets = 1u << SERVED_SET;
        R->side_scale = side_scales[c];
        int rc = run_reset(R, fc);
        if (rc)
            return rc;
        run_stream(R, (R->s->n_scored + 1) / 2);
        auc[c] = rec_auc_value(&R->res[SERVED_SET + 1].auc);
        if (auc[c] > auc[best])
            best = c;
    }
    *chosen = side_scales[best];
    return 0;
}

/* ---- settings and report ------------------------------------------------------------------- */

static int env_number(const char *name, double *v, char *err, size_t errlen)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || errno || !isfinite(x))
        return rec_errf(err, errlen, REC_EINVAL, "%s=%s is not a number", name, s);
    *v = x;
    return 0;
}

static int fm_settings(const struct rec_config *c, struct rec_fm_config *fc, char *err, size_t errlen)
{
    rec_fm_config_default(fc);
    double k = fc->k, bits = fc->bits, across = 1; /* as the served ranker (serve/ranker.c) */
    int rc = env_number("RECD_FM_K", &k, err, errlen);
    if (!rc)
        rc = env_number("RECD_FM_ACROSS_GROUPS", &across, err, errlen);
    if (!rc)
        rc = env_number("RECD_FM_LR", &fc->lr, err, errlen);
    if (!rc)
        rc = env_number("RECD_FM_BITS", &bits, err, errlen);
    if (rc)
        return rc;
    if (k != floor(k) || bits != floor(bits) || fabs(k) > 1e6 || fabs(bits) > 1e6)
        return rec_errf(err, errlen, REC_EINVAL, "RECD_FM_K and RECD_FM_BITS take integers");
    if (across != 0 && across != 1)
        return rec_errf(err, errlen, REC_EINVAL, "RECD_FM_ACROSS_GROUPS takes 0 or 1");
    fc->k = (int)k;
    fc->bits = (int)bits;
    fc->across_groups = (int)across;
    fc->seed = (uint64_t)c->seed;
    const char *msg = rec_fm_config_check(fc);
    return msg ? rec_errf(err, errlen, REC_EINVAL, "FM settings: %s", msg) : 0;
}

static json_t *report(const struct run *R, const struct rec_fm_config *fc, const char *dataset,
                      const struct rec_config *c, double load_s, double total_s)
{
    const struct stream *s = R->s;
    json_t *models = json_array();
    for (int t = 0; t < N_SCORERS; t++) {
        const struct result *r = &R->res[t];
        /* exact_auc sorts: the second half first, while it is still in stream order */
        int64_t half = s->n_scored / 2 + s->n_scored % 2; /* the first with 2 k >= n_scored */
        double exact2 = exact_auc(r->all + half, s->n_scored - half);
        double exact = exact_auc(r->all, s->n_scored);
        double auc = t ? rec_auc_value(&r->auc) : exact;
        double auc2 = t ? rec_auc_value(&r->auc2) : exact2;
        json_t *m = json_pack("{s:s,s:o,s:o,s:o,s:o,s:I}", "name", scorer_name[t], "auc",
                              isnan(auc) ? json_null() : json_real(auc), "auc_exact",
                              isnan(exact) ? json_null() : json_real(exact), "auc_second_half",
                              isnan(auc2) ? json_null() : json_real(auc2), "ndcg@10",
                              r->ndcg_n ? json_real(r->ndcg_sum / (double)r->ndcg_n) : json_null(),
                              "ndcg_lists", (json_int_t)r->ndcg_n);
        if (t) {
            json_object_set_new(m, "features", json_integer(set_mask[t - 1]));
            json_object_set_new(m, "seconds", json_real(r->seconds));
            json_object_set_new(m, "us_per_example", json_real(s->n ? 1e6 * r->seconds / (double)s->n : 0));
        }
        json_array_append_new(models, m);
    }
    char title[512];
    snprintf(title, sizeof title, "recd eval: ranker on %s", dataset);
    json_int_t continuing = 0, with_cats = 0; /* scored examples: position > 0, categories */
    for (int64_t j = 0; j < s->n; j++)
        if (s->ex[j].scored) {
            continuing += R->sess[j].position > 0;
            with_cats += R->sess[j].n_cat > 0;
        }
    json_t *rep = json_pack("{s:s,s:s,s:s,s:{s:s,s:I,s:I,s:I,s:I,s:I,s:I},s:{s:i,s:i,s:f},s:o,s:f,s:f,s:I}",
                     "title", title, "dataset", dataset, "protocol", "ranker", "stream", "kind",
                     s->impressions ? "impressions" : "events", "events", (json_int_t)R->d->n_ev,
                     "examples", (json_int_t)s->n, "scored", (json_int_t)s->n_scored, "positives",
                     (json_int_t)s->n_pos, "lists", (json_int_t)s->n_lists, "ndcg_lists",
                     (json_int_t)R->res[1].ndcg_n, "fm", "k", fc->k, "bits", fc->bits, "lr", fc->lr,
                     "models", models, "load_seconds", load_s, "seconds", total_s, "seed",
                     (json_int_t)c->seed);
    json_t *side = json_pack("{s:f,s:b,s:[]}", "chosen", R->side_scale, "fixed", R->side_fixed,
                             "candidates");
    for (int k = 0; side && !R->side_fixed && k < N_SIDE_SCALES; k++)
        json_array_append_new(json_object_get(side, "candidates"),
                              json_pack("{s:f,s:f}", "scale", side_scales[k],
                                        "auc_first_half", R->side_auc[k]));
    json_t *st = json_object_get(rep, "stream");
    if (!side || json_object_set_new(json_object_get(rep, "fm"), "side_scale", side) ||
        (st && (json_object_set_new(st, "in_session", json_integer(continuing)) ||
                json_object_set_new(st, "with_session_categories", json_integer(with_cats))))) {
        json_decref(rep);
        return NULL;
    }
    return rep;
}

static void print_table(json_t *rep)
{
    json_t *st = json_object_get(rep, "stream"), *fm = json_object_get(rep, "fm");
#define I(o, k) ((long long)json_integer_value(json_object_get(o, k)))
    printf("ranker: %s stream, %lld events -> %lld examples in time order: %lld scored (%lld positive) in "
           "%lld lists, %lld learned only\n",
           json_string_value(json_object_get(st, "kind")), I(st, "events"), I(st, "examples"),
           I(st, "scored"), I(st, "positives"), I(st, "lists"), I(st, "examples") - I(st, "scored"));
    printf("sessions (gaps < %d min): %lld scored examples continue one, %lld have engaged session "
           "categories\n",
           SESSION_GAP_S / 60, I(st, "in_session"), I(st, "with_session_categories"));
    printf("NDCG@10 over %lld lists (second half of the scored stream, both labels); FM k=%lld bits=%lld "
           "lr=%g seed=%lld; load %.2f s, total %.2f s\n\n",
           I(st, "ndcg_lists"), I(fm, "k"), I(fm, "bits"), json_real_value(json_object_get(fm, "lr")),
           I(rep, "seed"), json_real_value(json_object_get(rep, "load_seconds")),
           json_real_value(json_object_get(rep, "seconds")));
#undef I
    json_t *side = json_object_get(fm, "side_scale");
    size_t i;
    json_t *m;
    if (json_is_true(json_object_get(side, "fixed"))) {
        printf("side features scaled by %g / sqrt(their count) (RECD_FM_SIDE_SCALE; 0: values 1)\n\n",
               json_real_value(json_object_get(side, "chosen")));
    } else {
        printf("side-feature scale (0: values 1), chosen by the served set's AUC over the first half "
               "of the scored stream:");
        json_array_foreach(json_object_get(side, "candidates"), i, m)
            printf(" %g %.4f%s", json_real_value(json_object_get(m, "scale")),
                   json_real_value(json_object_get(m, "auc_first_half")),
                   i + 1 < json_array_size(json_object_get(side, "candidates")) ? "," : "");
        printf("; chosen %g\n\n", json_real_value(json_object_get(side, "chosen")));
    }
    printf("%-20s %8s %9s %9s %12s\n", "features", "AUC", "AUC 2nd", "NDCG@10", "us/example");
    json_array_foreach(json_object_get(rep, "models"), i, m)
    {
        json_t *us = json_object_get(m, "us_per_example");
        char ust[32] = "-";
        if (us)
            snprintf(ust, sizeof ust, "%.2f", json_real_value(us));
        json_t *auc = json_object_get(m, "auc"), *nd = json_object_get(m, "ndcg@10");
        json_t *auc2 = json_object_get(m, "auc_second_half");
        printf("%-20s %8.4f %9.4f %9.4f %12s\n", json_string_value(json_object_get(m, "name")),
               json_is_real(auc) ? json_real_value(auc) : NAN,
               json_is_real(auc2) ? json_real_value(auc2) : NAN,
               json_is_real(nd) ? json_real_value(nd) : NAN, ust);
    }
    printf("(AUC: progressive, binned rec_auc for the FM sets, exact for popularity, over the whole "
           "scored stream; AUC 2nd: over its second half, which the choice of the side scale did not "
           "see; us/example: features + predict + learn per example of the stream)\n");
}

int rec_eval_ranker(const struct rec_config *c, const char *path)
{
    char err[512] = "";
    struct rec_fm_config fc;
    if (fm_settings(c, &fc, err, sizeof err)) {
        fprintf(stderr, "recd eval: %s\n", err);
        return 2;
    }
    if (c->html)
        fprintf(stderr, "recd eval: --html is not supported by --protocol ranker (ignored)\n");
    double t0 = rec_mono_s();
    struct data d;
    memset(&d, 0, sizeof d);
    struct stream s;
    memset(&s, 0, sizeof s);
    struct run R;
    memset(&R, 0, sizeof R);
    json_t *rep = NULL;
    int rc = load(&d, path, c->data, err, sizeof err);
    if (!rc)
        rc = cover(&d);
    if (!rc && d.n_ev > INT32_MAX - 1)
        rc = rec_errf(err, sizeof err, REC_ETOOBIG, "more than 2^31 events");
    if (!rc)
        rc = build_stream(&d, &s);
    if (!rc && !(R.sess = malloc(sizeof *R.sess * (size_t)(s.n ? s.n : 1))))
        rc = REC_ENOMEM;
    if (!rc)
        rc = compute_sessions(&d, &s, R.sess);
    if (rc)
        goto out;
    double load_s = rec_mono_s() - t0;
    R.d = &d;
    R.s = &s;
    R.bits = fc.bits;
    size_t L = (size_t)(s.max_list ? s.max_list : 1);
    R.pop = calloc((size_t)(d.items.n_names ? d.items.n_names : 1), sizeof *R.pop);
    R.feat = malloc(L * REC_RANK_FEATURES_CAP * sizeof *R.feat);
    R.n_feat = malloc(L * sizeof *R.n_feat);
    R.list = malloc(N_SCORERS * L * sizeof *R.list);
    rc = !R.pop || !R.feat || !R.n_feat || !R.list ? REC_ENOMEM : 0;
    for (int t = 0; t < N_SCORERS && !rc; t++) { /* run_reset initializes the rest */
        if (!(R.res[t].all = malloc(sizeof(struct scored) * (size_t)(s.n_scored ? s.n_scored : 1))))
            rc = REC_ENOMEM;
    }
    double fixed = NAN; /* stays NAN when RECD_FM_SIDE_SCALE is not set: choose */
    if (!rc)
        rc = env_number("RECD_FM_SIDE_SCALE", &fixed, err, sizeof err);
    if (!rc && fixed < 0)
        rc = rec_errf(err, sizeof err, REC_EINVAL, "RECD_FM_SIDE_SCALE takes a number >= 0");
    R.side_fixed = !isnan(fixed);
    if (!rc && R.side_fixed)
        R.side_scale = fixed;
    else if (!rc)
        rc = choose_side_scale(&R, &fc, R.side_auc, &R.side_scale);
    R.sets = (1u << N_SETS) - 1;
    if (!rc)
        rc = run_reset(&R, &fc);
    if (rc)
        goto out;
    run_stream(&R, INT64_MAX);
    const char *dataset = path ? path : c->data;
    rep = report(&R, &fc, dataset, c, load_s, rec_mono_s() - t0);
    if (!rep) {
        rc = REC_ENOMEM;
        goto out;
    }
    print_table(rep);
    if (strcmp(c->out, "-") && json_dump_file(rep, c->out, JSON_INDENT(2)) != 0)
        rc = rec_errf(err, sizeof err, REC_EIO, "cannot write %s", c->out);
out:
    if (rc)
        fprintf(stderr, "recd eval: %s\n", err[0] ? err : rec_strerror(rc));
    json_decref(rep);
    for (int t = 0; t < N_SETS; t++)
        rec_fm_free(R.fm[t]);
    for (int t = 0; t < N_SCORERS; t++)
        free(R.res[t].all);
    free(R.pop);
    free(R.feat);
    free(R.n_feat);
    free(R.list);
    free(R.sess);
    free(s.ex);
    data_free(&d);
    return rc ? 1 : 0;
}
