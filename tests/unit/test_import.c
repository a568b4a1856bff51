/* test_import.c: line reader (plain and zstd), MovieLens 100K / 1M, CSV and JSON-lines imports
 * on small fixtures written to a temporary directory, and, when RECD_SHARED_DATA points at the
 * shared datasets, full imports of MovieLens 100K and the partial 1M. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/clock.h"
#include "core/err.h"
#include "ingest/import.h"
#include "ingest/reader.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

static char tmpdir[256];

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    path_in(p, sizeof p, dir, name);
    write_bytes(p, text, strlen(text));
}

/* Writes data zstd-compressed (one frame, level 3) to dir/name. */
static void write_zst(const char *dir, const char *name, const void *data, size_t len)
{
    size_t cap = ZSTD_compressBound(len);
    void *z = malloc(cap);
    assert_non_null(z);
    size_t n = ZSTD_compress(z, cap, data, len, 3);
    assert_false(ZSTD_isError(n));
    char p[512];
    path_in(p, sizeof p, dir, name);
    write_bytes(p, z, n);
    free(z);
}

static void make_dir(char *out, size_t cap, const char *name)
{
    path_in(out, cap, tmpdir, name);
    assert_int_equal(mkdir(out, 0700), 0);
}

/* ---- a sink that records everything, in order -------------------------------------------- */

struct rec_log {
    char **lines; /* "I id doc", "U id doc", "E user|item|type|value|ts|id|context" */
    size_t n, cap;
    int64_t abort_after; /* event callback fails with REC_EIO after this many; -1 never */
    int64_t n_events;
    int n_progress;
    uint64_t last_done, last_total;
};

static void log_add(struct rec_log *l, const char *fmt, ...)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->lines = realloc(l->lines, l->cap * sizeof *l->lines);
        assert_non_null(l->lines);
    }
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    l->lines[l->n] = strdup(buf);
    assert_non_null(l->lines[l->n]);
    l->n++;
}

static void log_free(struct rec_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->lines[i]);
    free(l->lines);
    memset(l, 0, sizeof *l);
}

static int on_item(void *ctx, const char *id, const char *doc)
{
    log_add(ctx, "I %s %s", id, doc);
    return 0;
}

static int on_user(void *ctx, const char *id, const char *doc)
{
    log_add(ctx, "U %s %s", id, doc);
    return 0;
}

static int on_event(void *ctx, const struct rec_event *ev)
{
    struct rec_log *l = ctx;
    if (l->abort_after >= 0 && l->n_events >= l->abort_after)
        return REC_EIO;
    l->n_events++;
    log_add(l, "E %s|%s|%s|%g|%lld|%s|%s", ev->user, ev->item, rec_event_type_name(ev->type),
            ev->value, (long long)ev->ts, ev->id ? ev->id : "-", ev->context ? ev->context : "-");
    return 0;
}

static void on_progress(void *ctx, const char *file, uint64_t done, uint64_t total)
{
    struct rec_log *l = ctx;
    l->n_progress++;
    l->last_done = done;
    l->last_total = total;
}

static struct rec_import_sink sink_for(struct rec_log *l)
{
    memset(l, 0, sizeof *l);
    l->abort_after = -1;
    return (struct rec_import_sink){l, on_item, on_user, on_event, on_progress};
}

/* The recorded line starting with prefix, or NULL. */
static const char *find_line(const struct rec_log *l, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(l->lines[i], prefix, n) == 0)
            return l->lines[i];
    return NULL;
}

/* The JSON document of line "I id ..." / "U id ...", parsed; caller decrefs. */
static json_t *doc_of(const struct rec_log *l, char kind, const char *id)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%c %s ", kind, id);
    const char *line = find_line(l, prefix);
    assert_non_null(line);
    json_error_t jerr;
    json_t *doc = json_loads(line + strlen(prefix), 0, &jerr);
    assert_non_null(doc);
    return doc;
}

static int has_reason(const struct rec_import_stats *st, const char *needle)
{
    for (int i = 0; i < st->n_reasons; i++)
        if (strstr(st->reasons[i], needle))
            return 1;
    return 0;
}

static void print_reasons(const struct rec_import_stats *st)
{
    for (int i = 0; i < st->n_reasons; i++)
        printf("    reason: %s\n", st->reasons[i]);
}

/* ---- reader ------------------------------------------------------------------------------ */

