/* settings.c: see settings.h. */
#include "serve/settings.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/err.h"

static int weight_ok(const json_t *v)
{
    return json_is_number(v) && isfinite(json_number_value(v)) && json_number_value(v) >= 0;
}

int rec_settings_check(const void *settings, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)settings, key, v) {
        if (strcmp(key, "mode") == 0) {
            if (!json_is_string(v) || rec_mode_parse(json_string_value(v)) < 0)
                return rec_errf(err, errlen, REC_EINVAL,
                                "\"mode\" must be \"hybrid\", \"als\", \"knn\" or \"popular\"");
        } else if (strcmp(key, "blend_knn") == 0 || strcmp(key, "blend_popular") == 0) {
            if (!weight_ok(v))
                return rec_errf(err, errlen, REC_EINVAL, "\"%s\" must be a number >= 0", key);
        } else {
            return rec_errf(err, errlen, REC_EINVAL,
                            "unknown key \"%.64s\" (known: mode, blend_knn, blend_popular)", key);
        }
    }
    return 0;
}

void rec_settings_apply(const void *settings, struct rec_request_opts *o)
{
    const json_t *s = settings;
    if (!json_is_object(s))
        return;
    json_t *v = json_object_get(s, "mode");
    if (json_is_string(v))
        o->mode = rec_mode_parse(json_string_value(v));
    if (weight_ok(v = json_object_get(s, "blend_knn")))
        o->blend_knn = (float)json_number_value(v);
    if (weight_ok(v = json_object_get(s, "blend_popular")))
        o->blend_popular = (float)json_number_value(v);
}
