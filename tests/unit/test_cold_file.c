/* test_cold_file.c: the saved cold set (src/serve/cold_file.c): a save loads back equal bit for
 * bit and rewrites the same bytes; every flipped byte, every truncation and trailing bytes are
 * refused with nothing handed out; a sound file of another snapshot is refused too; the writer
 * refuses what its reader would. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/sha256.h"
#include "model/binio.h"
#include "serve/cold_file.h"
#include "test_files.h"

enum { N = 60, K = 8 };
#define VERSION 7u
#define TAG 0x1122334455667788ull

static char path[64], path2[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/test_cold_file.%d", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/test_cold_file.%d.b", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unlink(path2);
    return 0;
}

/* A cold set of N items, every third without factors (a zero row). */
static void sample(struct rec_cold_file *c)
{
    memset(c, 0, sizeof *c);
    c->version = VERSION;
    c->tag = TAG;
    c->k = K;
    c->norm = 1.375f;
    c->n = N;
    c->id = calloc(N, sizeof *c->id);
    c->doc_hash = malloc((size_t)N * REC_COLD_DOC_HASH);
    c->has_x = malloc(N);
    c->x = calloc((size_t)N * K, sizeof *c->x);
    assert_true(c->id && c->doc_hash && c->has_x && c->x);
    char buf[64];
    for (int j = 0; j < N; j++) {
        snprintf(buf, sizeof buf, "item-%d", j * 37);
        c->id[j] = strdup(buf);
        snprintf(buf, sizeof buf, "{\"title\": \"doc %d\"}", j);
        rec_sha256(buf, strlen(buf), c->doc_hash + (size_t)j * REC_COLD_DOC_HASH);
        c->has_x[j] = j % 3 != 0;
        for (int f = 0; c->has_x[j] && f < K; f++)
            c->x[(size_t)j * K + f] = (float)sin(j * 0.7 + f) * 1e-3f * (float)(j + 1);
    }
    c->x[K + 1] = -0.0f; /* a sign bit must survive too */
}

static void assert_same(const struct rec_cold_file *a, const struct rec_cold_file *b)
{
    assert_true(a->version == b->version && a->tag == b->tag);
    assert_int_equal(a->k, b->k);
    assert_memory_equal(&a->norm, &b->norm, sizeof a->norm);
    assert_int_equal(a->n, b->n);
    for (int j = 0; j < a->n; j++)
        assert_string_equal(a->id[j], b->id[j]);
    assert_memory_equal(a->doc_hash, b->doc_hash, (size_t)a->n * REC_COLD_DOC_HASH);
    assert_memory_equal(a->has_x, b->has_x, (size_t)a->n);
    assert_memory_equal(a->x, b->x, (size_t)a->n * a->k * sizeof *a->x);
}

static void assert_empty(const struct rec_cold_file *c)
{
    assert_int_equal(c->n, 0);
    assert_null(c->id);
    assert_null(c->x);
}

static void round_trip_is_bit_exact(void **state)
{
    (void)state;
    struct rec_cold_file c, back;
    sample(&c);
    assert_int_equal(rec_cold_file_save(path, &c), 0);
    assert_int_equal(rec_cold_file_load(path, VERSION, TAG, K, &back), 0);
    assert_same(&c, &back);
    assert_true(signbit(back.x[K + 1]));
    /* the loaded set writes the very same bytes */
    assert_int_equal(rec_cold_file_save(path2, &back), 0);
    long n1, n2;
    unsigned char *b1 = read_all(path, &n1), *b2 = read_all(path2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, (size_t)n1);
    /* the tag of a binio file is the checksum it ends with */
    FILE *f = fopen(path, "rb");
    uint64_t tag = 0, want = 0;
    assert_int_equal(rec_binio_file_tag(f, &tag), 0);
    fclose(f);
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)b1[n1 - 8 + i] << (8 * i);
    assert_true(tag == want);
    free(b1);
    free(b2);
    rec_cold_file_free(&back);
    rec_cold_file_free(&c);
}

