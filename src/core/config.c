#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ingest/event.h"

enum opt_type { OPT_INT, OPT_I64, OPT_DBL, OPT_STR, OPT_BOOL };

#define ALL_CMDS 0xff
#define MODEL_CMDS (REC_CMD_SERVE | REC_CMD_TRAIN | REC_CMD_RECOMMEND | REC_CMD_EVAL | REC_CMD_TUNE)
#define EVAL_CMDS (REC_CMD_EVAL | REC_CMD_TUNE)
#define DATA_CMDS (REC_CMD_SERVE | REC_CMD_IMPORT | REC_CMD_TRAIN | REC_CMD_RECOMMEND | REC_CMD_EVAL | REC_CMD_TUNE)
#define OFF(f) offsetof(struct rec_config, f)

struct opt {
    const char *name;   /* flag without dashes; env RECD_<NAME>; config file key */
    enum opt_type type;
    size_t offset;
    const char *def;
    unsigned cmds;
    const char *help;
};

static const struct opt opts[] = {
    {"config", OPT_STR, OFF(config), NULL, ALL_CMDS & ~REC_CMD_VERSION, "config file (key = value lines)"},
    {"data", OPT_STR, OFF(data), "./recd-data", DATA_CMDS, "data directory (SQLite store and model snapshots)"},
    {"log-level", OPT_STR, OFF(log_level), "info", ALL_CMDS, "debug, info, warn, error or off"},
    {"log-format", OPT_STR, OFF(log_format), "text", ALL_CMDS, "log lines as text or json (one JSON object per line)"},

    {"bind", OPT_STR, OFF(bind), "127.0.0.1", REC_CMD_SERVE, "address to listen on (0.0.0.0 for all)"},
    {"port", OPT_INT, OFF(port), "8080", REC_CMD_SERVE, "TCP port (0 picks a free one)"},
    {"threads", OPT_INT, OFF(threads), "4", REC_CMD_SERVE, "HTTP worker threads"},
    {"keys", OPT_STR, OFF(keys), NULL, REC_CMD_SERVE, "API key file: lines '<scope> <key>', scope read, write or admin (docs/SECURITY.md); none: no authentication, and recd listens on 127.0.0.1 only"},
    {"insecure-public", OPT_BOOL, OFF(insecure_public), "false", REC_CMD_SERVE, "without --keys, listen on a non-loopback --bind anyway (anyone who reaches it may do anything)"},
    {"rate-limit", OPT_DBL, OFF(rate_limit), "0", REC_CMD_SERVE, "requests per second per API key (per client address without --keys); 0: no limit"},
    {"rate-burst", OPT_INT, OFF(rate_burst), "0", REC_CMD_SERVE, "requests a client may make at once above --rate-limit (0: the rate, at least 1)"},
    {"cors-origins", OPT_STR, OFF(cors_origins), NULL, REC_CMD_SERVE, "browser origins allowed to call the API: https://a.example,https://b.example or * (none: no CORS headers)"},
    {"tls-cert", OPT_STR, OFF(tls_cert), NULL, REC_CMD_SERVE, "PEM certificate file (the server's first, then its chain): serve HTTPS only, with --tls-key (none: plain HTTP)"},
    {"tls-key", OPT_STR, OFF(tls_key), NULL, REC_CMD_SERVE, "PEM private key file of --tls-cert, unencrypted (make it readable by recd only)"},
    {"tls-priorities", OPT_STR, OFF(tls_priorities), NULL, REC_CMD_SERVE, "GnuTLS priority string: TLS versions and cipher suites (none: TLS 1.2 and 1.3 with forward-secret AEAD suites only; docs/SECURITY.md)"},
    {"user-id-key", OPT_STR, OFF(user_id_key), NULL, REC_CMD_SERVE | REC_CMD_IMPORT | REC_CMD_RECOMMEND, "file holding a secret key (32 bytes or more, kept outside the data directory): user ids are stored only as their keyed hash, HMAC-SHA256(key, id) as 32 hex characters, and requests naming a raw id find it (docs/PRIVACY.md)"},
    {"max-body", OPT_I64, OFF(max_body), "16777216", REC_CMD_SERVE, "largest request body, bytes"},
    {"max-body-memory", OPT_I64, OFF(max_body_memory), "268435456", REC_CMD_SERVE, "bytes of request bodies buffered at once, all clients together (more than --max-body); a body that would go over gets 503"},
    {"max-connections", OPT_INT, OFF(max_connections), "1024", REC_CMD_SERVE, "concurrent connections, all clients together (further ones wait to be accepted)"},
    {"max-connections-per-ip", OPT_INT, OFF(max_connections_per_ip), "128", REC_CMD_SERVE, "concurrent connections from one client address, further ones are closed at once (0: no limit; raise it behind a proxy, whose connections all share its address)"},
    {"idle-timeout", OPT_INT, OFF(idle_timeout), "30", REC_CMD_SERVE, "seconds after which a connection that sent and received nothing is closed"},
    {"max-batch", OPT_INT, OFF(max_batch), "10000", REC_CMD_SERVE, "most records in one POST"},
    {"max-n", OPT_INT, OFF(max_n), "1000", REC_CMD_SERVE, "largest n a list request may ask for"},
    {"rules", OPT_STR, OFF(rules), "", REC_CMD_SERVE, "business rules file (JSON; filters, boosts, buries, pins, blocks; reloaded on SIGHUP or POST /v1/rules/reload)"},
    {"diversity", OPT_DBL, OFF(diversity), "0", REC_CMD_SERVE, "default MMR diversity of a list, 0 (pure relevance) to 1"},
    {"max-per-category", OPT_INT, OFF(max_per_category), "0", REC_CMD_SERVE, "most items of one category in a list (0: no cap)"},
    {"fresh-boost", OPT_DBL, OFF(fresh_boost), "0.5", REC_CMD_SERVE, "relevance boost of a just-published item (x 1 + this, halving every half-life)"},
    {"fresh-half-life", OPT_DBL, OFF(fresh_half_life), "168", REC_CMD_SERVE, "hours after which the freshness boost halves"},
    {"fresh-half-lives", OPT_STR, OFF(fresh_half_lives), "", REC_CMD_SERVE, "per category, e.g. news=6,films=2160 (hours)"},
    {"fresh-candidates", OPT_INT, OFF(fresh_candidates), "10", REC_CMD_SERVE, "new arrivals added to every list's candidates"},
    {"explore-share", OPT_DBL, OFF(explore_share), "0", REC_CMD_SERVE, "share of a list's slots given to new or little-shown items by Thompson sampling (0: off)"},
    {"explore-max-impressions", OPT_INT, OFF(explore_max_impressions), "100", REC_CMD_SERVE, "items shown fewer times than this may be explored"},
    {"source-bandit", OPT_BOOL, OFF(source_bandit), "false", REC_CMD_SERVE, "learn per context (device, daypart) how to weight the candidate sources (LinUCB)"},
    {"ranker", OPT_BOOL, OFF(ranker), "true", REC_CMD_SERVE, "learn a ranker (factorization machine over user, item, attribute and context features) from events and use it once ready"},
    {"ranker-weight", OPT_DBL, OFF(ranker_weight), "0.5", REC_CMD_SERVE, "share of the ranker's probability in a candidate's relevance (the rest: retrieval rank)"},
    {"ranker-side-scale", OPT_DBL, OFF(ranker_side_scale), "0", REC_CMD_SERVE, "0..100: the ranker's attribute and context features get the value SCALE / sqrt(their count) instead of 1 (0: values 1); `recd eval --protocol ranker` chooses it on the first half of a stream (docs/RANKING.md)"},
    {"ranker-min-examples", OPT_I64, OFF(ranker_min_examples), "1000", REC_CMD_SERVE, "labelled events the ranker learns before it re-scores lists"},
    {"ranker-negative-window", OPT_DBL, OFF(ranker_negative_window), "30", REC_CMD_SERVE, "minutes after which an impression without a click is a negative example"},
    {"ranker-save-seconds", OPT_DBL, OFF(ranker_save_seconds), "300", REC_CMD_SERVE, "seconds between saves of the learning ranker to DATA/models/ranker.bin, loaded at start (0: only at shutdown and after erasures; docs/RELIABILITY.md)"},
    {"experiments", OPT_STR, OFF(experiments), "", REC_CMD_SERVE, "A/B experiments file (JSON; see docs/EXPERIMENTS.md)"},
    {"attribution-window", OPT_DBL, OFF(attribution_window), "60", REC_CMD_SERVE, "minutes after a recommendation during which a user's events on its items count for it"},
    {"metrics-interval", OPT_DBL, OFF(metrics_interval), "5", REC_CMD_SERVE, "seconds between the samples of /v1/metrics/history (720 are kept)"},
    {"drift-window", OPT_DBL, OFF(drift_window), "60", REC_CMD_SERVE, "minutes of one drift window (the previous window is the reference)"},
    {"drift-min-events", OPT_INT, OFF(drift_min_events), "200", REC_CMD_SERVE, "events (and served scores) a drift window needs before it is compared"},
    {"drift-threshold", OPT_DBL, OFF(drift_threshold), "0.5", REC_CMD_SERVE, "KL divergence (nats) above which drift is reported and logged"},

    {"factors", OPT_INT, OFF(factors), "64", MODEL_CMDS, "iALS latent factors"},
    {"reg", OPT_DBL, OFF(reg), "-1", MODEL_CMDS, "iALS regularization (-1: the model's default)"},
    {"alpha", OPT_DBL, OFF(alpha), "-1", MODEL_CMDS, "iALS confidence scale (-1: the model's default)"},
    {"iters", OPT_INT, OFF(iters), "-1", MODEL_CMDS, "iALS sweeps (-1: the model's default)"},
    {"cg-steps", OPT_INT, OFF(cg_steps), "-1", MODEL_CMDS, "iALS conjugate-gradient steps per row (-1: default)"},
    {"train-threads", OPT_INT, OFF(train_threads), "0", MODEL_CMDS, "training threads (0: one per CPU)"},
    {"retrain-events", OPT_INT, OFF(retrain_events), "10000", REC_CMD_SERVE, "retrain after this many new events (0: never)"},
    {"retrain-seconds", OPT_INT, OFF(retrain_seconds), "3600", REC_CMD_SERVE, "retrain this often when new events arrived (0: never)"},
    {"half-life", OPT_DBL, OFF(half_life), "168", MODEL_CMDS, "popularity half-life, hours"},
    {"knn-window", OPT_INT, OFF(knn_window), "20", MODEL_CMDS, "item-kNN: each item co-occurs with this many previous items of the user"},
    {"knn-neighbors", OPT_INT, OFF(knn_neighbors), "256", MODEL_CMDS, "item-kNN: co-occurring items kept per item, 4..4096 (the most frequent, by the Space-Saving rule): bounds the memory per item and the work per request"},
    {"knn-shrink", OPT_DBL, OFF(knn_shrink), "10", MODEL_CMDS, "item-kNN cosine shrinkage"},
    {"recent-items", OPT_INT, OFF(recent_items), "20", MODEL_CMDS, "latest items of a user used as kNN seeds"},
    {"user-half-life", OPT_DBL, OFF(user_half_life), "0", MODEL_CMDS, "hours after which a user's interaction counts half, relative to their latest (0: no decay)"},
    {"session-gap", OPT_DBL, OFF(session_gap), "30", MODEL_CMDS, "minutes without events that end a session"},
    {"session-boost", OPT_DBL, OFF(session_boost), "1", MODEL_CMDS, "weight multiplier of the user's current session (1: none)"},
    {"fold-in-steps", OPT_INT, OFF(fold_in_steps), "3", MODEL_CMDS, "conjugate-gradient steps of a live fold-in, from the user's factors (0: exact solve)"},
    {"ann-min-items", OPT_INT, OFF(ann_min_items), "50000", MODEL_CMDS, "iALS retrieval scans an approximate index (IVF over the item factors, built after each training) from this many items on; below, every item is scored (0: never)"},
    {"ann-nprobe", OPT_INT, OFF(ann_nprobe), "32", MODEL_CMDS, "lists of the approximate index scanned per request (more: higher recall, slower)"},
    {"ann-lists", OPT_INT, OFF(ann_lists), "0", MODEL_CMDS, "lists of the approximate index (0: 2 sqrt(items))"},
    {"exclude-seen", OPT_BOOL, OFF(exclude_seen), "true", MODEL_CMDS, "leave items the user already interacted with out of recommendations"},
    {"blend-knn", OPT_DBL, OFF(blend_knn), "0.1", MODEL_CMDS, "weight of the kNN list when fusing (iALS weighs 1)"},
    {"blend-popular", OPT_DBL, OFF(blend_popular), "0.01", MODEL_CMDS, "weight of the popularity list when fusing (iALS weighs 1)"},
    {"cold-weight", OPT_DBL, OFF(cold_weight), "1", MODEL_CMDS, "0..1: an item with no events of its own (factors from its content) enters the iALS list with its score times this; 0 leaves it to new arrivals and similar lists (recd tune sets it)"},
    {"history-max", OPT_INT, OFF(history_max), "50", REC_CMD_SERVE, "recent history entries GET /v1/users/{id} returns"},
#define WEIGHT_OPT(sfx, wire, w, verb) \
    {"weight-" wire, OPT_DBL, OFF(weights) + REC_EVENT_##sfx * sizeof(double), #w, MODEL_CMDS, "weight of a " wire " event"},
    REC_EVENT_TYPES(WEIGHT_OPT)
#undef WEIGHT_OPT
    {"sources", OPT_STR, OFF(sources), "", MODEL_CMDS, "model types blended with iALS when serving, e.g. ease,itemknn (see recd tune)"},
    {"blend-weights", OPT_STR, OFF(blend_weights), "", MODEL_CMDS, "source weights, e.g. als=1,ease=0.7 (empty: learned on a validation split at each training)"},
#define PARAMS_OPT(j, t) \
    {"params-" t, OPT_STR, OFF(model_params) + (j) * sizeof(char *), "", MODEL_CMDS, t " hyperparameters, name=value,... (recd eval --help-models lists them)"},
    PARAMS_OPT(0, "als") PARAMS_OPT(1, "bpr") PARAMS_OPT(2, "ease") PARAMS_OPT(3, "itemknn")
    PARAMS_OPT(4, "content") PARAMS_OPT(5, "attrs") PARAMS_OPT(6, "pop")
    PARAMS_OPT(7, "seqknn")
#undef PARAMS_OPT

    {"format", OPT_STR, OFF(format), "auto", REC_CMD_IMPORT, "auto, ml100k, ml1m, csv or jsonl"},

    {"users", OPT_I64, OFF(users), "1000", REC_CMD_GEN, "synthetic users"},
    {"items", OPT_I64, OFF(items), "500", REC_CMD_GEN, "synthetic items"},
    {"events", OPT_I64, OFF(events), "50000", REC_CMD_GEN, "synthetic events"},
    {"categories", OPT_INT, OFF(categories), "20", REC_CMD_GEN, "synthetic categories"},
    {"sessions", OPT_I64, OFF(sessions), "0", REC_CMD_GEN, "impression sessions with a context-dependent click model (0: none; see docs/RANKING.md)"},
    {"seed", OPT_I64, OFF(seed), "42", REC_CMD_GEN | MODEL_CMDS, "random seed"},
    {"out", OPT_STR, OFF(out), "-", REC_CMD_GEN | EVAL_CMDS, "output file: JSON results for eval, the config file for tune ('-' for stdout)"},

    {"user", OPT_STR, OFF(user), NULL, REC_CMD_RECOMMEND, "user id to recommend for"},
    {"n", OPT_INT, OFF(n), "10", REC_CMD_RECOMMEND, "how many items"},

    {"ratio", OPT_DBL, OFF(ratio), "0.75", EVAL_CMDS, "share of each user's interactions used for training"},
    {"k", OPT_STR, OFF(k), "10", EVAL_CMDS, "list lengths the metrics are computed at, e.g. 5,10,20"},
    {"models", OPT_STR, OFF(models), "pop,als,served", EVAL_CMDS, "comma-separated model types, plus blend (learned blend of the others) and served (the server's pipeline)"},
    {"protocol", OPT_STR, OFF(protocol), "random", REC_CMD_EVAL, "random (per-user, --ratio), temporal (global, --ratio), leave-last (--leave N), kfold (--folds K) or replay (prequential, the served pipeline)"},
    {"replay-fraction", OPT_DBL, OFF(replay_fraction), "0.8", REC_CMD_EVAL, "replay: share of events, in time order, that trains; the rest is streamed"},
    {"retrain-every", OPT_I64, OFF(retrain_every), "0", REC_CMD_EVAL, "replay: streamed events between full retrains of the retrain policy (0: a fifth of the stream)"},
    {"leave", OPT_INT, OFF(leave), "1", REC_CMD_EVAL, "leave-last-N-out: latest interactions per user held out"},
    {"folds", OPT_INT, OFF(folds), "5", REC_CMD_EVAL, "k-fold cross validation: number of folds"},
    {"train-file", OPT_STR, OFF(train_file), NULL, REC_CMD_EVAL, "training split file (user item rating ts, tab-separated), with --test-file"},
    {"test-file", OPT_STR, OFF(test_file), NULL, REC_CMD_EVAL, "test split file, with --train-file"},
    {"write-recs", OPT_STR, OFF(write_recs), NULL, REC_CMD_EVAL, "write each model's lists as user item rank lines (FILE.<model>)"},
    {"html", OPT_STR, OFF(html), NULL, EVAL_CMDS, "write an HTML report with charts"},
    {"trials", OPT_INT, OFF(trials), "27", REC_CMD_TUNE, "random configurations per model (successive halving keeps the best third each rung)"},
    {"valid-ratio", OPT_DBL, OFF(valid_ratio), "0.8", EVAL_CMDS, "validation split carved from training data (tune, blend weights): share of each user's pairs kept for fitting"},
    {"tune-in-blend", OPT_INT, OFF(tune_in_blend), "0", REC_CMD_TUNE, "1: each model after the first is tuned for the NDCG of the blend with the models tuned before it, not alone"},
    {"time-limit", OPT_DBL, OFF(time_limit), "0", REC_CMD_TUNE, "seconds of search per model (0: no limit)"},

    {"kafka-brokers", OPT_STR, OFF(kafka_brokers), NULL, REC_CMD_SERVE, "Kafka bootstrap servers host:port,...: consume events from --kafka-topic (none: no Kafka)"},
    {"kafka-topic", OPT_STR, OFF(kafka_topic), "events", REC_CMD_SERVE, "Kafka topic of events (JSON as POST /v1/events, one event or an array per message)"},
    {"kafka-group", OPT_STR, OFF(kafka_group), "recd", REC_CMD_SERVE, "Kafka consumer group; recd nodes in one group split the partitions"},
    {"kafka-dead-letter-topic", OPT_STR, OFF(kafka_dead_letter_topic), NULL, REC_CMD_SERVE, "also produce invalid messages to this topic (they always go to the dead_letters table)"},
    {"kafka-properties", OPT_STR, OFF(kafka_properties), NULL, REC_CMD_SERVE, "extra librdkafka properties, name=value,... (security, timeouts)"},
    {"kafka-batch", OPT_INT, OFF(kafka_batch), "1000", REC_CMD_SERVE, "most Kafka messages stored in one commit"},
    {"kafka-dead-letter-bytes", OPT_INT, OFF(kafka_dead_letter_bytes), "4096", REC_CMD_SERVE, "bytes of an invalid message kept in its dead letter"},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *a = opts[i].name;
        size_t j = 0;
        /* dashes and underscores are the same, so config files may use either */
        for (; j < len && a[j]; j++) {
            char x = name[j] == '_' ? '-' : name[j], y = a[j] == '_' ? '-' : a[j];
            if (x != y)
                break;
        }
        if (j == len && a[j] == '\0')
            return &opts[i];
    }
    return NULL;
}

