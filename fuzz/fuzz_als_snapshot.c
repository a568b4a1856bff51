/* fuzz_als_snapshot: a saved iALS model (model/als.h, binio format) through rec_als_load from a
 * FILE* (fmemopen over the input). Each input is loaded as given and, when its trailing checksum
 * does not match, once more with the checksum fixed, so mutations reach the code behind it. A
 * model that loads is used as the server uses one: user and item rows, an exact and a warm
 * fold-in, scoring every item; and it must save back to the very same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_common.h"
#include "model/als.h"

static void free_ids(char **ids, int32_t n)
{
    for (int32_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

static void exercise(const struct rec_als *m, char **uids, char **iids, const uint8_t *data,
                     size_t size)
{
    int k = rec_als_factors(m);
    int32_t nu = rec_als_n_users(m), ni = rec_als_n_items(m);
    FUZZ_CHECK(k >= 1 && k <= 1024 && nu >= 0 && ni >= 0, "a loaded model has sane sizes");
    FUZZ_CHECK(rec_als_user_vec(m, nu) == NULL && rec_als_item_vec(m, -1) == NULL,
               "no row out of range");

    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        abort();
    FUZZ_CHECK(rec_als_save(m, f, (const char *const *)uids, (const char *const *)iids) == 0,
               "a loaded model saves");
    fclose(f);
    FUZZ_CHECK(n == size && memcmp(buf, data, size) == 0,
               "a loaded model saves to the bytes it was loaded from");
    free(buf);

    float *x = calloc((size_t)k, sizeof *x);
    float *scores = malloc(((size_t)ni + 1) * sizeof *scores);
    if (!x || !scores)
        abort();
    int32_t items[3] = {0, ni - 1, ni}; /* the last one is out of range: skipped */
    float strengths[3] = {1.0f, 2.0f, 1.0f};
    int n_hist = ni > 1 ? 3 : 1;
    rec_als_fold_in(m, items, strengths, n_hist, x);
    rec_als_score_all(m, x, scores);
    if (nu > 0)
        memcpy(x, rec_als_user_vec(m, 0), (size_t)k * sizeof *x);
    if (ni > 1)
        rec_als_fold_in_cg(m, items, strengths, 2, 3, x);
    rec_als_score_all(m, x, scores);
    free(x);
    free(scores);
}

static void load(const uint8_t *data, size_t size)
{
    /* fmemopen of 0 bytes fails with EINVAL on some libcs: give it one byte it never reads */
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f)
        abort();
    if (!size)
        fgetc(f);
    struct rec_als *m = NULL;
    char **uids = NULL, **iids = NULL;
    int rc = rec_als_load(f, &m, &uids, &iids);
    long at = ftell(f);
    fclose(f);
    if (rc) {
        FUZZ_CHECK(!m && !uids && !iids, "a failed load hands out nothing");
        FUZZ_CHECK(rc == REC_EFORMAT, "a damaged model is REC_EFORMAT");
        return;
    }
    FUZZ_CHECK(m && uids && iids, "a loaded model and its ids are there");
    if ((size_t)at == size) /* else trailing bytes, which save would not write */
        exercise(m, uids, iids, data, size);
    free_ids(uids, rec_als_n_users(m));
    free_ids(iids, rec_als_n_items(m));
    rec_als_destroy(m);

    /* the loader's other path: ids checked and dropped */
    f = fmemopen((void *)data, size, "rb");
    if (!f)
        abort();
    FUZZ_CHECK(rec_als_load(f, &m, NULL, NULL) == 0, "a model that loads with ids loads without");
    fclose(f);
    rec_als_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    fuzz_binio_both(data, size, load);
    return 0;
}
