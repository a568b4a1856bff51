/* import_file.c: rec_import_path (format detection and dispatch) and the generic event readers:
 * CSV with a header line, and JSON lines.
 *
 * Every data line is validated on its own; a bad line is counted and explained in the stats and
 * the import goes on. Only an unreadable source, an unusable CSV header or a sink's refusal stop
 * an import.
 *
 * Thread-safety: rec_import_path keeps no global state, so imports may run in parallel as long
 * as their sinks allow it; the sink is called from the importing thread only. Numbers are parsed
 * with strtod, so LC_NUMERIC must stay "C" (recd never changes it).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/err.h"
#include "ingest/import_common.h"

#define CSV_MAX_COLS 256
#define TS_MAX 253402300799LL /* 9999-12-31T23:59:59Z: past it a "timestamp" is not seconds */

static const struct {
    const char *name;
    enum rec_import_format fmt;
} format_table[] = {
    {"auto", REC_IMPORT_AUTO}, {"ml100k", REC_IMPORT_ML100K}, {"ml1m", REC_IMPORT_ML1M},
    {"csv", REC_IMPORT_CSV},   {"jsonl", REC_IMPORT_JSONL},
};

int rec_import_format_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof format_table / sizeof format_table[0]; i++)
        if (strcmp(format_table[i].name, s) == 0)
            return (int)format_table[i].fmt;
    return -1;
}

/* Checks an id; rejects the line with check_id's message and returns nonzero when bad. */
static int bad_id(struct rec_import_run *run, const char *id, const char *what)
{
    char msg[160];
    if (rec_event_check_id(id, what, msg, sizeof msg) == 0)
        return 0;
    rec_import_reject(run, "%s", msg);
    return 1;
}

/* ---- CSV --------------------------------------------------------------------------------- */

enum col { COL_NONE = -1, COL_USER, COL_ITEM, COL_TYPE, COL_VALUE, COL_RATING, COL_TS, COL_ID,
           COL_CONTEXT, COL__COUNT };

/* Header names (compared without case) and the column each one means. */
static const struct {
    const char *name;
    enum col col;
} csv_names[] = {
    {"user", COL_USER},        {"userid", COL_USER},       {"user_id", COL_USER},
    {"item", COL_ITEM},        {"itemid", COL_ITEM},       {"item_id", COL_ITEM},
    {"movieid", COL_ITEM},     {"movie_id", COL_ITEM},     {"type", COL_TYPE},
    {"event_type", COL_TYPE},  {"value", COL_VALUE},       {"rating", COL_RATING},
    {"ts", COL_TS},            {"timestamp", COL_TS},      {"time", COL_TS},
    {"id", COL_ID},            {"event_id", COL_ID},       {"context", COL_CONTEXT},
};

static const char *const col_names[COL__COUNT] = {"user", "item",  "type", "value",
                                                  "rating", "ts", "id", "context"};

struct csv {
    char delim;
    int n_cols;             /* fields in the header */
    int at[COL__COUNT];     /* field index of each column, -1 when absent */
};

/* Splits one CSV record in place (RFC 4180 quoting, "" inside quotes is a quote; spaces around
 * unquoted fields are dropped). Stores up to max fields and sets *n to the count found. Returns
 * NULL or what is wrong. A quoted field cannot span lines here: recd ids and values never hold
 * newlines, so such a record is reported as an unterminated quote. */
static const char *csv_split(char *s, char delim, char **f, int max, int *n)
{
    char *r = s, *w = s;
    *n = 0;
    for (;;) {
        while (*r == ' ')
            r++;
        char *start = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '\0')
                    return "unterminated quoted field";
                if (*r == '"') {
                    if (r[1] != '"')
                        break;
                    r++;
                }
                *w++ = *r++;
            }
            r++; /* closing quote */
            while (*r == ' ')
                r++;
            if (*r != delim && *r != '\0')
                return "text after a closing quote";
        } else {
            while (*r && *r != delim)
                *w++ = *r++;
            while (w > start && w[-1] == ' ')
                w--;
        }
        char next = *r;
        *w++ = '\0'; /* w <= r here, so this never clobbers unread input */
        if (*n < max)
            f[*n] = start;
        (*n)++;
        if (next == '\0')
            return NULL;
        r++;
    }
}