/* Builds a text of many lines of varying length (so lines straddle the reader's refills), a
 * 1.5 MiB line, CRLF endings and no final newline. Returns it; *n_lines gets the line count. */
static char *big_text(size_t *len, int *n_lines)
{
    size_t cap = 8u << 20, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    int lines = 0;
    for (int i = 0; i < 60000; i++) {
        n += (size_t)snprintf(t + n, cap - n, "line %d ", i);
        for (int k = 0; k < i % 97; k++)
            t[n++] = (char)('a' + k % 26);
        if (i % 7 == 0)
            t[n++] = '\r';
        t[n++] = '\n';
        lines++;
        if (i == 30000) {
            memset(t + n, 'x', (3u << 20) / 2);
            n += (3u << 20) / 2;
            t[n++] = '\n';
            lines++;
        }
    }
    n += (size_t)snprintf(t + n, cap - n, "last line without newline");
    lines++;
    *len = n;
    *n_lines = lines;
    return t;
}

static void check_reader(const char *path, int expect_lines)
{
    struct rec_reader *r;
    char err[256];
    assert_int_equal(rec_reader_open(path, &r, err, sizeof err), 0);
    const char *line;
    size_t len;
    int trunc, n = 0, i = 0, rc;
    char want[256];
    while ((rc = rec_reader_line(r, &line, &len, &trunc)) == 1) {
        n++;
        assert_int_equal(strlen(line), len);
        if (len == (size_t)1 << 20 && line[0] == 'x') {
            assert_true(trunc); /* the long line, cut at 1 MiB */
            continue;
        }
        assert_false(trunc);
        if (i == 60000) {
            assert_string_equal(line, "last line without newline");
            i++;
            continue;
        }
        int k = snprintf(want, sizeof want, "line %d ", i);
        for (int j = 0; j < i % 97; j++)
            want[k++] = (char)('a' + j % 26);
        want[k] = '\0';
        assert_string_equal(line, want); /* also: no \r left */
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, expect_lines);
    assert_int_equal(i, 60001);
    assert_true(rec_reader_size(r) > 0);
    assert_true(rec_reader_pos(r) == rec_reader_size(r));
    assert_int_equal(rec_reader_line(r, &line, &len, &trunc), 0); /* stays at the end */
    rec_reader_close(r);
}

