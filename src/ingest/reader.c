/* reader.c: buffered line reader over a plain file (fread) or a zstd stream (libzstd's
 * streaming decompressor), chosen by the ".zst" suffix of the path.
 *
 * Bytes are decoded into a chunk buffer. A line that lies wholly inside the chunk is handed out
 * in place (its '\n' overwritten by '\0'); a line that straddles a refill is assembled in a
 * separate line buffer that never grows past LINE_MAX bytes, so a file without newlines costs
 * at most CHUNK + LINE_MAX of memory.
 *
 * Thread-safety: a reader belongs to one thread at a time; distinct readers share nothing.
 */
#include "ingest/reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "core/err.h"
#include "core/log.h"

#define LINE_MAX_BYTES ((size_t)1 << 20) /* longer lines are cut here */
#define CHUNK ((size_t)1 << 18)          /* decoded bytes per refill; must stay <= LINE_MAX */

struct rec_reader {
    FILE *f;
    char *path;             /* owned copy, for messages */
    ZSTD_DStream *zs;       /* NULL for plain files */
    unsigned char *zin;     /* compressed input buffer (zstd only) */
    size_t zin_cap;
    ZSTD_inBuffer in;       /* window into zin */
    size_t zlast;           /* last ZSTD_decompressStream hint: 0 at a frame end */
    int zsaw_frame;         /* some input went into the decoder */
    int zfull;              /* last call filled the output: the decoder may hold more */

    char *chunk;            /* decoded bytes, CHUNK + 1 (room for a NUL) */
    size_t chunk_len, chunk_pos;
    char *line;             /* assembly buffer for straddling lines, LINE_MAX + 1 */
    size_t line_len;
    int line_trunc;         /* current assembled line was cut */

    uint64_t pos;           /* file bytes consumed */
    uint64_t size;          /* file size, 0 when unknown (pipes) */
    int eof;                /* source exhausted */
    int failed;             /* a read or decode error happened; sticky */
};

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

int rec_reader_open(const char *path, struct rec_reader **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rec_errf(err, errlen, errno == ENOENT ? REC_ENOTFOUND : REC_EIO, "%s: %s", path,
                        strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || S_ISDIR(sb.st_mode)) {
        fclose(f);
        return rec_errf(err, errlen, REC_EIO, "%s: not a readable file", path);
    }
    struct rec_reader *r = calloc(1, sizeof *r);
    if (!r)
        goto fail_nomem;
    r->f = f;
    r->size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    size_t plen = strlen(path);
    r->path = malloc(plen + 1);
    r->chunk = malloc(CHUNK + 1);
    r->line = malloc(LINE_MAX_BYTES + 1);
    if (!r->path || !r->chunk || !r->line)
        goto fail_nomem;
    memcpy(r->path, path, plen + 1);
    if (has_suffix(path, ".zst")) {
        r->zs = ZSTD_createDStream();
        r->zin_cap = ZSTD_DStreamInSize();
        r->zin = malloc(r->zin_cap);
        if (!r->zs || !r->zin)
            goto fail_nomem;
        size_t zrc = ZSTD_initDStream(r->zs);
        if (ZSTD_isError(zrc)) {
            rec_reader_close(r);
            return rec_errf(err, errlen, REC_EIO, "%s: zstd: %s", path, ZSTD_getErrorName(zrc));
        }
        r->in.src = r->zin;
    }
    *out = r;
    return REC_OK;

fail_nomem:
    if (r)
        rec_reader_close(r); /* closes f */
    else
        fclose(f);
    return rec_errf(err, errlen, REC_ENOMEM, "%s: out of memory", path);
}

/* Fills chunk with the next decoded bytes. Returns 1 with chunk_len > 0, 0 at the end of the
 * source, REC_EIO on a read or decode error (logged once, then sticky). */
