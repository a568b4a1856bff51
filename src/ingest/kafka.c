/* kafka.c: the Kafka consumer (see kafka.h for the delivery contract). The one file that
 * includes rdkafka.h.
 *
 * One thread owns the consumer handle: it polls, and librdkafka runs every callback
 * (rebalance, offset commit, errors, statistics) from inside that poll, so the pending batch
 * and the handle need no lock. The mutex guards only what GET /v1/status copies out: counters
 * and the partition table.
 *
 * The thread's loop:
 *   take the first message (waiting up to POLL_MS), then whatever is already queued, up to
 *   batch_messages -> flush: store + apply (event_batch.h), record dead letters, then store
 *   the offsets (enable.auto.offset.store=false) and commit them asynchronously, one commit in
 *   flight at a time (enable.auto.commit=false: nothing is committed that flush did not store).
 * Committing right after each flush, not on a timer, keeps the committed offsets at most one
 * batch behind, so a rebalance that catches a node by surprise re-reads little.
 * A failed flush seeks its partitions back to the batch's first offsets and backs off, so the
 * same messages come again: nothing is skipped.
 */
#include "ingest/kafka.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ingest/event_batch.h"
#include "store/store.h"

#define POLL_MS 100                /* longest wait for a message; bounds the stop latency */
#define BACKOFF_MAX_MS 5000        /* longest pause after a failed flush */
#define REASON_MAX 512             /* bytes of a dead letter's reason */
#define COMMITTED_TIMEOUT_MS 2000  /* fetching committed offsets at assignment (for lag) */
#define STOP_FLUSH_MS 5000         /* dead-letter producer flush at stop */

/* One received message and what it parsed into (events borrow from b). */
struct pending_msg {
    rd_kafka_message_t *m;
    struct rec_event_batch b;
};

/* Offsets of one partition in the pending batch. */
struct part_range {
    int32_t partition;
    int64_t first, last;
};

/* The batch between poll and flush. Arrays grow by doubling and are reused between batches. */
struct pending {
    struct pending_msg *msgs;
    int n_msgs, cap_msgs;
    struct rec_event *ev;
    uint8_t *inserted;
    int n_ev, cap_ev;
    struct rec_dead_letter *dead;
    char (*reason)[REASON_MAX];
    const rd_kafka_message_t **dead_msg;
    int n_dead, cap_dead;
    struct part_range *parts;
    int n_parts, cap_parts;
    int n_invalid;                 /* invalid events in the batch */
};

/* What the status shows about one assigned partition. */
struct part_state {
    int32_t partition;
    int64_t position, committed, high;
};

struct rec_kafka {
    struct rec_kafka_config cfg;   /* strings point into the owned copies below */
    char *brokers, *topic, *group, *dlt, *props;
    struct rec_store *store;
    struct rec_engine *engine;
    rd_kafka_t *rk;                /* the consumer: the thread's only */
    rd_kafka_t *producer;          /* dead-letter topic, NULL when none */
    pthread_t thread;
    atomic_int stop;
    struct pending p;
    int backoff_ms;                /* 0 after a good flush, doubles on failures */
    int commit_due;                /* offsets stored since the last commit was sent */
    int commit_in_flight;          /* an async commit awaits its callback */

    pthread_mutex_t mu;            /* guards st and parts */
    struct rec_kafka_stats st;     /* partitions[] unused here: built from parts on request */
    struct part_state *parts;
    int n_parts, cap_parts;
};

static pthread_mutex_t published_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rec_kafka *published;

void rec_kafka_config_default(struct rec_kafka_config *c)
{
    memset(c, 0, sizeof *c);
    c->topic = "events";
    c->group = "recd";
    c->max_events = 10000;
    c->batch_messages = 1000;
    c->dead_letter_bytes = 4096;
}

/* ---- growable arrays ---- */

