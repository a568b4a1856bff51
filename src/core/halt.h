/* halt.h: the process was asked to stop (SIGINT or SIGTERM).
 *
 * Long computations poll it and give up early: the replay of the store at start, a training
 * run, the refit of the side models after a snapshot load, the parallel loops of the fits
 * (rec_workers_for hands out no more chunks). Without it a shutdown waited for whatever was
 * running: minutes for a refit at a million items, more for a training run. Nothing they give
 * up is lost: events are durable, and a run that does not finish publishes and saves nothing.
 *
 * Process-wide because a signal is: a handler sets it, and only a test clears it.
 */
#ifndef REC_CORE_HALT_H
#define REC_CORE_HALT_H

/* Async-signal-safe. */
void rec_halt_request(void);
/* Nonzero once rec_halt_request was called. Cheap: a relaxed atomic load. */
int rec_halt_requested(void);
/* For tests only: clears the request. */
void rec_halt_reset(void);

#endif
