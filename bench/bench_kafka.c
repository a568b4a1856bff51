/* bench_kafka: Kafka ingestion end to end, against librdkafka's mock cluster in this process
 * (real protocol over TCP on loopback; one broker, 4 partitions or more: the mock keeps only
 * about 5 MB per partition, deleting older messages like a retention limit, so larger runs
 * spread over more partitions).
 *
 *   bench_kafka [events] [events-per-message] [latency-samples]
 *
 * Phase 1 (throughput): the events are produced first; a recd consumer (store in a temporary
 * directory, live engine) then ingests them. Timed from its partition assignment until every
 * event is durable and applied: events/s, messages/s, store commits, peak RSS.
 * Phase 2 (freshness): after a training run, one event at a time for a new user ("likes item
 * X"); timed from produce until rec_engine_recommend for that user cites X as its reason.
 * Prints p50/p95/p99 milliseconds and a checksum (stored events + recommended ids). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_util.h"
#include "app/app.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rand.h"
#include "ingest/kafka.h"
#include "serve/engine.h"
#include "store/store.h"

#define TOPIC "bench"
#define MIN_PARTITIONS 4
#define BYTES_PER_PARTITION (3 << 20) /* stays below the mock's per-partition retention */
#define CLUSTERS 20
#define ITEMS_PER_CLUSTER 50
#define PROPS "fetch.wait.max.ms=1,heartbeat.interval.ms=100,session.timeout.ms=6000"

static rd_kafka_t *producer;
static int partitions = MIN_PARTITIONS;


static void produce(int32_t partition, const char *payload, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)payload, len),
            RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(producer, 10); /* local queue full: let deliveries drain */
    }
    rd_kafka_poll(producer, 0);
}

/* Event k of user u: users of cluster c like items of cluster c (power-law-ish within it). */
static int event_text(char *buf, size_t len, uint64_t *rng, int64_t k, int users)
{
    int u = (int)(rec_splitmix64(rng) % (uint64_t)users);
    uint64_t r = rec_splitmix64(rng);
    int item = (int)((r % ITEMS_PER_CLUSTER) * ((r >> 32) % ITEMS_PER_CLUSTER) / ITEMS_PER_CLUSTER);
    return snprintf(buf, len,
                    "{\"id\":\"b%lld\",\"user\":\"u%d\",\"item\":\"c%d-%d\",\"type\":\"click\","
                    "\"ts\":%lld}",
                    (long long)k, u, u % CLUSTERS, item, (long long)(1700000000 + k / 100));
}

static uint64_t hash_str(const char *str)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *str; str++)
        h = (h ^ (unsigned char)*str) * 0x100000001b3ULL;
    return h;
}

struct sum_ctx {
    uint64_t *sum;
    int64_t *n;
};