static void test_reader_plain_and_zstd(void **state)
{
    size_t len;
    int n_lines;
    char *t = big_text(&len, &n_lines);
    char dir[512], p[600];
    make_dir(dir, sizeof dir, "reader");
    path_in(p, sizeof p, dir, "big.txt");
    write_bytes(p, t, len);
    check_reader(p, n_lines);
    write_zst(dir, "big.txt.zst", t, len);
    path_in(p, sizeof p, dir, "big.txt.zst");
    check_reader(p, n_lines);

    /* find prefers the plain file, falls back to .zst */
    char found[600];
    assert_int_equal(rec_reader_find(dir, "big.txt", found, sizeof found), 0);
    assert_non_null(strstr(found, "/big.txt"));
    assert_null(strstr(found, ".zst"));
    write_zst(dir, "only.txt.zst", "a\n", 2);
    assert_int_equal(rec_reader_find(dir, "only.txt", found, sizeof found), 0);
    assert_non_null(strstr(found, "only.txt.zst"));
    assert_int_equal(rec_reader_find(dir, "nothing.txt", found, sizeof found), REC_ENOTFOUND);

    /* regression: a stream whose output ends exactly at a full read buffer (8 MiB of
     * 64-byte lines, compressing to a few hundred bytes) was reported as truncated */
    size_t rn = 8u << 20;
    char *rep = malloc(rn);
    assert_non_null(rep);
    for (size_t i = 0; i < rn; i++)
        rep[i] = i % 64 == 63 ? '\n' : 'a';
    write_zst(dir, "rep.txt.zst", rep, rn);
    free(rep);
    path_in(p, sizeof p, dir, "rep.txt.zst");
    struct rec_reader *rr;
    char rerr[256];
    assert_int_equal(rec_reader_open(p, &rr, rerr, sizeof rerr), 0);
    const char *rl;
    size_t rlen;
    int nrep = 0, rrc;
    while ((rrc = rec_reader_line(rr, &rl, &rlen, NULL)) == 1) {
        assert_int_equal(rlen, 63);
        nrep++;
    }
    assert_int_equal(rrc, 0);
    assert_int_equal(nrep, (int)(rn / 64));
    rec_reader_close(rr);

    /* concatenated frames (zstd -T, cat a.zst b.zst) read as one stream */
    {
        char *z2 = malloc(4096);
        assert_non_null(z2);
        size_t a = ZSTD_compress(z2, 2048, "one\ntw", 6, 1);
        assert_false(ZSTD_isError(a));
        size_t b = ZSTD_compress(z2 + a, 2048, "o\nthree\n", 8, 1);
        assert_false(ZSTD_isError(b));
        path_in(p, sizeof p, dir, "frames.zst");
        write_bytes(p, z2, a + b);
        free(z2);
        const char *want[] = {"one", "two", "three"};
        int k = 0;
        assert_int_equal(rec_reader_open(p, &rr, rerr, sizeof rerr), 0);
        while ((rrc = rec_reader_line(rr, &rl, &rlen, NULL)) == 1) {
            assert_true(k < 3);
            assert_string_equal(rl, want[k++]);
        }
        assert_int_equal(rrc, 0);
        assert_int_equal(k, 3);
        rec_reader_close(rr);
    }

    /* a truncated zstd stream is an error, not a silent short read */
    size_t cap = ZSTD_compressBound(len);
    char *z = malloc(cap);
    assert_non_null(z);
    size_t zn = ZSTD_compress(z, cap, t, len, 1);
    assert_false(ZSTD_isError(zn));
    path_in(p, sizeof p, dir, "cut.txt.zst");
    write_bytes(p, z, zn - 20);
    struct rec_reader *r;
    char err[256];
    assert_int_equal(rec_reader_open(p, &r, err, sizeof err), 0);
    const char *line;
    size_t ll;
    int rc;
    while ((rc = rec_reader_line(r, &line, &ll, NULL)) == 1)
        ;
    assert_true(rc < 0);
    rec_reader_close(r);
    /* garbage that is not zstd at all */
    path_in(p, sizeof p, dir, "junk.zst");
    write_bytes(p, "this is not zstd\n", 17);
    assert_int_equal(rec_reader_open(p, &r, err, sizeof err), 0);
    assert_true(rec_reader_line(r, &line, &ll, NULL) < 0);
    rec_reader_close(r);
    free(z);
    free(t);

    path_in(p, sizeof p, dir, "missing.txt");
    assert_int_equal(rec_reader_open(p, &r, err, sizeof err), REC_ENOTFOUND);
    assert_non_null(strstr(err, "missing.txt"));
}

