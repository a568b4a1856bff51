/* fuzz_model_snapshot: the saved models of every model type with persistence (model/model.h:
 * als, bpr, ease, itemknn, content; binio format) through the type's load from a FILE*.
 *
 * Input: one byte choosing the type (its value modulo the number of loadable types, in registry
 * order), then the file. The file is loaded as given and, when its trailing checksum does not
 * match, once more with the checksum fixed, so mutations reach the code behind it. A model that
 * loads must save, its save must load, and saving that gives the same bytes again (save is a
 * function of what load kept). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_common.h"
#include "model/model.h"

static const struct rec_model_type *loadable[16];
static int n_loadable;

static char *save(const struct rec_model_type *t, const struct rec_model *m, size_t *n)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, n);
    if (!f)
        abort();
    FUZZ_CHECK(t->save(m, f) == 0, "a loaded model saves");
    fclose(f);
    return buf;
}

static struct rec_model *load(const struct rec_model_type *t, const void *data, size_t size,
                              int *rc)
{
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f)
        abort();
    if (!size)
        fgetc(f); /* fmemopen refuses 0 bytes: give it one it never reads */
    struct rec_model *m = NULL;
    *rc = t->load(f, &m);
    fclose(f);
    return *rc ? NULL : m;
}

static void run(const struct rec_model_type *t, const uint8_t *data, size_t size)
{
    int rc;
    struct rec_model *m = load(t, data, size, &rc);
    if (!m) {
        FUZZ_CHECK(rc == REC_EFORMAT, "a damaged model is REC_EFORMAT");
        return;
    }
    size_t n1, n2;
    char *s1 = save(t, m, &n1);
    t->destroy(m);
    m = load(t, s1, n1, &rc);
    FUZZ_CHECK(m != NULL, "what save wrote loads");
    char *s2 = save(t, m, &n2);
    t->destroy(m);
    FUZZ_CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0, "save(load(save(m))) == save(m)");
    free(s1);
    free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (!n_loadable) {
        int n;
        const struct rec_model_type *const *types = rec_model_types(&n);
        for (int i = 0; i < n && n_loadable < 16; i++)
            if (types[i]->load && types[i]->save)
                loadable[n_loadable++] = types[i];
    }
    if (size < 1)
        return 0;
    const struct rec_model_type *t = loadable[data[0] % n_loadable];
    run(t, data + 1, size - 1);
    uint8_t *fixed = fuzz_fix_checksum(data + 1, size - 1);
    if (fixed) {
        run(t, fixed, size - 1);
        free(fixed);
    }
    return 0;
}
