/* fuzz_csv_import: a CSV events file (`recd import --format csv`): the header line, RFC 4180
 * quoting, delimiter detection, every column parser, contexts; plain or zstd-compressed. */
#include "fuzz_common.h"
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    fuzz_import_file(data, size, "events.csv", REC_IMPORT_CSV);
    return 0;
}
