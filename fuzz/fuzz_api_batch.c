/* fuzz_api_batch: request bodies through rec_api_parse_batch, the body parser of POST
 * /v1/events, /v1/items and /v1/users, without a server: a request with no connection has no
 * headers, so this reaches the JSON path (the pre-parse element count, count_top_level, and
 * jansson) but not the application/x-ndjson one, which needs the Content-Type header of a live
 * libmicrohttpd connection (see README.md). A batch it accepts then goes through
 * rec_event_batch_from_json as POST /v1/events does. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http/api.h"
#include "ingest/event_batch.h"

#define MAX_BATCH 100

static void parse(const char *body, size_t len, int allow_single)
{
    static struct rec_api api; /* zeroed: no store, engine, monitor */
    api.max_batch = MAX_BATCH;
    struct rec_http_request req = {.method = "POST", .path = "/v1/events", .body = body,
                                   .body_len = len};
    struct rec_http_response res = {0};
    json_t *root = rec_api_parse_batch(&api, &req, &res, allow_single);
    if (!root) {
        FUZZ_CHECK(res.body && res.status >= 400, "a refused body gets an error reply");
        free(res.body);
        return;
    }
    FUZZ_CHECK(res.body == NULL, "an accepted body gets no reply yet");
    FUZZ_CHECK(json_is_array(root) && json_array_size(root) <= MAX_BATCH,
               "an accepted body is an array within the limit");
    struct rec_event_batch b;
    if (rec_event_batch_from_json(&b, root, 1700000000, NULL) == 0) {
        FUZZ_CHECK((size_t)b.n + (size_t)b.n_rejected == b.n_total,
                   "every element is either valid or rejected");
        rec_event_batch_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *body = fuzz_strndup(data, size); /* the server NUL-terminates bodies */
    parse(body, size, 1);
    parse(body, size, 0);
    free(body);
    return 0;
}