static void test_reader_small_cases(void **state)
{
    char dir[512], p[600];
    make_dir(dir, sizeof dir, "small");
    struct {
        const char *name, *text;
        int n;
        const char *lines[4];
    } cases[] = {
        {"empty", "", 0, {NULL}},
        {"one", "abc", 1, {"abc"}},
        {"crlf", "a\r\nb\r\n\r\nc\r", 4, {"a", "b", "", "c"}},
        {"blank", "\n\n", 2, {"", ""}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        path_in(p, sizeof p, dir, cases[c].name);
        write_bytes(p, cases[c].text, strlen(cases[c].text));
        struct rec_reader *r;
        char err[128];
        assert_int_equal(rec_reader_open(p, &r, err, sizeof err), 0);
        const char *line;
        size_t len;
        int n = 0;
        while (rec_reader_line(r, &line, &len, NULL) == 1) {
            assert_true(n < cases[c].n);
            assert_string_equal(line, cases[c].lines[n]);
            n++;
        }
        assert_int_equal(n, cases[c].n);
        rec_reader_close(r);
    }
}

/* ---- MovieLens 100K ---------------------------------------------------------------------- */

static void test_ml100k(void **state)
{
    char dir[512];
    make_dir(dir, sizeof dir, "ml100k");
    write_file(dir, "u.genre", "unknown|0\nAction|1\nComedy|2\n\n");
    write_file(dir, "u.item",
               "1|Toy Story (1995)|01-Jan-1995||http://imdb/toy|0|0|1\n"
               "2|Mis\xe9rables, Les (1995)|15-Mar-1996||http://imdb/mis|0|1|1\n"
               "3|broken line\n"
               "267|unknown||||1|0|0\r\n");
    write_file(dir, "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|old|M|x|1\n");
    const char *data = "1\t1\t5\t881250949\n"
                       "1\t2\t3\t881250950\r\n"
                       "2\t267\t4\t881250951\n"
                       "2\t1\t9\t881250952\n"
                       "2\t1\t4\n"
                       "2\t2\t1\t881250953"; /* no final newline */
    write_zst(dir, "u.data.zst", data, strlen(data));

    struct rec_log l;
    struct rec_import_sink s = sink_for(&l);
    struct rec_import_stats st;
    char err[256] = "";
    assert_int_equal(rec_import_path(dir, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    print_reasons(&st);
    assert_int_equal(st.items, 3);
    assert_int_equal(st.users, 2);
    assert_int_equal(st.events, 4);
    assert_int_equal(st.rejected, 4);
    assert_true(has_reason(&st, "u.item:3:"));
    assert_true(has_reason(&st, "u.user:3:"));
    assert_true(has_reason(&st, "u.data.zst:4: rating"));
    assert_true(has_reason(&st, "u.data.zst:5: expected 4 fields"));

    /* order: items, then users, then events */
    assert_int_equal(l.lines[0][0], 'I');
    assert_int_equal(l.lines[3][0], 'U');
    assert_int_equal(l.lines[5][0], 'E');

    json_t *d = doc_of(&l, 'I', "2");
    assert_string_equal(json_string_value(json_object_get(d, "title")),
                        "Mis\xc3\xa9rables, Les (1995)"); /* é in UTF-8 */
    json_t *cats = json_object_get(d, "categories");
    assert_int_equal(json_array_size(cats), 2);
    assert_string_equal(json_string_value(json_array_get(cats, 0)), "Action");
    assert_string_equal(json_string_value(json_array_get(cats, 1)), "Comedy");
    assert_int_equal(json_integer_value(json_object_get(d, "published_at")), 826848000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "attributes"),
                                                          "imdb_url")), "http://imdb/mis");
    assert_int_equal(json_array_size(json_object_get(d, "tags")), 0);
    json_decref(d);
    d = doc_of(&l, 'I', "1");
    assert_int_equal(json_integer_value(json_object_get(d, "published_at")), 788918400);
    json_decref(d);
    d = doc_of(&l, 'I', "267"); /* no date, no year: no published_at */
    assert_null(json_object_get(d, "published_at"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "categories"), 0)),
                        "unknown");
    json_decref(d);

    d = doc_of(&l, 'U', "2");
    json_t *a = json_object_get(d, "attributes");
    assert_int_equal(json_integer_value(json_object_get(a, "age")), 53);
    assert_string_equal(json_string_value(json_object_get(a, "gender")), "F");
    assert_string_equal(json_string_value(json_object_get(a, "occupation")), "other");
    assert_string_equal(json_string_value(json_object_get(a, "zip")), "94043");
    json_decref(d);

    assert_non_null(find_line(&l, "E 1|1|rating|5|881250949|-|-"));
    assert_non_null(find_line(&l, "E 1|2|rating|3|881250950|-|-"));
    assert_non_null(find_line(&l, "E 2|2|rating|1|881250953|-|-"));
    assert_true(l.n_progress >= 4); /* once per file at least */
    log_free(&l);

    /* explicit format on the same directory gives the same counts */
    s = sink_for(&l);
    assert_int_equal(rec_import_path(dir, REC_IMPORT_ML100K, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.events, 4);
    log_free(&l);
}

/* ---- MovieLens 1M ------------------------------------------------------------------------ */

