/* synth.c: synthetic catalog and event stream (see synth.h).
 *
 * Model. Item i has one category and a Zipf popularity weight (rank+1)^-s, ranks shuffled so
 * popularity does not follow the id. User u has a Zipf activity weight (exponent 0.8) and a
 * taste vector t_u in [-1,1]^k; every category c has a vector v_c, and a user's preferred
 * categories are the 3 best by affinity t_u.v_c (among up to 32 candidates when there are many
 * categories), mixed by softmax of the affinity. Users with similar vectors therefore share
 * categories: latent structure a collaborative model can recover.
 *
 * Per event: a user from the activity alias table; then with probability taste_weight a
 * preferred category and an item from that category's popularity alias table, else an item from
 * the global popularity alias table; a type from a table that depends on whether the item is in
 * the user's preferred categories (off-taste items get more skips and dislikes); a timestamp
 * inside the event's own slice of the span, so times never decrease. Every draw is O(1).
 *
 * Sessions (n_sessions > 0; docs/RANKING.md). Every item gets a length, duration_min: 40% short
 * (uniform 2..10 minutes), 60% long (20..120), in its document's attributes. After the events,
 * n_sessions sessions follow, spread over as many whole UTC days as the span has (at least one),
 * starting at the first midnight after the span. A session has
 *   - a user from the activity alias table (as for events);
 *   - a context {"device", "hour", "session": "s<k>", "position"}: device mobile 50%, desktop
 *     35%, tv 15%; hour from a daily curve (quiet at night, a morning and a larger evening
 *     peak: 46% of sessions fall in 17..22); the UTC hour of the session's timestamp is that hour;
 *   - 10 distinct items (fewer when the catalog is smaller) drawn from the global popularity
 *     alias table, shown by decreasing popularity at positions 1..10: one "impression" each, at
 *     the session's timestamp;
 *   - for each shown item a "click" with probability
 *         p = min(1, BASE_CTR * taste * context),    BASE_CTR = 0.04
 *     taste = exp(6 a) / Z with a = t_u.v_c / k the user's affinity to the item's category (the
 *     same affinity that picks preferred categories) and Z the mean of exp(6 a) over 4096
 *     (user, item) draws of the session distributions, so the mean multiplier is about 1;
 *     context = 3 for a short item and 0.4 for a long one on mobile in the evening (17..22),
 *     2 for a long item and 0.5 for a short one on tv, 1 otherwise (no position effect).
 *     A click has the impression's context and comes 3 * position + 0..2 seconds later.
 * The next session never starts before the previous one's last event, so times never decrease.
 * Sessions use their own random streams: the items, users and events before them are the same
 * as without sessions, and with n_sessions = 0 the output is byte-identical to the generator
 * before sessions existed.
 *
 * Determinism. Randomness comes from xoshiro256** seeded with splitmix64; catalog, users,
 * documents and events use separate streams, so the catalog does not depend on n_events. Only
 * IEEE basic operations (+ - * / and exact frexp/ldexp/floor) touch the numbers that steer the
 * draws: log and exp are computed here by fixed series rather than by libm, whose last bits
 * differ between platforms, and clang is told not to fuse multiply-adds (gcc does not in its
 * ISO C mode, which the build uses).
 *
 * Cost: O(n_items + n_users) memory (about 72 bytes per item and 60 per user while building,
 * 32 + 32 after; with sessions also 4 k bytes per user and 5 per item) and O(1) work per event
 * (O(k) per shown item of a session). Thread-safety: no global state; concurrent calls are
 * independent, each calls its sink from the calling thread only.
 */
#include "gen/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rand.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MAX_ENTITIES 100000000LL   /* users or items: int32 indexes, ~50 bytes each */
#define MAX_CATEGORIES 100000
#define MAX_TASTE_DIMS 256
#define N_PREF 3                   /* preferred categories per user */
#define N_CANDIDATES 32            /* categories scored per user when there are more */
#define USER_ZIPF 0.8              /* activity exponent */
#define PREF_SHARPNESS 6.0         /* softmax scale on affinities in [-1,1] */
#define TAGS_PER_CATEGORY 4
#define PROGRESS_EVENTS 65536
#define YEAR_S (365 * 86400)
#define TS_MAX 253402300799LL      /* 9999-12-31T23:59:59Z */
#define MAX_SESSIONS 100000000LL
#define SHOWN 10                   /* items per session */
#define BASE_CTR 0.04
#define TASTE_SHARPNESS 6.0        /* exp(6 a), as PREF_SHARPNESS */
#define NORM_DRAWS 4096            /* (user, item) draws that estimate the taste normaliser */
#define DAY_S 86400

/* ---- random numbers ---------------------------------------------------------------------- */

struct rng {
    uint64_t s[4];
};


