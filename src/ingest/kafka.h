/* kafka.h: streaming ingestion from a Kafka topic (librdkafka high-level consumer; kafka.c is
 * the only file that includes rdkafka.h).
 *
 * Each message holds events in the JSON of POST /v1/events (one object or an array), validated
 * and committed by the same code (ingest/event_batch.h). Delivery is at least once, applied once:
 *   poll a batch -> store it (one group commit, deduplicated by id or rec_store_event_key) ->
 *   apply it to the engine -> only then commit the offsets to the group.
 * A redelivered event (after a crash or a failed commit) is a duplicate in the store and is not
 * applied again. Events without ts take the message's timestamp, so their redelivery has the
 * same key too.
 *
 * Several recd nodes in one group split the partitions (each node stores and serves the events
 * of its partitions; key messages by user so a user's events stay together). When partitions
 * are revoked the consumer first makes what it holds durable, then commits synchronously, so
 * the next owner starts right after the last applied event.
 *
 * A message that is not valid JSON, or holds an invalid event, is recorded in the store's
 * dead_letters table (and produced to the dead-letter topic when one is set); its valid events
 * are still applied. Nothing stops the consumer: a store failure re-reads the batch later; a
 * broker outage is waited out by librdkafka while recd keeps serving.
 */
#ifndef REC_INGEST_KAFKA_H
#define REC_INGEST_KAFKA_H

#include <stddef.h>
#include <stdint.h>

struct rec_store;
struct rec_engine;
struct rec_kafka;
struct rec_uid_key;

struct rec_kafka_config {
    const char *brokers;            /* bootstrap servers, "host:port[,host:port...]" */
    const char *topic;
    const char *group;              /* consumer group id */
    const char *dead_letter_topic;  /* NULL or "": dead letters go to the store only */
    const char *properties;         /* extra librdkafka properties "name=value,..." for the
                                     * consumer and the dead-letter producer; NULL for none */
    int max_events;                 /* most events in one message (as --max-batch); a store
                                     * commit stops taking messages once it holds as many */
    int batch_messages;             /* most messages in one store commit */
    int dead_letter_bytes;          /* message bytes a dead letter keeps */
    const struct rec_uid_key *user_key; /* --user-id-key: events' user ids are keyed
                                     * (event_batch.h), and a dead letter keeps no payload
                                     * bytes and no quoted input in its reason, since they may
                                     * hold raw user ids; NULL: ids as given. Must outlive the
                                     * consumer */
};

/* Fills c with the defaults (topic "events", group "recd", 10000, 1000, 4096; no brokers). */
void rec_kafka_config_default(struct rec_kafka_config *c);

#define REC_KAFKA_MAX_REPORTED 128  /* partitions listed in rec_kafka_stats */

struct rec_kafka_partition {
    int32_t partition;
    int64_t high_watermark;         /* offset after the last message in Kafka; -1 unknown */
    int64_t position;               /* offset after the last durable, applied message; -1
                                     * until one (then the committed offset stands for it) */
    int64_t committed;              /* the group's committed offset; -1 unknown or none */
    int64_t lag;                    /* high_watermark - position (or committed); -1 unknown */
};

struct rec_kafka_stats {
    char topic[256];
    char group[256];
    int64_t consumed;               /* messages received */
    int64_t events;                 /* valid events in them */
    int64_t applied;                /* events stored and applied for the first time */
    int64_t duplicates;             /* events the store had already (redeliveries) */
    int64_t invalid_events;         /* events that failed validation */
    int64_t dead_letters;           /* messages recorded as dead letters */
    int64_t dead_letters_produced;  /* ... and delivered to the dead-letter topic */
    int64_t store_errors;           /* batches the store refused (re-read later) */
    int64_t commits;                /* successful offset commits */
    int64_t rebalances;             /* assignments and revocations */
    int brokers_up;                 /* brokers connected at the last statistics (-1 unknown) */
    char last_error[256];           /* latest client error, "" when none */
    int64_t last_error_at;          /* Unix seconds, 0 when none */
    int64_t lag;                    /* sum of the known partition lags */
    int n_partitions;               /* assigned partitions (only the first
                                     * REC_KAFKA_MAX_REPORTED are listed) */
    struct rec_kafka_partition partitions[REC_KAFKA_MAX_REPORTED];
};

/* Creates the consumer, subscribes to c->topic and starts its thread, which ingests into store
 * and engine (both not owned; they must outlive the consumer). Connecting happens in the
 * background: unreachable brokers are not an error here. Returns 0, or REC_EINVAL (bad
 * configuration, message in err) or REC_ENOMEM. */
int rec_kafka_start(const struct rec_kafka_config *c, struct rec_store *store,
                    struct rec_engine *engine, struct rec_kafka **out, char *err, size_t errlen);

/* Stops the thread: what was received is made durable, offsets are committed, the group is
 * left (its partitions move to the other members), the dead-letter producer is flushed (up to
 * 5 s), everything is freed. NULL is a no-op. Not thread-safe against other calls on k. */
void rec_kafka_stop(struct rec_kafka *k);

/* A consistent copy of k's counters and partitions. Thread-safe. */
void rec_kafka_get_stats(struct rec_kafka *k, struct rec_kafka_stats *st);

/* GET /v1/status reports on one published consumer. rec_kafka_publish(k) makes k that consumer
 * (NULL: none); unpublish before rec_kafka_stop. rec_kafka_published_stats fills st and returns
 * 0, or REC_ENOTFOUND when none is published. Thread-safe. */
void rec_kafka_publish(struct rec_kafka *k);
int rec_kafka_published_stats(struct rec_kafka_stats *st);

#endif
