/* fuzz_common.h: what the libFuzzer targets of fuzz/ share: one-time setup, a private scratch
 * directory for parsers that read files, and the invariant check that turns a broken promise of
 * a header into a crash the fuzzer keeps.
 *
 * Every target is one fuzz_<name>.c defining LLVMFuzzerTestOneInput. It is linked twice: with
 * libFuzzer (clang, -DRECD_FUZZ=ON) to fuzz, and with replay_main.c (any compiler) to replay its
 * corpus under ctest. Not thread-safe: libFuzzer runs one input at a time.
 */
#ifndef REC_FUZZ_COMMON_H
#define REC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process: logging off, jansson's hash seed fixed (object iteration order is then the
 * same on every run, so a crash reproduces), OpenBLAS on one thread, RECD_* environment
 * variables removed (they would change what rec_config_load does). Cheap after the first call. */
void fuzz_init(void);

/* A directory private to this process (under /dev/shm when it is writable, else $TMPDIR or
 * /tmp), created on first use and removed with its files at exit. Aborts when it cannot be made. */
const char *fuzz_dir(void);

/* fuzz_dir()/name in a static buffer (valid until the next call). */
const char *fuzz_path(const char *name);

/* Writes data[0..size) to path, replacing it. Aborts on failure: a harness that cannot write
 * its input tests nothing. */
void fuzz_write(const char *path, const void *data, size_t size);

/* Removes path if it exists. */
void fuzz_unlink(const char *path);

/* size bytes of data in a new NUL-terminated buffer (caller frees). Aborts on ENOMEM. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* For binio model files (model/binio.h): when size >= 8, a copy of data whose last 8 bytes are
 * the FNV-1a 64 of the bytes before them, so a mutated file gets past the checksum and reaches
 * the code after it; NULL when size < 8 or the checksum already matches (caller frees). */
uint8_t *fuzz_fix_checksum(const uint8_t *data, size_t size);

/* The body of a binio file's target: load(data, size), then load of the copy with its
 * checksum fixed (fuzz_fix_checksum) when that differs, so both the checksum's refusal and the
 * parser behind it are reached. */
void fuzz_binio_both(const uint8_t *data, size_t size, void (*load)(const uint8_t *, size_t));

/* 1 when RECD_FUZZ_STRICT is set in the environment: the targets then also check the
 * invariants they skip by default because of a known cause outside recd (each skip names its
 * reproducer in fuzz/crashes/). */
int fuzz_strict(void);

/* Aborts with "invariant broken: <what>" on stderr unless ok. Used for promises the headers
 * make (e.g. "a validation error names a line"), so a violation is a finding like a crash. */
#define FUZZ_CHECK(ok, what) fuzz_check((ok) != 0, what, __FILE__, __LINE__)
void fuzz_check(int ok, const char *what, const char *file, int line);

#endif