/* Stream `stream` of a seed: independent sequences for independent parts of the output. */
static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = rec_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1), 53 bits. */
static inline double rng_unif(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform in [0, n) for n <= 2^32: the high half of a 32x32-bit product, exact in integers. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return ((rng_next(r) >> 32) * n) >> 32;
}

/* ---- platform-independent log and exp ---------------------------------------------------- */

#define LN2 0.6931471805599453094

static double det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* exact: x = m * 2^e, m in [0.5, 1) */
    if (m < 0.7071067811865476) {
        m *= 2;
        e--;
    }
    /* log m = 2 atanh(z), |z| <= 0.172: 14 odd terms reach below 1e-20 */
    static const double inv_odd[] = {1.0 / 1,  1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,
                                     1.0 / 11, 1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19,
                                     1.0 / 21, 1.0 / 23, 1.0 / 25, 1.0 / 27};
    double z = (m - 1) / (m + 1), z2 = z * z, term = z, sum = 0;
    for (int i = 0; i < 14; i++) {
        sum += term * inv_odd[i];
        term *= z2;
    }
    return 2 * sum + e * LN2;
}

static double det_exp(double x)
{
    if (x < -740)
        return 0;
    if (x > 700)
        x = 700;
    double k = floor(x / LN2 + 0.5);
    double r = x - k * LN2; /* |r| <= 0.35: 20 Taylor terms reach below 1e-20 */
    static const double inv[] = {0,        1.0 / 1,  1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,
                                 1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,  1.0 / 10, 1.0 / 11,
                                 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17,
                                 1.0 / 18, 1.0 / 19, 1.0 / 20};
    double sum = 1, term = 1;
    for (int n = 1; n <= 20; n++) {
        term *= r * inv[n];
        sum += term;
    }
    return ldexp(sum, (int)k);
}

/* ---- alias tables (Vose): O(n) build, O(1) draw ------------------------------------------ */

/* Builds the alias table of w[0..n-1] (non-negative, positive sum): slot i keeps itself with
 * probability prob[i], else gives other[i]. work holds 2n int32. The tables are then packed
 * into the compact slot structs below, so one draw touches one cache line. */
static void alias_build(const double *w, int32_t n, double *prob, int32_t *other, int32_t *work)
{
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += w[i];
    int32_t *small = work, *large = work + n;
    int32_t ns = 0, nl = 0;
    for (int32_t i = 0; i < n; i++) {
        prob[i] = w[i] * n / sum;
        other[i] = i;
        if (prob[i] < 1)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        int32_t s = small[--ns], l = large[nl - 1];
        other[s] = l;
        prob[l] = (prob[l] + prob[s]) - 1;
        if (prob[l] < 1) {
            nl--;
            small[ns++] = l;
        }
    }
    /* what is left is 1 up to rounding */
    while (nl > 0)
        prob[large[--nl]] = 1;
    while (ns > 0)
        prob[small[--ns]] = 1;
}

/* One 64-bit draw: the high half picks the slot, the low half decides keep or alias. */
static inline int32_t alias_slot(struct rng *r, int32_t n, float prob_of(const void *, int32_t),
                                 const void *t, int *keep)
{
    uint64_t x = rng_next(r);
    int32_t i = (int32_t)(((x >> 32) * (uint64_t)n) >> 32);
    *keep = (double)(uint32_t)x * 0x1.0p-32 < (double)prob_of(t, i);
    return i;
}

/* ---- parameters -------------------------------------------------------------------------- */

void rec_synth_params_default(struct rec_synth_params *p)
{
    p->n_users = 1000;
    p->n_items = 500;
    p->n_events = 50000;
    p->n_categories = 20;
    p->zipf_s = 1.0;
    p->taste_dims = 8;
    p->taste_weight = 0.7;
    p->start_ts = 1700000000;
    p->span_s = 30 * 86400;
    p->seed = 42;
    p->n_sessions = 0;
}

const char *rec_synth_check_params(const struct rec_synth_params *p)
{
    if (!p)
        return "no parameters";
    if (p->n_users < 1 || p->n_users > MAX_ENTITIES)
        return "n_users must be 1..100000000";
    if (p->n_items < 1 || p->n_items > MAX_ENTITIES)
        return "n_items must be 1..100000000";
    if (p->n_events < 0)
        return "n_events must be >= 0";
    if (p->n_categories < 1 || p->n_categories > MAX_CATEGORIES)
        return "n_categories must be 1..100000";
    if (!(p->zipf_s >= 0 && p->zipf_s <= 5))
        return "zipf_s must be 0..5";
    if (p->taste_dims < 1 || p->taste_dims > MAX_TASTE_DIMS)
        return "taste_dims must be 1..256";
    if (!(p->taste_weight >= 0 && p->taste_weight <= 1))
        return "taste_weight must be 0..1";
    if (p->start_ts < 0 || p->start_ts > TS_MAX)
        return "start_ts must be 0..253402300799 (Unix seconds before year 10000)";
    if (p->span_s < 1 || p->span_s > TS_MAX - p->start_ts)
        return "span_s must be >= 1 and end before year 10000";
    if (p->n_sessions < 0 || p->n_sessions > MAX_SESSIONS)
        return "n_sessions must be 0..100000000";
    if (p->n_sessions > 0 && p->span_s > TS_MAX - p->start_ts - 3 * DAY_S - p->span_s)
        return "sessions would end after year 10000 (they follow the span for as long again)";
    return NULL;
}

