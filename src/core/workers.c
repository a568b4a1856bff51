/* workers.c: threads for the model fits; see workers.h. */
#include "core/workers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/halt.h"

int rec_workers_count(int requested, int max)
{
    long n = requested > 0 ? requested : sysconf(_SC_NPROCESSORS_ONLN);
    if (max < 1)
        max = 1;
    return n < 1 ? 1 : n > max ? max : (int)n;
}

struct slot {
    pthread_t tid;
    void (*fn)(void *ctx, int thread);
    void *ctx;
    int thread;
};

static void *slot_main(void *arg)
{
    struct slot *s = arg;
    s->fn(s->ctx, s->thread);
    return NULL;
}

int rec_workers_run(int n_threads, void (*fn)(void *ctx, int thread), void *ctx)
{
    struct slot *s = n_threads > 1 ? malloc((size_t)(n_threads - 1) * sizeof *s) : NULL;
    int started = 0;
    for (int t = 1; s && t < n_threads; t++) {
        s[started] = (struct slot){.fn = fn, .ctx = ctx, .thread = t};
        if (pthread_create(&s[started].tid, NULL, slot_main, &s[started]) != 0)
            break; /* indexes stay contiguous: the ones after it are not used either */
        started++;
    }
    fn(ctx, 0);
    for (int t = 0; t < started; t++)
        pthread_join(s[t].tid, NULL);
    free(s);
    return started + 1;
}

struct loop {
    void (*fn)(void *ctx, int thread, int64_t lo, int64_t hi);
    void *ctx;
    int64_t n, chunk;
    _Atomic int64_t next; /* first index of the next unclaimed chunk */
};

static void loop_main(void *arg, int thread)
{
    struct loop *l = arg;
    /* a shutdown hands out no more chunks: the caller sees rec_halt_requested and discards */
    while (!rec_halt_requested()) {
        int64_t lo = atomic_fetch_add(&l->next, l->chunk);
        if (lo >= l->n)
            return;
        l->fn(l->ctx, thread, lo, l->n - lo < l->chunk ? l->n : lo + l->chunk);
    }
}

int rec_workers_for(int n_threads, int64_t n, int64_t chunk,
                    void (*fn)(void *ctx, int thread, int64_t lo, int64_t hi), void *ctx)
{
    struct loop l = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk > 0 ? chunk : 1};
    atomic_init(&l.next, 0);
    int64_t chunks = n > 0 ? (n - 1) / l.chunk + 1 : 0;
    if (n_threads > chunks)
        n_threads = chunks > 0 ? (int)chunks : 1;
    return rec_workers_run(n_threads, loop_main, &l);
}