/* Makes room for need elements of size sz in *arr (capacity *cap). 0 or REC_ENOMEM. */
static int grow(void **arr, int *cap, int need, size_t sz)
{
    if (need <= *cap)
        return 0;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *a = realloc(*arr, (size_t)c * sz);
    if (!a)
        return REC_ENOMEM;
    *arr = a;
    *cap = c;
    return 0;
}

/* ---- partition table (under mu) ---- */

static struct part_state *part_find(struct rec_kafka *k, int32_t partition, int add)
{
    for (int i = 0; i < k->n_parts; i++)
        if (k->parts[i].partition == partition)
            return &k->parts[i];
    if (!add || grow((void **)&k->parts, &k->cap_parts, k->n_parts + 1, sizeof *k->parts))
        return NULL;
    struct part_state *ps = &k->parts[k->n_parts++];
    *ps = (struct part_state){.partition = partition, .position = -1, .committed = -1, .high = -1};
    return ps;
}

static void part_remove(struct rec_kafka *k, int32_t partition)
{
    for (int i = 0; i < k->n_parts; i++)
        if (k->parts[i].partition == partition) {
            k->parts[i] = k->parts[--k->n_parts];
            return;
        }
}

static void note_error(struct rec_kafka *k, const char *what, const char *detail)
{
    pthread_mutex_lock(&k->mu);
    snprintf(k->st.last_error, sizeof k->st.last_error, "%s: %s", what, detail);
    k->st.last_error_at = rec_now_s();
    pthread_mutex_unlock(&k->mu);
}

/* ---- the pending batch ---- */

static void pending_clear(struct pending *p)
{
    for (int i = 0; i < p->n_msgs; i++) {
        rec_event_batch_free(&p->msgs[i].b);
        rd_kafka_message_destroy(p->msgs[i].m);
    }
    p->n_msgs = p->n_ev = p->n_dead = p->n_parts = p->n_invalid = 0;
}

static void pending_free(struct pending *p)
{
    pending_clear(p);
    free(p->msgs);
    free(p->ev);
    free(p->inserted);
    free(p->dead);
    free(p->reason);
    free(p->dead_msg);
    free(p->parts);
    memset(p, 0, sizeof *p);
}

static int note_offset(struct pending *p, int32_t partition, int64_t offset)
{
    for (int i = 0; i < p->n_parts; i++)
        if (p->parts[i].partition == partition) {
            if (offset > p->parts[i].last)
                p->parts[i].last = offset;
            if (offset < p->parts[i].first)
                p->parts[i].first = offset;
            return 0;
        }
    if (grow((void **)&p->parts, &p->cap_parts, p->n_parts + 1, sizeof *p->parts))
        return REC_ENOMEM;
    p->parts[p->n_parts++] = (struct part_range){partition, offset, offset};
    return 0;
}

/* Describes why a message is a dead letter: the whole-message error, or its invalid events.
 * redact drops the input jansson quotes in a syntax error ("... near 'alice'"). */
static void dead_reason(char *out, const struct rec_event_batch *b, const char *whole, int redact)
{
    if (whole) {
        snprintf(out, REASON_MAX, "%s", whole);
        char *near = redact ? strstr(out, " near ") : NULL;
        if (near)
            *near = '\0';
        return;
    }
    int len = snprintf(out, REASON_MAX, "%d of %zu events invalid", b->n_rejected, b->n_total);
    for (int i = 0; i < b->n_rejected && len > 0 && len < REASON_MAX - 1; i++)
        len += snprintf(out + len, (size_t)(REASON_MAX - len), "; event %zu: %s",
                        b->rejected[i].index, b->rejected[i].reason);
}