static void test_ml1m(void **state)
{
    char dir[512];
    make_dir(dir, sizeof dir, "ml1m");
    const char *movies = "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                         "582::Metisse (Caf\xe9 au Lait) (1993)::Comedy\n"
                         "7::Sabrina::Comedy|Romance\n"
                         "bad line\n";
    write_zst(dir, "movies.dat.zst", movies, strlen(movies));
    write_file(dir, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::99::1\n");
    /* two candidate ratings files: the alphabetically first one is used */
    const char *r1 = "1::1::5::978300760\n1::582::3::978302109\n2::7::x::978301968\n";
    write_zst(dir, "ratings.part1.dat.zst", r1, strlen(r1));
    write_file(dir, "ratings.part2.dat", "2::1::1::1\n");

    struct rec_log l;
    struct rec_import_sink s = sink_for(&l);
    struct rec_import_stats st;
    char err[256] = "";
    assert_int_equal(rec_import_path(dir, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    print_reasons(&st);
    assert_int_equal(st.items, 3);
    assert_int_equal(st.users, 2);
    assert_int_equal(st.events, 2);
    assert_int_equal(st.rejected, 3);
    assert_true(has_reason(&st, "movies.dat.zst:4:"));
    assert_true(has_reason(&st, "users.dat:3: occupation"));
    assert_true(has_reason(&st, "ratings.part1.dat.zst:3: rating"));

    json_t *d = doc_of(&l, 'I', "582");
    assert_string_equal(json_string_value(json_object_get(d, "title")),
                        "Metisse (Caf\xc3\xa9 au Lait) (1993)");
    assert_int_equal(json_integer_value(json_object_get(d, "published_at")), 725846400);
    json_decref(d);
    d = doc_of(&l, 'I', "1");
    json_t *cats = json_object_get(d, "categories");
    assert_int_equal(json_array_size(cats), 3);
    assert_string_equal(json_string_value(json_array_get(cats, 1)), "Children's");
    assert_int_equal(json_integer_value(json_object_get(d, "published_at")), 788918400);
    json_decref(d);
    d = doc_of(&l, 'I', "7");
    assert_null(json_object_get(d, "published_at"));
    json_decref(d);
    d = doc_of(&l, 'U', "1");
    json_t *a = json_object_get(d, "attributes");
    assert_int_equal(json_integer_value(json_object_get(a, "age")), 1);
    assert_string_equal(json_string_value(json_object_get(a, "gender")), "F");
    assert_string_equal(json_string_value(json_object_get(a, "occupation")), "K-12 student");
    assert_string_equal(json_string_value(json_object_get(a, "zip")), "48067");
    json_decref(d);
    assert_non_null(find_line(&l, "E 1|582|rating|3|978302109|-|-"));
    assert_null(find_line(&l, "E 2|1|")); /* from the file that was not chosen */
    log_free(&l);

    /* ratings.dat wins over the partial files */
    write_file(dir, "ratings.dat", "2::1::2::5\n");
    s = sink_for(&l);
    assert_int_equal(rec_import_path(dir, REC_IMPORT_ML1M, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.events, 1);
    assert_non_null(find_line(&l, "E 2|1|rating|2|5|-|-"));
    log_free(&l);
}

/* ---- CSV --------------------------------------------------------------------------------- */

static void test_csv(void **state)
{
    char dir[512], p[600];
    make_dir(dir, sizeof dir, "csv");
    path_in(p, sizeof p, dir, "events.csv");
    write_file(dir, "events.csv",
               "\xef\xbb\xbfuser,item,type,value,ts,id\n"            /* 1: header with BOM */
               "u1,i1,view,,1700000000,e1\n"                         /* 2 */
               "\"u,2\",\"i \"\"quoted\"\"\",click,,1700000001,\n"   /* 3 */
               "\n"                                                  /* 4: blank, skipped */
               "u3,i3,teleport,,1700000002,\n"                       /* 5: unknown type */
               "u4,i4,dwell,abc,1700000003,\n"                       /* 6: bad value */
               "u5,i5,view\n"                                        /* 7: too few fields */
               "\"u6,i6,view,,1700000004,\n"                         /* 8: open quote */
               "u7,i7,view,,yesterday,\n"                            /* 9: bad ts */
               "u8,,view,,1700000005,\n"                             /* 10: empty item */
               "u9,i9,dwell,12.5,,\n"                                /* 11: no ts -> now */
               " u10 , i10 ,rating,4.5,1700000006,\r\n");            /* 12: spaces, CRLF */
    struct rec_log l;
    struct rec_import_sink s = sink_for(&l);
    struct rec_import_stats st;
    char err[256] = "";
    int64_t before = rec_now_s();
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    int64_t after = rec_now_s();
    print_reasons(&st);
    assert_int_equal(st.events, 4);
    assert_int_equal(st.rejected, 6);
    assert_true(has_reason(&st, "events.csv:5: unknown event type \"teleport\""));
    assert_true(has_reason(&st, "events.csv:6: value"));
    assert_true(has_reason(&st, "events.csv:7: 3 fields, the header has 6"));
    assert_true(has_reason(&st, "events.csv:8: unterminated"));
    assert_true(has_reason(&st, "events.csv:9: ts"));
    assert_true(has_reason(&st, "events.csv:10: item"));
    assert_non_null(find_line(&l, "E u1|i1|view|0|1700000000|e1|-"));
    assert_non_null(find_line(&l, "E u,2|i \"quoted\"|click|0|1700000001|-|-"));
    assert_non_null(find_line(&l, "E u10|i10|rating|4.5|1700000006|-|-"));
    const char *now_line = find_line(&l, "E u9|i9|dwell|12.5|");
    assert_non_null(now_line);
    long long ts = strtoll(now_line + strlen("E u9|i9|dwell|12.5|"), NULL, 10);
    assert_true(ts >= before && ts <= after);
    log_free(&l);

    /* MovieLens-style aliases: a rating column makes rating events; zstd-compressed */
    const char *ml = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,,1260759179\n";
    write_zst(dir, "ratings.csv.zst", ml, strlen(ml));
    path_in(p, sizeof p, dir, "ratings.csv.zst");
    s = sink_for(&l);
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.events, 1);
    assert_int_equal(st.rejected, 1);
    assert_true(has_reason(&st, "ratings.csv.zst:3: a rating needs a value"));
    assert_non_null(find_line(&l, "E 1|31|rating|2.5|1260759144|-|-"));
    log_free(&l);

    /* a header without user/item columns stops the import with a message */
    write_file(dir, "nohead.csv", "a,b\n1,2\n");
    path_in(p, sizeof p, dir, "nohead.csv");
    s = sink_for(&l);
    assert_int_equal(rec_import_path(p, REC_IMPORT_CSV, &s, &st, err, sizeof err), REC_EFORMAT);
    assert_non_null(strstr(err, "user"));
    log_free(&l);

    /* many bad lines: all counted, the first REC_IMPORT_MAX_REASONS explained, import goes on */
    const size_t cap = 4u << 20; /* 70000 short lines below fit with room to spare */
    char *big = malloc(cap);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "user,item,ts\n");
    for (int i = 0; i < 25; i++)
        n += (size_t)snprintf(big + n, cap - n, "u%d,,%d\nu%d,i%d,%d\n", i, i, i, i, i);
    path_in(p, sizeof p, dir, "many.csv");
    write_bytes(p, big, n);
    s = sink_for(&l);
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.rejected, 25);
    assert_int_equal(st.events, 25);
    assert_int_equal(st.n_reasons, REC_IMPORT_MAX_REASONS);
    assert_non_null(strstr(st.reasons[0], "many.csv:2: "));
    assert_non_null(strstr(st.reasons[9], "many.csv:20: "));
    assert_non_null(find_line(&l, "E u24|i24|view|0|24|-|-")); /* no type: view */
    log_free(&l);

    /* progress is reported while a long file is read; the sink can stop the import */
    n = (size_t)snprintf(big, cap, "user,item,ts\n");
    for (int i = 0; i < 70000; i++)
        n += (size_t)snprintf(big + n, cap - n, "u%d,i%d,%d\n", i % 100, i % 37, i);
    assert_true(n < cap);
    write_bytes(p, big, n);
    s = sink_for(&l);
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.events, 70000);
    assert_true(l.n_progress >= 2);
    assert_int_equal(l.last_done, n);
    assert_int_equal(l.last_total, n);
    log_free(&l);
    s = sink_for(&l);
    l.abort_after = 5;
    err[0] = '\0';
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), REC_EIO);
    assert_int_equal(st.events, 5);
    assert_non_null(strstr(err, "many.csv:7"));
    log_free(&l);
    free(big);
}

