/* test_als.c: iALS fit on planted structure, fold-in, determinism, remap, save/load and damage. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/halt.h"
#include "model/als.h"
#include "model/csr.h"
#include "model/linalg.h"

/* Planted data: users [0, N_USERS/2) like items [0, N_ITEMS/2), the others the other half.
 * Each user has each item of their own block with probability ~0.4 and nothing else. */
enum { N_USERS = 60, N_ITEMS = 50 };

static int user_block(int32_t u) { return u < N_USERS / 2; }
static int item_block(int32_t i) { return i < N_ITEMS / 2; }

static void planted(struct rec_csr *m, int with_junk)
{
    struct rec_triplet *t = malloc((size_t)N_USERS * N_ITEMS * sizeof *t);
    int64_t n = 0;
    uint32_t s = 12345;
    for (int32_t u = 0; u < N_USERS; u++) {
        for (int32_t i = 0; i < N_ITEMS; i++) {
            s = s * 1664525u + 1013904223u;
            int r = (int)((s >> 8) % 100);
            if (user_block(u) == item_block(i) && r < 40)
                t[n++] = (struct rec_triplet){u, i, 1.0f + (float)(r % 3)};
            else if (with_junk && user_block(u) != item_block(i) && r < 20)
                t[n++] = (struct rec_triplet){u, i, r < 10 ? 0.0f : -2.0f}; /* ignored by fit */
        }
    }
    assert_int_equal(rec_csr_from_triplets(m, N_USERS, N_ITEMS, t, n), REC_OK);
    free(t);
}

static void small_params(struct rec_als_params *p)
{
    rec_als_params_default(p);
    p->factors = 8;
    p->iters = 15;
    p->threads = 1;
}

static struct rec_als *fit_planted(const struct rec_als_params *p)
{
    struct rec_csr m;
    planted(&m, 0);
    struct rec_als *model = NULL;
    assert_int_equal(rec_als_fit(&m, p, &model), REC_OK);
    assert_non_null(model);
    rec_csr_free(&m);
    return model;
}

static int seen(const struct rec_csr *m, int32_t u, int32_t i)
{
    for (int64_t e = m->indptr[u]; e < m->indptr[u + 1]; e++)
        if (m->indices[e] == i && m->values[e] > 0)
            return 1;
    return 0;
}

/* Indices of the n best scores among items not excluded (exclude may be NULL). */
static void top_n(const float *scores, int32_t n_items, const char *exclude, int n, int32_t *out)
{
    char used[N_ITEMS] = {0};
    for (int r = 0; r < n; r++) {
        int32_t best = -1;
        for (int32_t i = 0; i < n_items; i++)
            if (!used[i] && !(exclude && exclude[i]) && (best < 0 || scores[i] > scores[best]))
                best = i;
        assert_true(best >= 0);
        used[best] = 1;
        out[r] = best;
    }
}

static void test_fit_recovers_planted_blocks(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    struct rec_als *model = fit_planted(&p);
    struct rec_csr m;
    planted(&m, 0);
    assert_int_equal(rec_als_factors(model), 8);
    assert_int_equal(rec_als_n_users(model), N_USERS);
    assert_int_equal(rec_als_n_items(model), N_ITEMS);
    assert_null(rec_als_user_vec(model, N_USERS));
    assert_null(rec_als_user_vec(model, -1));
    assert_null(rec_als_item_vec(model, N_ITEMS));

    float scores[N_ITEMS];
    for (int32_t u = 0; u < N_USERS; u++) {
        char excl[N_ITEMS];
        int unseen_own = 0;
        for (int32_t i = 0; i < N_ITEMS; i++) {
            excl[i] = (char)seen(&m, u, i);
            unseen_own += !excl[i] && item_block(i) == user_block(u);
        }
        assert_true(unseen_own >= 5);
        rec_als_score_all(model, rec_als_user_vec(model, u), scores);
        int32_t top[5];
        top_n(scores, N_ITEMS, excl, 5, top);
        for (int r = 0; r < 5; r++)
            if (item_block(top[r]) != user_block(u))
                fail_msg("user %d: rank %d item %d is from the other block", u, r, top[r]);
        /* score_all is the dot product with each item row */
        for (int32_t i = 0; i < N_ITEMS; i++) {
            const float *x = rec_als_user_vec(model, u), *y = rec_als_item_vec(model, i);
            float d = 0;
            for (int j = 0; j < 8; j++)
                d += x[j] * y[j];
            assert_true(fabsf(d - scores[i]) <= 1e-5f * (1 + fabsf(d)));
        }
    }
    rec_csr_free(&m);
    rec_als_destroy(model);
}

