/* api_recommend.c: GET and POST /v1/recommend/{user}: the request's options and context (from
 * the query string, or a JSON body), the experiment's settings, the pipeline, the log. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "exp/tracker.h"
#include "http/api.h"
#include "json/writer.h"
#include "obs/monitor.h"
#include "rank/bandit.h"
#include "rank/rules.h"
#include "serve/pipeline.h"
#include "serve/settings.h"
#include "serve/source_bandit.h"

#define MAX_EXCLUDE 1000
#define DEFAULT_N 10

static const char *const context_fields[] = {"device", "region", "session", "referrer", "hour",
                                             "weekday", "tz"};
#define N_CONTEXT_FIELDS (sizeof context_fields / sizeof context_fields[0])

/* Everything a request says, gathered from the query or the body into one JSON object, so the
 * two forms are checked by one function. NULL with an error reply written to res. */
static json_t *request_object(const struct rec_http_request *req, struct rec_http_response *res)
{
    if (strcmp(req->method, "POST") == 0 && req->body_len > 0) {
        json_t *o = rec_api_parse_json(req, res, REC_API_MAX_VALUES);
        if (o && !json_is_object(o)) {
            json_decref(o);
            rec_http_reply_error(res, 0, REC_EFORMAT, "body must be a JSON object");
            return NULL;
        }
        return o;
    }
    static const char *const args[] = {"n", "diversity", "exclude", "category", "min_published",
                                       "explain", "debug", "track", "filter"};
    json_t *o = json_object(), *ctx = json_object();
    for (size_t k = 0; k < sizeof args / sizeof args[0]; k++) {
        const char *v = rec_http_query(req, args[k]);
        if (v)
            json_object_set_new(o, args[k], json_string(v));
    }
    for (size_t k = 0; k < N_CONTEXT_FIELDS; k++) {
        const char *v = rec_http_query(req, context_fields[k]);
        if (v)
            json_object_set_new(ctx, context_fields[k], json_string(v));
    }
    json_object_set_new(o, "context", ctx);
    if (!o)
        rec_http_reply_error(res, 0, REC_ENOMEM, "out of memory");
    return o;
}

/* A number given as a JSON number or a numeric string. */
static int number(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    if (!json_is_string(v))
        return 0;
    char *end;
    const char *s = json_string_value(v);
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

static int flag(const json_t *v, int def)
{
    if (!v)
        return def;
    if (json_is_boolean(v))
        return json_is_true(v);
    const char *s = json_string_value(v);
    double d;
    if (number(v, &d))
        return d != 0;
    return !(s && (!strcmp(s, "false") || !strcmp(s, "no")));
}

/* "+02:00", "-0530", "120" (minutes) or "UTC" into minutes east of UTC. */
static int tz_offset(const char *s, int *minutes)
{
    if (!strcmp(s, "UTC") || !strcmp(s, "Z")) {
        *minutes = 0;
        return 1;
    }
    int sign = 1, h = 0, m = 0;
    const char *p = s;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (sscanf(p, "%2d:%2d", &h, &m) == 2 || (strlen(p) == 4 && sscanf(p, "%2d%2d", &h, &m) == 2)) {
        *minutes = sign * (h * 60 + m);
    } else {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || *end)
            return 0;
        *minutes = sign * (int)v;
    }
    return *minutes >= -14 * 60 && *minutes <= 14 * 60;
}

struct parsed {
    json_t *root;
    struct rec_pipeline_request rq;
    const char **exclude;
    struct rec_rules *filter;     /* the request's "filter", compiled */
    int explain, debug, track;
};

/* "filter": a condition in the rules' language (docs/PIPELINE.md), as an object in a body or as
 * JSON text in a query string; compiled as a one-rule set. 0 or REC_EINVAL with the reason. */
static int parse_filter(struct parsed *p, json_t *v, char *err, size_t errlen)
{
    json_t *cond = v;
    if (json_is_string(v)) {
        json_error_t jerr;
        cond = json_loads(json_string_value(v), 0, &jerr);
        if (!cond)
            return rec_errf(err, errlen, REC_EINVAL, "filter is not JSON: %s", jerr.text);
    } else {
        json_incref(cond);
    }
    json_t *set = json_pack("{s:[{s:s,s:o}]}", "rules", "name", "request", "filter", cond);
    char *text = set ? json_dumps(set, JSON_COMPACT) : NULL;
    json_decref(set);
    if (!text)
        return REC_ENOMEM;
    char msg[512];
    int rc = rec_rules_parse(text, strlen(text), "filter", &p->filter, msg, sizeof msg);
    free(text);
    if (rc) {
        /* "filter:1: rules[0].filter.x: why" -> "filter.x: why" */
        const char *at = strstr(msg, "rules[0].");
        return rec_errf(err, errlen, REC_EINVAL, "%s", at ? at + 9 : msg);
    }
    p->rq.filter = p->filter;
    return 0;
}

