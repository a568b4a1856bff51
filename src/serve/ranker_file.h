/* ranker_file.h: the served ranker's file (DATA/models/ranker.bin by default), so that a restart
 * of `recd serve` serves the ranker it had learned at once instead of learning it again.
 *
 * Content (serve/ranker.h's rec_ranker_state), in model/binio's encoding:
 *   part 1  magic "RECDRANK", version, feature-set mask, positives, negatives, the AUC tracker
 *           (rank/auc.h), then the FNV-1a 64 checksum of the part
 *   part 2  the factorization machine as rec_fm_write writes it: configuration, parameters and
 *           AdaGrad accumulators, with its own checksum
 * and nothing after it. Size: 2 x 2^bits x (k + 1) x 4 bytes plus about 32 KiB, 18.9 MB with
 * the served ranker's bits 18 and k 8.
 *
 * Crash safety: a save writes PATH.tmp, flushes and fsyncs it, renames it over PATH and fsyncs
 * the directory, so PATH holds a whole file, the previous one or the new one, whenever the
 * process dies. A file that is damaged (a checksum, a short file, bytes after the end) or that
 * was learned with another configuration is refused with the reason; nothing of it is used.
 *
 * Privacy: no user or item id is written. Features are hashed (rank/features.h), and the
 * impressions waiting for their outcome, which name users, are not saved (a restart forgets
 * them: they are never learned as negatives).
 */
#ifndef REC_SERVE_RANKER_FILE_H
#define REC_SERVE_RANKER_FILE_H

#include <stddef.h>
#include <stdint.h>

struct rec_ranker;

/* What a save wrote: the state as it was copied, not as it is when the save ends. */
struct rec_ranker_saved {
    int64_t examples;              /* labelled examples learned */
    uint64_t changes, erasures;    /* rec_ranker_changes at the copy */
    int64_t bytes;                 /* file size */
};

/* Saves r's state (rec_ranker_get_state: learning waits only for the in-memory copy, not for
 * the disk) to path as above, creating path's directory when it is missing (one level), and
 * describes it in *saved (may be NULL). Returns 0, REC_ENOMEM or REC_EIO (path is then
 * unchanged) with a message in err. Thread-safe: saves from several threads are serialized. */
int rec_ranker_save(struct rec_ranker *r, const char *path, struct rec_ranker_saved *saved,
                    char *err, size_t errlen);

/* Loads the state saved at path into r (rec_ranker_set_state) and removes a stale PATH.tmp left
 * by a save a crash interrupted. Returns 0; REC_ENOTFOUND when there is no file; REC_EFORMAT
 * when it is damaged; REC_EINVAL when it was learned with another configuration; REC_EIO or
 * REC_ENOMEM. On any error r is unchanged and err names the file and the reason. Thread-safe,
 * but meant for start-up, before events flow. */
int rec_ranker_load(struct rec_ranker *r, const char *path, char *err, size_t errlen);

#endif