static int add_dead(struct rec_kafka *k, const rd_kafka_message_t *m,
                    const struct rec_event_batch *b, const char *whole)
{
    struct pending *p = &k->p;
    int need = p->n_dead + 1, cap = p->cap_dead;
    if (grow((void **)&p->dead, &cap, need, sizeof *p->dead) ||
        (cap = p->cap_dead, grow((void **)&p->reason, &cap, need, sizeof *p->reason)) ||
        (cap = p->cap_dead, grow((void **)&p->dead_msg, &cap, need, sizeof *p->dead_msg)))
        return REC_ENOMEM;
    p->cap_dead = cap;
    int i = p->n_dead++;
    int keyed = k->cfg.user_key != NULL;
    dead_reason(p->reason[i], b, whole, keyed);
    /* with keyed user ids the store keeps no raw message bytes: they may name a user */
    size_t limit = keyed ? 0 : (size_t)k->cfg.dead_letter_bytes;
    size_t keep = m->len < limit ? m->len : limit;
    p->dead[i] = (struct rec_dead_letter){
        .source = "kafka",
        .topic = k->cfg.topic,
        .partition = m->partition,
        .offset = m->offset,
        .reason = p->reason[i],
        .payload = m->payload,
        .payload_len = keep,
        .payload_bytes = (int64_t)m->len,
        .ts = rec_now_s(),
    };
    p->dead_msg[i] = m;
    return 0;
}

/* Default ts of the message's events: its timestamp, stable across redeliveries (so an id-less
 * event keeps its dedup key), or now when the producer set none. */
static int64_t message_time(const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t type;
    int64_t ms = rd_kafka_message_timestamp(m, &type);
    return type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ms > 0 ? ms / 1000 : rec_now_s();
}

/* Seeks one partition back to offset, so the message there is read again. */
static void seek_one(struct rec_kafka *k, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l)
        return;
    rd_kafka_topic_partition_list_add(l, k->cfg.topic, partition)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, l, 2000);
    rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Adds a received message to the batch: its valid events, and a dead letter when anything in
 * it is invalid. Takes ownership of m. Returns 0, or REC_ENOMEM: then the batch, which holds m
 * or has its partition rewound to it, must be rewound and dropped, not committed. */
static int take(struct rec_kafka *k, rd_kafka_message_t *m)
{
    struct pending *p = &k->p;
    if (note_offset(p, m->partition, m->offset) ||
        grow((void **)&p->msgs, &p->cap_msgs, p->n_msgs + 1, sizeof *p->msgs)) {
        seek_one(k, m->partition, m->offset); /* its partition may be new to the batch */
        rd_kafka_message_destroy(m);
        return REC_ENOMEM;
    }
    struct pending_msg *pm = &p->msgs[p->n_msgs++];
    pm->m = m;
    char err[256];
    int rc = rec_event_batch_parse(&pm->b, m->payload, m->payload ? m->len : 0,
                                   k->cfg.max_events, message_time(m), k->cfg.user_key, err,
                                   sizeof err);
    if (rc == REC_ENOMEM)
        return REC_ENOMEM;
    int cap = p->cap_ev;
    if (grow((void **)&p->ev, &cap, p->n_ev + pm->b.n, sizeof *p->ev) ||
        (cap = p->cap_ev, grow((void **)&p->inserted, &cap, p->n_ev + pm->b.n, 1)))
        return REC_ENOMEM;
    p->cap_ev = cap;
    if (pm->b.n) /* events is NULL after a parse error */
        memcpy(p->ev + p->n_ev, pm->b.events, (size_t)pm->b.n * sizeof *p->ev);
    p->n_ev += pm->b.n;
    p->n_invalid += pm->b.n_rejected;
    if (rc || pm->b.n_rejected)
        return add_dead(k, m, &pm->b, rc ? err : NULL);
    return 0;
}

