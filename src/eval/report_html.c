/* report_html.c: the evaluation run as one offline HTML page with hand-drawn SVG charts.
 *
 * Everything is written straight to the FILE: tables first, then charts, each a small function.
 * Charts share one frame layout (struct frame) and "nice" axis steps (1, 2 or 5 times a power of
 * ten). Model colours come from a ten-colour palette (Tableau 10), cycled past ten models; each
 * chart has an HTML legend. Points and bars carry an SVG <title>, which browsers show on hover.
 */
#include "eval/report_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

#define MAX_KS 32

struct column {
    const char *key;    /* field name in the run JSON */
    const char *label;  /* table header and chart title */
    const char *fmt;    /* printf format of a value */
    int per_k;          /* 1: depends on K, headed "label@K" */
};

static const struct column acc_cols[] = {
    {"precision", "Precision", "%.4f", 1}, {"recall", "Recall", "%.4f", 1},
    {"ndcg", "NDCG", "%.4f", 1},           {"map", "MAP", "%.4f", 1},
    {"hr", "HR", "%.4f", 1},               {"mrr", "MRR", "%.4f", 1},
    {"auc", "AUC", "%.4f", 0}, /* over the full ranking: the same at every K */
};

static const struct column beyond_cols[] = {
    {"coverage", "Coverage", "%.4f", 0},     {"diversity", "Diversity (ILD)", "%.4f", 0},
    {"novelty", "Novelty (bits)", "%.3f", 0}, {"arp", "ARP", "%.1f", 0},
    {"head_share", "Head share", "%.4f", 0}, {"gini", "Gini", "%.4f", 0},
};

static const struct column trial_cols[] = {
    {"budget", "Budget", "%g", 0}, {"score", "Score", "%.4f", 0}, {"seconds", "Seconds", "%.2f", 0},
};

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

struct report {
    FILE *out;
    const json_t *run;
    const json_t *models; /* array of objects */
    size_t n_models;
    int ks[MAX_KS];       /* ascending, distinct */
    int n_ks;
};

/* Pixel box of a chart's plot area inside an SVG of size w x h. */
struct frame {
    int w, h;
    double x0, y0, pw, ph; /* left, top, width, height of the plot area */
};

static const char *const css =
    "body{font:14px/1.4 system-ui,sans-serif;color:#222;max-width:1100px;margin:24px auto;"
    "padding:0 16px}h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
    "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px}"
    "th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.best{font-weight:bold}.meta{color:#555}.legend span{margin-right:14px;white-space:nowrap}"
    ".sw{display:inline-block;width:10px;height:10px;margin-right:4px}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}"
    "svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-size:13px;font-weight:bold}";

/* ---- text and JSON helpers -------------------------------------------------------------- */

/* Entity for the characters that are markup, or NULL. */
static const char *entity(unsigned char c)
{
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return NULL;
    }
}

/* Writes s escaped for HTML text and attribute values; NULL writes nothing. Control characters
 * and bytes that do not start a well-formed UTF-8 sequence become '?', so the page stays valid
 * whatever the names hold. */
static void put_text(FILE *out, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        const char *e = entity(c);
        size_t len = c >= 0x80 ? rec_utf8_seq_len(p + i, n - i) : 1;
        if (e)
            fputs(e, out);
        else if (len > 1)
            fwrite(p + i, 1, len, out);
        else if (c >= 0x80 || c == 0x7f || (c < 0x20 && c != '\t' && c != '\n'))
            fputc('?', out);
        else
            fputc(c, out);
        i += len > 1 ? len : 1;
    }
}

static const char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A number field, or NAN when missing or not a number. */
static double num_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Metric name at cut-off k of a {"K": {name: value}} object, or NAN. */
static double at_k(const json_t *by_k, int k, const char *name)
{
    char key[16];
    snprintf(key, sizeof key, "%d", k);
    return num_field(json_object_get(by_k, key), name);
}

