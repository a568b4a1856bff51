/* gen_seeds.c: writes the binary seeds of the model-file targets (fm_snapshot, als_snapshot,
 * model_snapshot, cold_file) into CORPUS_DIR/<target>/, made by recd's own save functions from tiny
 * synthetic models, so they follow the current formats. Run it again after a format change:
 *
 *     build/fuzz/fuzz_gen_seeds fuzz/corpus
 *
 * Besides the valid files it writes a few damaged ones (truncated, bad magic, bad version,
 * flipped byte). The text seeds of the other targets are written by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/als.h"
#include "model/binio.h"
#include "model/csr.h"
#include "model/model.h"
#include "rank/fm.h"
#include "serve/cold_file.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* The valid file, then damaged copies of it. */
static void put_family(const char *target, const char *stem, const unsigned char *p, size_t n,
                       int prefix)
{
    char name[256];
    unsigned char *c = malloc(n + 1);
    if (!c)
        exit(1);
    snprintf(name, sizeof name, "%s-valid", stem);
    put(target, name, p, n);
    snprintf(name, sizeof name, "%s-truncated", stem);
    put(target, name, p, n / 2);
    memcpy(c, p, n);
    c[prefix] ^= 0x20; /* first magic byte */
    snprintf(name, sizeof name, "%s-bad-magic", stem);
    put(target, name, c, n);
    memcpy(c, p, n);
    c[prefix + 8] = 99; /* version */
    snprintf(name, sizeof name, "%s-bad-version", stem);
    put(target, name, c, n);
    memcpy(c, p, n);
    c[n - 12] ^= 0x01; /* a byte inside the payload: checksum mismatch */
    snprintf(name, sizeof name, "%s-bad-checksum", stem);
    put(target, name, c, n);
    memcpy(c, p, n);
    c[n] = 0;
    snprintf(name, sizeof name, "%s-trailing-byte", stem);
    put(target, name, c, n + 1);
    free(c);
}

static unsigned char *slurp(FILE *f, size_t *n)
{
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*n + 1);
    if (!p || fread(p, 1, *n, f) != *n)
        exit(1);
    return p;
}

static void fm_seeds(void)
{
    static const int shapes[][3] = {{10, 0, 0}, {10, 2, 0}, {10, 2, 1}}; /* bits, k, across_groups */
    for (int s = 0; s < 3; s++) {
        struct rec_fm_config c;
        rec_fm_config_default(&c);
        c.bits = shapes[s][0];
        c.k = shapes[s][1];
        c.across_groups = shapes[s][2];
        struct rec_fm *m;
        if (rec_fm_new(&c, &m))
            exit(1);
        struct rec_fm_feature x[2] = {{rec_fm_hash("user", "u1", c.bits) | REC_FM_GROUP(0), 1},
                                      {rec_fm_hash("item", "i1", c.bits) | REC_FM_GROUP(1), 1}};
        for (int i = 0; i < 3; i++)
            rec_fm_learn(m, x, 2, i & 1, 1.0);
        char path[4096], err[256];
        snprintf(path, sizeof path, "%s/fm_snapshot/.tmp", root);
        if (rec_fm_save(m, path, err, sizeof err)) {
            fprintf(stderr, "gen_seeds: %s\n", err);
            exit(1);
        }
        rec_fm_free(m);
        FILE *f = fopen(path, "rb");
        size_t n;
        unsigned char *p = slurp(f, &n);
        fclose(f);
        remove(path);
        char stem[32];
        snprintf(stem, sizeof stem, "bits10-k%d%s", c.k, c.across_groups ? "-groups" : "");
        put_family("fm_snapshot", stem, p, n, 0);
        free(p);
    }
}

/* 3 users x 4 items, a few interactions. */
static void tiny_input(struct rec_csr *ui, struct rec_csr *iu)
{
    static const struct rec_triplet t[] = {{0, 0, 1}, {0, 1, 2}, {1, 1, 1}, {1, 2, 1},
                                           {2, 3, 4}, {2, 0, 1}};
    if (rec_csr_from_triplets(ui, 3, 4, t, 6) || rec_csr_transpose(ui, iu))
        exit(1);
}