/* Puts each partition of the failed batch back to its first offset, so it is read again. */
static void rewind_batch(struct rec_kafka *k)
{
    struct pending *p = &k->p;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(p->n_parts);
    if (!l)
        return;
    for (int i = 0; i < p->n_parts; i++)
        rd_kafka_topic_partition_list_add(l, k->cfg.topic, p->parts[i].partition)->offset =
            p->parts[i].first;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, l, 2000);
    if (e) {
        rec_warn("kafka: cannot rewind after a failed batch: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Stores the batch's offsets (last + 1) for the next commit and records the positions. */
static void store_offsets(struct rec_kafka *k)
{
    struct pending *p = &k->p;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(p->n_parts);
    if (!l)
        return;
    for (int i = 0; i < p->n_parts; i++)
        rd_kafka_topic_partition_list_add(l, k->cfg.topic, p->parts[i].partition)->offset =
            p->parts[i].last + 1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->rk, l);
    if (err)
        rec_warn("kafka: storing offsets: %s", rd_kafka_err2str(err));
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < p->n_parts; i++) {
        struct part_state *ps = part_find(k, p->parts[i].partition, 0);
        if (ps && p->parts[i].last + 1 > ps->position)
            ps->position = p->parts[i].last + 1;
    }
    pthread_mutex_unlock(&k->mu);
    rd_kafka_topic_partition_list_destroy(l);
}