/* ---- the world --------------------------------------------------------------------------- */

struct item_slot {           /* global popularity alias slot, 16 bytes */
    float prob;
    int32_t alt;             /* item drawn when the slot's own item is not kept */
    int32_t cat, alt_cat;    /* categories of the slot's item and of alt */
};

struct cat_slot {            /* per-category popularity alias slot */
    float prob;
    int32_t item, alt_item;  /* global item indexes */
};

struct user_slot {           /* activity alias slot plus the user's tastes, 32 bytes */
    float prob;
    int32_t alt;
    int32_t pref[N_PREF];    /* preferred categories, best first */
    float cum[N_PREF - 1];   /* cumulative mix; the last share is 1 - cum[N_PREF - 2] */
    int32_t pad;
};

struct world {
    int32_t n_items, n_users, n_cats;
    int32_t *item_cat;       /* category of each item (for the documents) */
    struct item_slot *items;
    int32_t *cat_start;      /* n_cats + 1 offsets into cats */
    struct cat_slot *cats;   /* one alias table per category segment */
    struct user_slot *users;
    /* sessions only (NULL otherwise) */
    float *pop;              /* Zipf popularity weight of each item */
    float *taste;            /* n_users x k taste vectors */
    uint8_t *duration;       /* minutes of each item */
    double *cat_vec;         /* n_cats x k category vectors */
    int k;
};

static void world_free(struct world *w)
{
    free(w->item_cat);
    free(w->items);
    free(w->cat_start);
    free(w->cats);
    free(w->users);
    free(w->pop);
    free(w->taste);
    free(w->duration);
    free(w->cat_vec);
}

/* Zipf weights over a random permutation of ranks: w[i] = (rank_i + 1)^-s. */
static void zipf_weights(double *w, int32_t n, double s, struct rng *r, int32_t *perm)
{
    for (int32_t i = 0; i < n; i++)
        perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)rng_below(r, (uint64_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int32_t i = 0; i < n; i++)
        w[i] = s == 0 ? 1.0 : det_exp(-s * det_log((double)perm[i] + 1));
}

/* Scratch for building, freed once the world is built. */
struct scratch {
    double *weight, *seg_w, *prob;
    int32_t *other, *work, *members;
};

static void build_items(struct world *w, const struct rec_synth_params *p, struct rng *r,
                        struct scratch *s)
{
    int32_t ni = w->n_items;
    for (int32_t i = 0; i < ni; i++)
        w->item_cat[i] = (int32_t)rng_below(r, (uint64_t)w->n_cats);
    zipf_weights(s->weight, ni, p->zipf_s, r, s->work);
    for (int32_t i = 0; w->pop && i < ni; i++)
        w->pop[i] = (float)s->weight[i];
    alias_build(s->weight, ni, s->prob, s->other, s->work);
    for (int32_t i = 0; i < ni; i++)
        w->items[i] = (struct item_slot){(float)s->prob[i], s->other[i], w->item_cat[i],
                                         w->item_cat[s->other[i]]};
    /* group items by category (counting sort), then one alias table per group */
    for (int32_t i = 0; i < ni; i++)
        w->cat_start[w->item_cat[i] + 1]++;
    for (int32_t c = 0; c < w->n_cats; c++)
        w->cat_start[c + 1] += w->cat_start[c];
    int32_t *fill = s->work; /* n_cats counters */
    memcpy(fill, w->cat_start, sizeof(int32_t) * (size_t)w->n_cats);
    for (int32_t i = 0; i < ni; i++)
        s->members[fill[w->item_cat[i]]++] = i;
    for (int32_t c = 0; c < w->n_cats; c++) {
        int32_t lo = w->cat_start[c], n = w->cat_start[c + 1] - lo;
        const int32_t *m = s->members + lo;
        for (int32_t j = 0; j < n; j++)
            s->seg_w[j] = s->weight[m[j]];
        alias_build(s->seg_w, n, s->prob, s->other, s->work);
        for (int32_t j = 0; j < n; j++)
            w->cats[lo + j] = (struct cat_slot){(float)s->prob[j], m[j], m[s->other[j]]};
    }
}

