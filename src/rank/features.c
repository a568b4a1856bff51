/* features.c: the learned ranker's feature builder (see features.h). */
#include "rank/features.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FIELD_CAP 128 /* "user.<key>[*category]"; longer keys go by their hash */

/* Appends features to out[0..max) while room is left. */
struct sink {
    struct rec_fm_feature *out;
    int n, max, bits;
};

static void put(struct sink *s, uint32_t index)
{
    if (s->n < s->max)
        s->out[s->n++] = (struct rec_fm_feature){index, 1.0f};
}

static int known(const char *s) { return s && *s; }

/* A field of the user side, the item side or the context (REC_RANK_GROUP_*). */
static void put_field_in(struct sink *s, int group, const char *field, const char *value)
{
    if (known(value))
        put(s, rec_fm_hash(field, value, s->bits) | REC_FM_GROUP(group));
}

static void put_user(struct sink *s, const char *field, const char *value)
{
    put_field_in(s, REC_RANK_GROUP_USER, field, value);
}

static void put_item(struct sink *s, const char *field, const char *value)
{
    put_field_in(s, REC_RANK_GROUP_ITEM, field, value);
}

static void put_context(struct sink *s, const char *field, const char *value)
{
    put_field_in(s, REC_RANK_GROUP_CONTEXT, field, value);
}

/* The cross field of sides with 32-bit hashes h[0..n): value = n x 8 hex digits. */
static void put_cross(struct sink *s, const char *field, const uint32_t *h, int n)
{
    static const char hex[] = "0123456789abcdef";
    char v[8 * 3 + 1];
    for (int j = 0; j < n; j++)
        for (int d = 0; d < 8; d++)
            v[8 * j + d] = hex[(h[j] >> (28 - 4 * d)) & 15];
    v[8 * n] = '\0';
    put(s, rec_fm_hash(field, v, s->bits) | REC_FM_LINEAR);
}

static void put_cross2(struct sink *s, const char *field, uint32_t a, uint32_t b)
{
    uint32_t h[2] = {a, b};
    put_cross(s, field, h, 2);
}

/* "user.<key>" (suffix appended) into buf; a key too long for buf goes by its hash. */
static void user_field(char *buf, const char *key, const char *suffix)
{
    if (strlen(key) + strlen(suffix) + 6 < FIELD_CAP)
        snprintf(buf, FIELD_CAP, "user.%s%s", key, suffix);
    else
        snprintf(buf, FIELD_CAP, "user.#%08x%s", (unsigned)rec_fm_hash("user_key", key, 32), suffix);
}

const char *rec_rank_duration_bucket(double m)
{
    if (isnan(m))
        return NULL;
    return m < 5 ? "0-5" : m < 10 ? "5-10" : m < 20 ? "10-20" : m < 45 ? "20-45" : m < 90 ? "45-90" : "90+";
}

const char *rec_rank_age_bucket(double d)
{
    if (isnan(d))
        return NULL;
    return d < 1 ? "<1d" : d < 7 ? "1-7d" : d < 30 ? "7-30d" : d < 90 ? "30-90d" : d < 365 ? "90-365d"
         : d < 3 * 365 ? "1-3y" : "3y+";
}

const char *rec_rank_daypart(int h)
{
    if (h < 0 || h > 23)
        return NULL;
    return h < 6 ? "night" : h < 12 ? "morning" : h < 17 ? "afternoon" : h < 23 ? "evening" : "night";
}

const char *rec_rank_position_bucket(int p)
{
    if (p < 0)
        return NULL;
    return p == 0 ? "0" : p == 1 ? "1" : p < 5 ? "2-4" : p < 10 ? "5-9" : "10+";
}

const char *rec_rank_gap_bucket(double s)
{
    if (isnan(s))
        return NULL;
    return s < 60 ? "<1m" : s < 600 ? "<10m" : s < 3600 ? "<1h" : s < 86400 ? "<1d" : "1d+";
}

