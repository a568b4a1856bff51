/* test_report_html.c: the HTML report holds the run's names and values, escapes text, is
 * well-formed (balanced tags, SVG with its namespace), scales the time axis logarithmically and
 * reports bad input and write errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eval/report_html.h"

/* Two models at K = 5, 10, 20: "als" with explicit std, and a hostile name with folds (so its
 * spread is computed), beyond metrics for both, and two tuning trials. */
static const char *const run_json =
    "{\"title\": \"ML-100K <P1>\", \"dataset\": \"ml-100k\", \"protocol\": \"P1 random 75/25\","
    " \"ks\": [20, 5, 10],"
    " \"models\": ["
    "  {\"name\": \"als\", \"params\": \"factors=64,reg=0.05\", \"train_seconds\": 1.2,"
    "   \"metrics\": {\"5\": {\"precision\": 0.41, \"recall\": 0.1, \"ndcg\": 0.45, \"map\": 0.3,"
    "                        \"hr\": 0.8, \"mrr\": 0.6, \"auc\": 0.93},"
    "                \"10\": {\"precision\": 0.35, \"recall\": 0.17, \"ndcg\": 0.4918,"
    "                        \"map\": 0.31,"
    "                        \"hr\": 0.9, \"mrr\": 0.61, \"auc\": 0.93},"
    "                \"20\": {\"precision\": 0.28, \"recall\": 0.26, \"ndcg\": 0.5, \"map\": 0.3,"
    "                        \"hr\": 0.95, \"mrr\": 0.62, \"auc\": 0.93}},"
    "   \"std\": {\"10\": {\"ndcg\": 0.0123}},"
    "   \"beyond\": {\"coverage\": 0.21, \"diversity\": 0.77, \"novelty\": 2.5, \"arp\": 251.3,"
    "               \"head_share\": 0.8, \"gini\": 0.91}},"
    "  {\"name\": \"<evil>&\\\"q'\", \"params\": \"a<b\", \"train_seconds\": 0.05,"
    "   \"folds\": [{\"10\": {\"ndcg\": 0.30, \"recall\": 0.1}},"
    "               {\"metrics\": {\"10\": {\"ndcg\": 0.34, \"recall\": 0.2}}}],"
    "   \"beyond\": {\"coverage\": 0.02, \"gini\": 0.99}}],"
    " \"trials\": [{\"model\": \"als\", \"params\": \"factors=32\", \"budget\": 1, \"score\": 0.47,"
    "              \"seconds\": 0.8},"
    "             {\"model\": \"als\", \"params\": \"factors=128\", \"budget\": 3, \"score\": 0.49,"
    "              \"seconds\": 2.5}]}";

/* Writes the report of json text to memory; returns the rc, *page is malloc'd (or NULL). */
static int render(const char *text, char **page)
{
    json_error_t jerr;
    json_t *run = json_loads(text, 0, &jerr);
    if (!run)
        fail_msg("bad test JSON: %s (line %d)", jerr.text, jerr.line);
    size_t len = 0;
    *page = NULL;
    FILE *f = open_memstream(page, &len);
    assert_non_null(f);
    int rc = rec_report_html_write(run, f);
    assert_int_equal(fclose(f), 0);
    json_decref(run);
    return rc;
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void assert_has(const char *page, const char *needle)
{
    if (!strstr(page, needle))
        fail_msg("page lacks \"%s\"", needle);
}

/* Checks that every tag is closed in order (the page is meant to be well-formed XML) and that
 * no '<' or '&' appears outside markup and entities. Returns NULL or a static description. */
static const char *check_well_formed(const char *s)
{
    static char msg[160];
    enum { DEPTH = 64, NAME = 32 };
    char stack[DEPTH][NAME];
    int depth = 0;
    const char *p = strstr(s, "<html");
    if (!p)
        return "no <html>";
    while ((p = strpbrk(p, "<&")) != NULL) {
        if (*p == '&') {
            size_t n = strspn(p + 1, "#abcdefghijklmnopqrstuvwxyz0123456789");
            if (n == 0 || p[1 + n] != ';')
                return "bare '&'";
            p += n + 2;
            continue;
        }
        const char *end = strchr(p, '>');
        if (!end)
            return "unterminated tag";
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strcspn(name, " />\n");
        if (n == 0 || n >= NAME)
            return "bad tag name";
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, n) != 0 || stack[depth - 1][n])
                return snprintf(msg, sizeof msg, "</%.*s> does not close <%s>", (int)n, name,
                                depth ? stack[depth - 1] : "(none)"), msg;
            depth--;
        } else if (end[-1] != '/') {
            if (depth == DEPTH)
                return "too deep";
            memcpy(stack[depth], name, n);
            stack[depth++][n] = '\0';
        }
        for (const char *q = p + 1; q < end; q++)
            if (*q == '<')
                return "'<' inside a tag";
        p = end + 1;
    }
    return depth == 0 ? NULL : "unclosed tags at the end";
}

