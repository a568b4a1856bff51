/* jsonpos.c: line numbers of JSON paths (see jsonpos.h).
 *
 * Iterative throughout: the path is walked component by component and skipped values are
 * matched by a depth counter, so a deeply nested text cannot exhaust the stack. Every read is
 * bounded by the text's end; malformed input yields 0, never a read past len.
 */
#include "rank/jsonpos.h"

#include "core/err.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct scan {
    const char *p, *end;
    int line; /* 1-based line of *p */
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
}

/* At an opening quote: moves past the closing one. Returns 0, or -1 at an unterminated string. */
static int skip_string(struct scan *s)
{
    for (s->p++; s->p < s->end; s->p++) {
        if (*s->p == '\\') {
            if (++s->p == s->end)
                return -1;
        } else if (*s->p == '"') {
            s->p++;
            return 0;
        }
        if (*s->p == '\n') /* not valid JSON, but keeps the count honest */
            s->line++;
    }
    return -1;
}

/* Skips one value (after its leading whitespace). Returns 0, or -1 on malformed input. */
static int skip_value(struct scan *s)
{
    if (s->p >= s->end)
        return -1;
    if (*s->p == '"')
        return skip_string(s);
    if (*s->p != '{' && *s->p != '[') { /* number or literal: up to a delimiter */
        const char *start = s->p;
        while (s->p < s->end && !strchr(",]} \t\r\n", *s->p) && *s->p != '\0')
            s->p++;
        return s->p > start ? 0 : -1;
    }
    size_t depth = 0;
    while (s->p < s->end) {
        char ch = *s->p;
        if (ch == '"') {
            if (skip_string(s))
                return -1;
            if (depth == 0)
                return 0;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        else if (ch == '\n')
            s->line++;
        s->p++;
        if (depth == 0)
            return 0;
    }
    return -1;
}

/* ---- characters of JSON strings --------------------------------------------------------- */

static int hex4(const char *p, const char *end, uint32_t *out)
{
    uint32_t v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (uint32_t)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the next character of string contents [*p, end) into *cp: JSON escapes when esc,
 * UTF-8 sequences always (a byte that starts no valid sequence stands for itself, marked so it
 * cannot equal a real character). Returns 1, 0 at the end, -1 on a malformed escape. */
static int next_char(const char **p, const char *end, int esc, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)*p;
    if (*p >= end)
        return 0;
    if (esc && *u == '\\') {
        if (end - *p < 2)
            return -1;
        char e = (char)u[1];
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) {
            *cp = (unsigned char)to[k - from];
            *p += 2;
            return 1;
        }
        if (e != 'u' || hex4(*p + 2, end, cp))
            return -1;
        *p += 6;
        uint32_t lo;
        if (*cp >= 0xD800 && *cp <= 0xDBFF && end - *p >= 6 && (*p)[0] == '\\' &&
            (*p)[1] == 'u' && hex4(*p + 2, end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
            *p += 6;
        }
        return 1;
    }
    size_t n = *u < 0x80 ? 1 : (*u & 0xE0) == 0xC0 ? 2 : (*u & 0xF0) == 0xE0 ? 3
                                : (*u & 0xF8) == 0xF0 ? 4 : 0;
    uint32_t v = n == 1 ? *u : n == 2 ? (*u & 0x1Fu) : n == 3 ? (*u & 0x0Fu) : (*u & 0x07u);
    if (n == 0 || (size_t)(end - *p) < n)
        n = 0;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            n = 0;
            break;
        }
        v = (v << 6) | (u[i] & 0x3Fu);
    }
    if (n == 0) {
        *cp = 0x80000000u | *u;
        *p += 1;
        return 1;
    }
    *cp = v;
    *p += n;
    return 1;
}

/* 1 when the two string contents decode to the same characters. */
static int same_key(const char *a, const char *a_end, int a_esc, const char *b, const char *b_end,
                    int b_esc)
{
    for (;;) {
        uint32_t ca, cb;
        int ra = next_char(&a, a_end, a_esc, &ca), rb = next_char(&b, b_end, b_esc, &cb);
        if (ra < 0 || rb < 0 || ra != rb)
            return 0;
        if (ra == 0)
            return 1;
        if (ca != cb)
            return 0;
    }
}

/* ---- paths ------------------------------------------------------------------------------ */

enum { COMP_END, COMP_KEY, COMP_INDEX, COMP_BAD };

struct comp {
    const char *key, *key_end; /* COMP_KEY: the key's characters */
    int esc;                   /* 1 when they are JSON-escaped (the ["..."] form) */
    size_t index;              /* COMP_INDEX */
};

