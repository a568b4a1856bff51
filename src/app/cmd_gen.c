/* cmd_gen.c: `recd gen`: a synthetic catalog and event stream as JSON lines that `recd import`
 * reads back ({"item":{...}}, {"user":{...}}, then one event object per line). --sessions N adds
 * impression sessions with a context-dependent click model (gen/synth.h, docs/RANKING.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "gen/synth.h"

struct out {
    FILE *f;
    int64_t n_events;
};

static int emit_doc(struct out *o, const char *kind, const char *doc)
{
    return fprintf(o->f, "{\"%s\":%s}\n", kind, doc) < 0 ? REC_EIO : 0;
}

static int gen_item(void *ctx, const char *id, const char *doc) { return emit_doc(ctx, "item", doc); }
static int gen_user(void *ctx, const char *id, const char *doc) { return emit_doc(ctx, "user", doc); }

/* Every event gets an id, so importing the same file twice stores it once. */
static int gen_event(void *ctx, const struct rec_event *ev)
{
    struct out *out = ctx;
    char id[32];
    snprintf(id, sizeof id, "g%lld", (long long)++out->n_events);
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "user", ev->user, "item", ev->item, "type",
                          rec_event_type_name(ev->type), "ts", (json_int_t)ev->ts);
    if (!o)
        return REC_ENOMEM;
    if (ev->value != 0)
        json_object_set_new(o, "value", json_real(ev->value));
    json_object_set_new(o, "id", json_string(ev->id ? ev->id : id));
    if (ev->context) {
        json_t *cx = json_loads(ev->context, 0, NULL);
        if (!cx || json_object_set_new(o, "context", cx) != 0) {
            json_decref(o);
            return REC_ENOMEM;
        }
    }
    int rc = json_dumpf(o, out->f, JSON_COMPACT) == 0 && fputc('\n', out->f) != EOF ? 0 : REC_EIO;
    json_decref(o);
    return rc;
}

int rec_cmd_gen(int argc, char **argv)
{
    struct rec_config c;
    int rc = rec_app_config(&c, REC_CMD_GEN, "gen",
                            "[--users N] [--items N] [--events N] [--categories N] [--sessions N] [--seed S] "
                            "[--out FILE]",
                            argc, argv, NULL, 0, NULL);
    if (rc)
        return rc - 1;
    struct rec_synth_params p;
    rec_synth_params_default(&p);
    p.n_users = c.users;
    p.n_items = c.items;
    p.n_events = c.events;
    p.n_categories = c.categories;
    p.seed = (uint64_t)c.seed;
    p.n_sessions = c.sessions;
    const char *msg = rec_synth_check_params(&p);
    if (msg) {
        fprintf(stderr, "recd gen: %s\n", msg);
        rec_config_free(&c);
        return 2;
    }
    FILE *f = strcmp(c.out, "-") ? fopen(c.out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "recd gen: cannot write %s\n", c.out);
        rec_config_free(&c);
        return 1;
    }
    struct out out = {f, 0};
    struct rec_import_sink sink = {&out, gen_item, gen_user, gen_event, NULL};
    rc = rec_synth_generate(&p, &sink);
    if (f != stdout && fclose(f) != 0)
        rc = REC_EIO;
    else if (f == stdout && fflush(stdout) != 0)
        rc = REC_EIO;
    if (rc)
        fprintf(stderr, "recd gen: %s\n", rec_strerror(rc));
    else if (f != stdout)
        fprintf(stderr, "recd gen: wrote %lld items, %lld users, %lld events%s to %s\n",
                (long long)p.n_items, (long long)p.n_users, (long long)out.n_events,
                p.n_sessions > 0 ? " (sessions included)" : "", c.out);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
