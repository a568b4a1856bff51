/* bandit.c: Beta sampling (Marsaglia & Tsang 2000 Gamma draws, ziggurat normals), Thompson
 * sampling over items (Chapelle & Li, NIPS 2011) and disjoint LinUCB (Li, Chu, Langford,
 * Schapire, WWW 2010, Algorithm 1) with Sherman-Morrison updates. See bandit.h. */
#include "rank/bandit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rand.h"

/* ---- Sampling ----------------------------------------------------------------------------- */

/* Uniform in (0, 1]: never 0, so its log is finite. */
static inline double unif_pos(uint64_t *rng)
{
    return (double)((rec_splitmix64(rng) >> 11) + 1) * 0x1.0p-53;
}

/* Standard normals by the ziggurat method (Marsaglia & Tsang, "The Ziggurat Method for
 * Generating Random Variables", J. Stat. Software 5(8), 2000), in Doornik's double-precision
 * form ("An Improved Ziggurat Method to Generate Normal Random Samples", 2005): 128 layers of
 * equal area; one 64-bit draw gives the layer (low 7 bits) and a signed uniform (top 53 bits),
 * independent bits, and ~99% of draws return after one multiply and compare. The tail beyond
 * R uses Marsaglia's exponential method. Measured about twice as fast per Beta draw as the
 * polar Box-Muller method (no log, sqrt or rejection on the common path), which matters for
 * Thompson sampling over a few hundred items per request. */
#define ZIG_LAYERS 128
#define ZIG_R 3.442619855899           /* start of the tail */
#define ZIG_V 9.91256303526217e-3      /* area of each layer */

static double zig_x[ZIG_LAYERS + 1];   /* layer edges, decreasing; zig_x[0] = V / f(R) */
static double zig_ratio[ZIG_LAYERS];   /* zig_x[i + 1] / zig_x[i] */
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_init(void)
{
    double f = exp(-0.5 * ZIG_R * ZIG_R);
    zig_x[0] = ZIG_V / f;
    zig_x[1] = ZIG_R;
    zig_x[ZIG_LAYERS] = 0.0;
    for (int i = 2; i < ZIG_LAYERS; i++) {
        zig_x[i] = sqrt(-2.0 * log(ZIG_V / zig_x[i - 1] + f));
        f = exp(-0.5 * zig_x[i] * zig_x[i]);
    }
    for (int i = 0; i < ZIG_LAYERS; i++)
        zig_ratio[i] = zig_x[i + 1] / zig_x[i];
}

/* Needs zig_init done (rec_beta_sample sees to it). */
static double normal(uint64_t *rng)
{
    for (;;) {
        uint64_t bits = rec_splitmix64(rng);
        double u = (double)(bits >> 11) * 0x1.0p-52 - 1.0; /* [-1, 1) exactly, bits 11..63 */
        int i = (int)(bits & (ZIG_LAYERS - 1));             /* bits 0..6 */
        if (fabs(u) < zig_ratio[i]) /* inside the layer's rectangle */
            return u * zig_x[i];
        if (i == 0) { /* the base layer's overhang: the tail beyond R */
            double x, y;
            do {
                x = log(unif_pos(rng)) / ZIG_R;
                y = log(unif_pos(rng));
            } while (-2.0 * y < x * x);
            return u < 0.0 ? x - ZIG_R : ZIG_R - x;
        }
        double x = u * zig_x[i]; /* in the wedge: accept under the density */
        double f0 = exp(-0.5 * (zig_x[i] * zig_x[i] - x * x));
        double f1 = exp(-0.5 * (zig_x[i + 1] * zig_x[i + 1] - x * x));
        if (f1 + unif_pos(rng) * (f0 - f1) < 1.0)
            return x;
    }
}

/* Gamma(a, 1) for a >= 1 (Marsaglia & Tsang 2000): d = a - 1/3, c = 1 / sqrt(9 d); accept
 * d v with v = (1 + c x)^3 for a standard normal x and uniform u when u < 1 - 0.0331 x^4
 * (the squeeze, taking ~98% of draws) or log u < x^2 / 2 + d (1 - v + log v). The result is
 * > 0: a v that rounds to 0 fails both tests. */
static double gamma_ge1(double a, uint64_t *rng)
{
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = unif_pos(rng), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2)
            return d * v;
        if (log(u) < 0.5 * x2 + d * (1.0 - v + log(v)))
            return d * v;
    }
}

/* log of a Gamma(a, 1) draw, any a > 0. For a < 1, Gamma(a) = Gamma(a + 1) U^(1/a)
 * (Marsaglia & Tsang, section 6); in log scale, so a tiny a cannot underflow to 0. */
