/* import.h: readers that turn data files into items, users and events for a sink.
 * Sources: MovieLens 100K directory (u.data, u.item, u.user), MovieLens 1M directory
 * (ratings*.dat, movies.dat in Latin-1 converted to UTF-8, users.dat), generic CSV events and
 * JSON-lines items/users/events. Any file may also be given zstd-compressed (name + ".zst"):
 * readers look for the plain name first, then the .zst one.
 */
#ifndef REC_INGEST_IMPORT_H
#define REC_INGEST_IMPORT_H

#include <stdint.h>

#include "ingest/event.h"

/* Where imported records go. Each callback returns 0 to go on or a negative code to abort the
 * import. Strings are valid only during the call. docs are JSON objects in recd's item/user
 * document format: item {"id","categories":[],"tags":[],"title","text","published_at",
 * "attributes":{}}, user {"id","attributes":{}}. */
struct rec_import_sink {
    void *ctx;
    int (*item)(void *ctx, const char *id, const char *doc);
    int (*user)(void *ctx, const char *id, const char *doc);
    int (*event)(void *ctx, const struct rec_event *ev);
    /* Optional (may be NULL): progress in bytes read of the current file. */
    void (*progress)(void *ctx, const char *file, uint64_t done, uint64_t total);
};

#define REC_IMPORT_MAX_REASONS 10

struct rec_import_stats {
    int64_t items, users, events;   /* records handed to the sink */
    int64_t rejected;               /* lines that could not be used */
    int n_reasons;                  /* first rejections, "file:line: reason" */
    char reasons[REC_IMPORT_MAX_REASONS][256];
};

enum rec_import_format {
    REC_IMPORT_AUTO,     /* decide from what the path holds */
    REC_IMPORT_ML100K,   /* directory with u.data[.zst], u.item, u.user */
    REC_IMPORT_ML1M,     /* directory with ratings*.dat, movies.dat, users.dat */
    REC_IMPORT_CSV,      /* events: header line naming columns user,item[,type][,value][,ts][,id] */
    REC_IMPORT_JSONL     /* one JSON object per line: an event, or {"item":{...}} / {"user":{...}} */
};

/* Parses "auto", "ml100k", "ml1m", "csv", "jsonl"; -1 otherwise. */
int rec_import_format_parse(const char *s);

/* Imports path in the given format. MovieLens ratings become REC_EVENT_RATING events with
 * value = stars. Returns 0 (even with some rejected lines, counted in st) or a negative code
 * with a message in err when the source cannot be read at all or the sink aborted. */
int rec_import_path(const char *path, enum rec_import_format fmt,
                    const struct rec_import_sink *sink, struct rec_import_stats *st, char *err,
                    size_t errlen);

#endif
