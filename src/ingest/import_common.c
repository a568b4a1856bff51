/* import_common.c: line intake, rejection bookkeeping, sink calls and small text helpers shared
 * by the import readers. */
#include "ingest/import_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

int rec_import_open(struct rec_import_run *run, const char *path)
{
    int rc = rec_reader_open(path, &run->rd, run->err, run->errlen);
    if (rc < 0)
        return rc;
    run->path = path;
    const char *slash = strrchr(path, '/');
    run->file = slash && slash[1] ? slash + 1 : path;
    run->line = 0;
    return REC_OK;
}

static void progress(struct rec_import_run *run)
{
    if (run->sink->progress)
        run->sink->progress(run->sink->ctx, run->path, rec_reader_pos(run->rd),
                            rec_reader_size(run->rd));
}

int rec_import_next(struct rec_import_run *run, char **line, size_t *len)
{
    for (;;) {
        const char *l;
        int trunc = 0;
        int rc = rec_reader_line(run->rd, &l, len, &trunc);
        if (rc < 0)
            return rec_errf(run->err, run->errlen, rc, "%s: cannot read past line %lld (corrupt or "
                            "truncated file?)", run->path, (long long)run->line);
        if (rc == 0)
            return 0;
        run->line++;
        if (run->line % REC_IMPORT_PROGRESS_LINES == 0)
            progress(run);
        if (trunc) {
            rec_import_reject(run, "line longer than 1 MiB");
            continue;
        }
        if (memchr(l, '\0', *len)) {
            rec_import_reject(run, "NUL byte in line");
            continue;
        }
        *line = (char *)l; /* the reader's buffer is ours until the next call */
        return 1;
    }
}

void rec_import_close(struct rec_import_run *run)
{
    if (!run->rd)
        return;
    progress(run);
    rec_reader_close(run->rd);
    run->rd = NULL;
}

void rec_import_reject(struct rec_import_run *run, const char *fmt, ...)
{
    struct rec_import_stats *st = run->st;
    st->rejected++;
    if (st->n_reasons >= REC_IMPORT_MAX_REASONS)
        return;
    char *buf = st->reasons[st->n_reasons++];
    size_t cap = sizeof st->reasons[0];
    int n = snprintf(buf, cap, "%s:%lld: ", run->file, (long long)run->line);
    if (n < 0 || (size_t)n >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static int sink_refused(struct rec_import_run *run, int rc)
{
    return rec_errf(run->err, run->errlen, rc, "%s:%lld: import stopped by its destination: %s",
                    run->file ? run->file : "?", (long long)run->line, rec_strerror(rc));
}

static int emit_doc(struct rec_import_run *run, int (*cb)(void *, const char *, const char *),
                    const char *id, json_t *doc, int64_t *count)
{
    if (!cb) {
        json_decref(doc);
        return REC_OK;
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return rec_errf(run->err, run->errlen, REC_ENOMEM, "out of memory building a document");
    int rc = cb(run->sink->ctx, id, text);
    free(text);
    if (rc < 0)
        return sink_refused(run, rc);
    (*count)++;
    return REC_OK;
}

int rec_import_emit_item(struct rec_import_run *run, const char *id, json_t *doc)
{
    return emit_doc(run, run->sink->item, id, doc, &run->st->items);
}

int rec_import_emit_user(struct rec_import_run *run, const char *id, json_t *doc)
{
    return emit_doc(run, run->sink->user, id, doc, &run->st->users);
}

int rec_import_emit_event(struct rec_import_run *run, const struct rec_event *ev)
{
    if (!run->sink->event)
        return REC_OK;
    int rc = run->sink->event(run->sink->ctx, ev);
    if (rc < 0)
        return sink_refused(run, rc);
    run->st->events++;
    return REC_OK;
}

static char *trim(char *s, char *end)
{
    while (s < end && *s == ' ')
        s++;
    while (end > s && end[-1] == ' ')
        end--;
    *end = '\0';
    return s;
}

int rec_import_split(char *s, const char *sep, char **f, int max)
{
    size_t seplen = strlen(sep);
    int n = 0;
    for (;;) {
        char *hit = strstr(s, sep);
        char *end = hit ? hit : s + strlen(s);
        char *field = trim(s, end);
        if (n < max)
            f[n] = field;
        n++;
        if (!hit)
            return n;
        s = hit + seplen;
    }
}

int rec_import_parse_i64(const char *s, int64_t *out)
{
    if (!*s)
        return REC_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return REC_EINVAL;
    *out = (int64_t)v;
    return REC_OK;
}

int rec_import_parse_f64(const char *s, double *out)
{
    if (!*s)
        return REC_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return REC_EINVAL;
    *out = v;
    return REC_OK;
}

int rec_import_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        size_t k = rec_utf8_seq_len(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

char *rec_import_utf8(const char *s, size_t n)
{
    int keep = rec_import_utf8_valid(s, n);
    char *out = malloc(keep ? n + 1 : 2 * n + 1);
    if (!out)
        return NULL;
    if (keep) {
        memcpy(out, s, n);
        out[n] = '\0';
        return out;
    }
    /* Latin-1 maps byte b to code point b: one byte below 0x80, two above */
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            *o++ = (char)c;
        } else {
            *o++ = (char)(0xC0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *o = '\0';
    return out;
}

int64_t rec_import_days_to_unix(int64_t y, int m, int d)
{
    /* days from civil (H. Hinnant), exact for any proleptic Gregorian date */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (era * 146097 + doe - 719468) * 86400;
}
