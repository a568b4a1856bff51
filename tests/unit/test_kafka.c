/* The Kafka consumer against librdkafka's mock cluster (the real protocol over TCP, in this
 * process): events change recommendations; two nodes of one group split the partitions and
 * hand them over without losing or double-applying; a restart mid-stream and a full
 * redelivery apply every event once; malformed messages become dead letters (table and topic)
 * without stopping the consumer; a broker outage is survived.
 *
 * Each new consumer group costs the mock's 3 s initial rebalance delay, so the tests wait on
 * conditions (with generous deadlines), never on fixed sleeps, and assert counts, not times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "core/err.h"
#include "core/log.h"
#include "ingest/kafka.h"
#include "serve/engine.h"
#include "store/store.h"

#define DEADLINE_S 30.0
/* fast group protocol for tests: heartbeats every 100 ms; the session must outlast the mock's
 * 3 s initial rebalance delay (a joining member sends no heartbeats) */
#define TEST_PROPS \
    "heartbeat.interval.ms=100,session.timeout.ms=4500,fetch.wait.max.ms=50," \
    "reconnect.backoff.ms=50,reconnect.backoff.max.ms=500"

static rd_kafka_t *producer;
static rd_kafka_mock_cluster_t *cluster;
static const char *bootstrap;
static char tmp_root[256];

struct node {
    char dir[320];
    struct rec_store *s;
    struct rec_engine *e;
    struct rec_kafka *k;
};

/* ---- helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void nap(void) { usleep(20000); }

static void produce(const char *topic, int32_t partition, const void *payload, size_t len)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)payload, len),
        RD_KAFKA_V_END);
    assert_int_equal(err, 0);
    rd_kafka_poll(producer, 0);
}

static void produce_str(const char *topic, int32_t partition, const char *payload)
{
    produce(topic, partition, payload, payload ? strlen(payload) : 0);
}

static void flush_producer(void) { assert_int_equal(rd_kafka_flush(producer, 20000), 0); }

/* Event number i, in one of three forms: with an id; id-less with ts; id-less without ts (ts
 * then comes from the message timestamp, so a redelivery has the same dedup key). */
static void event_json(char *buf, size_t len, const char *tag, int i, int n_users, int n_items)
{
    switch (i % 3) {
    case 0:
        snprintf(buf, len, "{\"id\":\"%s-%d\",\"user\":\"%s-u%d\",\"item\":\"it%d\",\"type\":\"view\"}",
                 tag, i, tag, i % n_users, i % n_items);
        break;
    case 1:
        snprintf(buf, len, "{\"user\":\"%s-u%d\",\"item\":\"it%d\",\"type\":\"click\",\"ts\":%d}",
                 tag, i % n_users, i % n_items, 1700000000 + i);
        break;
    default:
        snprintf(buf, len, "{\"user\":\"%s-u%d\",\"item\":\"it%d\",\"type\":\"like\"}", tag,
                 i % n_users, (i * 7) % n_items);
        break;
    }
}

static void node_open(struct node *n, const char *name)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "%s/%s", tmp_root, name);
    char err[256];
    assert_int_equal(rec_store_open(n->dir, &n->s, err, sizeof err), 0);
    struct rec_engine_params p;
    assert_int_equal(rec_app_default_engine_params(&p), 0);
    p.knn_shrink = 1.0f;
    p.als.factors = 8;
    p.als.iters = 10;
    p.als.threads = 1;
    p.retrain_events = 0;
    p.retrain_seconds = 0;
    assert_int_equal(rec_engine_create(&p, n->s, &n->e), 0);
    assert_int_equal(rec_engine_load(n->e, err, sizeof err), 0);
}

static void node_consume(struct node *n, const char *topic, const char *group, const char *dlt)
{
    struct rec_kafka_config c;
    rec_kafka_config_default(&c);
    c.brokers = bootstrap;
    c.topic = topic;
    c.group = group;
    c.dead_letter_topic = dlt;
    c.properties = TEST_PROPS;
    c.batch_messages = 64;
    c.dead_letter_bytes = 32;
    char err[256];
    int rc = rec_kafka_start(&c, n->s, n->e, &n->k, err, sizeof err);
    if (rc)
        print_error("rec_kafka_start: %s\n", err);
    assert_int_equal(rc, 0);
}

static void node_stop_consumer(struct node *n)
{
    rec_kafka_stop(n->k);
    n->k = NULL;
}

