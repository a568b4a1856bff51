/* server.c: the libmicrohttpd glue (the only file that includes microhttpd.h).
 *
 * Life of a request, all on one MHD pool thread (MHD never moves a connection between threads,
 * so a request's context needs no lock):
 *   on_uri        MHD has read the request line: allocate the context, keep the raw path
 *                 (MHD's own `url` is already percent-decoded, so "%2F" would split a segment).
 *   on_request #1 headers are in: route (400/404/405 answered at once; with CORS on, a
 *                 preflight OPTIONS gets its 204 here), check the API key and the rate limit
 *                 (401/403/429) and Content-Length (413), all before any body byte is read or
 *                 a 100 Continue is sent.
 *   on_request #n upload data: append to the body, capped at max_body.
 *   on_request    upload done: run the handler, queue its reply.
 *   on_completed  free the context.
 * Handlers get that raw path (still percent-encoded, without the query) as req->path, and the
 * decoded {name} segments as req->params.
 * MHD 0.9.75 cannot queue a reply while it is handing us upload data, so a chunked body that goes
 * over max_body is dropped (not buffered) and the 413 goes out when the upload ends; a client that
 * keeps sending more than DISCARD_SLACK past the limit is disconnected instead.
 *
 * Memory a client can make the server hold (docs/RELIABILITY.md, "Hostile clients"): per
 * connection, MHD's pool of CONN_MEMORY bytes, which also caps the request line and headers (a
 * larger head gets MHD's own 414 or 431); plus its body, at most max_body, and all bodies
 * together at most body_memory: a body whose buffer would take them over is dropped like one
 * over max_body, and gets 503 with Retry-After when its upload ends.
 */
#include "http/http.h"

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "http/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_MEMORY     (32u << 10)  /* MHD's per-connection pool: request head + I/O buffers */
#define MAX_THREADS     256
#define BUSY_RETRY_S    1            /* Retry-After of a 503 for want of body memory */
#define TLS_FILE_MAX    (1u << 20)   /* largest certificate or key file read */
#define MHD_MSG_MAX     256          /* a libmicrohttpd message kept to explain a failed start */
#define LOG_BURST       20           /* libmicrohttpd messages logged per window, */
#define LOG_WINDOW_S    10           /* ... of this many seconds */
#define MAX_SEGMENTS    32           /* longer paths match no route: 404 */
#define DISCARD_SLACK   (1u << 20)   /* bytes read and dropped past max_body before hanging up */
#define STOP_GRACE_MS   5000         /* how long rec_http_stop waits for in-flight requests */
#define LOG_PATH_MAX    256
#define REQUEST_ID_MAX  64           /* longest client X-Request-Id taken as it is */
#define CORS_MAX_AGE    "600"        /* seconds a browser may cache a preflight answer */
#define CORS_HEADERS    "Authorization, Content-Type, X-Request-Id"
#define CORS_EXPOSE     "Retry-After, WWW-Authenticate, X-Request-Id"

struct rec_http_server {
    struct MHD_Daemon *daemon;
    const struct rec_http_route *routes;   /* borrowed from the config */
    int log_routes;                        /* log route patterns, not paths */
    int n_routes;
    void *app;
    void (*on_done)(void *app, int route, int status, double seconds);
    size_t max_body;
    size_t body_memory;                    /* cap of body_bytes */
    atomic_size_t body_bytes;              /* body buffer bytes reserved by all requests */
    int port;                              /* bound port */
    atomic_int in_flight;                  /* requests between on_uri and on_completed */
    const unsigned char *route_scopes;     /* borrowed; NULL: all open */
    const struct rec_auth *auth;           /* borrowed; NULL: no keys. Swapped (never to or from
                                            * NULL) by rec_http_swap_auth under auth_lock, which
                                            * every check holds for reading */
    pthread_rwlock_t auth_lock;
    struct rec_ratelimit *ratelimit;       /* borrowed; NULL: no limit */
    const struct rec_cors *cors;           /* borrowed; NULL: no CORS */
    char *tls_cert, *tls_key;              /* PEM text, owned (the key is wiped on stop);
                                            * NULL: plain HTTP */
    pthread_mutex_t msg_lock;              /* guards mhd_msg and the log_ counters */
    time_t log_window;                     /* start of the current window, Unix seconds */
    int log_shown, log_dropped;            /* libmicrohttpd messages in the window */
    char mhd_msg[MHD_MSG_MAX];             /* libmicrohttpd's first message: says why a start
                                            * failed (the later ones are consequences) */
};

