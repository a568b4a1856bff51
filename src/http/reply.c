/* reply.c: JSON response helpers for handlers (see http.h). Pure: no I/O, no globals. */
#include "http/http.h"

#include "core/err.h"
#include "core/utf8.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest error message kept; longer ones are truncated (at a UTF-8 boundary, see below). */
#define MSG_MAX 512

/* Used when even building the error object fails (out of memory). */
static const char oom_body[] = "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";

static void set_body(struct rec_http_response *res, int status, char *body)
{
    free(res->body);
    res->body = body;
    res->status = status;
    res->content_type = NULL;
    res->body_len = 0;
}

void rec_http_reply_text(struct rec_http_response *res, int status, const char *content_type,
                         char *body, size_t len)
{
    if (!body) {
        rec_http_reply_error(res, 500, REC_ENOMEM, "out of memory");
        return;
    }
    set_body(res, status, body);
    res->content_type = content_type;
    res->body_len = len;
}

/* Steals json (a json_t *, may be NULL). On success res->body is the compact encoding; if json
 * is NULL or cannot be encoded, res gets a 500 error body instead. Any previous res->body is
 * freed. Thread-safe (touches only res and json). */
void rec_http_reply_json(struct rec_http_response *res, int status, void *json)
{
    json_t *j = json;
    char *text = NULL;
    if (j)
        text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12));
    json_decref(j);
    if (!text) {
        rec_http_reply_error(res, 500, REC_EINTERNAL, "could not encode the response");
        return;
    }
    set_body(res, status, text);
}

/* See http.h. A NULL fmt uses rec_strerror(rc). The message is truncated to MSG_MAX - 1 bytes and
 * invalid UTF-8 in it becomes '?'. Never leaves res without a body unless memory runs out twice.
 * Thread-safe. */
void rec_http_reply_error(struct rec_http_response *res, int status, int rc, const char *fmt, ...)
{
    char msg[MSG_MAX];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof msg, "%s", rec_strerror(rc));
    }
    rec_utf8_sanitize(msg);

    int st = status > 0 ? status : rec_err_http_status(rc);
    json_t *obj = json_pack("{s:{s:s,s:s}}", "error", "code", rec_err_code(rc), "message", msg);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) {
        size_t n = sizeof oom_body;
        text = malloc(n);
        if (text)
            memcpy(text, oom_body, n);
        st = 500;
    }
    set_body(res, st, text);
}
