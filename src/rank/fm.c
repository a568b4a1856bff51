/* fm.c: factorization machine (Rendle, ICDM 2010) with online AdaGrad (Duchi et al., JMLR 2011)
 * on the logistic loss; see fm.h.
 *
 * With z the logit, p = sigmoid(z) and e = p - y, the loss gradient of a parameter t is e dz/dt:
 *     dz/dw0 = 1,  dz/dw_a = X_a,  dz/dv_af = X_a s_f - v_af Q_a
 * where s_f = sum over positions of v_f x, and for a slot a repeated at several positions
 * X_a = sum of its values and Q_a = sum of their squares (Rendle's eq. for one position, summed).
 * Positions marked REC_FM_LINEAR count in X_a for w_a only: s_f, Q_a and the X_a of dz/dv_af
 * leave them out, since their factors are not in the model's z.
 * With across_groups, t_gf = sum over the positions of group g of v_f x, the pairs are
 * 1/2 (sum_f s_f^2 - sum_g sum_f t_gf^2), and dz/dv_af = sum_g X_ag (s_f - t_gf) with X_ag the
 * sum of the slot's values in group g (a slot hashed from two fields of different groups keeps
 * both parts, so the gradient stays exact).
 * A step merges repeated slots (sort by slot) so each coordinate moves once, by its whole
 * gradient taken at the pre-step parameters. AdaGrad per coordinate, importance weight c:
 *     G += c g^2,  t -= c lr g / sqrt(G),  g = e dz/dt + l2 t   (no L2 on w0)
 * so c = 2 moves like seeing the example twice, up to the second-order change in G.
 *
 * Layout: one row of 1 + k floats per slot (w_a, then v_a), so a feature costs one cache line
 * or two at k = 8..16; the accumulators mirror it in a second table, touched only by learn.
 */
#include "rank/fm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/rand.h"
#include "model/binio.h"
#include "model/simd.h"

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'F', 'M', '_', '1'};
#define FORMAT_VERSION 2u /* 2 added across_groups; a version 1 file reads as across_groups 0 */
#define TWO_PI 6.283185307179586

/* One distinct slot of an example being learned. */
struct slot {
    uint32_t slot;
    int pos;  /* first position in x (orders the merge, so sums are deterministic) */
    double x; /* X_a: sum of the slot's values (the linear weight's input) */
    double xf; /* the same over the positions with factors (not REC_FM_LINEAR) */
    double q; /* Q_a: sum of their squares */
    double xg[REC_FM_GROUPS]; /* xf split by group (across_groups only) */
};

struct rec_fm {
    struct rec_fm_config c;
    int stride;       /* k + 1 */
    uint32_t mask;    /* 2^bits - 1 */
    size_t n_slots;   /* 2^bits */
    double w0, g0;    /* bias and its accumulator */
    int64_t examples; /* steps taken */
    float *p;         /* n_slots rows of stride: w_a, v_a1..v_ak */
    float *g;         /* AdaGrad accumulators, same layout, >= 0 */
    struct slot *scratch; /* learn's merge buffer, scratch_cap entries */
    int scratch_cap;
};

void rec_fm_config_default(struct rec_fm_config *c)
{
    c->bits = 20;
    c->k = 8;
    c->lr = 0.05;
    c->l2_w = 1e-6;
    c->l2_v = 1e-6;
    c->init_sd = 0.01;
    c->seed = 42;
    c->across_groups = 0;
}

const char *rec_fm_config_check(const struct rec_fm_config *c)
{
    if (!c)
        return "no config";
    if (c->bits < REC_FM_BITS_MIN || c->bits > REC_FM_BITS_MAX)
        return "bits must be 10..26";
    if (c->k < 0 || c->k > REC_FM_K_MAX)
        return "k must be 0..256";
    if (!(isfinite(c->lr) && c->lr > 0))
        return "lr must be finite and > 0";
    if (!(isfinite(c->l2_w) && c->l2_w >= 0))
        return "l2_w must be finite and >= 0";
    if (!(isfinite(c->l2_v) && c->l2_v >= 0))
        return "l2_v must be finite and >= 0";
    if (!(isfinite(c->init_sd) && c->init_sd >= 0))
        return "init_sd must be finite and >= 0";
    if (c->across_groups != 0 && c->across_groups != 1)
        return "across_groups must be 0 or 1";
    return NULL;
}

