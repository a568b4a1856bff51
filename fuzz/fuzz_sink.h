/* fuzz_sink.h: an import sink (ingest/import.h) for the import targets that checks every record
 * an importer hands out against what import.h and event.h promise, then drops it. */
#ifndef REC_FUZZ_SINK_H
#define REC_FUZZ_SINK_H

#include <stddef.h>

#include "ingest/import.h"

struct fuzz_sink_counts {
    long items, users, events;
};

/* A sink whose ctx is counts (zeroed by the caller). */
struct rec_import_sink fuzz_sink(struct fuzz_sink_counts *counts);

/* Checks what rec_import_path returned: a documented code, a message with every error, no
 * "out of memory" (the fuzzer's allocator never returns NULL: it reports the OOM itself), and
 * stats that agree with what the sink saw. */
void fuzz_sink_check_result(int rc, const char *err, const struct rec_import_stats *st,
                            const struct fuzz_sink_counts *counts);

#endif
