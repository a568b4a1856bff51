/* progress.c: the stderr progress bar. One line, rewritten in place with '\r' and cleared to
 * its end (ESC [K), so a shorter redraw leaves no stale characters. */
#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

#define BAR_WIDTH 24
#define REDRAW_S 0.1

/* "h:mm:ss" or "m:ss" for a non-negative number of seconds. */
static void fmt_duration(double s, char *buf, size_t len)
{
    if (!(s >= 0.0) || s > 359999.0) { /* NaN, negative or past 99 h */
        snprintf(buf, len, "--:--");
        return;
    }
    unsigned t = (unsigned)(s + 0.5) % 360000u; /* the modulo tells the compiler t < 100 h */
    if (t >= 3600)
        snprintf(buf, len, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%u:%02u", t / 60, t % 60);
}

static void draw(const struct rec_progress *p, double now, int final)
{
    double elapsed = now - p->t_start;
    char el[24], eta[24];
    fmt_duration(elapsed, el, sizeof el);
    if (p->total <= 0) {
        fprintf(stderr, "\r%s %lld  %s\033[K", p->label, (long long)p->done, el);
        return;
    }
    int64_t done = p->done < 0 ? 0 : p->done > p->total ? p->total : p->done;
    double frac = (double)done / (double)p->total;
    char bar[BAR_WIDTH + 1];
    int full = (int)(frac * BAR_WIDTH);
    memset(bar, '#', (size_t)full);
    memset(bar + full, '.', (size_t)(BAR_WIDTH - full));
    bar[BAR_WIDTH] = '\0';
    if (final || done == 0)
        snprintf(eta, sizeof eta, final ? "done" : "--:--");
    else
        fmt_duration(elapsed * (double)(p->total - done) / (double)done, eta, sizeof eta);
    fprintf(stderr, "\r%s [%s] %5.1f%%  %lld/%lld  %s  %s%s\033[K", p->label, bar, 100.0 * frac,
            (long long)done, (long long)p->total, el, final ? "" : "ETA ", eta);
}

void rec_progress_start(struct rec_progress *p, const char *label, int64_t total)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->active = isatty(STDERR_FILENO) == 1;
    if (!p->active)
        return;
    p->t_start = p->t_drawn = rec_mono_s();
    draw(p, p->t_start, 0);
    fflush(stderr);
}

void rec_progress_update(struct rec_progress *p, int64_t done)
{
    if (!p || !p->active)
        return;
    /* Reaching the total is drawn at once (the last frame should say 100%), only once. */
    int reached = p->total > 0 && done >= p->total && p->done < p->total;
    p->done = done;
    double now = rec_mono_s();
    if (now - p->t_drawn < REDRAW_S && !reached)
        return;
    p->t_drawn = now;
    draw(p, now, 0);
    fflush(stderr);
}

void rec_progress_finish(struct rec_progress *p)
{
    if (!p || !p->active)
        return;
    draw(p, rec_mono_s(), 1);
    fputc('\n', stderr);
    fflush(stderr);
    p->active = 0;
}