/* Preferred categories of one user from its taste vector tu. */
static void user_prefs(struct user_slot *us, const struct world *w, int k, const double *cat_vec,
                       const double *tu, struct rng *r)
{
    int n_cand = w->n_cats < N_CANDIDATES ? w->n_cats : N_CANDIDATES;
    int32_t best[N_PREF];
    double score[N_PREF];
    int nb = 0;
    for (int j = 0; j < n_cand; j++) {
        int32_t c = n_cand == w->n_cats ? j : (int32_t)rng_below(r, (uint64_t)w->n_cats);
        const double *v = cat_vec + (size_t)c * (size_t)k;
        double a = 0;
        for (int d = 0; d < k; d++)
            a += tu[d] * v[d];
        a /= k; /* in [-1, 1] */
        int dup = 0;
        for (int b = 0; b < nb; b++)
            dup |= best[b] == c;
        if (dup || (nb == N_PREF && a <= score[nb - 1]))
            continue;
        int at = nb < N_PREF ? nb++ : N_PREF - 1; /* insertion into the sorted top list */
        while (at > 0 && score[at - 1] < a) {
            best[at] = best[at - 1];
            score[at] = score[at - 1];
            at--;
        }
        best[at] = c;
        score[at] = a;
    }
    double mix[N_PREF], total = 0, cum = 0;
    for (int b = 0; b < N_PREF; b++) {
        /* fewer categories than N_PREF: the missing ones repeat the best with no weight */
        mix[b] = b < nb ? det_exp(PREF_SHARPNESS * (score[b] - score[0])) : 0;
        total += mix[b];
    }
    for (int b = 0; b < N_PREF; b++) {
        us->pref[b] = b < nb ? best[b] : best[0];
        cum += mix[b] / total;
        if (b < N_PREF - 1)
            us->cum[b] = (float)cum;
    }
}

static void build_users(struct world *w, const struct rec_synth_params *p, struct rng *r,
                        struct scratch *s, const double *cat_vec, double *tu)
{
    int32_t nu = w->n_users;
    int k = p->taste_dims;
    zipf_weights(s->weight, nu, USER_ZIPF, r, s->work);
    alias_build(s->weight, nu, s->prob, s->other, s->work);
    for (int32_t u = 0; u < nu; u++) {
        struct user_slot *us = &w->users[u];
        memset(us, 0, sizeof *us);
        us->prob = (float)s->prob[u];
        us->alt = s->other[u];
        for (int d = 0; d < k; d++)
            tu[d] = 2 * rng_unif(r) - 1;
        for (int d = 0; w->taste && d < k; d++)
            w->taste[(size_t)u * (size_t)k + (size_t)d] = (float)tu[d];
        user_prefs(us, w, k, cat_vec, tu, r);
    }
}

