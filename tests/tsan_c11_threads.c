/* tsan_c11_threads.c: C11 threads over the pthread functions ThreadSanitizer intercepts, for
 * ThreadSanitizer builds only (CMake adds it when RECD_SANITIZE=thread).
 *
 * librdkafka runs on C11 threads (thrd_create, mtx_lock, cnd_wait, ...). glibc implements them
 * by calling its internal pthread functions directly, past the sanitizer's interceptors
 * (gcc 12 and clang 14 intercept no C11 thread function): the threads would start without
 * sanitizer state and crash at their first malloc, and every hand-over through librdkafka's
 * queues would look like a data race. The definitions below take precedence over libc's (the
 * executable comes first in symbol lookup) and go through the intercepted pthread calls.
 * glibc's mtx_t, cnd_t and once_flag have the layout of the pthread types, as glibc itself
 * relies on. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct trampoline {
    thrd_start_t fn;
    void *arg;
};

static void *trampoline_main(void *p)
{
    struct trampoline t = *(struct trampoline *)p;
    free(p);
    return (void *)(intptr_t)t.fn(t.arg); /* the int result as glibc passes it */
}

static int map(int rc)
{
    return rc == 0 ? thrd_success : rc == ETIMEDOUT ? thrd_timedout : rc == EBUSY ? thrd_busy
         : rc == ENOMEM ? thrd_nomem : thrd_error;
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    struct trampoline *t = malloc(sizeof *t);
    if (!t)
        return thrd_nomem;
    t->fn = fn;
    t->arg = arg;
    pthread_t id;
    int rc = pthread_create(&id, NULL, trampoline_main, t);
    if (rc) {
        free(t);
        return map(rc);
    }
    *thr = (thrd_t)id;
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    int rc = pthread_join((pthread_t)thr, &ret);
    if (rc == 0 && res)
        *res = (int)(intptr_t)ret;
    return map(rc);
}

int thrd_detach(thrd_t thr) { return map(pthread_detach((pthread_t)thr)); }

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return map(rc);
}

int mtx_lock(mtx_t *m) { return map(pthread_mutex_lock((pthread_mutex_t *)m)); }
int mtx_trylock(mtx_t *m) { return map(pthread_mutex_trylock((pthread_mutex_t *)m)); }
int mtx_unlock(mtx_t *m) { return map(pthread_mutex_unlock((pthread_mutex_t *)m)); }
void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict at)
{
    return map(pthread_mutex_timedlock((pthread_mutex_t *)m, at));
}

int cnd_init(cnd_t *c) { return map(pthread_cond_init((pthread_cond_t *)c, NULL)); }
int cnd_signal(cnd_t *c) { return map(pthread_cond_signal((pthread_cond_t *)c)); }
int cnd_broadcast(cnd_t *c) { return map(pthread_cond_broadcast((pthread_cond_t *)c)); }
void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return map(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict at)
{
    return map(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, at));
}

void call_once(once_flag *flag, void (*fn)(void)) { pthread_once((pthread_once_t *)flag, fn); }

/* librdkafka itself is not instrumented and hands memory between its threads with atomics the
 * sanitizer cannot see: its own malloc/free/memcpy calls would show as races inside it. Ignore
 * the interceptors it calls directly; the C11 calls above come from this file, so the locks it
 * takes stay visible, and so does everything recd does in its callbacks. OpenBLAS likewise: a
 * threaded sgemm hands the caller's output buffer to its worker threads through its own
 * uninstrumented queue, so the worker's memset of it showed as racing the caller's malloc
 * (unit/test_linalg, test_gemm_nt_matches_ref). called_from_lib does not catch that one (the
 * access is in the worker thread OpenBLAS started), so its races are suppressed by module: a race
 * with an OpenBLAS frame on either side is not reported. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:librdkafka.so.1\n"
           "race:libopenblas.so.0\n";
}
