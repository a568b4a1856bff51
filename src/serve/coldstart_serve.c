/* coldstart_serve.c: cold start in the served engine.
 *
 * Items. Each training run fits the content model (model/content.h) on the item documents and
 * gives every fitted item without history the similarity-weighted mean of the iALS factors of
 * its COLD_NEIGHBORS most content-similar items with history (model/coldstart.h), rescaled to
 * the mean norm of the trained item rows. An item created or re-described while a model is live
 * gets its factors at once, from its document against the live models (rec_cold_fill). The
 * factors live in e->cold, a short list that recommend.c visits per request: dot with the
 * user's factors in the iALS source, cosine in similar lists. An item whose document shares no
 * term with an item with history gets no factors (it would land on the mean of all items and be
 * offered to everybody): it waits for events, as before. The next training replaces cold
 * factors by trained ones for items that got events and recomputes the others.
 *
 * Why rescale: a mean of many vectors is shorter than they are, and an iALS item's norm carries
 * its popularity, so unscaled a new item ranks like the least popular of its look-alikes and is
 * almost never shown. ML-100K, 10% of the items held out as new, 20% of the other ratings as
 * warm test, engine top-50, seeds 1-3 (mean): unscaled, recall of new items 0.015, of warm items
 * 0.582, 0.26 new items per list; scaled to the mean norm 0.087, 0.572, 2.45 per list. Scaling
 * to 1.25x or 1.5x the mean would favour new items at warm items' expense (0.194 / 0.539 and
 * 0.298 / 0.494): the mean norm treats a new item as a typical one, no boost.
 *
 * Users. The attrs model (model/attrs.h) is fitted on the user documents in the same run; a
 * user without history but with attributes is served its list (recommend.c).
 *
 * Restart. A snapshot holds iALS only: content and attrs are refitted from memory right after
 * the snapshot is loaded (trainer.c), a small fraction of an iALS fit. The cold factors are not
 * searched again: the training run saved its cold set next to the snapshot (serve/cold_file.h,
 * models/cold-NNNNNN.bin: item id, hash of the doc the fit saw, factors or "none"), and the load
 * publishes the saved outcome of every item whose doc is still that one (rec_cold_reuse_map);
 * only new and re-described items are searched. The searches were nearly all of the refit: 30 s
 * of 31.5 s for the 43,618 cold items of a 200k-item catalog (content 1.1 s, attrs 0.15 s); the
 * whole refit took 323 s for a million items. The saved factors are the ones the training run
 * published, bit for bit, where a search at load would drift slightly once any doc changed (the
 * IDF moves). Rows learned online (online_items.c) are not saved: a restart forgets them, as
 * before, and such an item has its content factors until the next training. A file that is
 * missing, damaged or of another snapshot (its tag is the snapshot's checksum) is refused whole,
 * with a warning, and every cold item is searched as before. Until a model is published nothing
 * here is used and requests are served as before.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sha256.h"
#include "model/attrs.h"
#include "model/coldstart.h"
#include "model/content.h"
#include "serve/engine_impl.h"

#define COLD_NEIGHBORS 20  /* content neighbours with history averaged into a cold item */
#define COLD_BLOCK 16384   /* cold items computed per parallel batch of the fit */

/* ---- documents ---- */

char *rec_cold_keep_item_doc(const char *doc, int *rc)
{
    json_t *obj = json_loads(doc, 0, NULL);
    int useful = 0;
    const char *key;
    json_t *v;
    if (json_is_object(obj))
        json_object_foreach(obj, key, v) {
            if (!strcmp(key, "categories") || !strcmp(key, "tags") || !strcmp(key, "title") ||
                !strcmp(key, "text"))
                useful = 1;
        }
    json_decref(obj);
    char *keep = useful ? strdup(doc) : NULL;
    if (useful && !keep)
        *rc = REC_ENOMEM;
    return keep;
}

char *rec_cold_keep_user_doc(const char *doc, int *rc)
{
    json_t *obj = json_loads(doc, 0, NULL);
    int useful = json_object_size(json_object_get(obj, "attributes")) > 0;
    json_decref(obj);
    char *keep = useful ? strdup(doc) : NULL;
    if (useful && !keep)
        *rc = REC_ENOMEM;
    return keep;
}

/* ---- the cold set ---- */

static void cold_set_free(struct cold_set *c)
{
    free(c->item);
    free(c->x);
    memset(c, 0, sizeof *c);
}

