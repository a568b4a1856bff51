/* ranker_saver.h: keeps the served ranker's file (serve/ranker_file.h) fresh from a background
 * thread, off the request and event paths.
 *
 * When it saves:
 *   - every interval_s seconds while the ranker learns (nothing learned since the last save:
 *     nothing written; interval_s 0: never on a timer);
 *   - within a second of an erasure (rec_ranker_forget_user), so the file loses the user's id
 *     slot as memory did;
 *   - at stop (clean shutdown), when anything changed since the last save.
 * A save costs a copy of the model under the ranker's read lock (milliseconds; learning waits
 * for it) and then, without any lock, the write and fsync of the file (18.9 MB at the defaults).
 * A failed save is logged and tried again 10 s later at the earliest. A process killed between
 * saves loses what the ranker learned since the last one, at most interval_s seconds of it.
 */
#ifndef REC_SERVE_RANKER_SAVER_H
#define REC_SERVE_RANKER_SAVER_H

#include <stddef.h>

struct rec_ranker;
struct rec_ranker_saver;

/* Starts the thread for r and path (copied). State learned before the call counts as saved (a
 * ranker just loaded from path, or a fresh one). r must outlive the saver. Returns 0, REC_EINVAL
 * (interval_s negative or not finite), REC_ENOMEM or REC_EINTERNAL (no thread), with a message
 * in err; *out is NULL on failure. */
int rec_ranker_saver_start(struct rec_ranker *r, const char *path, double interval_s,
                           struct rec_ranker_saver **out, char *err, size_t errlen);

/* Stops the thread, then saves once more when anything changed since the last save (call after
 * learning stopped, for a file that holds everything). NULL is a no-op. Not thread-safe: one
 * caller, once. */
void rec_ranker_saver_stop(struct rec_ranker_saver *s);

#endif