/* ---- JSON lines -------------------------------------------------------------------------- */

static void test_jsonl(void **state)
{
    char dir[512], p[600];
    make_dir(dir, sizeof dir, "jsonl");
    path_in(p, sizeof p, dir, "data.jsonl");
    write_file(dir, "data.jsonl",
               "{\"item\":{\"id\":\"i1\",\"title\":\"One\",\"categories\":[\"a\"]}}\n"      /* 1 */
               "{\"user\":{\"id\":\"u1\",\"attributes\":{\"age\":30}}}\n"                  /* 2 */
               "{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"like\",\"ts\":1700000000,"
               "\"id\":\"e1\",\"context\":{\"page\":\"home\"}}\n"                          /* 3 */
               "{\"user\":\"u1\",\"item\":\"i2\",\"type\":\"dwell\",\"value\":30.5,"
               "\"ts\":1700000001.9}\n"                                                    /* 4 */
               "{\"user\":\"u1\",\"item\":\"i2\",\"type\":\"view\"\n"                      /* 5 */
               "{\"user\":\"u1\",\"item\":\"i2\",\"type\":\"zap\",\"ts\":1}\n"             /* 6 */
               "{\"item\":\"i2\",\"type\":\"view\",\"ts\":1}\n"                            /* 7 */
               "{\"user\":\"u1\",\"item\":\"i2\",\"type\":\"view\",\"value\":\"3\"}\n"     /* 8 */
               "{\"item\":{\"id\":\"i3\",\"categories\":\"a\"}}\n"                        /* 9 */
               "[1,2,3]\n"                                                                 /* 10 */
               "{\"user\":\"u\\u0001\",\"item\":\"i2\",\"type\":\"view\"}\n"               /* 11 */
               "\n"                                                                        /* 12 */
               "{\"user\":\"u2\",\"item\":\"i1\",\"type\":\"purchase\"}");                 /* 13 */
    struct rec_log l;
    struct rec_import_sink s = sink_for(&l);
    struct rec_import_stats st;
    char err[256] = "";
    int64_t before = rec_now_s();
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    int64_t after = rec_now_s();
    print_reasons(&st);
    assert_int_equal(st.items, 1);
    assert_int_equal(st.users, 1);
    assert_int_equal(st.events, 3);
    assert_int_equal(st.rejected, 7);
    assert_true(has_reason(&st, "data.jsonl:5: invalid JSON"));
    assert_true(has_reason(&st, "data.jsonl:6: unknown event type \"zap\""));
    assert_true(has_reason(&st, "data.jsonl:7: missing \"user\""));
    assert_true(has_reason(&st, "data.jsonl:8: \"value\" must be a number"));
    assert_true(has_reason(&st, "data.jsonl:9: item.categories"));
    assert_true(has_reason(&st, "data.jsonl:10: not a JSON object"));
    assert_true(has_reason(&st, "data.jsonl:11: user contains a control character"));

    json_t *d = doc_of(&l, 'I', "i1");
    assert_string_equal(json_string_value(json_object_get(d, "title")), "One");
    json_decref(d);
    d = doc_of(&l, 'U', "u1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "attributes"), "age")),
                     30);
    json_decref(d);
    assert_non_null(find_line(&l, "E u1|i1|like|0|1700000000|e1|{\"page\":\"home\"}"));
    assert_non_null(find_line(&l, "E u1|i2|dwell|30.5|1700000001|-|-"));
    const char *now_line = find_line(&l, "E u2|i1|purchase|0|");
    assert_non_null(now_line);
    long long ts = strtoll(now_line + strlen("E u2|i1|purchase|0|"), NULL, 10);
    assert_true(ts >= before && ts <= after);
    log_free(&l);
}