static int world_build(struct world *w, const struct rec_synth_params *p)
{
    memset(w, 0, sizeof *w);
    w->n_items = (int32_t)p->n_items;
    w->n_users = (int32_t)p->n_users;
    w->n_cats = p->n_categories;
    size_t ni = (size_t)w->n_items, nu = (size_t)w->n_users, nc = (size_t)w->n_cats;
    size_t nmax = ni > nu ? ni : nu;
    size_t nk = nc * (size_t)p->taste_dims;
    struct scratch s = {
        .weight = malloc(sizeof(double) * nmax),
        .seg_w = malloc(sizeof(double) * ni),
        .prob = malloc(sizeof(double) * nmax),
        .other = malloc(sizeof(int32_t) * nmax),
        .work = malloc(sizeof(int32_t) * 2 * (nmax > nc ? nmax : nc)),
        .members = malloc(sizeof(int32_t) * ni),
    };
    double *cat_vec = malloc(sizeof(double) * nk);
    double *tu = malloc(sizeof(double) * (size_t)p->taste_dims);
    w->item_cat = malloc(sizeof(int32_t) * ni);
    w->items = malloc(sizeof(struct item_slot) * ni);
    w->cat_start = calloc(nc + 1, sizeof(int32_t));
    w->cats = malloc(sizeof(struct cat_slot) * ni);
    w->users = malloc(sizeof(struct user_slot) * nu);
    w->k = p->taste_dims;
    int sessions = p->n_sessions > 0;
    if (sessions) {
        w->pop = malloc(sizeof(float) * ni);
        w->taste = malloc(sizeof(float) * nu * (size_t)p->taste_dims);
        w->duration = malloc(ni);
    }
    int rc = REC_OK;
    if (!s.weight || !s.seg_w || !s.prob || !s.other || !s.work || !s.members || !cat_vec ||
        !tu || !w->item_cat || !w->items || !w->cat_start || !w->cats || !w->users ||
        (sessions && (!w->pop || !w->taste || !w->duration))) {
        rc = REC_ENOMEM;
        goto out;
    }
    struct rng r;
    rng_seed(&r, p->seed, 1); /* catalog */
    build_items(w, p, &r, &s);
    for (size_t j = 0; j < nk; j++)
        cat_vec[j] = 2 * rng_unif(&r) - 1;
    rng_seed(&r, p->seed, 2); /* users */
    build_users(w, p, &r, &s, cat_vec, tu);
    if (sessions) { /* kept for the click model */
        w->cat_vec = cat_vec;
        cat_vec = NULL;
        /* 40% short (2..10 minutes), 60% long (20..120); a stream of their own */
        rng_seed(&r, p->seed, 6);
        for (size_t i = 0; i < ni; i++)
            w->duration[i] = (uint8_t)(rng_below(&r, 100) < 40 ? 2 + rng_below(&r, 9)
                                                                : 20 + rng_below(&r, 101));
    }
out:
    free(s.weight);
    free(s.seg_w);
    free(s.prob);
    free(s.other);
    free(s.work);
    free(s.members);
    free(cat_vec);
    free(tu);
    if (rc < 0)
        world_free(w);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------ */

/* Small appender for documents: snprintf costs more than the rest of a record. */
struct out {
    char *p, *end; /* end leaves room for the NUL */
};

static void put_str(struct out *o, const char *s)
{
    while (*s && o->p < o->end)
        *o->p++ = *s++;
}

static void put_int(struct out *o, int64_t n)
{
    char tmp[24];
    int k = 0;
    uint64_t v = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    if (n < 0 && o->p < o->end)
        *o->p++ = '-';
    while (k > 0 && o->p < o->end)
        *o->p++ = tmp[--k];
}

/* prefix + decimal n into buf (>= 24 bytes). */
static void make_id(char *buf, char prefix, int64_t n)
{
    struct out o = {buf, buf + 23};
    *o.p++ = prefix;
    put_int(&o, n);
    *o.p = '\0';
}

static const char *const countries[] = {"US", "IN", "GB", "DE", "BR", "FR", "JP",
                                        "CA", "ES", "IT", "MX", "NL"};
static const int country_weight[] = {30, 12, 10, 9, 8, 7, 6, 5, 4, 4, 3, 2}; /* sum 100 */

static int emit_items(const struct world *w, const struct rec_synth_params *p,
                      const struct rec_import_sink *sink)
{
    if (!sink->item)
        return REC_OK;
    char id[24], doc[256];
    int n_tags = w->n_cats * TAGS_PER_CATEGORY;
    struct rng r;
    rng_seed(&r, p->seed, 3); /* documents */
    for (int32_t i = 0; i < w->n_items; i++) {
        int c = w->item_cat[i];
        /* one tag from the category's own set (content signal), one from anywhere */
        int t1 = c * TAGS_PER_CATEGORY + (int)rng_below(&r, TAGS_PER_CATEGORY);
        int t2 = (int)rng_below(&r, (uint64_t)n_tags);
        if (t2 == t1)
            t2 = (t2 + 1) % n_tags;
        int64_t pub = p->start_ts - (int64_t)rng_below(&r, YEAR_S);
        make_id(id, 'i', i);
        struct out o = {doc, doc + sizeof doc - 1}; /* ~150 bytes at most: never cut */
        put_str(&o, "{\"id\":\"");
        put_str(&o, id);
        put_str(&o, "\",\"categories\":[\"c");
        put_int(&o, c);
        put_str(&o, "\"],\"tags\":[\"t");
        put_int(&o, t1);
        put_str(&o, "\",\"t");
        put_int(&o, t2);
        put_str(&o, "\"],\"title\":\"Item ");
        put_int(&o, i);
        put_str(&o, "\",\"published_at\":");
        put_int(&o, pub < 0 ? 0 : pub);
        if (p->n_sessions > 0) {
            put_str(&o, ",\"attributes\":{\"duration_min\":");
            put_int(&o, w->duration[i]);
            put_str(&o, "}}");
        } else {
            put_str(&o, ",\"attributes\":{}}");
        }
        *o.p = '\0';
        int rc = sink->item(sink->ctx, id, doc);
        if (rc < 0)
            return rc;
    }
    return REC_OK;
}

static int emit_users(const struct world *w, const struct rec_synth_params *p,
                      const struct rec_import_sink *sink)
{
    if (!sink->user)
        return REC_OK;
    char id[24], doc[128];
    struct rng r;
    rng_seed(&r, p->seed, 4);
    for (int32_t u = 0; u < w->n_users; u++) {
        int age = 16 + (int)rng_below(&r, 28) + (int)rng_below(&r, 28); /* 16..70, peak ~43 */
        int x = (int)rng_below(&r, 100), c = 0;
        while (x >= country_weight[c]) {
            x -= country_weight[c];
            c++;
        }
        make_id(id, 'u', u);
        struct out o = {doc, doc + sizeof doc - 1};
        put_str(&o, "{\"id\":\"");
        put_str(&o, id);
        put_str(&o, "\",\"attributes\":{\"age\":");
        put_int(&o, age);
        put_str(&o, ",\"country\":\"");
        put_str(&o, countries[c]);
        put_str(&o, "\"}}");
        *o.p = '\0';
        int rc = sink->user(sink->ctx, id, doc);
        if (rc < 0)
            return rc;
    }
    return REC_OK;
}

/* Event type mix per 1000, for items in the user's preferred categories and for the others. */
static const struct {
    int type;
    int on_taste, off_taste;
} type_mix[] = {
    {REC_EVENT_VIEW, 520, 600},       {REC_EVENT_CLICK, 250, 200},
    {REC_EVENT_LIKE, 90, 30},         {REC_EVENT_ADD_TO_CART, 60, 20},
    {REC_EVENT_PURCHASE, 40, 10},     {REC_EVENT_SHARE, 10, 0},
    {REC_EVENT_DISLIKE, 10, 50},      {REC_EVENT_SKIP, 20, 90},
};

static int draw_type(struct rng *r, int on_taste)
{
    int x = (int)rng_below(r, 1000);
    size_t n = sizeof type_mix / sizeof type_mix[0];
    for (size_t i = 0; i < n - 1; i++) {
        x -= on_taste ? type_mix[i].on_taste : type_mix[i].off_taste;
        if (x < 0)
            return type_mix[i].type;
    }
    return type_mix[n - 1].type;
}

static float user_prob(const void *t, int32_t i) { return ((const struct user_slot *)t)[i].prob; }
static float item_prob(const void *t, int32_t i) { return ((const struct item_slot *)t)[i].prob; }
static float cat_prob(const void *t, int32_t i) { return ((const struct cat_slot *)t)[i].prob; }

/* One event's user, item and whether the item is in the user's preferred categories. */
static void draw_pair(const struct world *w, double taste_weight, struct rng *r, int32_t *user,
                      int32_t *item, int *on_taste)
{
    int keep;
    int32_t u = alias_slot(r, w->n_users, user_prob, w->users, &keep);
    if (!keep)
        u = w->users[u].alt;
    const struct user_slot *us = &w->users[u];
    *user = u;
    if (rng_unif(r) < taste_weight) {
        float x = (float)rng_unif(r);
        int b = 0;
        while (b < N_PREF - 1 && x >= us->cum[b])
            b++;
        int32_t c = us->pref[b], lo = w->cat_start[c], n = w->cat_start[c + 1] - lo;
        if (n > 0) {
            const struct cat_slot *cs = w->cats + lo;
            int32_t j = alias_slot(r, n, cat_prob, cs, &keep);
            *item = keep ? cs[j].item : cs[j].alt_item;
            *on_taste = 1;
            return;
        }
    }
    int32_t i = alias_slot(r, w->n_items, item_prob, w->items, &keep);
    int32_t c = keep ? w->items[i].cat : w->items[i].alt_cat;
    *item = keep ? i : w->items[i].alt;
    *on_taste = 0;
    for (int b = 0; b < N_PREF; b++)
        *on_taste |= us->pref[b] == c;
}

static int emit_events(const struct world *w, const struct rec_synth_params *p,
                       const struct rec_import_sink *sink)
{
    char uid[24], iid[24];
    struct rng r;
    rng_seed(&r, p->seed, 5);
    int64_t n = p->n_events;
    double slot = (double)p->span_s / (double)n;
    for (int64_t j = 0; j < n; j++) {
        int32_t u, item;
        int on_taste;
        draw_pair(w, p->taste_weight, &r, &u, &item, &on_taste);
        int type = draw_type(&r, on_taste);
        /* inside slot j: (j + x) * slot never decreases with j, and stays below span_s */
        int64_t off = (int64_t)floor(((double)j + rng_unif(&r)) * slot);
        if (off >= p->span_s)
            off = p->span_s - 1;
        if (sink->event) {
            make_id(uid, 'u', u);
            make_id(iid, 'i', item);
            struct rec_event ev = {.user = uid, .item = iid, .type = type,
                                   .ts = p->start_ts + off};
            int rc = sink->event(sink->ctx, &ev);
            if (rc < 0)
                return rc;
        }
        if (sink->progress && (j + 1) % PROGRESS_EVENTS == 0)
            sink->progress(sink->ctx, "synth", (uint64_t)(j + 1), (uint64_t)n);
    }
    if (sink->progress)
        sink->progress(sink->ctx, "synth", (uint64_t)n, (uint64_t)n);
    return REC_OK;
}

/* ---- sessions: impressions and clicks under a context-dependent click model -------------- */

/* Relative session frequency by UTC hour: quiet nights, a morning bump, the evening peak. */
static const int hour_weight[24] = {2, 1, 1, 1,  1,  2,  4,  6,  7,  6, 5, 5,
                                    6, 6, 5, 5,  6,  8, 10, 12, 13, 12, 9, 5};
enum { DEV_MOBILE, DEV_DESKTOP, DEV_TV };
static const char *const devices[] = {"mobile", "desktop", "tv"};

static int32_t draw_user(const struct world *w, struct rng *r)
{
    int keep;
    int32_t u = alias_slot(r, w->n_users, user_prob, w->users, &keep);
    return keep ? u : w->users[u].alt;
}

static int32_t draw_item(const struct world *w, struct rng *r)
{
    int keep;
    int32_t i = alias_slot(r, w->n_items, item_prob, w->items, &keep);
    return keep ? i : w->items[i].alt;
}

/* exp(6 a) for user u's affinity a = t_u.v_c / k in [-1, 1] to category c. */
static double taste_raw(const struct world *w, int32_t u, int32_t c)
{
    const float *t = w->taste + (size_t)u * (size_t)w->k;
    const double *v = w->cat_vec + (size_t)c * (size_t)w->k;
    double a = 0;
    for (int d = 0; d < w->k; d++)
        a += (double)t[d] * v[d];
    return det_exp(TASTE_SHARPNESS * a / w->k);
}

/* Mean of taste_raw over (user, item) pairs drawn as sessions draw them. */
static double taste_norm(const struct world *w, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed, 9);
    double sum = 0;
    for (int j = 0; j < NORM_DRAWS; j++) {
        int32_t u = draw_user(w, &r), i = draw_item(w, &r);
        sum += taste_raw(w, u, w->item_cat[i]);
    }
    return sum / NORM_DRAWS;
}

