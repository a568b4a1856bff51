/* ranker_saver.c: the background saves of the served ranker; see ranker_saver.h. */
#include "serve/ranker_saver.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "serve/ranker.h"
#include "serve/ranker_file.h"

#define TICK_S 1            /* how often the thread looks at the ranker's counters */
#define RETRY_S 10.0        /* after a failed save, the next attempt no sooner than this */

struct rec_ranker_saver {
    struct rec_ranker *r;
    char *path;
    double interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;                          /* under mu */
    /* the thread's own (the stopper's after the join) */
    uint64_t saved_changes, saved_erasures; /* rec_ranker_changes at the last save */
    double last_try;                   /* monotonic seconds of the last save or attempt */
    int failed;                        /* the last attempt failed */
};

/* Saves now and logs how it went. */
static void save_now(struct rec_ranker_saver *s)
{
    char err[512];
    struct rec_ranker_saved saved;
    double t0 = rec_mono_s();
    s->last_try = t0;
    if (rec_ranker_save(s->r, s->path, &saved, err, sizeof err)) {
        rec_warn("ranker: %s; the previous file stays", err);
        s->failed = 1;
        return;
    }
    s->failed = 0;
    s->saved_changes = saved.changes; /* what learned during the write is saved next time */
    s->saved_erasures = saved.erasures;
    rec_info("ranker: saved %s (%" PRId64 " examples, %.1f MB) in %.2f s", s->path,
             saved.examples, (double)saved.bytes / 1e6, rec_mono_s() - t0);
}

static int due(struct rec_ranker_saver *s)
{
    uint64_t changes, erasures;
    rec_ranker_changes(s->r, &changes, &erasures);
    double now = rec_mono_s();
    if (s->failed && now - s->last_try < RETRY_S)
        return 0;
    if (erasures != s->saved_erasures)
        return 1;
    return s->interval_s > 0 && changes != s->saved_changes && now - s->last_try >= s->interval_s;
}

static void *saver_main(void *arg)
{
    struct rec_ranker_saver *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += TICK_S;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        if (due(s))
            save_now(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int rec_ranker_saver_start(struct rec_ranker *r, const char *path, double interval_s,
                           struct rec_ranker_saver **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!(isfinite(interval_s) && interval_s >= 0))
        return rec_errf(err, errlen, REC_EINVAL, "the ranker's save interval must be >= 0 seconds");
    struct rec_ranker_saver *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    }
    s->r = r;
    s->interval_s = interval_s;
    rec_ranker_changes(r, &s->saved_changes, &s->saved_erasures);
    s->last_try = rec_mono_s();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, saver_main, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s->path);
        free(s);
        return rec_errf(err, errlen, REC_EINTERNAL, "cannot start the ranker's saver thread");
    }
    *out = s;
    return 0;
}

void rec_ranker_saver_stop(struct rec_ranker_saver *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    uint64_t changes, erasures;
    rec_ranker_changes(s->r, &changes, &erasures);
    if (changes != s->saved_changes || erasures != s->saved_erasures)
        save_now(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}
