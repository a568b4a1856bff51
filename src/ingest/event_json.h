/* event_json.h: one event from its JSON object form, validated. Pure: no I/O, no globals. */
#ifndef REC_INGEST_EVENT_JSON_H
#define REC_INGEST_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/event.h"

/* Validates obj (a json_t*) as {"user","item","type","value","ts","id","context"} and fills ev
 * with strings borrowed from obj. A missing ts takes now; ts above 1e11 is read as milliseconds.
 * context (an object) is serialized into *context (malloc'd, caller frees; NULL when absent).
 * Returns 0, or REC_EINVAL with a message naming the field in err. */
int rec_event_from_json(const void *obj, int64_t now, struct rec_event *ev, char **context,
                        char *err, size_t errlen);

#endif
