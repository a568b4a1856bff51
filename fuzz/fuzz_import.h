/* fuzz_import.h: the body of the CSV and JSON-lines import targets: the input is the file (a
 * zstd frame is named .zst, so rec_reader decompresses it), imported with rec_import_path. */
#ifndef REC_FUZZ_IMPORT_H
#define REC_FUZZ_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/import.h"

/* Writes data to fuzz_dir()/name (name + ".zst" when data starts with the zstd magic), imports
 * it as fmt through fuzz_sink and checks the result. */
void fuzz_import_file(const uint8_t *data, size_t size, const char *name,
                      enum rec_import_format fmt);

#endif
