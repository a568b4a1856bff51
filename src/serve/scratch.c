/* scratch.c: see scratch.h. */
#include "serve/scratch.h"

#include <stdlib.h>

#include "core/err.h"

static const struct rec_item_slot reset_slot = {.seed = -1};

void rec_scratch_pool_init(struct rec_scratch_pool *p)
{
    pthread_mutex_init(&p->mu, NULL);
    p->free_list = NULL;
}

static void scratch_destroy(struct rec_scratch *s)
{
    free(s->slot);
    free(s->touched);
    free(s->scores);
    free(s);
}

void rec_scratch_pool_free(struct rec_scratch_pool *p)
{
    while (p->free_list) {
        struct rec_scratch *s = p->free_list;
        p->free_list = s->next;
        scratch_destroy(s);
    }
    pthread_mutex_destroy(&p->mu);
}

/* Grows s to hold n items, the new slots in reset state. The catalog only grows, so this runs
 * once per scratch per doubling (an eighth more than asked, so a catalog growing by a few items
 * at a time does not reallocate on every request). */
static int reserve(struct rec_scratch *s, int32_t n)
{
    if (n <= s->cap)
        return 0;
    int64_t want = (int64_t)n + n / 8 + 1024;
    int32_t cap = want > INT32_MAX ? INT32_MAX : (int32_t)want;
    struct rec_item_slot *slot = realloc(s->slot, (size_t)cap * sizeof *slot);
    if (!slot)
        return REC_ENOMEM;
    s->slot = slot;
    int32_t *touched = realloc(s->touched, (size_t)cap * sizeof *touched);
    if (!touched)
        return REC_ENOMEM; /* the slots grew, cap did not: still consistent */
    s->touched = touched;
    for (int32_t i = s->cap; i < cap; i++)
        slot[i] = reset_slot;
    s->cap = cap;
    return 0;
}

int rec_scratch_acquire(struct rec_scratch_pool *p, int32_t n_items, struct rec_scratch **out)
{
    pthread_mutex_lock(&p->mu);
    struct rec_scratch *s = p->free_list;
    if (s)
        p->free_list = s->next;
    pthread_mutex_unlock(&p->mu);
    if (!s && !(s = calloc(1, sizeof *s)))
        return REC_ENOMEM;
    s->next = NULL;
    if (reserve(s, n_items > 0 ? n_items : 1)) {
        rec_scratch_release(p, s); /* keep what it has for the next request */
        return REC_ENOMEM;
    }
    *out = s;
    return 0;
}

void rec_scratch_reset(struct rec_scratch *s)
{
    for (int32_t k = 0; k < s->n_touched; k++)
        s->slot[s->touched[k]] = reset_slot;
    s->n_touched = 0;
}

void rec_scratch_release(struct rec_scratch_pool *p, struct rec_scratch *s)
{
    if (!s)
        return;
    rec_scratch_reset(s);
    pthread_mutex_lock(&p->mu);
    s->next = p->free_list;
    p->free_list = s;
    pthread_mutex_unlock(&p->mu);
}

float *rec_scratch_scores(struct rec_scratch *s, int32_t n)
{
    if (n <= s->n_scores)
        return s->scores;
    float *x = realloc(s->scores, (size_t)(n > 0 ? n : 1) * sizeof *x);
    if (!x)
        return NULL;
    s->scores = x;
    s->n_scores = n;
    return x;
}
