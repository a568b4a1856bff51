/* workers.h: run a function on several threads at once, the caller's thread included.
 *
 * For the fits of the models: the work is shared through the context (typically an atomic
 * counter, as rec_workers_for does), so a thread that fails to start only costs speed.
 */
#ifndef REC_CORE_WORKERS_H
#define REC_CORE_WORKERS_H

#include <stdint.h>

/* Threads to use: requested when > 0, else the number of online CPUs; clamped to 1..max. */
int rec_workers_count(int requested, int max);

/* Calls fn(ctx, t) once for each thread t: t = 0 on the caller's thread, 1, 2, ... on new
 * threads, at most n_threads in all (n_threads < 1 counts as 1), and returns when all have
 * finished. Thread indexes are contiguous from 0; those whose thread fails to start (or whose
 * bookkeeping cannot be allocated) are never called. Returns the number of threads that ran. */
int rec_workers_run(int n_threads, void (*fn)(void *ctx, int thread), void *ctx);

/* Parallel loop over [0, n): threads claim chunks [lo, hi) of up to chunk indexes in increasing
 * order from one atomic counter (uneven rows balance themselves) and call fn(ctx, thread, lo, hi)
 * for each. Uses at most n_threads threads and no more than there are chunks; thread is as in
 * rec_workers_run (an index into per-thread scratch). Once a halt is requested (core/halt.h) no
 * more chunks are handed out: a caller that polls rec_halt_requested after the loop must
 * discard what it computed. Returns the number of threads that ran. */
int rec_workers_for(int n_threads, int64_t n, int64_t chunk,
                    void (*fn)(void *ctx, int thread, int64_t lo, int64_t hi), void *ctx);

#endif