/* ---- format selection -------------------------------------------------------------------- */

static void test_formats(void **state)
{
    assert_int_equal(rec_import_format_parse("auto"), REC_IMPORT_AUTO);
    assert_int_equal(rec_import_format_parse("ml100k"), REC_IMPORT_ML100K);
    assert_int_equal(rec_import_format_parse("ml1m"), REC_IMPORT_ML1M);
    assert_int_equal(rec_import_format_parse("csv"), REC_IMPORT_CSV);
    assert_int_equal(rec_import_format_parse("jsonl"), REC_IMPORT_JSONL);
    assert_int_equal(rec_import_format_parse("xml"), -1);
    assert_int_equal(rec_import_format_parse(""), -1);

    char dir[512], p[600], err[256];
    make_dir(dir, sizeof dir, "formats");
    struct rec_log l;
    struct rec_import_sink s = sink_for(&l);
    struct rec_import_stats st;
    assert_int_equal(rec_import_path(dir, REC_IMPORT_AUTO, &s, &st, err, sizeof err), REC_EINVAL);
    assert_non_null(strstr(err, "u.data"));
    assert_int_equal(rec_import_path(dir, REC_IMPORT_ML100K, &s, &st, err, sizeof err),
                     REC_ENOTFOUND);
    assert_int_equal(rec_import_path(dir, REC_IMPORT_ML1M, &s, &st, err, sizeof err),
                     REC_ENOTFOUND);
    path_in(p, sizeof p, dir, "nope.csv");
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err),
                     REC_ENOTFOUND);
    assert_int_equal(rec_import_path(p, REC_IMPORT_CSV, &s, &st, err, sizeof err),
                     REC_ENOTFOUND);
    write_file(dir, "data.txt", "x\n");
    path_in(p, sizeof p, dir, "data.txt");
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), REC_EINVAL);
    /* .json is read as JSON lines, even when given as .JSON.zst */
    const char *j = "{\"user\":\"u\",\"item\":\"i\",\"type\":\"view\",\"ts\":5}\n";
    write_zst(dir, "x.JSON.zst", j, strlen(j));
    path_in(p, sizeof p, dir, "x.JSON.zst");
    assert_int_equal(rec_import_path(p, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.events, 1);
    assert_int_equal(l.n, 1);
    log_free(&l);
}

