/* http_load: a closed-loop HTTP/1.1 load generator for GET requests, one thread, epoll.
 *
 *   http_load PORT CONNECTIONS SECONDS [PATH]
 *
 * Each of CONNECTIONS keep-alive connections to 127.0.0.1:PORT sends a request, reads the whole
 * response (status line, headers, a Content-Length body) and sends the next at once. Without
 * PATH, every request is GET /v1/recommend/<user>?n=N for a user drawn uniformly at random,
 * from the environment as bench/wrk_recommend.lua reads it (RECD_USERS, RECD_USER_FIRST,
 * RECD_USER_PREFIX, RECD_N), so consecutive requests are for different users. With PATH, every
 * request is GET PATH.
 *
 * It does what wrk does with that Lua script, without a script interpreter, and needs nothing
 * but libc. Prints one line in the Lua script's format, latencies in microseconds from the
 * request's first byte written to its response's last byte read, exact percentiles over every
 * request:
 *
 *   WRK requests=R errors=E non2xx=X seconds=S p50=.. p99=.. p999=.. max=..
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX (1 << 20)  /* a longer response is an error */
#define REQUEST_MAX 512

struct conn {
    int fd;
    char req[REQUEST_MAX];
    int req_len, req_sent;
    char *buf;                 /* RESPONSE_MAX bytes */
    int got;
    long header_len, body_len; /* -1 until known */
    double t_start;
};

struct load {
    int port;
    const char *path;
    long n_users, first;
    const char *prefix;
    int n_items;
    uint64_t rng;
    uint32_t *lat;             /* microseconds, one per completed request */
    size_t n_lat, cap_lat;
    long errors, non2xx;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void make_request(struct load *l, struct conn *c)
{
    if (l->path) {
        c->req_len = snprintf(c->req, sizeof c->req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                              l->path);
    } else {
        long user = l->first + (long)(next_rand(&l->rng) % (uint64_t)l->n_users);
        c->req_len = snprintf(c->req, sizeof c->req,
                              "GET /v1/recommend/%s%ld?n=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                              l->prefix, user, l->n_items);
    }
    c->req_sent = 0;
    c->got = 0;
    c->header_len = c->body_len = -1;
    c->t_start = now_s();
}

static int open_conn(struct load *l, int ep, struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        close(c->fd);
        return -1;
    }
    make_request(l, c);
    return 0;
}

static void drop_conn(struct load *l, int ep, struct conn *c)
{
    l->errors++;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (open_conn(l, ep, c) < 0)
        c->fd = -1;
}

/* Finds the end of the headers and the Content-Length once the headers are in; -1 on a
 * response this generator does not read (no Content-Length, too long). */
static int parse_header(struct conn *c)
{
    char *end = memmem(c->buf, (size_t)c->got, "\r\n\r\n", 4);
    if (!end)
        return c->got < RESPONSE_MAX ? 0 : -1;
    c->header_len = end + 4 - c->buf;
    for (char *p = c->buf; p < end; p++) {
        if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            c->body_len = strtol(p + 15, NULL, 10);
            break;
        }
    }
    return c->body_len >= 0 && c->header_len + c->body_len <= RESPONSE_MAX ? 0 : -1;
}

static int record(struct load *l, double seconds)
{
    if (l->n_lat == l->cap_lat) {
        size_t cap = l->cap_lat ? 2 * l->cap_lat : 1 << 16;
        uint32_t *p = realloc(l->lat, cap * sizeof *p);
        if (!p)
            return -1;
        l->lat = p;
        l->cap_lat = cap;
    }
    l->lat[l->n_lat++] = (uint32_t)(seconds * 1e6 + 0.5);
    return 0;
}

/* Moves connection c as far as its socket allows: writes, reads, starts the next request.
 * Returns -1 when the connection failed (the caller reconnects). */