static void test_page_content(void **state)
{
    char *page;
    assert_int_equal(render(run_json, &page), 0);
    assert_non_null(page);
    assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    assert_has(page, "<meta charset=\"utf-8\"/>");
    const char *wf = check_well_formed(page);
    if (wf)
        fail_msg("not well-formed: %s", wf);

    /* Names, parameters and values, with mean +- std from "std". */
    assert_has(page, "<title>ML-100K &lt;P1&gt;</title>");
    assert_has(page, "ml-100k");
    assert_has(page, "factors=64,reg=0.05");
    assert_has(page, "0.4918 &#177; 0.0123");
    assert_has(page, "251.3");
    assert_has(page, "<th>NDCG@5</th>");
    assert_has(page, "<th>MRR@20</th><th>AUC</th>"); /* AUC does not depend on K */
    /* The K tables appear in ascending order although "ks" is not sorted. */
    const char *k5 = strstr(page, "K = 5<"), *k10 = strstr(page, "K = 10<"),
               *k20 = strstr(page, "K = 20<");
    assert_true(k5 && k10 && k20 && k5 < k10 && k10 < k20);
    /* The best NDCG@10 is bold. */
    assert_has(page, "<td class=\"n best\">0.4918");

    /* The second model's spread comes from its two folds: ndcg 0.30, 0.34 -> mean 0.32, sample
     * std sqrt(2 * 0.02^2 / 1) = 0.028284; recall 0.1, 0.2 -> 0.15 +- 0.070711. */
    assert_has(page, "0.3200 &#177; 0.0283");
    assert_has(page, "0.1500 &#177; 0.0707");

    /* Escaping: the hostile name never appears raw, only as entities. */
    assert_null(strstr(page, "<evil>"));
    assert_null(strstr(page, "a<b"));
    assert_has(page, "&lt;evil&gt;&amp;&quot;q&#39;");
    assert_has(page, "a&lt;b");

    /* Charts: NDCG and Recall lines, the scatter, six bars; each SVG with its namespace. */
    int n_svg = count_of(page, "<svg ");
    assert_int_equal(n_svg, 9);
    assert_int_equal(count_of(page, "</svg>"), n_svg);
    assert_int_equal(count_of(page, "<svg xmlns=\"http://www.w3.org/2000/svg\""), n_svg);
    assert_int_equal(count_of(page, "<polyline"), 4); /* 2 charts x 2 models */
    assert_true(count_of(page, "<rect x=") >= 8);     /* 6 bars of als, 2 of the other */
    assert_has(page, "NDCG@10 vs training seconds (log scale)");

    /* Log time axis: seconds 0.05 and 1.2 span decades 10^-2 .. 10^1 over the 494 px plot
     * starting at x = 52: x = 52 + (log10(s) + 2) / 3 * 494 -> 167.1 and 394.4. */
    assert_has(page, ">0.01</text>");
    assert_has(page, ">10</text>");
    assert_has(page, "<circle cx=\"167.1\"");
    assert_has(page, "<circle cx=\"394.4\"");

    /* Trials. */
    assert_has(page, "Tuning trials (2)");
    assert_has(page, "factors=128");
    assert_has(page, "0.4900");
    assert_true(strstr(page, "</html>\n") != NULL);
    free(page);
}

/* Without "ks" the K come from the metrics keys; missing values print "-"; without beyond or
 * trials those sections are left out; control characters and broken UTF-8 become '?'. */
static void test_sparse_run(void **state)
{
    char *page;
    const char *sparse =
        "{\"models\": [{\"name\": \"pop\\u0001ular\\u00e9\", \"metrics\": {\"3\": {\"ndcg\": 0.25},"
        " \"7\": {\"ndcg\": 0.3}, \"x\": {}}}, {\"params\": \"\"}]}";
    assert_int_equal(render(sparse, &page), 0);
    const char *wf = check_well_formed(page);
    if (wf)
        fail_msg("not well-formed: %s", wf);
    assert_has(page, "K = 3<");
    assert_has(page, "K = 7<");
    assert_null(strstr(page, "K = x"));
    assert_has(page, "pop?ular\xc3\xa9");
    assert_has(page, "(unnamed)");
    assert_has(page, "<td class=\"n best\">0.2500</td>");
    assert_has(page, "<td class=\"n\">-</td>");
    assert_null(strstr(page, "Beyond accuracy"));
    assert_null(strstr(page, "Tuning trials"));
    /* No training times: no scatter, a note instead. */
    assert_has(page, "No model has both a training time");
    assert_int_equal(count_of(page, "<svg "), 2);
    free(page);

    /* Raw invalid UTF-8 in a name (jansson refuses it in text, so build the value directly). */
    json_t *run = json_pack("{s:[{s:s}]}", "models", "name", "ok");
    json_t *name = json_stringn_nocheck("bad\xff\xfe<x", 7);
    assert_int_equal(json_object_set_new(json_array_get(json_object_get(run, "models"), 0),
                                         "name", name), 0);
    size_t len;
    FILE *f = open_memstream(&page, &len);
    assert_int_equal(rec_report_html_write(run, f), 0);
    fclose(f);
    assert_has(page, "bad??&lt;x");
    free(page);
    json_decref(run);
}

static void test_bad_input_and_write_error(void **state)
{
    char *page;
    assert_int_equal(render("[1, 2]", &page), REC_EINVAL);
    free(page);
    assert_int_equal(render("{\"title\": \"x\"}", &page), REC_EINVAL);
    free(page);
    assert_int_equal(render("{\"models\": {}}", &page), REC_EINVAL);
    free(page);
    assert_int_equal(render("{\"models\": [{\"name\": \"a\"}, 3]}", &page), REC_EINVAL);
    free(page);
    json_t *run = json_loads(run_json, 0, NULL);
    assert_non_null(run);
    assert_int_equal(rec_report_html_write(run, NULL), REC_EINVAL);
    assert_int_equal(rec_report_html_write(NULL, stdout), REC_EINVAL);

    /* Writes to /dev/full fail with ENOSPC when flushed. */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        assert_int_equal(rec_report_html_write(run, full), REC_EIO);
        fclose(full);
    }
    json_decref(run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_content),
        cmocka_unit_test(test_sparse_run),
        cmocka_unit_test(test_bad_input_and_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
