/* cold_file.c: writing and reading the saved cold set; see cold_file.h. */
#include "serve/cold_file.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/file.h"
#include "model/binio.h"

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'C', 'O', 'L', 'D'};
#define FORMAT_VERSION 1u
#define ID_MAX 65536u   /* bytes per item id, as in the snapshot (model/als.c) */
#define MAX_FACTORS 1024

void rec_cold_file_free(struct rec_cold_file *c)
{
    for (int32_t j = 0; c->id && j < c->n; j++)
        free(c->id[j]);
    free(c->id);
    free(c->doc_hash);
    free(c->has_x);
    free(c->x);
    memset(c, 0, sizeof *c);
}

/* Whether row j (k floats) is all zeros. */
static int zero_row(const float *x, int32_t k)
{
    for (int32_t f = 0; f < k; f++)
        if (x[f] != 0)
            return 0;
    return 1;
}

/* The checks a reader makes, so a writer never produces a file its reader refuses. */
static int header_ok(int32_t k, float norm, int32_t n)
{
    return k >= 1 && k <= MAX_FACTORS && isfinite(norm) && norm >= 0 && n >= 0;
}

int rec_cold_file_write(const struct rec_cold_file *c, FILE *f)
{
    if (!c || !f || !header_ok(c->k, c->norm, c->n) || (c->n > 0 && (!c->id || !c->doc_hash ||
                                                                     !c->has_x || !c->x)))
        return REC_EINVAL;
    size_t nk = (size_t)c->n * (size_t)c->k;
    for (int32_t j = 0; j < c->n; j++) {
        size_t len = c->id[j] ? strnlen(c->id[j], ID_MAX + 1) : 0;
        if (len == 0 || len > ID_MAX || c->has_x[j] > 1 ||
            (!c->has_x[j] && !zero_row(c->x + (size_t)j * c->k, c->k)))
            return REC_EINVAL;
    }
    for (size_t p = 0; p < nk; p++)
        if (!isfinite(c->x[p]))
            return REC_EINVAL;
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_head(&w, MAGIC, FORMAT_VERSION);
    rec_binw_u64(&w, c->version);
    rec_binw_u64(&w, c->tag);
    rec_binw_i32(&w, c->k);
    rec_binw_f32(&w, c->norm);
    rec_binw_i32(&w, c->n);
    for (int32_t j = 0; j < c->n; j++) {
        rec_binw_str(&w, c->id[j], strlen(c->id[j]));
        rec_binw_bytes(&w, c->doc_hash + (size_t)j * REC_COLD_DOC_HASH, REC_COLD_DOC_HASH);
        rec_binw_bytes(&w, &c->has_x[j], 1);
    }
    rec_binw_f32s(&w, c->x, nk);
    return rec_binw_finish(&w);
}

/* Reads the n entries' ids, hashes and flags, growing the arrays as they arrive. */
static void read_entries(struct rec_binr *r, struct rec_cold_file *c, int32_t n)
{
    char *tmp = malloc(ID_MAX + 1);
    size_t cap_id = 0, cap_hash = 0, cap_has = 0, len;
    if (!tmp)
        rec_binr_fail(r, REC_ENOMEM);
    for (int32_t j = 0; j < n && !r->rc; j++) {
        uint8_t hash[REC_COLD_DOC_HASH], has;
        if (rec_binr_str(r, tmp, 1, ID_MAX, &len) || rec_binr_bytes(r, hash, sizeof hash) ||
            rec_binr_bytes(r, &has, 1))
            break;
        if (has > 1) {
            rec_binr_fail(r, REC_EFORMAT);
            break;
        }
        if (rec_binr_grow(r, (void **)&c->id, &cap_id, (size_t)j + 1, sizeof *c->id) ||
            rec_binr_grow(r, (void **)&c->doc_hash, &cap_hash, ((size_t)j + 1) * sizeof hash, 1) ||
            rec_binr_grow(r, (void **)&c->has_x, &cap_has, (size_t)j + 1, 1))
            break;
        if (!(c->id[j] = malloc(len + 1))) {
            rec_binr_fail(r, REC_ENOMEM);
            break;
        }
        memcpy(c->id[j], tmp, len + 1);
        c->n = j + 1; /* what free must release, so far */
        memcpy(c->doc_hash + (size_t)j * sizeof hash, hash, sizeof hash);
        c->has_x[j] = has;
    }
    free(tmp);
}

int rec_cold_file_read(FILE *f, struct rec_cold_file *out)
{
    memset(out, 0, sizeof *out);
    if (!f)
        return REC_EINVAL;
    struct rec_binr r;
    rec_binr_init(&r, f);
    if (rec_binr_head(&r, MAGIC) != FORMAT_VERSION)
        rec_binr_fail(&r, REC_EFORMAT);
    uint64_t version = rec_binr_u64(&r), tag = rec_binr_u64(&r);
    int32_t k = rec_binr_i32(&r);
    float norm = rec_binr_f32(&r);
    int32_t n = rec_binr_i32(&r);
    if (!r.rc && !header_ok(k, norm, n))
        rec_binr_fail(&r, REC_EFORMAT);
    if (!r.rc)
        read_entries(&r, out, n);
    float *x = r.rc ? NULL : rec_binr_f32s(&r, (size_t)n * (size_t)k, 1);
    for (int32_t j = 0; x && j < n && !r.rc; j++)
        if (!out->has_x[j] && !zero_row(x + (size_t)j * k, k))
            rec_binr_fail(&r, REC_EFORMAT);
    if (rec_binr_finish(&r) == REC_OK && fgetc(f) != EOF)
        rec_binr_fail(&r, REC_EFORMAT); /* bytes after the end: not a file this code wrote */
    out->x = x;
    if (r.rc) {
        rec_cold_file_free(out);
        return r.rc;
    }
    out->version = version;
    out->tag = tag;
    out->k = k;
    out->norm = norm;
    out->n = n;
    return 0;
}

static int write_file(void *ctx, FILE *f) { return rec_cold_file_write(ctx, f); }

int rec_cold_file_save(const char *path, const struct rec_cold_file *c)
{
    return rec_file_replace(path, write_file, (void *)c, NULL);
}

int rec_cold_file_load(const char *path, uint64_t version, uint64_t tag, int32_t k,
                       struct rec_cold_file *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? REC_ENOTFOUND : REC_EIO;
    int rc = rec_cold_file_read(f, out);
    fclose(f);
    if (!rc && (out->version != version || out->tag != tag || out->k != k)) {
        rec_cold_file_free(out);
        rc = REC_ECONFLICT;
    }
    return rc;
}