static double log_gamma_draw(double a, uint64_t *rng)
{
    if (a >= 1.0)
        return log(gamma_ge1(a, rng));
    double lg = log(gamma_ge1(a + 1.0, rng));
    return lg + log(unif_pos(rng)) / a;
}

double rec_beta_sample(double a, double b, uint64_t *rng)
{
    if (!(a > 0.0 && b > 0.0) || isinf(a) || isinf(b) || !rng)
        return NAN;
    pthread_once(&zig_once, zig_init);
    if (a >= 1.0 && b >= 1.0) { /* the common case (TS with a prior >= 1): no logs needed */
        double x = gamma_ge1(a, rng), y = gamma_ge1(b, rng);
        return x / (x + y);
    }
    double lx = log_gamma_draw(a, rng), ly = log_gamma_draw(b, rng);
    double diff = ly - lx; /* X / (X + Y) = 1 / (1 + exp(log Y - log X)) */
    if (isnan(diff))       /* both draws underflowed (-inf): no information either way */
        return 0.5;
    return 1.0 / (1.0 + exp(diff));
}

/* ---- Thompson sampling -------------------------------------------------------------------- */

struct rec_ts {
    pthread_mutex_t mu; /* guards everything below */
    double a0, b0;      /* prior, > 0 */
    int64_t *imp, *clk; /* per item index 0..cap-1, >= 0, saturating */
    int32_t cap;
};

int rec_ts_new(double a0, double b0, struct rec_ts **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (!(a0 > 0.0 && b0 > 0.0) || isinf(a0) || isinf(b0))
        return REC_EINVAL;
    struct rec_ts *t = calloc(1, sizeof *t);
    if (!t)
        return REC_ENOMEM;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return REC_ENOMEM;
    }
    t->a0 = a0;
    t->b0 = b0;
    *out = t;
    return REC_OK;
}

void rec_ts_free(struct rec_ts *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->imp);
    free(t->clk);
    free(t);
}

static int ts_grow(struct rec_ts *t, int32_t item)
{
    int64_t cap = t->cap ? (int64_t)t->cap * 2 : 1024;
    while (cap <= item)
        cap *= 2;
    if (cap > REC_TS_MAX_ITEMS)
        cap = REC_TS_MAX_ITEMS;
    int64_t *imp = realloc(t->imp, (size_t)cap * sizeof *imp);
    if (!imp)
        return REC_ENOMEM;
    t->imp = imp; /* bigger and still valid; cap only moves once both succeed */
    int64_t *clk = realloc(t->clk, (size_t)cap * sizeof *clk);
    if (!clk)
        return REC_ENOMEM;
    t->clk = clk;
    memset(imp + t->cap, 0, (size_t)(cap - t->cap) * sizeof *imp);
    memset(clk + t->cap, 0, (size_t)(cap - t->cap) * sizeof *clk);
    t->cap = (int32_t)cap;
    return REC_OK;
}

