/* reply.c: JSON response helpers for handlers (see http.h). Pure: no I/O, no globals. */
#include "http/http.h"

#include "core/err.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest error message kept; longer ones are truncated (at a UTF-8 boundary, see below). */
#define MSG_MAX 512

/* Used when even building the error object fails (out of memory). */
static const char oom_body[] = "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if it is invalid
 * (bad lead byte, bad continuation, overlong form, surrogate, above U+10FFFF, truncated). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;               /* overlong */
        if (c == 0xED)
            hi = 0x9F;               /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;               /* overlong */
        if (c == 0xF4)
            hi = 0x8F;               /* above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Replaces every byte that is not part of valid UTF-8 with '?', in place: jansson refuses
 * invalid UTF-8, and messages may quote client input or be cut mid-character by vsnprintf. */
static void utf8_sanitize(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (len == 0) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
}

static void set_body(struct rec_http_response *res, int status, char *body)
{
    free(res->body);
    res->body = body;
    res->status = status;
}

/* Steals json (a json_t *, may be NULL). On success res->body is the compact encoding; if json
 * is NULL or cannot be encoded, res gets a 500 error body instead. Any previous res->body is
 * freed. Thread-safe (touches only res and json). */
void rec_http_reply_json(struct rec_http_response *res, int status, void *json)
{
    json_t *j = json;
    char *text = NULL;
    if (j)
        text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
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
    utf8_sanitize(msg);

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
