/* fuzz_events_json: a JSON event batch as the Kafka consumer and every other source hand it to
 * rec_event_batch_parse (one object or an array, then rec_event_from_json on each element), and
 * what the result promises: valid events hold checked ids, a known type, a ts in range and a
 * context of at most REC_CONTEXT_MAX bytes; every element is either valid or rejected. Inputs of
 * odd length are parsed under a --user-id-key: then every valid event's user is a keyed id. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/uid.h"
#include "fuzz_common.h"
#include "ingest/event.h"
#include "ingest/event_batch.h"

#define MAX_BATCH 1000
#define NOW 1700000000

/* One key for the whole run (never freed: the process ends with the run). */
static const struct rec_uid_key *fuzz_key(void)
{
    static struct rec_uid_key *k;
    char err[256];
    if (!k)
        FUZZ_CHECK(rec_uid_key_create("fuzz-key-fuzz-key-fuzz-key-fuzz-key", 35, &k, err,
                                      sizeof err) == 0, "a 35-byte key is accepted");
    return k;
}

static void check_event(const struct rec_event *ev, const char *context, int keyed)
{
    char msg[256];
    FUZZ_CHECK(ev->user && rec_event_check_id(ev->user, "user", msg, sizeof msg) == 0,
               "a valid event has a valid user id");
    FUZZ_CHECK(!keyed || (strlen(ev->user) == REC_UID_HEX &&
                          strspn(ev->user, "0123456789abcdef") == REC_UID_HEX),
               "under a key, a valid event's user is a keyed id");
    FUZZ_CHECK(ev->item && rec_event_check_id(ev->item, "item", msg, sizeof msg) == 0,
               "a valid event has a valid item id");
    FUZZ_CHECK(!ev->id || rec_event_check_id(ev->id, "id", msg, sizeof msg) == 0,
               "a valid event's id is a valid id");
    FUZZ_CHECK(ev->type >= 0 && ev->type < REC_EVENT__COUNT, "a valid event has a known type");
    FUZZ_CHECK(isfinite(ev->value), "a valid event's value is finite");
    FUZZ_CHECK(ev->ts >= 0 && ev->ts <= 4102444800LL, "a valid event's ts is in 0..2100");
    FUZZ_CHECK(ev->type != REC_EVENT_RATING || (ev->value >= 0 && ev->value <= 10),
               "a rating is within 0..10");
    FUZZ_CHECK(ev->context == context, "the context is the batch's serialized one");
    FUZZ_CHECK(!context || strlen(context) <= REC_CONTEXT_MAX, "a context is capped");
    double weights[REC_EVENT__COUNT];
    for (int t = 0; t < REC_EVENT__COUNT; t++)
        weights[t] = rec_event_default_weight(t);
    FUZZ_CHECK(isfinite(rec_event_weight(weights, ev->type, ev->value)),
               "an event's weight is finite");
    (void)rec_event_type_name(ev->type);
    (void)rec_event_type_verb(ev->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    struct rec_event_batch b;
    char err[512];
    int keyed = size & 1;
    int rc = rec_event_batch_parse(&b, (const char *)data, size, MAX_BATCH, NOW,
                                   keyed ? fuzz_key() : NULL, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(b.n >= 0 && b.n_rejected >= 0 &&
                       (size_t)b.n + (size_t)b.n_rejected == b.n_total,
                   "every element is either valid or rejected");
        FUZZ_CHECK(b.n_total <= MAX_BATCH, "a batch is capped");
        for (int i = 0; i < b.n; i++) {
            FUZZ_CHECK(b.index[i] < b.n_total && (i == 0 || b.index[i] > b.index[i - 1]),
                       "valid events are in batch order");
            check_event(&b.events[i], b.contexts[i], keyed);
        }
        for (int i = 0; i < b.n_rejected; i++)
            FUZZ_CHECK(b.rejected[i].index < b.n_total && b.rejected[i].reason[0],
                       "a rejection names its element and a reason");
    } else {
        FUZZ_CHECK(rc == REC_EFORMAT || rc == REC_EINVAL || rc == REC_ETOOBIG || rc == REC_ENOMEM,
                   "rec_event_batch_parse returns a documented code");
        FUZZ_CHECK(b.n == 0 && b.root == NULL, "a failed parse leaves the batch empty");
    }
    rec_event_batch_free(&b);
    return 0;
}
