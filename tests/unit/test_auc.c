/* Streaming AUC (src/rank/auc.c): the edge cases, a hand-computed case, agreement with an
 * exact AUC, and the decayed copy following a change of quality. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rand.h"
#include "model/binio.h"
#include "rank/auc.h"

static double unif(uint64_t *st) { return (double)(rec_splitmix64(st) >> 11) * 0x1p-53; }

static struct rec_auc a; /* 32 KiB: kept off the test's stack */

/* Exact AUC by counting all pairs, ties half. */
static double exact_auc(const double *p, const int *y, int n)
{
    double good = 0, pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] && !y[j]) {
                pairs++;
                good += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
            }
    return good / pairs;
}

static void test_edges(void **state)
{
    rec_auc_init(&a, 100);
    assert_true(isnan(rec_auc_value(&a)));
    assert_true(isnan(rec_auc_recent(&a)));
    rec_auc_add(&a, 0.9, 1);
    rec_auc_add(&a, 0.7, 1);
    assert_true(isnan(rec_auc_value(&a))); /* one class only */
    assert_true(isnan(rec_auc_recent(&a)));

    /* perfect separation, including the ends of the range and values outside it */
    rec_auc_init(&a, 100);
    uint64_t st = 1;
    for (int i = 0; i < 1000; i++) {
        rec_auc_add(&a, 0.6 + 0.4 * unif(&st), 1);
        rec_auc_add(&a, 0.4 * unif(&st), 0);
    }
    rec_auc_add(&a, 1.0, 1);
    rec_auc_add(&a, 7.0, 1);
    rec_auc_add(&a, 0.0, 0);
    rec_auc_add(&a, -3.0, 0);
    rec_auc_add(&a, NAN, 0); /* ignored */
    assert_true(rec_auc_value(&a) == 1.0);
    assert_true(rec_auc_recent(&a) == 1.0);
    assert_int_equal(rec_auc_count(&a, 1), 1002);
    assert_int_equal(rec_auc_count(&a, 0), 1002);

    /* reversed */
    rec_auc_init(&a, 0);
    for (int i = 0; i < 1000; i++) {
        rec_auc_add(&a, 0.6 + 0.4 * unif(&st), 0);
        rec_auc_add(&a, 0.4 * unif(&st), 1);
    }
    assert_true(rec_auc_value(&a) == 0.0);
    assert_true(isnan(rec_auc_recent(&a))); /* no decayed copy */

    /* all predictions equal: every pair a tie */
    rec_auc_init(&a, 50);
    for (int i = 0; i < 1000; i++)
        rec_auc_add(&a, 0.5, unif(&st) < 0.3);
    assert_true(rec_auc_value(&a) == 0.5);
    assert_true(fabs(rec_auc_recent(&a) - 0.5) < 1e-12);
}

static void test_hand_computed(void **state)
{
    /* positives {0.9, 0.4}, negatives {0.35, 0.1, 0.8}: of 6 pairs, 0.9 beats all 3 and 0.4
     * beats 0.35 and 0.1, so 5/6 */
    rec_auc_init(&a, 1e6);
    rec_auc_add(&a, 0.9, 1);
    rec_auc_add(&a, 0.35, 0);
    rec_auc_add(&a, 0.4, 1);
    rec_auc_add(&a, 0.1, 0);
    rec_auc_add(&a, 0.8, 0);
    assert_true(fabs(rec_auc_value(&a) - 5.0 / 6.0) < 1e-3);
    assert_true(fabs(rec_auc_recent(&a) - 5.0 / 6.0) < 1e-3);
    /* a pair inside one bin counts half: 0.4001 vs 0.4003 */
    rec_auc_init(&a, 0);
    rec_auc_add(&a, 0.4001, 1);
    rec_auc_add(&a, 0.4003, 0);
    assert_true(rec_auc_value(&a) == 0.5);
}

static void test_matches_exact_auc(void **state)
{
    enum { N = 10000 };
    static double p[N];
    static int y[N];
    uint64_t st = 2;
    rec_auc_init(&a, 1e12); /* a half-life far beyond N: the decayed copy is the cumulative one */
    for (int i = 0; i < N; i++) {
        p[i] = unif(&st);
        y[i] = unif(&st) < p[i]; /* calibrated: AUC about 0.83 */
        rec_auc_add(&a, p[i], y[i]);
    }
    double exact = exact_auc(p, y, N);
    print_message("exact %.6f binned %.6f recent %.6f\n", exact, rec_auc_value(&a),
                  rec_auc_recent(&a));
    assert_true(exact > 0.75 && exact < 0.9);
    assert_true(fabs(rec_auc_value(&a) - exact) < 1e-3);
    assert_true(fabs(rec_auc_recent(&a) - exact) < 1e-3);
}

