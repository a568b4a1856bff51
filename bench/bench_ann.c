/* bench_ann: the approximate top-K index over iALS item factors (model/ann.h) against the exact
 * scan that serving does without it, on a data set's trained factors.
 *
 *   bench_ann PATH|synthetic:USERS:ITEMS:EVENTS [queries] [nprobe,nprobe,...] [lists]
 *
 * Fits iALS (server defaults, 64 factors) on every item of the catalog (items without events
 * too), builds the index (lists 0 = auto), then for `queries` users spread evenly over the
 * users (their fitted factors are the queries) times one request's iALS retrieval of 100
 * candidates on one thread: exact (one gemv over all items and a top-K pass, as
 * src/serve/recommend.c) and approximate at each nprobe. Prints build time, index memory, and
 * per nprobe recall@10 and recall@100 against the exact lists, items scored per query and
 * p50/p99/p99.9 latency in microseconds, and a checksum of the approximate lists. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "core/clock.h"
#include "core/idmap.h"
#include "core/log.h"
#include "core/workers.h"
#include "gen/synth.h"
#include "ingest/import.h"
#include "model/als.h"
#include "model/ann.h"
#include "model/linalg.h"
#include "serve/topk.h"

#define CANDIDATES 100 /* recommend.c's MIN_CANDIDATES: what one request retrieves per source */


static int on_item(void *ctx, const char *id, const char *doc)
{
    struct bench_triplets *d = ctx;
    return rec_idmap_put(&d->items, id, NULL) < 0 ? -2 : 0; /* the catalog, events or not */
}

static int on_user(void *ctx, const char *id, const char *doc) { return 0; }




/* Share of want[0..top) found in got[0..min(top, n_got)). */
static double overlap(const struct rec_topk_entry *want, const struct rec_topk_entry *got,
                      int n_got, int top)
{
    int hits = 0;
    for (int r = 0; r < top; r++)
        for (int s = 0; s < top && s < n_got; s++)
            hits += want[r].idx == got[s].idx;
    return (double)hits / top;
}

