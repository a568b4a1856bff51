#include "core/err.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>

struct err_row {
    int value;
    int http;
    const char *code;
    const char *msg;
};

static const struct err_row err_table[] = {
#define REC_ERR_ROW(name, value, http, code, msg) {value, http, code, msg},
    REC_ERRORS(REC_ERR_ROW)
#undef REC_ERR_ROW
};

static const struct err_row *find(int rc)
{
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].value == rc)
            return &err_table[i];
    return NULL;
}

const char *rec_strerror(int rc)
{
    const struct err_row *r = find(rc);
    return r ? r->msg : "unknown error";
}

const char *rec_err_code(int rc)
{
    const struct err_row *r = find(rc);
    return r ? r->code : "internal";
}

int rec_err_http_status(int rc)
{
    const struct err_row *r = find(rc);
    return r ? r->http : 500;
}

int rec_errf(char *buf, size_t len, int rc, const char *fmt, ...)
{
    if (buf && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
        rec_utf8_sanitize(buf); /* a %.64s or the buffer's end may cut a character */
    }
    return rc;
}
