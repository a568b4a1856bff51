/* import_common.h: pieces shared by the import readers (movielens.c, import_file.c). Internal to
 * src/ingest: nothing outside the importers includes this.
 *
 * One struct rec_import_run carries an import: the sink, the stats, the caller's error buffer and
 * the file being read. Lines come through rec_import_next, which counts them, rejects lines the
 * reader cut or that hold a NUL byte, and reports progress; records go out through the
 * rec_import_emit_* functions, which count them and turn a sink's refusal into an error message.
 * Not thread-safe: a run belongs to one thread.
 */
#ifndef REC_INGEST_IMPORT_COMMON_H
#define REC_INGEST_IMPORT_COMMON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/import.h"
#include "ingest/reader.h"

#define REC_IMPORT_PROGRESS_LINES 65536 /* lines between progress callbacks */

struct rec_import_run {
    const struct rec_import_sink *sink;
    struct rec_import_stats *st;
    char *err;               /* caller's buffer for the message of a fatal error */
    size_t errlen;
    struct rec_reader *rd;   /* current file, NULL between files */
    const char *path;        /* current file as opened (owned by the caller) */
    const char *file;        /* its last path component, used in reasons */
    int64_t line;            /* 1-based number of the line last read */
};

/* Opens path as the run's current file. REC_ENOTFOUND / REC_EIO with a message in run->err.
 * path must stay valid until rec_import_close. */
int rec_import_open(struct rec_import_run *run, const char *path);
/* Next usable line of the current file, NUL-terminated, writable in place until the next call.
 * Returns 1, 0 at the end, or REC_EIO with a message in run->err. Over-long lines and lines with
 * a NUL byte are rejected (counted) and skipped. */
int rec_import_next(struct rec_import_run *run, char **line, size_t *len);
/* Reports final progress and closes the current file; no-op without one. */
void rec_import_close(struct rec_import_run *run);

/* Counts a rejected line and keeps "file:line: reason" while there is room. */
void rec_import_reject(struct rec_import_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Serializes doc compactly and hands it to the sink's item / user callback; takes ownership of
 * doc (decrefs it). A NULL callback drops the record uncounted. Returns 0, or the sink's
 * negative code / REC_ENOMEM with a message in run->err. */
int rec_import_emit_item(struct rec_import_run *run, const char *id, json_t *doc);
int rec_import_emit_user(struct rec_import_run *run, const char *id, json_t *doc);
/* Hands ev to the sink's event callback; same conventions. */
int rec_import_emit_event(struct rec_import_run *run, const struct rec_event *ev);

/* Splits s in place at each occurrence of sep (1 or more bytes), trimming spaces around fields.
 * Stores up to max field pointers in f and returns the number of fields found, which may exceed
 * max (the extra ones are not stored). */
int rec_import_split(char *s, const char *sep, char **f, int max);
/* Whole-string integer / finite number parsers; 0 or REC_EINVAL. */
int rec_import_parse_i64(const char *s, int64_t *out);
int rec_import_parse_f64(const char *s, double *out);
/* Text as UTF-8: s itself when it is valid UTF-8, else s decoded as Latin-1 (ISO-8859-1).
 * Returns a malloc'd string the caller frees, NULL when out of memory. */
char *rec_import_utf8(const char *s, size_t n);
/* 1 when the n bytes at s are well-formed UTF-8. */
int rec_import_utf8_valid(const char *s, size_t n);
/* Unix seconds at 00:00 UTC of a proleptic Gregorian date (month 1..12). */
int64_t rec_import_days_to_unix(int64_t year, int month, int day);

/* MovieLens readers (movielens.c). dir is the dataset directory. */
int rec_import_ml100k(struct rec_import_run *run, const char *dir);
int rec_import_ml1m(struct rec_import_run *run, const char *dir);

#endif