static void print_latency(const char *what, double *lat, int n)
{
    qsort(lat, (size_t)n, sizeof *lat, bench_cmp_double);
    printf("p50 %.0f us, p99 %.0f us, p99.9 %.0f us (%s)\n", lat[n / 2], lat[n * 99 / 100],
           lat[(int)((int64_t)n * 999 / 1000)], what);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_ann PATH|synthetic:USERS:ITEMS:EVENTS [queries] "
                        "[nprobe,nprobe,...] [lists]\n");
        return 2;
    }
    int queries = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
    const char *nprobes = argc > 3 ? argv[3] : "8,16,32,64,128";
    rec_log_set_level(REC_LOG_WARN);
    struct bench_triplets d;
    bench_triplets_init(&d);
    struct rec_import_sink sink = {&d, on_item, on_user, bench_triplets_on_event, NULL};
    char err[256] = "";
    if (rec_synth_load_source(argv[1], &sink, err, sizeof err)) {
        fprintf(stderr, "bench_ann: cannot load %s: %s\n", argv[1], err);
        return 1;
    }
    struct rec_csr ui;
    if (rec_csr_from_triplets(&ui, d.users.n_names, d.items.n_names, d.t, d.n)) {
        fprintf(stderr, "bench_ann: out of memory\n");
        return 1;
    }
    free(d.t);
    d.t = NULL;
    struct rec_als_params ap;
    rec_als_params_default(&ap);
    double t0 = rec_mono_s();
    struct rec_als *m = NULL;
    if (rec_als_fit(&ui, &ap, &m)) {
        fprintf(stderr, "bench_ann: fit failed\n");
        return 1;
    }
    double t_fit = rec_mono_s() - t0;
    int32_t n_items = rec_als_n_items(m), n_users = rec_als_n_users(m);
    int k = rec_als_factors(m);
    int32_t with_events = 0;
    {
        uint8_t *seen = calloc((size_t)n_items, 1);
        for (int64_t p = 0; seen && p < ui.indptr[ui.n_rows]; p++)
            seen[ui.indices[p]] = 1;
        for (int32_t i = 0; seen && i < n_items; i++)
            with_events += seen[i];
        free(seen);
    }
    printf("ann %s: %d users x %d items (%d with events), %lld pairs, iALS k=%d fit %.1f s\n",
           argv[1], n_users, n_items, with_events, (long long)ui.indptr[ui.n_rows], k, t_fit);
    rec_csr_free(&ui);

    struct rec_ann_params p;
    rec_ann_params_default(&p);
    if (argc > 4)
        p.n_lists = (int)strtol(argv[4], NULL, 10);
    double rss0 = bench_rss_bytes();
    t0 = rec_mono_s();
    struct rec_ann *a = NULL;
    if (rec_ann_build(rec_als_item_vec(m, 0), n_items, k, &p, &a)) {
        fprintf(stderr, "bench_ann: index build failed\n");
        return 1;
    }
    double t_build = rec_mono_s() - t0, rss1 = bench_rss_bytes();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  index: %d lists (%.0f items per list), build %.2f s on %d threads (iters %d, %d "
           "sample points per list), %.1f MiB (RSS +%.1f MiB), peak RSS %.0f MiB\n",
           rec_ann_n_lists(a), (double)n_items / (rec_ann_n_lists(a) > 0 ? rec_ann_n_lists(a) : 1),
           t_build, rec_workers_count(p.threads, 1024), p.iters, p.sample_per_list, rec_ann_bytes(a) / 1048576.0,
           (rss1 - rss0) / 1048576.0, ru.ru_maxrss / 1024.0);

    /* one request at a time, as the engine runs BLAS */
    rec_linalg_set_blas_threads(1);
    if (queries > n_users)
        queries = n_users;
    int top = CANDIDATES < n_items ? CANDIDATES : n_items;
    struct rec_topk_entry *truth = malloc((size_t)queries * top * sizeof *truth);
    struct rec_topk_entry *got = malloc((size_t)top * sizeof *got);
    float *scores = malloc((size_t)n_items * sizeof *scores);
    double *lat = malloc((size_t)queries * sizeof *lat);
    if (!truth || !got || !scores || !lat)
        return 1;
    for (int q = 0; q < queries; q++) {
        const float *x = rec_als_user_vec(m, (int32_t)((int64_t)q * n_users / queries));
        double a0 = rec_mono_s();
        rec_als_score_all(m, x, scores);
        struct rec_topk t;
        rec_topk_init(&t, truth + (size_t)q * top, top);
        for (int32_t i = 0; i < n_items; i++)
            rec_topk_push(&t, scores[i], i);
        rec_topk_sort(&t);
        lat[q] = (rec_mono_s() - a0) * 1e6;
    }
    printf("  exact, %d queries, top %d: ", queries, top);
    print_latency("all items scored", lat, queries);

    uint64_t checksum = 0;
    for (const char *s = nprobes; *s;) {
        char *end;
        int nprobe = (int)strtol(s, &end, 10);
        if (end == s || nprobe < 1)
            break;
        s = *end == ',' ? end + 1 : end;
        double r10 = 0, r100 = 0, scanned = 0;
        for (int q = 0; q < queries; q++) {
            const float *x = rec_als_user_vec(m, (int32_t)((int64_t)q * n_users / queries));
            double a0 = rec_mono_s();
            struct rec_topk t;
            rec_topk_init(&t, got, top);
            int n_scanned = rec_ann_search(a, x, nprobe, NULL, &t);
            int n_got = rec_topk_sort(&t);
            lat[q] = (rec_mono_s() - a0) * 1e6;
            if (n_scanned < 0) {
                fprintf(stderr, "bench_ann: search failed (%d)\n", n_scanned);
                return 1;
            }
            scanned += n_scanned;
            r10 += overlap(truth + (size_t)q * top, got, n_got, top < 10 ? top : 10);
            r100 += overlap(truth + (size_t)q * top, got, n_got, top);
            for (int r = 0; r < n_got; r++)
                checksum = checksum * 31 + (uint64_t)got[r].idx;
        }
        char what[96];
        snprintf(what, sizeof what, "%.0f items scored per query, %.2f%%", scanned / queries,
                 100.0 * scanned / queries / n_items);
        printf("  nprobe %4d: recall@10 %.4f, recall@%d %.4f, ", nprobe, r10 / queries, top,
               r100 / queries);
        print_latency(what, lat, queries);
    }
    printf("  checksum %016llx\n", (unsigned long long)checksum);
    free(truth);
    free(got);
    free(scores);
    free(lat);
    rec_ann_destroy(a);
    rec_als_destroy(m);
    bench_triplets_free(&d);
    return 0;
}