struct req_ctx {
    struct rec_http_server *srv;
    const struct rec_http_route *route;    /* NULL until routed */
    const char *method;                    /* MHD's string, valid for the request */
    const char *params[REC_HTTP_MAX_PARAMS];   /* point into seg */
    int n_params;
    char *body;                            /* malloc'd, NUL-terminated, body_len <= max_body */
    size_t body_len, body_cap;
    size_t declared;                       /* Content-Length, 0 when none (chunked) */
    size_t reserved;                       /* bytes of srv->body_bytes held, >= body_cap */
    size_t discarded;                      /* body bytes dropped after going over max_body */
    bool started;                          /* first on_request call done */
    bool too_big;                          /* body over max_body: answer 413 when it ends */
    bool no_memory;                        /* over body_memory: answer 503 when it ends */
    bool replied;                          /* a response is queued */
    const char *challenge;                 /* WWW-Authenticate value of a 401, static */
    int retry_after;                       /* > 0: Retry-After seconds of a 429 */
    const char *preflight;                 /* methods of a CORS preflight answer, or NULL */
    struct timespec t0;                    /* CLOCK_MONOTONIC at on_uri */
    char request_id[REQUEST_ID_MAX + 1];   /* X-Request-Id, sent back with the reply */
    char *path;                            /* raw path (no query), points into buf */
    char *seg;                             /* decoded segments, NUL-separated, into buf */
    char buf[];                            /* 2 * (strlen(path) + 1) bytes */
};

/* ---- path decoding and route matching ---------------------------------------------------- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Splits path ("/a/b%20c/") into percent-decoded segments written NUL-terminated into dst (at
 * least strlen(path) + 1 bytes); one trailing slash is ignored. Returns 0, REC_EFORMAT for a bad
 * escape (not two hex digits, or %00), REC_ENOTFOUND if the path is not absolute or has more than
 * max segments. */
static int split_path(const char *path, char *dst, const char **segs, int max, int *n_segs)
{
    size_t len = strlen(path);
    int n = 0;
    if (path[0] != '/')
        return REC_ENOTFOUND;
    if (len > 1 && path[len - 1] == '/')
        len--;
    size_t i = 1;
    while (i <= len && len > 1) {
        if (n == max)
            return REC_ENOTFOUND;
        segs[n++] = dst;
        for (; i < len && path[i] != '/'; i++) {
            char c = path[i];
            if (c == '%') {
                if (i + 2 >= len)
                    return REC_EFORMAT;
                int hi = hex_val(path[i + 1]), lo = hex_val(path[i + 2]);
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                    return REC_EFORMAT;
                c = (char)(hi * 16 + lo);
                i += 2;
            }
            *dst++ = c;
        }
        *dst++ = '\0';
        i++;   /* skip the '/' */
    }
    *n_segs = n;
    return 0;
}

/* True if the decoded segments match pattern; captured {name} values (non-empty) go to params. */
static bool match_route(const char *pattern, const char *const *segs, int n_segs,
                        const char **params, int *n_params)
{
    const char *p = pattern;
    int i = 0, np = 0;
    while (*p) {
        if (*p == '/') {
            p++;
            continue;
        }
        size_t n = strcspn(p, "/");
        if (i == n_segs)
            return false;
        if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
            if (segs[i][0] == '\0' || np == REC_HTTP_MAX_PARAMS)
                return false;
            params[np++] = segs[i];
        } else if (strlen(segs[i]) != n || memcmp(segs[i], p, n) != 0) {
            return false;
        }
        i++;
        p += n;
    }
    *n_params = np;
    return i == n_segs;
}

static int count_captures(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; (p = strchr(p, '{')) != NULL; p++)
        n++;
    return n;
}

/* Appends method to the comma-separated list allow (cap bytes) unless already present. */
static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = allow; *p;) {
        size_t n = strcspn(p, ",");
        if (n == mlen && memcmp(p, method, n) == 0)
            return;
        p += n;
        p += strspn(p, ", ");
    }
    size_t used = strlen(allow);
    snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method);
}

/* ---- replies ------------------------------------------------------------------------------- */

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Copies the raw path (client bytes) for logging: truncated, control characters replaced. */
static void log_safe(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i < cap - 1; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    dst[i] = '\0';
}

/* How log lines name c's request: its path made safe, or with log_routes its route's pattern. */
static void log_path(char *dst, size_t cap, const struct req_ctx *c)
{
    if (!c->srv->log_routes)
        log_safe(dst, cap, c->path ? c->path : "-");
    else
        snprintf(dst, cap, "%s", c->route ? c->route->pattern : "(no route)");
}

/* The headers the security settings add to a reply: WWW-Authenticate (401), Retry-After (429),
 * and with CORS on, Access-Control-Allow-Origin for an allowed Origin (plus the preflight's
 * Allow-Methods/Headers and Max-Age) and Vary: Origin when the answer depends on it. */
