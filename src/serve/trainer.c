/* trainer.c: iALS training off the request path, publication of the new model, snapshots.
 *
 * A run copies the positive interactions (and the item and user documents) under the read lock,
 * fits iALS, the blend sources and the cold-start models (coldstart_serve.c) without any lock, then
 * publishes under the write lock: user factors come from the fit for users with no event since
 * the copy, and from a fold-in against the new items for the rest, so no event is forgotten.
 * Requests keep being served from the old model until the swap, which takes milliseconds.
 * On a large catalog the approximate index of the new item rows is built after the swap
 * (build_ann); until it is installed, requests score every item.
 *
 * Files: the snapshot (als-NNNNNN.bin) and the run's cold set (cold-NNNNNN.bin, same number,
 * serve/cold_file.h) live and die together; a restart loads both (rec_engine_load_snapshot).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/halt.h"
#include "core/file.h"
#include "core/log.h"
#include "model/binio.h"
#include "serve/cold_file.h"
#include "serve/engine_impl.h"
#include "store/store.h"

static int all_zero(const float *v, int k)
{
    for (int f = 0; f < k; f++)
        if (v[f] != 0)
            return 0;
    return 1;
}

/* Swaps in m (taking ownership); lock held for write. */
static int publish(struct rec_engine *e, struct rec_als *m, int64_t trained_seq,
                   int64_t trained_events, int64_t version, double duration_s, int64_t trained_at)
{
    int k = rec_als_factors(m);
    if (!e->als || rec_als_factors(e->als) != k) {
        free(e->ux);
        e->ux = NULL;
        e->cap_ux_users = 0;
    }
    if (rec_engine_ux_reserve(e, e->user_ids.n_names, k)) {
        rec_als_destroy(m);
        return REC_ENOMEM;
    }
    struct rec_als *old = e->als;
    e->als = m;
    int32_t n_model_users = rec_als_n_users(m);
    int64_t folded = 0;
    for (int32_t u = 0; u < e->user_ids.n_names; u++) {
        struct user *us = &e->users[u];
        us->has_x = 0;
        if (!us->live || us->n_hist == 0)
            continue;
        const float *row = u < n_model_users ? rec_als_user_vec(m, u) : NULL;
        if (row && us->last_seq <= trained_seq && !all_zero(row, k)) {
            memcpy(e->ux + (size_t)u * k, row, (size_t)k * sizeof(float));
            us->has_x = 1;
        } else {
            /* new since the copy, or unknown to the model (a zero row after a remap) */
            rec_engine_fold_in(e, u);
            folded++;
        }
    }
    e->model.present = 1;
    e->model.version = version;
    e->model.trained_events = trained_events;
    e->model.trained_at = trained_at;
    e->model.duration_s = duration_s;
    e->model.factors = k;
    e->model.n_users = n_model_users;
    e->model.n_items = rec_als_n_items(m);
    e->model_trained_seq = trained_seq;
    rec_ann_cold_forget(e); /* indexes the old model's rows; build_ann makes the new one */
    rec_als_destroy(old);
    rec_debug("engine: published model v%" PRId64 ", %" PRId64 " users folded in", version, folded);
    return 0;
}

/* Builds the approximate index (model/ann.h) of the published model's item rows when it has
 * ann_min_items items or more, and installs it. Called with fit_mu held (e->als changes only
 * under it) and without the engine's lock: requests keep the exact scan meanwhile. */
static void build_ann(struct rec_engine *e)
{
    const struct rec_als *m = e->als;
    if (!m || e->p.ann_min_items <= 0 || rec_als_n_items(m) < e->p.ann_min_items)
        return;
    struct rec_ann_params p;
    rec_ann_params_default(&p);
    p.n_lists = e->p.ann_lists;
    p.threads = e->p.als.threads;
    p.seed = e->p.als.seed;
    double t0 = rec_mono_s();
    struct rec_ann *a = NULL; /* installed; stays while fit_mu is held */
    int rc = rec_ann_cold_build(e, &p, &a);
    if (rc) {
        rec_warn("engine: approximate index not built (%s); every item is scored", rec_strerror(rc));
        return;
    }
    pthread_rwlock_rdlock(&e->lock);
    int64_t version = e->model.version;
    pthread_rwlock_unlock(&e->lock);
    rec_info("engine: approximate index of model v%" PRId64 ": %d lists over %d items, %.0f MiB, "
             "built in %.2fs", version, rec_ann_n_lists(a), rec_ann_n_items(a),
             rec_ann_bytes(a) / 1048576.0, rec_mono_s() - t0);
}