static void test_fold_in_matches_trained_user(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    p.iters = 60;
    struct rec_als *model = fit_planted(&p);
    struct rec_csr m;
    planted(&m, 0);
    for (int32_t u = 0; u < N_USERS; u += 3) {
        int n = (int)(m.indptr[u + 1] - m.indptr[u]);
        const int32_t *items = m.indices + m.indptr[u];
        const float *vals = m.values + m.indptr[u];
        float x[8], s_fold[N_ITEMS], s_trained[N_ITEMS];
        assert_int_equal(rec_als_fold_in(model, items, vals, n, x), REC_OK);
        /* After 60 sweeps the trained vector solves (to ~1e-3) the same system fold_in solves
         * exactly; a different lambda rule in fold_in (n+1 instead of n) moves it by 1e-2..6e-2. */
        const float *xu = rec_als_user_vec(model, u);
        double diff = 0, norm = 0;
        for (int j = 0; j < 8; j++) {
            diff += ((double)x[j] - xu[j]) * ((double)x[j] - xu[j]);
            norm += (double)xu[j] * xu[j];
        }
        if (!(sqrt(diff / norm) < 5e-3))
            fail_msg("user %d: |fold_in - trained| / |trained| = %g", u, sqrt(diff / norm));
        rec_als_score_all(model, x, s_fold);
        rec_als_score_all(model, xu, s_trained);
        int32_t t1[10], t2[10];
        top_n(s_fold, N_ITEMS, NULL, 10, t1);
        top_n(s_trained, N_ITEMS, NULL, 10, t2);
        assert_int_equal(t1[0], t2[0]);
        int common = 0;
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++)
                common += t1[a] == t2[b];
        if (common < 8)
            fail_msg("user %d: only %d of the top 10 agree", u, common);

        /* the same history as separate events per unit, shuffled, with junk the header says to
         * skip, folds in to the same system: duplicates are summed */
        int32_t items2[200];
        float vals2[200];
        int n2i = 0;
        for (int e = n - 1; e >= 0; e--) {
            for (float left = vals[e]; left > 0; left -= 1.0f) {
                items2[n2i] = items[e];
                vals2[n2i++] = left >= 1.0f ? 1.0f : left;
            }
        }
        items2[n2i] = -1, vals2[n2i++] = 1.0f;      /* out of range */
        items2[n2i] = N_ITEMS, vals2[n2i++] = 1.0f; /* out of range */
        items2[n2i] = items[0], vals2[n2i++] = -3.0f; /* strength <= 0 */
        float x2[8];
        assert_int_equal(rec_als_fold_in(model, items2, vals2, n2i, x2), REC_OK);
        for (int j = 0; j < 8; j++)
            assert_true(fabsf(x2[j] - x[j]) <= 1e-4f * (1 + fabsf(x[j])));
    }

    /* a new user with only block-B items gets block-B recommendations */
    const int32_t hist[] = {N_ITEMS / 2 + 1, N_ITEMS / 2 + 4, N_ITEMS - 1};
    const float str[] = {1, 2, 1};
    float x[8], s[N_ITEMS];
    assert_int_equal(rec_als_fold_in(model, hist, str, 3, x), REC_OK);
    rec_als_score_all(model, x, s);
    char excl[N_ITEMS] = {0};
    for (int e = 0; e < 3; e++)
        excl[hist[e]] = 1;
    int32_t top[5];
    top_n(s, N_ITEMS, excl, 5, top);
    for (int r = 0; r < 5; r++)
        assert_false(item_block(top[r]));

    /* an empty history is the zero vector (b = 0) */
    assert_int_equal(rec_als_fold_in(model, NULL, NULL, 0, x), REC_OK);
    for (int j = 0; j < 8; j++)
        assert_true(x[j] == 0.0f);
    rec_csr_free(&m);
    rec_als_destroy(model);
}