static int csv_header(struct rec_import_run *run, char *line, struct csv *c)
{
    if ((unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
        (unsigned char)line[2] == 0xBF)
        line += 3; /* UTF-8 byte order mark */
    c->delim = strchr(line, ',') ? ',' : strchr(line, '\t') ? '\t' : strchr(line, ';') ? ';' : ',';
    char *f[CSV_MAX_COLS];
    const char *why = csv_split(line, c->delim, f, CSV_MAX_COLS, &c->n_cols);
    if (why)
        return rec_errf(run->err, run->errlen, REC_EFORMAT, "%s:1: header: %s", run->file, why);
    if (c->n_cols > CSV_MAX_COLS)
        return rec_errf(run->err, run->errlen, REC_EFORMAT, "%s:1: header has %d columns, the "
                        "limit is %d", run->file, c->n_cols, CSV_MAX_COLS);
    for (int k = 0; k < COL__COUNT; k++)
        c->at[k] = -1;
    for (int i = 0; i < c->n_cols; i++) {
        for (size_t j = 0; j < sizeof csv_names / sizeof csv_names[0]; j++) {
            if (strcasecmp(f[i], csv_names[j].name) != 0)
                continue;
            enum col k = csv_names[j].col;
            if (c->at[k] >= 0)
                return rec_errf(run->err, run->errlen, REC_EFORMAT, "%s:1: two %s columns "
                                "(\"%.32s\")", run->file, col_names[k], f[i]);
            c->at[k] = i;
        }
    }
    if (c->at[COL_USER] < 0 || c->at[COL_ITEM] < 0)
        return rec_errf(run->err, run->errlen, REC_EFORMAT, "%s:1: the header must name a user "
                        "and an item column (user,item[,type][,value][,ts][,id])", run->file);
    return REC_OK;
}

static const char *field(const struct csv *c, char **f, enum col k)
{
    return c->at[k] >= 0 ? f[c->at[k]] : "";
}

/* Unix seconds from a ts text; integer or decimal seconds. 0 or REC_EINVAL. */
static int parse_ts(const char *s, int64_t *ts)
{
    double d;
    if (rec_import_parse_i64(s, ts) == 0)
        return *ts >= 0 && *ts <= TS_MAX ? REC_OK : REC_EINVAL;
    if (rec_import_parse_f64(s, &d) != 0 || d < 0 || d > (double)TS_MAX)
        return REC_EINVAL;
    *ts = (int64_t)floor(d);
    return REC_OK;
}

/* Serialized context object from JSON text; NULL and a rejection when it is not usable.
 * The caller frees the result. */
static char *context_text(struct rec_import_run *run, json_t *ctx)
{
    if (!json_is_object(ctx)) {
        rec_import_reject(run, "context must be a JSON object");
        return NULL;
    }
    char *s = json_dumps(ctx, JSON_COMPACT);
    if (s && strlen(s) > REC_CONTEXT_MAX) {
        rec_import_reject(run, "context is %zu bytes, the limit is %d", strlen(s),
                          REC_CONTEXT_MAX);
        free(s);
        return NULL;
    }
    if (!s)
        rec_import_reject(run, "context could not be serialized");
    return s;
}

static int csv_record(struct rec_import_run *run, const struct csv *c, char *line)
{
    char *f[CSV_MAX_COLS];
    int n;
    const char *why = csv_split(line, c->delim, f, CSV_MAX_COLS, &n);
    if (why) {
        rec_import_reject(run, "%s", why);
        return REC_OK;
    }
    if (n != c->n_cols) {
        rec_import_reject(run, "%d fields, the header has %d", n, c->n_cols);
        return REC_OK;
    }
    struct rec_event ev = {.user = field(c, f, COL_USER), .item = field(c, f, COL_ITEM)};
    if (bad_id(run, ev.user, "user") || bad_id(run, ev.item, "item"))
        return REC_OK;
    const char *type = field(c, f, COL_TYPE);
    const char *value = field(c, f, COL_VALUE);
    const char *rating = field(c, f, COL_RATING);
    if (*type) {
        if ((ev.type = rec_event_type_parse(type)) < 0) {
            rec_import_reject(run, "unknown event type \"%.32s\"", type);
            return REC_OK;
        }
    } else {
        /* no type: a file with a rating column holds ratings, anything else views */
        ev.type = c->at[COL_RATING] >= 0 ? REC_EVENT_RATING : REC_EVENT_VIEW;
    }
    if (!*value)
        value = rating;
    if (*value && rec_import_parse_f64(value, &ev.value) != 0) {
        rec_import_reject(run, "value \"%.32s\" is not a number", value);
        return REC_OK;
    }
    if (!*value && ev.type == REC_EVENT_RATING) {
        rec_import_reject(run, "a rating needs a value");
        return REC_OK;
    }
    const char *ts = field(c, f, COL_TS);
    if (!*ts) {
        ev.ts = rec_now_s(); /* an event without a time happened "now", not in 1970 */
    } else if (parse_ts(ts, &ev.ts) != 0) {
        rec_import_reject(run, "ts \"%.32s\" is not Unix seconds", ts);
        return REC_OK;
    }
    const char *id = field(c, f, COL_ID);
    if (*id) {
        if (bad_id(run, id, "id"))
            return REC_OK;
        ev.id = id;
    }
    const char *ctx = field(c, f, COL_CONTEXT);
    char *ctx_text = NULL;
    if (*ctx) {
        json_error_t jerr;
        json_t *j = json_loads(ctx, 0, &jerr);
        if (!j) {
            rec_import_reject(run, "context is not JSON: %s", jerr.text);
            return REC_OK;
        }
        ctx_text = context_text(run, j);
        json_decref(j);
        if (!ctx_text)
            return REC_OK;
        ev.context = ctx_text;
    }
    int rc = rec_import_emit_event(run, &ev);
    free(ctx_text);
    return rc;
}

static int import_csv(struct rec_import_run *run)
{
    struct csv c;
    char *line;
    size_t len;
    int rc, have_header = 0;
    while ((rc = rec_import_next(run, &line, &len)) > 0) {
        if (len == 0)
            continue;
        if (!have_header) {
            if ((rc = csv_header(run, line, &c)) < 0)
                break;
            have_header = 1;
            continue;
        }
        if ((rc = csv_record(run, &c, line)) < 0)
            break;
    }
    return rc < 0 ? rc : REC_OK;
}

/* ---- JSON lines -------------------------------------------------------------------------- */

enum want { W_STRING, W_INTEGER, W_OBJECT, W_STRINGS };

/* Fields of item and user documents that have a fixed JSON type. */
static const struct {
    const char *key;
    enum want want;
    int user; /* also checked in user documents */
} doc_fields[] = {
    {"title", W_STRING, 0},       {"text", W_STRING, 0},     {"categories", W_STRINGS, 0},
    {"tags", W_STRINGS, 0},       {"published_at", W_INTEGER, 0}, {"attributes", W_OBJECT, 1},
};

static const char *const want_text[] = {"a string", "an integer", "an object",
                                        "an array of strings"};

static int has_type(json_t *v, enum want w)
{
    switch (w) {
    case W_STRING: return json_is_string(v);
    case W_INTEGER: return json_is_integer(v);
    case W_OBJECT: return json_is_object(v);
    case W_STRINGS:
        if (!json_is_array(v))
            return 0;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return 0;
        return 1;
    }
    return 0;
}

static int jsonl_doc(struct rec_import_run *run, json_t *doc, int is_user)
{
    const char *kind = is_user ? "user" : "item";
    json_t *idv = json_object_get(doc, "id");
    char what[16];
    snprintf(what, sizeof what, "%s.id", kind);
    if (!json_is_string(idv)) {
        rec_import_reject(run, "%s must be a string", what);
        return REC_OK;
    }
    const char *id = json_string_value(idv);
    if (bad_id(run, id, what))
        return REC_OK;
    for (size_t i = 0; i < sizeof doc_fields / sizeof doc_fields[0]; i++) {
        if (is_user && !doc_fields[i].user)
            continue;
        json_t *v = json_object_get(doc, doc_fields[i].key);
        if (v && !has_type(v, doc_fields[i].want)) {
            rec_import_reject(run, "%s.%s must be %s", kind, doc_fields[i].key,
                              want_text[doc_fields[i].want]);
            return REC_OK;
        }
    }
    json_incref(doc);
    return is_user ? rec_import_emit_user(run, id, doc) : rec_import_emit_item(run, id, doc);
}

/* An event's string member; NULL (and the line rejected when required or mistyped). */
static const char *jstr(struct rec_import_run *run, json_t *o, const char *key, int required,
                        int *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) {
            rec_import_reject(run, "missing \"%s\"", key);
            *bad = 1;
        }
        return NULL;
    }
    if (!json_is_string(v)) {
        rec_import_reject(run, "\"%s\" must be a string", key);
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

static int jsonl_event(struct rec_import_run *run, json_t *o)
{
    int bad = 0;
    struct rec_event ev = {0};
    ev.user = jstr(run, o, "user", 1, &bad);
    if (!bad)
        ev.item = jstr(run, o, "item", 1, &bad);
    const char *type = bad ? NULL : jstr(run, o, "type", 1, &bad);
    if (!bad)
        ev.id = jstr(run, o, "id", 0, &bad);
    if (bad || bad_id(run, ev.user, "user") || bad_id(run, ev.item, "item") ||
        (ev.id && bad_id(run, ev.id, "id")))
        return REC_OK;
    if ((ev.type = rec_event_type_parse(type)) < 0) {
        rec_import_reject(run, "unknown event type \"%.32s\"", type);
        return REC_OK;
    }
    json_t *v = json_object_get(o, "value");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            rec_import_reject(run, "\"value\" must be a number");
            return REC_OK;
        }
        ev.value = json_number_value(v);
    } else if (ev.type == REC_EVENT_RATING) {
        rec_import_reject(run, "a rating needs a value");
        return REC_OK;
    }
    v = json_object_get(o, "ts");
    if (!v || json_is_null(v)) {
        ev.ts = rec_now_s();
    } else {
        double d = json_number_value(v);
        if (!json_is_number(v) || !(d >= 0 && d <= (double)TS_MAX)) {
            rec_import_reject(run, "\"ts\" must be Unix seconds (a number 0..%lld)", TS_MAX);
            return REC_OK;
        }
        ev.ts = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)floor(d);
    }
    char *ctx = NULL;
    v = json_object_get(o, "context");
    if (v && !json_is_null(v)) {
        if (!(ctx = context_text(run, v)))
            return REC_OK;
        ev.context = ctx;
    }
    int rc = rec_import_emit_event(run, &ev);
    free(ctx);
    return rc;
}