static void node_close(struct node *n)
{
    node_stop_consumer(n);
    rec_engine_destroy(n->e);
    rec_store_close(n->s);
    memset(n, 0, sizeof *n);
}

static int64_t stored_events(struct node *n)
{
    int64_t ni, nu, ne = -1;
    assert_int_equal(rec_store_count(n->s, &ni, &nu, &ne), 0);
    return ne;
}

static int64_t live_events(struct node *n)
{
    struct rec_engine_status st;
    assert_int_equal(rec_engine_status(n->e, &st), 0);
    return st.n_events;
}

static struct rec_kafka_stats *stats(struct node *n)
{
    static struct rec_kafka_stats st[2];
    static int flip;
    flip ^= 1;
    rec_kafka_get_stats(n->k, &st[flip]);
    return &st[flip];
}

/* Polls cond(a, b) until true or the deadline; fails the test with what on timeout. */
#define WAIT_FOR(cond, what)                                                        \
    do {                                                                            \
        double t0_ = now_s();                                                       \
        while (!(cond)) {                                                           \
            if (now_s() - t0_ > DEADLINE_S)                                         \
                fail_msg("timed out after %.0f s waiting for %s", DEADLINE_S, what); \
            nap();                                                                  \
        }                                                                           \
    } while (0)

/* ---- fixtures ---- */

static int setup_cluster(void **state)
{
    rec_log_set_level(getenv("TEST_KAFKA_VERBOSE") ? REC_LOG_DEBUG : REC_LOG_ERROR);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/recd-test-kafka-XXXXXX");
    if (!mkdtemp(tmp_root))
        return -1;
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "linger.ms", "0", why, sizeof why);
    rd_kafka_conf_set(conf, "log_level", "0", why, sizeof why); /* outages are on purpose */
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!producer || !(cluster = rd_kafka_mock_cluster_new(producer, 1)))
        return -1;
    bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    rd_kafka_brokers_add(producer, bootstrap);
    return 0;
}

