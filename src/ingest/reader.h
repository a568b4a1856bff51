/* reader.h: line reader over a plain or zstd-compressed file (chosen by the ".zst" suffix). */
#ifndef REC_INGEST_READER_H
#define REC_INGEST_READER_H

#include <stddef.h>
#include <stdint.h>

struct rec_reader;

/* Opens path; REC_ENOTFOUND / REC_EIO with a message in err. */
int rec_reader_open(const char *path, struct rec_reader **out, char *err, size_t errlen);
/* Next line without its newline (and without a trailing \r), NUL-terminated, valid until the
 * next call; *len gets its length. Returns 1 for a line, 0 at end, negative on error.
 * Lines longer than 1 MiB are returned truncated with *truncated set (may be NULL). */
int rec_reader_line(struct rec_reader *r, const char **line, size_t *len, int *truncated);
/* Compressed bytes consumed so far and the file size, for progress. */
uint64_t rec_reader_pos(const struct rec_reader *r);
uint64_t rec_reader_size(const struct rec_reader *r);
void rec_reader_close(struct rec_reader *r);

/* Finds name in dir, or name.zst; writes the found path into out. 0 or REC_ENOTFOUND. */
int rec_reader_find(const char *dir, const char *name, char *out, size_t outlen);

#endif
