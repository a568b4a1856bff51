#include "ingest/event_json.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const char *const known_fields[] = {"user", "item", "type", "value", "ts", "id", "context",
                                             "recommendation_id"};

static int id_field(const json_t *obj, const char *key, int required, const char **out,
                    char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return rec_errf(err, errlen, REC_EINVAL, "missing field \"%s\"", key);
        return 0;
    }
    if (!json_is_string(v))
        return rec_errf(err, errlen, REC_EINVAL, "field \"%s\" must be a string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return rec_errf(err, errlen, REC_EINVAL, "field \"%s\" contains a NUL byte", key);
    *out = json_string_value(v);
    return rec_event_check_id(*out, key, err, errlen);
}

int rec_event_from_json(const void *o, int64_t now, struct rec_event *ev, char **context,
                        char *err, size_t errlen)
{
    const json_t *obj = o;
    int rc;
    memset(ev, 0, sizeof *ev);
    *context = NULL;
    if (!json_is_object(obj))
        return rec_errf(err, errlen, REC_EINVAL, "event must be a JSON object");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        size_t k = 0;
        while (k < sizeof known_fields / sizeof known_fields[0] && strcmp(key, known_fields[k]))
            k++;
        if (k == sizeof known_fields / sizeof known_fields[0])
            return rec_errf(err, errlen, REC_EINVAL, "unknown field \"%.64s\"", key);
    }
    if ((rc = id_field(obj, "user", 1, &ev->user, err, errlen)) ||
        (rc = id_field(obj, "item", 1, &ev->item, err, errlen)) ||
        (rc = id_field(obj, "id", 0, &ev->id, err, errlen)) ||
        (rc = id_field(obj, "recommendation_id", 0, &ev->rec_id, err, errlen)))
        return rc;

    json_t *type = json_object_get(obj, "type");
    if (!type)
        return rec_errf(err, errlen, REC_EINVAL, "missing field \"type\"");
    if (!json_is_string(type) || (ev->type = rec_event_type_parse(json_string_value(type))) < 0)
        return rec_errf(err, errlen, REC_EINVAL,
                        "field \"type\" must be one of view, click, like, dislike, add_to_cart, "
                        "purchase, rating, dwell, share, skip, impression, not_interested");

    json_t *value = json_object_get(obj, "value");
    if (value && !json_is_null(value)) {
        if (!json_is_number(value) || !isfinite(json_number_value(value)))
            return rec_errf(err, errlen, REC_EINVAL, "field \"value\" must be a number");
        ev->value = json_number_value(value);
    }
    if (ev->type == REC_EVENT_RATING && (!value || json_is_null(value)))
        return rec_errf(err, errlen, REC_EINVAL, "a rating event needs a numeric \"value\"");
    if (ev->type == REC_EVENT_RATING && (ev->value < 0 || ev->value > 10))
        return rec_errf(err, errlen, REC_EINVAL, "rating \"value\" must be within 0..10");
    if (ev->type == REC_EVENT_DWELL && ev->value < 0)
        return rec_errf(err, errlen, REC_EINVAL, "dwell \"value\" (seconds) must not be negative");

    json_t *ts = json_object_get(obj, "ts");
    if (!ts || json_is_null(ts)) {
        ev->ts = now;
    } else {
        if (!json_is_number(ts) || !isfinite(json_number_value(ts)))
            return rec_errf(err, errlen, REC_EINVAL, "field \"ts\" must be Unix time in seconds");
        double t = json_number_value(ts);
        if (t > 1e11)
            t /= 1000.0; /* milliseconds */
        if (t < 0 || t > 4102444800.0) /* 2100-01-01 */
            return rec_errf(err, errlen, REC_EINVAL, "field \"ts\" is out of range (0..2100-01-01)");
        ev->ts = (int64_t)t;
    }

    json_t *ctx = json_object_get(obj, "context");
    if (ctx && !json_is_null(ctx)) {
        if (!json_is_object(ctx))
            return rec_errf(err, errlen, REC_EINVAL, "field \"context\" must be an object");
        char *text = json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
            return REC_ENOMEM;
        if (strlen(text) > REC_CONTEXT_MAX) {
            free(text);
            return rec_errf(err, errlen, REC_EINVAL, "field \"context\" is over %d bytes",
                            REC_CONTEXT_MAX);
        }
        *context = text;
        ev->context = text;
    }
    return 0;
}