static double context_factor(int device, int hour, int minutes)
{
    int is_short = minutes <= 10;
    if (device == DEV_MOBILE && hour >= 17 && hour <= 22)
        return is_short ? 3.0 : 0.4;
    if (device == DEV_TV)
        return is_short ? 0.5 : 2.0;
    return 1.0;
}

/* min(SHOWN, n_items) distinct items by popularity into shown, most popular first. Rejection
 * tries at most 64 draws per slot, then takes the next unshown index, so it always ends. */
static int draw_shown(const struct world *w, struct rng *r, int32_t *shown)
{
    int n = w->n_items < SHOWN ? (int)w->n_items : SHOWN;
    for (int j = 0; j < n; j++) {
        int32_t it = -1;
        for (int tries = 0; tries < 64 && it < 0; tries++) {
            it = draw_item(w, r);
            for (int q = 0; q < j && it >= 0; q++)
                if (shown[q] == it)
                    it = -1;
        }
        if (it < 0) {
            it = (int32_t)rng_below(r, (uint64_t)w->n_items);
            for (int q = 0; q < j; q++)
                if (shown[q] == it) {
                    it = (it + 1) % w->n_items;
                    q = -1; /* start over: j < n_items, so a free index exists */
                }
        }
        int at = j; /* insertion by decreasing popularity, then index */
        while (at > 0 && (w->pop[shown[at - 1]] < w->pop[it] ||
                          (w->pop[shown[at - 1]] == w->pop[it] && shown[at - 1] > it))) {
            shown[at] = shown[at - 1];
            at--;
        }
        shown[at] = it;
    }
    return n;
}