/* A fold entry is either {"K": {...}} itself or wraps it as {"metrics": {...}}. */
static const json_t *fold_metrics(const json_t *fold)
{
    const json_t *m = json_object_get(fold, "metrics");
    return json_is_object(m) ? m : fold;
}

/* Mean and spread of a metric of a model at k; NAN where unknown. See report_html.h. */
static void metric_stat(const json_t *model, int k, const char *name, double *mean, double *sd)
{
    *mean = at_k(json_object_get(model, "metrics"), k, name);
    *sd = at_k(json_object_get(model, "std"), k, name);
    const json_t *folds = json_object_get(model, "folds");
    if (!(isnan(*mean) || isnan(*sd)) || !json_is_array(folds))
        return;
    double sum = 0.0, n = 0.0;
    for (size_t f = 0; f < json_array_size(folds); f++) {
        double v = at_k(fold_metrics(json_array_get(folds, f)), k, name);
        if (isfinite(v)) {
            sum += v;
            n += 1.0;
        }
    }
    if (n < 1.0)
        return;
    double fold_mean = sum / n, ss = 0.0;
    for (size_t f = 0; f < json_array_size(folds); f++) {
        double v = at_k(fold_metrics(json_array_get(folds, f)), k, name);
        if (isfinite(v))
            ss += (v - fold_mean) * (v - fold_mean);
    }
    if (isnan(*mean))
        *mean = fold_mean;
    if (isnan(*sd) && n >= 2.0)
        *sd = sqrt(ss / (n - 1.0));
}

static const json_t *model_at(const struct report *r, size_t m)
{
    return json_array_get(r->models, m);
}

static const char *model_name(const struct report *r, size_t m)
{
    const char *s = str_field(model_at(r, m), "name");
    return s ? s : "(unnamed)";
}

static const char *model_color(size_t m)
{
    return palette[m % N_OF(palette)];
}

/* A value with fmt, or "-" when not finite. fmt holds one double conversion from the tables
 * above, never text from the run. */
static void put_num(FILE *out, const char *fmt, double v)
{
    if (isfinite(v))
        fprintf(out, fmt, v);
    else
        fputc('-', out);
}

/* ---- the K ------------------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void add_k(struct report *r, long k)
{
    if (k < 1 || k > 1000000 || r->n_ks == MAX_KS)
        return;
    for (int i = 0; i < r->n_ks; i++)
        if (r->ks[i] == (int)k)
            return;
    r->ks[r->n_ks++] = (int)k;
}

/* The K from run "ks", else from the keys of every model's "metrics"; sorted. */
static void collect_ks(struct report *r)
{
    const json_t *ks = json_object_get(r->run, "ks");
    for (size_t i = 0; i < json_array_size(ks); i++) {
        const json_t *v = json_array_get(ks, i);
        if (json_is_integer(v))
            add_k(r, (long)json_integer_value(v));
    }
    for (size_t m = 0; r->n_ks == 0 && m < r->n_models; m++) {
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)json_object_get(model_at(r, m), "metrics"), key, val)
        {
            char *end;
            long k = strtol(key, &end, 10);
            if (end != key && *end == '\0' && json_is_object(val))
                add_k(r, k);
        }
    }
    qsort(r->ks, (size_t)r->n_ks, sizeof r->ks[0], cmp_int);
}

/* ---- tables ------------------------------------------------------------------------------ */

static void header(const struct report *r)
{
    FILE *out = r->out;
    const char *title = str_field(r->run, "title");
    if (!title)
        title = "recd evaluation";
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>", out);
    put_text(out, title);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", css);
    put_text(out, title);
    fputs("</h1>\n<p class=\"meta\">", out);
    static const char *const meta[][2] = {{"dataset", "Dataset"}, {"protocol", "Protocol"}};
    for (size_t i = 0; i < N_OF(meta); i++) {
        const char *v = str_field(r->run, meta[i][0]);
        if (!v)
            continue;
        fprintf(out, "%s: <b>", meta[i][1]);
        put_text(out, v);
        fputs("</b> &#160; ", out);
    }
    fprintf(out, "Models: %zu &#160; Definitions: docs/EVALUATION.md</p>\n", r->n_models);
}