/* Fills p->rq from the request object. 0, or REC_EINVAL with the reason in err. */
static int parse_request(struct rec_api *api, struct parsed *p, char *err, size_t errlen)
{
    json_t *o = p->root, *v;
    struct rec_pipeline_request *rq = &p->rq;
    static const char *const known[] = {"n", "diversity", "exclude", "category", "min_published",
                                        "explain", "debug", "track", "context", "filter"};
    const char *key;
    json_object_foreach(o, key, v) {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(key, known[k]))
            k++;
        if (k == sizeof known / sizeof known[0])
            return rec_errf(err, errlen, REC_EINVAL, "unknown field \"%.64s\"", key);
    }
    double d;
    rq->n = DEFAULT_N < api->max_n ? DEFAULT_N : api->max_n;
    if ((v = json_object_get(o, "n"))) {
        if (!number(v, &d) || d != floor(d) || d < 1 || d > api->max_n)
            return rec_errf(err, errlen, REC_EINVAL, "n must be an integer 1..%d", api->max_n);
        rq->n = (int)d;
    }
    rq->diversity = -1;
    if ((v = json_object_get(o, "diversity"))) {
        if (!number(v, &d) || d < 0 || d > 1)
            return rec_errf(err, errlen, REC_EINVAL, "diversity must be a number from 0 to 1");
        rq->diversity = d;
    }
    if ((v = json_object_get(o, "category"))) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return rec_errf(err, errlen, REC_EINVAL, "category must be a non-empty string");
        rq->category = json_string_value(v);
    }
    if ((v = json_object_get(o, "min_published"))) {
        if (!number(v, &d) || d < 0)
            return rec_errf(err, errlen, REC_EINVAL, "min_published must be Unix seconds");
        rq->min_published = (int64_t)(d > 1e11 ? d / 1000 : d);
    }
    if ((v = json_object_get(o, "exclude"))) {
        /* "a,b,c" from a query string, or an array from a body */
        json_t *arr = v;
        if (json_is_string(v)) {
            arr = json_array();
            const char *s = json_string_value(v);
            while (*s) {
                size_t len = strcspn(s, ",");
                if (len)
                    json_array_append_new(arr, json_stringn(s, len));
                s += len + (s[len] == ',');
            }
            json_object_set_new(o, "exclude", arr); /* o owns it now */
        }
        if (!json_is_array(arr) || json_array_size(arr) > MAX_EXCLUDE)
            return rec_errf(err, errlen, REC_EINVAL, "exclude must be item ids (at most %d)", MAX_EXCLUDE);
        p->exclude = malloc((json_array_size(arr) + 1) * sizeof *p->exclude);
        if (!p->exclude)
            return REC_ENOMEM;
        size_t k;
        json_t *id;
        json_array_foreach(arr, k, id) {
            if (!json_is_string(id))
                return rec_errf(err, errlen, REC_EINVAL, "exclude[%zu] must be a string", k);
            p->exclude[rq->n_exclude++] = json_string_value(id);
        }
        rq->exclude = p->exclude;
    }
    if ((v = json_object_get(o, "filter"))) {
        int rc = parse_filter(p, v, err, errlen);
        if (rc)
            return rc;
    }
    p->explain = flag(json_object_get(o, "explain"), 1);
    p->debug = flag(json_object_get(o, "debug"), 0);
    p->track = flag(json_object_get(o, "track"), 1);

    /* context: known fields are typed, others pass through to the rules */
    json_t *ctx = json_object_get(o, "context");
    if (ctx && !json_is_object(ctx))
        return rec_errf(err, errlen, REC_EINVAL, "context must be an object");
    if (!ctx) {
        ctx = json_object();
        json_object_set_new(o, "context", ctx);
    }
    struct rec_context *c = &rq->ctx;
    c->hour = c->weekday = -1;
    json_object_foreach(ctx, key, v) {
        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
            return rec_errf(err, errlen, REC_EINVAL, "context.%.64s must be a string, number or boolean", key);
    }
    if ((v = json_object_get(ctx, "hour"))) {
        if (!number(v, &d) || d != floor(d) || d < 0 || d > 23)
            return rec_errf(err, errlen, REC_EINVAL, "context hour must be an integer 0..23");
        c->hour = (int)d;
        json_object_set_new(ctx, "hour", json_integer(c->hour));
    }
    if ((v = json_object_get(ctx, "weekday"))) {
        if (!number(v, &d) || d != floor(d) || d < 0 || d > 6)
            return rec_errf(err, errlen, REC_EINVAL, "context weekday must be an integer 0..6 (0 = Sunday)");
        c->weekday = (int)d;
        json_object_set_new(ctx, "weekday", json_integer(c->weekday));
    }
    int tz = 0;
    if ((v = json_object_get(ctx, "tz")) && (!json_is_string(v) || !tz_offset(json_string_value(v), &tz)))
        return rec_errf(err, errlen, REC_EINVAL, "context tz must be a UTC offset such as +02:00, -0530 or UTC");
    if (c->hour < 0 || c->weekday < 0) { /* from the request time in the client's zone */
        time_t t = (time_t)rq->now + tz * 60;
        struct tm tm;
        gmtime_r(&t, &tm);
        if (c->hour < 0)
            json_object_set_new(ctx, "hour", json_integer(c->hour = tm.tm_hour));
        if (c->weekday < 0)
            json_object_set_new(ctx, "weekday", json_integer(c->weekday = tm.tm_wday));
    }
    c->device = json_string_value(json_object_get(ctx, "device"));
    c->region = json_string_value(json_object_get(ctx, "region"));
    c->session = json_string_value(json_object_get(ctx, "session"));
    c->referrer = json_string_value(json_object_get(ctx, "referrer"));
    c->json = ctx;
    return 0;
}