static void produce_dead_letters(struct rec_kafka *k)
{
    struct pending *p = &k->p;
    for (int i = 0; i < p->n_dead; i++) {
        const rd_kafka_message_t *m = p->dead_msg[i];
        char part[16], off[24];
        snprintf(part, sizeof part, "%d", (int)m->partition);
        snprintf(off, sizeof off, "%lld", (long long)m->offset);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_TOPIC(k->cfg.dead_letter_topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_HEADER("recd-reason", p->reason[i], -1),
            RD_KAFKA_V_HEADER("recd-topic", k->cfg.topic, -1),
            RD_KAFKA_V_HEADER("recd-partition", part, -1),
            RD_KAFKA_V_HEADER("recd-offset", off, -1), RD_KAFKA_V_END);
        if (err)
            rec_warn("kafka: dead letter %d/%s not produced: %s", (int)m->partition, off,
                     rd_kafka_err2str(err));
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Makes the pending batch durable and live, then stores its offsets and marks a commit due.
 * Returns 0, or the error after rewinding (the batch will be read again). Always empties the
 * batch. */
static int flush(struct rec_kafka *k)
{
    struct pending *p = &k->p;
    if (p->n_msgs == 0)
        return 0;
    for (int i = 0; i < p->n_dead; i++)
        p->dead[i].reason = p->reason[i]; /* p->reason may have moved since add_dead */
    int apply_rc = 0, added = 0;
    int rc = rec_event_commit(k->store, k->engine, p->ev, p->n_ev, p->inserted, &apply_rc);
    if (rc == 0)
        rc = rec_store_add_dead_letters(k->store, p->dead, p->n_dead, &added);
    if (rc) {
        rec_error("kafka: a batch of %d messages could not be stored (%s); it will be read again",
                  p->n_msgs, rec_strerror(rc));
        note_error(k, "store", rec_strerror(rc));
        pthread_mutex_lock(&k->mu);
        k->st.store_errors++;
        pthread_mutex_unlock(&k->mu);
        rewind_batch(k);
        pending_clear(p);
        k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : 100;
        if (k->backoff_ms > BACKOFF_MAX_MS)
            k->backoff_ms = BACKOFF_MAX_MS;
        return rc;
    }
    k->backoff_ms = 0;
    if (apply_rc)
        rec_warn("kafka: events stored but not applied to the live models (%s); a restart "
                 "replays them", rec_strerror(apply_rc));
    for (int i = 0; i < p->n_dead; i++)
        rec_warn("kafka: dead letter %s/%d@%lld: %.200s", k->cfg.topic, (int)p->dead[i].partition,
                 (long long)p->dead[i].offset, p->dead[i].reason);
    if (k->producer && added > 0)
        produce_dead_letters(k);
    int64_t applied = 0;
    for (int i = 0; i < p->n_ev; i++)
        applied += p->inserted[i];
    pthread_mutex_lock(&k->mu);
    k->st.consumed += p->n_msgs;
    k->st.events += p->n_ev;
    k->st.applied += applied;
    k->st.duplicates += p->n_ev - applied;
    k->st.invalid_events += p->n_invalid;
    k->st.dead_letters += added;
    pthread_mutex_unlock(&k->mu);
    store_offsets(k);
    k->commit_due = 1;
    pending_clear(p);
    return 0;
}

/* Sends the stored offsets when due and no commit is in flight (thread only). */
static void commit_async(struct rec_kafka *k)
{
    if (!k->commit_due || k->commit_in_flight)
        return;
    rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, NULL, 1);
    k->commit_due = 0;
    k->commit_in_flight = err == 0;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        note_error(k, "offset commit", rd_kafka_err2str(err));
}

/* Drops the batch unapplied: its partitions were lost, the new owner reads them again. */
static void drop_pending(struct rec_kafka *k)
{
    if (k->p.n_msgs)
        rec_warn("kafka: partitions lost; %d received messages left to their new owner",
                 k->p.n_msgs);
    pending_clear(&k->p);
}

/* ---- librdkafka callbacks (all run inside rd_kafka_consumer_poll, on the thread) ---- */

static void fetch_committed(struct rec_kafka *k, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    if (!l)
        return;
    rd_kafka_resp_err_t err = rd_kafka_committed(k->rk, l, COMMITTED_TIMEOUT_MS);
    pthread_mutex_lock(&k->mu);
    for (int i = 0; err == 0 && i < l->cnt; i++) {
        struct part_state *ps = part_find(k, l->elems[i].partition, 0);
        if (ps && l->elems[i].err == 0 && l->elems[i].offset >= 0)
            ps->committed = l->elems[i].offset;
    }
    pthread_mutex_unlock(&k->mu);
    rd_kafka_topic_partition_list_destroy(l);
}

static void on_assign(struct rec_kafka *k, rd_kafka_topic_partition_list_t *parts, int coop)
{
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t err = 0;
    if (coop)
        e = rd_kafka_incremental_assign(k->rk, parts);
    else
        err = rd_kafka_assign(k->rk, parts);
    if (e || err) {
        rec_error("kafka: assign failed: %s", e ? rd_kafka_error_string(e) : rd_kafka_err2str(err));
        rd_kafka_error_destroy(e);
        return;
    }
    pthread_mutex_lock(&k->mu);
    if (!coop)
        k->n_parts = 0;
    for (int i = 0; i < parts->cnt; i++)
        part_find(k, parts->elems[i].partition, 1);
    k->st.rebalances++;
    pthread_mutex_unlock(&k->mu);
    rec_info("kafka: assigned %d partition(s) of %s", parts->cnt, k->cfg.topic);
    fetch_committed(k, parts);
}

static void on_revoke(struct rec_kafka *k, rd_kafka_topic_partition_list_t *parts, int coop)
{
    if (rd_kafka_assignment_lost(k->rk)) {
        drop_pending(k); /* committing would fail, and another member may own them already */
    } else {
        flush(k);
        rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, NULL, 0);
        k->commit_due = 0;
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            rec_warn("kafka: commit at revocation failed (%s); the next owner re-reads "
                     "from the last commit and the store drops what this node applied",
                     rd_kafka_err2str(err));
    }
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(k->rk, parts);
        if (e) {
            rec_error("kafka: unassign failed: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(k->rk, NULL);
    }
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < parts->cnt; i++)
        part_remove(k, parts->elems[i].partition);
    if (!coop)
        k->n_parts = 0;
    k->st.rebalances++;
    pthread_mutex_unlock(&k->mu);
    rec_info("kafka: revoked %d partition(s) of %s", parts->cnt, k->cfg.topic);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct rec_kafka *k = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(k, parts, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(k, parts, coop);
    } else {
        rec_error("kafka: rebalance failed: %s", rd_kafka_err2str(err));
        note_error(k, "rebalance", rd_kafka_err2str(err));
        drop_pending(k);
        rd_kafka_assign(rk, NULL);
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct rec_kafka *k = opaque;
    k->commit_in_flight = 0; /* callbacks run on the thread, inside its poll */
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    if (err) {
        note_error(k, "offset commit", rd_kafka_err2str(err));
        return;
    }
    pthread_mutex_lock(&k->mu);
    k->st.commits++;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        struct part_state *ps = part_find(k, offsets->elems[i].partition, 0);
        if (ps && offsets->elems[i].err == 0 && offsets->elems[i].offset >= 0)
            ps->committed = offsets->elems[i].offset;
    }
    pthread_mutex_unlock(&k->mu);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct rec_kafka *k = opaque;
    note_error(k, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        rec_warn("kafka: all brokers are down; recd keeps serving and resumes when they return");
    else
        rec_debug("kafka: %s", reason);
}

/* Statistics (every statistics.interval.ms, 1 s): counts the brokers that are up. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct rec_kafka *k = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers");
    if (json_is_object(brokers)) {
        int up = 0;
        const char *name;
        json_t *b;
        json_object_foreach(brokers, name, b) {
            const char *state = json_string_value(json_object_get(b, "state"));
            const char *source = json_string_value(json_object_get(b, "source"));
            json_int_t id = json_integer_value(json_object_get(b, "nodeid"));
            /* cluster brokers only: not the bootstrap entries (-1), not the coordinator alias */
            if (state && !strcmp(state, "UP") && id >= 0 && (!source || strcmp(source, "logical")))
                up++;
        }
        pthread_mutex_lock(&k->mu);
        k->st.brokers_up = up;
        pthread_mutex_unlock(&k->mu);
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0..2 critical, 3 errors (connection failures: warnings here, they are
     * retried), 4 warnings, 5..6 notices, 7 debug */
    enum rec_log_level l = level <= 2   ? REC_LOG_ERROR
                           : level <= 4 ? REC_LOG_WARN
                           : level <= 6 ? REC_LOG_INFO
                                        : REC_LOG_DEBUG;
    rec_log(l, "kafka: %s: %s", fac, buf);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct rec_kafka *k = opaque;
    if (m->err) {
        rec_warn("kafka: dead letter not delivered to %s: %s", k->cfg.dead_letter_topic,
                 rd_kafka_err2str(m->err));
        return;
    }
    pthread_mutex_lock(&k->mu);
    k->st.dead_letters_produced++;
    pthread_mutex_unlock(&k->mu);
}

