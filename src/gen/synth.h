/* synth.h: a synthetic catalog and event stream of any size, for tests and benchmarks.
 *
 * Items have a category and power-law (Zipf) popularity; users have latent tastes (a preferred
 * category mix and a k-dimensional taste vector); each event picks a user (activity is also
 * heavy-tailed), then an item with probability growing with popularity and taste affinity, a type
 * (views mostly, some clicks, likes, purchases, ...) and a timestamp increasing over the span.
 * Deterministic for a given seed.
 *
 * With n_sessions > 0, items also carry "attributes":{"duration_min":N} and, after the events
 * above, the stream holds n_sessions recommendation sessions: a user, a context (device, hour,
 * session id), 10 shown items with an "impression" each and a "click" on some, drawn from a
 * click model that depends on taste, item length and context (synth.c, docs/RANKING.md). With
 * n_sessions = 0 the output is byte-identical to what it was before sessions existed.
 */
#ifndef REC_GEN_SYNTH_H
#define REC_GEN_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/import.h"

struct rec_synth_params {
    int64_t n_users;      /* default 1000 */
    int64_t n_items;      /* default 500 */
    int64_t n_events;     /* default 50000 */
    int n_categories;     /* default 20 */
    double zipf_s;        /* popularity exponent; default 1.0 */
    int taste_dims;       /* latent dimensions; default 8 */
    double taste_weight;  /* 0 = popularity only, 1 = taste only; default 0.7 */
    int64_t start_ts;     /* first timestamp; default 1700000000 */
    int64_t span_s;       /* seconds covered; default 30 days */
    uint64_t seed;        /* default 42 */
    int64_t n_sessions;   /* impression sessions after the events, 0..100000000; default 0 */
};

void rec_synth_params_default(struct rec_synth_params *p);
/* NULL or a message saying which parameter is out of range. */
const char *rec_synth_check_params(const struct rec_synth_params *p);
/* Emits all items, then users, then events in time order (then the sessions, later still), to
 * sink; session events carry their context as JSON text in ev->context. Returns 0 or the sink's
 * negative code. Item ids "i<N>", user ids "u<N>". Memory is O(users + items), not O(events). */
int rec_synth_generate(const struct rec_synth_params *p, const struct rec_import_sink *sink);

/* Loads a data source named on a command line into sink: "synthetic:USERS:ITEMS:EVENTS" runs
 * the generator (other parameters at their defaults), anything else is a path for
 * rec_import_path (format detected). Returns 0 or a negative code with a message in err. */
int rec_synth_load_source(const char *source, const struct rec_import_sink *sink, char *err,
                          size_t errlen);

#endif
