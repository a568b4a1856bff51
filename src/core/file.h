/* file.h: reading a whole (small) file, for configuration files such as experiments and rules. */
#ifndef REC_CORE_FILE_H
#define REC_CORE_FILE_H

#include <stddef.h>

/* Reads all of path (at most max bytes) into *out (malloc'd, NUL-terminated; *len bytes before
 * the NUL). Reads in a loop rather than by the file's size, so pipes and /dev/stdin work too.
 * Returns 0, or REC_ENOTFOUND (no such file), REC_EIO, REC_ETOOBIG or REC_ENOMEM with a message
 * starting with the path in err. Thread-safe apart from strerror. */
int rec_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

#endif
