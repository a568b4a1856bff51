/* ranker_file.c: writing and reading the served ranker's file; see ranker_file.h. */
#include "serve/ranker_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "model/binio.h"
#include "rank/fm.h"
#include "serve/ranker.h"

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'R', 'A', 'N', 'K'};
/* 2: the side-feature scale (f64) after the feature mask; a version-1 file was learned with 0 */
#define FORMAT_VERSION 2u

/* One save at a time in the process: they share PATH.tmp. */
static pthread_mutex_t save_mu = PTHREAD_MUTEX_INITIALIZER;

/* The directory part of path ("." when it has none) into buf. */
static void dir_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == path)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

static int write_state(void *ctx, FILE *f)
{
    const struct rec_ranker_state *st = ctx;
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_u32(&w, st->features);
    rec_binw_f64(&w, st->side_scale);
    rec_binw_u64(&w, (uint64_t)st->positives);
    rec_binw_u64(&w, (uint64_t)st->negatives);
    rec_auc_write(&st->auc, &w);
    int rc = rec_binw_finish(&w);
    return rc ? rc : rec_fm_write(st->fm, f);
}

int rec_ranker_save(struct rec_ranker *r, const char *path, struct rec_ranker_saved *saved,
                    char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *dir = malloc(plen + 2);
    struct rec_ranker_state *st = calloc(1, sizeof *st); /* 32 KiB of AUC bins: not the stack */
    struct rec_ranker_saved info = {0};
    int rc = dir && st ? rec_ranker_get_state(r, st, &info.changes, &info.erasures) : REC_ENOMEM;
    if (rc) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "ranker save: out of memory");
        goto out;
    }
    dir_of(path, dir, plen + 2);
    long long bytes = 0;
    pthread_mutex_lock(&save_mu);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        rc = REC_EIO;
    else
        rc = rec_file_replace(path, write_state, st, &bytes);
    pthread_mutex_unlock(&save_mu);
    info.bytes = bytes;
    if (rc)
        rc = rec_errf(err, errlen, rc, "ranker save: cannot write %s: %s", path, strerror(errno));
    info.examples = st->positives + st->negatives;
    if (!rc && saved)
        *saved = info;
out:
    if (st)
        rec_fm_free(st->fm);
    free(st);
    free(dir);
    return rc;
}

/* Reads part 1 and part 2 from f into st; 0, or the error with *why naming the damage. */
static int read_state(FILE *f, struct rec_ranker_state *st, char *why, size_t whylen)
{
    struct rec_binr rd;
    rec_binr_init(&rd, f);
    snprintf(why, whylen, "not a ranker file");
    uint32_t version = rec_binr_head(&rd, MAGIC);
    if (!rd.rc && version != 1 && version != FORMAT_VERSION) {
        snprintf(why, whylen, "unknown version %u", (unsigned)version);
        return rec_binr_fail(&rd, REC_EFORMAT);
    }
    if (rd.rc)
        return rd.rc;
    snprintf(why, whylen, "truncated or damaged header");
    st->features = rec_binr_u32(&rd);
    st->side_scale = version >= 2 ? rec_binr_f64(&rd) : 0;
    if (!rd.rc && !(st->side_scale >= 0 && st->side_scale <= 100))
        rec_binr_fail(&rd, REC_EFORMAT);
    st->positives = (int64_t)rec_binr_u64(&rd);
    st->negatives = (int64_t)rec_binr_u64(&rd);
    rec_auc_read(&st->auc, &rd);
    if (!rd.rc && (st->positives < 0 || st->negatives < 0))
        rec_binr_fail(&rd, REC_EFORMAT);
    if (!rd.rc && rec_binr_finish(&rd) != REC_OK)
        snprintf(why, whylen, "header checksum mismatch");
    if (rd.rc)
        return rd.rc;
    char msg[256];
    int rc = rec_fm_read(f, &st->fm, msg, sizeof msg);
    if (rc) {
        snprintf(why, whylen, "model: %s", msg);
        return rc;
    }
    if (fgetc(f) != EOF) {
        snprintf(why, whylen, "bytes after the model");
        return REC_EFORMAT;
    }
    if (ferror(f)) {
        snprintf(why, whylen, "read error");
        return REC_EIO;
    }
    return 0;
}

int rec_ranker_load(struct rec_ranker *r, const char *path, char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (tmp) { /* a save a crash interrupted; the file itself is whole (rename) */
        snprintf(tmp, plen + 5, "%s.tmp", path);
        unlink(tmp);
        free(tmp);
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return rec_errf(err, errlen, errno == ENOENT ? REC_ENOTFOUND : REC_EIO, "%s: %s", path,
                        strerror(errno));
    struct rec_ranker_state *st = calloc(1, sizeof *st);
    char why[320];
    int rc = st ? read_state(f, st, why, sizeof why) : REC_ENOMEM;
    fclose(f);
    if (rc == REC_ENOMEM)
        rc = rec_errf(err, errlen, rc, "%s: out of memory", path);
    else if (rc)
        rc = rec_errf(err, errlen, rc, "%s: %s", path, why);
    else if ((rc = rec_ranker_set_state(r, st, why, sizeof why)))
        rc = rec_errf(err, errlen, rc, "%s: %s", path, why);
    if (st)
        rec_fm_free(st->fm);
    free(st);
    return rc;
}