/* Appends item with factors x; returns its slot or -1 (out of memory). */
static int32_t cold_set_add(struct cold_set *c, int32_t item, const float *x)
{
    if (c->n == c->cap) {
        int32_t cap = c->cap ? c->cap * 2 : 16;
        int32_t *it = realloc(c->item, (size_t)cap * sizeof *it);
        if (!it)
            return -1;
        c->item = it;
        float *nx = realloc(c->x, (size_t)cap * (size_t)c->k * sizeof *nx);
        if (!nx)
            return -1;
        c->x = nx;
        c->cap = cap;
    }
    c->item[c->n] = item;
    memcpy(c->x + (size_t)c->n * c->k, x, (size_t)c->k * sizeof *x);
    return c->n++;
}

/* Removes item i's slot (lock held for write): the last slot moves into it. */
static void cold_drop(struct rec_engine *e, int32_t i)
{
    int32_t s = e->items[i].cold - 1;
    if (s < 0)
        return;
    struct cold_set *c = &e->cold;
    int32_t last = c->n - 1;
    if (s != last) {
        c->item[s] = c->item[last];
        memcpy(c->x + (size_t)s * c->k, c->x + (size_t)last * c->k, (size_t)c->k * sizeof *c->x);
        e->items[c->item[s]].cold = s + 1;
    }
    c->n--;
    e->items[i].cold = 0;
    rec_ann_cold_note(e, i);
}

/* Sets item i's cold factors (lock held for write). */
void rec_cold_put(struct rec_engine *e, int32_t i, const float *x)
{
    int32_t s = e->items[i].cold - 1;
    rec_ann_cold_note(e, i);
    if (s >= 0) {
        memcpy(e->cold.x + (size_t)s * e->cold.k, x, (size_t)e->cold.k * sizeof *x);
        return;
    }
    s = cold_set_add(&e->cold, i, x);
    if (s >= 0)
        e->items[i].cold = s + 1;
}

/* ---- fit at training ---- */

static int row_is_zero(const float *v, int k)
{
    for (int f = 0; f < k; f++)
        if (v[f] != 0)
            return 0;
    return 1;
}

/* Scales v (k floats) to norm (no change for a zero vector). */
static void scale_to(float *v, int k, float norm)
{
    double q = 0;
    for (int f = 0; f < k; f++)
        q += (double)v[f] * v[f];
    if (q > 0)
        for (int f = 0; f < k; f++)
            v[f] = (float)(v[f] * (norm / sqrt(q)));
}

/* Mean norm of the rows of y (n x k) with has[i] set; 0 when none. */
static float mean_norm(const float *y, int32_t n, int k, const uint8_t *has)
{
    double sum = 0;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!has[i])
            continue;
        double q = 0;
        for (int f = 0; f < k; f++)
            q += (double)y[(size_t)i * k + f] * y[(size_t)i * k + f];
        sum += sqrt(q);
        m++;
    }
    return m ? (float)(sum / m) : 0;
}

/* Cold items of the fit waiting for their factors: computed in blocks on the fit's threads,
 * so the buffers stay small, and added in item order, as one thread would. An item a saved
 * cold set decided (reuse) takes the saved outcome instead; only the others are searched. */
struct cold_batch {
    struct rec_cold_fit *f;
    const struct rec_cold_reuse *reuse; /* or NULL */
    const float *y;
    int k, threads;
    int32_t n;
    int32_t *todo;                      /* n items, in item order */
    int32_t *calc;                      /* the todo items to search */
    int *status;
    float *buf;
};

/* The saved entry deciding item i, or -1. */
static int32_t reused_entry(const struct cold_batch *cb, int32_t i)
{
    return cb->reuse ? cb->reuse->entry[i] : -1;
}

static int cold_batch_run(struct cold_batch *cb)
{
    struct rec_cold_fit *f = cb->f;
    int32_t m = 0;
    for (int32_t j = 0; j < cb->n; j++)
        if (reused_entry(cb, cb->todo[j]) < 0)
            cb->calc[m++] = cb->todo[j];
    int rc = rec_coldstart_items_factors(f->content, cb->calc, m, cb->y, cb->k, f->has_hist,
                                         COLD_NEIGHBORS, cb->threads, cb->buf, cb->status);
    for (int32_t j = 0, c = 0; j < cb->n && !rc; j++) {
        int32_t s = reused_entry(cb, cb->todo[j]);
        float *x;
        if (s >= 0) {
            f->n_reused++;
            if (!cb->reuse->file->has_x[s])
                continue; /* the fit found nothing alike with history either */
            x = cb->reuse->file->x + (size_t)s * cb->k; /* scaled when it was computed */
        } else {
            f->n_computed++;
            x = cb->buf + (size_t)c * cb->k;
            if (cb->status[c++] == REC_ENOTFOUND)
                continue; /* nothing alike with history: no factors rather than the mean */
            if ((rc = cb->status[c - 1]))
                break;
            scale_to(x, cb->k, f->cold.norm);
        }
        if (cold_set_add(&f->cold, cb->todo[j], x) < 0)
            rc = REC_ENOMEM;
    }
    cb->n = 0;
    return rc;
}

