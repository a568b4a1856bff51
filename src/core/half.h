/* half.h: IEEE 754 binary16 ("half") storage for floats that need little precision, held as
 * uint16_t bits so no compiler extension (_Float16) is needed.
 *
 * rec_half_from_float rounds to nearest, ties to even, and saturates: a finite value beyond
 * the largest half (65504) becomes +-65504 rather than infinity; NaN stays NaN. Halves hold
 * 11 significant bits: integers up to 2048 exactly, relative error 2^-11 elsewhere, and values
 * down to 2^-24 (subnormals below 2^-14). With F16C (enabled by -march=native on such a CPU)
 * the conversions are single instructions; elsewhere plain integer code that gives the same
 * bits (tests/unit/test_half.c compares the two). Pure functions: thread-safe.
 */
#ifndef REC_CORE_HALF_H
#define REC_CORE_HALF_H

#include <stdint.h>
#include <string.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#define REC_HALF_MAX 65504.0f

/* The portable conversions (what the F16C instructions compute). */
static inline uint16_t rec_half_from_float_soft(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, mag = x & 0x7fffffffu;
    if (mag > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u | ((mag >> 13) & 0x3ffu)); /* NaN, quiet */
    if (mag >= 0x477ff000u)
        return (uint16_t)(sign | 0x7bffu); /* rounds to 65520 or more: saturate (inf too) */
    if (mag >= 0x38800000u) { /* normal half: rebias the exponent, round 13 bits off */
        uint32_t h = (mag - 0x38000000u) >> 13, rest = mag & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
            h++; /* a carry into the exponent is still right */
        return (uint16_t)(sign | h);
    }
    if (mag < 0x33000000u)
        return (uint16_t)sign; /* below half the smallest subnormal: zero */
    /* subnormal half: the significand with its implicit bit, shifted into place */
    uint32_t e = mag >> 23, m = (mag & 0x7fffffu) | 0x800000u, shift = 126u - e; /* 14..24 */
    uint32_t h = m >> shift, rest = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

static inline float rec_half_to_float_soft(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0x1fu) {
        x = sign | 0x7f800000u | (m << 13);
    } else if (e != 0) {
        x = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m == 0) {
        x = sign;
    } else { /* subnormal: normalize */
        e = 113u;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        x = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static inline uint16_t rec_half_from_float(float f)
{
#if defined(__F16C__)
    if (!(f >= -REC_HALF_MAX && f <= REC_HALF_MAX) && f == f) /* saturate, as the soft one */
        f = f > 0 ? REC_HALF_MAX : -REC_HALF_MAX;
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    return rec_half_from_float_soft(f);
#endif
}

static inline float rec_half_to_float(uint16_t h)
{
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return rec_half_to_float_soft(h);
#endif
}

#endif
