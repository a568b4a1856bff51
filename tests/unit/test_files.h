/* test_files.h: whole-file helpers of the unit tests that damage saved files on purpose (flip a
 * byte, cut the tail). Include after <cmocka.h>; each failure is a test failure. */
#ifndef REC_TEST_FILES_H
#define REC_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* The bytes of path (malloc'd, one spare byte at the end); *n gets their count. */
static unsigned char *read_all(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)*n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

/* Replaces path's content by the n bytes at b. */
static void write_all(const char *path, const unsigned char *b, long n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

#endif
