/* drift.c: windows of item popularity and score histograms, compared by KL divergence (see
 * drift.h).
 *
 * Each of the two windows (current, reference) keeps item counts in an array indexed by item,
 * grown by doubling, plus the list of items it touched, so clearing a window and comparing two
 * cost O(items touched), never O(catalog). Rolling swaps the two windows' roles (when the
 * current one saw anything) and clears the new current one, so memory is reused.
 */
#include "obs/drift.h"

#include "core/err.h"
#include "core/log.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCORE_BINS 10000

struct window {
    double start;            /* wall seconds */
    int64_t n_events, n_scores;
    uint32_t *item_counts;   /* [cap_items]; nonzero only for the touched items; saturates */
    int32_t cap_items;
    int32_t *touched;        /* items with a nonzero count, in order of first event */
    int32_t n_touched, cap_touched;
    double *score_counts;    /* [score_bins]; doubles so rec_kl_divergence takes them as is */
};

struct rec_drift {
    pthread_mutex_t mu;      /* everything below */
    struct rec_drift_config c;
    struct window w[2];
    struct window *cur, *ref;
    int has_ref;
    int warned;              /* the alert was logged during the current window */
};

void rec_drift_config_default(struct rec_drift_config *c)
{
    *c = (struct rec_drift_config){
        .window_s = 3600,
        .min_events = 200,
        .min_scores = 200,
        .score_lo = 0,
        .score_hi = 1,
        .score_bins = 40,
        .threshold = 0.5,
        .alpha = 0.5,
    };
}

/* One term P_i ln(P_i / Q_i) of the smoothed KL; pz, qz are the smoothed totals. */
static double kl_term(double p, double q, double pz, double qz, double alpha)
{
    double pp = (p + alpha) / pz, qq = (q + alpha) / qz;
    return pp * log(pp / qq);
}

double rec_kl_divergence(const double *p, const double *q, size_t n, double alpha)
{
    if (n == 0)
        return 0;
    if (!(alpha > 0) || !p || !q)
        return NAN;
    double sp = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sp += p[i];
        sq += q[i];
    }
    double pz = sp + alpha * (double)n, qz = sq + alpha * (double)n, kl = 0;
    for (size_t i = 0; i < n; i++)
        kl += kl_term(p[i], q[i], pz, qz, alpha);
    return kl > 0 ? kl : 0;
}

static uint32_t count_at(const struct window *w, int32_t item)
{
    return item < w->cap_items ? w->item_counts[item] : 0;
}

/* KL(p || q) of item popularity over the items either window touched; O(touched). */
static double kl_items(const struct window *p, const struct window *q, double alpha)
{
    double sp = 0, sq = 0;
    size_t n = (size_t)p->n_touched;
    for (int32_t k = 0; k < p->n_touched; k++)
        sp += p->item_counts[p->touched[k]];
    for (int32_t k = 0; k < q->n_touched; k++) {
        sq += q->item_counts[q->touched[k]];
        if (count_at(p, q->touched[k]) == 0)
            n++;
    }
    if (n == 0)
        return 0;
    double pz = sp + alpha * (double)n, qz = sq + alpha * (double)n, kl = 0;
    for (int32_t k = 0; k < p->n_touched; k++) {
        int32_t i = p->touched[k];
        kl += kl_term(p->item_counts[i], count_at(q, i), pz, qz, alpha);
    }
    for (int32_t k = 0; k < q->n_touched; k++) {
        int32_t i = q->touched[k];
        if (count_at(p, i) == 0)
            kl += kl_term(0, q->item_counts[i], pz, qz, alpha);
    }
    return kl > 0 ? kl : 0;
}

static void clear_window(struct window *w, int score_bins, double start)
{
    for (int32_t k = 0; k < w->n_touched; k++)
        w->item_counts[w->touched[k]] = 0;
    w->n_touched = 0;
    memset(w->score_counts, 0, (size_t)score_bins * sizeof *w->score_counts);
    w->n_events = w->n_scores = 0;
    w->start = start;
}

/* Moves to the window holding now, on the grid of window_s from the first start. The current
 * window becomes the reference only if it saw anything. Caller holds d->mu. */
static void roll(struct rec_drift *d, double now)
{
    double ws = d->c.window_s;
    if (!(now >= d->cur->start + ws))
        return;
    double k = floor((now - d->cur->start) / ws);
    if (k < 1)
        k = 1;   /* rounding: now passed the end, so at least one window passed */
    double start = d->cur->start + k * ws;
    if (d->cur->n_events > 0 || d->cur->n_scores > 0) {
        struct window *t = d->ref;
        d->ref = d->cur;
        d->cur = t;
        d->has_ref = 1;
    }
    clear_window(d->cur, d->c.score_bins, start);
    d->warned = 0;
}

static int check_config(const struct rec_drift_config *c, char *err, size_t errlen)
{
    if (!(c->window_s > 0) || !isfinite(c->window_s))
        return rec_errf(err, errlen, REC_EINVAL, "drift window must be > 0 seconds");
    if (c->min_events < 0 || c->min_scores < 0)
        return rec_errf(err, errlen, REC_EINVAL, "drift minimum counts must be >= 0");
    if (!isfinite(c->score_lo) || !isfinite(c->score_hi) || !(c->score_lo < c->score_hi))
        return rec_errf(err, errlen, REC_EINVAL, "drift score range must be finite with lo < hi");
    if (c->score_bins < 1 || c->score_bins > MAX_SCORE_BINS)
        return rec_errf(err, errlen, REC_EINVAL, "drift score bins must be 1..%d", MAX_SCORE_BINS);
    if (!(c->threshold >= 0))
        return rec_errf(err, errlen, REC_EINVAL, "drift threshold must be >= 0");
    if (!(c->alpha > 0) || !isfinite(c->alpha))
        return rec_errf(err, errlen, REC_EINVAL, "drift smoothing alpha must be > 0");
    return REC_OK;
}

