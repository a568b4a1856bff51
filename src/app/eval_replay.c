/* eval_replay.c: the replay (prequential) protocol, through real engines.
 *
 * Order and cut follow evalkit's `temporal`: events sorted by (ts, user id, item id), the first
 * floor(n * fraction) train. Every stream event with a positive weight on an item its user has
 * not met before (in training or earlier in the stream) is scored: HR@K is 1 when
 * the event's item is in the user's top K, NDCG@K is 1 / log2(rank + 1) then (one relevant item).
 * Items the user already had (from training or earlier in the stream) are never in the list: the
 * engine leaves out its own history, and the stream items a static engine never saw are
 * filtered here. A user or item new in the stream is what the engine makes of it (popular items
 * for a user it has never seen; an item it has never seen cannot be hit until it is applied).
 */
#include "app/eval_replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "eval/runner.h"

#define MAX_LIST 1000
#define BATCH 1024

static const char *const policy_names[] = {"static", "user-only", "online", "retrain"};

static const struct rec_eval_data *sort_data; /* qsort has no context argument */

static int cmp_event(const void *a, const void *b)
{
    const struct rec_eval_event *x = &sort_data->ev[*(const int64_t *)a],
                                *y = &sort_data->ev[*(const int64_t *)b];
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = strcmp(rec_idmap_name(&sort_data->users, x->user), rec_idmap_name(&sort_data->users, y->user));
    if (c)
        return c;
    c = strcmp(rec_idmap_name(&sort_data->items, x->item), rec_idmap_name(&sort_data->items, y->item));
    return c ? c : (*(const int64_t *)a > *(const int64_t *)b) - (*(const int64_t *)a < *(const int64_t *)b);
}

static struct rec_event to_event(const struct rec_eval_data *d, const struct rec_eval_event *r, int64_t seq)
{
    return (struct rec_event){NULL, rec_idmap_name(&d->users, r->user), rec_idmap_name(&d->items, r->item),
                              r->type, r->value, r->ts, NULL, seq, NULL};
}

/* Items each user met in the stream that the engine may not know as theirs (static policy). */
struct seen {
    int32_t **items;
    int32_t *n, *cap;
};

