/* halt.c: see halt.h. */
#include "core/halt.h"

#include <stdatomic.h>

static atomic_int halted; /* lock-free on every target recd builds for: safe in a handler */

void rec_halt_request(void)
{
    atomic_store_explicit(&halted, 1, memory_order_relaxed);
}

int rec_halt_requested(void)
{
    return atomic_load_explicit(&halted, memory_order_relaxed);
}

void rec_halt_reset(void)
{
    atomic_store_explicit(&halted, 0, memory_order_relaxed);
}