/* ---- the shared datasets ----------------------------------------------------------------- */

struct counter {
    int64_t items, users, events;
    double stars;
    int64_t max_ts;
};

static int count_item(void *ctx, const char *id, const char *doc)
{
    ((struct counter *)ctx)->items++;
    return 0;
}

static int count_user(void *ctx, const char *id, const char *doc)
{
    ((struct counter *)ctx)->users++;
    return 0;
}

static int count_event(void *ctx, const struct rec_event *ev)
{
    struct counter *c = ctx;
    c->events++;
    c->stars += ev->value;
    if (ev->ts > c->max_ts)
        c->max_ts = ev->ts;
    return ev->type == REC_EVENT_RATING ? 0 : REC_EINTERNAL;
}

static int shared_dir(char *out, size_t cap, const char *sub, const char *probe)
{
    const char *root = getenv("RECD_SHARED_DATA");
    if (!root || !*root) {
        printf("    RECD_SHARED_DATA not set: skipping the %s import\n", sub);
        return 0;
    }
    char p[1100]; /* out (< 1024) + "/" + probe */
    snprintf(out, cap, "%s/%s", root, sub);
    snprintf(p, sizeof p, "%s/%s", out, probe);
    if (access(p, R_OK) != 0) {
        printf("    %s not found: skipping the %s import\n", p, sub);
        return 0;
    }
    return 1;
}

static void test_shared_ml100k(void **state)
{
    char dir[1024], err[256] = "";
    if (!shared_dir(dir, sizeof dir, "ml-100k", "u.data.zst"))
        return;
    struct counter c = {0};
    struct rec_import_sink s = {&c, count_item, count_user, count_event, NULL};
    struct rec_import_stats st;
    double t0 = rec_mono_s();
    assert_int_equal(rec_import_path(dir, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    printf("    ml-100k: %lld events in %.3f s\n", (long long)st.events, rec_mono_s() - t0);
    print_reasons(&st);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.events, 100000);
    assert_int_equal(st.items, 1682);
    assert_int_equal(st.users, 943);
    assert_int_equal(c.events, 100000);
    assert_int_equal(c.items, 1682);
    assert_int_equal(c.users, 943);
    /* rating histogram 1:6110 2:11370 3:27145 4:34174 5:21201 */
    assert_true(c.stars == 352986.0);
}

static void test_shared_ml1m(void **state)
{
    char dir[1024], err[256] = "";
    if (!shared_dir(dir, sizeof dir, "ml-1m", "movies.dat.zst"))
        return;
    struct counter c = {0};
    struct rec_import_sink s = {&c, count_item, count_user, count_event, NULL};
    struct rec_import_stats st;
    double t0 = rec_mono_s();
    assert_int_equal(rec_import_path(dir, REC_IMPORT_AUTO, &s, &st, err, sizeof err), 0);
    printf("    ml-1m: %lld events in %.3f s\n", (long long)st.events, rec_mono_s() - t0);
    print_reasons(&st);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.events, 487650);
    assert_int_equal(st.items, 3883);
    assert_int_equal(st.users, 6040);
    assert_int_equal(c.events, 487650);
}

/* ---- main -------------------------------------------------------------------------------- */

/* Removes a directory tree made by this test (plain files and directories only). */
static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return remove(path);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rc |= rm_tree(p);
    }
    closedir(d);
    return rc | remove(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/recd_test_import.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_small_cases),
        cmocka_unit_test(test_reader_plain_and_zstd),
        cmocka_unit_test(test_ml100k),
        cmocka_unit_test(test_ml1m),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_shared_ml100k),
        cmocka_unit_test(test_shared_ml1m),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (rm_tree(tmpdir) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed;
}
