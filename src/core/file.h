/* file.h: reading a whole (small) file, for configuration files such as experiments and rules;
 * and replacing a file durably, for model snapshots. */
#ifndef REC_CORE_FILE_H
#define REC_CORE_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Reads all of path (at most max bytes) into *out (malloc'd, NUL-terminated; *len bytes before
 * the NUL). Reads in a loop rather than by the file's size, so pipes and /dev/stdin work too.
 * Returns 0, or REC_ENOTFOUND (no such file), REC_EIO, REC_ETOOBIG or REC_ENOMEM with a message
 * starting with the path in err. Thread-safe apart from strerror. */
int rec_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/* Writes a new version of path crash-safely: write(ctx, f) fills PATH.tmp, which is flushed,
 * fsync'd, renamed over path, and the directory fsync'd, so after a crash path holds either
 * the old bytes or all of the new ones (a stale PATH.tmp may be left: callers sweep it). A
 * non-zero return of write, or any I/O failure, removes PATH.tmp and leaves path as it was.
 * *bytes (may be NULL) gets the size written. Returns 0, write's code, REC_ENOMEM, or REC_EIO
 * with errno saying why. One writer per path at a time (the temporary name is fixed). */
int rec_file_replace(const char *path, int (*write)(void *ctx, FILE *f), void *ctx,
                     long long *bytes);

#endif