static void free_names(char **names, int32_t n)
{
    if (!names)
        return;
    for (int32_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char **copy_names(const struct rec_idmap *m)
{
    char **names = calloc((size_t)(m->n_names > 0 ? m->n_names : 1), sizeof *names);
    if (!names)
        return NULL;
    for (int32_t i = 0; i < m->n_names; i++)
        if (m->names[i] && !(names[i] = strdup(m->names[i]))) {
            free_names(names, m->n_names);
            return NULL;
        }
    return names;
}

static int64_t meta_get_i64(struct rec_store *s, const char *key)
{
    char *v = NULL;
    if (rec_store_meta_get(s, key, &v))
        return -1;
    int64_t x = strtoll(v, NULL, 10);
    free(v);
    return x;
}

/* The file of kind "als" (the snapshot) or "cold" (its saved cold set, serve/cold_file.h) of
 * version in the model directory, into buf. */
static void model_path(const struct rec_engine *e, const char *kind, int64_t version, char *buf,
                       size_t len)
{
    snprintf(buf, len, "%s/%s-%06" PRId64 ".bin", e->p.model_dir, kind, version);
}

/* Deletes the snapshots (als-NNNNNN.bin) and their cold sets (cold-NNNNNN.bin) of versions
 * outside [keep_from, keep_to], and every stale temporary file of either: callers are the one
 * writer (fit_mu held) or the start, so no write is under way. (A kill while a recorded
 * snapshot's cold set was written leaves cold-NNNNNN.bin.tmp of a kept version.) */
static void remove_snapshots_outside(const char *dir, int64_t keep_from, int64_t keep_to)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[4096];
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        long long v;
        char tail[8]; /* "bin", or "bin.tmp" for a write a crash interrupted */
        int named = sscanf(de->d_name, "als-%lld.%7s", &v, tail) == 2 ||
                    sscanf(de->d_name, "cold-%lld.%7s", &v, tail) == 2;
        if (named && (strcmp(tail, "bin.tmp") == 0 ||
                      (strcmp(tail, "bin") == 0 && (v < keep_from || v > keep_to)))) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

struct snapshot_file {
    const struct rec_als *m;
    const char *const *user_names, *const *item_names;
};

static int write_snapshot(void *ctx, FILE *f)
{
    const struct snapshot_file *sf = ctx;
    return rec_als_save(sf->m, f, sf->user_names, sf->item_names);
}

/* Saves the run's cold set (cold may be NULL: none) next to the recorded snapshot at
 * snap_path, tagged with the snapshot's checksum so that no other snapshot takes it. */
static void save_cold_set(struct rec_engine *e, const char *snap_path, int64_t version,
                          struct rec_cold_file *cold)
{
    if (!cold)
        return; /* a restart searches every cold item, as before */
    char path[4096];
    model_path(e, "cold", version, path, sizeof path);
    FILE *f = fopen(snap_path, "rb");
    int rc = f ? rec_binio_file_tag(f, &cold->tag) : REC_EIO;
    if (f)
        fclose(f);
    cold->version = (uint64_t)version;
    if (!rc)
        rc = rec_cold_file_save(path, cold);
    if (rc)
        rec_warn("engine: cold set %s not saved (%s); a restart will search it again", path,
                 rc == REC_EIO ? strerror(errno) : rec_strerror(rc));
}

/* Writes the snapshot durably (core/file's replace: temporary file, fsync, rename, directory
 * fsync); then records it in the store, then saves the run's cold set next to it. */
static void save_snapshot(struct rec_engine *e, const struct rec_als *m, char **user_names,
                          char **item_names, int64_t version, int64_t trained_seq,
                          int64_t trained_events, double duration_s, int64_t trained_at,
                          int64_t erasures, struct rec_cold_file *cold)
{
    if (!e->p.model_dir || !e->store)
        return;
    mkdir(e->p.model_dir, 0755);
    char path[4096];
    /* a cold set of this number left by a run that was never recorded is not this snapshot's:
     * gone before the snapshot exists (its tag would refuse it anyway) */
    model_path(e, "cold", version, path, sizeof path);
    unlink(path);
    model_path(e, "als", version, path, sizeof path);
    struct snapshot_file sf = {m, (const char *const *)user_names, (const char *const *)item_names};
    int rc = rec_file_replace(path, write_snapshot, &sf, NULL);
    if (rc) {
        rec_warn("engine: snapshot %s not saved: %s", path,
                 rc == REC_EIO ? strerror(errno) : rec_strerror(rc));
        return;
    }
    /* one transaction: a crash never leaves a snapshot recorded under another's version */
    char v_version[32], v_seq[32], v_events[32], v_at[32], v_dur[32];
    snprintf(v_version, sizeof v_version, "%" PRId64, version);
    snprintf(v_seq, sizeof v_seq, "%" PRId64, trained_seq);
    snprintf(v_events, sizeof v_events, "%" PRId64, trained_events);
    snprintf(v_at, sizeof v_at, "%" PRId64, trained_at);
    snprintf(v_dur, sizeof v_dur, "%.3f", duration_s);
    const char *keys[] = {"als.path", "als.version", "als.trained_seq", "als.trained_events",
                          "als.trained_at", "als.duration"};
    const char *values[] = {path, v_version, v_seq, v_events, v_at, v_dur};
    if (rec_store_meta_set_many(e->store, keys, values, 6)) {
        rec_warn("engine: snapshot %s written but not recorded; the previous one stays in use", path);
        return;
    }
    save_cold_set(e, path, version, cold);
    /* keep this snapshot and the previous one (a manual rollback); after a user's erasure,
     * once a snapshot trained without them exists, only this one: the others hold their id and
     * factors (their cold sets go with them: item ids and factors only, but of no use alone).
     * Whatever else is in the directory (left by a crash between a rename and this
     * cleanup) goes too: a later version's file was never recorded, and this run's number
     * replaced it. */
    int64_t keep_from = erasures > e->erasures_snapshotted ? version : version - 1;
    e->erasures_snapshotted = erasures > e->erasures_snapshotted ? erasures : e->erasures_snapshotted;
    remove_snapshots_outside(e->p.model_dir, keep_from, version);
}

/* What a run takes from memory under the read lock. */
struct data_copy {
    struct rec_triplet *t;             /* positive history entries */
    int64_t *ts;                       /* their latest event times; NULL without blended
                                        * sources (only those read them: seqknn) */
    int64_t n_t;
    int32_t n_users, n_items;
    char **item_docs, **user_docs;     /* per index, NULL entries allowed; NULL when none */
    uint64_t doc_gen;                  /* e->doc_gen at the copy */
};

static void data_copy_free(struct data_copy *c)
{
    free(c->t);
    free(c->ts);
    free_names(c->item_docs, c->n_items);
    free_names(c->user_docs, c->n_users);
    memset(c, 0, sizeof *c);
}

/* Copies every positive history entry and the documents. Lock held. 0 or REC_ENOMEM. */
static int copy_data(const struct rec_engine *e, struct data_copy *c)
{
    memset(c, 0, sizeof *c);
    c->n_users = e->user_ids.n_names;
    c->n_items = e->item_ids.n_names;
    c->doc_gen = e->doc_gen;
    int64_t cap = 0;
    int with_ts = e->p.n_sources > 0;
    for (int32_t u = 0; u < c->n_users; u++) {
        const struct user *us = &e->users[u];
        int64_t latest = rec_engine_user_latest(us);
        for (int32_t k = 0; k < us->n_hist; k++) {
            if (us->hist[k].weight <= 0)
                continue;
            if (c->n_t == cap) {
                cap = cap ? cap * 2 : 4096;
                struct rec_triplet *nt = realloc(c->t, (size_t)cap * sizeof *nt);
                if (nt)
                    c->t = nt;
                int64_t *nts = with_ts ? realloc(c->ts, (size_t)cap * sizeof *nts) : NULL;
                if (nts)
                    c->ts = nts;
                if (!nt || (with_ts && !nts))
                    return REC_ENOMEM;
            }
            if (with_ts)
                c->ts[c->n_t] = us->hist[k].ts;
            c->t[c->n_t++] = (struct rec_triplet){u, us->hist[k].item,
                                                  rec_engine_hist_strength(e, &us->hist[k], latest)};
        }
    }
    if (e->n_item_docs > 0) {
        if (!(c->item_docs = calloc((size_t)c->n_items, sizeof *c->item_docs)))
            return REC_ENOMEM;
        for (int32_t i = 0; i < c->n_items; i++)
            if (e->items[i].doc && !(c->item_docs[i] = strdup(e->items[i].doc)))
                return REC_ENOMEM;
    }
    if (e->n_user_docs > 0) {
        if (!(c->user_docs = calloc((size_t)c->n_users, sizeof *c->user_docs)))
            return REC_ENOMEM;
        for (int32_t u = 0; u < c->n_users; u++)
            if (e->users[u].doc && !(c->user_docs[u] = strdup(e->users[u].doc)))
                return REC_ENOMEM;
    }
    return 0;
}

/* The latest event time of each entry of ui (built from c's triplets), for the sources that
 * need the order of a history (seqknn). NULL without copied times (no blended sources) or
 * without memory: a source that needs them then refuses to fit, and so does the run. */
static int64_t *ui_times(const struct rec_csr *ui, const struct data_copy *c)
{
    if (!c->ts)
        return NULL;
    int64_t *ts = calloc((size_t)ui->indptr[ui->n_rows] + 1, sizeof *ts);
    for (int64_t j = 0; ts && j < c->n_t; j++) {
        int32_t item = c->t[j].col;
        int64_t b = ui->indptr[c->t[j].row], lo = 0, hi = ui->indptr[c->t[j].row + 1] - b;
        int64_t len = hi;
        while (lo < hi) { /* rows are sorted by item */
            int64_t mid = (lo + hi) / 2;
            if (ui->indices[b + mid] < item)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < len && ui->indices[b + lo] == item && c->ts[j] > ts[b + lo])
            ts[b + lo] = c->ts[j];
    }
    return ts;
}

int rec_engine_train_now(struct rec_engine *e)
{
    pthread_mutex_lock(&e->fit_mu);
    pthread_mutex_lock(&e->train_mu);
    e->training = 1;
    e->runs_started++;
    pthread_mutex_unlock(&e->train_mu);

    struct data_copy dc;
    char **user_names = NULL, **item_names = NULL;
    int64_t n_t, trained_seq, trained_events, version;
    int32_t n_users, n_items;

    /* exclusive ingest: every committed event is applied, so last_seq is a true watermark */
    rec_engine_ingest_begin(e, 1);
    pthread_rwlock_rdlock(&e->lock);
    int rc = copy_data(e, &dc);
    n_users = dc.n_users;
    n_items = dc.n_items;
    n_t = dc.n_t;
    trained_seq = e->last_seq;
    trained_events = e->n_events;
    version = e->model.version + 1;
    int64_t erasures = atomic_load(&e->erasures); /* this run's data has none of them */
    if (!rc && e->p.model_dir && e->store) {
        user_names = copy_names(&e->user_ids);
        item_names = copy_names(&e->item_ids);
        if (!user_names || !item_names)
            rc = REC_ENOMEM;
    }
    pthread_rwlock_unlock(&e->lock);
    rec_engine_ingest_end(e);

    struct rec_csr ui = {0};
    struct rec_als *m = NULL;
    double t0 = rec_mono_s(), dur = 0;
    if (!rc && n_t == 0)
        rc = REC_EMODEL; /* nothing to learn from yet */
    if (!rc)
        rc = rec_csr_from_triplets(&ui, n_users, n_items, dc.t, n_t);
    int64_t *ui_ts = rc ? NULL : ui_times(&ui, &dc);
    free(dc.t);
    dc.t = NULL;
    if (!rc)
        rc = rec_als_fit(&ui, &e->p.als, &m);
    struct rec_blend *blend = NULL;
    if (!rc && (rc = rec_engine_fit_sources(&e->p, &ui, ui_ts, &blend))) {
        rec_als_destroy(m);
        m = NULL;
    }
    struct rec_cold_fit cold;
    memset(&cold, 0, sizeof cold);
    struct rec_cold_file cold_file;
    memset(&cold_file, 0, sizeof cold_file);
    int cold_saving = 0; /* cold_file holds this run's cold set, to save with the snapshot */
    if (!rc)
        rec_cold_fit(&ui, (const char *const *)dc.item_docs, (const char *const *)dc.user_docs, m,
                     e->p.als.threads, NULL, &cold);
    /* before the publish takes the cold set; only when a snapshot is saved (item_names) */
    if (!rc && item_names)
        cold_saving = rec_cold_fit_export(&cold, (const char *const *)dc.item_docs,
                                          (const char *const *)item_names, &cold_file) == 0;
    rec_csr_free(&ui);
    free(ui_ts);
    dur = rec_mono_s() - t0;
    if (!rc && rec_halt_requested()) { /* a fit was cut short: publish and save nothing */
        rc = REC_ECANCELED;
        rec_als_destroy(m);
        m = NULL;
        if (blend) {
            rec_blend_clear(blend);
            free(blend);
            blend = NULL;
        }
    }

    if (!rc) {
        int64_t now = rec_now_s();
        pthread_rwlock_wrlock(&e->lock);
        rc = publish(e, m, trained_seq, trained_events, version, dur, now);
        if (!rc) {
            struct rec_blend *old = e->blend;
            e->blend = blend;
            blend = old;
            rec_cold_publish(e, &cold);
        }
        pthread_rwlock_unlock(&e->lock);
        if (blend) {
            rec_blend_clear(blend);
            free(blend);
        }
        if (!rc) /* items described since the copy get factors from the new models */
            rec_cold_refresh(e, n_items, dc.doc_gen);
        if (!rc) {
            rec_info("engine: trained iALS v%" PRId64 " on %" PRId64 " events (%" PRId64
                     " pairs, %d users, %d items) in %.2fs", version, trained_events, n_t,
                     n_users, n_items, dur);
            build_ann(e); /* before the snapshot: a large catalog is served exactly meanwhile */
            save_snapshot(e, m, user_names, item_names, version, trained_seq, trained_events,
                          dur, now, erasures, cold_saving ? &cold_file : NULL);
        }
    } else if (rc == REC_ECANCELED) {
        rec_info("engine: training run v%" PRId64 " given up: shutting down", version);
    } else if (rc != REC_EMODEL) {
        rec_error("engine: training failed: %s", rec_strerror(rc));
    }
    rec_cold_fit_free(&cold);
    rec_cold_file_free(&cold_file);
    data_copy_free(&dc);
    free_names(user_names, n_users);
    free_names(item_names, n_items);

    pthread_mutex_lock(&e->train_mu);
    e->training = 0;
    e->runs_done++;
    e->last_train_mono = rec_mono_s();
    pthread_cond_broadcast(&e->done_cv);
    pthread_mutex_unlock(&e->train_mu);
    pthread_mutex_unlock(&e->fit_mu);
    return rc;
}

/* The saved cold set of the loaded snapshot (version, file tag; tag NULL: unknown), lined up
 * with dc's items into *reuse (*file and *entry are then the caller's to free). Returns whether
 * it can be used; when not, says why: the refit then searches every cold item, as before. */
static int load_cold_set(struct rec_engine *e, int64_t version, const uint64_t *tag, int k,
                         const struct data_copy *dc, struct rec_cold_file *file, int32_t **entry,
                         struct rec_cold_reuse *reuse)
{
    char path[4096];
    model_path(e, "cold", version, path, sizeof path);
    int rc = tag ? rec_cold_file_load(path, (uint64_t)version, *tag, k, file) : REC_ENOTFOUND;
    if (!rc) {
        pthread_rwlock_rdlock(&e->lock); /* the id map; a hash per saved item, once at start */
        rc = rec_cold_reuse_map(e, file, (const char *const *)dc->item_docs, dc->n_items, entry);
        pthread_rwlock_unlock(&e->lock);
    }
    if (rc) {
        const char *why = rc == REC_ENOTFOUND   ? "missing"
                          : rc == REC_EFORMAT   ? "damaged"
                          : rc == REC_ECONFLICT ? "of another snapshot"
                                                : rec_strerror(rc);
        rec_warn("engine: saved cold set %s not used (%s); searching the neighbours of every "
                 "cold item", path, why);
        rec_cold_file_free(file);
        free(*entry);
        *entry = NULL;
        return 0;
    }
    *reuse = (struct rec_cold_reuse){file, *entry};
    return 1;
}

/* After a snapshot load: content, attrs, cold factors and the blended sources, from memory
 * against the loaded model (a snapshot holds iALS only). The cold factors of items whose doc
 * is the one the snapshot's training saw come from its saved cold set (tag: the snapshot
 * file's, NULL when unknown); only the others are searched. Failures leave them out: requests
 * never depend on them. */
static void refit_side_models(struct rec_engine *e, const uint64_t *tag)
{
    pthread_mutex_lock(&e->fit_mu); /* e->als changes only under fit_mu */
    struct data_copy dc;
    pthread_rwlock_rdlock(&e->lock);
    const struct rec_als *als = e->als;
    int64_t version = e->model.version;
    int rc = copy_data(e, &dc);
    pthread_rwlock_unlock(&e->lock);
    struct rec_csr ui = {0};
    if (!rc && als)
        rc = rec_csr_from_triplets(&ui, dc.n_users, dc.n_items, dc.t, dc.n_t);
    if (!rc && als) {
        struct rec_cold_file saved;
        memset(&saved, 0, sizeof saved);
        int32_t *entry = NULL;
        struct rec_cold_reuse reuse;
        int use = e->p.model_dir && load_cold_set(e, version, tag, rec_als_factors(als), &dc,
                                                  &saved, &entry, &reuse);
        struct rec_cold_fit cold;
        rec_cold_fit(&ui, (const char *const *)dc.item_docs, (const char *const *)dc.user_docs,
                     als, e->p.als.threads, use ? &reuse : NULL, &cold);
        if (use)
            rec_info("engine: saved cold set of snapshot v%" PRId64 " used: %d cold items reused, "
                     "%d searched", version, (int)cold.n_reused, (int)cold.n_computed);
        rec_cold_file_free(&saved);
        free(entry);
        if (rec_halt_requested()) { /* the fit was cut short; the process is stopping anyway */
            rec_cold_fit_free(&cold);
            rec_info("engine: refit of the side models given up: shutting down");
            goto out;
        }
        /* what was searched here is saved for the snapshot, so the next start reuses it (a
         * store whose file was missing or damaged would otherwise search again every time);
         * exported before the publish takes the cold set */
        struct rec_cold_file fresh;
        memset(&fresh, 0, sizeof fresh);
        int saving = 0;
        if (e->p.model_dir && e->store && (!use || cold.n_computed > 0)) {
            pthread_rwlock_rdlock(&e->lock);
            int32_t n_names = e->item_ids.n_names;
            char **names = copy_names(&e->item_ids);
            pthread_rwlock_unlock(&e->lock);
            saving = names && n_names >= dc.n_items &&
                     rec_cold_fit_export(&cold, (const char *const *)dc.item_docs,
                                         (const char *const *)names, &fresh) == 0;
            free_names(names, n_names);
        }
        pthread_rwlock_wrlock(&e->lock);
        rec_cold_publish(e, &cold);
        pthread_rwlock_unlock(&e->lock);
        rec_cold_fit_free(&cold);
        if (saving) {
            char snap[4096];
            model_path(e, "als", version, snap, sizeof snap);
            save_cold_set(e, snap, version, &fresh);
        }
        rec_cold_file_free(&fresh);
        rec_cold_refresh(e, dc.n_items, dc.doc_gen);
        /* the blended sources are not in the snapshot either */
        struct rec_blend *blend = NULL;
        int64_t *ui_ts = ui_times(&ui, &dc);
        int frc = rec_engine_fit_sources(&e->p, &ui, ui_ts, &blend);
        free(ui_ts);
        if (frc == 0 && blend && rec_halt_requested()) { /* cut short: not a fit */
            rec_blend_clear(blend);
            free(blend);
            blend = NULL;
        }
        if (frc == 0 && blend) {
            pthread_rwlock_wrlock(&e->lock);
            struct rec_blend *old = e->blend;
            e->blend = blend;
            pthread_rwlock_unlock(&e->lock);
            if (old) {
                rec_blend_clear(old);
                free(old);
            }
        }
    } else if (rc) {
        rec_warn("engine: cold-start models not refitted after the snapshot: %s", rec_strerror(rc));
    }
out:
    rec_csr_free(&ui);
    data_copy_free(&dc);
    pthread_mutex_unlock(&e->fit_mu);
}

int rec_engine_load_snapshot(struct rec_engine *e)
{
    if (!e->store)
        return REC_ENOTFOUND;
    char *path = NULL;
    if (rec_store_meta_get(e->store, "als.path", &path))
        return REC_ENOTFOUND;
    /* whatever happens below, later runs number on from the last saved version, so a retrain
     * after a damaged snapshot neither reuses nor orphans file names */
    int64_t last_version = meta_get_i64(e->store, "als.version");
    pthread_rwlock_wrlock(&e->lock);
    if (last_version > e->model.version)
        e->model.version = last_version;
    pthread_rwlock_unlock(&e->lock);
    /* a kill between a snapshot's rename and its recording (or its predecessors' removal) left
     * files no run will load: newer than the recorded one, or older than the one kept with it */
    if (e->p.model_dir && last_version > 0) {
        remove_snapshots_outside(e->p.model_dir, last_version - 1, last_version);
        /* the file is named by its version in today's data directory: the recorded path is
         * another directory's after a copy or a restore elsewhere (it would load that one's
         * file, or none), and a relative --data makes it depend on the working directory */
        char own[4096];
        model_path(e, "als", last_version, own, sizeof own);
        char *dup = strdup(own);
        if (dup) {
            free(path);
            path = dup;
        }
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        rec_warn("engine: model snapshot %s is missing; will retrain", path);
        free(path);
        return REC_ENOTFOUND;
    }
    struct rec_als *m = NULL, *mapped = NULL;
    char **user_names = NULL, **item_names = NULL;
    int rc = rec_als_load(f, &m, &user_names, &item_names);
    uint64_t tag = 0; /* names the snapshot's bytes: its saved cold set must carry the same */
    int tagged = !rc && rec_binio_file_tag(f, &tag) == 0;
    fclose(f);
    if (rc) {
        rec_warn("engine: model snapshot %s is damaged (%s); will retrain", path, rec_strerror(rc));
        free(path);
        return rc;
    }
    free(path);
    int32_t mu = rec_als_n_users(m), mi = rec_als_n_items(m);

    pthread_mutex_lock(&e->fit_mu);
    pthread_rwlock_wrlock(&e->lock);
    int32_t nu = e->user_ids.n_names, ni = e->item_ids.n_names;
    int32_t *umap = malloc((size_t)(nu > 0 ? nu : 1) * sizeof *umap);
    int32_t *imap = malloc((size_t)(ni > 0 ? ni : 1) * sizeof *imap);
    if (!umap || !imap) {
        rc = REC_ENOMEM;
    } else {
        /* line snapshot rows up with today's indexes by id */
        for (int32_t u = 0; u < nu; u++)
            umap[u] = -1;
        for (int32_t i = 0; i < ni; i++)
            imap[i] = -1;
        for (int32_t r = 0; r < mu; r++) {
            int32_t u = user_names[r] && *user_names[r] ? rec_idmap_get(&e->user_ids, user_names[r]) : -1;
            if (u >= 0)
                umap[u] = r;
        }
        for (int32_t r = 0; r < mi; r++) {
            int32_t i = item_names[r] && *item_names[r] ? rec_idmap_get(&e->item_ids, item_names[r]) : -1;
            if (i >= 0)
                imap[i] = r;
        }
        rc = rec_als_remap(m, umap, nu, imap, ni, &mapped);
    }
    if (!rc) {
        int64_t seq = meta_get_i64(e->store, "als.trained_seq");
        int64_t events = meta_get_i64(e->store, "als.trained_events");
        int64_t version = meta_get_i64(e->store, "als.version");
        int64_t at = meta_get_i64(e->store, "als.trained_at");
        char *dur = NULL;
        double duration = 0;
        if (rec_store_meta_get(e->store, "als.duration", &dur) == 0) {
            duration = strtod(dur, NULL);
            free(dur);
        }
        rc = publish(e, mapped, seq, events, version, duration, at);
        mapped = NULL;
        struct rec_cold_fit none;
        memset(&none, 0, sizeof none);
        rec_cold_publish(e, &none); /* nothing of another model's factor space stays */
    }
    int need_train = e->last_seq > e->model_trained_seq;
    pthread_rwlock_unlock(&e->lock);
    pthread_mutex_unlock(&e->fit_mu);
    free(umap);
    free(imap);
    rec_als_destroy(m);
    rec_als_destroy(mapped);
    free_names(user_names, mu);
    free_names(item_names, mi);
    if (!rc) {
        refit_side_models(e, tagged ? &tag : NULL);
        pthread_mutex_lock(&e->fit_mu);
        if (!rec_halt_requested())
            build_ann(e);
        pthread_mutex_unlock(&e->fit_mu);
    }
    if (!rc && need_train)
        rec_engine_note_events(e, 1);
    return rc;
}

/* ---- the trainer thread ---- */

void rec_engine_note_events(struct rec_engine *e, int64_t n)
{
    if (n <= 0)
        return;
    pthread_mutex_lock(&e->train_mu);
    e->events_since_train += n;
    if (e->p.retrain_events > 0 && e->events_since_train >= e->p.retrain_events)
        pthread_cond_signal(&e->train_cv);
    pthread_mutex_unlock(&e->train_mu);
}

static int should_train(struct rec_engine *e, int have_model)
{
    if (e->requested)
        return 1;
    if (e->events_since_train == 0)
        return 0;
    if (!have_model)
        return 1;
    if (e->p.retrain_events > 0 && e->events_since_train >= e->p.retrain_events)
        return 1;
    return e->p.retrain_seconds > 0 &&
           rec_mono_s() - e->last_train_mono >= (double)e->p.retrain_seconds;
}

static void *trainer_main(void *arg)
{
    struct rec_engine *e = arg;
    pthread_mutex_lock(&e->train_mu);
    while (!e->stop) {
        pthread_rwlock_rdlock(&e->lock);
        int have_model = e->model.present;
        pthread_rwlock_unlock(&e->lock);
        if (!should_train(e, have_model)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&e->train_cv, &e->train_mu, &ts);
            continue;
        }
        e->requested = 0;
        e->events_since_train = 0;
        pthread_mutex_unlock(&e->train_mu);
        rec_engine_train_now(e);
        pthread_mutex_lock(&e->train_mu);
    }
    pthread_mutex_unlock(&e->train_mu);
    return NULL;
}

int rec_engine_trainer_start(struct rec_engine *e)
{
    e->last_train_mono = rec_mono_s();
    if (pthread_create(&e->trainer, NULL, trainer_main, e) != 0)
        return REC_EINTERNAL;
    e->trainer_running = 1;
    return 0;
}

void rec_engine_trainer_stop(struct rec_engine *e)
{
    if (!e->trainer_running)
        return;
    rec_engine_shutdown(e);
    pthread_join(e->trainer, NULL);
    e->trainer_running = 0;
}

int rec_engine_request_train(struct rec_engine *e, int wait)
{
    if (!e->trainer_running)
        return rec_engine_train_now(e);
    pthread_mutex_lock(&e->train_mu);
    int64_t target = e->runs_started + 1;
    e->requested = 1;
    pthread_cond_signal(&e->train_cv);
    while (wait && !e->stop && e->runs_done < target)
        pthread_cond_wait(&e->done_cv, &e->train_mu);
    int rc = wait && e->runs_done < target ? REC_EBUSY : 0;
    pthread_mutex_unlock(&e->train_mu);
    return rc;
}

void rec_engine_shutdown(struct rec_engine *e)
{
    pthread_mutex_lock(&e->train_mu);
    e->stop = 1;
    pthread_cond_broadcast(&e->train_cv);
    pthread_cond_broadcast(&e->done_cv);
    pthread_mutex_unlock(&e->train_mu);
}