/* ---- the thread ---- */

static void handle_message(struct rec_kafka *k, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            note_error(k, "consume", rd_kafka_message_errstr(m));
            rec_warn("kafka: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        return;
    }
    if (take(k, m)) {
        /* out of memory: nothing of this batch may be committed */
        rec_error("kafka: out of memory; the batch will be read again");
        rewind_batch(k);
        pending_clear(&k->p);
        k->backoff_ms = BACKOFF_MAX_MS;
    }
}

/* Sleeps ms in POLL_MS steps, returning early when stopping. */
static void backoff(struct rec_kafka *k)
{
    for (int t = 0; t < k->backoff_ms && !atomic_load(&k->stop); t += POLL_MS)
        sleep_ms(POLL_MS);
}

static void *thread_main(void *arg)
{
    struct rec_kafka *k = arg;
    while (!atomic_load(&k->stop)) {
        if (k->backoff_ms)
            backoff(k);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, POLL_MS);
        if (m) {
            handle_message(k, m);
            /* then what is already here, without waiting: one commit for the lot (at most
             * batch_messages messages, and about max_events events: bounded memory) */
            while (k->p.n_msgs > 0 && k->p.n_msgs < k->cfg.batch_messages &&
                   k->p.n_ev < k->cfg.max_events && (m = rd_kafka_consumer_poll(k->rk, 0)))
                handle_message(k, m);
        }
        flush(k);
        commit_async(k);
        if (k->producer)
            rd_kafka_poll(k->producer, 0);
    }
    flush(k);
    /* leaving the group runs the revocation: commit of what is durable */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(k->rk);
    if (err)
        rec_warn("kafka: closing the consumer: %s", rd_kafka_err2str(err));
    return NULL;
}