static int set_value(struct rec_config *c, const struct opt *o, const char *v, const char *origin,
                     char *err, size_t errlen)
{
    char *p = (char *)c + o->offset;
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_INT:
    case OPT_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || (o->type == OPT_INT && (x < -2147483647LL || x > 2147483647LL)))
            return rec_errf(err, errlen, REC_EINVAL, "%s: %s wants an integer, got '%s'", origin,
                            o->name, v);
        if (o->type == OPT_INT)
            *(int *)p = (int)x;
        else
            *(int64_t *)p = x;
        return 0;
    }
    case OPT_DBL: {
        double x = strtod(v, &end);
        if (errno || end == v || *end)
            return rec_errf(err, errlen, REC_EINVAL, "%s: %s wants a number, got '%s'", origin,
                            o->name, v);
        *(double *)p = x;
        return 0;
    }
    case OPT_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            *(int *)p = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            *(int *)p = 0;
        else
            return rec_errf(err, errlen, REC_EINVAL, "%s: %s wants true or false, got '%s'",
                            origin, o->name, v);
        return 0;
    case OPT_STR: {
        char *s = strdup(v);
        if (!s)
            return REC_ENOMEM;
        free(*(char **)p);
        *(char **)p = s;
        return 0;
    }
    }
    return REC_EINTERNAL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct rec_config *c, unsigned cmd, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return rec_errf(err, errlen, REC_EINVAL, "cannot read config file %s", path);
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            /* longer than the buffer: a comment is skipped to its end; anything else is an
             * error (fgets would hand its tail over as a line of its own) */
            char *head = line; /* the blanks trim() skips, so "\f# ..." is a comment too */
            while (isspace((unsigned char)*head))
                head++;
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            if (*head == '#')
                continue;
            rc = rec_errf(err, errlen, REC_EINVAL, "%s:%d: line longer than %zu bytes", path,
                          lineno, sizeof line - 2);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = rec_errf(err, errlen, REC_EINVAL, "%s:%d: expected key = value", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        const struct opt *o = find_opt(key, strlen(key));
        if (!o) {
            rc = rec_errf(err, errlen, REC_EINVAL, "%s:%d: unknown option '%s'", path, lineno, key);
            break;
        }
        if (!(o->cmds & cmd))
            continue; /* one file may serve several subcommands */
        char origin[300];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        rc = set_value(c, o, val, origin, err, errlen);
    }
    fclose(f);
    return rc;
}

