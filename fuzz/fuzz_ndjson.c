/* fuzz_ndjson: newline-delimited JSON (JSON lines) as `recd import --format jsonl` reads it:
 * one event, {"item": {...}} or {"user": {...}} per line; plain or zstd-compressed. The HTTP
 * API's application/x-ndjson body parser is not reachable without a live connection (see
 * README.md); this is the NDJSON parser recd exposes publicly. */
#include "fuzz_common.h"
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    fuzz_import_file(data, size, "events.jsonl", REC_IMPORT_JSONL);
    return 0;
}