int rec_drift_new(const struct rec_drift_config *c, double now, struct rec_drift **out, char *err,
                  size_t errlen)
{
    struct rec_drift_config def;
    if (!c) {
        rec_drift_config_default(&def);
        c = &def;
    }
    int rc = check_config(c, err, errlen);
    if (rc != REC_OK)
        return rc;
    if (!isfinite(now))
        return rec_errf(err, errlen, REC_EINVAL, "drift start time must be finite");
    struct rec_drift *d = calloc(1, sizeof *d);
    if (!d)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    d->c = *c;
    for (int i = 0; i < 2; i++) {
        d->w[i].score_counts = calloc((size_t)c->score_bins, sizeof(double));
        if (!d->w[i].score_counts)
            goto fail_alloc;
    }
    if (pthread_mutex_init(&d->mu, NULL) != 0)
        goto fail_alloc;
    d->cur = &d->w[0];
    d->ref = &d->w[1];
    d->cur->start = now;
    d->ref->start = NAN;
    *out = d;
    return REC_OK;

fail_alloc:
    free(d->w[0].score_counts);
    free(d->w[1].score_counts);
    free(d);
    return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
}

void rec_drift_free(struct rec_drift *d)
{
    if (!d)
        return;
    for (int i = 0; i < 2; i++) {
        free(d->w[i].item_counts);
        free(d->w[i].touched);
        free(d->w[i].score_counts);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Makes room for item in w's arrays; 0 or -1 (out of memory). */
static int reserve_item(struct window *w, int32_t item)
{
    if (item >= w->cap_items) {
        int64_t cap = w->cap_items ? w->cap_items : 1024;
        while (cap <= item)
            cap *= 2;
        if (cap > REC_DRIFT_MAX_ITEMS)
            cap = REC_DRIFT_MAX_ITEMS;
        uint32_t *counts = realloc(w->item_counts, (size_t)cap * sizeof *counts);
        if (!counts)
            return -1;
        memset(counts + w->cap_items, 0, (size_t)(cap - w->cap_items) * sizeof *counts);
        w->item_counts = counts;
        w->cap_items = (int32_t)cap;
    }
    if (w->item_counts[item] == 0 && w->n_touched == w->cap_touched) {
        int64_t cap = w->cap_touched ? 2 * (int64_t)w->cap_touched : 256;
        int32_t *touched = realloc(w->touched, (size_t)cap * sizeof *touched);
        if (!touched)
            return -1;
        w->touched = touched;
        w->cap_touched = (int32_t)cap;
    }
    return 0;
}

void rec_drift_observe_item(struct rec_drift *d, int32_t item, double now)
{
    if (item < 0 || item >= REC_DRIFT_MAX_ITEMS)
        return;
    pthread_mutex_lock(&d->mu);
    roll(d, now);
    struct window *w = d->cur;
    if (reserve_item(w, item) == 0) {
        if (w->item_counts[item] == 0)
            w->touched[w->n_touched++] = item;
        if (w->item_counts[item] < UINT32_MAX)
            w->item_counts[item]++;
        w->n_events++;
    }
    pthread_mutex_unlock(&d->mu);
}

void rec_drift_observe_score(struct rec_drift *d, double score, double now)
{
    if (isnan(score))
        return;
    int bins = d->c.score_bins;
    double x = (score - d->c.score_lo) / (d->c.score_hi - d->c.score_lo) * bins;
    int b = x < 0 ? 0 : x >= bins ? bins - 1 : (int)x;
    pthread_mutex_lock(&d->mu);
    roll(d, now);
    d->cur->score_counts[b] += 1;
    d->cur->n_scores++;
    pthread_mutex_unlock(&d->mu);
}

void rec_drift_status(struct rec_drift *d, double now, struct rec_drift_status *st)
{
    pthread_mutex_lock(&d->mu);
    roll(d, now);
    const struct window *cur = d->cur, *ref = d->ref;
    int has_ref = d->has_ref;
    st->window_start = cur->start;
    st->reference_start = has_ref ? ref->start : NAN;
    st->current_events = cur->n_events;
    st->current_scores = cur->n_scores;
    st->reference_events = has_ref ? ref->n_events : 0;
    st->reference_scores = has_ref ? ref->n_scores : 0;
    st->kl_popularity = has_ref && cur->n_events >= d->c.min_events &&
                                ref->n_events >= d->c.min_events
                            ? kl_items(cur, ref, d->c.alpha)
                            : NAN;
    st->kl_score = has_ref && cur->n_scores >= d->c.min_scores && ref->n_scores >= d->c.min_scores
                       ? rec_kl_divergence(cur->score_counts, ref->score_counts,
                                           (size_t)d->c.score_bins, d->c.alpha)
                       : NAN;
    st->threshold = d->c.threshold;
    st->alert = st->kl_popularity > st->threshold || st->kl_score > st->threshold;
    int log_now = st->alert && !d->warned;
    if (log_now)
        d->warned = 1;
    pthread_mutex_unlock(&d->mu);

    if (log_now)
        rec_warn("drift: KL popularity %.4f, KL score %.4f, above threshold %.4f "
                 "(window from %.0f, reference from %.0f)",
                 st->kl_popularity, st->kl_score, st->threshold, st->window_start,
                 st->reference_start);
}
