/* fuzz_fm_snapshot: a saved ranker (rank/fm.h, binio format) through rec_fm_load from a file.
 * Each input is loaded as given and, when its trailing checksum does not match, once more with
 * the checksum fixed, so mutations reach the code behind the checksum. A model that loads must
 * save back to the very same bytes (the format has one encoding per model; a version 1 file
 * saves as the current version, which must then load and save to itself), predict a
 * probability, learn a step and clone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_common.h"
#include "rank/fm.h"

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void exercise(struct rec_fm *m, const uint8_t *data, size_t size)
{
    char err[512];
    char saved[512];
    snprintf(saved, sizeof saved, "%s", fuzz_path("saved.fm"));
    FUZZ_CHECK(rec_fm_save(m, saved, err, sizeof err) == 0, "a loaded model saves");
    size_t n;
    uint8_t *again = read_all(saved, &n);
    int version_1 = size >= 12 && data[8] == 1 && !data[9] && !data[10] && !data[11];
    if (version_1) { /* upgraded: the current encoding must be a fixed point */
        struct rec_fm *up = NULL;
        FUZZ_CHECK(again && rec_fm_load(saved, &up, err, sizeof err) == 0, "an upgraded model loads");
        FUZZ_CHECK(rec_fm_save(up, saved, err, sizeof err) == 0, "an upgraded model saves");
        rec_fm_free(up);
        size_t n2;
        uint8_t *twice = read_all(saved, &n2);
        FUZZ_CHECK(twice && n2 == n && memcmp(twice, again, n) == 0,
                   "an upgraded model saves to the bytes it was loaded from");
        free(twice);
    } else {
        FUZZ_CHECK(again && n == size && memcmp(again, data, size) == 0,
                   "a loaded model saves to the bytes it was loaded from");
    }
    free(again);
    fuzz_unlink(saved);

    struct rec_fm_config c;
    rec_fm_get_config(m, &c);
    FUZZ_CHECK(rec_fm_config_check(&c) == NULL, "a loaded model has a valid config");
    FUZZ_CHECK(rec_fm_examples(m) >= 0, "a loaded model's example count is not negative");
    struct rec_fm_feature x[4] = {
        {rec_fm_hash("user", "u1", c.bits), 1.0f},
        {rec_fm_hash("item", "i1", c.bits), 1.0f},
        {rec_fm_hash("daypart*category", "night*film", c.bits), 0.5f},
        {0xffffffffu, 2.0f},
    };
    double p = rec_fm_predict(m, x, 4);
    FUZZ_CHECK(!(p < 0 || p > 1), "a prediction is a probability (or NaN)");
    struct rec_fm *copy = NULL;
    FUZZ_CHECK(rec_fm_clone(m, &copy) == 0, "a loaded model clones");
    double q = rec_fm_learn(copy, x, 4, 1, 1.0);
    FUZZ_CHECK((isnan(p) && isnan(q)) || p == q, "learn returns the pre-step prediction");
    rec_fm_free(copy);
}

static void load(const uint8_t *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s", fuzz_path("ranker.fm"));
    fuzz_write(path, data, size);
    struct rec_fm *m = NULL;
    char err[512] = "";
    int rc = rec_fm_load(path, &m, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(m != NULL, "a loaded model is there");
        exercise(m, data, size);
        rec_fm_free(m);
    } else {
        FUZZ_CHECK(m == NULL && err[0], "a failed load hands out nothing and says why");
        FUZZ_CHECK(rc == REC_EFORMAT, "a damaged model file is REC_EFORMAT");
    }
    fuzz_unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    fuzz_binio_both(data, size, load);
    return 0;
}
