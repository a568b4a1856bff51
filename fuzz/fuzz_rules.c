/* fuzz_rules: a business rules file (`--rules FILE`) through rec_rules_parse, then evaluation of
 * what parsed against a few fixed items, users and contexts (rec_rules_apply, rec_rules_pins).
 * Checks what rules.h promises: a validation error names a line (jsonpos resolves every value of
 * text jansson accepted), effects are consistent, pins are 1-based and owned by enabled rules. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "fuzz_common.h"
#include "rank/rules.h"

#define SOURCE "rules.json"

static json_t *items[4], *extras[4], *users[3], *ctxs[3];

static void make_objects(void)
{
    if (items[0])
        return;
    items[0] = json_loads("{\"id\":\"i1\",\"title\":\"Heat\",\"categories\":[\"film\",\"crime\"],"
                          "\"tags\":[\"1995\"],\"published_at\":820454400,"
                          "\"attributes\":{\"available\":true,\"price\":9.5,\"brand\":\"acme\","
                          "\"a.b\":[1,\"x\"]}}", 0, NULL);
    items[1] = json_loads("{\"id\":\"i13\",\"categories\":[],\"attributes\":{\"available\":false,"
                          "\"price\":null}}", 0, NULL);
    items[2] = json_loads("{\"title\":7,\"categories\":\"news\",\"tags\":[1,2],"
                          "\"attributes\":[]}", 0, NULL);
    items[3] = NULL;
    extras[0] = json_loads("{\"age_days\":3.5}", 0, NULL);
    extras[1] = json_loads("{\"id\":\"i13\",\"age_days\":0}", 0, NULL);
    extras[2] = json_loads("{\"id\":\"i42\",\"age_days\":-1e300}", 0, NULL);
    extras[3] = NULL;
    users[0] = json_loads("{\"id\":\"u1\",\"attributes\":{\"country\":\"de\",\"age\":30,"
                          "\"premium\":true}}", 0, NULL);
    users[1] = json_loads("{\"id\":\"u2\",\"attributes\":null}", 0, NULL);
    users[2] = NULL;
    ctxs[0] = json_loads("{\"device\":\"mobile\",\"hour\":22,\"weekday\":6,\"region\":\"eu\"}",
                         0, NULL);
    ctxs[1] = json_loads("{\"device\":[],\"hour\":\"x\"}", 0, NULL);
    ctxs[2] = NULL;
}

static void evaluate(const struct rec_rules *r)
{
    int n = rec_rules_count(r);
    FUZZ_CHECK(n >= 0 && n <= REC_RULES_MAX, "a file holds at most REC_RULES_MAX rules");
    for (int i = 0; i < n; i++) {
        const char *name = rec_rules_name(r, i);
        FUZZ_CHECK(name && name[0] && strlen(name) < REC_RULES_NAME_MAX, "a rule has a name");
    }
    FUZZ_CHECK(rec_rules_name(r, n) == NULL && rec_rules_name(r, -1) == NULL,
               "no name out of range");
    for (int it = 0; it < 4; it++)
        for (int u = 0; u < 3; u++)
            for (int c = 0; c < 3; c++) {
                struct rec_rule_effect e;
                rec_rules_apply(r, items[it], extras[it], users[u], ctxs[c], &e);
                FUZZ_CHECK(e.keep == 0 || e.keep == 1, "keep is 0 or 1");
                FUZZ_CHECK(e.keep ? e.removed_by == -1 : (e.removed_by >= 0 && e.removed_by < n),
                           "a removal names its rule");
                FUZZ_CHECK(isfinite(e.multiplier) && e.multiplier > 0,
                           "the multiplier is finite and positive");
            }
    for (int u = 0; u < 3; u++)
        for (int c = 0; c < 3; c++) {
            struct rec_rule_pin pins[32];
            int got = rec_rules_pins(r, users[u], ctxs[c], pins, 32);
            FUZZ_CHECK(got >= 0 && got <= 32, "pins fit the room given");
            for (int k = 0; k < got; k++)
                FUZZ_CHECK(pins[k].item && pins[k].position >= 1 &&
                               pins[k].position <= REC_RULES_POSITION_MAX && pins[k].rule >= 0 &&
                               pins[k].rule < n,
                           "a pin has an item, a 1-based position and its rule");
            FUZZ_CHECK(rec_rules_pins(r, users[u], ctxs[c], NULL, 0) == 0, "no room, no pins");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    make_objects();
    struct rec_rules *r = NULL;
    char err[1024] = "";
    int rc = rec_rules_parse((const char *)data, size, SOURCE, &r, err, sizeof err);
    if (rc) {
        FUZZ_CHECK(r == NULL, "a failed parse hands out nothing");
        FUZZ_CHECK(rc == REC_EINVAL, "the parser returns REC_EINVAL (memory never runs out here)");
        /* Validation errors read "rules.json:<line>: <path>: <why>" and syntax errors
         * "rules.json:<line>:<column>: ...": rules.c drops the line ("rules.json: <path>: ...")
         * only when rec_jsonpos_line resolves not even the top-level value, which jsonpos.h
         * rules out for text jansson accepted. */
        FUZZ_CHECK(strncmp(err, SOURCE ":", sizeof SOURCE) == 0 &&
                       strncmp(err, SOURCE ": ", sizeof SOURCE + 1) != 0,
                   "a rules error names its line");
        return 0;
    }
    FUZZ_CHECK(r != NULL, "a parsed file is there");
    evaluate(r);
    rec_rules_free(r);
    return 0;
}
