/* eval_replay.h: prequential (replay) evaluation of the served pipeline: events sorted by time,
 * the first fraction trains, the rest is streamed one event at a time; before each event the
 * user's top-K (items they already have left out) is asked for and scored against the event's
 * item, then the event is applied through the same incremental path the server uses. */
#ifndef REC_APP_EVAL_REPLAY_H
#define REC_APP_EVAL_REPLAY_H

#include <jansson.h>

#include "app/eval_data.h"
#include "serve/engine.h"

enum rec_replay_policy {
    REC_REPLAY_STATIC,     /* no updates: the model and histories as trained */
    REC_REPLAY_USER,       /* each event updates its user's history and factors only */
    REC_REPLAY_ONLINE,     /* each event updates everything the server updates per event */
    REC_REPLAY_RETRAIN,    /* online, plus a full retrain every retrain_every events */
    REC_REPLAY__COUNT
};

/* Runs the policies in mask (bit per policy) at every K of ks and appends one result object per
 * policy to models (name, HR and NDCG per K, seconds). With write_recs, also writes
 * <write_recs>.stream (the streamed events, evalkit's format) and <write_recs>.<policy> (event
 * index, item, rank lines: evalkit replay-score's input). 0 or a negative code with err set. */
int rec_eval_replay(const struct rec_engine_params *p, const struct rec_eval_data *d,
                    double fraction, int64_t retrain_every, unsigned mask, const int *ks, int n_k,
                    const char *write_recs, json_t *models, char *err, size_t errlen);

#endif
