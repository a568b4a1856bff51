/* model.h: the one interface every trainable recommender implements (iALS, BPR, EASE, item-kNN,
 * content, popularity), so `recd eval`, `recd tune` and the server's blend drive them alike.
 *
 * A model type is a static table of functions plus a list of hyperparameters. Parameters are
 * plain doubles in the order of the type's spec table, so a tuner can sample them without knowing
 * the model. A fitted model is immutable: any number of threads may score with it at once.
 *
 * Conventions: functions return 0 or a negative REC_E* code (core/err.h); when err is given, a
 * failure also writes a one-line message there (rec_errf).
 */
#ifndef REC_MODEL_MODEL_H
#define REC_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/csr.h"

/* Everything a fit may use. Only ui is always present. */
struct rec_train_input {
    const struct rec_csr *ui;        /* n_users x n_items, interaction strength > 0 per pair */
    const struct rec_csr *iu;        /* its transpose */
    const int64_t *ui_ts;            /* latest event time of each ui entry (Unix s), or NULL */
    const char *const *item_docs;    /* JSON item document per item index, NULL entries allowed;
                                      * {"categories":[],"tags":[],"title","text","attributes":{}} */
    const char *const *user_docs;    /* JSON user document per user index ({"attributes":{}}), or NULL */
    int threads;                     /* worker threads; 0 = number of CPUs */
};

/* A user to score: their row in training (-1 when the model never saw them) and their current
 * history (items with strength, and time when known), which may have grown since the fit. */
struct rec_user_query {
    int32_t user;                    /* row of ui at fit time, or -1 */
    const int32_t *items;            /* n history items (indexes < n_items at fit time) */
    const float *strengths;
    const int64_t *ts;               /* or NULL */
    int n;
    int64_t now;                     /* reference time for decays (Unix s), 0 = latest seen */
    const char *user_doc;            /* JSON user document, or NULL (cold-start by attributes) */
};

enum rec_param_scale { REC_PARAM_LINEAR, REC_PARAM_LOG, REC_PARAM_INT, REC_PARAM_LOG_INT };

struct rec_param_spec {
    const char *name;                /* "factors", "reg", ... */
    double def;                      /* default */
    double lo, hi;                   /* valid range, also the tuning range */
    enum rec_param_scale scale;      /* how a tuner samples it */
    const char *help;
};

struct rec_model;                    /* opaque, owned by the type that made it */

struct rec_model_type {
    const char *name;                /* "als", "bpr", "ease", "itemknn", "content", "pop" */
    const char *summary;             /* one line for --help and reports */
    const struct rec_param_spec *params;
    int n_params;

    /* Trains on in with params[n_params]. */
    int (*fit)(const struct rec_train_input *in, const double *params, struct rec_model **out,
               char *err, size_t errlen);
    void (*destroy)(struct rec_model *m);  /* NULL is a no-op */

    /* scores[i] for every item i < n_items of the fit (higher is better; items the model cannot
     * score get -INFINITY). Thread-safe. */
    int (*score)(const struct rec_model *m, const struct rec_user_query *q, float *scores);

    /* Optional (NULL when the model has no item-item notion): similarity of every item to item. */
    int (*similar)(const struct rec_model *m, int32_t item, float *scores);

    /* Optional persistence: a versioned binary format with a checksum; load returns
     * REC_EFORMAT for a damaged file. */
    int (*save)(const struct rec_model *m, FILE *f);
    int (*load)(FILE *f, struct rec_model **out);
};

/* Registry of every model type. */
const struct rec_model_type *rec_model_find(const char *name);
const struct rec_model_type *const *rec_model_types(int *n);

/* params[] = each spec's default. */
void rec_model_params_default(const struct rec_model_type *t, double *params);
/* Sets params from "name=value,name=value" (unknown names and out-of-range values are errors). */
int rec_model_params_parse(const struct rec_model_type *t, const char *s, double *params, char *err,
                           size_t errlen);
/* Index of a parameter by name, or -1. */
int rec_model_param_index(const struct rec_model_type *t, const char *name);
/* 0 when p (n values for spec[0..n)) is given and every value is in its range, and whole where
 * its scale is an integer one; otherwise REC_EINVAL with "<model>.<param> must be ..." in err. For
 * a model type's fit and load. */
int rec_model_params_check(const char *model, const struct rec_param_spec *spec, int n,
                           const double *p, char *err, size_t errlen);
/* Writes "name=value,..." of every parameter. */
void rec_model_params_format(const struct rec_model_type *t, const double *params, char *buf,
                             size_t len);

#define REC_MODEL_MAX_PARAMS 16

#endif
