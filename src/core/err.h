/* err.h: the one error convention of recd.
 *
 * Functions return int: 0 (REC_OK) on success or a negative REC_E* code. Each code carries a
 * stable machine name (used as "code" in JSON error bodies), a default message and the HTTP
 * status it maps to. A detailed message travels separately (a char buffer the caller owns).
 */
#ifndef REC_CORE_ERR_H
#define REC_CORE_ERR_H

#include <stddef.h>

/*        name        value  http  machine name          default message */
#define REC_ERRORS(X)                                                              \
    X(REC_OK,          0,   200, "ok",                 "success")                  \
    X(REC_EINVAL,     -1,   400, "invalid_argument",   "invalid argument")         \
    X(REC_ENOMEM,     -2,   500, "out_of_memory",      "out of memory")            \
    X(REC_ENOTFOUND,  -3,   404, "not_found",          "not found")                \
    X(REC_EIO,        -4,   500, "io_error",           "input/output error")       \
    X(REC_ESTORE,     -5,   500, "store_error",        "storage error")            \
    X(REC_ETOOBIG,    -6,   413, "too_large",          "request too large")        \
    X(REC_EBUSY,      -7,   503, "busy",               "busy, try again")          \
    X(REC_EMETHOD,    -8,   405, "method_not_allowed", "method not allowed")       \
    X(REC_ECONFLICT,  -9,   409, "conflict",           "conflict")                 \
    X(REC_EFORMAT,   -10,   400, "bad_format",         "malformed input")          \
    X(REC_EMODEL,    -11,   503, "no_model",           "model not available")      \
    X(REC_EINTERNAL, -12,   500, "internal",           "internal error")           \
    X(REC_EUNAUTHORIZED, -13, 401, "unauthorized",     "missing or invalid API key") \
    X(REC_EFORBIDDEN, -14,  403, "forbidden",          "not allowed for this API key") \
    X(REC_ERATELIMIT, -15,  429, "rate_limited",       "too many requests")          \
    X(REC_ECANCELED, -16,   503, "shutting_down",      "given up: shutting down")

enum rec_err {
#define REC_ERR_ENUM(name, value, http, code, msg) name = value,
    REC_ERRORS(REC_ERR_ENUM)
#undef REC_ERR_ENUM
};

/* Default message for rc; never NULL ("unknown error" for codes outside the list). */
const char *rec_strerror(int rc);
/* Stable machine name such as "invalid_argument"; never NULL. */
const char *rec_err_code(int rc);
/* HTTP status for rc (500 for unknown codes). */
int rec_err_http_status(int rc);

/* Formats a detailed message into buf (truncating; always NUL-terminated and valid UTF-8 when
 * len > 0: bytes of a character cut by a precision or the end become '?') and
 * returns rc, so a caller can write `return rec_errf(buf, len, REC_EINVAL, "n must be ...")`. */
int rec_errf(char *buf, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