static enum MHD_Result add_security_headers(struct MHD_Connection *conn, struct req_ctx *c,
                                            struct MHD_Response *r)
{
    enum MHD_Result ok = MHD_YES;
    if (c->challenge)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, c->challenge);
    if (ok == MHD_YES && c->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", c->retry_after);
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    const struct rec_cors *cors = c->srv->cors;
    if (ok != MHD_YES || !cors)
        return ok;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *allow = rec_cors_allow(cors, origin);
    if (!rec_cors_any(cors))
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    if (ok == MHD_YES && allow)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    if (ok == MHD_YES && allow && !c->preflight)
        ok = MHD_add_response_header(r, "Access-Control-Expose-Headers", CORS_EXPOSE);
    if (ok == MHD_YES && allow && c->preflight) {
        ok = MHD_add_response_header(r, "Access-Control-Allow-Methods", c->preflight);
        if (ok == MHD_YES)
            ok = MHD_add_response_header(r, "Access-Control-Allow-Headers", CORS_HEADERS);
        if (ok == MHD_YES)
            ok = MHD_add_response_header(r, "Access-Control-Max-Age", CORS_MAX_AGE);
    }
    return ok;
}

/* Queues body (malloc'd, stolen; NULL sends "{}", or nothing for a 204; len 0 means strlen) with
 * status and the content type (NULL: application/json), plus Allow when allow is non-NULL,
 * X-Request-Id and the security headers. Logs the request at debug level (server errors at
 * error level) and reports it to on_done. */