static int jsonl_line(struct rec_import_run *run, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, 0, &jerr);
    if (!o) {
        rec_import_reject(run, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return REC_OK;
    }
    int rc = REC_OK;
    json_t *item = json_object_get(o, "item"), *user = json_object_get(o, "user");
    if (!json_is_object(o))
        rec_import_reject(run, "not a JSON object");
    else if (json_is_object(item))
        rc = jsonl_doc(run, item, 0);
    else if (json_is_object(user))
        rc = jsonl_doc(run, user, 1);
    else
        rc = jsonl_event(run, o);
    json_decref(o);
    return rc;
}

static int import_jsonl(struct rec_import_run *run)
{
    char *line;
    size_t len;
    int rc;
    while ((rc = rec_import_next(run, &line, &len)) > 0) {
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == len)
            continue;
        if ((rc = jsonl_line(run, line, len)) < 0)
            break;
    }
    return rc < 0 ? rc : REC_OK;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static int file_suffix(const char *path, const char *suf)
{
    char z[32];
    snprintf(z, sizeof z, "%s.zst", suf);
    return ends_with(path, suf) || ends_with(path, z);
}

static int detect(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    char found[4096];
    if (stat(path, &sb) != 0)
        return rec_errf(err, errlen, REC_ENOTFOUND, "%s: no such file or directory", path);
    if (S_ISDIR(sb.st_mode)) {
        if (rec_reader_find(path, "u.data", found, sizeof found) == 0)
            return REC_IMPORT_ML100K;
        if (rec_reader_find(path, "movies.dat", found, sizeof found) == 0)
            return REC_IMPORT_ML1M;
        return rec_errf(err, errlen, REC_EINVAL, "%s: directory has neither u.data (MovieLens "
                        "100K) nor movies.dat (MovieLens 1M); give the format", path);
    }
    if (file_suffix(path, ".csv"))
        return REC_IMPORT_CSV;
    if (file_suffix(path, ".jsonl") || file_suffix(path, ".json") ||
        file_suffix(path, ".ndjson"))
        return REC_IMPORT_JSONL;
    return rec_errf(err, errlen, REC_EINVAL, "%s: cannot tell the format from the name (.csv, "
                    ".jsonl, .json, optionally .zst); give the format", path);
}

