/* binio.h: the binary model files of recd (als, bpr, ease, itemknn, content).
 *
 * Encoding: integers little-endian, floats and doubles as their IEEE-754 bits (u32 / u64)
 * little-endian, so files are independent of host and locale. A file ends with the u64 FNV-1a 64
 * of every byte before it.
 *
 * Writer: bytes collect in a buffer in front of the FILE and feed a running FNV-1a 64;
 * rec_binw_finish appends that checksum and flushes. A write error sticks and is reported once,
 * by finish.
 *
 * Reader: the mirror image. It reads with fread and never past the bytes asked for, so a model
 * saved into a longer stream leaves the rest unread. The first error sticks in rc (REC_EFORMAT:
 * short file or bad content; REC_EIO: read error; REC_ENOMEM); every read after it is a no-op
 * that yields zeros, so a loader can read a whole header and test rc once. The array readers
 * never trust a count from the file: their arrays grow geometrically as the bytes arrive, so a
 * forged size costs at most about twice the real file size before the short read is noticed.
 *
 * Neither side is thread-safe; distinct writers and readers may run at once.
 */
#ifndef REC_MODEL_BINIO_H
#define REC_MODEL_BINIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REC_BINIO_FNV_OFFSET 0xcbf29ce484222325ull

/* FNV-1a 64 of p[0..n) continued from h (start from REC_BINIO_FNV_OFFSET). */
uint64_t rec_binio_fnv1a(uint64_t h, const void *p, size_t n);

struct rec_binw {
    FILE *f;
    uint64_t h;              /* FNV-1a 64 of every byte written so far */
    int err;                 /* nonzero after a failed fwrite: later writes are dropped */
    size_t len;              /* bytes waiting in buf */
    unsigned char buf[8192];
};

void rec_binw_init(struct rec_binw *w, FILE *f);
void rec_binw_bytes(struct rec_binw *w, const void *p, size_t n);
void rec_binw_u32(struct rec_binw *w, uint32_t v);
void rec_binw_i32(struct rec_binw *w, int32_t v);
void rec_binw_u64(struct rec_binw *w, uint64_t v);
void rec_binw_f32(struct rec_binw *w, float v);
void rec_binw_f64(struct rec_binw *w, double v);
void rec_binw_f32s(struct rec_binw *w, const float *v, size_t n);
void rec_binw_i32s(struct rec_binw *w, const int32_t *v, size_t n);
/* The opening of every model file: the 8 bytes of magic, then u32 version. */
void rec_binw_head(struct rec_binw *w, const char magic[8], uint32_t version);
/* A parameter vector (model.h's plain doubles): u32 n, then n f64. */
void rec_binw_params(struct rec_binw *w, const double *p, int n);
/* u32 len, then the len bytes of s (no terminator). */
void rec_binw_str(struct rec_binw *w, const char *s, size_t len);
/* Appends the checksum and flushes the buffer and f. Returns 0, or REC_EIO when any write
 * failed (the file is then incomplete). */
int rec_binw_finish(struct rec_binw *w);

struct rec_binr {
    FILE *f;
    uint64_t h; /* FNV-1a 64 of every byte read so far */
    int rc;     /* first error, 0 while none */
};

void rec_binr_init(struct rec_binr *r, FILE *f);
/* Records rc (when nonzero) unless an error is already recorded; returns r->rc. */
int rec_binr_fail(struct rec_binr *r, int rc);
/* Reads exactly n bytes into p; returns r->rc (REC_EFORMAT when the file ends first). */
int rec_binr_bytes(struct rec_binr *r, void *p, size_t n);
/* Reads a file's opening: REC_EFORMAT unless the magic matches. Returns the version (0 after
 * an error); the caller decides which versions it reads. */
uint32_t rec_binr_head(struct rec_binr *r, const char magic[8]);
/* Reads a parameter vector into p[0..n): REC_EFORMAT unless the file holds exactly n. Values
 * are not checked (the model's own check_params does that). Returns r->rc. */
int rec_binr_params(struct rec_binr *r, double *p, int n);
uint32_t rec_binr_u32(struct rec_binr *r);
int32_t rec_binr_i32(struct rec_binr *r);
uint64_t rec_binr_u64(struct rec_binr *r);
float rec_binr_f32(struct rec_binr *r);
double rec_binr_f64(struct rec_binr *r);

/* Makes room for need elements of size bytes in *v, which holds *cap, by doubling the capacity
 * (at least 256 elements), so a caller that asks only for what it has read keeps memory within
 * about twice the bytes read. Returns 0, or REC_ENOMEM (recorded in r; *v and *cap are then
 * unchanged and the caller still frees *v). */
int rec_binr_grow(struct rec_binr *r, void **v, size_t *cap, size_t need, size_t size);
/* n values in a new array of n + 1 elements (never NULL on success, even for n = 0;
 * caller frees); NULL once r->rc is set. f32s with finite_only fails with REC_EFORMAT on a NaN
 * or an infinity. */
float *rec_binr_f32s(struct rec_binr *r, size_t n, int finite_only);
uint32_t *rec_binr_u32s(struct rec_binr *r, size_t n);
/* Reads a string saved by rec_binw_str into buf (room for max + 1 bytes), NUL-terminated, and
 * its length into *len. REC_EFORMAT when the length is outside min..max or the bytes hold a NUL.
 * Returns r->rc. */
int rec_binr_str(struct rec_binr *r, char *buf, size_t min, size_t max, size_t *len);
/* Reads the trailing checksum: REC_EFORMAT when it does not match the bytes read. The stream is
 * left just behind it (trailing data is not the loader's business). Returns r->rc. */
int rec_binr_finish(struct rec_binr *r);

/* The u64 f ends with, little-endian: for a binio file, its checksum, which names its content;
 * a file saved next to it (serve/cold_file.h) records it to prove what it belongs to. Moves f's
 * position. Returns 0, REC_EFORMAT (shorter than 8 bytes) or REC_EIO. */
int rec_binio_file_tag(FILE *f, uint64_t *tag);

#endif
