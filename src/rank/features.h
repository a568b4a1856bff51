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
 *   session position (events before this one in the session): "0" "1" "2-4" "5-9" "10+"
 *   gap (seconds since the user's previous event): "<1m" "<10m" "<1h" "<1d" "1d+" (upper bounds
 *                       exclusive; negative, a clock skew: "<1m")
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
    /* The user's current session (added after the fields above; the zero value of each means
     * unknown, so callers that zero-initialize the struct get no session feature). */
    const char *const *session_categories;    /* categories of the items the user engaged with
                                               * earlier in the session, most recent first,
                                               * deduplicated; NULL/"" entries skipped, at most
                                               * REC_RANK_SESSION_CATS used */
    int n_session_categories;                 /* 0: none known */
    int session_known;                        /* 0: session_position and since_last_s are
                                               * ignored (unknown); nonzero: they are set */
    int session_position;                     /* events of the user in this session before this
                                               * one (0: the session starts here); -1 unknown */
    double since_last_s;                      /* seconds since the user's previous event (in or
                                               * before the session); NAN unknown */
};

/* SESSION is its own set: on MovieLens 100K it cost AUC (docs/RANKING.md), so the served
 * ranker leaves it out and `recd eval --protocol ranker` reports it as a fourth set. */
enum rec_feature_set { REC_FEAT_IDS = 1, REC_FEAT_ATTRS = 2, REC_FEAT_CONTEXT = 4,
                       REC_FEAT_SESSION = 8 };

/* The group (REC_FM_GROUP) of each feature, for a model learned with across_groups: ids and
 * attributes of the user; id, categories, tags, duration and age of the item; the context and
 * session fields. Crosses are linear (REC_FM_LINEAR), so their group does not matter (0). */
enum { REC_RANK_GROUP_USER = 0, REC_RANK_GROUP_ITEM = 1, REC_RANK_GROUP_CONTEXT = 2 };

/* Session categories used at most (the first ones of the list). */
#define REC_RANK_SESSION_CATS 8

/* Features at most for in: 2 + (1 + n_attrs) * n_cat + n_tags + 2 + n_attrs (ATTRS) + 4 + 2 *
 * n_cat + 3 + 2 + n_session_cat * n_cat + 1 (CONTEXT); a buffer of REC_RANK_FEATURES_CAP covers
 * typical inputs. */
#define REC_RANK_FEATURES_CAP 256

/* Writes the hashed features of the sets in mask (rec_feature_set bits) for in into
 * out[0..max), slots in [0, 2^bits), values 1, in this order:
 *   IDS      user, item
 *   ATTRS    category (each), tag (each), duration bucket, item age bucket, user attributes
 *            ("user.<key>"), user attribute x category crosses ("user.<key>*category")
 *   CONTEXT  device, daypart, weekend, region, and the crosses daypart*category,
 *            device*category, device*duration, daypart*duration, device*daypart*duration;
 *            then the session: session_position and session_gap buckets, the crosses
 *            session_category*category (each session category x each category), and
 *            session_match "1" when a session category equals one of the item's categories
 * A feature whose input is unknown is left out. Returns the count written, at most max (the
 * list is cut there; 0 for NULL in or out, or max <= 0). bits is clamped as by rec_fm_hash.
 * Thread-safe. */
int rec_rank_features(const struct rec_rank_input *in, unsigned mask, int bits,
                      struct rec_fm_feature *out, int max);

/* Instance normalisation of the side features (libFFM's, applied to everything but the ids):
 * sets the value of every feature after the ids that rec_rank_features wrote first for in and
 * mask to scale / sqrt(m), m being how many there are. scale <= 0 (or not finite) leaves them at
 * 1. With all values 1, the dozens of attribute and context features of an example outweigh its
 * two ids in every prediction and every step; on MovieLens 100K, where the ids carry most of the
 * signal, that cost the context set its lead over ids alone, while on the synthetic stream, where
 * the context carries it, values 1 are best (docs/RANKING.md). So the scale is a per-deployment
 * setting, chosen on a prefix of the stream. f[0..n) is the output of rec_rank_features.
 * Thread-safe. */
void rec_rank_scale_side(const struct rec_rank_input *in, unsigned mask, double scale,
                         struct rec_fm_feature *f, int n);

/* The bucket strings above, for callers that display or log them; NULL when unknown (NaN, a
 * negative position, hour/weekday out of range). */
const char *rec_rank_duration_bucket(double minutes);
const char *rec_rank_age_bucket(double days);
const char *rec_rank_daypart(int hour);
const char *rec_rank_position_bucket(int events_before);
const char *rec_rank_gap_bucket(double seconds);

#endif