static inline int64_t sat_add(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

int rec_ts_update(struct rec_ts *t, int32_t item, int64_t impressions, int64_t clicks)
{
    if (!t || item < 0 || item >= REC_TS_MAX_ITEMS || impressions < 0 || clicks < 0)
        return REC_EINVAL;
    int rc = REC_OK;
    pthread_mutex_lock(&t->mu);
    if (item >= t->cap)
        rc = ts_grow(t, item);
    if (rc == REC_OK) {
        t->imp[item] = sat_add(t->imp[item], impressions);
        t->clk[item] = sat_add(t->clk[item], clicks);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void rec_ts_counts(struct rec_ts *t, int32_t item, int64_t *impressions, int64_t *clicks)
{
    int64_t i = 0, c = 0;
    if (t && item >= 0) {
        pthread_mutex_lock(&t->mu);
        if (item < t->cap) {
            i = t->imp[item];
            c = t->clk[item];
        }
        pthread_mutex_unlock(&t->mu);
    }
    if (impressions)
        *impressions = i;
    if (clicks)
        *clicks = c;
}

static inline double ts_draw(double a0, double b0, int64_t imp, int64_t clk, uint64_t *rng)
{
    int64_t miss = imp > clk ? imp - clk : 0;
    return rec_beta_sample(a0 + (double)clk, b0 + (double)miss, rng);
}

double rec_ts_sample(struct rec_ts *t, int32_t item, uint64_t *rng)
{
    if (!t || !rng)
        return NAN;
    int64_t imp, clk;
    rec_ts_counts(t, item, &imp, &clk);
    return ts_draw(t->a0, t->b0, imp, clk, rng);
}

enum { CHOOSE_CHUNK = 256, CHOOSE_STACK_K = 64 };

int rec_ts_choose(struct rec_ts *t, const int32_t *pool, int n, int k, uint64_t *rng,
                  int32_t *out)
{
    if (!t || !rng || n < 0 || k < 0)
        return REC_EINVAL;
    if (n == 0 || k == 0)
        return 0;
    if (!pool || !out)
        return REC_EINVAL;
    int kk = k < n ? k : n;
    double stack_vals[CHOOSE_STACK_K];
    double *vals = kk <= CHOOSE_STACK_K ? stack_vals : malloc((size_t)kk * sizeof *vals);
    if (!vals)
        return REC_ENOMEM;

    int m = 0; /* out[0..m) sorted by vals, descending; equal draws keep pool order */
    int64_t imp[CHOOSE_CHUNK], clk[CHOOSE_CHUNK];
    for (int base = 0; base < n; base += CHOOSE_CHUNK) {
        int len = n - base < CHOOSE_CHUNK ? n - base : CHOOSE_CHUNK;
        pthread_mutex_lock(&t->mu); /* copy counts only: draws happen outside the lock */
        for (int j = 0; j < len; j++) {
            int32_t item = pool[base + j];
            int known = item >= 0 && item < t->cap;
            imp[j] = known ? t->imp[item] : 0;
            clk[j] = known ? t->clk[item] : 0;
        }
        pthread_mutex_unlock(&t->mu);
        for (int j = 0; j < len; j++) {
            double v = ts_draw(t->a0, t->b0, imp[j], clk[j], rng);
            if (m == kk && !(v > vals[m - 1]))
                continue;
            int p = m < kk ? m : m - 1; /* slot freed at the end (the worst drops out) */
            while (p > 0 && v > vals[p - 1]) {
                vals[p] = vals[p - 1];
                out[p] = out[p - 1];
                p--;
            }
            vals[p] = v;
            out[p] = pool[base + j];
            if (m < kk)
                m++;
        }
    }
    if (vals != stack_vals)
        free(vals);
    return m;
}

/* ---- LinUCB ------------------------------------------------------------------------------- */

struct rec_linucb {
    pthread_mutex_t mu; /* guards the arrays below */
    int n_arms, d;
    double alpha;       /* confidence bonus width, >= 0 */
    double *ainv;       /* n_arms x d x d: A_a^-1, symmetric positive definite */
    double *b;          /* n_arms x d: sum r x */
    double *theta;      /* n_arms x d: A_a^-1 b_a, kept current by every update */
};

int rec_linucb_new(int n_arms, int d, double alpha, struct rec_linucb **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (n_arms < 1 || n_arms > REC_LINUCB_MAX_ARMS || d < 1 || d > REC_LINUCB_MAX_D ||
        !(alpha >= 0.0) || isinf(alpha))
        return REC_EINVAL;
    struct rec_linucb *l = calloc(1, sizeof *l);
    if (!l)
        return REC_ENOMEM;
    l->n_arms = n_arms;
    l->d = d;
    l->alpha = alpha;
    size_t dd = (size_t)d * (size_t)d;
    l->ainv = calloc((size_t)n_arms * dd, sizeof *l->ainv);
    l->b = calloc((size_t)n_arms * (size_t)d, sizeof *l->b);
    l->theta = calloc((size_t)n_arms * (size_t)d, sizeof *l->theta);
    if (!l->ainv || !l->b || !l->theta)
        goto fail_alloc;
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        goto fail_alloc;
    for (int a = 0; a < n_arms; a++)
        for (int i = 0; i < d; i++)
            l->ainv[(size_t)a * dd + (size_t)i * (size_t)d + (size_t)i] = 1.0;
    *out = l;
    return REC_OK;

fail_alloc:
    free(l->theta);
    free(l->b);
    free(l->ainv);
    free(l);
    return REC_ENOMEM;
}

void rec_linucb_free(struct rec_linucb *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->theta);
    free(l->b);
    free(l->ainv);
    free(l);
}

static inline const double *arm_ainv(const struct rec_linucb *l, int a)
{
    return l->ainv + (size_t)a * (size_t)l->d * (size_t)l->d;
}

/* theta_a' x into *mean and x' A_a^-1 x into *var (clamped at 0 against rounding). Caller
 * holds the lock. */
static void arm_eval(const struct rec_linucb *l, int a, const double *x, double *mean,
                     double *var)
{
    int d = l->d;
    const double *m = arm_ainv(l, a), *th = l->theta + (size_t)a * (size_t)d;
    double mu = 0.0, q = 0.0;
    for (int i = 0; i < d; i++) {
        mu += th[i] * x[i];
        double row = 0.0;
        for (int j = 0; j < d; j++)
            row += m[i * d + j] * x[j];
        q += x[i] * row;
    }
    *mean = mu;
    *var = q > 0.0 ? q : 0.0;
}

static void to_double(const float *x, int d, double *xd)
{
    for (int i = 0; i < d; i++)
        xd[i] = x[i];
}

void rec_linucb_scores(struct rec_linucb *l, const float *x, double *ucb_out)
{
    if (!l || !x || !ucb_out)
        return;
    double xd[REC_LINUCB_MAX_D];
    to_double(x, l->d, xd);
    pthread_mutex_lock(&l->mu);
    for (int a = 0; a < l->n_arms; a++) {
        double mean, var;
        arm_eval(l, a, xd, &mean, &var);
        ucb_out[a] = mean + l->alpha * sqrt(var);
    }
    pthread_mutex_unlock(&l->mu);
}

int rec_linucb_choose(struct rec_linucb *l, const float *x)
{
    if (!l || !x)
        return REC_EINVAL;
    double xd[REC_LINUCB_MAX_D];
    to_double(x, l->d, xd);
    int best = 0;
    double best_ucb = -INFINITY;
    pthread_mutex_lock(&l->mu);
    for (int a = 0; a < l->n_arms; a++) {
        double mean, var;
        arm_eval(l, a, xd, &mean, &var);
        double ucb = mean + l->alpha * sqrt(var);
        if (ucb > best_ucb) {
            best = a;
            best_ucb = ucb;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return best;
}

int rec_linucb_update(struct rec_linucb *l, int arm, const float *x, double reward)
{
    if (!l || !x || arm < 0 || arm >= l->n_arms || !isfinite(reward))
        return REC_EINVAL;
    int d = l->d;
    double xd[REC_LINUCB_MAX_D], u[REC_LINUCB_MAX_D];
    for (int i = 0; i < d; i++) {
        if (!isfinite(x[i]))
            return REC_EINVAL;
        xd[i] = x[i];
    }
    pthread_mutex_lock(&l->mu);
    double *m = l->ainv + (size_t)arm * (size_t)d * (size_t)d;
    double *b = l->b + (size_t)arm * (size_t)d, *th = l->theta + (size_t)arm * (size_t)d;
    /* Sherman-Morrison: (A + x x')^-1 = A^-1 - (A^-1 x)(A^-1 x)' / (1 + x' A^-1 x), using the
     * symmetry of A^-1. u_i u_j == u_j u_i exactly, so A^-1 stays exactly symmetric; the
     * denominator is >= 1 for a positive definite A^-1. */
    double q = 0.0;
    for (int i = 0; i < d; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += m[i * d + j] * xd[j];
        u[i] = s;
        q += xd[i] * s;
    }
    double inv = 1.0 / (1.0 + (q > 0.0 ? q : 0.0));
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            m[i * d + j] -= u[i] * u[j] * inv;
    for (int i = 0; i < d; i++)
        b[i] += reward * xd[i];
    for (int i = 0; i < d; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += m[i * d + j] * b[j];
        th[i] = s;
    }
    pthread_mutex_unlock(&l->mu);
    return REC_OK;
}

void rec_linucb_means(struct rec_linucb *l, const float *x, double *out)
{
    if (!l || !x || !out)
        return;
    double xd[REC_LINUCB_MAX_D];
    to_double(x, l->d, xd);
    pthread_mutex_lock(&l->mu);
    for (int a = 0; a < l->n_arms; a++) {
        const double *th = l->theta + (size_t)a * (size_t)l->d;
        double mu = 0.0;
        for (int i = 0; i < l->d; i++)
            mu += th[i] * xd[i];
        out[a] = mu;
    }
    pthread_mutex_unlock(&l->mu);
}

int rec_linucb_arm_state(struct rec_linucb *l, int arm, double *ainv, double *theta)
{
    if (!l || arm < 0 || arm >= l->n_arms)
        return REC_EINVAL;
    size_t d = (size_t)l->d;
    pthread_mutex_lock(&l->mu);
    if (ainv)
        memcpy(ainv, arm_ainv(l, arm), d * d * sizeof *ainv);
    if (theta)
        memcpy(theta, l->theta + (size_t)arm * d, d * sizeof *theta);
    pthread_mutex_unlock(&l->mu);
    return REC_OK;
}