static void attrs(struct sink *s, const struct rec_rank_input *in, const char *dur)
{
    for (int c = 0; c < in->n_categories; c++)
        put_item(s, "category", in->categories[c]);
    for (int t = 0; t < in->n_tags; t++)
        put_item(s, "tag", in->tags[t]);
    put_item(s, "duration", dur);
    put_item(s, "item_age", rec_rank_age_bucket(in->age_days));
    char field[FIELD_CAP];
    for (int a = 0; a < in->n_user_attrs; a++) {
        const char *key = in->user_attr_keys[a] ? in->user_attr_keys[a] : "";
        const char *val = in->user_attr_values[a];
        if (!known(val))
            continue;
        user_field(field, key, "");
        put_user(s, field, val);
    }
    for (int a = 0; a < in->n_user_attrs; a++) {
        const char *key = in->user_attr_keys[a] ? in->user_attr_keys[a] : "";
        const char *val = in->user_attr_values[a];
        if (!known(val))
            continue;
        user_field(field, key, "");
        uint32_t hu = rec_fm_hash(field, val, 32);
        user_field(field, key, "*category");
        for (int c = 0; c < in->n_categories; c++)
            if (known(in->categories[c]))
                put_cross2(s, field, hu, rec_fm_hash("category", in->categories[c], 32));
    }
}

static void context(struct sink *s, const struct rec_rank_input *in, const char *dur)
{
    const char *dev = known(in->device) ? in->device : NULL;
    const char *dp = rec_rank_daypart(in->hour);
    put_context(s, "device", dev);
    put_context(s, "daypart", dp);
    if (in->weekday >= 0 && in->weekday <= 6)
        put_context(s, "weekend", in->weekday == 0 || in->weekday == 6 ? "1" : "0");
    put_context(s, "region", in->region);
    uint32_t hdev = dev ? rec_fm_hash("device", dev, 32) : 0;
    uint32_t hdp = dp ? rec_fm_hash("daypart", dp, 32) : 0;
    uint32_t hdur = dur ? rec_fm_hash("duration", dur, 32) : 0;
    for (int c = 0; dp && c < in->n_categories; c++)
        if (known(in->categories[c]))
            put_cross2(s, "daypart*category", hdp, rec_fm_hash("category", in->categories[c], 32));
    for (int c = 0; dev && c < in->n_categories; c++)
        if (known(in->categories[c]))
            put_cross2(s, "device*category", hdev, rec_fm_hash("category", in->categories[c], 32));
    if (dev && dur)
        put_cross2(s, "device*duration", hdev, hdur);
    if (dp && dur)
        put_cross2(s, "daypart*duration", hdp, hdur);
    if (dev && dp && dur) {
        uint32_t h[3] = {hdev, hdp, hdur};
        put_cross(s, "device*daypart*duration", h, 3);
    }
}

/* Session features (appended after the rest of CONTEXT, so older slots keep their order). */
static void session(struct sink *s, const struct rec_rank_input *in)
{
    if (in->session_known) {
        put_context(s, "session_position", rec_rank_position_bucket(in->session_position));
        put_context(s, "session_gap", rec_rank_gap_bucket(in->since_last_s));
    }
    int n_sess = in->session_categories ? in->n_session_categories : 0;
    if (n_sess > REC_RANK_SESSION_CATS)
        n_sess = REC_RANK_SESSION_CATS;
    int match = 0;
    for (int a = 0; a < n_sess; a++) {
        const char *sc = in->session_categories[a];
        if (!known(sc))
            continue;
        uint32_t hs = rec_fm_hash("session_category", sc, 32);
        for (int c = 0; c < in->n_categories; c++)
            if (known(in->categories[c])) {
                put_cross2(s, "session_category*category", hs, rec_fm_hash("category", in->categories[c], 32));
                match |= !strcmp(sc, in->categories[c]);
            }
    }
    if (match)
        put_context(s, "session_match", "1");
}

int rec_rank_features(const struct rec_rank_input *in, unsigned mask, int bits,
                      struct rec_fm_feature *out, int max)
{
    if (!in || !out || max <= 0)
        return 0;
    struct sink s = {out, 0, max, bits};
    const char *dur = rec_rank_duration_bucket(in->duration_min);
    if (mask & REC_FEAT_IDS) {
        put_user(&s, "user", in->user);
        put_item(&s, "item", in->item);
    }
    if (mask & REC_FEAT_ATTRS)
        attrs(&s, in, dur);
    if (mask & REC_FEAT_CONTEXT)
        context(&s, in, dur);
    if (mask & REC_FEAT_SESSION)
        session(&s, in);
    return s.n;
}

void rec_rank_scale_side(const struct rec_rank_input *in, unsigned mask, double scale,
                         struct rec_fm_feature *f, int n)
{
    if (!in || !f || !(scale > 0) || !isfinite(scale))
        return;
    int ids = (mask & REC_FEAT_IDS) ? known(in->user) + known(in->item) : 0;
    if (n <= ids)
        return;
    float v = (float)(scale / sqrt((double)(n - ids)));
    for (int i = ids; i < n; i++)
        f[i].value = v;
}