static int seen_add(struct seen *s, int32_t u, int32_t item)
{
    if (s->n[u] == s->cap[u]) {
        int32_t cap = s->cap[u] ? s->cap[u] * 2 : 8;
        int32_t *p = realloc(s->items[u], (size_t)cap * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        s->items[u] = p;
        s->cap[u] = cap;
    }
    s->items[u][s->n[u]++] = item;
    return 0;
}

static int seen_has(const struct seen *s, int32_t u, int32_t item)
{
    for (int32_t j = 0; j < s->n[u]; j++)
        if (s->items[u][j] == item)
            return 1;
    return 0;
}

/* (user, item) pairs met so far, dataset indexes: an open-addressing set of 64-bit keys. */
struct pairset {
    uint64_t *slot;   /* 0 = empty; key + 1 otherwise */
    uint64_t mask;
};

static int pairset_init(struct pairset *p, int64_t n)
{
    uint64_t cap = 1024;
    while (cap < (uint64_t)n * 2)
        cap *= 2;
    p->mask = cap - 1;
    p->slot = calloc(cap, sizeof *p->slot);
    return p->slot ? 0 : REC_ENOMEM;
}

/* Adds (u, i); returns 1 when it was already there. */
static int pairset_add(struct pairset *p, int32_t u, int32_t i)
{
    uint64_t key = ((uint64_t)(uint32_t)u << 32 | (uint32_t)i) + 1;
    for (uint64_t h = (key * 0x9E3779B97F4A7C15ULL) & p->mask;; h = (h + 1) & p->mask) {
        if (p->slot[h] == key)
            return 1;
        if (!p->slot[h]) {
            p->slot[h] = key;
            return 0;
        }
    }
}

struct tally {
    double hr[REC_EVAL_MAX_K], ndcg[REC_EVAL_MAX_K];
    int64_t n;
};

static int run_policy(const struct rec_engine_params *p0, const struct rec_eval_data *d,
                      const int64_t *order, int64_t n, int64_t cut, enum rec_replay_policy pol,
                      int64_t retrain_every, const int *ks, int n_k, struct tally *t,
                      double *train_s, int64_t *retrains, FILE *recs)
{
    struct rec_engine_params p = *p0;
    p.background = 0;
    p.model_dir = NULL;
    p.exclude_seen = 1;
    struct rec_engine *e = NULL;
    int rc = rec_engine_create(&p, NULL, &e);
    struct rec_event batch[BATCH];
    struct pairset met = {0};
    if (!rc)
        rc = pairset_init(&met, n);
    for (int64_t j = 0; j < cut && !rc; j++)
        pairset_add(&met, d->ev[order[j]].user, d->ev[order[j]].item);
    for (int64_t j = 0; j < cut && !rc; j += BATCH) {
        int m = (int)(cut - j < BATCH ? cut - j : BATCH);
        for (int q = 0; q < m; q++)
            batch[q] = to_event(d, &d->ev[order[j + q]], j + q + 1);
        rc = rec_engine_apply_events(e, batch, m, NULL);
    }
    double t0 = rec_mono_s();
    if (!rc && (rc = rec_engine_train_now(e)) == REC_EMODEL)
        rc = 0;
    *train_s = rec_mono_s() - t0;
    if (!rc && pol == REC_REPLAY_USER)
        rec_engine_set_user_only(e, 1);

    int max_k = 1;
    for (int q = 0; q < n_k; q++)
        max_k = ks[q] > max_k ? ks[q] : max_k;
    struct seen s = {calloc((size_t)d->users.n_names + 1, sizeof(int32_t *)),
                     calloc((size_t)d->users.n_names + 1, sizeof(int32_t)),
                     calloc((size_t)d->users.n_names + 1, sizeof(int32_t))};
    int32_t *list = malloc(MAX_LIST * sizeof *list);
    if (!s.items || !s.n || !s.cap || !list)
        rc = rc ? rc : REC_ENOMEM;
    memset(t, 0, sizeof *t);
    *retrains = 0;
    struct rec_progress pr;
    rec_progress_start(&pr, policy_names[pol], n - cut);
    for (int64_t j = cut; j < n && !rc; j++) {
        const struct rec_eval_event *r = &d->ev[order[j]];
        struct rec_event ev = to_event(d, r, j + 1);
        int32_t eu = rec_engine_user_index(e, ev.user), ei = rec_engine_item_index(e, ev.item);
        /* scored: positive events on items the user did not have yet (a repeat can never be
         * in a list that leaves out the user's items, whatever the policy) */
        int repeat = pairset_add(&met, r->user, r->item);
        if (rec_event_weight(p.weights, r->type, r->value) > 0 && !repeat) {
            int want = max_k + (pol == REC_REPLAY_STATIC ? s.n[r->user] : 0), got = 0;
            if (want > MAX_LIST)
                want = MAX_LIST;
            if ((rc = rec_engine_recommend_idx(e, eu, want, REC_MODE_HYBRID, NULL, list, &got)))
                break;
            int rank = -1, kept = 0;
            for (int q = 0; q < got && kept < max_k; q++) {
                if (pol == REC_REPLAY_STATIC && seen_has(&s, r->user, list[q]))
                    continue;
                if (list[q] == ei && ei >= 0 && rank < 0)
                    rank = kept;
                kept++;
                if (recs)
                    fprintf(recs, "%lld\t%s\t%d\n", (long long)(j - cut),
                            rec_engine_item_name(e, list[q]), kept);
            }
            for (int q = 0; q < n_k; q++)
                if (rank >= 0 && rank < ks[q]) {
                    t->hr[q] += 1;
                    t->ndcg[q] += 1.0 / log2(rank + 2.0);
                }
            t->n++;
        }
        if (pol == REC_REPLAY_STATIC) {
            if (ei >= 0 && (rc = seen_add(&s, r->user, ei)))
                break;
        } else if ((rc = rec_engine_apply_events(e, &ev, 1, NULL))) {
            break;
        }
        if (pol == REC_REPLAY_RETRAIN && retrain_every > 0 && (j - cut + 1) % retrain_every == 0) {
            if ((rc = rec_engine_train_now(e)) == REC_EMODEL)
                rc = 0;
            ++*retrains;
        }
        rec_progress_update(&pr, j - cut + 1);
    }
    rec_progress_finish(&pr);
    for (int32_t u = 0; s.items && u < d->users.n_names; u++)
        free(s.items[u]);
    free(s.items);
    free(s.n);
    free(s.cap);
    free(list);
    free(met.slot);
    rec_engine_destroy(e);
    return rc;
}

int rec_eval_replay(const struct rec_engine_params *p, const struct rec_eval_data *d,
                    double fraction, int64_t retrain_every, unsigned mask, const int *ks, int n_k,
                    const char *write_recs, json_t *models, char *err, size_t errlen)
{
    int64_t n = d->n_ev;
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order)
        return rec_errf(err, errlen, REC_ENOMEM, "replay: out of memory");
    for (int64_t j = 0; j < n; j++)
        order[j] = j;
    sort_data = d;
    qsort(order, (size_t)n, sizeof *order, cmp_event);
    sort_data = NULL;
    int64_t cut = (int64_t)floor((double)n * fraction);
    if (retrain_every <= 0)
        retrain_every = (n - cut) / 5 > 0 ? (n - cut) / 5 : 1;
    printf("replay: %lld events, %lld train, %lld streamed; retrain policy every %lld events\n",
           (long long)n, (long long)cut, (long long)(n - cut), (long long)retrain_every);
    int rc = 0;
    char path[4096];
    if (write_recs) { /* the stream in evalkit's format: user item rating ts, in stream order */
        snprintf(path, sizeof path, "%s.stream", write_recs);
        FILE *f = fopen(path, "w");
        for (int64_t j = cut; f && j < n; j++) {
            const struct rec_eval_event *r = &d->ev[order[j]];
            fprintf(f, "%s\t%s\t%g\t%lld\n", rec_idmap_name(&d->users, r->user),
                    rec_idmap_name(&d->items, r->item), r->value, (long long)r->ts);
        }
        if (!f || fclose(f) != 0)
            rc = rec_errf(err, errlen, REC_EIO, "cannot write %s", path);
    }
    for (int pol = 0; pol < REC_REPLAY__COUNT && !rc; pol++) {
        if (!(mask & (1u << pol)))
            continue;
        struct tally t;
        double train_s = 0, t0 = rec_mono_s();
        int64_t retrains = 0;
        FILE *recs = NULL;
        if (write_recs) {
            snprintf(path, sizeof path, "%s.%s", write_recs, policy_names[pol]);
            if (!(recs = fopen(path, "w"))) {
                rc = rec_errf(err, errlen, REC_EIO, "cannot write %s", path);
                break;
            }
        }
        rc = run_policy(p, d, order, n, cut, (enum rec_replay_policy)pol, retrain_every, ks, n_k, &t,
                        &train_s, &retrains, recs);
        if (recs && fclose(recs) != 0 && !rc)
            rc = REC_EIO;
        if (rc) {
            rec_errf(err, errlen, rc, "replay (%s): %s", policy_names[pol], rec_strerror(rc));
            break;
        }
        json_t *metrics = json_object();
        for (int q = 0; q < n_k; q++) {
            char key[16];
            snprintf(key, sizeof key, "%d", ks[q]);
            json_object_set_new(metrics, key, json_pack("{s:f,s:f,s:I}", "hr", t.n ? t.hr[q] / t.n : 0,
                                                        "ndcg", t.n ? t.ndcg[q] / t.n : 0, "users",
                                                        (json_int_t)t.n));
        }
        char params[96];
        snprintf(params, sizeof params, "%s, %lld scored events, %lld retrains", policy_names[pol],
                 (long long)t.n, (long long)retrains);
        json_array_append_new(models, json_pack("{s:s,s:s,s:f,s:f,s:o}", "name", policy_names[pol],
                                                "params", params, "train_seconds", train_s, "seconds",
                                                rec_mono_s() - t0, "metrics", metrics));
    }
    free(order);
    return rc;
}
