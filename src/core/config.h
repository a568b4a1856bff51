/* config.h: every setting of every subcommand, from one table (config.c) that drives defaults,
 * the config file, environment variables, command-line flags and --help.
 *
 * Precedence, lowest first: built-in default < config file (--config FILE or RECD_CONFIG) <
 * environment (RECD_<NAME>, dashes as underscores) < flags (--name VALUE or --name=VALUE).
 */
#ifndef REC_CORE_CONFIG_H
#define REC_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Subcommands an option applies to (bit mask). */
enum {
    REC_CMD_SERVE = 1 << 0,
    REC_CMD_IMPORT = 1 << 1,
    REC_CMD_TRAIN = 1 << 2,
    REC_CMD_RECOMMEND = 1 << 3,
    REC_CMD_EVAL = 1 << 4,
    REC_CMD_GEN = 1 << 5,
    REC_CMD_VERSION = 1 << 6,
    REC_CMD_TUNE = 1 << 7,
};

struct rec_config {
    /* general */
    char *config;           /* config file path, NULL when none */
    char *data;             /* data directory */
    char *log_level;
    char *log_format;       /* text or json */
    /* serve */
    char *bind;
    int port;
    int threads;            /* HTTP worker threads */
    int64_t max_body;       /* bytes */
    int64_t max_body_memory; /* bytes of request bodies buffered at once, all connections */
    int max_connections;    /* concurrent connections, all addresses */
    int max_connections_per_ip; /* concurrent connections from one address; 0: no limit */
    int idle_timeout;       /* seconds without a byte in or out that close a connection */
    int max_batch;          /* records per POST */
    int max_n;              /* largest n a list request may ask for */
    char *experiments;      /* experiments file, "" for none */
    char *rules;            /* rules file, "" for none */
    int ranker;             /* bool */
    int source_bandit;      /* bool */
    double ranker_weight;
    double ranker_side_scale;      /* rec_rank_scale_side; 0: values 1 */
    int64_t ranker_min_examples;
    double ranker_negative_window; /* minutes */
    double ranker_save_seconds;    /* between saves of DATA/models/ranker.bin; 0: at shutdown */
    double diversity;
    int max_per_category;
    double fresh_boost;
    double fresh_half_life;    /* hours */
    char *fresh_half_lives;    /* cat=hours,... */
    int fresh_candidates;
    double explore_share;
    int explore_max_impressions;
    double attribution_window; /* minutes */
    double metrics_interval;   /* seconds */
    double drift_window;       /* minutes */
    double drift_threshold;    /* nats */
    int drift_min_events;
    /* models */
    int factors;
    double reg;
    double alpha;
    int iters;
    int cg_steps;
    int train_threads;
    int retrain_events;     /* retrain after this many new events; 0 = never by count */
    int retrain_seconds;    /* retrain when events arrived and this much time passed; 0 = never */
    double half_life;       /* popularity half-life, hours */
    int knn_window;         /* co-occurrence window: each item pairs with this many previous */
    double knn_shrink;
    int knn_neighbors;      /* neighbours kept per item */
    int recent_items;       /* a user's latest items used as kNN seeds */
    double user_half_life;  /* hours; a user's older interactions fade (0 = never) */
    double session_gap;     /* minutes that close a session */
    double session_boost;   /* weight of the current session's interactions (1 = none) */
    int fold_in_steps;      /* CG steps of a live fold-in (0: exact) */
    int ann_min_items;      /* items from which iALS retrieval uses the approximate index; 0 = never */
    int ann_nprobe;         /* lists of the index scanned per request */
    int ann_lists;          /* lists of the index; 0 = auto */
    int exclude_seen;       /* bool */
    double blend_knn;       /* fusion weight of the kNN list (iALS = 1) */
    double blend_popular;
    double cold_weight;     /* 0..1 */
    int history_max;        /* items shown in GET /v1/users/{id} */
    double weights[16];     /* per event type (REC_EVENT__COUNT used) */
    char *sources;          /* model types the server blends with iALS ("ease,itemknn") */
    char *blend_weights;    /* "als=1,ease=0.7": learned by recd tune; empty = learn at train time */
    char *model_params[8];  /* "name=value,..." per model type (REC_CONFIG_MODEL_TYPES order) */
    /* import */
    char *format;
    /* gen */
    int64_t users;
    int64_t items;
    int64_t events;
    int categories;
    int64_t sessions;       /* gen: impression sessions with the context click model */
    int64_t seed;
    char *out;
    /* recommend */
    char *user;
    int n;
    /* eval, tune */
    double ratio;
    char *k;                /* list lengths, "10" or "5,10,20" */
    char *models;
    char *protocol;         /* random, temporal, leave-last, kfold */
    int leave;              /* leave-last-N-out: N */
    int folds;              /* k-fold cross validation: k */
    char *train_file, *test_file; /* split files (user item rating ts, tab-separated) */
    char *write_recs;       /* file for "user item rank" lines (evalkit score format) */
    char *html;             /* HTML report */
    int trials;             /* tune: random configurations per model */
    double time_limit;      /* tune: seconds per model, 0 = none */
    int tune_in_blend;      /* tune: later models judged by the blend's NDCG, not their own */
    double valid_ratio;     /* validation carve: share of training pairs kept for fitting */
    double replay_fraction; /* replay protocol: share of events (by time) that trains */
    int64_t retrain_every;  /* replay protocol: stream events between retrains, 0 = a fifth */
    /* serve: Kafka ingestion (on when kafka_brokers is set) */
    char *kafka_brokers;    /* bootstrap servers, host:port,... */
    char *kafka_topic;
    char *kafka_group;      /* consumer group id */
    char *kafka_dead_letter_topic; /* NULL: dead letters only in the store */
    char *kafka_properties; /* extra librdkafka properties, name=value,... */
    int kafka_batch;        /* messages per store commit */
    int kafka_dead_letter_bytes; /* message bytes a dead letter keeps */
    /* serve: security (docs/SECURITY.md) */
    char *keys;             /* API key file ("<scope> <key>" lines); NULL: no keys */
    int insecure_public;    /* bool: without keys, listen on a non-loopback --bind anyway */
    double rate_limit;      /* requests/s per key (per client address without keys); 0: off */
    int rate_burst;         /* requests at once above the rate; 0: the rate, at least 1 */
    char *cors_origins;     /* "*" or origin,...; NULL: no CORS headers */
    char *tls_cert;         /* PEM certificate file; NULL (with tls_key NULL): plain HTTP */
    char *tls_key;          /* PEM private key file of tls_cert */
    char *tls_priorities;   /* GnuTLS priority string; NULL: recd's default */
    /* serve, import, recommend: privacy (docs/PRIVACY.md) */
    char *user_id_key;      /* key file: user ids are kept only as keyed hashes (core/uid.h);
                             * NULL: as given */
};

/* Model types with a params-<name> option, in model_params order. */
#define REC_CONFIG_MODEL_TYPES {"als", "bpr", "ease", "itemknn", "content", "attrs", "pop", "seqknn"}
#define REC_CONFIG_N_MODEL_TYPES 8

/* Fills c with defaults for the options of cmd, then applies the config file, environment and
 * argv[0..argc) flags. Arguments that are not flags are collected, in order, into positional
 * (at most max_positional; the count goes to *n_positional). Returns 0, or REC_EINVAL with a
 * message in err (unknown flag, bad number, option not valid for cmd, unreadable config file).
 * *want_help is set when -h/--help was given. The caller frees c with rec_config_free. */
int rec_config_load(struct rec_config *c, unsigned cmd, int argc, char **argv,
                    const char **positional, int max_positional, int *n_positional,
                    int *want_help, char *err, size_t errlen);
void rec_config_free(struct rec_config *c);
/* Prints the options of cmd (flag, environment variable, default, help) to f. */
void rec_config_print_help(FILE *f, unsigned cmd);

#endif
