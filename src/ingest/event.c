#include "ingest/event.h"

#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

struct type_row {
    const char *name;
    double weight;
    const char *verb;
};

static const struct type_row type_table[REC_EVENT__COUNT] = {
#define REC_EVENT_ROW(sfx, name, w, verb) {name, w, verb},
    REC_EVENT_TYPES(REC_EVENT_ROW)
#undef REC_EVENT_ROW
};

int rec_event_type_parse(const char *name)
{
    for (int i = 0; i < REC_EVENT__COUNT; i++)
        if (strcmp(type_table[i].name, name) == 0)
            return i;
    return -1;
}

const char *rec_event_type_name(int type)
{
    return type >= 0 && type < REC_EVENT__COUNT ? type_table[type].name : "unknown";
}

const char *rec_event_type_verb(int type)
{
    return type >= 0 && type < REC_EVENT__COUNT ? type_table[type].verb : "interacted with";
}

double rec_event_default_weight(int type)
{
    return type >= 0 && type < REC_EVENT__COUNT ? type_table[type].weight : 0.0;
}

double rec_event_weight(const double *weights, int type, double value)
{
    if (type < 0 || type >= REC_EVENT__COUNT)
        return 0.0;
    double w = weights[type];
    if (type == REC_EVENT_DWELL) {
        double f = value / REC_DWELL_FULL_S;
        w *= f < 0 ? 0 : f > 1 ? 1 : f;
    }
    return w;
}

int rec_event_check_id(const char *s, const char *what, char *err, size_t errlen)
{
    if (!s || !*s)
        return rec_errf(err, errlen, REC_EINVAL, "%s must be a non-empty string", what);
    size_t n = strlen(s);
    if (n > REC_ID_MAX)
        return rec_errf(err, errlen, REC_EINVAL, "%s is %zu bytes, the limit is %d", what, n,
                        REC_ID_MAX);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7F)
            return rec_errf(err, errlen, REC_EINVAL, "%s contains a control character at byte %zu",
                            what, (size_t)(p - (const unsigned char *)s));
        size_t k = rec_utf8_seq_len(p, n - (size_t)(p - (const unsigned char *)s));
        if (k == 0)
            return rec_errf(err, errlen, REC_EINVAL, "%s is not valid UTF-8 at byte %zu", what,
                            (size_t)(p - (const unsigned char *)s));
        p += k;
    }
    return REC_OK;
}