static void models_table(const struct report *r)
{
    FILE *out = r->out;
    fputs("<h2>Models</h2>\n<table>\n<tr><th>Model</th><th>Parameters</th>"
          "<th>Training s</th><th>Folds</th></tr>\n",
          out);
    for (size_t m = 0; m < r->n_models; m++) {
        const json_t *mo = model_at(r, m);
        fprintf(out, "<tr><td><span class=\"sw\" style=\"background:%s\"></span>", model_color(m));
        put_text(out, model_name(r, m));
        fputs("</td><td>", out);
        put_text(out, str_field(mo, "params"));
        fputs("</td><td class=\"n\">", out);
        put_num(out, "%.3f", num_field(mo, "train_seconds"));
        fputs("</td><td class=\"n\">", out);
        const json_t *folds = json_object_get(mo, "folds");
        if (json_is_array(folds))
            fprintf(out, "%zu", json_array_size(folds));
        else
            fputc('-', out);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

/* Largest finite mean of column c at k over the models, or NAN. */
static double best_mean(const struct report *r, int k, const char *key)
{
    double best = NAN;
    for (size_t m = 0; m < r->n_models; m++) {
        double mean, sd;
        metric_stat(model_at(r, m), k, key, &mean, &sd);
        if (isfinite(mean) && !(mean <= best))
            best = mean;
    }
    return best;
}

/* One table of every model at cut-off k; the best mean of each column is bold. */
static void k_table(const struct report *r, int k)
{
    FILE *out = r->out;
    double best[N_OF(acc_cols)];
    fprintf(out, "<h3>K = %d</h3>\n<table>\n<tr><th>Model</th>", k);
    for (size_t c = 0; c < N_OF(acc_cols); c++) {
        if (acc_cols[c].per_k)
            fprintf(out, "<th>%s@%d</th>", acc_cols[c].label, k);
        else
            fprintf(out, "<th>%s</th>", acc_cols[c].label);
        best[c] = best_mean(r, k, acc_cols[c].key);
    }
    fputs("</tr>\n", out);
    for (size_t m = 0; m < r->n_models; m++) {
        fputs("<tr><td>", out);
        put_text(out, model_name(r, m));
        fputs("</td>", out);
        for (size_t c = 0; c < N_OF(acc_cols); c++) {
            double mean, sd;
            metric_stat(model_at(r, m), k, acc_cols[c].key, &mean, &sd);
            fprintf(out, "<td class=\"n%s\">", mean == best[c] ? " best" : "");
            put_num(out, acc_cols[c].fmt, mean);
            if (isfinite(mean) && isfinite(sd)) {
                fputs(" &#177; ", out);
                put_num(out, acc_cols[c].fmt, sd);
            }
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void accuracy_tables(const struct report *r)
{
    fputs("<h2>Accuracy</h2>\n", r->out);
    if (r->n_ks == 0)
        fputs("<p>No metrics.</p>\n", r->out);
    for (int i = 0; i < r->n_ks; i++)
        k_table(r, r->ks[i]);
}

static int any_beyond(const struct report *r)
{
    for (size_t m = 0; m < r->n_models; m++)
        if (json_is_object(json_object_get(model_at(r, m), "beyond")))
            return 1;
    return 0;
}

static void beyond_table(const struct report *r)
{
    FILE *out = r->out;
    fputs("<table>\n<tr><th>Model</th>", out);
    for (size_t c = 0; c < N_OF(beyond_cols); c++)
        fprintf(out, "<th>%s</th>", beyond_cols[c].label);
    fputs("</tr>\n", out);
    for (size_t m = 0; m < r->n_models; m++) {
        const json_t *b = json_object_get(model_at(r, m), "beyond");
        fputs("<tr><td>", out);
        put_text(out, model_name(r, m));
        fputs("</td>", out);
        for (size_t c = 0; c < N_OF(beyond_cols); c++) {
            fputs("<td class=\"n\">", out);
            put_num(out, beyond_cols[c].fmt, num_field(b, beyond_cols[c].key));
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void trials_table(const struct report *r)
{
    FILE *out = r->out;
    const json_t *trials = json_object_get(r->run, "trials");
    if (!json_is_array(trials) || json_array_size(trials) == 0)
        return;
    fprintf(out, "<h2>Tuning trials (%zu)</h2>\n<table>\n<tr><th>#</th><th>Model</th>"
                 "<th>Parameters</th>", json_array_size(trials));
    for (size_t c = 0; c < N_OF(trial_cols); c++)
        fprintf(out, "<th>%s</th>", trial_cols[c].label);
    fputs("</tr>\n", out);
    for (size_t t = 0; t < json_array_size(trials); t++) {
        const json_t *tr = json_array_get(trials, t);
        fprintf(out, "<tr><td class=\"n\">%zu</td><td>", t + 1);
        put_text(out, str_field(tr, "model"));
        fputs("</td><td>", out);
        put_text(out, str_field(tr, "params"));
        fputs("</td>", out);
        for (size_t c = 0; c < N_OF(trial_cols); c++) {
            fputs("<td class=\"n\">", out);
            put_num(out, trial_cols[c].fmt, num_field(tr, trial_cols[c].key));
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
}

/* ---- chart primitives -------------------------------------------------------------------- */

/* 1, 2 or 5 times a power of ten, so that range spans about target steps. */
static double nice_step(double range, int target)
{
    double raw = range / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

/* Top of a 0-based axis holding max, rounded up to a whole number of *step. */
static double nice_top(double max, int target, double *step)
{
    if (!(max > 0.0) || !isfinite(max))
        max = 1.0;
    *step = nice_step(max, target);
    return ceil(max / *step - 1e-9) * *step;
}

static struct frame make_frame(int w, int h)
{
    return (struct frame){w, h, 52.0, 30.0, (double)w - 52.0 - 14.0, (double)h - 30.0 - 40.0};
}

static void svg_open(FILE *out, const struct frame *f, const char *title)
{
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            f->w, f->h, f->w, f->h);
    put_text(out, title);
    fputs("\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", out);
    fprintf(out, "<text class=\"t\" x=\"%.1f\" y=\"18\">", f->x0);
    put_text(out, title);
    fputs("</text>\n", out);
}

static double y_of(const struct frame *f, double v, double top)
{
    return f->y0 + f->ph - v / top * f->ph;
}

/* Horizontal grid lines and labels from 0 to top every step; the y axis. */
static void y_axis(FILE *out, const struct frame *f, double top, double step, const char *fmt)
{
    int n = (int)floor(top / step + 0.5);
    for (int i = 0; i <= n; i++) {
        double v = step * i, y = y_of(f, v, top);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>",
                f->x0, y, f->x0 + f->pw, y);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", f->x0 - 5.0, y + 4.0);
        fprintf(out, fmt, v);
        fputs("</text>\n", out);
    }
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n",
            f->x0, f->y0, f->x0, f->y0 + f->ph);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n",
            f->x0, f->y0 + f->ph, f->x0 + f->pw, f->y0 + f->ph);
}

/* Axis label under the plot area. */
static void x_label(FILE *out, const struct frame *f, const char *label)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
            f->x0 + f->pw / 2.0, f->h - 6, label);
}

/* A circle with a hover title "model: text". */
static void point(FILE *out, const struct report *r, size_t m, double x, double y, double v,
                  const char *fmt)
{
    fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", x, y,
            model_color(m));
    put_text(out, model_name(r, m));
    fputs(": ", out);
    put_num(out, fmt, v);
    fputs("</title></circle>\n", out);
}

static void legend(const struct report *r)
{
    FILE *out = r->out;
    fputs("<p class=\"legend\">", out);
    for (size_t m = 0; m < r->n_models; m++) {
        fprintf(out, "<span><span class=\"sw\" style=\"background:%s\"></span>", model_color(m));
        put_text(out, model_name(r, m));
        fputs("</span>", out);
    }
    fputs("</p>\n", out);
}

/* ---- charts ------------------------------------------------------------------------------ */

/* Largest finite mean of metric key over models and K (0 if none). */
static double max_over_ks(const struct report *r, const char *key)
{
    double max = 0.0;
    for (size_t m = 0; m < r->n_models; m++)
        for (int i = 0; i < r->n_ks; i++) {
            double mean, sd;
            metric_stat(model_at(r, m), r->ks[i], key, &mean, &sd);
            if (isfinite(mean) && mean > max)
                max = mean;
        }
    return max;
}

/* Metric vs K, one polyline per model; K evenly spaced (a categorical axis). */
static void line_chart(const struct report *r, const char *key, const char *label)
{
    FILE *out = r->out;
    struct frame f = make_frame(440, 280);
    char title[64];
    snprintf(title, sizeof title, "%s@K", label);
    double step, top = nice_top(max_over_ks(r, key), 5, &step);
    svg_open(out, &f, title);
    y_axis(out, &f, top, step, "%.2f");
    double dx = f.pw / r->n_ks;
    for (int i = 0; i < r->n_ks; i++)
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
                f.x0 + dx * (i + 0.5), f.y0 + f.ph + 16.0, r->ks[i]);
    x_label(out, &f, "K");
    for (size_t m = 0; m < r->n_models; m++) {
        fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                model_color(m));
        for (int i = 0; i < r->n_ks; i++) {
            double mean, sd;
            metric_stat(model_at(r, m), r->ks[i], key, &mean, &sd);
            if (isfinite(mean))
                fprintf(out, "%.1f,%.1f ", f.x0 + dx * (i + 0.5), y_of(&f, mean, top));
        }
        fputs("\"/>\n", out);
        for (int i = 0; i < r->n_ks; i++) {
            double mean, sd;
            metric_stat(model_at(r, m), r->ks[i], key, &mean, &sd);
            if (isfinite(mean))
                point(out, r, m, f.x0 + dx * (i + 0.5), y_of(&f, mean, top), mean, "%.4f");
        }
    }
    fputs("</svg>\n", out);
}

/* NDCG at the middle K (the lower middle for an even count) against log10 of training time. */
static void scatter_chart(const struct report *r)
{
    FILE *out = r->out;
    int k = r->ks[(r->n_ks - 1) / 2];
    double lo = INFINITY, hi = -INFINITY, ymax = 0.0;
    for (size_t m = 0; m < r->n_models; m++) {
        double s = num_field(model_at(r, m), "train_seconds"), mean, sd;
        metric_stat(model_at(r, m), k, "ndcg", &mean, &sd);
        if (!(s > 0.0) || !isfinite(s) || !isfinite(mean))
            continue;
        /* Whole decades, at least a tenth of one beyond the extreme points. */
        lo = fmin(lo, floor(log10(s) - 0.1));
        hi = fmax(hi, ceil(log10(s) + 0.1));
        ymax = fmax(ymax, mean);
    }
    fprintf(out, "<h2>Accuracy vs training time</h2>\n");
    if (lo > hi) {
        fputs("<p>No model has both a training time and NDCG at this K.</p>\n", out);
        return;
    }
    struct frame f = make_frame(560, 320);
    char title[64];
    snprintf(title, sizeof title, "NDCG@%d vs training seconds (log scale)", k);
    double step, top = nice_top(ymax, 5, &step);
    svg_open(out, &f, title);
    y_axis(out, &f, top, step, "%.2f");
    double every = ceil((hi - lo) / 10.0); /* at most about ten tick labels */
    for (double e = lo; e <= hi + 0.5; e += every) {
        double x = f.x0 + (e - lo) / (hi - lo) * f.pw;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                x, f.y0, x, f.y0 + f.ph, x, f.y0 + f.ph + 16.0, pow(10.0, e));
    }
    x_label(out, &f, "training seconds");
    for (size_t m = 0; m < r->n_models; m++) {
        double s = num_field(model_at(r, m), "train_seconds"), mean, sd;
        metric_stat(model_at(r, m), k, "ndcg", &mean, &sd);
        if (!(s > 0.0) || !isfinite(s) || !isfinite(mean))
            continue;
        double x = f.x0 + (log10(s) - lo) / (hi - lo) * f.pw, y = y_of(&f, mean, top);
        point(out, r, m, x, y, mean, "%.4f");
        int right = x > f.x0 + 0.75 * f.pw; /* keep labels near the right edge inside */
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\"%s>", right ? x - 6.0 : x + 6.0, y - 6.0,
                right ? " text-anchor=\"end\"" : "");
        put_text(out, model_name(r, m));
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
    legend(r);
}

/* One bar per model for one beyond-accuracy metric, its own 0-based scale. */
static void bar_chart(const struct report *r, const struct column *c)
{
    FILE *out = r->out;
    struct frame f = make_frame(260, 220);
    double max = 0.0;
    for (size_t m = 0; m < r->n_models; m++) {
        double v = num_field(json_object_get(model_at(r, m), "beyond"), c->key);
        if (isfinite(v) && v > max)
            max = v;
    }
    double step, top = nice_top(max, 4, &step);
    svg_open(out, &f, c->label);
    y_axis(out, &f, top, step, top >= 10.0 ? "%.0f" : "%.2f");
    double slot = f.pw / (double)r->n_models, bw = slot * 0.7;
    for (size_t m = 0; m < r->n_models; m++) {
        double v = num_field(json_object_get(model_at(r, m), "beyond"), c->key);
        if (!isfinite(v))
            continue;
        double vv = v < 0.0 ? 0.0 : v, y = y_of(&f, vv, top);
        double x = f.x0 + slot * (double)m + (slot - bw) / 2.0;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                     "<title>",
                x, y, bw, f.y0 + f.ph - y, model_color(m));
        put_text(out, model_name(r, m));
        fputs(": ", out);
        put_num(out, c->fmt, v);
        fputs("</title></rect>\n", out);
        if (r->n_models <= 8) {
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x + bw / 2.0,
                    y - 3.0);
            put_num(out, c->fmt, v);
            fputs("</text>\n", out);
        }
    }
    fputs("</svg>\n", out);
}

