#include "core/idmap.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_EMPTY (-1)
#define SLOT_TOMB (-2)

uint64_t rec_hash_str(const char *s)
{
    /* FNV-1a, then a final mix so low bits depend on every byte */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

struct rec_idmap_block {
    struct rec_idmap_block *next;
    char bytes[];
};

void rec_idmap_init(struct rec_idmap *m) { memset(m, 0, sizeof *m); }

void rec_idmap_free(struct rec_idmap *m)
{
    while (m->blocks) {
        struct rec_idmap_block *b = m->blocks;
        m->blocks = b->next;
        free(b);
    }
    free(m->names);
    free(m->slots);
    free(m->tags);
    memset(m, 0, sizeof *m);
}

/* Slot holding name, or the first free slot of its probe sequence when absent. */
static inline uint32_t tag_of(uint64_t h) { return (uint32_t)(h >> 32); }

static uint32_t probe(const struct rec_idmap *m, const char *name, uint64_t h, int *found)
{
    uint32_t mask = m->n_slots - 1, i = (uint32_t)h & mask, first_free = UINT32_MAX;
    uint32_t tag = tag_of(h);
    for (;;) {
        int32_t v = m->slots[i];
        if (v == SLOT_EMPTY) {
            *found = 0;
            return first_free != UINT32_MAX ? first_free : i;
        }
        if (v == SLOT_TOMB) {
            if (first_free == UINT32_MAX)
                first_free = i;
        } else if (m->tags[i] == tag && strcmp(m->names[v], name) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int rehash(struct rec_idmap *m, uint32_t n_slots)
{
    int32_t *slots = malloc((size_t)n_slots * sizeof *slots);
    uint32_t *tags = malloc((size_t)n_slots * sizeof *tags);
    if (!slots || !tags) {
        free(slots);
        free(tags);
        return -1;
    }
    for (uint32_t i = 0; i < n_slots; i++)
        slots[i] = SLOT_EMPTY;
    uint32_t mask = n_slots - 1, used = 0;
    for (int32_t idx = 0; idx < m->n_names; idx++) {
        if (!m->names[idx])
            continue;
        uint64_t h = rec_hash_str(m->names[idx]);
        uint32_t i = (uint32_t)h & mask;
        while (slots[i] != SLOT_EMPTY)
            i = (i + 1) & mask;
        slots[i] = idx;
        tags[i] = tag_of(h);
        used++;
    }
    free(m->slots);
    free(m->tags);
    m->slots = slots;
    m->tags = tags;
    m->n_slots = n_slots;
    m->n_used = used;
    return 0;
}

/* A copy of name in the blocks, or NULL when out of memory. A name longer than a block gets a
 * block of its own, behind the first so that the first keeps taking names. */
static char *copy_name(struct rec_idmap *m, const char *name)
{
    size_t n = strlen(name) + 1;
    if (n > REC_IDMAP_BLOCK / 4) {
        struct rec_idmap_block *b = malloc(sizeof *b + n);
        if (!b)
            return NULL;
        if (m->blocks) {
            b->next = m->blocks->next;
            m->blocks->next = b;
        } else {
            b->next = NULL;
            m->blocks = b; /* full: block_used == block_cap == 0 */
        }
        return memcpy(b->bytes, name, n);
    }
    if (!m->blocks || m->block_cap - m->block_used < n) {
        struct rec_idmap_block *b = malloc(sizeof *b + REC_IDMAP_BLOCK);
        if (!b)
            return NULL;
        b->next = m->blocks;
        m->blocks = b;
        m->block_used = 0;
        m->block_cap = REC_IDMAP_BLOCK;
    }
    char *copy = memcpy(m->blocks->bytes + m->block_used, name, n);
    m->block_used += (uint32_t)n;
    return copy;
}

int32_t rec_idmap_get(const struct rec_idmap *m, const char *name)
{
    if (m->n_slots == 0)
        return -1;
    int found;
    uint32_t i = probe(m, name, rec_hash_str(name), &found);
    return found ? m->slots[i] : -1;
}

int32_t rec_idmap_put(struct rec_idmap *m, const char *name, int *created)
{
    if (created)
        *created = 0;
    if ((uint64_t)(m->n_used + 1) * 10 >= (uint64_t)m->n_slots * 7) {
        uint32_t n = m->n_slots ? m->n_slots : 64;
        /* grow only when live entries need it; otherwise rehashing clears tombstones */
        while ((uint64_t)(m->n_names + 1) * 10 >= (uint64_t)n * 5)
            n *= 2;
        if (rehash(m, n) < 0)
            return -1;
    }
    uint64_t h = rec_hash_str(name);
    int found;
    uint32_t i = probe(m, name, h, &found);
    if (found)
        return m->slots[i];
    if (m->n_names == m->cap_names) {
        int32_t cap = m->cap_names ? m->cap_names * 2 : 64;
        char **names = realloc(m->names, (size_t)cap * sizeof *names);
        if (!names)
            return -1;
        m->names = names;
        m->cap_names = cap;
    }
    char *copy = copy_name(m, name);
    if (!copy)
        return -1;
    int32_t idx = m->n_names++;
    m->names[idx] = copy;
    if (m->slots[i] == SLOT_EMPTY)
        m->n_used++;
    m->slots[i] = idx;
    m->tags[i] = tag_of(h);
    if (created)
        *created = 1;
    return idx;
}

int32_t rec_idmap_remove(struct rec_idmap *m, const char *name)
{
    if (m->n_slots == 0)
        return -1;
    int found;
    uint32_t i = probe(m, name, rec_hash_str(name), &found);
    if (!found)
        return -1;
    int32_t idx = m->slots[i];
    m->slots[i] = SLOT_TOMB;
    memset(m->names[idx], 0, strlen(m->names[idx])); /* an erased id leaves no trace */
    m->names[idx] = NULL;
    return idx;
}

const char *rec_idmap_name(const struct rec_idmap *m, int32_t idx)
{
    if (idx < 0 || idx >= m->n_names)
        return NULL;
    return m->names[idx];
}