static int refill(struct rec_reader *r)
{
    r->chunk_len = r->chunk_pos = 0;
    if (r->failed)
        return REC_EIO;
    if (r->eof)
        return 0;
    if (!r->zs) {
        size_t n = fread(r->chunk, 1, CHUNK, r->f);
        r->pos += n;
        if (n == 0) {
            if (ferror(r->f)) {
                rec_warn("%s: read error", r->path);
                r->failed = 1;
                return REC_EIO;
            }
            r->eof = 1;
            return 0;
        }
        r->chunk_len = n;
        return 1;
    }
    /* zstd: loop until some output appears. Input is read only when the decoder has taken all
     * of it and did not fill the last output (else it may still hold decoded bytes); each pass
     * consumes input or produces output, and fread returning 0 ends the loop. */
    for (;;) {
        if (r->in.pos == r->in.size && !r->zfull) {
            size_t n = fread(r->zin, 1, r->zin_cap, r->f);
            if (n == 0) {
                if (ferror(r->f)) {
                    rec_warn("%s: read error", r->path);
                    r->failed = 1;
                    return REC_EIO;
                }
                r->eof = 1;
                if (r->zlast != 0 || !r->zsaw_frame) {
                    /* an empty .zst file is not a zstd stream either */
                    rec_warn("%s: zstd stream is %s", r->path,
                             r->zsaw_frame ? "truncated" : "empty");
                    r->failed = 1;
                    return REC_EIO;
                }
                return 0;
            }
            r->in.size = n;
            r->in.pos = 0;
            r->zsaw_frame = 1;
        }
        ZSTD_outBuffer out = {r->chunk, CHUNK, 0};
        size_t before = r->in.pos;
        size_t zrc = ZSTD_decompressStream(r->zs, &out, &r->in);
        r->pos += r->in.pos - before;
        if (ZSTD_isError(zrc)) {
            rec_warn("%s: zstd: %s", r->path, ZSTD_getErrorName(zrc));
            r->failed = 1;
            return REC_EIO;
        }
        /* a call that neither took nor gave bytes (flushing after a frame that ended exactly
         * at a full output) says nothing about where the stream stands: keep the old hint */
        if (out.pos > 0 || r->in.pos != before)
            r->zlast = zrc;
        r->zfull = out.pos == out.size;
        if (out.pos > 0) {
            r->chunk_len = out.pos;
            return 1;
        }
    }
}

/* Appends n bytes to the assembly buffer, cutting at LINE_MAX_BYTES. */
static void line_append(struct rec_reader *r, const char *p, size_t n)
{
    size_t room = LINE_MAX_BYTES - r->line_len;
    if (n > room) {
        n = room;
        r->line_trunc = 1;
    }
    memcpy(r->line + r->line_len, p, n);
    r->line_len += n;
}

int rec_reader_line(struct rec_reader *r, const char **line, size_t *len, int *truncated)
{
    r->line_len = 0;
    r->line_trunc = 0;
    int have = 0; /* bytes of this line went into the assembly buffer */
    for (;;) {
        if (r->chunk_pos == r->chunk_len) {
            int rc = refill(r);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                if (!have)
                    return 0;
                break; /* last line without a newline */
            }
        }
        char *start = r->chunk + r->chunk_pos;
        size_t avail = r->chunk_len - r->chunk_pos;
        char *nl = memchr(start, '\n', avail);
        if (nl && !have) {
            /* fast path: the whole line is in the chunk */
            size_t n = (size_t)(nl - start);
            r->chunk_pos += n + 1;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            start[n] = '\0';
            *line = start;
            *len = n;
            if (truncated)
                *truncated = 0;
            return 1;
        }
        if (nl) {
            size_t n = (size_t)(nl - start);
            line_append(r, start, n);
            r->chunk_pos += n + 1;
            break;
        }
        line_append(r, start, avail);
        r->chunk_pos = r->chunk_len;
        have = 1;
    }
    /* a "\r\n" split by a refill, or a lone trailing "\r" at the end of the file; when the line
     * was cut, the \r (if any) was dropped with the rest */
    if (!r->line_trunc && r->line_len > 0 && r->line[r->line_len - 1] == '\r')
        r->line_len--;
    r->line[r->line_len] = '\0';
    *line = r->line;
    *len = r->line_len;
    if (truncated)
        *truncated = r->line_trunc;
    return 1;
}

uint64_t rec_reader_pos(const struct rec_reader *r) { return r->pos; }

uint64_t rec_reader_size(const struct rec_reader *r) { return r->size; }

void rec_reader_close(struct rec_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    ZSTD_freeDStream(r->zs); /* accepts NULL */
    free(r->zin);
    free(r->chunk);
    free(r->line);
    free(r->path);
    free(r);
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

int rec_reader_find(const char *dir, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    if (n > 0 && (size_t)n < outlen && is_file(out))
        return REC_OK;
    n = snprintf(out, outlen, "%s/%s.zst", dir, name);
    if (n > 0 && (size_t)n < outlen && is_file(out))
        return REC_OK;
    if (outlen > 0)
        out[0] = '\0';
    return REC_ENOTFOUND;
}