static void accuracy_charts(const struct report *r)
{
    if (r->n_ks == 0 || r->n_models == 0)
        return;
    fputs("<h2>NDCG and Recall vs K</h2>\n<div class=\"charts\">\n", r->out);
    line_chart(r, "ndcg", "NDCG");
    line_chart(r, "recall", "Recall");
    fputs("</div>\n", r->out);
    legend(r);
    scatter_chart(r);
}

static void beyond_section(const struct report *r)
{
    if (!any_beyond(r))
        return;
    fputs("<h2>Beyond accuracy</h2>\n", r->out);
    beyond_table(r);
    fputs("<div class=\"charts\">\n", r->out);
    for (size_t c = 0; c < N_OF(beyond_cols); c++)
        bar_chart(r, &beyond_cols[c]);
    fputs("</div>\n", r->out);
    legend(r);
}

/* ---- entry point ------------------------------------------------------------------------- */

int rec_report_html_write(const json_t *run, FILE *out)
{
    if (!json_is_object(run) || !out)
        return REC_EINVAL;
    struct report r = {.out = out, .run = run, .models = json_object_get(run, "models")};
    if (!json_is_array(r.models))
        return REC_EINVAL;
    r.n_models = json_array_size(r.models);
    for (size_t m = 0; m < r.n_models; m++)
        if (!json_is_object(model_at(&r, m)))
            return REC_EINVAL;
    collect_ks(&r);

    header(&r);
    models_table(&r);
    accuracy_tables(&r);
    accuracy_charts(&r);
    beyond_section(&r);
    trials_table(&r);
    fputs("</body>\n</html>\n", out);
    return fflush(out) != 0 || ferror(out) ? REC_EIO : REC_OK;
}