static int teardown_cluster(void **state)
{
    rd_kafka_flush(producer, 2000);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(producer);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_events_change_recommendations(void **state)
{
    const char *topic = "taste";
    assert_int_equal(rd_kafka_mock_topic_create(cluster, topic, 2, 1), 0);
    struct node n;
    node_open(&n, "taste");
    node_consume(&n, topic, "g-taste", NULL);
    /* users sa* like items a0..a9, users sb* like b0..b9, as arrays of 10 per message */
    int produced = 0;
    char msg[4096];
    for (int u = 0; u < 40; u++) {
        int len = snprintf(msg, sizeof msg, "[");
        for (int i = 0; i < 10; i++) {
            if ((i + u) % 4 == 0)
                continue;
            len += snprintf(msg + len, sizeof msg - (size_t)len,
                            "%s{\"user\":\"s%c%d\",\"item\":\"%c%d\",\"type\":\"like\",\"ts\":%d}",
                            len > 1 ? "," : "", u < 20 ? 'a' : 'b', u, u < 20 ? 'a' : 'b', i,
                            1700000000 + u * 10 + i);
            produced++;
        }
        snprintf(msg + len, sizeof msg - (size_t)len, "]");
        produce_str(topic, u % 2, msg);
    }
    flush_producer();
    WAIT_FOR(stats(&n)->applied == produced, "the taste events");
    assert_int_equal(stored_events(&n), produced);
    assert_int_equal(rec_engine_train_now(n.e), 0);

    struct rec_result r[5];
    int got;
    const char *model;
    assert_int_equal(rec_engine_recommend(n.e, "newbie", 5, r, &got, &model), 0);
    assert_string_equal(model, "popular"); /* unknown user: no history yet */

    produce_str(topic, 0, "{\"user\":\"newbie\",\"item\":\"b3\",\"type\":\"like\"}");
    produce_str(topic, 1, "{\"user\":\"newbie\",\"item\":\"b5\",\"type\":\"purchase\"}");
    flush_producer();
    WAIT_FOR(stats(&n)->applied == produced + 2, "newbie's events");
    assert_int_equal(rec_engine_recommend(n.e, "newbie", 5, r, &got, &model), 0);
    assert_int_equal(got, 5);
    int b_items = 0;
    for (int j = 0; j < got; j++) {
        b_items += r[j].id[0] == 'b';
        assert_string_not_equal(r[j].id, "b3"); /* seen items are left out */
    }
    assert_true(b_items >= 4); /* newbie's taste, from two Kafka events */
    assert_int_equal(r[0].id[0], 'b');
    assert_true(strcmp(r[0].because, "b3") == 0 || strcmp(r[0].because, "b5") == 0);

    struct rec_kafka_stats *st = stats(&n);
    assert_int_equal(st->consumed, 42);
    assert_int_equal(st->duplicates, 0);
    assert_int_equal(st->dead_letters, 0);
    assert_int_equal(st->n_partitions, 2);
    WAIT_FOR(stats(&n)->lag == 0 && stats(&n)->partitions[1].committed >= 0, "lag 0, commits");
    node_close(&n);
}

/* Each node's store holds the events of the partitions it owned; together exactly all. */
static void test_group_splits_partitions_and_hands_over(void **state)
{
    const char *topic = "split";
    assert_int_equal(rd_kafka_mock_topic_create(cluster, topic, 4, 1), 0);
    struct node a, b;
    node_open(&a, "split-a");
    node_open(&b, "split-b");
    node_consume(&a, topic, "g-split", NULL);
    node_consume(&b, topic, "g-split", NULL);
    WAIT_FOR(stats(&a)->n_partitions == 2 && stats(&b)->n_partitions == 2, "a 2+2 split");
    struct rec_kafka_stats *sa = stats(&a), *sb = stats(&b);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            assert_int_not_equal(sa->partitions[i].partition, sb->partitions[j].partition);

    char msg[512];
    int total = 0;
    for (int i = 0; i < 400; i++, total++) {
        event_json(msg, sizeof msg, "s1", i, 37, 50);
        produce_str(topic, i % 4, msg);
    }
    flush_producer();
    WAIT_FOR(stored_events(&a) + stored_events(&b) == total, "400 events across both nodes");
    assert_int_equal(stored_events(&a), 200); /* 100 per partition, 2 partitions each */
    assert_int_equal(stored_events(&b), 200);
    /* a batch is applied to the engine right after its commit: the store may be ahead for an
     * instant (an ASan run saw 192 of 200 applied at this point) */
    WAIT_FOR(live_events(&a) == 200, "a's 200 events applied");

    /* a leaves mid-stream: it commits what it made durable, b takes all four partitions */
    for (int i = 400; i < 700; i++, total++) {
        event_json(msg, sizeof msg, "s1", i, 37, 50);
        produce_str(topic, i % 4, msg);
        if (i == 450)
            node_stop_consumer(&a);
    }
    flush_producer();
    WAIT_FOR(stats(&b)->n_partitions == 4, "b owning all partitions");
    WAIT_FOR(stored_events(&a) + stored_events(&b) >= total, "700 events across both nodes");
    usleep(300000); /* a double application would show up as more than total */
    assert_int_equal(stored_events(&a) + stored_events(&b), total);
    assert_int_equal(live_events(&a) + live_events(&b), total);
    /* b's own re-reads (a commit the mock refused mid-rebalance) are absorbed by b's store:
     * counted as duplicates, never applied twice, so not asserted here */
    assert_int_equal(stats(&b)->applied + stored_events(&a), total);
    node_close(&a);
    node_close(&b);
}

/* Stop mid-stream, reopen store and engine (replay), resume: every event stored and applied
 * once. Then a consumer in a new group reads the whole topic again: all duplicates. */
static void test_restart_mid_stream_applies_once(void **state)
{
    const char *topic = "restart";
    assert_int_equal(rd_kafka_mock_topic_create(cluster, topic, 2, 1), 0);
    struct node n;
    node_open(&n, "restart");
    node_consume(&n, topic, "g-restart", NULL);
    char msg[512];
    int total = 0;
    for (; total < 300; total++) {
        event_json(msg, sizeof msg, "r", total, 23, 31);
        produce_str(topic, total % 2, msg);
    }
    flush_producer();
    WAIT_FOR(stats(&n)->applied == 300, "the first 300 events");
    for (; total < 900; total++) {
        event_json(msg, sizeof msg, "r", total, 23, 31);
        produce_str(topic, total % 2, msg);
        if (total == 500) {
            flush_producer();
            node_close(&n); /* consumer, engine and store all go, mid-stream */
        }
    }
    flush_producer();
    node_open(&n, "restart");
    int64_t before = stored_events(&n);
    assert_true(before >= 300 && before <= 501);
    assert_int_equal(live_events(&n), before); /* replayed from the store */
    node_consume(&n, topic, "g-restart", NULL);
    WAIT_FOR(stored_events(&n) == total, "all 900 events");
    WAIT_FOR(stats(&n)->events >= total - before, "the consumer to catch up");
    usleep(300000);
    assert_int_equal(stored_events(&n), total);
    assert_int_equal(live_events(&n), total);
    struct rec_kafka_stats *st = stats(&n);
    assert_int_equal(st->applied, total - before);
    node_stop_consumer(&n);

    /* a new group starts from the beginning: 900 redeliveries, nothing applied twice */
    node_consume(&n, topic, "g-restart-replay", NULL);
    WAIT_FOR(stats(&n)->events == total, "the full redelivery");
    st = stats(&n);
    assert_int_equal(st->duplicates, total);
    assert_int_equal(st->applied, 0);
    assert_int_equal(stored_events(&n), total);
    assert_int_equal(live_events(&n), total);
    node_close(&n);
}

struct dead_rows {
    int n;
    int64_t offset[16];
    char reason[16][600];
    size_t kept[16];
    int64_t bytes[16];
};

static int collect_dead(void *ctx, int64_t seq, const struct rec_dead_letter *d)
{
    struct dead_rows *r = ctx;
    if (r->n < 16) {
        r->offset[r->n] = d->offset;
        snprintf(r->reason[r->n], sizeof r->reason[0], "%s", d->reason);
        r->kept[r->n] = d->payload_len;
        r->bytes[r->n] = d->payload_bytes;
    }
    r->n++;
    return 0;
}

/* Messages with a recd-reason header read from topic (new group, from the start). */
static int count_dead_letter_topic(const char *topic, int want)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, why, sizeof why);
    rd_kafka_conf_set(conf, "group.id", "dlq-reader", why, sizeof why);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", why, sizeof why);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    double t0 = now_s();
    while (n < want && now_s() - t0 < DEADLINE_S) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vlen;
        if (!m->err && !rd_kafka_message_headers(m, &h) &&
            !rd_kafka_header_get_last(h, "recd-reason", &v, &vlen) && vlen > 0)
            n++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