uint32_t rec_fm_hash(const char *field, const char *value, int bits)
{
    static const unsigned char zero = 0;
    if (bits < 1)
        bits = 1;
    if (bits > 32)
        bits = 32;
    uint64_t h = REC_BINIO_FNV_OFFSET;
    if (field)
        h = rec_binio_fnv1a(h, field, strlen(field));
    h = rec_binio_fnv1a(h, &zero, 1);
    if (value)
        h = rec_binio_fnv1a(h, value, strlen(value));
    return (uint32_t)(rec_mix64(h) >> (64 - bits));
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* An empty model for a checked config: geometry set, no tables. */
static struct rec_fm *alloc_model(const struct rec_fm_config *c)
{
    struct rec_fm *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = *c;
    m->stride = c->k + 1;
    m->n_slots = (size_t)1 << c->bits;
    m->mask = (uint32_t)(m->n_slots - 1);
    return m;
}

void rec_fm_free(struct rec_fm *m)
{
    if (!m)
        return;
    free(m->p);
    free(m->g);
    free(m->scratch);
    free(m);
}

/* Fills the factors with N(0, sd^2) draws (Box-Muller on the splitmix64 stream), row by row. */
static void init_factors(struct rec_fm *m)
{
    uint64_t st = m->c.seed;
    const int k = m->c.k;
    double spare = 0;
    int have_spare = 0;
    for (size_t a = 0; a < m->n_slots; a++) {
        float *row = m->p + a * (size_t)m->stride;
        row[0] = 0.0f;
        for (int f = 1; f <= k; f++) {
            double z;
            if (have_spare) {
                z = spare;
                have_spare = 0;
            } else {
                double u1 = (double)((rec_splitmix64(&st) >> 11) + 1) * 0x1p-53; /* (0, 1] */
                double u2 = (double)(rec_splitmix64(&st) >> 11) * 0x1p-53;
                double r = sqrt(-2.0 * log(u1));
                z = r * cos(TWO_PI * u2);
                spare = r * sin(TWO_PI * u2);
                have_spare = 1;
            }
            row[f] = (float)(m->c.init_sd * z);
        }
    }
}

int rec_fm_new(const struct rec_fm_config *c, struct rec_fm **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (rec_fm_config_check(c))
        return REC_EINVAL;
    struct rec_fm *m = alloc_model(c);
    if (!m)
        return REC_ENOMEM;
    size_t n = m->n_slots * (size_t)m->stride;
    m->p = malloc(n * sizeof *m->p);
    m->g = calloc(n, sizeof *m->g);
    if (!m->p || !m->g) {
        rec_fm_free(m);
        return REC_ENOMEM;
    }
    init_factors(m);
    *out = m;
    return REC_OK;
}

int rec_fm_clone(const struct rec_fm *m, struct rec_fm **out)
{
    if (!out)
        return REC_EINVAL;
    *out = NULL;
    if (!m)
        return REC_EINVAL;
    struct rec_fm *c = alloc_model(&m->c);
    if (!c)
        return REC_ENOMEM;
    size_t bytes = m->n_slots * (size_t)m->stride * sizeof *m->p;
    c->p = malloc(bytes);
    c->g = malloc(bytes);
    if (!c->p || !c->g) {
        rec_fm_free(c);
        return REC_ENOMEM;
    }
    memcpy(c->p, m->p, bytes);
    memcpy(c->g, m->g, bytes);
    c->w0 = m->w0;
    c->g0 = m->g0;
    c->examples = m->examples;
    *out = c;
    return REC_OK;
}

int64_t rec_fm_examples(const struct rec_fm *m) { return m ? m->examples : 0; }

void rec_fm_get_config(const struct rec_fm *m, struct rec_fm_config *c)
{
    if (m && c)
        *c = m->c;
}

void rec_fm_params(const struct rec_fm *m, struct rec_fm_view *v)
{
    if (!v)
        return;
    memset(v, 0, sizeof *v);
    if (!m)
        return;
    v->w0 = m->w0;
    v->g0 = m->g0;
    v->rows = m->p;
    v->acc = m->g;
    v->stride = m->stride;
    v->n_slots = (uint32_t)m->n_slots;
}

/* ---- predict and learn --------------------------------------------------------------------- */

/* Sums of one example's factors: s[f] = sum_i v_if x_i, and with across_groups t[g][f], the
 * same over the positions of group g. */
struct sums {
    float s[REC_FM_K_MAX];
    float t[REC_FM_GROUPS][REC_FM_K_MAX];
};

/* The logit of x, and its sums for learn. O(k n). */
static double logit(const struct rec_fm *m, const struct rec_fm_feature *x, int n, struct sums *u)
{
    const int k = m->c.k, grouped = m->c.across_groups;
    double lin = m->w0, sq = 0.0;
    memset(u->s, 0, (size_t)k * sizeof *u->s);
    for (int g = 0; grouped && g < REC_FM_GROUPS; g++)
        memset(u->t[g], 0, (size_t)k * sizeof *u->t[g]);
    for (int i = 0; i < n; i++) {
        float xv = x[i].value;
        if (!isfinite(xv) || xv == 0.0f)
            continue;
        const float *row = m->p + (size_t)(x[i].index & m->mask) * (size_t)m->stride;
        lin += (double)row[0] * xv;
        if (k > 0 && !(x[i].index & REC_FM_LINEAR)) {
            rec_simd_axpy(xv, row + 1, u->s, k);
            if (grouped)
                rec_simd_axpy(xv, row + 1, u->t[REC_FM_GROUP_OF(x[i].index)], k);
            else
                sq += (double)xv * xv * rec_simd_dot(row + 1, row + 1, k);
        }
    }
    double ss = 0.0;
    for (int f = 0; f < k; f++)
        ss += (double)u->s[f] * u->s[f];
    for (int g = 0; grouped && g < REC_FM_GROUPS; g++)
        for (int f = 0; f < k; f++)
            sq += (double)u->t[g][f] * u->t[g][f];
    return lin + 0.5 * (ss - sq);
}

static double sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

double rec_fm_predict(const struct rec_fm *m, const struct rec_fm_feature *x, int n)
{
    if (!m)
        return NAN;
    struct sums u;
    return sigmoid(logit(m, x, x ? n : 0, &u));
}

static int cmp_slot(const void *pa, const void *pb)
{
    const struct slot *a = pa, *b = pb;
    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* The distinct slots of x with their X and Q into m->scratch; returns how many, or -1 when the
 * scratch cannot grow. */
static int merge_slots(struct rec_fm *m, const struct rec_fm_feature *x, int n)
{
    if (n > m->scratch_cap) {
        struct slot *s = realloc(m->scratch, (size_t)n * sizeof *s);
        if (!s)
            return -1;
        m->scratch = s;
        m->scratch_cap = n;
    }
    struct slot *s = m->scratch;
    int u = 0;
    for (int i = 0; i < n; i++) {
        float xv = x[i].value;
        if (!isfinite(xv) || xv == 0.0f)
            continue;
        int fac = !(x[i].index & REC_FM_LINEAR);
        s[u] = (struct slot){x[i].index & m->mask, i, xv, fac ? xv : 0.0, fac ? (double)xv * xv : 0.0,
                             {0}};
        s[u++].xg[REC_FM_GROUP_OF(x[i].index)] = fac ? xv : 0.0;
    }
    if (u > 1)
        qsort(s, (size_t)u, sizeof *s, cmp_slot);
    int d = 0;
    for (int i = 0; i < u; i++) {
        if (d > 0 && s[d - 1].slot == s[i].slot) {
            s[d - 1].x += s[i].x;
            s[d - 1].xf += s[i].xf;
            s[d - 1].q += s[i].q;
            for (int g = 0; g < REC_FM_GROUPS; g++)
                s[d - 1].xg[g] += s[i].xg[g];
        } else {
            s[d++] = s[i];
        }
    }
    return d;
}

double rec_fm_learn(struct rec_fm *m, const struct rec_fm_feature *x, int n, int y, double weight)
{
    if (!m)
        return NAN;
    if (!x)
        n = 0;
    struct sums u;
    const double p = sigmoid(logit(m, x, n, &u));
    const float *s = u.s;
    if (!(isfinite(weight) && weight > 0))
        return p;
    int d = merge_slots(m, x, n);
    if (d < 0)
        return p;
    const double e = p - (y ? 1.0 : 0.0), lr = weight * m->c.lr;
    const double l2_w = m->c.l2_w, l2_v = m->c.l2_v;
    const int k = m->c.k;

    m->g0 += weight * e * e;
    if (m->g0 > 0)
        m->w0 -= lr * e / sqrt(m->g0);
    for (int i = 0; i < d; i++) {
        const struct slot *a = &m->scratch[i];
        float *row = m->p + (size_t)a->slot * (size_t)m->stride;
        float *acc = m->g + (size_t)a->slot * (size_t)m->stride;
        double g = e * a->x + l2_w * row[0];
        double G = acc[0] + weight * g * g;
        acc[0] = (float)G;
        if (G > 0)
            row[0] = (float)(row[0] - lr * g / sqrt(G));
        /* every v_af below is read before it is written, and s holds pre-step sums: the step
         * uses the pre-step parameters throughout */
        for (int f = 1; f <= k && a->xf != 0.0; f++) {
            double v = row[f];
            if (m->c.across_groups) {
                double dz = a->xf * s[f - 1];
                for (int h = 0; h < REC_FM_GROUPS; h++)
                    dz -= a->xg[h] * u.t[h][f - 1];
                g = e * dz + l2_v * v;
            } else {
                g = e * (a->xf * s[f - 1] - v * a->q) + l2_v * v;
            }
            G = acc[f] + weight * g * g;
            acc[f] = (float)G;
            if (G > 0)
                row[f] = (float)(v - lr * g / sqrt(G));
        }
    }
    m->examples++;
    return p;
}

void rec_fm_reset_slot(struct rec_fm *m, uint32_t index)
{
    if (!m)
        return;
    size_t at = (size_t)(index & m->mask) * (size_t)m->stride;
    memset(m->p + at, 0, (size_t)m->stride * sizeof *m->p);
    memset(m->g + at, 0, (size_t)m->stride * sizeof *m->g);
}

/* ---- save / load --------------------------------------------------------------------------- */

static void write_model(struct rec_binw *w, const struct rec_fm *m)
{
    size_t n = m->n_slots * (size_t)m->stride;
    rec_binw_head(w, MAGIC, FORMAT_VERSION);
    rec_binw_i32(w, m->c.bits);
    rec_binw_i32(w, m->c.k);
    rec_binw_f64(w, m->c.lr);
    rec_binw_f64(w, m->c.l2_w);
    rec_binw_f64(w, m->c.l2_v);
    rec_binw_f64(w, m->c.init_sd);
    rec_binw_u64(w, m->c.seed);
    rec_binw_i32(w, m->c.across_groups);
    rec_binw_u64(w, (uint64_t)m->examples);
    rec_binw_f64(w, m->w0);
    rec_binw_f64(w, m->g0);
    rec_binw_f32s(w, m->p, n);
    rec_binw_f32s(w, m->g, n);
}

int rec_fm_write(const struct rec_fm *m, FILE *f)
{
    if (!m || !f)
        return REC_EINVAL;
    struct rec_binw w;
    rec_binw_init(&w, f);
    write_model(&w, m);
    return rec_binw_finish(&w);
}

static int write_model_file(void *ctx, FILE *f) { return rec_fm_write(ctx, f); }

int rec_fm_save(const struct rec_fm *m, const char *path, char *err, size_t errlen)
{
    if (!m || !path)
        return rec_errf(err, errlen, REC_EINVAL, "fm save: no model or path");
    int rc = rec_file_replace(path, write_model_file, (void *)m, NULL);
    if (rc == REC_ENOMEM)
        return rec_errf(err, errlen, rc, "fm save: out of memory");
    if (rc)
        return rec_errf(err, errlen, rc, "fm save: cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Reads a model; NULL with r->rc set and *why naming the damage on failure. */
static struct rec_fm *read_model(struct rec_binr *r, const char **why)
{
    *why = "not an fm model file";
    uint32_t version = rec_binr_head(r, MAGIC);
    if (version != 1 && version != FORMAT_VERSION && !r->rc)
        rec_binr_fail(r, REC_EFORMAT);
    if (r->rc)
        return NULL;
    *why = "truncated file";
    struct rec_fm_config c;
    c.bits = rec_binr_i32(r);
    c.k = rec_binr_i32(r);
    c.lr = rec_binr_f64(r);
    c.l2_w = rec_binr_f64(r);
    c.l2_v = rec_binr_f64(r);
    c.init_sd = rec_binr_f64(r);
    c.seed = rec_binr_u64(r);
    c.across_groups = version >= 2 ? rec_binr_i32(r) : 0;
    int64_t examples = (int64_t)rec_binr_u64(r);
    double w0 = rec_binr_f64(r), g0 = rec_binr_f64(r);
    if (r->rc)
        return NULL;
    const char *bad = rec_fm_config_check(&c);
    if (!bad && (examples < 0 || !isfinite(w0) || !(isfinite(g0) && g0 >= 0)))
        bad = "bad counters";
    if (bad) {
        *why = bad;
        rec_binr_fail(r, REC_EFORMAT);
        return NULL;
    }
    struct rec_fm *m = alloc_model(&c);
    if (!m) {
        rec_binr_fail(r, REC_ENOMEM);
        return NULL;
    }
    m->examples = examples;
    m->w0 = w0;
    m->g0 = g0;
    size_t n = m->n_slots * (size_t)m->stride;
    *why = "truncated file or non-finite parameter";
    m->p = rec_binr_f32s(r, n, 1);
    m->g = rec_binr_f32s(r, n, 1);
    for (size_t i = 0; !r->rc && i < n; i++)
        if (m->g[i] < 0) {
            *why = "negative accumulator";
            rec_binr_fail(r, REC_EFORMAT);
        }
    if (!r->rc && rec_binr_finish(r) != REC_OK)
        *why = "checksum mismatch";
    if (r->rc) {
        rec_fm_free(m);
        return NULL;
    }
    return m;
}

int rec_fm_read(FILE *f, struct rec_fm **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!f || !out)
        return rec_errf(err, errlen, REC_EINVAL, "fm read: no stream or output");
    struct rec_binr r;
    rec_binr_init(&r, f);
    const char *why;
    struct rec_fm *m = read_model(&r, &why);
    if (r.rc) {
        rec_fm_free(m);
        return rec_errf(err, errlen, r.rc, "%s", r.rc == REC_EFORMAT ? why : rec_strerror(r.rc));
    }
    *out = m;
    return REC_OK;
}

int rec_fm_load(const char *path, struct rec_fm **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return rec_errf(err, errlen, REC_EINVAL, "fm load: no path or output");
    FILE *f = fopen(path, "rb");
    if (!f)
        return rec_errf(err, errlen, errno == ENOENT ? REC_ENOTFOUND : REC_EIO,
                        "fm load: cannot open %s: %s", path, strerror(errno));
    char why[256];
    struct rec_fm *m = NULL;
    int rc = rec_fm_read(f, &m, why, sizeof why);
    if (!rc && fgetc(f) != EOF) {
        snprintf(why, sizeof why, "bytes after the checksum");
        rc = REC_EFORMAT;
    } else if (!rc && ferror(f)) {
        snprintf(why, sizeof why, "read error");
        rc = REC_EIO;
    }
    fclose(f);
    if (rc) {
        rec_fm_free(m);
        return rec_errf(err, errlen, rc, "fm load: %s: %s", path, why);
    }
    *out = m;
    return REC_OK;
}