static void empty_set_round_trips(void **state)
{
    (void)state;
    struct rec_cold_file c = {.version = 1, .tag = 2, .k = 4, .norm = 0}, back;
    assert_int_equal(rec_cold_file_save(path, &c), 0);
    assert_int_equal(rec_cold_file_load(path, 1, 2, 4, &back), 0);
    assert_int_equal(back.n, 0);
    rec_cold_file_free(&back);
}

/* The sample saved to path; its bytes (n of them, one spare byte after) for the caller to free. */
static unsigned char *saved_sample(long *n)
{
    struct rec_cold_file c;
    sample(&c);
    assert_int_equal(rec_cold_file_save(path, &c), 0);
    rec_cold_file_free(&c);
    return read_all(path, n);
}

static void every_flipped_byte_is_refused(void **state)
{
    (void)state;
    struct rec_cold_file back;
    long n;
    unsigned char *b = saved_sample(&n);
    for (long p = 0; p < n; p++) {
        b[p] ^= 0x10;
        write_all(path, b, n);
        b[p] ^= 0x10;
        int rc = rec_cold_file_load(path, VERSION, TAG, K, &back);
        if (rc != REC_EFORMAT)
            fail_msg("byte %ld of %ld flipped: rc %d", p, n, rc);
        assert_empty(&back);
    }
    free(b);
}

static void every_truncation_and_trailing_bytes_are_refused(void **state)
{
    (void)state;
    struct rec_cold_file back;
    long n;
    unsigned char *b = saved_sample(&n);
    for (long len = 0; len < n; len++) {
        write_all(path, b, len);
        int rc = rec_cold_file_load(path, VERSION, TAG, K, &back);
        if (rc != REC_EFORMAT)
            fail_msg("cut to %ld of %ld bytes: rc %d", len, n, rc);
        assert_empty(&back);
    }
    b[n] = 0;
    write_all(path, b, n + 1);
    assert_int_equal(rec_cold_file_load(path, VERSION, TAG, K, &back), REC_EFORMAT);
    assert_empty(&back);
    free(b);
}

static void other_snapshot_or_missing_is_refused(void **state)
{
    (void)state;
    struct rec_cold_file c, back;
    sample(&c);
    assert_int_equal(rec_cold_file_save(path, &c), 0);
    assert_int_equal(rec_cold_file_load(path, VERSION + 1, TAG, K, &back), REC_ECONFLICT);
    assert_empty(&back);
    assert_int_equal(rec_cold_file_load(path, VERSION, TAG ^ 1, K, &back), REC_ECONFLICT);
    assert_empty(&back);
    assert_int_equal(rec_cold_file_load(path, VERSION, TAG, K + 1, &back), REC_ECONFLICT);
    assert_empty(&back);
    unlink(path);
    assert_int_equal(rec_cold_file_load(path, VERSION, TAG, K, &back), REC_ENOTFOUND);
    assert_empty(&back);
    rec_cold_file_free(&c);
}

static void writer_refuses_what_a_reader_would(void **state)
{
    (void)state;
    struct rec_cold_file c;
    sample(&c);
    FILE *f = tmpfile();
    c.x[5] = NAN;
    assert_int_equal(rec_cold_file_write(&c, f), REC_EINVAL);
    c.x[5] = 0;
    c.x[0] = 1; /* entry 0 has no factors: its row must stay zero */
    assert_int_equal(rec_cold_file_write(&c, f), REC_EINVAL);
    c.x[0] = 0;
    c.id[3][0] = '\0';
    assert_int_equal(rec_cold_file_write(&c, f), REC_EINVAL);
    c.id[3][0] = 'i';
    c.k = 0;
    assert_int_equal(rec_cold_file_write(&c, f), REC_EINVAL);
    c.k = K;
    assert_int_equal(rec_cold_file_write(&c, f), 0);
    fclose(f);
    rec_cold_file_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_is_bit_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_set_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(every_flipped_byte_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(every_truncation_and_trailing_bytes_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(other_snapshot_or_missing_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_refuses_what_a_reader_would, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
