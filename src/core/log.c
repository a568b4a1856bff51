/* log.c: see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REQUEST_ID_MAX 64

static enum rec_log_level min_level = REC_LOG_INFO;
static enum rec_log_format format = REC_LOG_TEXT;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
static _Thread_local char request_id[REQUEST_ID_MAX];

void rec_log_set_level(enum rec_log_level level) { min_level = level; }
void rec_log_set_format(enum rec_log_format f) { format = f; }
int rec_log_enabled(enum rec_log_level level) { return level >= min_level && level < REC_LOG_OFF; }

int rec_log_parse_level(const char *s)
{
    for (int i = 0; i <= REC_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int rec_log_parse_format(const char *s)
{
    return strcmp(s, "text") == 0 ? REC_LOG_TEXT : strcmp(s, "json") == 0 ? REC_LOG_JSON : -1;
}

void rec_log_set_request_id(const char *id)
{
    snprintf(request_id, sizeof request_id, "%s", id ? id : "");
}

/* Appends s to out as the inside of a JSON string: quotes, backslashes and control
 * characters escaped; other bytes as they are (messages are sanitized UTF-8 or ASCII). */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

void rec_log(enum rec_log_level level, const char *fmt, ...)
{
    if (level < min_level || level >= REC_LOG_OFF)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (format == REC_LOG_JSON) {
        char esc[sizeof msg * 6 + 8], rid[REQUEST_ID_MAX * 6 + 8];
        json_escape(esc, sizeof esc, msg);
        json_escape(rid, sizeof rid, request_id);
        if (request_id[0])
            fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\",\"request_id\":\"%s\"}\n",
                    when, level_names[level], esc, rid);
        else
            fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", when,
                    level_names[level], esc);
    } else if (request_id[0]) {
        fprintf(stderr, "%s %-5s %s [req=%s]\n", when, level_names[level], msg, request_id);
    } else {
        fprintf(stderr, "%s %-5s %s\n", when, level_names[level], msg);
    }
}