static int sum_event(void *ctx, const struct rec_event *ev)
{
    struct sum_ctx *c = ctx;
    if (!ev->id)
        return 0; /* a latency probe: its ts is the time of the run */
    *c->sum += rec_mix64(hash_str(ev->user) ^ rec_mix64(hash_str(ev->item)) ^ (uint64_t)ev->ts);
    (*c->n)++;
    return 0;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void wait_assigned(struct rec_kafka *k)
{
    struct rec_kafka_stats *st = malloc(sizeof *st);
    do {
        usleep(2000);
        rec_kafka_get_stats(k, st);
    } while (st->n_partitions < partitions);
    free(st);
}

static int64_t applied(struct rec_kafka *k, struct rec_kafka_stats *st)
{
    rec_kafka_get_stats(k, st);
    return st->applied;
}

int main(int argc, char **argv)
{
    int64_t n_events = argc > 1 ? strtoll(argv[1], NULL, 10) : 200000;
    int per_msg = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1;
    int samples = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 300;
    if (n_events < 1 || per_msg < 1 || samples < 1) {
        fprintf(stderr, "usage: bench_kafka [events] [events-per-message] [latency-samples]\n");
        return 2;
    }
    int users = (int)(n_events / 20 > 100 ? n_events / 20 : 100);
    rec_log_set_level(REC_LOG_WARN);

    char why[256], dir[] = "/tmp/recd-bench-kafka-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "linger.ms", "0", why, sizeof why);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", why, sizeof why);
    rd_kafka_conf_set(conf, "log_level", "0", why, sizeof why);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    rd_kafka_mock_cluster_t *mc = producer ? rd_kafka_mock_cluster_new(producer, 1) : NULL;
    if (!mc)
        return 1;
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_brokers_add(producer, bootstrap);
    int64_t bytes = n_events * 120; /* an event's JSON is about 100 bytes */
    if (bytes / BYTES_PER_PARTITION + 1 > partitions)
        partitions = (int)(bytes / BYTES_PER_PARTITION + 1);
    rd_kafka_mock_topic_create(mc, TOPIC, partitions, 1);

    /* phase 1: produce everything, then consume it */
    double t0 = rec_mono_s();
    uint64_t rng = 42;
    size_t cap = (size_t)per_msg * 160 + 16;
    char *msg = malloc(cap);
    int64_t n_msgs = 0;
    for (int64_t k = 0; k < n_events; n_msgs++) {
        size_t len = 0;
        if (per_msg > 1)
            msg[len++] = '[';
        for (int j = 0; j < per_msg && k < n_events; j++, k++) {
            if (j)
                msg[len++] = ',';
            len += (size_t)event_text(msg + len, cap - len, &rng, k, users);
        }
        if (per_msg > 1)
            msg[len++] = ']';
        produce((int32_t)(n_msgs % partitions), msg, len);
    }
    rd_kafka_flush(producer, 60000);
    printf("produced %lld events in %lld messages (%d per message, %d partitions) in %.2f s\n",
           (long long)n_events, (long long)n_msgs, per_msg, partitions, rec_mono_s() - t0);

    struct rec_store *s;
    struct rec_engine *e;
    struct rec_engine_params p;
    if (rec_store_open(dir, &s, why, sizeof why) || rec_app_default_engine_params(&p))
        return 1;
    p.retrain_events = 0;
    p.retrain_seconds = 0;
    p.background = 0;
    if (rec_engine_create(&p, s, &e) || rec_engine_load(e, why, sizeof why))
        return 1;
    struct rec_kafka_config kc;
    rec_kafka_config_default(&kc);
    kc.brokers = bootstrap;
    kc.topic = TOPIC;
    kc.group = "bench";
    kc.properties = PROPS;
    struct rec_kafka *k;
    if (rec_kafka_start(&kc, s, e, &k, why, sizeof why)) {
        fprintf(stderr, "bench_kafka: %s\n", why);
        return 1;
    }
    struct rec_kafka_stats *st = malloc(sizeof *st);
    wait_assigned(k);
    int64_t commits0 = rec_store_commit_count(s);
    t0 = rec_mono_s();
    while (applied(k, st) + st->duplicates < n_events) {
        usleep(1000);
        if (rec_mono_s() - t0 > 300) {
            fprintf(stderr, "bench_kafka: only %lld of %lld events after 300 s\n",
                    (long long)(st->applied + st->duplicates), (long long)n_events);
            return 1;
        }
    }
    double dt = rec_mono_s() - t0;
    int64_t commits = rec_store_commit_count(s) - commits0;
    printf("ingest (durable + applied): %.0f events/s, %.0f messages/s, %.2f s; %lld store "
           "commits (%.0f events each); peak RSS %ld MiB\n",
           (double)n_events / dt, (double)n_msgs / dt, dt, (long long)commits,
           commits ? (double)n_events / (double)commits : 0.0, peak_rss_mb());

    /* phase 2: event-to-visible latency on a trained model */
    t0 = rec_mono_s();
    if (rec_engine_train_now(e))
        return 1;
    printf("trained iALS on %lld events in %.2f s\n", (long long)n_events, rec_mono_s() - t0);
    double *lat = malloc((size_t)samples * sizeof *lat);
    struct rec_result r[10];
    int timeouts = 0, same_cluster = 0;
    for (int i = 0; i < samples; i++) {
        char user[32], item[32];
        snprintf(user, sizeof user, "fresh%d", i);
        snprintf(item, sizeof item, "c%d-%d", i % CLUSTERS, i % 7);
        int len = snprintf(msg, cap, "{\"user\":\"%s\",\"item\":\"%s\",\"type\":\"like\"}", user, item);
        double start = rec_mono_s();
        produce(i % partitions, msg, (size_t)len);
        int seen = 0;
        while (!seen && rec_mono_s() - start < 10.0) {
            int got = 0;
            const char *model;
            if (rec_engine_recommend(e, user, 10, r, &got, &model) == 0)
                for (int j = 0; j < got && !seen; j++)
                    seen = strcmp(r[j].because, item) == 0;
            if (!seen)
                usleep(100);
            else /* the top item should come from the liked item's cluster */
                same_cluster += got > 0 && strncmp(r[0].id, item, strcspn(item, "-") + 1) == 0;
        }
        lat[i] = (rec_mono_s() - start) * 1e3;
        timeouts += !seen;
    }
    qsort(lat, (size_t)samples, sizeof *lat, bench_cmp_double);
    printf("event-to-visible (produce -> recommendation cites it), %d samples: p50 %.2f ms, "
           "p95 %.2f ms, p99 %.2f ms, max %.2f ms%s\n",
           samples, lat[samples / 2], lat[samples * 95 / 100], lat[samples * 99 / 100],
           lat[samples - 1], timeouts ? " (some timed out after 10 s)" : "");
    rec_kafka_get_stats(k, st);
    /* Kafka interleaves partitions differently on every run, so the checksum is over what
     * must not depend on it: the phase 1 events as a set */
    uint64_t checksum = 0;
    int64_t ne = 0;
    struct sum_ctx sc = {&checksum, &ne};
    rec_store_scan_events(s, 0, sum_event, &sc);
    printf("checksum: %lld phase 1 events stored (%lld duplicates, %lld dead letters), set hash %016llx; "
           "top item from the liked item's cluster for %d of %d fresh users\n",
           (long long)ne, (long long)st->duplicates, (long long)st->dead_letters,
           (unsigned long long)checksum, same_cluster, samples);

    rec_kafka_stop(k);
    rec_engine_destroy(e);
    rec_store_close(s);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(producer);
    free(lat);
    free(st);
    free(msg);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 && !timeouts ? 0 : 1;
}
