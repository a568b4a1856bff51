/* metrics.c: the Prometheus registry of metrics.h.
 *
 * Design. A family keeps its children (one per label combination) in a fixed open-addressing
 * table of N_SLOTS _Atomic pointers, keyed by a 64-bit FNV-1a hash of the label values, with
 * linear probing. Children are never removed or moved, so a reader may probe without a lock: it
 * stops at the first NULL slot (the combination is absent) or at a child with the same hash and
 * values. A new child is built completely, then published with a release store into its slot
 * (readers load with acquire), under the family's mutex so two threads cannot add the same
 * combination twice. N_SLOTS is over twice REC_METRICS_MAX_CHILDREN, so probes stay short and
 * the table never fills. A second array, order[], lists the children in order of first sighting
 * for rendering; its length n_children is published with a release store after order[n] is set.
 *
 * Values: counters and gauges are doubles kept as bit patterns in _Atomic uint64_t (adds are a
 * CAS loop); histogram buckets are _Atomic uint64_t per bucket (not cumulative) and their sum a
 * double like a counter. All value updates are relaxed: they are independent counts, and a render
 * racing with updates shows each one either before or after. A histogram's _count is the sum of
 * the bucket counts the render read, so it always matches the +Inf bucket.
 *
 * Cost: an update hashes its label values and probes (no allocation, no lock). Updates for
 * combinations past the cap take the family's mutex each time, so a label that explodes costs
 * contention but never memory.
 */
#include "obs/metrics.h"

#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SLOTS 2048               /* power of two, > 2 * REC_METRICS_MAX_CHILDREN */
#define DROPPED_NAME "recd_metrics_dropped_total"
#define OUT_MAX_PAIRS 16           /* label pairs a collector's sample may carry */

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };
static const char *const kind_names[] = {"counter", "gauge", "histogram"};

struct child {
    uint64_t hash;
    const char *values[REC_METRICS_MAX_LABELS]; /* point into this allocation, after buckets */
    _Atomic uint64_t value;                     /* double bits: the value, or a histogram's sum */
    _Atomic uint64_t buckets[];                 /* histogram: n_buckets + 1 per-bucket counts */
};

struct rec_metric {
    struct rec_metrics_registry *reg;
    struct rec_metric *next;                    /* registration order; under reg->mu */
    enum kind kind;
    char *name, *help;
    int n_labels;
    char *label_names[REC_METRICS_MAX_LABELS];
    double bounds[REC_METRICS_MAX_BUCKETS];
    int n_buckets;                              /* histogram only */
    pthread_mutex_t mu;                         /* serializes adding children */
    int warned_drop;                            /* under mu */
    _Atomic int n_children;                     /* order[0..n_children) are published */
    struct child *order[REC_METRICS_MAX_CHILDREN];
    _Atomic(struct child *) slots[N_SLOTS];
};

struct collector {
    rec_metrics_collect_fn fn;
    void *ctx;
};

struct rec_metrics_registry {
    pthread_mutex_t mu;                         /* the family list and the collectors */
    struct rec_metric *first, *last;
    struct collector *collectors;
    int n_collectors, cap_collectors;
    _Atomic uint64_t dropped;                   /* updates lost to REC_METRICS_MAX_CHILDREN */
};

struct rec_metrics_out {
    char *buf;
    size_t len, cap;
    int failed;                                 /* out of memory: the render returns NULL */
};

/* ---- doubles in atomics ---- */

static uint64_t to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static double load_double(const _Atomic uint64_t *a)
{
    return from_bits(atomic_load_explicit((_Atomic uint64_t *)a, memory_order_relaxed));
}

