/* rand.h: splitmix64 (Steele, Lea, Flood 2014), the one seeded random stream recd's
 * deterministic code uses (splits, initial factors, the synthetic generator's seeding).
 * Pure functions of the state: identical sequences on every platform. */
#ifndef REC_CORE_RAND_H
#define REC_CORE_RAND_H

#include <stdint.h>

/* The splitmix64 output finaliser: a bijective 64-bit mix. */
static inline uint64_t rec_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Next value of the stream whose state is *state. */
static inline uint64_t rec_splitmix64(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;
    return rec_mix64(*state);
}

#endif
