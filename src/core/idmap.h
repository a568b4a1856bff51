/* idmap.h: external string ids <-> dense int32 indexes.
 *
 * Indexes are handed out in order 0, 1, 2, ... and never reused: a removed id keeps its slot
 * (rec_idmap_name returns NULL for it) and a later put of the same string gets a new index.
 * The names are packed into blocks of REC_IDMAP_BLOCK bytes (a malloc per name took 32 bytes
 * for a 7-byte id), which are freed with the map: a removed name is overwritten with zeros,
 * and its bytes stay used until rec_idmap_free. Not thread-safe: the owner serializes access.
 */
#ifndef REC_CORE_IDMAP_H
#define REC_CORE_IDMAP_H

#include <stdint.h>

#define REC_IDMAP_BLOCK 65536

struct rec_idmap_block; /* name storage, a list */

struct rec_idmap {
    char **names;      /* names[idx], in the blocks; NULL once removed */
    struct rec_idmap_block *blocks; /* newest first; names are appended to the first */
    uint32_t block_used, block_cap; /* bytes of the first block */
    int32_t n_names;   /* indexes handed out so far */
    int32_t cap_names;
    int32_t *slots;    /* open addressing: -1 empty, -2 tombstone, else index */
    uint32_t *tags;    /* [n_slots]: high bits of the hash of slots[i]'s name, so a probe
                        * passes other names without reading them */
    uint32_t n_slots;  /* power of two */
    uint32_t n_used;   /* live + tombstones, kept under 70% of n_slots */
};

void rec_idmap_init(struct rec_idmap *m);
void rec_idmap_free(struct rec_idmap *m);

/* Index of name, or -1 when absent. */
int32_t rec_idmap_get(const struct rec_idmap *m, const char *name);
/* Index of name, adding it when absent (*created set to 1 then, else 0; created may be NULL).
 * Returns -1 only when out of memory. */
int32_t rec_idmap_put(struct rec_idmap *m, const char *name, int *created);
/* Forgets name; returns its old index or -1 when absent. */
int32_t rec_idmap_remove(struct rec_idmap *m, const char *name);
/* Name of idx, or NULL when idx is out of range or removed. Owned by the map. */
const char *rec_idmap_name(const struct rec_idmap *m, int32_t idx);

uint64_t rec_hash_str(const char *s);

#endif
