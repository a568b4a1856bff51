/* test_binio.c: the binary model file primitives: encoding by hand, round trips across the
 * writer's buffer, the FNV-1a checksum, truncation, damage, forged sizes and write errors. */
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
#include "model/binio.h"

enum { N_FLOATS = 5000 }; /* 20,000 bytes: crosses the writer's 8 KiB buffer twice */

static const char MAGIC[8] = {'R', 'E', 'C', 'D', 'T', 'E', 'S', 'T'};

static float float_at(size_t i) { return (float)i * 0.25f - 100.0f; }

/* Writes the sample file; returns its bytes (caller frees) and length. */
static unsigned char *sample(size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    float *v = malloc(N_FLOATS * sizeof *v);
    for (size_t i = 0; i < N_FLOATS; i++)
        v[i] = float_at(i);
    const int32_t ints[3] = {7, -1, INT32_MIN};
    struct rec_binw w;
    rec_binw_init(&w, f);
    const double params[2] = {0.5, -3.0};
    rec_binw_head(&w, MAGIC, 7);
    rec_binw_params(&w, params, 2);
    rec_binw_bytes(&w, "\x01", 1);
    rec_binw_u32(&w, 0x01020304u);
    rec_binw_i32(&w, -2);
    rec_binw_u64(&w, 0x0102030405060708ull);
    rec_binw_f32(&w, 1.0f);
    rec_binw_f64(&w, -2.5);
    rec_binw_str(&w, "abc", 3);
    rec_binw_i32s(&w, ints, 3);
    rec_binw_f32s(&w, v, N_FLOATS);
    rec_binw_str(&w, "", 0);
    assert_int_equal(rec_binw_finish(&w), REC_OK);
    free(v);

    long n = ftell(f);
    assert_true(n > 0);
    unsigned char *b = malloc((size_t)n + 16);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Reads the sample back with every primitive; returns r.rc. */
static int read_sample(FILE *f, int check_values)
{
    struct rec_binr r;
    rec_binr_init(&r, f);
    char s[8];
    size_t len;
    double params[2];
    uint32_t version = rec_binr_head(&r, MAGIC);
    rec_binr_params(&r, params, 2);
    unsigned char one = 0;
    rec_binr_bytes(&r, &one, 1);
    uint32_t u = rec_binr_u32(&r);
    int32_t i = rec_binr_i32(&r);
    uint64_t u64 = rec_binr_u64(&r);
    float x = rec_binr_f32(&r);
    double d = rec_binr_f64(&r);
    rec_binr_str(&r, s, 0, 7, &len);
    uint32_t *ints = rec_binr_u32s(&r, 3);
    float *v = rec_binr_f32s(&r, N_FLOATS, 1);
    char e[1];
    size_t elen = 99;
    rec_binr_str(&r, e, 0, 0, &elen);
    int rc = rec_binr_finish(&r);
    if (check_values) {
        assert_int_equal(rc, REC_OK);
        assert_int_equal(version, 7);
        assert_true(params[0] == 0.5 && params[1] == -3.0);
        assert_int_equal(one, 1);
        assert_int_equal(u, 0x01020304u);
        assert_int_equal(i, -2);
        assert_true(u64 == 0x0102030405060708ull);
        assert_true(x == 1.0f && d == -2.5);
        assert_int_equal(len, 3);
        assert_string_equal(s, "abc");
        assert_int_equal(ints[0], 7);
        assert_int_equal(ints[1], 0xffffffffu);
        assert_int_equal(ints[2], 0x80000000u);
        for (size_t k = 0; k < N_FLOATS; k++)
            assert_true(v[k] == float_at(k));
        assert_int_equal(elen, 0);
        assert_int_equal(e[0], '\0');
    }
    if (rc) { /* everything after the first error reads as zeros and NULL */
        assert_int_equal(rec_binr_u32(&r), 0);
        assert_null(rec_binr_u32s(&r, 1));
        assert_int_equal(rec_binr_fail(&r, REC_ENOMEM), rc); /* the first error sticks */
    }
    free(ints);
    free(v);
    return rc;
}

static void test_encoding_by_hand(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample(&n);
    const unsigned char head[] = {
        'R', 'E', 'C', 'D', 'T', 'E', 'S', 'T',
        0x07, 0x00, 0x00, 0x00,                         /* version 7 */
        0x02, 0x00, 0x00, 0x00,                         /* 2 params: 0.5, -3 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0xc0,
        0x01,                                           /* one raw byte */
        0x04, 0x03, 0x02, 0x01,                         /* u32 0x01020304 */
        0xfe, 0xff, 0xff, 0xff,                         /* i32 -2 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* u64 */
        0x00, 0x00, 0x80, 0x3f,                         /* f32 1.0 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xc0, /* f64 -2.5 */
        0x03, 0x00, 0x00, 0x00, 'a', 'b', 'c',          /* str "abc" */
        0x07, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x80, /* i32s */
        0x00, 0x00, 0xc8, 0xc2,                         /* f32s[0] = -100 */
    };
    assert_memory_equal(b, head, sizeof head);
    size_t floats_at = sizeof head - 4;
    assert_int_equal(n, floats_at + 4 * N_FLOATS + 4 + 8); /* floats, empty str, checksum */
    float last;
    memcpy(&last, b + floats_at + 4 * (N_FLOATS - 1), 4); /* little-endian host */
    assert_true(last == float_at(N_FLOATS - 1));
    free(b);
}

static void test_fnv1a_checksum(void **state)
{
    (void)state;
    /* reference values of FNV-1a 64 */
    assert_true(rec_binio_fnv1a(REC_BINIO_FNV_OFFSET, "", 0) == 0xcbf29ce484222325ull);
    assert_true(rec_binio_fnv1a(REC_BINIO_FNV_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(rec_binio_fnv1a(REC_BINIO_FNV_OFFSET, "foobar", 6) == 0x85944171f73967e8ull);
    uint64_t h = rec_binio_fnv1a(REC_BINIO_FNV_OFFSET, "foo", 3);
    assert_true(rec_binio_fnv1a(h, "bar", 3) == 0x85944171f73967e8ull); /* continues */

    size_t n;
    unsigned char *b = sample(&n);
    uint64_t want = rec_binio_fnv1a(REC_BINIO_FNV_OFFSET, b, n - 8), got = 0;
    for (int i = 0; i < 8; i++)
        got |= (uint64_t)b[n - 8 + i] << (8 * i);
    assert_true(got == want);
    free(b);
}

static void test_round_trip_leaves_trailing_data(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample(&n);
    memcpy(b + n, "TRAILING", 8);
    FILE *f = fmemopen(b, n + 8, "rb");
    assert_int_equal(read_sample(f, 1), REC_OK);
    assert_int_equal(ftell(f), (long)n); /* not one byte past the checksum */
    fclose(f);
    free(b);
}

static void test_truncation_and_damage(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample(&n);
    for (size_t cut = 0; cut < n; cut += cut < 100 ? 1 : 37) {
        FILE *f = tmpfile(); /* the first cut bytes and nothing else */
        assert_int_equal(fwrite(b, 1, cut, f), cut);
        rewind(f);
        assert_int_equal(read_sample(f, 0), REC_EFORMAT);
        fclose(f);
    }
    /* one flipped bit anywhere, checksum included: some check objects */
    for (size_t at = 0; at < n; at += at < 100 ? 1 : 29) {
        b[at] ^= 0x04;
        FILE *f = fmemopen(b, n, "rb");
        assert_int_equal(read_sample(f, 0), REC_EFORMAT);
        fclose(f);
        b[at] ^= 0x04;
    }
    free(b);
}

/* A stream holding a u32 count, then `have` words of payload and nothing else. */
static FILE *forged(unsigned char *buf, uint32_t count, int have, uint32_t word)
{
    for (int i = 0; i < 4; i++)
        buf[i] = (unsigned char)(count >> (8 * i));
    for (int k = 0; k < have; k++)
        for (int i = 0; i < 4; i++)
            buf[4 + 4 * k + i] = (unsigned char)(word >> (8 * i));
    return fmemopen(buf, 4 + 4 * (size_t)have, "rb");
}

static void test_forged_sizes(void **state)
{
    (void)state;
    unsigned char buf[4 + 4 * 16];
    struct rec_binr r;
    /* 2^32 - 1 announced words (16 GiB), 16 present: a short file, not an allocation failure */
    FILE *f = forged(buf, UINT32_MAX, 16, 0x3f800000u);
    rec_binr_init(&r, f);
    uint32_t count = rec_binr_u32(&r);
    assert_null(rec_binr_f32s(&r, (size_t)count * 64, 0)); /* 1 TiB asked for */
    assert_int_equal(r.rc, REC_EFORMAT);
    fclose(f);

    f = forged(buf, UINT32_MAX, 16, 7);
    rec_binr_init(&r, f);
    assert_null(rec_binr_u32s(&r, (size_t)rec_binr_u32(&r) * 64));
    assert_int_equal(r.rc, REC_EFORMAT);
    fclose(f);

    /* a length past the caller's bound is rejected before any byte is read into buf */
    char s[9] = "unused";
    size_t len = 99;
    f = forged(buf, 1000, 16, 0x41414141u);
    rec_binr_init(&r, f);
    assert_int_equal(rec_binr_str(&r, s, 0, 8, &len), REC_EFORMAT);
    assert_int_equal(len, 0);
    assert_string_equal(s, "unused");
    fclose(f);
    f = forged(buf, 2, 1, 0x00410041u); /* "A\0": an embedded NUL */
    rec_binr_init(&r, f);
    assert_int_equal(rec_binr_str(&r, s, 0, 8, &len), REC_EFORMAT);
    fclose(f);
    f = forged(buf, 2, 1, 0x00004141u); /* "AA" below a minimum of 3 */
    rec_binr_init(&r, f);
    assert_int_equal(rec_binr_str(&r, s, 3, 8, &len), REC_EFORMAT);
    fclose(f);

    /* a NaN is content damage only when asked for */
    f = forged(buf, 0, 2, 0x7fc00000u);
    rec_binr_init(&r, f);
    rec_binr_u32(&r);
    assert_null(rec_binr_f32s(&r, 2, 1));
    assert_int_equal(r.rc, REC_EFORMAT);
    fclose(f);
    f = forged(buf, 0, 2, 0x7fc00000u);
    rec_binr_init(&r, f);
    rec_binr_u32(&r);
    float *v = rec_binr_f32s(&r, 2, 0);
    assert_non_null(v);
    assert_true(isnan(v[0]) && isnan(v[1]));
    free(v);
    /* zero elements: still a non-NULL array */
    uint32_t *e = rec_binr_u32s(&r, 0);
    assert_non_null(e);
    free(e);
    assert_int_equal(r.rc, REC_OK);
    fclose(f);
}

static void test_grow(void **state)
{
    (void)state;
    struct rec_binr r;
    rec_binr_init(&r, NULL);
    int64_t *v = NULL;
    size_t cap = 0;
    assert_int_equal(rec_binr_grow(&r, (void **)&v, &cap, 1, sizeof *v), REC_OK);
    assert_int_equal(cap, 256);
    assert_int_equal(rec_binr_grow(&r, (void **)&v, &cap, 256, sizeof *v), REC_OK);
    assert_int_equal(cap, 256);
    assert_int_equal(rec_binr_grow(&r, (void **)&v, &cap, 257, sizeof *v), REC_OK);
    assert_int_equal(cap, 512);
    assert_int_equal(rec_binr_grow(&r, (void **)&v, &cap, 1500, sizeof *v), REC_OK);
    assert_int_equal(cap, 2048);
    v[2047] = 1;
    /* a size whose bytes overflow size_t: refused without calling the allocator */
    int64_t *keep = v;
    assert_int_equal(rec_binr_grow(&r, (void **)&v, &cap, SIZE_MAX / 4, sizeof *v), REC_ENOMEM);
    assert_ptr_equal(v, keep);
    assert_int_equal(cap, 2048);
    assert_int_equal(r.rc, REC_ENOMEM);
    free(v);
}

static void test_head_params_and_write_errors(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = sample(&n);
    struct rec_binr r;
    double p[3];
    FILE *f = fmemopen(b, n, "rb");
    rec_binr_init(&r, f);
    assert_int_equal(rec_binr_head(&r, MAGIC), 7);
    assert_int_equal(rec_binr_params(&r, p, 3), REC_EFORMAT); /* the file holds 2 */
    fclose(f);
    b[3] = 'X';
    f = fmemopen(b, n, "rb");
    rec_binr_init(&r, f);
    assert_int_equal(rec_binr_head(&r, MAGIC), 0);
    assert_int_equal(r.rc, REC_EFORMAT);
    fclose(f);
    free(b);

    unsigned char ro[64] = {0};
    f = fmemopen(ro, sizeof ro, "r"); /* read-only: every write fails */
    struct rec_binw w;
    rec_binw_init(&w, f);
    rec_binw_u32(&w, 1);
    assert_int_equal(rec_binw_finish(&w), REC_EIO);
    fclose(f);

    f = tmpfile(); /* an empty model still gets its checksum */
    rec_binw_init(&w, f);
    assert_int_equal(rec_binw_finish(&w), REC_OK);
    assert_int_equal(ftell(f), 8);
    rewind(f);
    rec_binr_init(&r, f);
    assert_int_equal(rec_binr_finish(&r), REC_OK);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_by_hand),
        cmocka_unit_test(test_fnv1a_checksum),
        cmocka_unit_test(test_round_trip_leaves_trailing_data),
        cmocka_unit_test(test_truncation_and_damage),
        cmocka_unit_test(test_forged_sizes),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_head_params_and_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