static int is_bare(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* Reads the component at *pp (first: at the start of the path, where a bare key needs no dot). */
static int next_comp(const char **pp, int first, struct comp *c)
{
    const char *p = *pp;
    if (*p == '\0')
        return COMP_END;
    if (*p == '.' || (first && is_bare(*p))) {
        if (*p == '.')
            p++;
        c->key = p;
        while (is_bare(*p))
            p++;
        if (p == c->key)
            return COMP_BAD;
        c->key_end = p;
        c->esc = 0;
        *pp = p;
        return COMP_KEY;
    }
    if (*p != '[')
        return COMP_BAD;
    p++;
    if (*p >= '0' && *p <= '9') {
        size_t i = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (i > (SIZE_MAX - 9) / 10)
                return COMP_BAD;
            i = i * 10 + (size_t)(*p - '0');
        }
        if (*p != ']')
            return COMP_BAD;
        c->index = i;
        *pp = p + 1;
        return COMP_INDEX;
    }
    if (*p != '"')
        return COMP_BAD;
    c->key = ++p;
    for (; *p != '"'; p++) {
        if (*p == '\0')
            return COMP_BAD;
        if (*p == '\\' && *++p == '\0')
            return COMP_BAD;
    }
    c->key_end = p;
    c->esc = 1;
    if (p[1] != ']')
        return COMP_BAD;
    *pp = p + 2;
    return COMP_KEY;
}

/* At '[': moves to the start of element i. Returns 0 or -1 (no such element, malformed). */
static int find_index(struct scan *s, size_t i)
{
    s->p++;
    for (size_t k = 0;; k++) {
        skip_ws(s);
        if (s->p >= s->end || *s->p == ']')
            return -1;
        if (k == i)
            return 0;
        if (skip_value(s))
            return -1;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ',')
            return -1;
        s->p++;
    }
}

/* At '{': moves to the start of the value of the member c names. Returns 0 or -1. */
static int find_key(struct scan *s, const struct comp *c)
{
    s->p++;
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"')
            return -1; /* '}' (not found) or malformed */
        const char *key = s->p + 1;
        if (skip_string(s))
            return -1;
        int match = same_key(key, s->p - 1, 1, c->key, c->key_end, c->esc);
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        skip_ws(s);
        if (match)
            return 0;
        if (skip_value(s))
            return -1;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ',')
            return -1;
        s->p++;
    }
}

int rec_jsonpos_line(const char *text, size_t len, const char *path)
{
    if (!text || !path)
        return 0;
    struct scan s = {text, text + len, 1};
    skip_ws(&s);
    const char *p = path;
    for (int first = 1;; first = 0) {
        struct comp c;
        int kind = next_comp(&p, first, &c);
        if (kind == COMP_END)
            return s.p < s.end ? s.line : 0;
        if (kind == COMP_BAD || s.p >= s.end)
            return 0;
        if (kind == COMP_INDEX && (*s.p != '[' || find_index(&s, c.index)))
            return 0;
        if (kind == COMP_KEY && (*s.p != '{' || find_key(&s, &c)))
            return 0;
    }
}

size_t rec_jsonpos_parent(const char *path)
{
    const char *p = path, *last = path;
    struct comp c;
    for (int first = 1;; first = 0) {
        const char *start = p;
        int kind = next_comp(&p, first, &c);
        if (kind == COMP_END)
            return (size_t)(last - path);
        if (kind == COMP_BAD)
            return 0;
        last = start;
    }
}

int rec_jsonpos_add_key(char *buf, size_t cap, size_t *len, const char *key)
{
    size_t n = *len, klen = strlen(key);
    int bare = klen > 0;
    for (size_t i = 0; i < klen && bare; i++)
        bare = is_bare(key[i]);
    if (bare) {
        size_t need = n + (n > 0) + klen;
        if (need >= cap)
            return REC_ETOOBIG;
        if (n > 0)
            buf[n++] = '.';
        memcpy(buf + n, key, klen + 1);
        *len = need;
        return 0;
    }
    /* ["..."]: worst case 6 bytes per input byte (\u00XX) */
    if (n + 2 >= cap)
        return REC_ETOOBIG;
    buf[n++] = '[';
    buf[n++] = '"';
    for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
        char esc[8];
        size_t w;
        if (*k == '"' || *k == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*k;
            w = 2;
        } else if (*k < 0x20 || *k == 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*k);
            w = 6;
        } else {
            esc[0] = (char)*k;
            w = 1;
        }
        if (n + w >= cap)
            goto too_big;
        memcpy(buf + n, esc, w);
        n += w;
    }
    if (n + 2 >= cap)
        goto too_big;
    buf[n++] = '"';
    buf[n++] = ']';
    buf[n] = '\0';
    *len = n;
    return 0;
too_big:
    buf[*len] = '\0';
    return REC_ETOOBIG;
}

int rec_jsonpos_add_index(char *buf, size_t cap, size_t *len, size_t i)
{
    char tmp[32];
    int w = snprintf(tmp, sizeof tmp, "[%zu]", i);
    if (w < 0 || *len + (size_t)w >= cap)
        return REC_ETOOBIG;
    memcpy(buf + *len, tmp, (size_t)w + 1);
    *len += (size_t)w;
    return 0;
}