static void assert_models_equal(const struct rec_als *a, const struct rec_als *b)
{
    int k = rec_als_factors(a);
    assert_int_equal(k, rec_als_factors(b));
    assert_int_equal(rec_als_n_users(a), rec_als_n_users(b));
    assert_int_equal(rec_als_n_items(a), rec_als_n_items(b));
    for (int32_t u = 0; u < rec_als_n_users(a); u++)
        assert_memory_equal(rec_als_user_vec(a, u), rec_als_user_vec(b, u), (size_t)k * 4);
    for (int32_t i = 0; i < rec_als_n_items(a); i++)
        assert_memory_equal(rec_als_item_vec(a, i), rec_als_item_vec(b, i), (size_t)k * 4);
}

static int models_differ(const struct rec_als *a, const struct rec_als *b)
{
    int k = rec_als_factors(a);
    for (int32_t i = 0; i < rec_als_n_items(a); i++)
        if (memcmp(rec_als_item_vec(a, i), rec_als_item_vec(b, i), (size_t)k * 4) != 0)
            return 1;
    return 0;
}

static void test_fit_deterministic(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    struct rec_als *a = fit_planted(&p);
    struct rec_als *b = fit_planted(&p);
    assert_models_equal(a, b);

    /* rows of a half-sweep are independent, so the thread count does not change the result */
    p.threads = 2;
    struct rec_als *c = fit_planted(&p);
    assert_models_equal(a, c);
    p.threads = 0;
    struct rec_als *d = fit_planted(&p);
    assert_models_equal(a, d);

    /* entries <= 0 are ignored by fit */
    struct rec_csr junk;
    planted(&junk, 1);
    p.threads = 1;
    struct rec_als *e = NULL;
    assert_int_equal(rec_als_fit(&junk, &p, &e), REC_OK);
    assert_models_equal(a, e);
    rec_csr_free(&junk);

    p.seed = 43;
    struct rec_als *f = fit_planted(&p);
    assert_true(models_differ(a, f));

    rec_als_destroy(a);
    rec_als_destroy(b);
    rec_als_destroy(c);
    rec_als_destroy(d);
    rec_als_destroy(e);
    rec_als_destroy(f);
    rec_als_destroy(NULL);
}

static void test_fit_edge_shapes(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    struct rec_csr empty;
    struct rec_als *model = NULL;
    assert_int_equal(rec_csr_from_triplets(&empty, 3, 4, NULL, 0), REC_OK);
    assert_int_equal(rec_als_fit(&empty, &p, &model), REC_OK);
    float s[4];
    rec_als_score_all(model, rec_als_user_vec(model, 0), s);
    for (int i = 0; i < 4; i++)
        assert_true(isfinite(s[i]));
    rec_als_destroy(model);
    rec_csr_free(&empty);

    assert_int_equal(rec_csr_from_triplets(&empty, 0, 0, NULL, 0), REC_OK);
    assert_int_equal(rec_als_fit(&empty, &p, &model), REC_OK);
    assert_int_equal(rec_als_n_users(model), 0);
    rec_als_destroy(model);

    assert_int_equal(rec_als_fit(NULL, &p, &model), REC_EINVAL);
    assert_null(model);
    p.factors = 0;
    assert_int_equal(rec_als_fit(&empty, &p, &model), REC_EINVAL);
    assert_null(model);
    rec_csr_free(&empty);
}

/* A fit leaves OpenBLAS's thread count as its caller set it: the engine sets 1 so requests never
 * wake BLAS threads, and fits used to reset it to OpenBLAS's default (two spinning threads per
 * served request afterwards). Both a single-count and a multi-count caller are kept. */
static void test_fit_keeps_blas_threads(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    p.threads = 2;
    int before = rec_linalg_set_blas_threads(1);
    rec_als_destroy(fit_planted(&p));
    assert_int_equal(rec_linalg_set_blas_threads(2), 1);
    rec_als_destroy(fit_planted(&p));
    assert_int_equal(rec_linalg_set_blas_threads(before), 2);
}

