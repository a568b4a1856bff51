/* kafka_mock: a Kafka cluster for end-to-end tests (librdkafka's mock cluster, which speaks the
 * real protocol over TCP), driven line by line on stdin so tests need no Kafka client.
 *
 *   kafka_mock [--brokers N] [--topic NAME --partitions P]...
 * prints "bootstrap HOST:PORT,..." once the cluster is up, then runs commands, one per line,
 * answering each with "ok" (or "error <why>"):
 *   produce P PAYLOAD   one message to partition P of the first topic (-1: any partition)
 *   key K PAYLOAD       one message keyed K (the partition follows the key)
 *   flush               wait until every message is acknowledged (up to 30 s)
 *   down B / up B       take broker B (1..N) down or bring it back
 *   topic NAME P        create a topic with P partitions
 *   count TOPIC         messages consumed from TOPIC since start, read with a fresh consumer
 *   quit
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rd_kafka_t *producer;
static rd_kafka_mock_cluster_t *cluster;
static char first_topic[256] = "events";

static int num(const char *s) { return (int)strtol(s, NULL, 10); }

static void reply(const char *what)
{
    fputs(what, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err)
        fprintf(stderr, "kafka_mock: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static int produce(int32_t partition, const char *key, const char *payload)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(first_topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)payload, strlen(payload)), RD_KAFKA_V_END);
    rd_kafka_poll(producer, 0);
    return err ? -1 : 0;
}

/* Reads TOPIC from the beginning with a throwaway consumer until 2 s pass without a message. */
static long count_topic(const char *bootstrap, const char *topic)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    static int n_counts;
    snprintf(group, sizeof group, "kafka-mock-count-%d", ++n_counts);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, why, sizeof why) ||
        rd_kafka_conf_set(conf, "log_level", "0", why, sizeof why) ||
        rd_kafka_conf_set(conf, "group.id", group, why, sizeof why) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", why, sizeof why))
        return -1;
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!c)
        return -1;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    long n = 0;
    int idle = 0;
    while (idle < 20 || (n == 0 && idle < 100)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err) {
            n++;
            idle = 0;
        } else {
            idle++;
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

int main(int argc, char **argv)
{
    int brokers = 1;
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set(conf, "linger.ms", "0", why, sizeof why);
    rd_kafka_conf_set(conf, "log_level", "0", why, sizeof why); /* outages are on purpose */
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--brokers"))
            brokers = num(argv[i + 1]);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!producer || !(cluster = rd_kafka_mock_cluster_new(producer, brokers))) {
        fprintf(stderr, "kafka_mock: %s\n", why);
        return 1;
    }
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
    rd_kafka_brokers_add(producer, bootstrap);
    int topics = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--topic")) {
            int parts = i + 3 < argc && !strcmp(argv[i + 2], "--partitions") ? num(argv[i + 3])
                                                                               : 1;
            rd_kafka_mock_topic_create(cluster, argv[i + 1], parts, 1);
            if (!topics++)
                snprintf(first_topic, sizeof first_topic, "%s", argv[i + 1]);
        }
    }
    printf("bootstrap %s\n", bootstrap);
    fflush(stdout);

    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *rest = strchr(line, ' ');
        if (rest)
            *rest++ = '\0';
        if (!strcmp(line, "produce") && rest) {
            char *payload = strchr(rest, ' ');
            if (!payload) {
                reply("error produce needs a partition and a payload");
                continue;
            }
            *payload++ = '\0';
            reply(produce(num(rest), NULL, payload) ? "error produce" : "ok");
        } else if (!strcmp(line, "key") && rest) {
            char *payload = strchr(rest, ' ');
            if (!payload) {
                reply("error key needs a key and a payload");
                continue;
            }
            *payload++ = '\0';
            reply(produce(RD_KAFKA_PARTITION_UA, rest, payload) ? "error produce" : "ok");
        } else if (!strcmp(line, "flush")) {
            reply(rd_kafka_flush(producer, 30000) ? "error flush timed out" : "ok");
        } else if ((!strcmp(line, "down") || !strcmp(line, "up")) && rest) {
            int b = num(rest);
            rd_kafka_resp_err_t e = line[0] == 'd' ? rd_kafka_mock_broker_set_down(cluster, b)
                                                   : rd_kafka_mock_broker_set_up(cluster, b);
            reply(e ? "error broker" : "ok");
        } else if (!strcmp(line, "topic") && rest) {
            char *parts = strchr(rest, ' ');
            if (parts)
                *parts++ = '\0';
            rd_kafka_mock_topic_create(cluster, rest, parts ? num(parts) : 1, 1);
            reply("ok");
        } else if (!strcmp(line, "count") && rest) {
            char out[64];
            snprintf(out, sizeof out, "%ld", count_topic(bootstrap, rest));
            reply(out);
        } else if (!strcmp(line, "quit")) {
            break;
        } else {
            reply("error unknown command");
        }
    }
    rd_kafka_flush(producer, 5000);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(producer);
    return 0;
}
