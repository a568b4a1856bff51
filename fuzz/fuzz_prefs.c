/* fuzz_prefs: a user's preferences as PUT /v1/users/{id}/preferences takes them: the body
 * parsed like the handler does (duplicate keys refused), rec_meta_prefs_check, and for a body
 * it accepts the canonical text the handler stores, which must pass the check again and parse
 * into a draft (rec_meta_prefs_draft, as the engine does). Any text also goes through the
 * drafts of user documents (the "preferences" member) and item documents, which the engine
 * builds from stored documents without a check. */
#include <jansson.h>
#include <stdlib.h>

#include "core/err.h"
#include "fuzz_common.h"
#include "serve/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    json_error_t jerr;
    json_t *prefs = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    char err[256] = "";
    if (prefs && rec_meta_prefs_check(prefs, err, sizeof err) == 0) {
        char *text = json_dumps(prefs, JSON_COMPACT | JSON_SORT_KEYS);
        FUZZ_CHECK(text != NULL, "accepted preferences serialize");
        json_t *again = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(again && rec_meta_prefs_check(again, err, sizeof err) == 0,
                   "stored preferences pass the check again");
        json_decref(again);
        int rc;
        struct meta_draft *d = rec_meta_prefs_draft(text, 1, &rc);
        FUZZ_CHECK(rc == 0, "a draft of accepted preferences needs no error");
        FUZZ_CHECK(d != NULL || json_object_size(prefs) == 0,
                   "non-empty accepted preferences make a draft");
        rec_meta_draft_free(d);
        free(text);
    } else if (prefs) {
        FUZZ_CHECK(err[0], "refused preferences say why");
    }
    json_decref(prefs);

    char *doc = fuzz_strndup(data, size);
    int rc;
    rec_meta_draft_free(rec_meta_prefs_draft(doc, 0, &rc));
    rec_meta_draft_free(rec_meta_prefs_draft(doc, 1, &rc));
    rec_meta_draft_free(rec_meta_item_draft("i1", doc, &rc));
    free(doc);
    return 0;
}