/* has_hist of the fit, then cold factors of every item with a doc and no trained row. */
static int fit_cold_items(struct rec_cold_fit *f, const struct rec_csr *ui,
                          const char *const *docs, const struct rec_als *m, int threads,
                          const struct rec_cold_reuse *reuse)
{
    int32_t n = f->n_items;
    int k = rec_als_factors(m);
    if (rec_als_n_items(m) != n || n == 0)
        return REC_EINVAL;
    const float *y = rec_als_item_vec(m, 0); /* rows are contiguous: the n x k matrix */
    if (!(f->has_hist = calloc((size_t)n, 1)))
        return REC_ENOMEM;
    for (int64_t p = 0; p < ui->indptr[ui->n_rows]; p++)
        if (ui->values[p] > 0)
            f->has_hist[ui->indices[p]] = 1;
    for (int32_t i = 0; i < n; i++)
        if (f->has_hist[i] && row_is_zero(y + (size_t)i * k, k))
            f->has_hist[i] = 0; /* an item the snapshot did not know: no trained row */
    f->cold.k = k;
    f->cold.norm = mean_norm(y, n, k, f->has_hist);
    if (!docs)
        f->cold_done = 1; /* no item has a doc: nothing is cold */
    if (!f->content || !docs || rec_content_n_items(f->content) != n)
        return 0;
    if (reuse && (!reuse->file || !reuse->entry || reuse->file->k != k))
        reuse = NULL;
    struct cold_batch cb = {f, reuse, y, k, threads, 0, NULL, NULL, NULL, NULL};
    int32_t cap = n < COLD_BLOCK ? n : COLD_BLOCK;
    cb.todo = malloc((size_t)cap * sizeof *cb.todo);
    cb.calc = malloc((size_t)cap * sizeof *cb.calc);
    cb.status = malloc((size_t)cap * sizeof *cb.status);
    cb.buf = malloc((size_t)cap * k * sizeof *cb.buf);
    int rc = cb.todo && cb.calc && cb.status && cb.buf ? 0 : REC_ENOMEM;
    for (int32_t i = 0; i < n && !rc; i++) {
        if (f->has_hist[i] || !docs[i])
            continue;
        cb.todo[cb.n++] = i;
        if (cb.n == cap)
            rc = cold_batch_run(&cb);
    }
    if (!rc && cb.n > 0)
        rc = cold_batch_run(&cb);
    free(cb.todo);
    free(cb.calc);
    free(cb.status);
    free(cb.buf);
    f->cold_done = !rc;
    return rc;
}

static int any_doc(const char *const *docs, int32_t n)
{
    for (int32_t i = 0; docs && i < n; i++)
        if (docs[i])
            return 1;
    return 0;
}

void rec_cold_fit(const struct rec_csr *ui, const char *const *item_docs,
                  const char *const *user_docs, const struct rec_als *m, int threads,
                  const struct rec_cold_reuse *reuse, struct rec_cold_fit *out)
{
    memset(out, 0, sizeof *out);
    double t0 = rec_mono_s(), t_content = t0, t_attrs = t0;
    out->n_items = ui->n_cols;
    struct rec_train_input in = {ui, NULL, NULL, item_docs, user_docs, threads};
    double params[REC_MODEL_MAX_PARAMS];
    char err[256] = "";
    if (any_doc(item_docs, ui->n_cols)) {
        rec_model_params_default(&rec_model_content, params);
        if (rec_model_content.fit(&in, params, &out->content, err, sizeof err))
            rec_warn("engine: content model not fitted: %s", err);
    }
    t_content = rec_mono_s();
    if (any_doc(user_docs, ui->n_rows)) {
        rec_model_params_default(&rec_model_attrs, params);
        if (rec_model_attrs.fit(&in, params, &out->attrs, err, sizeof err))
            rec_warn("engine: attributes model not fitted: %s", err);
    }
    t_attrs = rec_mono_s();
    int rc = m ? fit_cold_items(out, ui, item_docs, m, threads, reuse) : 0;
    if (rc) {
        rec_warn("engine: cold-start item factors not computed: %s", rec_strerror(rc));
        free(out->has_hist);
        out->has_hist = NULL;
        cold_set_free(&out->cold);
        out->cold_done = 0;
    }
    /* the neighbour searches are what a large catalog waits for (hence the saved cold set) */
    rec_debug("engine: cold start fit: content %s (%.2fs), attributes %s (%.2fs), %d cold items "
              "(%d reused, %d searched: %.2fs)", out->content ? "yes" : "no", t_content - t0,
              out->attrs ? "yes" : "no", t_attrs - t_content, (int)out->cold.n,
              (int)out->n_reused, (int)out->n_computed, rec_mono_s() - t_attrs);
}

