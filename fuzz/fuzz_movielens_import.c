/* fuzz_movielens_import: a MovieLens directory as `recd import --format ml100k|ml1m` reads it,
 * built from one input:
 *
 *   line 1        "ml1m" for the 1M layout, anything else for 100K
 *   then          the files, in the order below, separated by lines that are exactly "--";
 *                 a file the input does not reach is absent (the importer treats the metadata
 *                 files as optional and the ratings file as required)
 *   100K:         u.data, u.item, u.user, u.genre
 *   1M:           ratings.dat, movies.dat, users.dat
 *
 * The seeds are made-up lines in the formats of the GroupLens files, never their data (the
 * MovieLens licence forbids redistribution). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "fuzz_sink.h"

static const char *const files_100k[] = {"u.data", "u.item", "u.user", "u.genre"};
static const char *const files_1m[] = {"ratings.dat", "movies.dat", "users.dat"};

/* Length of the line at p (without its '\n') within end. */
static size_t line_len(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    return (size_t)((nl ? nl : end) - p);
}

static int is_separator(const uint8_t *p, size_t n)
{
    return (n == 2 && p[0] == '-' && p[1] == '-') ||
           (n == 3 && p[0] == '-' && p[1] == '-' && p[2] == '\r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    const uint8_t *p = data, *end = data + size;
    size_t n = line_len(p, end);
    int ml1m = n >= 4 && memcmp(p, "ml1m", 4) == 0;
    const char *const *names = ml1m ? files_1m : files_100k;
    int n_files = ml1m ? 3 : 4;
    p += n < (size_t)(end - p) ? n + 1 : n;

    char dir[512];
    snprintf(dir, sizeof dir, "%s", fuzz_path(ml1m ? "ml1m" : "ml100k"));
    mkdir(dir, 0700);
    char path[600];
    for (int f = 0; f < n_files; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        fuzz_unlink(path);
    }
    for (int f = 0; f < n_files && p <= end; f++) {
        const uint8_t *start = p;
        /* the file runs to the next separator line or the end of the input */
        while (p < end) {
            size_t len = line_len(p, end);
            if (is_separator(p, len))
                break;
            p += len < (size_t)(end - p) ? len + 1 : len;
        }
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        fuzz_write(path, start, (size_t)(p - start));
        if (p == end)
            break;
        p += line_len(p, end);
        if (p < end)
            p++; /* the separator's '\n' */
        if (p == end)
            break;
    }

    struct fuzz_sink_counts counts = {0};
    struct rec_import_sink sink = fuzz_sink(&counts);
    struct rec_import_stats st;
    char err[512] = "";
    int rc = rec_import_path(dir, ml1m ? REC_IMPORT_ML1M : REC_IMPORT_ML100K, &sink, &st, err,
                             sizeof err);
    fuzz_sink_check_result(rc, err, &st, &counts);
    return 0;
}