int rec_import_path(const char *path, enum rec_import_format fmt,
                    const struct rec_import_sink *sink, struct rec_import_stats *st, char *err,
                    size_t errlen)
{
    struct rec_import_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (err && errlen)
        err[0] = '\0';
    if (!path || !sink)
        return rec_errf(err, errlen, REC_EINVAL, "import needs a path and a sink");
    if (fmt == REC_IMPORT_AUTO) {
        int f = detect(path, err, errlen);
        if (f < 0)
            return f;
        fmt = (enum rec_import_format)f;
    }
    struct rec_import_run run = {.sink = sink, .st = st, .err = err, .errlen = errlen};
    int rc;
    switch (fmt) {
    case REC_IMPORT_ML100K:
        return rec_import_ml100k(&run, path);
    case REC_IMPORT_ML1M:
        return rec_import_ml1m(&run, path);
    case REC_IMPORT_CSV:
    case REC_IMPORT_JSONL:
        if ((rc = rec_import_open(&run, path)) < 0)
            return rc;
        rc = fmt == REC_IMPORT_CSV ? import_csv(&run) : import_jsonl(&run);
        rec_import_close(&run);
        return rc;
    default:
        return rec_errf(err, errlen, REC_EINVAL, "unknown import format %d", (int)fmt);
    }
}