int rec_cold_fit_export(const struct rec_cold_fit *f, const char *const *docs,
                        const char *const *names, struct rec_cold_file *out)
{
    memset(out, 0, sizeof *out);
    if (!f->cold_done || !f->has_hist || !names)
        return REC_ENOTFOUND;
    int32_t n = f->n_items, k = f->cold.k;
    int32_t *slot = malloc((size_t)(n > 0 ? n : 1) * sizeof *slot); /* item -> cold slot */
    int32_t m = 0;
    for (int32_t i = 0; slot && i < n; i++) {
        slot[i] = -1;
        if (docs && docs[i] && !f->has_hist[i] && names[i] && names[i][0])
            m++;
    }
    for (int32_t s = 0; slot && s < f->cold.n; s++)
        slot[f->cold.item[s]] = s;
    out->k = k;
    out->norm = f->cold.norm;
    out->id = calloc((size_t)(m > 0 ? m : 1), sizeof *out->id);
    out->doc_hash = malloc((size_t)(m > 0 ? m : 1) * REC_COLD_DOC_HASH);
    out->has_x = malloc((size_t)(m > 0 ? m : 1));
    out->x = calloc((size_t)(m > 0 ? m : 1) * (size_t)k, sizeof *out->x);
    int rc = slot && out->id && out->doc_hash && out->has_x && out->x ? 0 : REC_ENOMEM;
    /* ids and docs only: a cold row is a mean of item rows, nothing here names a user */
    for (int32_t i = 0; i < n && !rc; i++) {
        if (!docs || !docs[i] || f->has_hist[i] || !names[i] || !names[i][0])
            continue;
        int32_t j = out->n;
        if (!(out->id[j] = strdup(names[i]))) {
            rc = REC_ENOMEM;
            break;
        }
        out->n++;
        rec_sha256(docs[i], strlen(docs[i]), out->doc_hash + (size_t)j * REC_COLD_DOC_HASH);
        out->has_x[j] = slot[i] >= 0;
        if (slot[i] >= 0)
            memcpy(out->x + (size_t)j * k, f->cold.x + (size_t)slot[i] * k,
                   (size_t)k * sizeof *out->x);
    }
    free(slot);
    if (rc)
        rec_cold_file_free(out);
    return rc;
}

int rec_cold_reuse_map(const struct rec_engine *e, const struct rec_cold_file *cf,
                       const char *const *docs, int32_t n_items, int32_t **entry)
{
    int32_t *m = malloc((size_t)(n_items > 0 ? n_items : 1) * sizeof *m);
    if (!(*entry = m))
        return REC_ENOMEM;
    for (int32_t i = 0; i < n_items; i++)
        m[i] = -1;
    uint8_t h[REC_COLD_DOC_HASH];
    for (int32_t j = 0; j < cf->n && docs; j++) {
        int32_t i = rec_idmap_get(&e->item_ids, cf->id[j]);
        if (i < 0 || i >= n_items || !docs[i])
            continue;
        /* a re-described item is searched anew: its saved factors came from the old doc */
        rec_sha256(docs[i], strlen(docs[i]), h);
        if (!memcmp(h, cf->doc_hash + (size_t)j * REC_COLD_DOC_HASH, sizeof h))
            m[i] = j;
    }
    return 0;
}

void rec_cold_fit_free(struct rec_cold_fit *f)
{
    rec_model_content.destroy(f->content);
    rec_model_attrs.destroy(f->attrs);
    free(f->has_hist);
    cold_set_free(&f->cold);
    memset(f, 0, sizeof *f);
}

void rec_cold_publish(struct rec_engine *e, struct rec_cold_fit *f)
{
    for (int32_t s = 0; s < e->cold.n; s++) {
        e->items[e->cold.item[s]].cold = 0;
        rec_ann_cold_note(e, e->cold.item[s]); /* an index keeps the old factors */
    }
    for (int32_t s = 0; s < f->cold.n; s++)
        rec_ann_cold_note(e, f->cold.item[s]);
    cold_set_free(&e->cold);
    e->cold = f->cold;
    for (int32_t s = 0; s < e->cold.n; s++)
        e->items[e->cold.item[s]].cold = s + 1;
    rec_model_content.destroy(e->content);
    rec_model_attrs.destroy(e->attrs);
    free(e->has_hist);
    e->content = f->content;
    e->attrs = f->attrs;
    e->attrs_n_items = f->n_items;
    e->has_hist = f->has_hist;
    e->n_has_hist = f->has_hist ? f->n_items : 0;
    e->cold_gen++;
    memset(f, 0, sizeof *f);
    rec_online_reset(e); /* the new model has learned from the events the sums held */
}

