/* fuzz_common.c: see fuzz_common.h. */
#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "model/binio.h"
#include "model/linalg.h"

extern char **environ;

static char dir[256];
static char path_buf[512];

/* Removes path and, for a directory, what it holds. */
static void remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub)
                remove_tree(sub);
        }
        if (d)
            closedir(d);
    }
    remove(path);
}

static void remove_dir(void)
{
    if (dir[0])
        remove_tree(dir);
}

const char *fuzz_dir(void)
{
    if (dir[0])
        return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(dir, sizeof dir, "%s/recd-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", dir, strerror(errno));
        abort();
    }
    atexit(remove_dir);
    return dir;
}

const char *fuzz_path(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", fuzz_dir(), name);
    return path_buf;
}

void fuzz_write(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char *p = data;
    while (fd >= 0 && size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        size -= (size_t)w;
    }
    if (fd < 0 || size > 0 || close(fd) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

void fuzz_unlink(const char *path)
{
    unlink(path);
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

uint8_t *fuzz_fix_checksum(const uint8_t *data, size_t size)
{
    if (size < 8)
        return NULL;
    uint64_t h = rec_binio_fnv1a(REC_BINIO_FNV_OFFSET, data, size - 8);
    uint8_t tail[8];
    for (int i = 0; i < 8; i++)
        tail[i] = (uint8_t)(h >> (8 * i)); /* little-endian, as rec_binw_u64 writes it */
    if (memcmp(data + size - 8, tail, 8) == 0)
        return NULL;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size - 8);
    memcpy(fixed + size - 8, tail, 8);
    return fixed;
}

int fuzz_strict(void)
{
    static int strict = -1;
    if (strict < 0)
        strict = getenv("RECD_FUZZ_STRICT") != NULL;
    return strict;
}

void fuzz_check(int ok, const char *what, const char *file, int line)
{
    if (ok)
        return;
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

void fuzz_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    fuzz_strict(); /* read RECD_FUZZ_STRICT before the RECD_* variables go */
    rec_log_set_level(REC_LOG_OFF);
    json_object_seed(0x5eed);
    rec_linalg_set_blas_threads(1);
    /* unsetenv shifts environ, so restart the scan after each removal */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "RECD_", 5) != 0)
                continue;
            char name[128];
            size_t n = strcspn(*e, "=");
            if (n >= sizeof name)
                continue;
            memcpy(name, *e, n);
            name[n] = '\0';
            unsetenv(name);
            again = 1;
            break;
        }
    }
}

void fuzz_binio_both(const uint8_t *data, size_t size, void (*load)(const uint8_t *, size_t))
{
    load(data, size);
    uint8_t *fixed = fuzz_fix_checksum(data, size);
    if (fixed) {
        load(fixed, size);
        free(fixed);
    }
}
