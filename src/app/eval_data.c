/* eval_data.c: loading events and documents for offline evaluation. */
#include "app/eval_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ingest/event.h"
#include "ingest/import.h"
#include "ingest/reader.h"
#include "store/store.h"

static int collect_item(void *ctx, const char *id, const char *doc);
static int collect_user(void *ctx, const char *id, const char *doc);

static int store_item(void *ctx, const char *id, const char *doc, int deleted)
{
    return deleted ? 0 : collect_item(ctx, id, doc);
}

static int store_user(void *ctx, const char *id, const char *doc, int deleted)
{
    return deleted ? 0 : collect_user(ctx, id, doc);
}

static int add_event(struct rec_eval_data *d, const char *user, const char *item, int64_t ts, int type,
                     double value, int from_test)
{
    if (d->n_ev == d->cap_ev) {
        int64_t cap = d->cap_ev ? d->cap_ev * 2 : 65536;
        struct rec_eval_event *p = realloc(d->ev, (size_t)cap * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        d->ev = p;
        d->cap_ev = cap;
    }
    int32_t u = rec_idmap_put(&d->users, user, NULL), i = rec_idmap_put(&d->items, item, NULL);
    if (u < 0 || i < 0)
        return REC_ENOMEM;
    d->ev[d->n_ev++] = (struct rec_eval_event){u, i, ts, type, value, (uint8_t)from_test};
    return 0;
}

static int collect_event(void *ctx, const struct rec_event *ev)
{
    return add_event(ctx, ev->user, ev->item, ev->ts, ev->type, ev->value, 0);
}

/* docs[idx] = strdup(doc), growing docs to cover idx. */
static int put_doc(char ***docs, int32_t *cap, int32_t idx, const char *doc)
{
    if (idx >= *cap) {
        int32_t n = *cap ? *cap : 1024;
        while (n <= idx)
            n *= 2;
        char **p = realloc(*docs, (size_t)n * sizeof *p);
        if (!p)
            return REC_ENOMEM;
        memset(p + *cap, 0, (size_t)(n - *cap) * sizeof *p);
        *docs = p;
        *cap = n;
    }
    char *s = strdup(doc);
    if (!s)
        return REC_ENOMEM;
    free((*docs)[idx]);
    (*docs)[idx] = s;
    return 0;
}

static int collect_item(void *ctx, const char *id, const char *doc)
{
    struct rec_eval_data *d = ctx;
    int32_t i = rec_idmap_put(&d->items, id, NULL);
    return i < 0 ? REC_ENOMEM : put_doc(&d->item_docs, &d->cap_item_docs, i, doc);
}

static int collect_user(void *ctx, const char *id, const char *doc)
{
    struct rec_eval_data *d = ctx;
    int32_t u = rec_idmap_put(&d->users, id, NULL);
    return u < 0 ? REC_ENOMEM : put_doc(&d->user_docs, &d->cap_user_docs, u, doc);
}

/* A split file as evalkit writes it: user TAB item TAB rating TAB ts per line. */
static int read_split_file(struct rec_eval_data *d, const char *path, int from_test, char *err,
                           size_t errlen)
{
    struct rec_reader *r;
    int rc = rec_reader_open(path, &r, err, errlen);
    if (rc)
        return rc;
    const char *line;
    size_t len;
    int64_t lineno = 0;
    while ((rc = rec_reader_line(r, &line, &len, NULL)) == 1) {
        lineno++;
        if (len == 0)
            continue;
        char buf[1024];
        if (len >= sizeof buf) {
            rc = rec_errf(err, errlen, REC_EFORMAT, "%s:%lld: line too long", path, (long long)lineno);
            break;
        }
        memcpy(buf, line, len + 1);
        char *f[4] = {0};
        int nf = 0;
        for (char *save = NULL, *tok = strtok_r(buf, "\t", &save); tok && nf < 4;
             tok = strtok_r(NULL, "\t", &save))
            f[nf++] = tok;
        char *e1 = NULL, *e2 = NULL;
        errno = 0;
        double value = nf > 2 ? strtod(f[2], &e1) : 1.0;
        long long ts = nf > 3 ? strtoll(f[3], &e2, 10) : 0;
        if (nf < 2 || (e1 && *e1) || (e2 && *e2) || errno) {
            rc = rec_errf(err, errlen, REC_EFORMAT,
                          "%s:%lld: expected user<TAB>item[<TAB>rating[<TAB>ts]]", path, (long long)lineno);
            break;
        }
        if ((rc = add_event(d, f[0], f[1], ts, REC_EVENT_RATING, value, from_test)))
            break;
    }
    rec_reader_close(r);
    return rc < 0 ? rc : 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const struct rec_interaction *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Distinct (user, item) pairs with positive summed weight. With split files, a pair is test when
 * any of its events came from the test file. */
static int build_pairs(struct rec_eval_data *d, const double *weights)
{
    size_t n = d->n_ev ? (size_t)d->n_ev : 1;
    struct rec_interaction *p = malloc(n * sizeof *p), *sorted = malloc(n * sizeof *sorted);
    uint8_t *t = malloc(n);
    if (!p || !sorted || !t) {
        free(p);
        free(sorted);
        free(t);
        return REC_ENOMEM;
    }
    for (int64_t j = 0; j < d->n_ev; j++) { /* ts carries the event index through the sort */
        const struct rec_eval_event *e = &d->ev[j];
        sorted[j] = (struct rec_interaction){e->user, e->item,
                                             (float)rec_event_weight(weights, e->type, e->value), j};
    }
    qsort(sorted, (size_t)d->n_ev, sizeof *sorted, cmp_pair);
    int64_t w = 0;
    for (int64_t j = 0; j < d->n_ev; j++) {
        const struct rec_eval_event *e = &d->ev[sorted[j].ts];
        if (w > 0 && p[w - 1].user == e->user && p[w - 1].item == e->item) {
            p[w - 1].value += sorted[j].value;
            if (e->ts > p[w - 1].ts)
                p[w - 1].ts = e->ts;
            t[w - 1] |= e->from_test;
        } else {
            p[w] = (struct rec_interaction){e->user, e->item, sorted[j].value, e->ts};
            t[w] = e->from_test;
            w++;
        }
    }
    free(sorted);
    int64_t k = 0;
    for (int64_t j = 0; j < w; j++)
        if (p[j].value > 0) {
            p[k] = p[j];
            t[k] = t[j];
            k++;
        }
    d->pairs = p;
    d->pair_from_test = t;
    d->n_pairs = k;
    return 0;
}

/* Makes docs cover indexes [0, n) (new entries NULL). */
static int cover_docs(char ***docs, int32_t *cap, int32_t n)
{
    if (n <= *cap)
        return 0;
    char **p = realloc(*docs, (size_t)n * sizeof *p);
    if (!p)
        return REC_ENOMEM;
    memset(p + *cap, 0, (size_t)(n - *cap) * sizeof *p);
    *docs = p;
    *cap = n;
    return 0;
}

int rec_eval_data_load(struct rec_eval_data *d, const char *path, const char *data_dir,
                       const char *train_file, const char *test_file, const double *weights,
                       char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    rec_idmap_init(&d->users);
    rec_idmap_init(&d->items);
    int rc;
    if (train_file) {
        if (!test_file)
            return rec_errf(err, errlen, REC_EINVAL, "--train-file needs --test-file");
        rc = read_split_file(d, train_file, 0, err, errlen);
        if (!rc)
            rc = read_split_file(d, test_file, 1, err, errlen);
    } else if (path) {
        struct rec_import_sink sink = {d, collect_item, collect_user, collect_event, NULL};
        struct rec_import_stats st;
        memset(&st, 0, sizeof st);
        rc = rec_import_path(path, REC_IMPORT_AUTO, &sink, &st, err, errlen);
    } else {
        struct rec_store *store;
        rc = rec_store_open(data_dir, &store, err, errlen);
        if (!rc) {
            rc = rec_store_scan_events(store, 0, collect_event, d);
            if (!rc)
                rc = rec_store_scan_items(store, store_item, d);
            if (!rc)
                rc = rec_store_scan_users(store, store_user, d);
            rec_store_close(store);
        }
    }
    if (!rc)
        rc = build_pairs(d, weights);
    if (!rc)
        rc = cover_docs(&d->item_docs, &d->cap_item_docs, d->items.n_names);
    if (!rc)
        rc = cover_docs(&d->user_docs, &d->cap_user_docs, d->users.n_names);
    return rc;
}

void rec_eval_data_free(struct rec_eval_data *d)
{
    for (int32_t i = 0; i < d->cap_item_docs; i++)
        free(d->item_docs[i]);
    for (int32_t u = 0; u < d->cap_user_docs; u++)
        free(d->user_docs[u]);
    free(d->item_docs);
    free(d->user_docs);
    free(d->ev);
    free(d->pairs);
    free(d->pair_from_test);
    rec_idmap_free(&d->users);
    rec_idmap_free(&d->items);
    memset(d, 0, sizeof *d);
}
