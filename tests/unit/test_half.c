/* test_half.c: core/half.h's conversions: every half converts to the float it denotes and back
 * to itself, floats round to nearest (ties to even), out-of-range values saturate, and the
 * F16C path (when the build has it) gives the same bits as the portable code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/half.h"
#include "core/rand.h"

static float bits_float(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* The value a half denotes, computed from its fields (no conversion code shared). */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static void test_every_half_round_trips(void **state)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = rec_half_to_float_soft((uint16_t)h);
        assert_true(rec_half_to_float((uint16_t)h) == f || (isnan(f) && isnan(rec_half_to_float((uint16_t)h))));
        if (((h >> 10) & 0x1f) == 0x1f) { /* inf and NaN */
            assert_true(((h & 0x3ff) == 0 && isinf(f)) || ((h & 0x3ff) != 0 && isnan(f)));
            continue;
        }
        assert_true((double)f == half_value((uint16_t)h));
        assert_int_equal(rec_half_from_float_soft(f), h);
        assert_int_equal(rec_half_from_float(f), h);
    }
}

static void test_rounding_and_saturation(void **state)
{
    /* integers are exact up to 2048; 2049 is a tie between 2048 and 2050: to even, 2048 */
    for (int k = -2048; k <= 2048; k++)
        assert_true(rec_half_to_float(rec_half_from_float((float)k)) == (float)k);
    assert_true(rec_half_to_float(rec_half_from_float(2049.0f)) == 2048.0f);
    assert_true(rec_half_to_float(rec_half_from_float(2051.0f)) == 2052.0f);
    assert_true(rec_half_to_float(rec_half_from_float(2050.5f)) == 2050.0f);
    /* beyond the largest half: saturate, never infinity */
    assert_true(rec_half_to_float(rec_half_from_float(65519.0f)) == 65504.0f);
    assert_true(rec_half_to_float(rec_half_from_float(65520.0f)) == REC_HALF_MAX);
    assert_true(rec_half_to_float(rec_half_from_float(1e30f)) == REC_HALF_MAX);
    assert_true(rec_half_to_float(rec_half_from_float(-INFINITY)) == -REC_HALF_MAX);
    assert_true(isnan(rec_half_to_float(rec_half_from_float(NAN))));
    /* the smallest subnormal is 2^-24; half of it is a tie that goes to zero */
    assert_true(rec_half_to_float(rec_half_from_float(0x1p-24f)) == 0x1p-24f);
    assert_true(rec_half_to_float(rec_half_from_float(0x1p-25f)) == 0.0f);
    assert_true(rec_half_to_float(rec_half_from_float(0x1.8p-25f)) == 0x1p-24f);
    assert_true(rec_half_to_float(rec_half_from_float(0.1f)) == 0.0999755859375f);
}

/* Random float bit patterns over the whole range: the portable rounding agrees with the value
 * of the nearest half (and with F16C when the build uses it). */
static void test_random_floats(void **state)
{
    uint64_t st = 42;
    for (int t = 0; t < 2000000; t++) {
        uint32_t x = (uint32_t)rec_splitmix64(&st);
        if (t % 2) /* half of them inside the half's range, where rounding happens */
            x = (x & 0x807fffffu) | ((uint32_t)(96 + rec_splitmix64(&st) % 48) << 23);
        float f = bits_float(x);
        uint16_t h = rec_half_from_float_soft(f);
        assert_int_equal(rec_half_from_float(f), h);
        if (isnan(f) || fabsf(f) >= 65520.0f)
            continue;
        /* no other finite half is nearer, and a tie went to the even one */
        double v = half_value(h), err = fabs(v - (double)f);
        for (int d = -1; d <= 1; d += 2) {
            uint16_t o = (uint16_t)(h + d);
            if ((o & 0x7fff) >= 0x7c00 || ((h & 0x7fff) == 0 && d < 0))
                continue;
            double eo = fabs(half_value(o) - (double)f);
            assert_true(err < eo || (err == eo && (h & 1) == 0));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_half_round_trips),
        cmocka_unit_test(test_rounding_and_saturation),
        cmocka_unit_test(test_random_floats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
