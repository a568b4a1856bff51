/* fuzz_import.c: see fuzz_import.h. */
#include "fuzz_import.h"

#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_sink.h"

void fuzz_import_file(const uint8_t *data, size_t size, const char *name,
                      enum rec_import_format fmt)
{
    static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    char file[64];
    int zst = size >= 4 && memcmp(data, zstd_magic, 4) == 0;
    snprintf(file, sizeof file, "%s%s", name, zst ? ".zst" : "");
    char path[512];
    snprintf(path, sizeof path, "%s", fuzz_path(file));
    fuzz_write(path, data, size);
    struct fuzz_sink_counts counts = {0};
    struct rec_import_sink sink = fuzz_sink(&counts);
    struct rec_import_stats st;
    char err[512] = "";
    int rc = rec_import_path(path, fmt, &sink, &st, err, sizeof err);
    fuzz_sink_check_result(rc, err, &st, &counts);
    fuzz_unlink(path);
}
