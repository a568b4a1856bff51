/* features.h: the learned ranker's features, one builder for serving and offline evaluation, so
 * the model scores exactly what it was trained on.
 *
 * An example (a user, an item, what is known about both, and the context of the request) becomes
 * a list of hashed FM features (rec_fm_hash, all values 1). Each feature is a "field=value"
 * string; docs/RANKING.md lists them. A cross of fields A, B (and C) is the field "A*B" (or
 * "A*B*C") whose value is the 32-bit hashes of the sides, rec_fm_hash(A, a, 32) etc., written as
 * 8 lowercase hex digits each and concatenated: fixed-size, so long values never get truncated
 * into each other. A cross is emitted only when every side is known.
 *
 * Buckets (the exact strings hashed):
 *   duration (minutes): "0-5" "5-10" "10-20" "20-45" "45-90" "90+"     (lower bound inclusive)
 *   item age (days):    "<1d" "1-7d" "7-30d" "30-90d" "90-365d" "1-3y" "3y+" (negative: "<1d")
 *   daypart (hour):     night 23-5, morning 6-11, afternoon 12-16, evening 17-22
 *   weekend (weekday 0 = Sunday .. 6 = Saturday, as struct tm): "1" on 0 and 6, else "0"
 *
 * Pure: no allocation, no I/O, no globals; thread-safe.
 */
#ifndef REC_RANK_FEATURES_H
#define REC_RANK_FEATURES_H

#include "rank/fm.h"

struct rec_rank_input {
    const char *user, *item;                  /* ids; NULL: no id feature */
    const char *const *categories;            /* n_categories strings (NULL/"" entries skipped) */
    int n_categories;
    const char *const *tags;
    int n_tags;
    double duration_min;                      /* item length in minutes, NAN unknown */
    double age_days;                          /* item age at the event in days, NAN unknown */
    const char *const *user_attr_keys, *const *user_attr_values; /* n_user_attrs pairs of strings,
                                               * e.g. "age" "25-34", "gender" "F" (the caller
                                               * buckets numbers); a NULL or "" value is skipped */
    int n_user_attrs;
    const char *device, *region;              /* NULL or "" unknown */
    int hour, weekday;                        /* 0..23 and 0..6 (0 = Sunday); -1 unknown */
};

enum rec_feature_set { REC_FEAT_IDS = 1, REC_FEAT_ATTRS = 2, REC_FEAT_CONTEXT = 4 };

/* Features at most for in: 2 + (1 + n_attrs) * n_cat + n_tags + 2 + n_attrs (ATTRS) + 4 + 2 *
 * n_cat + 3 (CONTEXT); a buffer of REC_RANK_FEATURES_CAP covers typical inputs. */
#define REC_RANK_FEATURES_CAP 256

/* Writes the hashed features of the sets in mask (rec_feature_set bits) for in into
 * out[0..max), slots in [0, 2^bits), values 1, in this order:
 *   IDS      user, item
 *   ATTRS    category (each), tag (each), duration bucket, item age bucket, user attributes
 *            ("user.<key>"), user attribute x category crosses ("user.<key>*category")
 *   CONTEXT  device, daypart, weekend, region, and the crosses daypart*category,
 *            device*category, device*duration, daypart*duration, device*daypart*duration
 * A feature whose input is unknown is left out. Returns the count written, at most max (the
 * list is cut there; 0 for NULL in or out, or max <= 0). bits is clamped as by rec_fm_hash.
 * Thread-safe. */
int rec_rank_features(const struct rec_rank_input *in, unsigned mask, int bits,
                      struct rec_fm_feature *out, int max);

/* The bucket strings above, for callers that display or log them; NULL when unknown (NaN or
 * hour/weekday out of range). */
const char *rec_rank_duration_bucket(double minutes);
const char *rec_rank_age_bucket(double days);
const char *rec_rank_daypart(int hour);

#endif