void rec_cold_destroy(struct rec_engine *e)
{
    struct rec_cold_fit f = {.content = e->content, .attrs = e->attrs, .has_hist = e->has_hist,
                              .cold = e->cold};
    rec_cold_fit_free(&f);
    e->content = e->attrs = NULL;
    e->has_hist = NULL;
    memset(&e->cold, 0, sizeof e->cold);
}

/* ---- items described after the fit ---- */

/* Whether the live model has a trained row for item i. Lock held. */
static int trained(const struct rec_engine *e, int32_t i)
{
    return i < e->n_has_hist && e->has_hist[i];
}

/* Computes i's factors from its doc under the read lock into buf (k floats). Returns 0,
 * REC_ENOTFOUND (no doc, or nothing alike with history: i should have no cold factors),
 * REC_EBUSY (i has a trained row or nothing can be computed: leave it) or another error. */
static int cold_compute(const struct rec_engine *e, int32_t i, float **buf)
{
    if (!e->als || !e->content || !e->has_hist || trained(e, i))
        return REC_EBUSY;
    if (!e->items[i].doc)
        return REC_ENOTFOUND;
    int k = rec_als_factors(e->als);
    int32_t n = rec_content_n_items(e->content);
    if (n > e->n_has_hist || n > rec_als_n_items(e->als) || n <= 0 || e->cold.k != k)
        return REC_EBUSY;
    if (!*buf && !(*buf = malloc((size_t)k * sizeof **buf)))
        return REC_ENOMEM;
    int rc = rec_coldstart_doc_factors(e->content, e->items[i].doc, rec_als_item_vec(e->als, 0),
                                       k, e->has_hist, COLD_NEIGHBORS, *buf);
    if (!rc)
        scale_to(*buf, k, e->cold.norm);
    return rc == REC_EFORMAT ? REC_ENOTFOUND : rc;
}

void rec_cold_fill(struct rec_engine *e, int32_t i)
{
    float *buf = NULL;
    /* a publish between the computation and the install means other factor spaces: redo once */
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&e->lock);
        if (i < 0 || i >= e->item_ids.n_names) {
            pthread_rwlock_unlock(&e->lock);
            break;
        }
        int64_t gen = e->cold_gen;
        uint64_t doc_gen = e->items[i].doc_gen;
        int rc = cold_compute(e, i, &buf);
        pthread_rwlock_unlock(&e->lock);
        if (rc == REC_EBUSY || rc == REC_ENOMEM || rc == REC_EINVAL)
            break;
        int done = 0;
        pthread_rwlock_wrlock(&e->lock);
        /* a newer doc has its own fill under way: this result is stale either way */
        if (e->items[i].doc_gen != doc_gen) {
            done = 1;
        } else if (e->cold_gen == gen) {
            if (rc == 0)
                rec_cold_put(e, i, buf);
            else
                cold_drop(e, i);
            done = 1;
        }
        pthread_rwlock_unlock(&e->lock);
        if (done)
            break;
    }
    free(buf);
}

void rec_cold_refresh(struct rec_engine *e, int32_t n_seen, uint64_t gen)
{
    pthread_rwlock_rdlock(&e->lock);
    int32_t n = e->item_ids.n_names, m = 0;
    int32_t *todo = malloc((size_t)(n > 0 ? n : 1) * sizeof *todo);
    for (int32_t i = 0; todo && i < n; i++)
        if ((i >= n_seen && e->items[i].doc) || e->items[i].doc_gen > gen)
            todo[m++] = i;
    pthread_rwlock_unlock(&e->lock);
    for (int32_t j = 0; j < m; j++)
        rec_cold_fill(e, todo[j]);
    free(todo);
}

const float *rec_cold_item_vec(const struct rec_engine *e, int32_t i)
{
    if (i < 0 || i >= e->item_ids.n_names)
        return NULL;
    if (e->items[i].cold)
        return e->cold.x + (size_t)(e->items[i].cold - 1) * e->cold.k;
    if (!e->als || i >= rec_als_n_items(e->als))
        return NULL;
    if (e->has_hist && !trained(e, i))
        return NULL; /* an untrained row is noise */
    return rec_als_item_vec(e->als, i);
}
