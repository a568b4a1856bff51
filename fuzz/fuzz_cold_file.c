/* fuzz_cold_file: a saved cold set (serve/cold_file.h, binio format) through rec_cold_file_read.
 * Each input is read as given and, when its trailing checksum does not match, once more with
 * the checksum fixed, so mutations reach the checks behind it. A set that loads must write back
 * to the very same bytes (one encoding per set) and hold what the header promises; a refused
 * one hands out nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_common.h"
#include "serve/cold_file.h"

static void check_loaded(const struct rec_cold_file *c, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(c->k >= 1 && c->k <= 1024 && c->n >= 0 && isfinite(c->norm) && c->norm >= 0,
               "a loaded set has a sound header");
    for (int32_t j = 0; j < c->n; j++) {
        FUZZ_CHECK(c->id[j] && c->id[j][0], "every entry is named");
        FUZZ_CHECK(c->has_x[j] <= 1, "an entry's flag is 0 or 1");
        for (int32_t f = 0; f < c->k; f++) {
            float v = c->x[(size_t)j * c->k + f];
            FUZZ_CHECK(isfinite(v) && (c->has_x[j] || v == 0), "factors are finite, or zero");
        }
    }
    FILE *f = tmpfile();
    FUZZ_CHECK(f != NULL, "a temporary file");
    FUZZ_CHECK(rec_cold_file_write(c, f) == 0, "a loaded set writes");
    long n = ftell(f);
    uint8_t *again = malloc(n > 0 ? (size_t)n : 1);
    rewind(f);
    FUZZ_CHECK(again && fread(again, 1, (size_t)n, f) == (size_t)n, "read back");
    fclose(f);
    FUZZ_CHECK((size_t)n == size && memcmp(again, data, size) == 0,
               "a loaded set writes the bytes it was read from");
    free(again);
}

static void load(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("cold.bin");
    fuzz_write(path, data, size);
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "the input opens");
    struct rec_cold_file c;
    int rc = rec_cold_file_read(f, &c);
    fclose(f);
    if (rc == 0) {
        check_loaded(&c, data, size);
    } else {
        FUZZ_CHECK(c.n == 0 && !c.id && !c.x && !c.has_x && !c.doc_hash,
                   "a refused set hands out nothing");
        FUZZ_CHECK(rc == REC_EFORMAT, "a damaged set is REC_EFORMAT");
    }
    rec_cold_file_free(&c);
    fuzz_unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    fuzz_binio_both(data, size, load);
    return 0;
}