static void add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, to_bits(from_bits(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- names ---- */

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p > s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Splits "a,b" into f->label_names; 0 or -1 (bad name, too many, repeat, ENOMEM). */
static int parse_labels(struct rec_metric *f, const char *labels)
{
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (f->n_labels == REC_METRICS_MAX_LABELS)
            return -1;
        char *name = strndup(p, n);
        if (!name)
            return -1;
        f->label_names[f->n_labels++] = name;   /* freed with f even when rejected below */
        if (!valid_name(name, 0) || strncmp(name, "__", 2) == 0 ||
            (f->kind == KIND_HISTOGRAM && strcmp(name, "le") == 0))
            return -1;
        for (int i = 0; i < f->n_labels - 1; i++)
            if (strcmp(f->label_names[i], name) == 0)
                return -1;
        if (!end)
            return 0;
        p = end + 1;
    }
}

/* ---- children ---- */

static const char *value_at(const char *const *values, int i)
{
    return values && values[i] ? values[i] : "";
}

static size_t value_len(const char *s)
{
    return strnlen(s, REC_METRICS_VALUE_MAX);
}

static uint64_t hash_values(const char *const *values, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        const char *s = value_at(values, i);
        size_t len = value_len(s);
        for (size_t k = 0; k < len; k++)
            h = (h ^ (unsigned char)s[k]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;   /* separator: ("ab","") differs from ("a","b") */
    }
    return h;
}

static int same_values(const struct child *c, const char *const *values, int n)
{
    for (int i = 0; i < n; i++)
        if (strncmp(c->values[i], value_at(values, i), REC_METRICS_VALUE_MAX) != 0)
            return 0;
    return 1;
}

/* The child for values, or NULL when absent. Lock-free: slots are only ever filled once. */
static struct child *find_child(struct rec_metric *f, uint64_t h, const char *const *values)
{
    for (uint32_t i = (uint32_t)h & (N_SLOTS - 1), probes = 0; probes < N_SLOTS;
         i = (i + 1) & (N_SLOTS - 1), probes++) {
        struct child *c = atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (!c)
            return NULL;
        if (c->hash == h && same_values(c, values, f->n_labels))
            return c;
    }
    return NULL;
}

/* Builds and publishes a child; caller holds f->mu. NULL past the cap or on ENOMEM. */
static struct child *add_child(struct rec_metric *f, uint64_t h, const char *const *values)
{
    int n = atomic_load_explicit(&f->n_children, memory_order_relaxed);
    if (n >= REC_METRICS_MAX_CHILDREN) {
        atomic_fetch_add_explicit(&f->reg->dropped, 1, memory_order_relaxed);
        if (!f->warned_drop) {
            f->warned_drop = 1;
            rec_warn("metrics: %s reached %d label combinations; new ones are dropped", f->name,
                     REC_METRICS_MAX_CHILDREN);
        }
        return NULL;
    }
    int n_counts = f->kind == KIND_HISTOGRAM ? f->n_buckets + 1 : 0;
    size_t size = sizeof(struct child) + (size_t)n_counts * sizeof(_Atomic uint64_t);
    for (int i = 0; i < f->n_labels; i++)
        size += value_len(value_at(values, i)) + 1;
    struct child *c = malloc(size);
    if (!c)
        return NULL;
    c->hash = h;
    atomic_init(&c->value, to_bits(0.0));
    for (int i = 0; i < n_counts; i++)
        atomic_init(&c->buckets[i], 0);
    char *text = (char *)&c->buckets[n_counts];
    for (int i = 0; i < f->n_labels; i++) {
        const char *s = value_at(values, i);
        size_t len = value_len(s);
        memcpy(text, s, len);
        text[len] = '\0';
        c->values[i] = text;
        text += len + 1;
    }
    uint32_t i = (uint32_t)h & (N_SLOTS - 1);
    while (atomic_load_explicit(&f->slots[i], memory_order_relaxed))
        i = (i + 1) & (N_SLOTS - 1);
    f->order[n] = c;
    atomic_store_explicit(&f->n_children, n + 1, memory_order_release);
    atomic_store_explicit(&f->slots[i], c, memory_order_release);
    return c;
}

static struct child *get_child(struct rec_metric *f, const char *const *values)
{
    uint64_t h = hash_values(values, f->n_labels);
    struct child *c = find_child(f, h, values);
    if (c)
        return c;
    pthread_mutex_lock(&f->mu);
    c = find_child(f, h, values);   /* another thread may have added it meanwhile */
    if (!c)
        c = add_child(f, h, values);
    pthread_mutex_unlock(&f->mu);
    return c;
}

/* ---- registry ---- */

struct rec_metrics_registry *rec_metrics_new(void)
{
    struct rec_metrics_registry *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    atomic_init(&m->dropped, 0);
    return m;
}

static void free_family(struct rec_metric *f)
{
    int n = atomic_load_explicit(&f->n_children, memory_order_acquire);
    for (int i = 0; i < n; i++)
        free(f->order[i]);
    for (int i = 0; i < f->n_labels; i++)
        free(f->label_names[i]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void rec_metrics_free(struct rec_metrics_registry *m)
{
    if (!m)
        return;
    for (struct rec_metric *f = m->first, *next; f; f = next) {
        next = f->next;
        free_family(f);
    }
    free(m->collectors);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static struct rec_metric *register_family(struct rec_metrics_registry *m, enum kind kind, const char *name,
                                          const char *help, const char *labels,
                                          const double *buckets, int n_buckets)
{
    if (!m || !valid_name(name, 1) || strcmp(name, DROPPED_NAME) == 0)
        return NULL;
    if (kind == KIND_HISTOGRAM) {
        if (!buckets || n_buckets < 1 || n_buckets > REC_METRICS_MAX_BUCKETS)
            return NULL;
        for (int i = 0; i < n_buckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                return NULL;
    }
    struct rec_metric *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->reg = m;
    f->kind = kind;
    atomic_init(&f->n_children, 0);
    for (int i = 0; i < N_SLOTS; i++)
        atomic_init(&f->slots[i], NULL);
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f);
        return NULL;
    }
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (kind == KIND_HISTOGRAM) {
        memcpy(f->bounds, buckets, (size_t)n_buckets * sizeof *buckets);
        f->n_buckets = n_buckets;
    }
    if (!f->name || !f->help || parse_labels(f, labels) != 0)
        goto fail;
    /* a family without labels has its one child from the start, so it renders as 0 */
    if (f->n_labels == 0 && !add_child(f, hash_values(NULL, 0), NULL))
        goto fail;

    pthread_mutex_lock(&m->mu);
    for (struct rec_metric *g = m->first; g; g = g->next) {
        if (strcmp(g->name, name) == 0) {
            pthread_mutex_unlock(&m->mu);
            goto fail;
        }
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    pthread_mutex_unlock(&m->mu);
    return f;

fail:
    free_family(f);
    return NULL;
}

struct rec_metric *rec_metrics_counter(struct rec_metrics_registry *m, const char *name, const char *help,
                                       const char *labels)
{
    return register_family(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

struct rec_metric *rec_metrics_gauge(struct rec_metrics_registry *m, const char *name, const char *help,
                                     const char *labels)
{
    return register_family(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

struct rec_metric *rec_metrics_histogram(struct rec_metrics_registry *m, const char *name, const char *help,
                                         const char *labels, const double *buckets, int n_buckets)
{
    return register_family(m, KIND_HISTOGRAM, name, help, labels, buckets, n_buckets);
}

int rec_metrics_add_collector(struct rec_metrics_registry *m, rec_metrics_collect_fn fn, void *ctx)
{
    if (!m || !fn)
        return REC_EINVAL;
    int rc = REC_OK;
    pthread_mutex_lock(&m->mu);
    if (m->n_collectors == m->cap_collectors) {
        int cap = m->cap_collectors ? 2 * m->cap_collectors : 4;
        struct collector *c = realloc(m->collectors, (size_t)cap * sizeof *c);
        if (!c) {
            rc = REC_ENOMEM;
            goto out;
        }
        m->collectors = c;
        m->cap_collectors = cap;
    }
    m->collectors[m->n_collectors++] = (struct collector){fn, ctx};
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- updates ---- */

void rec_metric_add(struct rec_metric *f, const char *const *values, double v)
{
    if (!f || f->kind == KIND_HISTOGRAM || (f->kind == KIND_COUNTER && !(v >= 0)))
        return;
    struct child *c = get_child(f, values);
    if (c)
        add_double(&c->value, v);
}

void rec_metric_set(struct rec_metric *f, const char *const *values, double v)
{
    if (!f || f->kind != KIND_GAUGE)
        return;
    struct child *c = get_child(f, values);
    if (c)
        atomic_store_explicit(&c->value, to_bits(v), memory_order_relaxed);
}

void rec_metric_observe(struct rec_metric *f, const char *const *values, double v)
{
    if (!f || f->kind != KIND_HISTOGRAM || isnan(v))
        return;
    struct child *c = get_child(f, values);
    if (!c)
        return;
    int b = 0;
    while (b < f->n_buckets && !(v <= f->bounds[b]))
        b++;
    atomic_fetch_add_explicit(&c->buckets[b], 1, memory_order_relaxed);
    add_double(&c->value, v);
}

/* ---- reading ---- */

double rec_metric_total(const struct rec_metric *f)
{
    if (!f)
        return 0;
    if (f->kind == KIND_HISTOGRAM)
        return NAN;
    struct rec_metric *mf = (struct rec_metric *)f;   /* atomics are read, never written */
    int n = atomic_load_explicit(&mf->n_children, memory_order_acquire);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += load_double(&f->order[i]->value);
    return sum;
}

int rec_metric_histogram_totals(const struct rec_metric *f, uint64_t *counts, double *sum,
                                uint64_t *count)
{
    if (!f || f->kind != KIND_HISTOGRAM)
        return -1;
    struct rec_metric *mf = (struct rec_metric *)f;
    int n = atomic_load_explicit(&mf->n_children, memory_order_acquire);
    uint64_t total = 0;
    double s = 0;
    if (counts)
        memset(counts, 0, (size_t)(f->n_buckets + 1) * sizeof *counts);
    for (int i = 0; i < n; i++) {
        struct child *c = f->order[i];
        for (int b = 0; b <= f->n_buckets; b++) {
            uint64_t k = atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
            if (counts)
                counts[b] += k;
            total += k;
        }
        s += load_double(&c->value);
    }
    if (sum)
        *sum = s;
    if (count)
        *count = total;
    return f->n_buckets;
}

const double *rec_metric_buckets(const struct rec_metric *f, int *n_buckets)
{
    int hist = f && f->kind == KIND_HISTOGRAM;
    if (n_buckets)
        *n_buckets = hist ? f->n_buckets : 0;
    return hist ? f->bounds : NULL;
}

double rec_histogram_quantile(const double *bounds, int n_bounds, const uint64_t *counts, double q)
{
    if (isnan(q) || n_bounds < 1 || !bounds || !counts)
        return NAN;
    double total = 0;
    for (int i = 0; i <= n_bounds; i++)
        total += (double)counts[i];
    if (total == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    double rank = q * total;
    /* b: the first bucket whose cumulative count reaches rank (and holds something, for q = 0) */
    int b = 0;
    double below = 0;   /* cumulative count of the buckets before b */
    while (b < n_bounds && !(below + (double)counts[b] >= rank && counts[b] > 0)) {
        below += (double)counts[b];
        b++;
    }
    if (b == n_bounds)
        return bounds[n_bounds - 1];
    if (b == 0 && bounds[0] <= 0)
        return bounds[0];
    double start = b > 0 ? bounds[b - 1] : 0;
    return start + (bounds[b] - start) * ((rank - below) / (double)counts[b]);
}

/* ---- the writer ---- */

static void out_bytes(struct rec_metrics_out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *buf = realloc(o->buf, cap);
        if (!buf) {
            o->failed = 1;
            return;
        }
        o->buf = buf;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct rec_metrics_out *o, const char *s) { out_bytes(o, s, strlen(s)); }

/* Shortest text that reads back as v; integers below 1e15 without a fraction. */
static void format_number(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    else if (v == 0)
        snprintf(buf, size, "0");   /* also -0 */
    else if (fabs(v) < 1e15 && v == trunc(v))
        snprintf(buf, size, "%.0f", v);
    else
        for (int prec = 15; prec <= 17; prec++)
            if (snprintf(buf, size, "%.*g", prec, v) > 0 && strtod(buf, NULL) == v)
                break;
}

static void out_num(struct rec_metrics_out *o, double v)
{
    char buf[40];
    format_number(buf, sizeof buf, v);
    out_str(o, buf);
}

static void out_u64(struct rec_metrics_out *o, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    out_str(o, buf);
}

/* Writes s escaped: backslash and newline always, '"' in label values; bytes that are not
 * well-formed UTF-8 become '?' (Prometheus rejects the whole page otherwise). */
static void out_escaped(struct rec_metrics_out *o, const char *s, int quote)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        const char *esc = NULL;
        if (s[i] == '\\')
            esc = "\\\\";
        else if (s[i] == '\n')
            esc = "\\n";
        else if (s[i] == '"' && quote)
            esc = "\\\"";
        if (esc) {
            out_str(o, esc);
            i++;
            continue;
        }
        size_t len = rec_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (len == 0) {
            out_bytes(o, "?", 1);
            i++;
        } else {
            out_bytes(o, s + i, len);
            i += len;
        }
    }
}

static void out_header(struct rec_metrics_out *o, const char *name, const char *type,
                       const char *help)
{
    out_str(o, "# HELP ");
    out_str(o, name);
    out_str(o, " ");
    out_escaped(o, help ? help : "", 0);
    out_str(o, "\n# TYPE ");
    out_str(o, name);
    out_str(o, " ");
    out_str(o, type);
    out_str(o, "\n");
}

/* name[suffix]{names[i]="values[i]",...[,le="le"]} and a space; the caller writes the value. */
static void out_series(struct rec_metrics_out *o, const char *name, const char *suffix,
                       const char *const *names, const char *const *values, int n, const char *le)
{
    out_str(o, name);
    out_str(o, suffix);
    if (n > 0 || le) {
        out_str(o, "{");
        for (int i = 0; i < n; i++) {
            if (i > 0)
                out_str(o, ",");
            out_str(o, names[i]);
            out_str(o, "=\"");
            out_escaped(o, values[i], 1);
            out_str(o, "\"");
        }
        if (le) {
            out_str(o, n > 0 ? ",le=\"" : "le=\"");
            out_str(o, le);
            out_str(o, "\"");
        }
        out_str(o, "}");
    }
    out_str(o, " ");
}

static void render_histogram_child(struct rec_metrics_out *o, const struct rec_metric *f,
                                   struct child *c)
{
    const char *const *names = (const char *const *)f->label_names;
    uint64_t cum = 0;
    char le[40];
    for (int b = 0; b <= f->n_buckets; b++) {
        cum += atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
        format_number(le, sizeof le, b < f->n_buckets ? f->bounds[b] : INFINITY);
        out_series(o, f->name, "_bucket", names, c->values, f->n_labels, le);
        out_u64(o, cum);
        out_str(o, "\n");
    }
    out_series(o, f->name, "_sum", names, c->values, f->n_labels, NULL);
    out_num(o, load_double(&c->value));
    out_str(o, "\n");
    out_series(o, f->name, "_count", names, c->values, f->n_labels, NULL);
    out_u64(o, cum);
    out_str(o, "\n");
}

static void render_family(struct rec_metrics_out *o, struct rec_metric *f)
{
    out_header(o, f->name, kind_names[f->kind], f->help);
    int n = atomic_load_explicit(&f->n_children, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        struct child *c = f->order[i];
        if (f->kind == KIND_HISTOGRAM) {
            render_histogram_child(o, f, c);
            continue;
        }
        out_series(o, f->name, "", (const char *const *)f->label_names, c->values, f->n_labels,
                   NULL);
        out_num(o, load_double(&c->value));
        out_str(o, "\n");
    }
}

char *rec_metrics_render(struct rec_metrics_registry *m, size_t *len)
{
    if (!m)
        return NULL;
    struct rec_metrics_out o = {0};
    out_str(&o, "");   /* an empty registry still gives "" */

    pthread_mutex_lock(&m->mu);
    for (struct rec_metric *f = m->first; f; f = f->next)
        render_family(&o, f);
    int n_collectors = m->n_collectors;
    struct collector *collectors = NULL;
    if (n_collectors > 0) {
        collectors = malloc((size_t)n_collectors * sizeof *collectors);
        if (collectors)
            memcpy(collectors, m->collectors, (size_t)n_collectors * sizeof *collectors);
        else
            o.failed = 1;
    }
    pthread_mutex_unlock(&m->mu);

    out_header(&o, DROPPED_NAME, "counter",
               "Metric updates dropped because a family had too many label combinations.");
    out_str(&o, DROPPED_NAME " ");
    out_u64(&o, atomic_load_explicit(&m->dropped, memory_order_relaxed));
    out_str(&o, "\n");

    /* collectors run without the registry's lock: they may be slow (a store count) */
    for (int i = 0; collectors && i < n_collectors && !o.failed; i++)
        collectors[i].fn(collectors[i].ctx, &o);
    free(collectors);

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.buf;
}

/* ---- collectors' output ---- */

void rec_metrics_out_family(struct rec_metrics_out *o, const char *name, const char *type,
                            const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    if (!o || !valid_name(name, 1))
        return;
    const char *t = "untyped";
    for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i]) == 0)
            t = types[i];
    out_header(o, name, t, help);
}

void rec_metrics_out_sample(struct rec_metrics_out *o, const char *name, double v, ...)
{
    if (!o || !valid_name(name, 1))
        return;
    const char *names[OUT_MAX_PAIRS], *values[OUT_MAX_PAIRS];
    int n = 0, ok = 1;
    va_list ap;
    va_start(ap, v);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *val = va_arg(ap, const char *);
        if (n == OUT_MAX_PAIRS || !valid_name(k, 0)) {
            ok = 0;
            continue;   /* keep reading up to the NULL */
        }
        names[n] = k;
        values[n++] = val ? val : "";
    }
    va_end(ap);
    if (!ok)
        return;
    out_series(o, name, "", names, values, n, NULL);
    out_num(o, v);
    out_str(o, "\n");
}
