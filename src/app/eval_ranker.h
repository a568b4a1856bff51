/* eval_ranker.h: `recd eval --protocol ranker`: progressive validation of the learned ranker
 * (the factorization machine of rank/fm.h over the features of rank/features.h), one model per
 * feature set, against a popularity baseline (docs/RANKING.md).
 *
 * Input: path (a MovieLens directory, a JSON-lines file such as `recd gen --sessions N` writes,
 * or anything rec_import_path reads) or, when path is NULL, the data directory's store. When the
 * data holds "impression" events, every impression is an example labelled by a click on the same
 * (user, item, context.session) at or after it, grouped into lists by session; every other event
 * is learned (positive when its type weighs > 0) but not scored. Otherwise every event is a
 * scored example (ratings: label stars >= 4; other types: weight > 0), grouped into lists of one
 * user's events of one UTC day. Lists are processed in order of their first timestamp: every
 * example of a list is predicted by the current models, then the list is learned.
 *
 * Session context (the CONTEXT set): a session is one user's consecutive events less than 30
 * minutes apart; an example gets its position in it, the gap to the user's previous event and
 * the categories of the session's earlier engaged events, all from events with an earlier
 * timestamp. Ratings count as engaged whatever their stars; other events by a positive label,
 * and only from lists learned before (no label of a list reaches its own predictions).
 *
 * Metrics: progressive AUC over every scored example (rec_auc; the baseline's exact AUC), and
 * NDCG@10 (binary gains, ties broken in expectation) averaged over the lists with a positive and
 * a negative that start in the second half of the scored stream. FM settings: defaults, or the
 * environment variables RECD_FM_K, RECD_FM_LR, RECD_FM_BITS; the seed is --seed.
 */
#ifndef REC_APP_EVAL_RANKER_H
#define REC_APP_EVAL_RANKER_H

#include "core/config.h"

/* Runs the protocol for c (--seed, --out; --data when path is NULL), printing the table to
 * stdout and writing JSON to c->out unless it is "-". Returns the process exit code: 0, 1 on a
 * failure (message on stderr), 2 on bad settings. Not thread-safe (prints). */
int rec_eval_ranker(const struct rec_config *c, const char *path);

#endif
