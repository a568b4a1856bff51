/* cold_file.h: the cold set a training run computed (coldstart_serve.c), saved next to its iALS
 * snapshot as DATA/models/cold-NNNNNN.bin (same NNNNNN), so that a restart publishes it instead
 * of searching the content neighbours of every cold item again (minutes on a large catalog).
 *
 * Content, in model/binio's encoding:
 *     "RECDCOLD"  u32 format version (=1)
 *     u64 snapshot version, u64 snapshot tag (the trailing checksum of als-NNNNNN.bin)
 *     i32 k, f32 norm (the mean norm the factors were scaled to), i32 n
 *     n x (u32 len, len bytes item id, 32 bytes SHA-256 of the item's document as the fit saw
 *          it, u8 1 = factors follow in the matrix / 0 = no item alike with history)
 *     n*k f32 factors, row j for entry j (a zero row for entries without factors)
 *     u64 FNV-1a 64 of every byte above
 * and nothing after it. An entry is a cache line "item X described by the document of hash H
 * had these factors (or none) in the factor space of snapshot V"; an item not in the file, or
 * whose document hash no longer matches, is computed at load as before.
 *
 * Privacy: item ids, item document hashes and item-space factors only. No user id, no user
 * factor: the file is removed with its snapshot (trainer.c), erasure or not.
 *
 * Crash safety: written with core/file's replace (temporary file, fsync, rename, directory
 * fsync). A file that is short, has a wrong checksum, a bad field or bytes after the end is
 * refused whole: nothing of it is used.
 */
#ifndef REC_SERVE_COLD_FILE_H
#define REC_SERVE_COLD_FILE_H

#include <stdint.h>
#include <stdio.h>

#define REC_COLD_DOC_HASH 32 /* bytes of an entry's document hash (SHA-256) */

struct rec_cold_file {
    uint64_t version;       /* the snapshot's version */
    uint64_t tag;           /* the snapshot file's trailing checksum (rec_binio_file_tag) */
    int32_t k;              /* factors per row, 1..1024 */
    float norm;             /* finite, >= 0 */
    int32_t n;              /* entries */
    char **id;              /* n item ids, owned, non-empty */
    uint8_t *doc_hash;      /* n x REC_COLD_DOC_HASH */
    uint8_t *has_x;         /* n: 1 = row j of x holds the item's factors, 0 = it has none */
    float *x;               /* n x k, finite; rows without factors are zero */
};

/* Frees c's arrays and zeroes it (c itself is the caller's; a zeroed c is fine). */
void rec_cold_file_free(struct rec_cold_file *c);

/* Writes c to f in the format above. Returns 0, REC_EINVAL (a bad field: no file should say
 * it) or REC_EIO. */
int rec_cold_file_write(const struct rec_cold_file *c, FILE *f);

/* Reads a whole file from f into *out (zeroed first; the caller frees it with
 * rec_cold_file_free, also after an error). Returns 0, REC_EFORMAT (short, damaged, a bad field
 * or trailing bytes), REC_EIO or REC_ENOMEM. A forged count costs at most about twice the
 * file's size in memory: arrays grow as the bytes arrive. */
int rec_cold_file_read(FILE *f, struct rec_cold_file *out);

/* Saves c at path durably (rec_file_replace). Returns 0, REC_EINVAL or REC_EIO (errno set;
 * path unchanged), REC_ENOMEM. */
int rec_cold_file_save(const char *path, const struct rec_cold_file *c);

/* Loads path into *out when it belongs to the snapshot of the given version and tag with k
 * factors. Returns 0; REC_ENOTFOUND (no file); REC_EFORMAT (damaged); REC_ECONFLICT (a sound
 * file of another snapshot or factor count); REC_EIO, REC_ENOMEM. On error *out is empty. */
int rec_cold_file_load(const char *path, uint64_t version, uint64_t tag, int32_t k,
                       struct rec_cold_file *out);

#endif
