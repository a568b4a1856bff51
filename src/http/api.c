/* api.c: the route table and the request helpers every handler shares. */
#include "http/api.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "http/auth.h"
#include "ingest/event.h"
#include "obs/monitor.h"

/* The route table: method, pattern, handler and the API-key scope the route needs
 * (docs/SECURITY.md). read: what a page showing recommendations needs; write: sending events
 * (browser and app SDKs; write does not include read); admin: everything else, and every route;
 * OPEN: no key, no rate limit. One row per route; the server gets the first three columns as its
 * route table and the fourth as the parallel array of scopes. */
#define API_ROUTES(X)                                                               \
    X("POST", "/v1/events", rec_api_post_events, WRITE)                             \
    X("POST", "/v1/items", rec_api_post_items, ADMIN)                               \
    X("GET", "/v1/items/{id}", rec_api_get_item, READ)                              \
    X("DELETE", "/v1/items/{id}", rec_api_delete_item, ADMIN)                       \
    X("GET", "/v1/items/{id}/similar", rec_api_similar, READ)                       \
    X("POST", "/v1/users", rec_api_post_users, ADMIN)                               \
    X("GET", "/v1/users/{id}", rec_api_get_user, ADMIN)                             \
    X("DELETE", "/v1/users/{id}", rec_api_delete_user, ADMIN)                       \
    X("GET", "/v1/recommend/{user}", rec_api_recommend, READ)                       \
    X("POST", "/v1/recommend/{user}", rec_api_recommend, READ)                      \
    X("GET", "/v1/users/{id}/preferences", rec_api_get_prefs, ADMIN)               \
    X("GET", "/v1/users/{id}/export", rec_api_export_user, ADMIN)                   \
    X("PUT", "/v1/users/{id}/preferences", rec_api_put_prefs, ADMIN)               \
    X("GET", "/v1/rules", rec_api_get_rules, ADMIN)                                 \
    X("POST", "/v1/rules/reload", rec_api_post_rules_reload, ADMIN)                 \
    X("GET", "/v1/popular", rec_api_popular, READ)                                  \
    X("GET", "/v1/status", rec_api_status, ADMIN)                                   \
    X("POST", "/v1/train", rec_api_train, ADMIN)                                    \
    X("GET", "/health", rec_api_health, OPEN)                                       \
    X("GET", "/v1/experiments", rec_api_experiments, ADMIN)                         \
    X("GET", "/v1/experiments/{name}", rec_api_experiment, ADMIN)                   \
    X("GET", "/metrics", rec_api_metrics, ADMIN)                                    \
    X("GET", "/v1/metrics/history", rec_api_metrics_history, ADMIN)                 \
    X("GET", "/dashboard", rec_api_dashboard, OPEN) /* the page holds no data; it asks for a key */

static const struct rec_http_route routes[] = {
#define ROUTE_ROW(method, pattern, fn, scope) {method, pattern, fn},
    API_ROUTES(ROUTE_ROW)
#undef ROUTE_ROW
};

static const unsigned char route_scopes[] = {
#define SCOPE_ROW(method, pattern, fn, scope) REC_SCOPE_##scope,
    API_ROUTES(SCOPE_ROW)
#undef SCOPE_ROW
};

void rec_api_on_done(void *app, int route, int status, double seconds)
{
    struct rec_api *api = app;
    if (!api->monitor)
        return;
    int n = (int)(sizeof routes / sizeof routes[0]);
    const struct rec_http_route *r = route >= 0 && route < n ? &routes[route] : NULL;
    rec_monitor_request(api->monitor, r ? r->pattern : "other", r ? r->method : "other", status,
                        seconds);
}

const struct rec_http_route *rec_api_routes(int *n)
{
    *n = (int)(sizeof routes / sizeof routes[0]);
    return routes;
}

const unsigned char *rec_api_route_scopes(void) { return route_scopes; }

const char *rec_api_path_id(const struct rec_http_request *req, struct rec_http_response *res,
                            const char *what)
{
    char msg[256];
    const char *id = req->n_params > 0 ? req->params[0] : "";
    if (rec_event_check_id(id, what, msg, sizeof msg)) {
        rec_http_reply_error(res, 0, REC_EINVAL, "in the path: %s", msg);
        return NULL;
    }
    return id;
}

const char *rec_api_path_user(const struct rec_api *api, const struct rec_http_request *req,
                              struct rec_http_response *res, char buf[REC_UID_BUF])
{
    const char *id = rec_api_path_id(req, res, "user id");
    return id ? rec_uid_map(api->user_key, id, buf) : NULL;
}

int rec_api_parse_n(const struct rec_http_request *req, struct rec_http_response *res, int def,
                    int max, int *n)
{
    const char *v = rec_http_query(req, "n");
    if (!v) {
        *n = def < max ? def : max;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < 1 || x > max) {
        rec_http_reply_error(res, 0, REC_EINVAL, "query parameter n must be an integer 1..%d, got '%.40s'",
                             max, v);
        return REC_EINVAL;
    }
    *n = (int)x;
    return 0;
}

/* What a JSON text holds, counted without parsing and without allocating: *records, the elements
 * of a top-level array (0 when the text is not an array; the parser then says what is wrong), and
 * *values, the values at any depth (opening brackets plus commas plus one, outside strings: an
 * upper bound, give or take one per empty container, of the values jansson would allocate).
 * Stops as soon as either goes past its limit (LONG_MAX: none). Linear, so a body that would make jansson build a
 * tree many times its size (a huge batch, or 8 million "1," in one array) is refused first. */
