/* fuzz_config_file: a config file (`--config FILE`: key = value lines, '#' comments) through
 * rec_config_load for every subcommand's options at once, then rec_config_free. The table's
 * typed parsers (integers, 64-bit integers, numbers, booleans, strings) all run.
 *
 * Differential check: the same file without its comment lines (first non-blank character '#')
 * must load the same way: same result and the same values of a sample of options. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "fuzz_common.h"

static int load(const char *path, struct rec_config *c, char *err, size_t errlen)
{
    char *argv[] = {"--config", (char *)path, NULL};
    const char *positional[4];
    int n_positional, want_help;
    int rc = rec_config_load(c, 0xffu, 2, argv, positional, 4, &n_positional, &want_help, err,
                             errlen);
    FUZZ_CHECK(rc == 0 || rc == REC_EINVAL || rc == REC_ENOMEM,
               "rec_config_load returns a documented code");
    FUZZ_CHECK(rc == 0 || err[0], "a config error says why");
    FUZZ_CHECK(rc != 0 || (n_positional == 0 && !want_help), "the flags hold no positional");
    /* c->config is set from --config, but a file may set "config" again (nothing reads it) */
    FUZZ_CHECK(rc != 0 || c->config, "the config option is set");
    return rc;
}

/* data without the lines whose first non-blank character is '#'; *n gets its length. */
static char *strip_comments(const uint8_t *data, size_t size, size_t *n)
{
    char *out = malloc(size + 1);
    if (!out)
        abort();
    *n = 0;
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - data) + 1 : size;
        size_t j = i;
        while (j < end && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r' ||
                           data[j] == '\v' || data[j] == '\f'))
            j++;
        if (j == end || data[j] != '#') {
            memcpy(out + *n, data + i, end - i);
            *n += end - i;
        }
        i = end;
    }
    return out;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s", fuzz_path("recd.conf"));
    snprintf(path2, sizeof path2, "%s", fuzz_path("stripped.conf"));
    fuzz_write(path, data, size);
    char err[1024] = "", err2[1024] = "";
    struct rec_config c, c2;
    int rc = load(path, &c, err, sizeof err);

    /* A NUL byte ends a line early for fgets' callers: leave such inputs to the first load. */
    size_t n;
    char *stripped = strip_comments(data, size, &n);
    if (memchr(data, '\0', size) == NULL && n != size) {
        fuzz_write(path2, stripped, n);
        int rc2 = load(path2, &c2, err2, sizeof err2);
        FUZZ_CHECK(rc == rc2, "comment lines do not change whether a config file loads");
        if (rc == 0 && rc2 == 0)
            FUZZ_CHECK(c.port == c2.port && c.threads == c2.threads &&
                           c.max_body == c2.max_body && c.factors == c2.factors &&
                           c.ranker == c2.ranker && c.seed == c2.seed &&
                           same_str(c.data, c2.data) && same_str(c.bind, c2.bind) &&
                           same_str(c.sources, c2.sources),
                       "comment lines do not change what a config file sets");
        rec_config_free(&c2);
        fuzz_unlink(path2);
    }
    free(stripped);
    rec_config_free(&c);
    fuzz_unlink(path);
    return 0;
}