static int advance(struct load *l, struct conn *c)
{
    for (;;) {
        while (c->req_sent < c->req_len) {
            ssize_t w = send(c->fd, c->req + c->req_sent, (size_t)(c->req_len - c->req_sent),
                             MSG_NOSIGNAL);
            if (w < 0)
                return errno == EAGAIN ? 0 : -1;
            c->req_sent += (int)w;
        }
        ssize_t r = recv(c->fd, c->buf + c->got, (size_t)(RESPONSE_MAX - c->got), 0);
        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        if (r == 0)
            return -1;
        c->got += (int)r;
        if (c->header_len < 0 && parse_header(c) < 0)
            return -1;
        if (c->header_len < 0 || c->got < c->header_len + c->body_len)
            continue;
        if (c->got > c->header_len + c->body_len)
            return -1; /* bytes after the response: not a closed loop */
        if (strncmp(c->buf, "HTTP/1.1 2", 10) != 0)
            l->non2xx++;
        if (record(l, now_s() - c->t_start) < 0)
            return -1;
        make_request(l, c);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const struct load *l, double p)
{
    if (l->n_lat == 0)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)(l->n_lat - 1) + 0.5);
    return l->lat[k];
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* *out = s as a whole number in [lo, hi]; -1 (with a message naming what) otherwise. */
static int parse_long(const char *s, const char *what, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "http_load: %s must be a whole number from %ld to %ld, not \"%s\"\n", what,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: http_load PORT CONNECTIONS SECONDS [PATH]\n");
        return 2;
    }
    struct load l = {0};
    long port, n_conns, seconds, n_items;
    if (parse_long(argv[1], "PORT", 1, 65535, &port) ||
        parse_long(argv[2], "CONNECTIONS", 1, 10000, &n_conns) ||
        parse_long(argv[3], "SECONDS", 1, 86400, &seconds) ||
        parse_long(env_or("RECD_USERS", "2999"), "RECD_USERS", 1, LONG_MAX, &l.n_users) ||
        parse_long(env_or("RECD_USER_FIRST", "1"), "RECD_USER_FIRST", 0, LONG_MAX / 2, &l.first) ||
        parse_long(env_or("RECD_N", "10"), "RECD_N", 1, 100000, &n_items))
        return 2;
    l.port = (int)port;
    l.n_items = (int)n_items;
    l.path = argc == 5 ? argv[4] : NULL;
    l.prefix = env_or("RECD_USER_PREFIX", "");
    l.rng = (uint64_t)now_s() * 0x9E3779B97F4A7C15ull | 1;
    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)n_conns, sizeof *conns);
    if (ep < 0 || !conns) {
        perror("http_load");
        return 1;
    }
    for (int k = 0; k < n_conns; k++) {
        conns[k].buf = malloc(RESPONSE_MAX);
        if (!conns[k].buf || open_conn(&l, ep, &conns[k]) < 0) {
            fprintf(stderr, "http_load: cannot connect to 127.0.0.1:%d\n", l.port);
            return 1;
        }
    }
    struct epoll_event evs[256];
    double t0 = now_s(), t_end = t0 + (double)seconds;
    for (;;) {
        double t = now_s();
        if (t >= t_end)
            break;
        int n = epoll_wait(ep, evs, 256, (int)((t_end - t) * 1000) + 1);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->fd >= 0 && advance(&l, c) < 0)
                drop_conn(&l, ep, c);
        }
    }
    double elapsed = now_s() - t0;
    qsort(l.lat, l.n_lat, sizeof *l.lat, cmp_u32);
    printf("WRK requests=%zu errors=%ld non2xx=%ld seconds=%.3f p50=%.0f p99=%.0f p999=%.0f max=%.0f\n",
           l.n_lat, l.errors, l.non2xx, elapsed, pct(&l, 50), pct(&l, 99), pct(&l, 99.9),
           l.n_lat ? (double)l.lat[l.n_lat - 1] : 0.0);
    for (int k = 0; k < n_conns; k++) {
        if (conns[k].fd >= 0)
            close(conns[k].fd);
        free(conns[k].buf);
    }
    free(conns);
    free(l.lat);
    close(ep);
    return 0;
}