static void scan_json(const char *s, size_t n, long max_records, long max_values, long *records,
                      long *values)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    int array = i < n && s[i] == '[';
    long count = 0, nv = 1;
    int depth = 0, in_string = 0;
    for (; i < n && count <= max_records && nv <= max_values; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            depth++;
            nv++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0)
                break;   /* the end of the top-level value: jansson refuses anything after it */
        } else if (c == ',') {
            nv++;
            if (depth == 1)
                count++;
        }
    }
    *records = array ? count + 1 : 0;
    *values = nv;
}

/* A 400 for text jansson refused; a NUL is named plainly rather than by jansson's flag. */
static void reply_malformed(struct rec_http_response *res, const char *where, int line,
                            const json_error_t *jerr)
{
    if (json_error_code(jerr) == json_error_null_character)
        rec_http_reply_error(res, 0, REC_EFORMAT, "malformed JSON %s %d, column %d: a string "
                             "contains \\u0000 (NUL), which recd does not accept", where, line,
                             jerr->column);
    else
        rec_http_reply_error(res, 0, REC_EFORMAT, "malformed JSON %s %d, column %d: %s", where,
                             line, jerr->column, jerr->text);
}

void *rec_api_parse_json(const struct rec_http_request *req, struct rec_http_response *res,
                         long max_values)
{
    long records, values;
    scan_json(req->body, req->body_len, LONG_MAX, max_values, &records, &values);
    if (values > max_values) {
        rec_http_reply_error(res, 0, REC_ETOOBIG, "body has more than %ld JSON values, the limit",
                             max_values);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        reply_malformed(res, "at line", jerr.line, &jerr);
    return root;
}

/* The JSON values a batch of max_batch records may hold in all (see scan_json). */
static long batch_values(const struct rec_api *api)
{
    return (long)(api->max_batch > 0 ? api->max_batch : 1) * REC_API_VALUES_PER_RECORD;
}

/* application/x-ndjson: one JSON object per line (blank lines skipped) into an array. A line
 * that is not JSON refuses the whole body, naming the line, as a malformed array would. The
 * lines share one budget of JSON values. */
static json_t *parse_ndjson(const struct rec_api *api, const struct rec_http_request *req,
                            struct rec_http_response *res)
{
    json_t *arr = json_array();
    const char *p = req->body, *end = req->body + req->body_len;
    long budget = batch_values(api);
    for (int line = 1; arr && p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *q = p;
        while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < stop) {
            if (json_array_size(arr) >= (size_t)api->max_batch) {
                rec_http_reply_error(res, 0, REC_ETOOBIG, "batch has more than %d records, the limit",
                                     api->max_batch);
                json_decref(arr);
                return NULL;
            }
            long records, values;
            scan_json(p, (size_t)(stop - p), LONG_MAX, budget, &records, &values);
            budget -= values;
            if (budget < 0) {
                rec_http_reply_error(res, 0, REC_ETOOBIG, "batch has more than %ld JSON values "
                                     "(%d per record of --max-batch), the limit",
                                     batch_values(api), REC_API_VALUES_PER_RECORD);
                json_decref(arr);
                return NULL;
            }
            json_error_t jerr;
            json_t *v = json_loadb(p, (size_t)(stop - p), JSON_REJECT_DUPLICATES, &jerr);
            if (!v) {
                reply_malformed(res, "on line", line, &jerr);
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        p = nl ? nl + 1 : end;
    }
    if (arr && json_array_size(arr) == 0) {
        rec_http_reply_error(res, 0, REC_EINVAL, "request body has no JSON lines");
        json_decref(arr);
        return NULL;
    }
    return arr;
}

void *rec_api_parse_batch(const struct rec_api *api, const struct rec_http_request *req,
                          struct rec_http_response *res, int allow_single)
{
    const char *ct = rec_http_header(req, "Content-Type");
    if (req->body_len > 0 && ct && (!strncasecmp(ct, "application/x-ndjson", 20) ||
                                    !strncasecmp(ct, "application/jsonl", 17)))
        return parse_ndjson(api, req, res);
    if (req->body_len == 0) {
        rec_http_reply_error(res, 0, REC_EINVAL, "request body is empty; expected a JSON array");
        return NULL;
    }
    long records, values;
    scan_json(req->body, req->body_len, api->max_batch, batch_values(api), &records, &values);
    if (records > api->max_batch) {
        rec_http_reply_error(res, 0, REC_ETOOBIG, "batch has more than %d records, the limit",
                             api->max_batch);
        return NULL;
    }
    if (values > batch_values(api)) {
        rec_http_reply_error(res, 0, REC_ETOOBIG, "batch has more than %ld JSON values (%d per "
                             "record of --max-batch), the limit", batch_values(api),
                             REC_API_VALUES_PER_RECORD);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        reply_malformed(res, "at line", jerr.line, &jerr);
        return NULL;
    }
    if (allow_single && json_is_object(root)) {
        json_t *arr = json_array();
        json_array_append_new(arr, root);
        root = arr;
    }
    if (!json_is_array(root)) {
        rec_http_reply_error(res, 0, REC_EINVAL, "body must be a JSON array of objects");
        json_decref(root);
        return NULL;
    }
    if (json_array_size(root) > (size_t)api->max_batch) {
        rec_http_reply_error(res, 0, REC_ETOOBIG, "batch of %zu records exceeds the limit of %d",
                             json_array_size(root), api->max_batch);
        json_decref(root);
        return NULL;
    }
    return root;
}