static void test_malformed_messages_become_dead_letters(void **state)
{
    const char *topic = "dirty", *dlt = "dirty-dlq";
    assert_int_equal(rd_kafka_mock_topic_create(cluster, topic, 1, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(cluster, dlt, 1, 1), 0);
    char long_msg[200];
    memset(long_msg, 'x', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    long_msg[0] = '{'; /* malformed, and longer than the 32 bytes a dead letter keeps */
    const char *msgs[] = {
        "{\"user\":\"d1\",\"item\":\"i1\",\"type\":\"view\"}",                     /* 0 ok */
        "{\"user\":\"d1\",\"item\":",                                           /* 1 bad JSON */
        NULL,                                                                   /* 2 empty */
        "\"just a string\"",                                                    /* 3 bad: no event */
        "[{\"user\":\"d2\",\"item\":\"i1\",\"type\":\"view\"},{\"user\":\"d2\",\"type\":\"view\"},"
        "{\"user\":\"d2\",\"item\":\"i2\",\"type\":\"like\"}]",                 /* 4 1 of 3 bad */
        long_msg,                                                               /* 5 bad, long */
        "{\"user\":\"d3\",\"item\":\"i1\",\"type\":\"teleport\"}",              /* 6 bad type */
        "{\"user\":\"d3\",\"item\":\"i2\",\"type\":\"view\"}",                  /* 7 ok */
    };
    int n_msgs = (int)(sizeof msgs / sizeof msgs[0]);
    for (int i = 0; i < n_msgs; i++)
        produce_str(topic, 0, msgs[i]);
    flush_producer();
    struct node n;
    node_open(&n, "dirty");
    node_consume(&n, topic, "g-dirty", dlt);
    WAIT_FOR(stats(&n)->consumed == n_msgs, "all messages");
    struct rec_kafka_stats *st = stats(&n);
    assert_int_equal(st->applied, 4); /* messages 0, 7 and two events of 4 */
    assert_int_equal(st->invalid_events, 2);
    assert_int_equal(st->dead_letters, 6);
    assert_int_equal(stored_events(&n), 4);

    struct dead_rows rows = {0};
    assert_int_equal(rec_store_scan_dead_letters(n.s, 0, collect_dead, &rows), 0);
    assert_int_equal(rows.n, 6);
    const int64_t want_offsets[] = {1, 2, 3, 4, 5, 6};
    const char *want_reason[] = {"malformed JSON", "empty message", "expected a JSON event",
                                 "1 of 3 events invalid; event 1: missing field \"item\"",
                                 "malformed JSON", "event 0: field \"type\""};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rows.offset[i], want_offsets[i]);
        if (!strstr(rows.reason[i], want_reason[i]))
            fail_msg("dead letter %d: reason '%s' lacks '%s'", i, rows.reason[i], want_reason[i]);
    }
    assert_int_equal(rows.bytes[4], (int64_t)strlen(long_msg));
    assert_int_equal(rows.kept[4], 32); /* truncated to the limit */
    assert_int_equal(rows.bytes[1], 0);
    WAIT_FOR(stats(&n)->dead_letters_produced == 6, "dead letters delivered to the topic");
    node_stop_consumer(&n);
    assert_int_equal(count_dead_letter_topic(dlt, 6), 6);

    /* the same messages again (a new group): the table keeps one row per message */
    node_consume(&n, topic, "g-dirty-again", NULL);
    WAIT_FOR(stats(&n)->consumed == n_msgs, "the redelivery");
    assert_int_equal(stats(&n)->dead_letters, 0);
    rows.n = 0;
    assert_int_equal(rec_store_scan_dead_letters(n.s, 0, collect_dead, &rows), 0);
    assert_int_equal(rows.n, 6);
    assert_int_equal(stored_events(&n), 4);
    node_close(&n);
}