/* The list, written straight as JSON text (json/writer.h): on this path a jansson tree cost
 * more than ranking the list did. */
static void write_picks(struct rec_jw *w, const struct rec_pick *p, int n, int explain, int debug)
{
    rec_jw_open(w, '[');
    for (int k = 0; k < n; k++) {
        rec_jw_open(w, '{');
        rec_jw_key(w, "id");
        rec_jw_str(w, p[k].id);
        rec_jw_key(w, "score");
        rec_jw_real(w, p[k].score);
        rec_jw_key(w, "position");
        rec_jw_int(w, k + 1);
        rec_jw_key(w, "source");
        rec_jw_str(w, rec_source_name(p[k].source));
        if (explain) {
            const struct rec_reason *r = &p[k].reason;
            rec_jw_key(w, "reason");
            rec_jw_open(w, '{');
            rec_jw_key(w, "kind");
            rec_jw_str(w, r->kind);
            rec_jw_key(w, "text");
            rec_jw_str(w, r->text);
            if (r->item[0]) {
                rec_jw_key(w, "item");
                rec_jw_str(w, r->item);
            }
            rec_jw_close(w, '}');
        }
        if (debug && isfinite(p[k].ranker_p)) {
            rec_jw_key(w, "ranker_p");
            rec_jw_real(w, p[k].ranker_p);
        }
        rec_jw_close(w, '}');
    }
    rec_jw_close(w, ']');
}

static const char *const als_search_names[] = {NULL, "exact", "ann"};

static json_t *debug_json(const struct rec_pipeline_result *res, const struct rec_exp_assignment *a,
                          const struct rec_request_opts *o)
{
    json_t *stages = json_array();
    for (int k = 0; k < res->n_stages; k++)
        json_array_append_new(stages, json_pack("{s:s,s:f,s:i,s:i}", "stage", res->stage[k].name,
                                                "ms", res->stage[k].ms, "in", res->stage[k].in,
                                                "out", res->stage[k].out));
    /* als_search: how the iALS candidates were found (null: no iALS list) */
    const char *search = o->als_search >= 1 && o->als_search <= 2 ? als_search_names[o->als_search]
                                                                   : NULL;
    return json_pack("{s:o,s:b,s:b,s:s?,s:i,s:i}", "stages", stages, "overridden", a->overridden,
                     "ranked", res->ranked, "als_search", search, "ann_scanned", o->ann_scanned,
                     "ann_exact", o->ann_exact);
}

/* Logs the list (unless not tracked) and fills rec_id; "" when not logged. */
static int track_list(struct rec_api *api, const char *user, const struct rec_exp_assignment *a,
                      const struct rec_pick *p, int n, char rec_id[REC_TRACKER_ID_LEN + 1])
{
    rec_id[0] = '\0';
    if (!api->tracker)
        return 0;
    const char **ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids)
        return REC_ENOMEM;
    for (int k = 0; k < n; k++)
        ids[k] = p[k].id;
    int rc = rec_tracker_served(api->tracker, user, a, ids, n, rec_wall_s(), rec_id);
    free(ids);
    return rc;
}

