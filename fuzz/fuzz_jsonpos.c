/* fuzz_jsonpos: rank/jsonpos.h, the tokenizer behind the line numbers of rules errors.
 *
 * Input: a path on the first line, the JSON text after it. rec_jsonpos_line and
 * rec_jsonpos_parent run on them as given (malformed paths and texts included). Then, when
 * jansson accepts the text (with duplicate keys refused, as the rules and experiments parsers
 * do), every value of it (the first MAX_VALUES in document order) gets its canonical path from
 * rec_jsonpos_add_key / rec_jsonpos_add_index and must resolve to a line of the text, and
 * rec_jsonpos_parent of that path must give back its parent's path: jsonpos.h promises both.
 *
 * Known exception: jansson 2.14 drops a NUL byte that directly follows a number ("[1\0,2]"
 * loads as [1,2]) where jsonpos, reading the text as it is, stops; a path past such a byte
 * then resolves to 0. Texts holding a NUL byte are left out of the resolution check unless
 * RECD_FUZZ_STRICT is set (reproducer: fuzz/crashes/jsonpos/). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rank/jsonpos.h"

#define MAX_VALUES 256
#define PATH_CAP 1024

struct walk {
    const char *text;
    size_t len;
    int lines;      /* lines in text */
    int budget;     /* values still to check */
    char path[PATH_CAP];
};

static void check_value(struct walk *w, const json_t *v, size_t plen)
{
    if (w->budget-- <= 0)
        return;
    int line = rec_jsonpos_line(w->text, w->len, w->path);
    FUZZ_CHECK(line >= 1 && line <= w->lines, "every value of accepted JSON resolves to a line");
    size_t n;
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child) {
            n = plen;
            if (rec_jsonpos_add_key(w->path, sizeof w->path, &n, key) != 0)
                continue; /* too long: the path buffer is left as it was */
            FUZZ_CHECK(rec_jsonpos_parent(w->path) == plen, "parent of path.key is path");
            check_value(w, child, n);
            w->path[plen] = '\0';
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            n = plen;
            if (rec_jsonpos_add_index(w->path, sizeof w->path, &n, i) != 0)
                break;
            FUZZ_CHECK(rec_jsonpos_parent(w->path) == plen, "parent of path[i] is path");
            check_value(w, json_array_get(v, i), n);
            w->path[plen] = '\0';
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *path = fuzz_strndup(data, plen);
    const char *text = nl ? (const char *)nl + 1 : "";
    size_t len = nl ? size - plen - 1 : 0;

    int line = rec_jsonpos_line(text, len, path);
    FUZZ_CHECK(line >= 0, "a line is never negative");
    FUZZ_CHECK(rec_jsonpos_parent(path) <= strlen(path), "a parent is a prefix");
    free(path);

    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (root && (fuzz_strict() || !memchr(text, '\0', len))) {
        struct walk *w = calloc(1, sizeof *w);
        if (!w)
            abort();
        w->text = text;
        w->len = len;
        w->lines = 1;
        for (size_t i = 0; i < len; i++)
            w->lines += text[i] == '\n';
        w->budget = MAX_VALUES;
        check_value(w, root, 0);
        free(w);
    }
    json_decref(root);
    return 0;
}
