/* file.c: see file.h. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* fsync of path's directory, so a rename in it survives a power cut. */
static int sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return REC_ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : REC_EIO;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    free(dir);
    errno = saved;
    return rc;
}

int rec_file_replace(const char *path, int (*write)(void *ctx, FILE *f), void *ctx,
                     long long *bytes)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return REC_ENOMEM;
    snprintf(tmp, plen + 5, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(tmp);
        return REC_EIO;
    }
    int rc = write(ctx, f);
    if (!rc && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = REC_EIO;
    if (bytes)
        *bytes = ftell(f);
    if (fclose(f) != 0 && !rc)
        rc = REC_EIO;
    if (!rc && rename(tmp, path) != 0)
        rc = REC_EIO;
    if (rc) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    free(tmp);
    return rc ? rc : sync_parent(path);
}
