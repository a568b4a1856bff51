/* bench_als: iALS training time on a data set (MovieLens directory, CSV/JSONL, or synthetic).
 *
 *   bench_als PATH|synthetic:USERS:ITEMS:EVENTS [factors] [iters] [threads]
 *
 * Prints pairs, seconds for the whole fit and per iteration, peak RSS, and a checksum of the
 * item factors (so a faster build with different answers is noticed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "core/clock.h"
#include "core/idmap.h"
#include "core/log.h"
#include "gen/synth.h"
#include "ingest/import.h"
#include "model/als.h"


static int on_doc(void *ctx, const char *id, const char *doc) { return 0; }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_als PATH|synthetic:USERS:ITEMS:EVENTS [factors] [iters] [threads]\n");
        return 2;
    }
    rec_log_set_level(REC_LOG_WARN);
    struct bench_triplets d;
    bench_triplets_init(&d);
    struct rec_import_sink sink = {&d, on_doc, on_doc, bench_triplets_on_event, NULL};
    char err[256] = "";
    int rc;
    rc = rec_synth_load_source(argv[1], &sink, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench_als: cannot load %s: %s\n", argv[1], err);
        return 1;
    }
    struct rec_als_params p;
    rec_als_params_default(&p);
    if (argc > 2)
        p.factors = (int)strtol(argv[2], NULL, 10);
    if (argc > 3)
        p.iters = (int)strtol(argv[3], NULL, 10);
    if (argc > 4)
        p.threads = (int)strtol(argv[4], NULL, 10);
    struct rec_csr ui;
    if (rec_csr_from_triplets(&ui, d.users.n_names, d.items.n_names, d.t, d.n)) {
        fprintf(stderr, "bench_als: out of memory\n");
        return 1;
    }
    double t0 = rec_mono_s();
    struct rec_als *m = NULL;
    if ((rc = rec_als_fit(&ui, &p, &m))) {
        fprintf(stderr, "bench_als: fit failed (%d)\n", rc);
        return 1;
    }
    double dt = rec_mono_s() - t0;
    double sum = 0;
    for (int32_t i = 0; i < rec_als_n_items(m); i++) {
        const float *y = rec_als_item_vec(m, i);
        for (int f = 0; f < p.factors; f++)
            sum += y[f] * (double)((i + f) % 7 + 1);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("als %s: %d users x %d items, %lld pairs, factors %d, iters %d, threads %d: "
           "fit %.3f s (%.3f s/iter), peak RSS %.0f MiB, checksum %.6e\n",
           argv[1], ui.n_rows, ui.n_cols, (long long)ui.indptr[ui.n_rows], p.factors, p.iters,
           p.threads, dt, dt / p.iters, ru.ru_maxrss / 1024.0, sum);
    rec_als_destroy(m);
    rec_csr_free(&ui);
    bench_triplets_free(&d);
    return 0;
}
