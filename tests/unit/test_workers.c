/* test_workers.c: rec_workers_run and rec_workers_for: every index once, thread indexes in range;
 * after a halt request no more chunks are handed out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core/halt.h"
#include "core/workers.h"

struct ctx { _Atomic int hits[64]; _Atomic int64_t *seen; int64_t n; int n_threads; _Atomic int bad; };

static void each(void *arg, int t)
{
    struct ctx *c = arg;
    if (t < 0 || t >= 64) { atomic_fetch_add(&c->bad, 1); return; }
    atomic_fetch_add(&c->hits[t], 1);
}

static void body(void *arg, int t, int64_t lo, int64_t hi)
{
    struct ctx *c = arg;
    if (t < 0 || t >= c->n_threads || lo < 0 || hi > c->n || lo >= hi)
        atomic_fetch_add(&c->bad, 1);
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&c->seen[i], 1);
}

static void test_run(void **state)
{
    (void)state;
    for (int n = -1; n <= 5; n++) {
        struct ctx c = {0};
        int ran = rec_workers_run(n, each, &c);
        assert_int_equal(ran, n < 1 ? 1 : n);
        for (int t = 0; t < 64; t++)
            assert_int_equal(c.hits[t], t < ran ? 1 : 0);
        assert_int_equal(c.bad, 0);
    }
}

static void test_for(void **state)
{
    (void)state;
    const int64_t sizes[] = {0, 1, 7, 16, 17, 1000, 100003};
    for (int s = 0; s < 7; s++)
        for (int th = 1; th <= 4; th++)
            for (int64_t chunk = 0; chunk <= 33; chunk += 11) {
                struct ctx c = {.n = sizes[s], .n_threads = th};
                c.seen = calloc((size_t)c.n + 1, sizeof *c.seen);
                int ran = rec_workers_for(th, c.n, chunk, body, &c);
                int64_t ch = chunk > 0 ? chunk : 1, chunks = (c.n + ch - 1) / ch;
                assert_int_equal(ran, chunks < th ? (chunks > 0 ? chunks : 1) : th);
                for (int64_t i = 0; i < c.n; i++)
                    assert_int_equal(c.seen[i], 1);
                assert_int_equal(c.bad, 0);
                free(c.seen);
            }
    assert_int_equal(rec_workers_count(3, 8), 3);
    assert_int_equal(rec_workers_count(30, 8), 8);
    assert_true(rec_workers_count(0, 8) >= 1 && rec_workers_count(0, 8) <= 8);
    assert_int_equal(rec_workers_count(0, 0), 1);
}

/* Requests a halt from inside the first chunk it sees. */
static void halting_body(void *arg, int t, int64_t lo, int64_t hi)
{
    (void)t;
    struct ctx *c = arg;
    rec_halt_request();
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&c->seen[i], 1);
}

static void test_for_stops_after_halt(void **state)
{
    (void)state;
    for (int th = 1; th <= 4; th++) {
        struct ctx c = {.n = 1000, .n_threads = th};
        c.seen = calloc((size_t)c.n, sizeof *c.seen);
        rec_halt_reset();
        rec_workers_for(th, c.n, 10, halting_body, &c);
        int64_t done = 0;
        for (int64_t i = 0; i < c.n; i++)
            done += c.seen[i];
        /* each thread finishes at most the chunk it held when the first one asked */
        assert_true(done >= 10 && done <= 10 * th);
        /* a loop started while halted runs nothing */
        memset(c.seen, 0, (size_t)c.n * sizeof *c.seen);
        rec_workers_for(th, c.n, 10, body, &c);
        for (int64_t i = 0; i < c.n; i++)
            assert_int_equal(c.seen[i], 0);
        free(c.seen);
    }
    rec_halt_reset();
    struct ctx c = {.n = 100, .n_threads = 2};
    c.seen = calloc((size_t)c.n, sizeof *c.seen);
    rec_workers_for(2, c.n, 10, body, &c);
    for (int64_t i = 0; i < c.n; i++)
        assert_int_equal(c.seen[i], 1);
    free(c.seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run), cmocka_unit_test(test_for),
                                       cmocka_unit_test(test_for_stops_after_halt)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
