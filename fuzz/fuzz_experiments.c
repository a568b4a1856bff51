/* fuzz_experiments: an experiments file (`--experiments FILE`) through rec_experiments_parse
 * with the server's settings check, then what a parsed file promises: lookups by name find
 * each experiment and variant, shares are in (0,1] and sum to 1, every assignment names a real
 * variant, the holdout or none, and a QA override pins its user. */
#include <math.h>
#include <string.h>

#include "core/err.h"
#include "exp/experiment.h"
#include "fuzz_common.h"
#include "serve/engine.h"
#include "serve/settings.h"

static void check_assignment(const struct rec_experiments *x, const char *user)
{
    struct rec_exp_assignment a;
    rec_experiments_assign(x, user, &a);
    FUZZ_CHECK(a.variant_name != NULL, "an assignment has a variant name");
    if (!a.exp) {
        FUZZ_CHECK(a.variant == REC_EXP_NONE && !a.settings, "no experiment, no variant");
        return;
    }
    FUZZ_CHECK(a.exp >= x->list && a.exp < x->list + x->n, "the experiment is one of the file's");
    FUZZ_CHECK(a.variant == REC_EXP_HOLDOUT || (a.variant >= 0 && a.variant < a.exp->n_variants),
               "the variant is the holdout or one of the experiment's");
    FUZZ_CHECK(a.variant != REC_EXP_HOLDOUT || strcmp(a.variant_name, "holdout") == 0,
               "the holdout is called holdout");
    FUZZ_CHECK(a.variant == REC_EXP_HOLDOUT ||
                   strcmp(a.variant_name, a.exp->variants[a.variant].name) == 0,
               "the variant name is the variant's");
    struct rec_request_opts o;
    rec_request_opts_default(&o);
    rec_settings_apply(a.settings, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    struct rec_experiments *x = NULL;
    char err[1024] = "";
    int rc = rec_experiments_parse((const char *)data, size, rec_settings_check, &x, err,
                                   sizeof err);
    if (rc) {
        FUZZ_CHECK(x == NULL, "a failed parse hands out nothing");
        FUZZ_CHECK(rc == REC_EINVAL || rc == REC_ENOMEM, "the parser returns a documented code");
        FUZZ_CHECK(err[0], "a parse error says why");
        return 0;
    }
    FUZZ_CHECK(x && x->n >= 0, "a parsed file is there");
    for (int i = 0; i < x->n; i++) {
        const struct rec_experiment *e = &x->list[i];
        FUZZ_CHECK(rec_experiments_find(x, e->name) == e, "an experiment is found by its name");
        FUZZ_CHECK(e->traffic > 0 && e->traffic <= 1, "traffic is in (0,1]");
        FUZZ_CHECK(e->holdout >= 0 && e->holdout < 1, "holdout is in [0,1)");
        FUZZ_CHECK(e->n_variants >= 1 && e->n_variants <= REC_EXP_MAX_VARIANTS,
                   "1..16 variants");
        double sum = 0;
        for (int v = 0; v < e->n_variants; v++) {
            FUZZ_CHECK(e->variants[v].share > 0 && e->variants[v].share <= 1,
                       "a share is in (0,1]");
            FUZZ_CHECK(rec_exp_variant_find(e, e->variants[v].name) == v,
                       "a variant is found by its name");
            sum += e->variants[v].share;
        }
        FUZZ_CHECK(fabs(sum - 1) < 1e-9, "the shares of an experiment sum to 1");
        for (int k = 0; k < e->n_overrides; k++) {
            struct rec_exp_assignment a;
            rec_experiments_assign(x, e->overrides[k].user, &a);
            FUZZ_CHECK(a.exp == e && a.overridden && a.variant == e->overrides[k].variant,
                       "an override pins its user");
            FUZZ_CHECK(k == 0 || strcmp(e->overrides[k - 1].user, e->overrides[k].user) < 0,
                       "overrides are sorted by user");
        }
    }
    static const char *const users[] = {"u1", "u2", "qa-user-1", "alice", "", "\xc3\xa9"};
    for (size_t u = 0; u < sizeof users / sizeof users[0]; u++)
        check_assignment(x, users[u]);
    check_assignment(x, NULL);
    rec_experiments_free(x);
    return 0;
}