/* Served items count as impressions for exploration's posteriors. */
static void note_shown(struct rec_api *api, const struct rec_pick *p, int n)
{
    if (!api->explore)
        return;
    for (int k = 0; k < n; k++) {
        int32_t i = rec_engine_item_index(api->engine, p[k].id);
        if (i >= 0)
            rec_ts_update(api->explore, i, 1, 0);
    }
}

void rec_api_recommend(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    struct rec_api *api = app;
    double t0 = rec_mono_s();
    char keyed[REC_UID_BUF];
    const char *id = rec_api_path_user(api, req, res, keyed);
    if (!id)
        return;
    char err[512];
    struct parsed p = {0};
    p.rq.user = id;
    p.rq.now = rec_wall_s();
    rec_request_opts_default(&p.rq.opts);
    if (!(p.root = request_object(req, res)))
        return;
    int rc = parse_request(api, &p, err, sizeof err);
    struct rec_pick *picks = rc ? NULL : malloc((size_t)p.rq.n * sizeof *picks);
    if (rc || !picks) {
        rec_http_reply_error(res, 0, rc ? rc : REC_ENOMEM, "%s", rc == REC_EINVAL ? err : "out of memory");
        goto out;
    }
    /* the experiment decides the pipeline settings; track=0 (previews, the dashboard) serves
     * the same list without logging it or counting it for the experiment */
    struct rec_exp_assignment a;
    rec_experiments_assign(api->experiments, id, &a);
    rec_settings_apply(a.settings, &p.rq.opts);
    /* the source bandit weighs the sources per context, unless the variant fixes them */
    int arm = -1;
    float x[REC_TRACKER_TAG_DIM];
    if (api->source_bandit && p.track && p.rq.opts.blend_knn < 0 && p.rq.opts.blend_popular < 0) {
        rec_source_bandit_x(&p.rq.ctx, x);
        arm = rec_source_bandit_choose(api->source_bandit, x, &p.rq.opts);
    }
    struct rec_pipeline_result pr;
    pthread_rwlock_rdlock(&api->rules_lock); /* a reload waits for requests using the old rules */
    struct rec_pipeline_config cfg = api->pipeline;
    cfg.rules = api->rules;
    rc = rec_pipeline_run(api->engine, &cfg, &p.rq, picks, &pr);
    pthread_rwlock_unlock(&api->rules_lock);
    char rec_id[REC_TRACKER_ID_LEN + 1] = "";
    if (!rc && p.track)
        rc = track_list(api, id, &a, picks, pr.n, rec_id);
    if (rc) {
        rec_http_reply_error(res, 0, rc, "recommendation failed");
        goto out;
    }
    if (p.track) {
        if (arm >= 0 && rec_id[0])
            rec_tracker_tag(api->tracker, rec_id, arm, x);
        note_shown(api, picks, pr.n);
        if (api->monitor)
            rec_monitor_served(api->monitor, a.variant_name, rec_mono_s() - t0,
                               p.rq.opts.top_model_score);
    }
    struct rec_jw w;
    rec_jw_init(&w);
    rec_jw_open(&w, '{');
    rec_jw_key(&w, "user");
    rec_jw_str(&w, id);
    rec_jw_key(&w, "items");
    write_picks(&w, picks, pr.n, p.explain, p.debug);
    rec_jw_key(&w, "model");
    rec_jw_str(&w, pr.model);
    rec_jw_key(&w, "variant");
    rec_jw_str(&w, a.variant_name);
    rec_jw_key(&w, "recommendation_id");
    rec_jw_str(&w, rec_id[0] ? rec_id : NULL);
    rec_jw_key(&w, "experiment");
    rec_jw_str(&w, a.exp ? a.exp->name : NULL);
    if (p.debug) { /* rare: the jansson tree is fine here */
        json_t *dbg = debug_json(&pr, &a, &p.rq.opts);
        json_object_set_new(dbg, "source_arm", arm >= 0 ? json_string(rec_source_bandit_arm_name(arm)) : json_null());
        json_object_set(dbg, "context", json_object_get(p.root, "context"));
        char *text = dbg ? json_dumps(dbg, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
        json_decref(dbg);
        rec_jw_key(&w, "debug");
        if (text)
            rec_jw_raw_value(&w, text);
        else
            w.failed = 1;
        free(text);
    }
    rec_jw_close(&w, '}');
    size_t len;
    char *text = rec_jw_finish(&w, &len);
    if (text)
        rec_http_reply_text(res, 200, NULL, text, len); /* NULL: application/json */
    else
        rec_http_reply_error(res, 500, REC_ENOMEM, "out of memory");
out:
    free(picks);
    free(p.exclude);
    rec_rules_free(p.filter);
    json_decref(p.root);
}