static void env_name(const char *name, char *out, size_t outlen)
{
    size_t j = snprintf(out, outlen, "RECD_");
    for (const char *p = name; *p && j + 1 < outlen; p++)
        out[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[j] = '\0';
}

int rec_config_load(struct rec_config *c, unsigned cmd, int argc, char **argv,
                    const char **positional, int max_positional, int *n_positional,
                    int *want_help, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    *n_positional = 0;
    *want_help = 0;
    int rc;
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].def && (rc = set_value(c, &opts[i], opts[i].def, "default", err, errlen)))
            return rc;

    /* the config file comes first, so find --config before the other flags */
    const char *file = getenv("RECD_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (file && *file) {
        if ((rc = set_value(c, find_opt("config", 6), file, "flag", err, errlen)))
            return rc;
        if ((rc = load_file(c, cmd, file, err, errlen)))
            return rc;
    }

    for (size_t i = 0; i < N_OPTS; i++) {
        if (!(opts[i].cmds & cmd) || !strcmp(opts[i].name, "config"))
            continue;
        char name[64];
        env_name(opts[i].name, name, sizeof name);
        const char *v = getenv(name);
        if (v && (rc = set_value(c, &opts[i], v, name, err, errlen)))
            return rc;
    }

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *want_help = 1;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (*n_positional >= max_positional)
                return rec_errf(err, errlen, REC_EINVAL, "unexpected argument '%s'", a);
            positional[(*n_positional)++] = a;
            continue;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int negate = 0;
        const struct opt *o = find_opt(name, len);
        if (!o && len > 3 && !strncmp(name, "no-", 3)) {
            o = find_opt(name + 3, len - 3);
            negate = o && o->type == OPT_BOOL;
            if (!negate)
                o = NULL;
        }
        if (!o)
            return rec_errf(err, errlen, REC_EINVAL, "unknown option '%.*s' (see --help)",
                            (int)(len + (size_t)(name - a)), a);
        if (!(o->cmds & cmd))
            return rec_errf(err, errlen, REC_EINVAL, "option --%s does not apply here (see --help)",
                            o->name);
        const char *v;
        if (eq)
            v = eq + 1;
        else if (o->type == OPT_BOOL)
            v = negate ? "false" : "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return rec_errf(err, errlen, REC_EINVAL, "option --%s needs a value", o->name);
        if (!strcmp(o->name, "config"))
            continue;
        if ((rc = set_value(c, o, v, "flag", err, errlen)))
            return rc;
    }
    return 0;
}

void rec_config_free(struct rec_config *c)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].type == OPT_STR) {
            char **p = (char **)((char *)c + opts[i].offset);
            free(*p);
            *p = NULL;
        }
}

void rec_config_print_help(FILE *f, unsigned cmd)
{
    fprintf(f, "Options (flag / environment variable / config file key; default):\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        if (!(o->cmds & cmd))
            continue;
        char env[64];
        env_name(o->name, env, sizeof env);
        const char *kind = o->type == OPT_BOOL ? "" : o->type == OPT_STR ? " STR" : " N";
        fprintf(f, "  --%s%s  (%s)\n      %s [default: %s]\n", o->name, kind, env, o->help,
                o->def ? o->def : "none");
    }
    fprintf(f, "  -h, --help\n      show this help\n");
}
