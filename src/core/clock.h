/* clock.h: time in the units recd uses. */
#ifndef REC_CORE_CLOCK_H
#define REC_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock Unix time in seconds. */
static inline int64_t rec_now_s(void) { return (int64_t)time(NULL); }

/* Wall-clock Unix time in seconds with a fraction. */
static inline double rec_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Monotonic time in seconds, for durations. */
static inline double rec_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