static void test_broker_outage_is_survived(void **state)
{
    const char *topic = "outage";
    assert_int_equal(rd_kafka_mock_topic_create(cluster, topic, 2, 1), 0);
    struct node n;
    node_open(&n, "outage");
    node_consume(&n, topic, "g-outage", NULL);
    char msg[512];
    int total = 0;
    for (; total < 100; total++) {
        event_json(msg, sizeof msg, "o", total, 11, 13);
        produce_str(topic, total % 2, msg);
    }
    flush_producer();
    WAIT_FOR(stats(&n)->applied == 100, "events before the outage");

    assert_int_equal(rd_kafka_mock_broker_set_down(cluster, 1), 0);
    for (; total < 200; total++) { /* queued in the producer until the broker is back */
        event_json(msg, sizeof msg, "o", total, 11, 13);
        produce_str(topic, total % 2, msg);
    }
    WAIT_FOR(stats(&n)->brokers_up == 0, "the consumer to notice the outage");
    WAIT_FOR(stats(&n)->last_error[0] != '\0', "an error to be reported");
    /* recd keeps serving meanwhile */
    struct rec_result r[3];
    int got;
    const char *model;
    assert_int_equal(rec_engine_recommend(n.e, "o-u1", 3, r, &got, &model), 0);
    assert_int_equal(stats(&n)->applied, 100);

    assert_int_equal(rd_kafka_mock_broker_set_up(cluster, 1), 0);
    flush_producer();
    WAIT_FOR(stored_events(&n) == total, "all 200 events after the outage");
    WAIT_FOR(stats(&n)->brokers_up >= 1, "the broker to be seen up");
    usleep(300000);
    assert_int_equal(stored_events(&n), total);
    assert_int_equal(live_events(&n), total);
    node_close(&n);
}

static void test_bad_configuration_is_refused(void **state)
{
    struct node n;
    node_open(&n, "badconf");
    struct rec_kafka_config c;
    rec_kafka_config_default(&c);
    char err[256] = "";
    struct rec_kafka *k = (struct rec_kafka *)1;
    assert_int_equal(rec_kafka_start(&c, n.s, n.e, &k, err, sizeof err), REC_EINVAL);
    assert_null(k);
    c.brokers = bootstrap;
    c.properties = "no.such.property=1";
    assert_int_equal(rec_kafka_start(&c, n.s, n.e, &k, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "no.such.property"));
    c.properties = "missing-equals";
    assert_int_equal(rec_kafka_start(&c, n.s, n.e, &k, err, sizeof err), REC_EINVAL);
    assert_null(k);
    node_close(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configuration_is_refused),
        cmocka_unit_test(test_events_change_recommendations),
        cmocka_unit_test(test_group_splits_partitions_and_hands_over),
        cmocka_unit_test(test_restart_mid_stream_applies_once),
        cmocka_unit_test(test_malformed_messages_become_dead_letters),
        cmocka_unit_test(test_broker_outage_is_survived),
    };
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