/* One session (number k) at time ts; *last gets its last timestamp. */
static int one_session(const struct world *w, const struct rec_import_sink *sink, struct rng *r,
                       int64_t k, int64_t ts, double norm, int64_t *last)
{
    char uid[24], iid[24], sid[24], ctx[128];
    int32_t u = draw_user(w, r), shown[SHOWN];
    int x = (int)rng_below(r, 100);
    int dev = x < 50 ? DEV_MOBILE : x < 85 ? DEV_DESKTOP : DEV_TV;
    int hour = (int)(ts % DAY_S / 3600);
    int n = draw_shown(w, r, shown), clicked[SHOWN];
    for (int j = 0; j < n; j++) {
        double p = BASE_CTR * taste_raw(w, u, w->item_cat[shown[j]]) / norm *
                   context_factor(dev, hour, w->duration[shown[j]]);
        clicked[j] = rng_unif(r) < p;
    }
    make_id(uid, 'u', u);
    make_id(sid, 's', k);
    *last = ts;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < n; j++) {
            if (pass == 1 && !clicked[j])
                continue;
            struct out o = {ctx, ctx + sizeof ctx - 1}; /* ~70 bytes: never cut */
            put_str(&o, "{\"device\":\"");
            put_str(&o, devices[dev]);
            put_str(&o, "\",\"hour\":");
            put_int(&o, hour);
            put_str(&o, ",\"session\":\"");
            put_str(&o, sid);
            put_str(&o, "\",\"position\":");
            put_int(&o, j + 1);
            put_str(&o, "}");
            *o.p = '\0';
            make_id(iid, 'i', shown[j]);
            struct rec_event ev = {.user = uid, .item = iid, .context = ctx,
                                   .type = pass ? REC_EVENT_CLICK : REC_EVENT_IMPRESSION, .ts = ts};
            if (pass) /* clicks in position order, each a few seconds after the list */
                ev.ts = ts + 3 * (j + 1) + (int64_t)rng_below(r, 3);
            *last = ev.ts;
            int rc = sink->event ? sink->event(sink->ctx, &ev) : 0;
            if (rc < 0)
                return rc;
        }
    return REC_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sessions spread over whole UTC days after the span: day d holds sessions
 * [ceil(d n / days), ceil((d + 1) n / days)), at hours from hour_weight, in time order. */