static void als_seeds(struct rec_csr *ui)
{
    struct rec_als_params p;
    rec_als_params_default(&p);
    p.factors = 2;
    p.iters = 2;
    p.threads = 1;
    struct rec_als *m;
    if (rec_als_fit(ui, &p, &m))
        exit(1);
    const char *uids[] = {"u1", "u2", "\xc3\xa9l\xc3\xa8ve"};
    const char *iids[] = {"i1", "i2", "i3", "i4"};
    FILE *f = tmpfile();
    if (!f || rec_als_save(m, f, uids, iids))
        exit(1);
    size_t n;
    unsigned char *b = slurp(f, &n);
    fclose(f);
    put_family("als_snapshot", "k2-3x4", b, n, 0);
    free(b);
    f = tmpfile(); /* NULL ids are saved empty */
    if (!f || rec_als_save(m, f, NULL, NULL))
        exit(1);
    b = slurp(f, &n);
    fclose(f);
    put("als_snapshot", "k2-3x4-empty-ids-valid", b, n);
    free(b);
    rec_als_destroy(m);
}

static void model_seeds(const struct rec_csr *ui, const struct rec_csr *iu)
{
    static const char *const docs[] = {
        "{\"categories\":[\"film\"],\"tags\":[\"a\"],\"title\":\"One\",\"text\":\"red fox\"}",
        "{\"categories\":[\"film\",\"news\"],\"tags\":[],\"title\":\"Two\",\"text\":\"\"}",
        "{\"categories\":[],\"tags\":[\"b\"],\"title\":\"Three\",\"text\":\"blue fox\"}",
        NULL};
    const char *const item_docs[4] = {docs[0], docs[1], docs[2], docs[3]};
    struct rec_train_input in = {.ui = ui, .iu = iu, .item_docs = item_docs, .threads = 1};
    int n_types, k = 0;
    const struct rec_model_type *const *types = rec_model_types(&n_types);
    for (int i = 0; i < n_types; i++) {
        const struct rec_model_type *t = types[i];
        if (!t->load || !t->save)
            continue;
        unsigned char selector = (unsigned char)k++;
        double params[REC_MODEL_MAX_PARAMS];
        char err[256];
        rec_model_params_default(t, params);
        rec_model_params_parse(t, "factors=4", params, err, sizeof err); /* where it applies */
        rec_model_params_parse(t, "iters=2", params, err, sizeof err);
        struct rec_model *m;
        if (t->fit(&in, params, &m, err, sizeof err)) {
            fprintf(stderr, "gen_seeds: %s: %s\n", t->name, err);
            exit(1);
        }
        FILE *f = tmpfile();
        if (!f || fputc(selector, f) == EOF || t->save(m, f))
            exit(1);
        size_t n;
        unsigned char *b = slurp(f, &n);
        fclose(f);
        t->destroy(m);
        put_family("model_snapshot", t->name, b, n, 1);
        free(b);
    }
}

/* A cold set of three items, the second without factors, and an empty one. */
static void cold_seeds(void)
{
    enum { N = 3, K = 4 };
    char *ids[N] = {"item-a", "item-b", "i\xc3\xa9-c"};
    uint8_t hash[N * REC_COLD_DOC_HASH], has[N] = {1, 0, 1};
    float x[N * K] = {0.5f, -0.25f, 1.0f, 0.0f, 0, 0, 0, 0, -1.5f, 2.0f, 0.125f, -0.0f};
    for (size_t i = 0; i < sizeof hash; i++)
        hash[i] = (uint8_t)(i * 7 + 1);
    struct rec_cold_file sets[2] = {
        {.version = 3, .tag = 0x0102030405060708ull, .k = K, .norm = 1.25f, .n = N, .id = ids,
         .doc_hash = hash, .has_x = has, .x = x},
        {.version = 1, .tag = 9, .k = 8, .norm = 0, .n = 0},
    };
    const char *stems[2] = {"n3-k4", "n0-k8"};
    for (int s = 0; s < 2; s++) {
        FILE *f = tmpfile();
        if (!f || rec_cold_file_write(&sets[s], f) != 0)
            exit(1);
        size_t n;
        unsigned char *p = slurp(f, &n);
        fclose(f);
        put_family("cold_file", stems[s], p, n, 0);
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    rec_log_set_level(REC_LOG_OFF);
    struct rec_csr ui, iu;
    tiny_input(&ui, &iu);
    fm_seeds();
    als_seeds(&ui);
    model_seeds(&ui, &iu);
    cold_seeds();
    rec_csr_free(&ui);
    rec_csr_free(&iu);
    return 0;
}