static void test_check_params(void **state)
{
    struct rec_als_params p, q;
    rec_als_params_default(&p);
    assert_null(rec_als_check_params(&p));
    assert_non_null(rec_als_check_params(NULL));

#define BAD(field, value)                                                                          \
    do {                                                                                           \
        q = p;                                                                                     \
        q.field = value;                                                                           \
        if (!rec_als_check_params(&q))                                                             \
            fail_msg("%s = %s accepted", #field, #value);                                          \
    } while (0)
    BAD(factors, 0);
    BAD(factors, 1025);
    BAD(factors, -3);
    BAD(reg, 0.0f);
    BAD(reg, -1.0f);
    BAD(reg, NAN);
    BAD(reg, INFINITY);
    BAD(alpha, -0.5f);
    BAD(alpha, NAN);
    BAD(alpha, INFINITY);
    BAD(iters, 0);
    BAD(iters, -1);
    BAD(cg_steps, 0);
    BAD(threads, -1);
    BAD(threads, 100000);
#undef BAD
    q = p;
    q.factors = 1024;
    q.alpha = 0.0f;
    q.threads = 0;
    assert_null(rec_als_check_params(&q));
    assert_string_equal(rec_als_check_params(&(struct rec_als_params){.factors = 2000}),
                        "factors must be 1..1024");
}

static void test_remap(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    struct rec_als *src = fit_planted(&p);
    const int32_t umap[] = {5, -1, 0};
    const int32_t imap[] = {N_ITEMS - 1, 3, -1, 3};
    struct rec_als *dst = NULL;
    assert_int_equal(rec_als_remap(src, umap, 3, imap, 4, &dst), REC_OK);
    assert_int_equal(rec_als_n_users(dst), 3);
    assert_int_equal(rec_als_n_items(dst), 4);
    float zero[8] = {0};
    assert_memory_equal(rec_als_user_vec(dst, 0), rec_als_user_vec(src, 5), sizeof zero);
    assert_memory_equal(rec_als_user_vec(dst, 1), zero, sizeof zero);
    assert_memory_equal(rec_als_user_vec(dst, 2), rec_als_user_vec(src, 0), sizeof zero);
    assert_memory_equal(rec_als_item_vec(dst, 0), rec_als_item_vec(src, N_ITEMS - 1), sizeof zero);
    assert_memory_equal(rec_als_item_vec(dst, 1), rec_als_item_vec(src, 3), sizeof zero);
    assert_memory_equal(rec_als_item_vec(dst, 2), zero, sizeof zero);
    assert_memory_equal(rec_als_item_vec(dst, 3), rec_als_item_vec(src, 3), sizeof zero);
    rec_als_destroy(dst);

    /* identity maps reproduce the model, and fold_in against it is unchanged */
    int32_t uid[N_USERS], iid[N_ITEMS];
    for (int32_t i = 0; i < N_USERS; i++)
        uid[i] = i;
    for (int32_t i = 0; i < N_ITEMS; i++)
        iid[i] = i;
    assert_int_equal(rec_als_remap(src, uid, N_USERS, iid, N_ITEMS, &dst), REC_OK);
    assert_models_equal(src, dst);
    const int32_t hist[] = {1, 2, 3};
    const float str[] = {1, 1, 1};
    float x1[8], x2[8];
    assert_int_equal(rec_als_fold_in(src, hist, str, 3, x1), REC_OK);
    assert_int_equal(rec_als_fold_in(dst, hist, str, 3, x2), REC_OK);
    assert_memory_equal(x1, x2, sizeof x1);
    rec_als_destroy(dst);

    const int32_t bad[] = {N_USERS};
    assert_int_equal(rec_als_remap(src, bad, 1, imap, 4, &dst), REC_EINVAL);
    assert_null(dst);
    rec_als_destroy(src);
}

/* ---- save / load --------------------------------------------------------------------------- */

static unsigned char *save_to_bytes(const struct rec_als *m, const char *const *uids,
                                    const char *const *iids, size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(rec_als_save(m, f, uids, iids), REC_OK);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static int load_bytes(const unsigned char *buf, size_t len, struct rec_als **out, char ***uids,
                      char ***iids)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    rewind(f);
    int rc = rec_als_load(f, out, uids, iids);
    fclose(f);
    return rc;
}

static void free_ids(char **ids, int32_t n)
{
    for (int32_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

static void test_save_load_round_trip(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    p.reg = 0.37f;
    p.alpha = 3.25f;
    p.seed = 0xfeedfacecafebeefull;
    struct rec_als *m = fit_planted(&p);

    char ubuf[N_USERS][16], ibuf[N_ITEMS][16];
    const char *uids[N_USERS], *iids[N_ITEMS];
    for (int i = 0; i < N_USERS; i++) {
        snprintf(ubuf[i], sizeof ubuf[i], "user-%d", i * 31);
        uids[i] = i == 7 ? NULL : ubuf[i]; /* NULL is written as "" */
    }
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(ibuf[i], sizeof ibuf[i], "\xc3\xa9t%d", i);
        iids[i] = ibuf[i];
    }
    iids[3] = "";

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(rec_als_save(m, f, uids, iids), REC_OK);
    rewind(f);
    struct rec_als *l = NULL;
    char **lu = NULL, **li = NULL;
    assert_int_equal(rec_als_load(f, &l, &lu, &li), REC_OK);
    fclose(f);

    assert_models_equal(m, l);
    const struct rec_als_params *a = rec_als_params(m), *b = rec_als_params(l);
    assert_int_equal(a->factors, b->factors);
    assert_memory_equal(&a->reg, &b->reg, sizeof a->reg);
    assert_memory_equal(&a->alpha, &b->alpha, sizeof a->alpha);
    assert_int_equal(a->iters, b->iters);
    assert_int_equal(a->cg_steps, b->cg_steps);
    assert_int_equal(a->threads, b->threads);
    assert_true(a->seed == b->seed);
    for (int i = 0; i < N_USERS; i++)
        assert_string_equal(lu[i], uids[i] ? uids[i] : "");
    for (int i = 0; i < N_ITEMS; i++)
        assert_string_equal(li[i], iids[i]);

    /* fold_in uses the recomputed Gram: identical to the original model's */
    const int32_t hist[] = {0, 5, 9};
    const float str[] = {1, 2, 1};
    float x1[8], x2[8];
    assert_int_equal(rec_als_fold_in(m, hist, str, 3, x1), REC_OK);
    assert_int_equal(rec_als_fold_in(l, hist, str, 3, x2), REC_OK);
    assert_memory_equal(x1, x2, sizeof x1);

    /* saving the loaded model gives the same bytes; ids are optional on both sides */
    size_t n1, n2;
    unsigned char *b1 = save_to_bytes(m, uids, iids, &n1);
    unsigned char *b2 = save_to_bytes(l, (const char *const *)lu, (const char *const *)li, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    struct rec_als *l2 = NULL;
    assert_int_equal(load_bytes(b1, n1, &l2, NULL, NULL), REC_OK);
    assert_models_equal(m, l2);

    /* explicit little-endian layout: magic, version 1, factors 8 */
    assert_memory_equal(b1, "RECDALS1", 8);
    const unsigned char head[] = {1, 0, 0, 0, 8, 0, 0, 0};
    assert_memory_equal(b1 + 8, head, sizeof head);

    free(b1);
    free(b2);
    free_ids(lu, N_USERS);
    free_ids(li, N_ITEMS);
    rec_als_destroy(l2);
    rec_als_destroy(l);
    rec_als_destroy(m);
}

static void expect_format_error(const unsigned char *buf, size_t len, const char *what,
                                size_t where)
{
    struct rec_als *out = (struct rec_als *)&out; /* must be reset to NULL */
    char **uids = (char **)&uids, **iids = (char **)&iids;
    int rc = load_bytes(buf, len, &out, &uids, &iids);
    if (rc != REC_EFORMAT)
        fail_msg("%s at %zu: rc %d, want REC_EFORMAT", what, where, rc);
    assert_null(out);
    assert_null(uids);
    assert_null(iids);
}

static void test_load_rejects_damage(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    struct rec_als *m = fit_planted(&p);
    const char *uids[N_USERS] = {"alice", "bob"};
    size_t len;
    unsigned char *buf = save_to_bytes(m, uids, NULL, &len);

    /* truncation anywhere: header, params, ids, factors, checksum */
    const size_t cuts[] = {0, 1, 7, 8, 11, 12, 20, 40, 55, 56, 60, 64, 70,
                           len / 3, len / 2, len - 9, len - 8, len - 4, len - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
        expect_format_error(buf, cuts[c], "truncated", cuts[c]);

    /* one damaged byte anywhere, including the checksum itself */
    unsigned char *copy = malloc(len);
    for (size_t at = 0; at < len; at += (at < 80 || at + 16 > len) ? 1 : 37) {
        for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
            memcpy(copy, buf, len);
            copy[at] ^= (unsigned char)mask;
            expect_format_error(copy, len, "flipped", at);
        }
    }
    free(copy);

    struct rec_als *ok = NULL;
    assert_int_equal(load_bytes(buf, len, &ok, NULL, NULL), REC_OK);
    rec_als_destroy(ok);
    free(buf);
    rec_als_destroy(m);
}

static size_t put32(unsigned char *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[at + i] = (unsigned char)(v >> (8 * i));
    return at + 4;
}

/* A forged header (no valid checksum can follow) that announces huge sizes must fail as
 * malformed after reading what is there, without trying to allocate what it announces. */
static void test_load_rejects_absurd_headers(void **state)
{
    unsigned char b[256];
    struct {
        int32_t factors, k, n_users, n_items;
        uint32_t first_len;
    } cases[] = {
        {1024, 1024, INT32_MAX, INT32_MAX, 0}, /* huge counts, file ends soon after */
        {1024, 1024, 1, 0, 0x7fffffff},        /* id length past the cap */
        {2000, 2000, 1, 1, 0},                 /* k over the cap */
        {8, 9, 1, 1, 0},                       /* k disagrees with params.factors */
        {8, 8, -5, 1, 0},                      /* negative count */
        {8, 8, 0, 0, 0},                       /* empty model but no checksum */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(b, 0, sizeof b);
        memcpy(b, "RECDALS1", 8);
        size_t at = put32(b, 8, 1);
        at = put32(b, at, (uint32_t)cases[c].factors);
        float reg = 0.5f, alpha = 2.0f;
        uint32_t u;
        memcpy(&u, &reg, 4);
        at = put32(b, at, u);
        memcpy(&u, &alpha, 4);
        at = put32(b, at, u);
        at = put32(b, at, 10); /* iters */
        at = put32(b, at, 3);  /* cg_steps */
        at = put32(b, at, 1);  /* threads */
        at += 8;               /* seed 0 */
        at = put32(b, at, (uint32_t)cases[c].n_users);
        at = put32(b, at, (uint32_t)cases[c].n_items);
        at = put32(b, at, (uint32_t)cases[c].k);
        at = put32(b, at, cases[c].first_len);
        expect_format_error(b, sizeof b, "forged header", c);
    }
}

static void test_save_load_empty_model_and_errors(void **state)
{
    struct rec_als_params p;
    small_params(&p);
    struct rec_csr empty;
    assert_int_equal(rec_csr_from_triplets(&empty, 0, 0, NULL, 0), REC_OK);
    struct rec_als *m = NULL;
    assert_int_equal(rec_als_fit(&empty, &p, &m), REC_OK);
    size_t len;
    unsigned char *buf = save_to_bytes(m, NULL, NULL, &len);
    struct rec_als *l = NULL;
    char **u = NULL, **i = NULL;
    assert_int_equal(load_bytes(buf, len, &l, &u, &i), REC_OK);
    assert_int_equal(rec_als_n_users(l), 0);
    assert_int_equal(rec_als_n_items(l), 0);
    assert_non_null(u);
    assert_non_null(i);
    free(u);
    free(i);
    rec_als_destroy(l);
    free(buf);

    assert_int_equal(rec_als_save(NULL, stdout, NULL, NULL), REC_EINVAL);
    assert_int_equal(rec_als_load(NULL, &l, NULL, NULL), REC_EINVAL);
    rec_als_destroy(m);
    rec_csr_free(&empty);
}

/* A halt (core/halt.h) requested before or during a fit gives REC_ECANCELED and no model. */
static void test_fit_gives_up_on_halt(void **state)
{
    (void)state;
    struct rec_csr m;
    planted(&m, 0);
    struct rec_als_params p;
    small_params(&p);
    struct rec_als *model = NULL;
    rec_halt_request();
    assert_int_equal(rec_als_fit(&m, &p, &model), REC_ECANCELED);
    assert_null(model);
    rec_halt_reset();
    assert_int_equal(rec_als_fit(&m, &p, &model), REC_OK);
    assert_non_null(model);
    rec_als_destroy(model);
    rec_csr_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_recovers_planted_blocks),
        cmocka_unit_test(test_fit_gives_up_on_halt),
        cmocka_unit_test(test_fold_in_matches_trained_user),
        cmocka_unit_test(test_fit_deterministic),
        cmocka_unit_test(test_fit_edge_shapes),
        cmocka_unit_test(test_fit_keeps_blas_threads),
        cmocka_unit_test(test_check_params),
        cmocka_unit_test(test_remap),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_load_rejects_damage),
        cmocka_unit_test(test_load_rejects_absurd_headers),
        cmocka_unit_test(test_save_load_empty_model_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