static int emit_sessions(const struct world *w, const struct rec_synth_params *p,
                         const struct rec_import_sink *sink)
{
    int64_t n = p->n_sessions, days = p->span_s / DAY_S > 0 ? p->span_s / DAY_S : 1;
    int64_t end = p->start_ts + p->span_s, day0 = (end + DAY_S - 1) / DAY_S * DAY_S;
    int32_t *offs = malloc(sizeof(int32_t) * (size_t)(n / days + 2));
    if (!offs)
        return REC_ENOMEM;
    double norm = taste_norm(w, p->seed);
    struct rng rt, rs; /* times, and what happens in the sessions */
    rng_seed(&rt, p->seed, 7);
    rng_seed(&rs, p->seed, 8);
    int64_t last = end;
    int rc = REC_OK;
    for (int64_t d = 0; d < days && rc == REC_OK; d++) {
        int64_t lo = (d * n + days - 1) / days, hi = ((d + 1) * n + days - 1) / days;
        for (int64_t j = 0; j < hi - lo; j++) {
            int x = (int)rng_below(&rt, 138), h = 0; /* 138: the sum of hour_weight */
            while (x >= hour_weight[h])
                x -= hour_weight[h++];
            offs[j] = h * 3600 + (int32_t)rng_below(&rt, 3600);
        }
        qsort(offs, (size_t)(hi - lo), sizeof *offs, cmp_i32);
        for (int64_t j = 0; j < hi - lo && rc == REC_OK; j++) {
            int64_t ts = day0 + d * DAY_S + offs[j];
            rc = one_session(w, sink, &rs, lo + j, ts > last ? ts : last, norm, &last);
            if (sink->progress && (lo + j + 1) % PROGRESS_EVENTS == 0)
                sink->progress(sink->ctx, "sessions", (uint64_t)(lo + j + 1), (uint64_t)n);
        }
    }
    free(offs);
    return rc;
}

int rec_synth_generate(const struct rec_synth_params *p, const struct rec_import_sink *sink)
{
    if (!sink || rec_synth_check_params(p))
        return REC_EINVAL;
    struct world w;
    int rc = world_build(&w, p);
    if (rc < 0)
        return rc;
    if ((rc = emit_items(&w, p, sink)) == 0 && (rc = emit_users(&w, p, sink)) == 0)
        rc = emit_events(&w, p, sink);
    if (rc == 0 && p->n_sessions > 0)
        rc = emit_sessions(&w, p, sink);
    world_free(&w);
    return rc;
}

int rec_synth_load_source(const char *source, const struct rec_import_sink *sink, char *err,
                          size_t errlen)
{
    if (strncmp(source, "synthetic:", 10) != 0) {
        struct rec_import_stats st;
        memset(&st, 0, sizeof st);
        return rec_import_path(source, REC_IMPORT_AUTO, sink, &st, err, errlen);
    }
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    long long u, i, e;
    char extra;
    if (sscanf(source + 10, "%lld:%lld:%lld%c", &u, &i, &e, &extra) != 3)
        return rec_errf(err, errlen, REC_EINVAL, "expected synthetic:USERS:ITEMS:EVENTS, got '%s'",
                        source);
    p.n_users = u;
    p.n_items = i;
    p.n_events = e;
    const char *msg = rec_synth_check_params(&p);
    if (msg)
        return rec_errf(err, errlen, REC_EINVAL, "%s", msg);
    return rec_synth_generate(&p, sink);
}