/* ---- start / stop ---- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK)
        return rec_errf(err, errlen, REC_EINVAL, "kafka property %s=%s: %s", name, value, why);
    return 0;
}

/* Applies "name=value,name=value" (k->props) to conf. */
static int conf_extra(rd_kafka_conf_t *conf, const char *props, char *err, size_t errlen)
{
    if (!props || !*props)
        return 0;
    char *copy = strdup(props);
    if (!copy)
        return REC_ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv && rc == 0; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = rec_errf(err, errlen, REC_EINVAL, "kafka property '%s' needs name=value", kv);
            break;
        }
        *eq = '\0';
        rc = conf_set(conf, kv, eq + 1, err, errlen);
    }
    free(copy);
    return rc;
}

static rd_kafka_conf_t *consumer_conf(struct rec_kafka *k, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return NULL;
    /* offsets are stored by flush() only, after the store commit, and committed by us */
    if (conf_set(conf, "bootstrap.servers", k->cfg.brokers, err, errlen) ||
        conf_set(conf, "group.id", k->cfg.group, err, errlen) ||
        conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
        /* a rebalance moves only the partitions that change owner; the others keep flowing */
        conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen) ||
        conf_set(conf, "statistics.interval.ms", "1000", err, errlen) ||
        conf_extra(conf, k->cfg.properties, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

static int start_producer(struct rec_kafka *k, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return REC_ENOMEM;
    if (conf_set(conf, "bootstrap.servers", k->cfg.brokers, err, errlen) ||
        conf_extra(conf, k->cfg.properties, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return REC_EINVAL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    char why[256];
    if (!(k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        return rec_errf(err, errlen, REC_EINVAL, "kafka dead-letter producer: %s", why);
    }
    return 0;
}

static void free_kafka(struct rec_kafka *k)
{
    if (k->rk)
        rd_kafka_destroy(k->rk);
    if (k->producer) {
        if (rd_kafka_flush(k->producer, STOP_FLUSH_MS))
            rec_warn("kafka: %d dead letters not delivered to %s before stop",
                     rd_kafka_outq_len(k->producer), k->cfg.dead_letter_topic);
        rd_kafka_destroy(k->producer);
    }
    pending_free(&k->p);
    pthread_mutex_destroy(&k->mu);
    free(k->parts);
    free(k->brokers);
    free(k->topic);
    free(k->group);
    free(k->dlt);
    free(k->props);
    free(k);
}

static char *dup_or_null(const char *s, int *fail)
{
    if (!s || !*s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

int rec_kafka_start(const struct rec_kafka_config *c, struct rec_store *store,
                    struct rec_engine *engine, struct rec_kafka **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!c || !store || !c->brokers || !*c->brokers || !c->topic || !*c->topic || !c->group ||
        !*c->group)
        return rec_errf(err, errlen, REC_EINVAL, "kafka needs brokers, a topic and a group");
    if (c->max_events < 1 || c->batch_messages < 1 || c->dead_letter_bytes < 0)
        return rec_errf(err, errlen, REC_EINVAL,
                        "kafka: max events and batch size must be >= 1, dead-letter bytes >= 0");
    struct rec_kafka *k = calloc(1, sizeof *k);
    if (!k || pthread_mutex_init(&k->mu, NULL)) {
        free(k);
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    }
    int fail = 0;
    k->cfg = *c;
    k->cfg.brokers = k->brokers = dup_or_null(c->brokers, &fail);
    k->cfg.topic = k->topic = dup_or_null(c->topic, &fail);
    k->cfg.group = k->group = dup_or_null(c->group, &fail);
    k->cfg.dead_letter_topic = k->dlt = dup_or_null(c->dead_letter_topic, &fail);
    k->cfg.properties = k->props = dup_or_null(c->properties, &fail);
    k->store = store;
    k->engine = engine;
    k->st.brokers_up = -1;
    snprintf(k->st.topic, sizeof k->st.topic, "%s", c->topic);
    snprintf(k->st.group, sizeof k->st.group, "%s", c->group);
    int rc = fail ? rec_errf(err, errlen, REC_ENOMEM, "out of memory") : 0;
    rd_kafka_conf_t *conf = rc ? NULL : consumer_conf(k, err, errlen);
    if (!rc && !conf)
        rc = REC_EINVAL;
    char why[256];
    if (!rc && !(k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
        rd_kafka_conf_destroy(conf);
        rc = rec_errf(err, errlen, REC_EINVAL, "kafka consumer: %s", why);
    }
    if (!rc && k->dlt)
        rc = start_producer(k, err, errlen);
    if (!rc) {
        /* callbacks and messages all come through rd_kafka_consumer_poll */
        rd_kafka_poll_set_consumer(k->rk);
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, k->cfg.topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (e)
            rc = rec_errf(err, errlen, REC_EINVAL, "kafka subscribe to %s: %s", k->cfg.topic,
                          rd_kafka_err2str(e));
    }
    if (!rc && pthread_create(&k->thread, NULL, thread_main, k))
        rc = rec_errf(err, errlen, REC_ENOMEM, "cannot start the kafka thread");
    if (rc) {
        free_kafka(k);
        return rc;
    }
    rec_info("kafka: consuming %s as group %s from %s%s%s", k->cfg.topic, k->cfg.group,
             k->cfg.brokers, k->dlt ? "; dead letters also to " : "", k->dlt ? k->dlt : "");
    *out = k;
    return 0;
}

void rec_kafka_stop(struct rec_kafka *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&published_mu);
    if (published == k)
        published = NULL;
    pthread_mutex_unlock(&published_mu);
    atomic_store(&k->stop, 1);
    pthread_join(k->thread, NULL);
    free_kafka(k);
}

/* ---- status ---- */

void rec_kafka_get_stats(struct rec_kafka *k, struct rec_kafka_stats *st)
{
    pthread_mutex_lock(&k->mu);
    *st = k->st;
    st->n_partitions = k->n_parts;
    st->lag = 0;
    int n = 0;
    for (int i = 0; i < k->n_parts; i++) {
        struct part_state *ps = &k->parts[i];
        int64_t low = -1, high = -1;
        /* cached by the fetcher: no broker round trip */
        if (rd_kafka_get_watermark_offsets(k->rk, k->cfg.topic, ps->partition, &low, &high))
            high = -1;
        int64_t at = ps->position >= 0 ? ps->position : ps->committed >= 0 ? ps->committed : low;
        int64_t lag = high >= 0 && at >= 0 ? (high > at ? high - at : 0) : -1;
        if (lag > 0)
            st->lag += lag;
        if (n < REC_KAFKA_MAX_REPORTED)
            st->partitions[n++] = (struct rec_kafka_partition){
                .partition = ps->partition, .high_watermark = high, .position = ps->position,
                .committed = ps->committed, .lag = lag};
    }
    pthread_mutex_unlock(&k->mu);
    /* stable order for readers (insertion sort: a few partitions) */
    struct rec_kafka_partition *out = st->partitions;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1].partition > out[j].partition; j--) {
            struct rec_kafka_partition t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
}

void rec_kafka_publish(struct rec_kafka *k)
{
    pthread_mutex_lock(&published_mu);
    published = k;
    pthread_mutex_unlock(&published_mu);
}

int rec_kafka_published_stats(struct rec_kafka_stats *st)
{
    pthread_mutex_lock(&published_mu);
    int rc = REC_ENOTFOUND;
    if (published) {
        rec_kafka_get_stats(published, st);
        rc = 0;
    }
    pthread_mutex_unlock(&published_mu);
    return rc;
}
