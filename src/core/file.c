/* file.c: see file.h. */
#include "core/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int rec_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return rec_errf(err, errlen, e == ENOENT ? REC_ENOTFOUND : REC_EIO, "%s: cannot open: %s",
                        path, strerror(e));
    }
    const size_t limit = max + 1; /* one byte past the limit tells a file that is too large */
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    while (buf && n < limit) {
        if (n == cap) {
            size_t ncap = cap * 2 < limit ? cap * 2 : limit;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = rec_errf(err, errlen, REC_EIO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!buf)
        return rec_errf(err, errlen, REC_ENOMEM, "%s: out of memory", path);
    if (rc == 0 && n > max)
        rc = rec_errf(err, errlen, REC_ETOOBIG, "%s: larger than %zu bytes", path, max);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
