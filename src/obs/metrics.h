/* metrics.h: a Prometheus metrics registry rendered in the text exposition format 0.0.4.
 *
 * A registry holds families (counter, gauge or histogram), each with up to 4 label names and up
 * to 1000 label combinations ("children"). Updating an existing child takes no lock (atomics),
 * so the hot paths (every request, every event) can count freely; registering a family or seeing
 * a label combination for the first time takes a mutex. Collectors add families computed at
 * render time (store counts, Kafka lag, model version, ...).
 *
 * Typical use:
 *   struct rec_metric *req = rec_metrics_counter(m, "recd_http_requests_total",
 *                                                "HTTP requests.", "route,status");
 *   rec_metric_add(req, (const char *const[]){"/recommend", "200"}, 1);
 *   char *text = rec_metrics_render(m, &len);    // the body of GET /metrics
 */
#ifndef REC_OBS_METRICS_H
#define REC_OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define REC_METRICS_MAX_LABELS 4        /* label names per family */
#define REC_METRICS_MAX_CHILDREN 1000   /* label combinations per family */
#define REC_METRICS_MAX_BUCKETS 32      /* finite histogram bounds */
#define REC_METRICS_VALUE_MAX 128       /* bytes of a label value kept; longer ones are cut */

struct rec_metrics_registry;       /* the registry */
struct rec_metric;        /* one family: counter, gauge or histogram */
struct rec_metrics_out;   /* render-time writer handed to collectors */

/* A new empty registry, owned by the caller (free with rec_metrics_free); NULL when out of
 * memory. */
struct rec_metrics_registry *rec_metrics_new(void);
/* Frees the registry, its families and their children. NULL is a no-op. No other thread may use
 * the registry or any of its families any more. */
void rec_metrics_free(struct rec_metrics_registry *m);

/* Register a family and return it (owned by the registry, valid until rec_metrics_free).
 * name must match [a-zA-Z_:][a-zA-Z0-9_:]* and not be taken already (recd_metrics_dropped_total
 * is the registry's own); help is free text (NULL: empty); labels is a comma-separated list of
 * label names such as "route,status" (NULL or "" for none), at most REC_METRICS_MAX_LABELS,
 * each matching [a-zA-Z_][a-zA-Z0-9_]*, without "__" prefixes, repeats or spaces (and not "le"
 * for a histogram). Returns NULL on a bad argument, a duplicate name or ENOMEM.
 * Thread-safe (the registry's mutex); meant for start-up, not for hot paths. A family without
 * labels is rendered (as 0) from the start. */
struct rec_metric *rec_metrics_counter(struct rec_metrics_registry *m, const char *name, const char *help,
                                       const char *labels);
struct rec_metric *rec_metrics_gauge(struct rec_metrics_registry *m, const char *name, const char *help,
                                     const char *labels);
/* buckets: 1..REC_METRICS_MAX_BUCKETS finite upper bounds in strictly ascending order (copied);
 * +Inf is implicit. Observations v <= bound fall in that bound's bucket, as in Prometheus. */
struct rec_metric *rec_metrics_histogram(struct rec_metrics_registry *m, const char *name, const char *help,
                                         const char *labels, const double *buckets, int n_buckets);

/* Updates. values holds the label values in declared order (NULL for a family without labels;
 * a NULL values or NULL entry counts as ""); values are compared on their first
 * REC_METRICS_VALUE_MAX bytes. A NULL f is a no-op, and so is a call of the wrong kind (add on a
 * histogram, set on a counter, observe on a counter or gauge).
 * Thread-safe and cheap: an existing label combination is found and updated without a lock; only
 * the first sighting of a combination allocates, under the family's mutex. Past
 * REC_METRICS_MAX_CHILDREN combinations, new ones are dropped, counted in
 * recd_metrics_dropped_total and logged once per family. */
/* Counter: adds v (v < 0 or NaN is ignored: counters only go up). Gauge: adds v (any sign). */
void rec_metric_add(struct rec_metric *f, const char *const *values, double v);
/* Gauge: sets the value to v. */
void rec_metric_set(struct rec_metric *f, const char *const *values, double v);
/* Histogram: counts v in its bucket and adds it to the sum. NaN is ignored. */
void rec_metric_observe(struct rec_metric *f, const char *const *values, double v);

