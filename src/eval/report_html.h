/* report_html.h: a self-contained HTML page (inline CSS and SVG, no script, no external asset)
 * summarising an evaluation run for `recd eval --report`.
 *
 * The run is a JSON object (field meanings in docs/EVALUATION.md, "HTML report"):
 *   {"title": str, "dataset": str, "protocol": str, "ks": [5, 10, 20],
 *    "models": [{"name": str, "params": str, "train_seconds": num,
 *                "metrics": {"10": {"precision", "recall", "ndcg", "map", "hr", "mrr", "auc"},
 *                            "5": {...}, ...},
 *                "std": same shape as metrics (optional),
 *                "folds": [same shape as metrics, or {"metrics": same shape}, ...] (optional),
 *                "beyond": {"coverage", "diversity", "novelty", "arp", "head_share", "gini"}}],
 *    "trials": [{"model": str, "params": str, "budget": num, "score": num, "seconds": num}]}
 * Every field but "models" is optional; a missing value prints as "-" and is left out of charts.
 * Without "ks", the K are the keys of the models' "metrics". Without "std", the spread comes from
 * "folds" (sample standard deviation) when there are at least two; without a mean in "metrics",
 * the folds' mean is shown.
 */
#ifndef REC_EVAL_REPORT_HTML_H
#define REC_EVAL_REPORT_HTML_H

#include <jansson.h>
#include <stdio.h>

/* Writes the page for run to out: per-K tables (mean +- std when known), NDCG and Recall vs K
 * line charts, accuracy (NDCG at the middle K) vs training time on a log axis, one bar chart per
 * beyond-accuracy metric, and the trials table when present. All text from run is HTML-escaped
 * (bytes that are not well-formed UTF-8 or are control characters become '?'); the page is
 * also well-formed XML. Numbers use '.' as decimal point as long as the C locale's LC_NUMERIC is
 * in force (recd never changes it). Returns 0; REC_EINVAL when run is not an object or its
 * "models" is not an array of objects; REC_EIO when writing fails (out may then hold part of the
 * page). Reads run only; thread-safe for distinct out. */
int rec_report_html_write(const json_t *run, FILE *out);

#endif
