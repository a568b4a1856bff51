/* api_rules.c: GET /v1/rules (what is loaded) and POST /v1/rules/reload (re-read --rules; the
 * old rules stay when the file is wrong). SIGHUP does the same reload. */
#include <jansson.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"
#include "http/api.h"
#include "rank/rules.h"

int rec_api_reload_rules(struct rec_api *api, char *err, size_t errlen)
{
    if (!api->rules_path)
        return rec_errf(err, errlen, REC_ENOTFOUND, "no rules file is configured (--rules)");
    struct rec_rules *fresh;
    int rc = rec_rules_load(api->rules_path, &fresh, err, errlen);
    if (rc) {
        rec_warn("rules: reload failed, keeping the current rules: %s", err);
        return rc;
    }
    pthread_rwlock_wrlock(&api->rules_lock);
    struct rec_rules *old = api->rules;
    api->rules = fresh;
    pthread_rwlock_unlock(&api->rules_lock);
    rec_rules_free(old);
    rec_info("rules: %d loaded from %s", rec_rules_count(fresh), api->rules_path);
    return 0;
}

static json_t *rules_json(struct rec_api *api)
{
    json_t *names = json_array();
    pthread_rwlock_rdlock(&api->rules_lock);
    int n = api->rules ? rec_rules_count(api->rules) : 0;
    for (int k = 0; k < n; k++)
        json_array_append_new(names, json_string(rec_rules_name(api->rules, k)));
    pthread_rwlock_unlock(&api->rules_lock);
    json_t *o = json_pack("{s:o,s:i}", "rules", names, "count", n);
    json_object_set_new(o, "file", api->rules_path ? json_string(api->rules_path) : json_null());
    return o;
}

void rec_api_get_rules(void *app, const struct rec_http_request *req, struct rec_http_response *res)
{
    rec_http_reply_json(res, 200, rules_json(app));
}

void rec_api_post_rules_reload(void *app, const struct rec_http_request *req,
                               struct rec_http_response *res)
{
    struct rec_api *api = app;
    char err[1024];
    int rc = rec_api_reload_rules(api, err, sizeof err);
    if (rc) {
        rec_http_reply_error(res, rc == REC_ENOTFOUND && !api->rules_path ? 404 : 400, rc, "%s", err);
        return;
    }
    rec_http_reply_json(res, 200, rules_json(api));
}