/* A collector runs during rec_metrics_render, on the rendering thread, and emits families
 * computed on demand through rec_metrics_out_family and rec_metrics_out_sample. It must not
 * register families or collectors on the same registry from inside fn, and must use family
 * names of its own. Collectors run in the order they were added, after the registered
 * families. */
typedef void (*rec_metrics_collect_fn)(void *ctx, struct rec_metrics_out *out);
/* Adds a collector; ctx is passed to fn and stays owned by the caller (it must outlive the
 * registry or the last render). Returns 0, REC_EINVAL (NULL m or fn) or REC_ENOMEM.
 * Thread-safe. */
int rec_metrics_add_collector(struct rec_metrics_registry *m, rec_metrics_collect_fn fn, void *ctx);
/* Writes the # HELP and # TYPE lines of a family. type is "counter", "gauge", "histogram",
 * "summary" or "untyped" (anything else is written as "untyped"). A name that is not a valid
 * metric name writes nothing. */
void rec_metrics_out_family(struct rec_metrics_out *o, const char *name, const char *type,
                            const char *help);
/* Writes one sample line: name{label="value",...} v. The labels follow v as const char *
 * pairs, name then value, ended by one NULL: rec_metrics_out_sample(o, "x", 3, "shard", "a",
 * NULL). A sample with an invalid metric or label name is skipped (the exposition stays
 * parseable). Values are escaped. */
void rec_metrics_out_sample(struct rec_metrics_out *o, const char *name, double v, ...);

/* The whole exposition: registered families in registration order (# HELP, # TYPE, one line per
 * child in order of first sighting; histograms as cumulative _bucket{le="..."} lines, +Inf
 * included, then _sum and _count), then recd_metrics_dropped_total, then what the collectors
 * emit. Label values are escaped (\\, \", \n) and invalid UTF-8 in them becomes '?'. Numbers:
 * integers below 1e15 without a fraction, others in the shortest form that reads back exactly,
 * +Inf, -Inf and NaN as Prometheus spells them.
 * Returns a malloc'd NUL-terminated string the caller frees; *len (len may be NULL) gets its
 * length. NULL on ENOMEM or a NULL m. Thread-safe; concurrent updates may or may not be seen,
 * but each histogram child's _count always equals its +Inf bucket. */
char *rec_metrics_render(struct rec_metrics_registry *m, size_t *len);

/* For dashboards: the sum of a counter or gauge over all its label combinations; 0 for a NULL f
 * (a family whose registration failed counts nothing), NaN for a histogram. Thread-safe. */
double rec_metric_total(const struct rec_metric *f);
/* A histogram over all its label combinations: counts[0..n_buckets] get the per-bucket counts
 * (NOT cumulative; counts[n_buckets] is the +Inf bucket), *sum the sum of the observations and
 * *count their number (each of counts, sum, count may be NULL). Returns n_buckets, or -1 when f
 * is NULL or not a histogram. Thread-safe. */
int rec_metric_histogram_totals(const struct rec_metric *f, uint64_t *counts, double *sum,
                                uint64_t *count);
/* The upper bounds of a histogram (owned by f), their number in *n_buckets (n_buckets may be
 * NULL). NULL (and 0) when f is NULL or not a histogram. Thread-safe. */
const double *rec_metric_buckets(const struct rec_metric *f, int *n_buckets);

/* Quantile q of a histogram given as per-bucket counts (n_bounds + 1 of them, the last being
 * +Inf; not cumulative) and ascending bounds[0..n_bounds), computed as Prometheus's
 * histogram_quantile does: find the bucket holding rank q * total and interpolate linearly
 * inside it, the first bucket from 0 (or returning bounds[0] when bounds[0] <= 0). A rank in the
 * +Inf bucket returns the highest finite bound. q = 0 gives the lower edge of the first
 * non-empty bucket. NaN when there is no observation, n_bounds < 1 or q is NaN; -Inf for q < 0,
 * +Inf for q > 1. Pure, thread-safe. */
double rec_histogram_quantile(const double *bounds, int n_bounds, const uint64_t *counts, double q);

#endif