static enum MHD_Result send_reply(struct MHD_Connection *conn, struct req_ctx *c, int status,
                                  char *body, size_t body_len, const char *content_type,
                                  const char *allow)
{
    struct MHD_Response *r;
    size_t len;
    if (status == 204) {
        free(body);
        len = 0;
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else if (body) {
        len = body_len ? body_len : strlen(body);
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    } else {
        len = 2;
        r = MHD_create_response_from_buffer(len, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    }
    if (!r) {
        free(body);
        rec_error("http: out of memory building a response");
        return MHD_NO;
    }
    enum MHD_Result ok = status == 204 ? MHD_YES : MHD_add_response_header(
        r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type ? content_type : "application/json");
    if (ok == MHD_YES && allow)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok == MHD_YES && c->request_id[0])
        ok = MHD_add_response_header(r, "X-Request-Id", c->request_id);
    if (ok == MHD_YES)
        ok = add_security_headers(conn, c, r);
    if (ok == MHD_YES)
        ok = MHD_queue_response(conn, (unsigned int)status, r);
    MHD_destroy_response(r);
    c->replied = true;

    double ms = ms_since(&c->t0);
    enum rec_log_level level = status >= 500 ? REC_LOG_ERROR : REC_LOG_DEBUG;
    if (rec_log_enabled(level)) {
        char path[LOG_PATH_MAX];
        log_path(path, sizeof path, c);
        rec_log(level, "http: %s %s %d %zuB in %zuB %.3fms%s", c->method ? c->method : "-", path,
                status, len, c->body_len, ms, ok == MHD_YES ? "" : " (queue failed)");
    }
    if (c->srv->on_done)
        c->srv->on_done(c->srv->app, c->route ? (int)(c->route - c->srv->routes) : -1, status,
                        ms / 1e3);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct req_ctx *c, int status,
                                  int rc, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(struct MHD_Connection *conn, struct req_ctx *c, int status,
                                  int rc, const char *allow, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct rec_http_response res = {0};
    rec_http_reply_error(&res, status, rc, "%s", msg);
    return send_reply(conn, c, res.status, res.body, 0, NULL, allow);
}

/* ---- MHD callbacks ------------------------------------------------------------------------- */

/* Skips "scheme://authority" of an absolute-form request target. */
static const char *target_path(const char *uri)
{
    if (uri[0] == '/')
        return uri;
    size_t scheme = strcspn(uri, ":/?");
    if (scheme == 0 || strncmp(uri + scheme, "://", 3) != 0)
        return uri;   /* "*" or garbage: matches nothing, 404 */
    const char *p = uri + scheme + 3;
    p += strcspn(p, "/?");
    return *p == '/' ? p : "/";
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct rec_http_server *s = cls;
    const char *path = target_path(uri);
    size_t len = strcspn(path, "?#");
    struct req_ctx *c = calloc(1, sizeof *c + 2 * (len + 1));
    if (!c)
        return NULL;   /* on_request then closes the connection */
    c->srv = s;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->path = c->buf;
    memcpy(c->path, path, len);
    c->path[len] = '\0';
    c->seg = c->buf + len + 1;
    atomic_fetch_add(&s->in_flight, 1);
    return c;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rec_http_server *s = cls;
    struct req_ctx *c = *con_cls;
    if (!c)
        return;
    if (!c->replied) {
        char path[LOG_PATH_MAX];
        log_path(path, sizeof path, c);
        rec_debug("http: %s %s aborted (reason %d)", c->method ? c->method : "-", path, (int)toe);
    }
    free(c->body);
    if (c->reserved)
        atomic_fetch_sub(&s->body_bytes, c->reserved);
    free(c);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fm, va_list ap)
{
    struct rec_http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fm, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* Clients cause most messages (a failed TLS handshake, a refused connection), so a flood
     * of them is cut to LOG_BURST per LOG_WINDOW_S seconds, with a count of what was left out. */
    time_t now = time(NULL);
    int show, dropped = 0;
    pthread_mutex_lock(&s->msg_lock);
    if (!s->mhd_msg[0])
        snprintf(s->mhd_msg, sizeof s->mhd_msg, "%.*s", (int)sizeof s->mhd_msg - 1, msg);
    if (now - s->log_window >= LOG_WINDOW_S) {
        dropped = s->log_dropped;
        s->log_window = now;
        s->log_shown = s->log_dropped = 0;
    }
    show = s->log_shown < LOG_BURST;
    if (show)
        s->log_shown++;
    else
        s->log_dropped++;
    pthread_mutex_unlock(&s->msg_lock);
    if (dropped)
        rec_warn("http: libmicrohttpd: %d more messages in %d s were not logged", dropped,
                 LOG_WINDOW_S);
    if (show)
        rec_warn("http: libmicrohttpd: %s", msg);
}

/* The client's X-Request-Id when it is 1..REQUEST_ID_MAX of [A-Za-z0-9._:-], else a fresh
 * random one (16 hex digits), into c->request_id. */
static void take_request_id(struct MHD_Connection *conn, struct req_ctx *c)
{
    static _Thread_local uint64_t state;
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = v ? strlen(v) : 0;
    if (n > 0 && n <= REQUEST_ID_MAX && strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                  "0123456789._:-") == n) {
        memcpy(c->request_id, v, n + 1);
        return;
    }
    if (state == 0) /* per thread: time, the thread's stack address and a counter */
        state = (uint64_t)c->t0.tv_nsec ^ ((uint64_t)c->t0.tv_sec << 32) ^ (uint64_t)(uintptr_t)&v;
    uint64_t z = (state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    snprintf(c->request_id, sizeof c->request_id, "%016llx", (unsigned long long)(z ^ (z >> 31)));
}

/* The rate limiter's id of the client's address (family, then the address bytes). */
static void client_id(struct MHD_Connection *conn, uint8_t id[REC_SHA256_SIZE])
{
    memset(id, 0, REC_SHA256_SIZE);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET) {
        id[0] = 4;
        memcpy(id + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        id[0] = 6;
        memcpy(id + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

/* The API key, then the rate limit, of a request for a route needing scope need (not open).
 * Replies 401, 403 or 429 itself (c->replied is then set); MHD_YES with nothing sent when the
 * request may go on. */
static enum MHD_Result guard(struct rec_http_server *s, struct MHD_Connection *conn,
                             struct req_ctx *c, int need)
{
    uint8_t id[REC_SHA256_SIZE];
    char msg[200];
    if (s->auth) {
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
        pthread_rwlock_rdlock(&s->auth_lock);
        int rc = rec_auth_check(s->auth, h, need, id, msg, sizeof msg);
        pthread_rwlock_unlock(&s->auth_lock);
        if (rc == REC_EUNAUTHORIZED) {
            c->challenge = h ? "Bearer realm=\"recd\", error=\"invalid_token\""
                             : "Bearer realm=\"recd\"";
            return send_error(conn, c, 401, rc, NULL, "%s", msg);
        }
        if (rc)
            return send_error(conn, c, 403, rc, NULL, "%s, which %s %s needs", msg,
                              c->route->method, c->route->pattern);
    } else if (s->ratelimit) {
        client_id(conn, id);
    }
    if (s->ratelimit) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int retry = 1;
        if (rec_ratelimit_take(s->ratelimit, id, (double)t.tv_sec + (double)t.tv_nsec / 1e9,
                               &retry)) {
            c->retry_after = retry;
            return send_error(conn, c, 429, REC_ERATELIMIT, NULL,
                              "too many requests from this %s; retry in %d s",
                              s->auth ? "API key" : "client address", retry);
        }
    }
    return MHD_YES;
}

/* A CORS preflight (OPTIONS on a path that has routes, CORS on): 204 with the CORS headers when
 * the Origin is allowed or absent, 403 when it is not. allow lists the path's methods. */
static enum MHD_Result preflight(struct rec_http_server *s, struct MHD_Connection *conn,
                                 struct req_ctx *c, char *allow, size_t cap)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (origin && !rec_cors_allow(s->cors, origin))
        return send_error(conn, c, 403, REC_EFORBIDDEN, NULL,
                          "origin '%.100s' is not allowed (see --cors-origins)", origin);
    if (strstr(allow, "GET"))
        allow_add(allow, cap, "HEAD");
    c->preflight = allow;
    allow_add(allow, cap, "OPTIONS");
    return send_reply(conn, c, 204, NULL, 0, NULL, allow);
}

/* First call: route the request, check its key and rate limit, and vet Content-Length, before
 * any body is read. */
static enum MHD_Result on_headers(struct rec_http_server *s, struct MHD_Connection *conn,
                                  struct req_ctx *c)
{
    take_request_id(conn, c);
    const char *segs[MAX_SEGMENTS];
    int n_segs = 0;
    int rc = split_path(c->path, c->seg, segs, MAX_SEGMENTS, &n_segs);
    if (rc == REC_EFORMAT)
        return send_error(conn, c, 400, REC_EFORMAT, NULL, "malformed percent-escape in path");
    if (rc != 0)
        return send_error(conn, c, 404, REC_ENOTFOUND, NULL, "no such resource");

    char allow[128] = "";
    const struct rec_http_route *head_fallback = NULL;
    const char *params[REC_HTTP_MAX_PARAMS] = {0}, *fb_params[REC_HTTP_MAX_PARAMS] = {0};
    int n_params = 0, fb_n = 0;
    for (int i = 0; i < s->n_routes && !c->route; i++) {
        const struct rec_http_route *r = &s->routes[i];
        if (!match_route(r->pattern, segs, n_segs, params, &n_params))
            continue;
        allow_add(allow, sizeof allow, r->method);
        if (strcmp(r->method, c->method) == 0) {
            c->route = r;
            memcpy(c->params, params, sizeof params);
            c->n_params = n_params;
        } else if (!head_fallback && strcmp(c->method, "HEAD") == 0 &&
                   strcmp(r->method, "GET") == 0) {
            head_fallback = r;
            memcpy(fb_params, params, sizeof params);
            fb_n = n_params;
        }
    }
    if (!c->route && head_fallback) {
        c->route = head_fallback;
        memcpy(c->params, fb_params, sizeof fb_params);
        c->n_params = fb_n;
    }
    if (!c->route && allow[0] && s->cors && strcmp(c->method, "OPTIONS") == 0)
        return preflight(s, conn, c, allow, sizeof allow);
    if (!c->route && allow[0]) {
        if (strstr(allow, "GET"))
            allow_add(allow, sizeof allow, "HEAD");
        return send_error(conn, c, 405, REC_EMETHOD, allow, "method %s not allowed here",
                          c->method);
    }
    if (!c->route)
        return send_error(conn, c, 404, REC_ENOTFOUND, NULL, "no such resource");

    int need = s->route_scopes ? s->route_scopes[c->route - s->routes] : REC_SCOPE_OPEN;
    if (need != REC_SCOPE_OPEN && (s->auth || s->ratelimit)) {
        enum MHD_Result r = guard(s, conn, c, need);
        if (c->replied)
            return r;
    }

    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && (errno == ERANGE || n > s->max_body))
            return send_error(conn, c, 413, REC_ETOOBIG, NULL,
                              "request body exceeds %zu bytes", s->max_body);
        if (end != cl)
            c->declared = (size_t)n;
    }
    return MHD_YES;
}

/* Takes n more bytes of the server's body memory for c: false, taking nothing, when that would
 * go over body_memory. Lock-free; two requests racing for the last bytes may both be refused. */
static bool reserve_body(struct rec_http_server *s, struct req_ctx *c, size_t n)
{
    size_t before = atomic_fetch_add(&s->body_bytes, n);
    if (before + n > s->body_memory) {
        atomic_fetch_sub(&s->body_bytes, n);
        return false;
    }
    c->reserved += n;
    return true;
}

/* Frees what c buffered (and its reservation); the n bytes just received count as dropped. */
static void drop_body(struct rec_http_server *s, struct req_ctx *c, size_t n)
{
    free(c->body);
    c->body = NULL;
    c->discarded = c->body_len + n;
    c->body_len = c->body_cap = 0;
    atomic_fetch_sub(&s->body_bytes, c->reserved);
    c->reserved = 0;
}

/* Upload data: buffer it while it fits, drop it afterwards. The buffer grows by doubling as
 * bytes arrive (never past Content-Length + 1), so a client that declares a large body but
 * sends little holds little. Returns false to hang up. */
static bool on_data(struct rec_http_server *s, struct req_ctx *c, const char *data, size_t n)
{
    if (c->too_big || c->no_memory) {
        c->discarded += n;
        return c->discarded <= s->max_body + DISCARD_SLACK;
    }
    if (n > s->max_body - c->body_len) {
        drop_body(s, c, n);
        c->too_big = true;
        return true;
    }
    if (c->body_len + n + 1 > c->body_cap) {
        size_t need = c->body_len + n + 1;
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < need)
            cap *= 2;
        size_t most = (c->declared ? c->declared : s->max_body) + 1;
        if (cap > most)
            cap = most > need ? most : need;
        if (cap > c->reserved && !reserve_body(s, c, cap - c->reserved)) {
            rec_debug("http: %s: request bodies hold %zu bytes, the limit; answering 503",
                      c->method, s->body_memory);
            drop_body(s, c, n);
            c->no_memory = true;
            return true;
        }
        char *b = realloc(c->body, cap);
        if (!b) {
            rec_error("http: out of memory buffering a %zu byte body", c->body_len + n);
            return false;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    return true;
}

/* Upload complete: run the handler and queue its response. */
static enum MHD_Result dispatch(struct rec_http_server *s, struct MHD_Connection *conn,
                                struct req_ctx *c)
{
    if (c->too_big)
        return send_error(conn, c, 413, REC_ETOOBIG, NULL, "request body exceeds %zu bytes",
                          s->max_body);
    if (c->no_memory) {
        c->retry_after = BUSY_RETRY_S;
        return send_error(conn, c, 503, REC_EBUSY, NULL,
                          "the request bodies being received hold %zu bytes, the server's limit "
                          "(--max-body-memory); retry in %d s", s->body_memory, BUSY_RETRY_S);
    }
    struct rec_http_request req = {
        .method = c->method,
        .path = c->path,
        .n_params = c->n_params,
        .body = c->body ? c->body : "",
        .body_len = c->body_len,
        .conn = conn,
        .request_id = c->request_id,
    };
    memcpy(req.params, c->params, sizeof req.params);
    struct rec_http_response res = {0};
    rec_log_set_request_id(c->request_id);
    c->route->fn(s->app, &req, &res);

    int status = res.status ? res.status : 200;
    if (status < 100 || status > 599) {
        rec_error("http: handler for %s %s set invalid status %d", c->route->method,
                  c->route->pattern, res.status);
        free(res.body);
        enum MHD_Result r = send_error(conn, c, 500, REC_EINTERNAL, NULL, "internal error");
        rec_log_set_request_id(NULL);
        return r;
    }
    enum MHD_Result r = send_reply(conn, c, status, res.body, res.body_len, res.content_type, NULL);
    rec_log_set_request_id(NULL);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct rec_http_server *s = cls;
    struct req_ctx *c = *con_cls;
    if (!c)
        return MHD_NO;   /* on_uri ran out of memory */
    if (!c->started) {
        c->started = true;
        c->method = method;
        return on_headers(s, conn, c);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->replied)
            return MHD_YES;
        if (!on_data(s, c, upload_data, n)) {
            char path[LOG_PATH_MAX];
            log_path(path, sizeof path, c);
            rec_warn("http: %s %s: body far over %zu bytes, closing the connection", c->method,
                     path, s->max_body);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (c->replied)
        return MHD_YES;
    return dispatch(s, conn, c);
}

/* ---- public API ---------------------------------------------------------------------------- */

static int check_config(const struct rec_http_config *cfg, char *err, size_t errlen)
{
    if (!cfg)
        return rec_errf(err, errlen, REC_EINVAL, "no http config");
    if (cfg->port < 0 || cfg->port > 65535)
        return rec_errf(err, errlen, REC_EINVAL, "port must be 0..65535, not %d", cfg->port);
    if (cfg->threads < 1 || cfg->threads > MAX_THREADS)
        return rec_errf(err, errlen, REC_EINVAL, "http threads must be 1..%d, not %d",
                        MAX_THREADS, cfg->threads);
    if (cfg->max_body >= SIZE_MAX / 4 || cfg->body_memory >= SIZE_MAX / 4)
        return rec_errf(err, errlen, REC_EINVAL, "max_body or body_memory too large");
    size_t body_memory = cfg->body_memory ? cfg->body_memory : REC_HTTP_BODY_MEMORY;
    if (body_memory <= cfg->max_body)
        return rec_errf(err, errlen, REC_EINVAL,
                        "the memory for request bodies (--max-body-memory, %zu) must be larger "
                        "than the largest body (--max-body, %zu)", body_memory, cfg->max_body);
    if (!cfg->tls_cert != !cfg->tls_key)
        return rec_errf(err, errlen, REC_EINVAL, "HTTPS needs both a certificate and a key "
                        "(--tls-cert and --tls-key), or neither for plain HTTP");
    if (cfg->n_routes < 0 || (cfg->n_routes > 0 && !cfg->routes))
        return rec_errf(err, errlen, REC_EINVAL, "bad route table");
    for (int i = 0; i < cfg->n_routes; i++) {
        const struct rec_http_route *r = &cfg->routes[i];
        if (!r->method || !r->method[0] || !r->pattern || r->pattern[0] != '/' || !r->fn)
            return rec_errf(err, errlen, REC_EINVAL,
                            "route %d: needs a method, a pattern starting with '/' and a handler",
                            i);
        if (count_captures(r->pattern) > REC_HTTP_MAX_PARAMS)
            return rec_errf(err, errlen, REC_EINVAL, "route %s: more than %d {params}",
                            r->pattern, REC_HTTP_MAX_PARAMS);
        int sc = cfg->route_scopes ? cfg->route_scopes[i] : REC_SCOPE_OPEN;
        if (sc != REC_SCOPE_OPEN && sc != REC_SCOPE_READ && sc != REC_SCOPE_WRITE &&
            sc != REC_SCOPE_ADMIN)
            return rec_errf(err, errlen, REC_EINVAL, "route %s %s: bad scope %d", r->method,
                            r->pattern, sc);
    }
    if (cfg->auth && !cfg->route_scopes)
        return rec_errf(err, errlen, REC_EINVAL, "API keys need the routes' scopes");
    return 0;
}

/* Fills ss from a numeric IPv4/IPv6 address ("localhost" is taken as 127.0.0.1). */
static int parse_bind(const char *bind, int port, struct sockaddr_storage *ss, bool *v6, char *err,
                      size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    if (bind && strcmp(bind, "localhost") == 0)
        bind = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (bind && inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *v6 = false;
        return 0;
    }
    if (bind && inet_pton(AF_INET6, bind, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return 0;
    }
    return rec_errf(err, errlen, REC_EINVAL, "bind must be a numeric IPv4 or IPv6 address, not '%s'",
                    bind ? bind : "(null)");
}

/* Reads a PEM file of a TLS certificate (is_key false) or private key into *out (malloc'd),
 * checking that it holds what it should, so a swapped or wrong file is named at start rather
 * than reported by GnuTLS as a bare parsing error. */
static int read_pem(const char *path, bool is_key, char **out, char *err, size_t errlen)
{
    const char *what = is_key ? "TLS key file" : "TLS certificate file";
    char msg[384];
    size_t len;
    *out = NULL;
    int rc = rec_file_read(path, TLS_FILE_MAX, out, &len, msg, sizeof msg);
    if (rc)
        return rec_errf(err, errlen, rc, "%s %s", what, msg);
    char *t = *out;
    if (strlen(t) != len)
        rc = rec_errf(err, errlen, REC_EINVAL, "%s %s is binary (DER?); recd needs PEM", what, path);
    else if (is_key && (strstr(t, "ENCRYPTED PRIVATE KEY") || strstr(t, "Proc-Type: 4,ENCRYPTED")))
        rc = rec_errf(err, errlen, REC_EINVAL, "TLS key file %s is encrypted with a passphrase; "
                      "recd needs it unencrypted (and readable by recd only)", path);
    else if (is_key && !strstr(t, "PRIVATE KEY-----"))
        rc = rec_errf(err, errlen, REC_EINVAL,
                      "TLS key file %s holds no PEM private key (-----BEGIN PRIVATE KEY-----)%s",
                      path, strstr(t, "CERTIFICATE-----") ? "; it holds a certificate" : "");
    else if (!is_key && !strstr(t, "-----BEGIN CERTIFICATE-----"))
        rc = rec_errf(err, errlen, REC_EINVAL,
                      "TLS certificate file %s holds no PEM certificate "
                      "(-----BEGIN CERTIFICATE-----)%s", path,
                      strstr(t, "PRIVATE KEY-----") ? "; it holds a private key" : "");
    if (rc) {
        explicit_bzero(t, len);
        free(t);
        *out = NULL;
    }
    return rc;
}

/* Frees s and what it owns; the daemon must be stopped (or never started). */
static void server_free(struct rec_http_server *s)
{
    free(s->tls_cert);
    if (s->tls_key) {
        explicit_bzero(s->tls_key, strlen(s->tls_key));
        free(s->tls_key);
    }
    pthread_mutex_destroy(&s->msg_lock);
    pthread_rwlock_destroy(&s->auth_lock);
    free(s);
}

const struct rec_auth *rec_http_swap_auth(struct rec_http_server *s, const struct rec_auth *auth)
{
    if (!s || !auth || !s->auth)
        return NULL;
    pthread_rwlock_wrlock(&s->auth_lock);
    const struct rec_auth *old = s->auth;
    s->auth = auth;
    pthread_rwlock_unlock(&s->auth_lock);
    return old;
}

/* Loads the certificate and key of cfg into s, after checking that libmicrohttpd can do TLS. */
static int tls_open(struct rec_http_server *s, const struct rec_http_config *cfg, char *err,
                    size_t errlen)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return rec_errf(err, errlen, REC_EIO,
                        "HTTPS is not available: this libmicrohttpd was built without TLS "
                        "(GnuTLS) support; install one built with it (Debian's libmicrohttpd12 "
                        "is) or put a TLS proxy in front of a plain-HTTP recd");
    int rc = read_pem(cfg->tls_cert, false, &s->tls_cert, err, errlen);
    if (rc == 0)
        rc = read_pem(cfg->tls_key, true, &s->tls_key, err, errlen);
    return rc;
}

/* See http.h. On success *out is owned by the caller (free with rec_http_stop). Not thread-safe
 * with respect to the same out pointer; starting several servers is fine. */
int rec_http_start(const struct rec_http_config *cfg, struct rec_http_server **out, char *err,
                   size_t errlen)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    int rc = check_config(cfg, err, errlen);
    if (rc)
        return rc;
    rc = parse_bind(cfg->bind, cfg->port, &ss, &v6, err, errlen);
    if (rc)
        return rc;

    struct rec_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    pthread_mutex_init(&s->msg_lock, NULL);
    pthread_rwlock_init(&s->auth_lock, NULL);
    bool tls = cfg->tls_cert != NULL;
    if (tls && (rc = tls_open(s, cfg, err, errlen))) {
        server_free(s);
        return rc;
    }
    s->routes = cfg->routes;
    s->n_routes = cfg->n_routes;
    s->app = cfg->app;
    s->on_done = cfg->on_done;
    s->max_body = cfg->max_body;
    s->log_routes = cfg->log_routes;
    s->body_memory = cfg->body_memory ? cfg->body_memory : REC_HTTP_BODY_MEMORY;
    atomic_init(&s->body_bytes, 0);
    s->route_scopes = cfg->route_scopes;
    s->auth = cfg->auth;
    s->ratelimit = cfg->ratelimit;
    s->cors = cfg->cors;
    atomic_init(&s->in_flight, 0);

    /* poll, not epoll: with epoll, libmicrohttpd 0.9.75 often missed a client's close that
     * arrived together with a partial request line (78 of 200 connections in a standalone
     * repro), leaving them until the connection timeout; poll showed none. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    const char *priorities = cfg->tls_priorities && *cfg->tls_priorities
                                 ? cfg->tls_priorities : REC_HTTP_TLS_PRIORITIES;
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem pool_opts[] = {
        {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         cfg->threads > 1 ? (intptr_t)cfg->threads : 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned idle_s = cfg->idle_timeout_s ? cfg->idle_timeout_s : REC_HTTP_IDLE_TIMEOUT_S;
    unsigned max_conns = cfg->max_conns ? cfg->max_conns : REC_HTTP_MAX_CONNS;

    /* The logger must come first or MHD prints its own messages about earlier options. A pool
     * of 1 is no pool: MHD warns about the option, so it is left out. */
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        MHD_OPTION_CONNECTION_LIMIT, max_conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conns_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_ARRAY, pool_opts,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!s->daemon) {
        char why[MHD_MSG_MAX];
        pthread_mutex_lock(&s->msg_lock);
        snprintf(why, sizeof why, "%s", s->mhd_msg[0] ? s->mhd_msg : "see the log");
        pthread_mutex_unlock(&s->msg_lock);
        server_free(s);
        if (tls)
            return rec_errf(err, errlen, REC_EIO, "libmicrohttpd (HTTPS, certificate %s, key "
                            "%s): %s", cfg->tls_cert, cfg->tls_key, why);
        return rec_errf(err, errlen, REC_EIO, "libmicrohttpd: %s", why);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info && info->port ? info->port : cfg->port;
    char per_ip[32] = "no limit";
    if (cfg->max_conns_per_ip)
        snprintf(per_ip, sizeof per_ip, "%u", cfg->max_conns_per_ip);
    rec_info("http: serving %s on %s port %d, %d threads, max body %zu bytes (%zu for all "
             "bodies at once), at most %u connections (per address: %s), idle timeout %u s",
             tls ? "https" : "plain http (no TLS)", cfg->bind, s->port, cfg->threads,
             cfg->max_body, s->body_memory, max_conns, per_ip, idle_s);
    if (tls)
        rec_info("http: TLS certificate %s, key %s, priorities %s", cfg->tls_cert, cfg->tls_key,
                 priorities);
    *out = s;
    return 0;
}

/* Thread-safe. */
int rec_http_port(const struct rec_http_server *s) { return s ? s->port : -1; }

/* See http.h. Waits up to STOP_GRACE_MS for requests already started (request line received)
 * to be answered; idle keep-alive connections are just closed. Call once, from one thread. */
void rec_http_stop(struct rec_http_server *s)
{
    if (!s)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    for (int waited = 0; atomic_load(&s->in_flight) > 0 && waited < STOP_GRACE_MS; waited += 5) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->in_flight) > 0)
        rec_warn("http: stopping with %d requests still in flight", atomic_load(&s->in_flight));
    MHD_stop_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    rec_info("http: stopped");
    server_free(s);
}

/* See http.h. Thread-safe for the request's own thread (the handler). */
const char *rec_http_header(const struct rec_http_request *req, const char *name)
{
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *rec_http_query(const struct rec_http_request *req, const char *key)
{
    if (!req || !req->conn || !key)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}