static void test_recent_follows_change(void **state)
{
    uint64_t st = 3;
    rec_auc_init(&a, 1000);
    for (int i = 0; i < 10000; i++) /* uninformative */
        rec_auc_add(&a, unif(&st), unif(&st) < 0.5);
    assert_true(fabs(rec_auc_recent(&a) - 0.5) < 0.1);
    for (int i = 0; i < 10000; i++) { /* perfectly separated */
        int y = unif(&st) < 0.5;
        rec_auc_add(&a, y ? 0.5 + 0.5 * unif(&st) : 0.5 * unif(&st), y);
    }
    double recent = rec_auc_recent(&a), cum = rec_auc_value(&a);
    print_message("recent %.4f cumulative %.4f\n", recent, cum);
    assert_true(recent > 0.95);
    /* pairs: random-random 0.5, separated-separated 1, across 0.75 each way */
    assert_true(fabs(cum - 0.75) < 0.02);
    assert_int_equal(rec_auc_count(&a, 0) + rec_auc_count(&a, 1), 20000);
}

/* Many half-lives: the lazy weights are rescaled many times and the decayed AUC stays right. */
static void test_long_run_rescales(void **state)
{
    uint64_t st = 4;
    rec_auc_init(&a, 10); /* rescaled every 2560 examples */
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 5000; i++) {
            int y = unif(&st) < 0.5;
            double p = round % 2 ? (y ? 0.9 : 0.1) : (y ? 0.1 : 0.9);
            rec_auc_add(&a, p, y);
        }
        double r = rec_auc_recent(&a);
        assert_true(round % 2 ? r > 0.999 : r < 0.001);
    }
    assert_true(fabs(rec_auc_value(&a) - 0.5) < 0.01);
}

static struct rec_auc b;

/* Written and read back (binio), a tracker goes on exactly as the original; damage is refused. */
static void test_write_read(void **state)
{
    uint64_t st = 5;
    for (int with_recent = 0; with_recent < 2; with_recent++) {
        rec_auc_init(&a, with_recent ? 10 : 0); /* rescaled every 2560 examples */
        for (int i = 0; i < 4000; i++) {
            int y = unif(&st) < 0.3;
            rec_auc_add(&a, y ? unif(&st) : 0.8 * unif(&st), y);
        }
        FILE *f = tmpfile();
        assert_non_null(f);
        struct rec_binw w;
        rec_binw_init(&w, f);
        rec_auc_write(&a, &w);
        assert_int_equal(rec_binw_finish(&w), REC_OK);
        long size = ftell(f);
        assert_true(size > 16000 && size < (with_recent ? 33000 : 17000));
        rewind(f);
        struct rec_binr r;
        rec_binr_init(&r, f);
        assert_int_equal(rec_auc_read(&b, &r), REC_OK);
        assert_int_equal(rec_binr_finish(&r), REC_OK);
        assert_true(rec_auc_value(&a) == rec_auc_value(&b));
        assert_true(isnan(rec_auc_recent(&a)) == !with_recent);
        if (with_recent)
            assert_true(rec_auc_recent(&a) == rec_auc_recent(&b));
        for (int i = 0; i < 3000; i++) { /* past a rescale */
            int y = unif(&st) < 0.5;
            double p = unif(&st);
            rec_auc_add(&a, p, y);
            rec_auc_add(&b, p, y);
        }
        assert_true(rec_auc_value(&a) == rec_auc_value(&b));
        if (with_recent)
            assert_true(rec_auc_recent(&a) == rec_auc_recent(&b));
        /* counts that do not add up, and a cut file: REC_EFORMAT */
        unsigned char *buf = malloc((size_t)size);
        rewind(f);
        assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        buf[4 + 8 + 8 + 8 * 500] ^= 1; /* a count of bin 500 of the negatives */
        f = tmpfile();
        fwrite(buf, 1, (size_t)size, f);
        rewind(f);
        rec_binr_init(&r, f);
        assert_int_equal(rec_auc_read(&b, &r), REC_EFORMAT);
        fclose(f);
        buf[4 + 8 + 8 + 8 * 500] ^= 1;
        f = tmpfile();
        fwrite(buf, 1, (size_t)size / 2, f);
        rewind(f);
        rec_binr_init(&r, f);
        assert_int_equal(rec_auc_read(&b, &r), REC_EFORMAT);
        fclose(f);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_matches_exact_auc),
        cmocka_unit_test(test_recent_follows_change),
        cmocka_unit_test(test_long_run_rescales),
        cmocka_unit_test(test_write_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
