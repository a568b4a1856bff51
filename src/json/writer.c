/* writer.c: see writer.h. */
#include "json/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define FIRST_CAP 1024

void rec_jw_init(struct rec_jw *w)
{
    memset(w, 0, sizeof *w);
}

/* Room for n more bytes and the terminating NUL. */
static int reserve(struct rec_jw *w, size_t n)
{
    if (w->failed)
        return 0;
    if (w->len + n + 1 <= w->cap)
        return 1;
    size_t cap = w->cap ? w->cap : FIRST_CAP;
    while (cap < w->len + n + 1)
        cap *= 2;
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->failed = 1;
        return 0;
    }
    w->buf = b;
    w->cap = cap;
    return 1;
}

static void put(struct rec_jw *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void separate(struct rec_jw *w)
{
    if (w->comma)
        put(w, ",", 1);
}

void rec_jw_open(struct rec_jw *w, char bracket)
{
    separate(w);
    put(w, &bracket, 1);
    w->comma = 0;
}

void rec_jw_close(struct rec_jw *w, char bracket)
{
    put(w, &bracket, 1);
    w->comma = 1;
}

static void quoted(struct rec_jw *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson's case */
    put(w, "\"", 1);
    const char *run = s; /* bytes that need no escape are copied in one piece */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        put(w, run, (size_t)((const char *)p - run));
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        }
        put(w, esc, n);
        run = (const char *)p + 1;
    }
    put(w, run, strlen(run));
    put(w, "\"", 1);
}

void rec_jw_key(struct rec_jw *w, const char *key)
{
    separate(w);
    quoted(w, key);
    put(w, ":", 1);
    w->comma = 0;
}

void rec_jw_str(struct rec_jw *w, const char *s)
{
    if (!s) {
        rec_jw_null(w);
        return;
    }
    separate(w);
    quoted(w, s);
    w->comma = 1;
}

void rec_jw_real(struct rec_jw *w, double v)
{
    if (!isfinite(v)) {
        rec_jw_null(w);
        return;
    }
    char b[40];
    int n = snprintf(b, sizeof b - 2, "%.12g", v);
    for (int k = 0; k < n; k++)
        if (b[k] == ',') /* a locale's decimal comma */
            b[k] = '.';
    char *e = strpbrk(b, "eE");
    if (e) { /* as jansson: no '+' and no leading zeros in the exponent (1e-07 -> 1e-7) */
        char *d = e + 1, *from = e + 1;
        if (*from == '-')
            *d++ = *from++;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1])
            from++;
        memmove(d, from, strlen(from) + 1);
        n = (int)strlen(b);
    } else if (!strchr(b, '.')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    separate(w);
    put(w, b, (size_t)n);
    w->comma = 1;
}

void rec_jw_int(struct rec_jw *w, long long v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%lld", v);
    separate(w);
    put(w, b, (size_t)n);
    w->comma = 1;
}

void rec_jw_bool(struct rec_jw *w, int v)
{
    rec_jw_raw_value(w, v ? "true" : "false");
}

void rec_jw_null(struct rec_jw *w)
{
    rec_jw_raw_value(w, "null");
}

void rec_jw_raw_value(struct rec_jw *w, const char *text)
{
    separate(w);
    put(w, text, strlen(text));
    w->comma = 1;
}

char *rec_jw_finish(struct rec_jw *w, size_t *len)
{
    char *b = w->failed ? NULL : w->buf;
    if (!b && !w->failed) /* nothing written */
        b = calloc(1, 1);
    if (w->failed)
        free(w->buf);
    if (len)
        *len = b ? w->len : 0;
    rec_jw_init(w);
    return b;
}
