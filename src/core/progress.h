/* progress.h: a one-line progress bar on stderr for long offline jobs (eval, tune, import).
 *
 * Drawn only when stderr is a terminal (isatty); otherwise every call is a cheap no-op, so logs
 * and CI output stay clean. Redraws are limited to about 10 per second whatever the update rate.
 * The struct is caller-owned (usually on the stack); its fields are private. Not thread-safe:
 * call from one thread, or serialise updates from workers.
 */
#ifndef REC_CORE_PROGRESS_H
#define REC_CORE_PROGRESS_H

#include <stdint.h>

struct rec_progress {
    char label[32];       /* copied, truncated */
    int64_t total;        /* units of work; <= 0 means unknown (no percent, bar or ETA) */
    int64_t done;         /* last value passed to update */
    double t_start;       /* monotonic seconds at start */
    double t_drawn;       /* monotonic seconds of the last redraw */
    int active;           /* 1 when stderr is a terminal */
};

/* Starts a bar "label" over total units (label may be NULL) and draws it at 0. */
void rec_progress_start(struct rec_progress *p, const char *label, int64_t total);
/* Records that done units are finished; redraws at most every 0.1 s (and once when done first
 * reaches total), showing percent, done/total, elapsed time and the ETA at the average rate so
 * far. NULL p is a no-op. */
void rec_progress_update(struct rec_progress *p, int64_t done);
/* Draws the final state with the total time and ends the line; later calls do nothing. */
void rec_progress_finish(struct rec_progress *p);

#endif
