/* http.h: recd's HTTP server, a thin layer over libmicrohttpd (only src/http/server.c includes
 * microhttpd.h). It owns sockets, threads, body buffering and limits, and route matching; handlers
 * see a complete request and fill a response.
 */
#ifndef REC_HTTP_HTTP_H
#define REC_HTTP_HTTP_H

#include <stddef.h>

#define REC_HTTP_MAX_PARAMS 4

/* Defaults of the config fields that take 0 for "default". */
#define REC_HTTP_BODY_MEMORY     (256u << 20)
#define REC_HTTP_IDLE_TIMEOUT_S  30u
#define REC_HTTP_MAX_CONNS       1024u
/* TLS 1.3 and 1.2 only; in 1.2 only ECDHE key exchange (forward secrecy) with AEAD ciphers,
 * as in Mozilla's "intermediate" profile. */
#define REC_HTTP_TLS_PRIORITIES                                                                  \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"       \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

struct rec_http_request {
    const char *method;                          /* "GET", "POST", "DELETE", ... */
    const char *path;                            /* URL path without the query string */
    const char *params[REC_HTTP_MAX_PARAMS];     /* percent-decoded {name} segments, in order */
    int n_params;
    const char *body;                            /* NUL-terminated; "" when there is none */
    size_t body_len;                             /* bytes of body before the NUL */
    void *conn;                                  /* opaque, for rec_http_query */
    const char *request_id;                      /* the client's X-Request-Id when sane, else
                                                  * generated; sent back in X-Request-Id */
};

struct rec_http_response {
    int status;          /* HTTP status; 200 when the handler leaves it 0 */
    char *body;          /* malloc'd text; the server frees it after sending */
    const char *content_type; /* static string; NULL means application/json */
    size_t body_len;     /* bytes of body; 0 means strlen(body) */
};

/* A handler runs on one of the server's threads, concurrently with others: it must be
 * thread-safe. It never sends anything itself; the server sends res after it returns. */
typedef void (*rec_http_handler_fn)(void *app, const struct rec_http_request *req,
                                    struct rec_http_response *res);

struct rec_http_route {
    const char *method;     /* exact method */
    const char *pattern;    /* "/v1/items/{id}/similar": literal segments and {name} segments */
    rec_http_handler_fn fn;
};

struct rec_http_config {
    const char *bind;       /* listen address, e.g. "127.0.0.1" or "0.0.0.0" */
    int port;               /* 0 picks a free port (see rec_http_port) */
    int threads;            /* libmicrohttpd internal thread pool size */
    size_t max_body;        /* bodies above this get 413 without being buffered */
    size_t body_memory;     /* request bodies buffered at once, all connections together,
                             * bytes (>= max_body); a request that would go over gets 503;
                             * 0: REC_HTTP_BODY_MEMORY */
    /* Connection limits against clients that hold connections open (slowloris) or flood. */
    unsigned idle_timeout_s; /* close a connection that sent and received nothing this long;
                              * 0: REC_HTTP_IDLE_TIMEOUT_S */
    unsigned max_conns;      /* concurrent connections, all addresses; 0: REC_HTTP_MAX_CONNS */
    unsigned max_conns_per_ip; /* concurrent connections from one address; 0: no limit */
    /* HTTPS (docs/SECURITY.md): PEM files of the certificate (chain, server's first) and of its
     * unencrypted private key, both or neither; NULL: plain HTTP. */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_priorities; /* GnuTLS priority string; NULL: REC_HTTP_TLS_PRIORITIES */
    int log_routes;         /* 1: log lines name a request by its route's pattern
                             * ("/v1/users/{id}"), not its path, so no id from a path reaches the
                             * log (--user-id-key sets it); an unrouted path is "(no route)" */
    const struct rec_http_route *routes;
    int n_routes;
    void *app;              /* passed to every handler */
    /* Called once per answered request, on the request's thread, after its reply is queued
     * (NULL: none): route is the index into routes, -1 when none matched (404, 405, 400 on the
     * path); seconds from the request line to the reply. For per-route metrics. */
    void (*on_done)(void *app, int route, int status, double seconds);
    /* Security (http/auth.h), checked once the headers are in, before any body byte is read;
     * all NULL: every route open, no limits, no CORS headers. All must outlive the server. */
    const unsigned char *route_scopes; /* per route, parallel to routes: the REC_SCOPE_* it
                                        * needs; NULL: every route open (required with auth) */
    const struct rec_auth *auth;       /* API keys: 401 without a known one, 403 without the
                                        * route's scope; NULL: no authentication */
    struct rec_ratelimit *ratelimit;   /* per key (per client address without auth), routes
                                        * that are not open only: 429; NULL: no limit */
    const struct rec_cors *cors;       /* allowed browser origins: CORS headers on replies and
                                        * 204 to preflight OPTIONS; NULL: none (OPTIONS is 405) */
};

struct rec_http_server;
struct rec_auth;
struct rec_ratelimit;
struct rec_cors;

/* Starts listening and serving. A path that matches no route gets 404, one whose path matches
 * but not its method gets 405; both with a JSON error body. Then, for a route that is not open,
 * the key (401 with WWW-Authenticate: Bearer, 403) and the rate limit (429 with Retry-After). The config's routes and app must
 * outlive the server. With tls_cert and tls_key it speaks only HTTPS. Returns 0, or a negative
 * code with a message in err: REC_EINVAL for a bad config (one of the TLS files without the
 * other, a file that is not PEM), REC_ENOTFOUND or REC_EIO for a TLS file that cannot be read
 * (the message names it), REC_EIO when libmicrohttpd cannot start (port taken, a certificate and
 * key that do not match, no TLS support in this libmicrohttpd: the message says which). */
int rec_http_start(const struct rec_http_config *cfg, struct rec_http_server **out, char *err,
                   size_t errlen);
/* The port actually bound. */
int rec_http_port(const struct rec_http_server *s);
/* Stops accepting, finishes in-flight requests, frees. NULL is a no-op. */
void rec_http_stop(struct rec_http_server *s);
/* Replaces the API keys of a server started with keys (a key file reloaded on SIGHUP): requests
 * checked after the call see auth, none is checked against a mix. Returns the keys replaced,
 * which no request uses any more (the caller frees them), or NULL when nothing was swapped (s
 * or auth NULL, or a server started without keys: keys cannot be turned on or off while it
 * runs, since without keys it listens on loopback only). auth must outlive the server or the
 * next swap. Thread-safe. */
const struct rec_auth *rec_http_swap_auth(struct rec_http_server *s, const struct rec_auth *auth);

/* Value of query argument key (percent-decoded), or NULL. Valid during the handler. */
const char *rec_http_query(const struct rec_http_request *req, const char *key);
/* Value of a request header (case-insensitive name), or NULL. */
const char *rec_http_header(const struct rec_http_request *req, const char *name);

/* Response helpers (src/http/reply.c). reply_json takes ownership of (steals) the jansson value
 * passed as void* (json_t*) so that callers need not include jansson here. */
void rec_http_reply_json(struct rec_http_response *res, int status, void *json);
/* A non-JSON reply: body (malloc'd, stolen; NULL gives a 500 out-of-memory error) of len bytes
 * (0: strlen) with content_type (a static string). */
void rec_http_reply_text(struct rec_http_response *res, int status, const char *content_type,
                         char *body, size_t len);
/* Error reply {"error":{"code":<rec_err_code(rc)>,"message":<formatted>}} with
 * rec_err_http_status(rc), or with status when status > 0. */
void rec_http_reply_error(struct rec_http_response *res, int status, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
