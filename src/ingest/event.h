/* event.h: the event types recd understands and the one in-memory event record shared by every
 * source (HTTP, import, generator, Kafka later). Pure: no I/O, no globals besides the type table.
 */
#ifndef REC_INGEST_EVENT_H
#define REC_INGEST_EVENT_H

#include <stddef.h>
#include <stdint.h>

/*  enum suffix    wire name      weight  past-tense verb for reasons ("because you rated X") */
#define REC_EVENT_TYPES(X)                                  \
    X(VIEW,        "view",         1.0,   "viewed")         \
    X(CLICK,       "click",        2.0,   "clicked")        \
    X(LIKE,        "like",         4.0,   "liked")          \
    X(DISLIKE,     "dislike",     -4.0,   "disliked")       \
    X(ADD_TO_CART, "add_to_cart",  4.0,   "added to cart")  \
    X(PURCHASE,    "purchase",     8.0,   "bought")         \
    X(RATING,      "rating",       1.0,   "rated")          \
    X(DWELL,       "dwell",        1.0,   "spent time on")  \
    X(SHARE,       "share",        4.0,   "shared")         \
    X(SKIP,        "skip",        -1.0,   "skipped")        \
    X(IMPRESSION,  "impression",   0.0,   "saw")            \
    X(NOT_INTERESTED, "not_interested", -4.0, "marked not interested")
/* Negative weights count against an item. New types go at the end: the store keeps the
 * numbers. */

enum rec_event_type {
#define REC_EVENT_ENUM(sfx, name, w, verb) REC_EVENT_##sfx,
    REC_EVENT_TYPES(REC_EVENT_ENUM)
#undef REC_EVENT_ENUM
    REC_EVENT__COUNT
};

#define REC_ID_MAX 256          /* bytes in a user, item or event id */
#define REC_CONTEXT_MAX 4096    /* bytes of serialized context JSON */
#define REC_DWELL_FULL_S 60.0   /* a dwell of this many seconds counts one full weight */

/* One event. Strings are borrowed from whoever built the record (a parsed JSON body, an import
 * line buffer) and live at least as long as the record is used. */
struct rec_event {
    const char *id;       /* client event id for deduplication, NULL when none */
    const char *user;
    const char *item;
    int type;             /* enum rec_event_type */
    double value;         /* rating (stars), dwell (seconds), else 0 */
    int64_t ts;           /* Unix seconds */
    const char *context;  /* JSON object text, NULL when none */
    int64_t seq;          /* store sequence number, 0 until stored */
    const char *rec_id;   /* recommendation_id of the list that led to it (attribution of
                           * experiments); NULL when none; not stored with the event */
};

/* Type for a wire name, or -1. */
int rec_event_type_parse(const char *name);
/* Wire name of type, "unknown" when out of range. */
const char *rec_event_type_name(int type);
/* Past-tense verb of type for explanations ("rated"); "interacted with" when out of range. */
const char *rec_event_type_verb(int type);
/* Default weight of type (0 when out of range). */
double rec_event_default_weight(int type);
/* Interaction strength of one event given per-type weights (array of REC_EVENT__COUNT):
 * the type weight, scaled by min(1, value / REC_DWELL_FULL_S) for dwell. */
double rec_event_weight(const double *weights, int type, double value);

/* Checks an id: 1..REC_ID_MAX bytes, valid UTF-8, no control characters. Returns 0 or REC_EINVAL
 * with a message naming `what` in err. */
int rec_event_check_id(const char *s, const char *what, char *err, size_t errlen);

#endif
