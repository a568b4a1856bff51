/* movielens.c: MovieLens 100K and 1M directories -> items, users, rating events.
 *
 * Both readers emit items first, then users, then events, so a sink can attach metadata before
 * the interactions arrive. The ratings file is required; the metadata files are optional (a
 * warning is logged when one is missing). Text fields are Latin-1 in the GroupLens files and
 * are converted to UTF-8 (a field that is already valid UTF-8 is kept as it is).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "ingest/import_common.h"

#define MAX_GENRES 64
#define PATH_CAP 4096
#define ML100K_ITEM_FIELDS 5 /* id|title|release|video release|url, then genre flags */

static const char *const ml100k_genres[] = {
    "unknown", "Action",   "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama", "Fantasy",  "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance", "Sci-Fi",   "Thriller",  "War",       "Western",
};

/* ML-1M occupation codes, from the dataset's README. */
static const char *const ml1m_occupations[] = {
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* Adds key: UTF-8 copy of s to obj. 0 or REC_ENOMEM. */
static int set_text(json_t *obj, const char *key, const char *s)
{
    char *u = rec_import_utf8(s, strlen(s));
    json_t *v = u ? json_string(u) : NULL;
    free(u);
    if (!v || json_object_set_new(obj, key, v) != 0)
        return REC_ENOMEM;
    return REC_OK;
}

/* Unix time of "01-Jan-1995"; 0 or REC_EINVAL. */
static int parse_dmy(const char *s, int64_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char *end;
    long d = strtol(s, &end, 10);
    if (end == s || *end != '-' || d < 1 || d > 31 || strlen(end + 1) < 5 || end[4] != '-')
        return REC_EINVAL;
    int m = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(months + 3 * i, end + 1, 3) == 0)
            m = i + 1;
    const char *ys = end + 5;
    long y = strtol(ys, &end, 10);
    if (!m || end == ys || *end || y < 1800 || y > 2200)
        return REC_EINVAL;
    *out = rec_import_days_to_unix(y, m, (int)d);
    return REC_OK;
}

/* Unix time of Jan 1 of a "(1995)" year at the end of title; 0 or REC_EINVAL. */
static int title_year(const char *title, int64_t *out)
{
    size_t n = strlen(title);
    while (n > 0 && title[n - 1] == ' ')
        n--;
    if (n < 6 || title[n - 6] != '(' || title[n - 1] != ')')
        return REC_EINVAL;
    int y = 0;
    for (size_t i = n - 5; i < n - 1; i++) {
        if (title[i] < '0' || title[i] > '9')
            return REC_EINVAL;
        y = y * 10 + (title[i] - '0');
    }
    *out = rec_import_days_to_unix(y, 1, 1);
    return REC_OK;
}

/* Opens dir/name or dir/name.zst; REC_ENOTFOUND (message set) when neither exists. */
static int open_in(struct rec_import_run *run, const char *dir, const char *name, char *path)
{
    if (rec_reader_find(dir, name, path, PATH_CAP) != 0)
        return rec_errf(run->err, run->errlen, REC_ENOTFOUND, "%s: no %s or %s.zst", dir, name,
                        name);
    return rec_import_open(run, path);
}

/* Like open_in for a metadata file that may be absent: 1 opened, 0 absent (warned), <0 error. */
static int open_optional(struct rec_import_run *run, const char *dir, const char *name,
                         char *path)
{
    if (rec_reader_find(dir, name, path, PATH_CAP) != 0) {
        rec_warn("%s: no %s, importing without it", dir, name);
        return 0;
    }
    int rc = rec_import_open(run, path);
    return rc < 0 ? rc : 1;
}

/* Checks an id field; rejects the line and returns nonzero when it is bad. */
static int bad_id(struct rec_import_run *run, const char *id, const char *what)
{
    char msg[160];
    if (rec_event_check_id(id, what, msg, sizeof msg) == 0)
        return 0;
    rec_import_reject(run, "%s", msg);
    return 1;
}

/* An item document; categories get the names passed in. NULL when out of memory. */
static json_t *item_doc(const char *id, const char *title, const char *const *cats, int n_cats,
                        int has_ts, int64_t ts, json_t *attrs)
{
    json_t *doc = json_pack("{s:s}", "id", id);
    json_t *arr = json_array();
    if (!doc || !arr || set_text(doc, "title", title) != 0)
        goto fail;
    for (int i = 0; i < n_cats; i++) {
        char *u = rec_import_utf8(cats[i], strlen(cats[i]));
        json_t *v = u ? json_string(u) : NULL;
        free(u);
        if (!v || json_array_append_new(arr, v) != 0)
            goto fail;
    }
    if (json_object_set_new(doc, "categories", arr) != 0) {
        arr = NULL;
        goto fail;
    }
    arr = NULL;
    if (json_object_set_new(doc, "tags", json_array()) != 0)
        goto fail;
    if (has_ts && json_object_set_new(doc, "published_at", json_integer(ts)) != 0)
        goto fail;
    if (json_object_set_new(doc, "attributes", attrs ? json_incref(attrs) : json_object()) != 0)
        goto fail;
    return doc;
fail:
    json_decref(arr);
    json_decref(doc);
    return NULL;
}

static int oom(struct rec_import_run *run)
{
    return rec_errf(run->err, run->errlen, REC_ENOMEM, "out of memory building a document");
}

/* A rating line's fields -> one event. Rejects the line (returning 0) when a field is bad. */
static int rating_event(struct rec_import_run *run, char **f)
{
    double stars;
    int64_t ts;
    if (bad_id(run, f[0], "user") || bad_id(run, f[1], "item"))
        return REC_OK;
    if (rec_import_parse_f64(f[2], &stars) != 0 || stars < 0.5 || stars > 5) {
        rec_import_reject(run, "rating \"%.32s\" is not a number in 0.5..5", f[2]);
        return REC_OK;
    }
    if (rec_import_parse_i64(f[3], &ts) != 0 || ts < 0) {
        rec_import_reject(run, "timestamp \"%.32s\" is not a non-negative integer", f[3]);
        return REC_OK;
    }
    struct rec_event ev = {.user = f[0], .item = f[1], .type = REC_EVENT_RATING,
                           .value = stars, .ts = ts};
    return rec_import_emit_event(run, &ev);
}

/* Reads a ratings file (4 fields separated by sep) that open_* made current. */
static int read_ratings(struct rec_import_run *run, const char *sep)
{
    char *line, *f[4];
    size_t len;
    int rc;
    while ((rc = rec_import_next(run, &line, &len)) > 0) {
        if (len == 0)
            continue;
        int n = rec_import_split(line, sep, f, 4);
        if (n != 4) {
            rec_import_reject(run, "expected 4 fields (user, item, rating, timestamp), got %d", n);
            continue;
        }
        if ((rc = rating_event(run, f)) < 0)
            break;
    }
    rec_import_close(run);
    return rc < 0 ? rc : REC_OK;
}

/* ---- MovieLens 100K ---------------------------------------------------------------------- */

struct genres {
    char *names[MAX_GENRES]; /* owned; NULL for an index u.genre did not name */
    int n;
};

static void genres_free(struct genres *g)
{
    for (int i = 0; i < MAX_GENRES; i++)
        free(g->names[i]);
}

/* Genre names by flag index from u.genre, else the fixed 19. */
static int load_genres(struct rec_import_run *run, const char *dir, struct genres *g)
{
    char path[PATH_CAP];
    int rc = 0;
    memset(g, 0, sizeof *g);
    if (rec_reader_find(dir, "u.genre", path, sizeof path) == 0 &&
        rec_import_open(run, path) == 0) {
        char *line, *f[2];
        size_t len;
        while ((rc = rec_import_next(run, &line, &len)) > 0) {
            int64_t idx;
            if (len == 0)
                continue;
            if (rec_import_split(line, "|", f, 2) != 2 || rec_import_parse_i64(f[1], &idx) != 0 ||
                idx < 0 || idx >= MAX_GENRES || !*f[0]) {
                rec_import_reject(run, "expected genre|index with index 0..%d", MAX_GENRES - 1);
                continue;
            }
            free(g->names[idx]);
            if (!(g->names[idx] = rec_import_utf8(f[0], strlen(f[0])))) {
                rc = oom(run);
                break;
            }
            if (idx + 1 > g->n)
                g->n = (int)idx + 1;
        }
        rec_import_close(run);
        if (rc < 0)
            return rc;
    }
    if (g->n > 0)
        return REC_OK;
    for (int i = 0; i < COUNT(ml100k_genres); i++) {
        size_t n = strlen(ml100k_genres[i]) + 1;
        if (!(g->names[i] = malloc(n)))
            return oom(run);
        memcpy(g->names[i], ml100k_genres[i], n);
    }
    g->n = COUNT(ml100k_genres);
    return REC_OK;
}

static int ml100k_item(struct rec_import_run *run, char *line, const struct genres *g)
{
    char *f[ML100K_ITEM_FIELDS + MAX_GENRES];
    int n = rec_import_split(line, "|", f, COUNT(f));
    if (n < ML100K_ITEM_FIELDS) {
        rec_import_reject(run, "expected id|title|release date|video release date|URL|genre "
                          "flags, got %d fields", n);
        return REC_OK;
    }
    if (n > COUNT(f))
        n = COUNT(f);
    if (bad_id(run, f[0], "item id"))
        return REC_OK;
    const char *cats[MAX_GENRES];
    int n_cats = 0;
    for (int i = ML100K_ITEM_FIELDS; i < n; i++) {
        int k = i - ML100K_ITEM_FIELDS;
        if (strcmp(f[i], "0") == 0)
            continue;
        if (strcmp(f[i], "1") != 0) {
            rec_import_reject(run, "genre flag %d is \"%.16s\", not 0 or 1", k, f[i]);
            return REC_OK;
        }
        if (k < g->n && g->names[k])
            cats[n_cats++] = g->names[k];
    }
    int64_t ts = 0;
    int has_ts = parse_dmy(f[2], &ts) == 0 || title_year(f[1], &ts) == 0;
    json_t *attrs = json_object();
    if (!attrs || (*f[4] && set_text(attrs, "imdb_url", f[4]) != 0) ||
        (*f[3] && set_text(attrs, "video_release_date", f[3]) != 0)) {
        json_decref(attrs);
        return oom(run);
    }
    json_t *doc = item_doc(f[0], *f[1] ? f[1] : "unknown", cats, n_cats, has_ts, ts, attrs);
    json_decref(attrs);
    if (!doc)
        return oom(run);
    return rec_import_emit_item(run, f[0], doc);
}

static int ml100k_user(struct rec_import_run *run, char *line)
{
    char *f[5];
    int64_t age;
    int n = rec_import_split(line, "|", f, 5);
    if (n != 5) {
        rec_import_reject(run, "expected id|age|gender|occupation|zip, got %d fields", n);
        return REC_OK;
    }
    if (bad_id(run, f[0], "user id"))
        return REC_OK;
    if (rec_import_parse_i64(f[1], &age) != 0 || age < 0 || age > 150) {
        rec_import_reject(run, "age \"%.16s\" is not an integer in 0..150", f[1]);
        return REC_OK;
    }
    json_t *attrs = json_pack("{s:I}", "age", (json_int_t)age);
    if (!attrs || set_text(attrs, "gender", f[2]) || set_text(attrs, "occupation", f[3]) ||
        set_text(attrs, "zip", f[4])) {
        json_decref(attrs);
        return oom(run);
    }
    json_t *doc = json_pack("{s:s,s:o}", "id", f[0], "attributes", attrs); /* steals attrs */
    if (!doc)
        return oom(run);
    return rec_import_emit_user(run, f[0], doc);
}

/* Runs fn on each non-empty line of the current file, then closes it. */
static int each_line(struct rec_import_run *run, int (*fn)(struct rec_import_run *, char *))
{
    char *line;
    size_t len;
    int rc;
    while ((rc = rec_import_next(run, &line, &len)) > 0) {
        if (len > 0 && (rc = fn(run, line)) < 0)
            break;
    }
    rec_import_close(run);
    return rc < 0 ? rc : REC_OK;
}

int rec_import_ml100k(struct rec_import_run *run, const char *dir)
{
    char path[PATH_CAP];
    struct genres g;
    int rc;
    /* check for the ratings first: a wrong directory should fail before any record goes out */
    if (rec_reader_find(dir, "u.data", path, sizeof path) != 0)
        return rec_errf(run->err, run->errlen, REC_ENOTFOUND, "%s: no u.data or u.data.zst", dir);
    if ((rc = load_genres(run, dir, &g)) < 0)
        goto out;
    if ((rc = open_optional(run, dir, "u.item", path)) < 0)
        goto out;
    if (rc > 0) {
        char *line;
        size_t len;
        while ((rc = rec_import_next(run, &line, &len)) > 0)
            if (len > 0 && (rc = ml100k_item(run, line, &g)) < 0)
                break;
        rec_import_close(run);
        if (rc < 0)
            goto out;
    }
    if ((rc = open_optional(run, dir, "u.user", path)) < 0)
        goto out;
    if (rc > 0 && (rc = each_line(run, ml100k_user)) < 0)
        goto out;
    if ((rc = open_in(run, dir, "u.data", path)) < 0)
        goto out;
    rc = read_ratings(run, "\t");
out:
    genres_free(&g);
    return rc;
}

/* ---- MovieLens 1M ------------------------------------------------------------------------ */

static int ml1m_item(struct rec_import_run *run, char *line)
{
    /* id::title::genres, split at the first and the last "::" so a title may hold "::" */
    char *a = strstr(line, "::");
    char *b = NULL;
    for (char *p = a ? strstr(a + 2, "::") : NULL; p; p = strstr(p + 1, "::"))
        b = p;
    if (!a || !b) {
        rec_import_reject(run, "expected MovieID::Title::Genres");
        return REC_OK;
    }
    *a = *b = '\0';
    char *id = line, *title = a + 2, *genres = b + 2;
    id = trim(id);
    title = trim(title);
    if (bad_id(run, id, "item id"))
        return REC_OK;
    const char *cats[MAX_GENRES];
    char *gf[MAX_GENRES];
    int n_cats = 0;
    if (*genres && strcmp(genres, "(no genres listed)") != 0) {
        int n = rec_import_split(genres, "|", gf, MAX_GENRES);
        for (int i = 0; i < n && i < MAX_GENRES; i++)
            if (*gf[i])
                cats[n_cats++] = gf[i];
    }
    int64_t ts = 0;
    int has_ts = title_year(title, &ts) == 0;
    json_t *doc = item_doc(id, title, cats, n_cats, has_ts, ts, NULL);
    if (!doc)
        return oom(run);
    return rec_import_emit_item(run, id, doc);
}

static int ml1m_user(struct rec_import_run *run, char *line)
{
    char *f[5];
    int64_t age, occ;
    int n = rec_import_split(line, "::", f, 5);
    if (n != 5) {
        rec_import_reject(run, "expected UserID::Gender::Age::Occupation::Zip, got %d fields", n);
        return REC_OK;
    }
    if (bad_id(run, f[0], "user id"))
        return REC_OK;
    if (rec_import_parse_i64(f[2], &age) != 0 || age < 0 || age > 150) {
        rec_import_reject(run, "age \"%.16s\" is not an integer in 0..150", f[2]);
        return REC_OK;
    }
    if (rec_import_parse_i64(f[3], &occ) != 0 || occ < 0 || occ >= COUNT(ml1m_occupations)) {
        rec_import_reject(run, "occupation \"%.16s\" is not a code 0..%d", f[3],
                          COUNT(ml1m_occupations) - 1);
        return REC_OK;
    }
    json_t *attrs = json_pack("{s:I}", "age", (json_int_t)age);
    if (!attrs || set_text(attrs, "gender", f[1]) ||
        json_object_set_new(attrs, "occupation", json_string(ml1m_occupations[occ])) ||
        set_text(attrs, "zip", f[4])) {
        json_decref(attrs);
        return oom(run);
    }
    json_t *doc = json_pack("{s:s,s:o}", "id", f[0], "attributes", attrs);
    if (!doc)
        return oom(run);
    return rec_import_emit_user(run, f[0], doc);
}

static int ratings_name(const char *name)
{
    size_t n = strlen(name);
    if (strncmp(name, "ratings", 7) != 0)
        return 0;
    return (n >= 11 && strcmp(name + n - 4, ".dat") == 0) ||
           (n >= 15 && strcmp(name + n - 8, ".dat.zst") == 0);
}

/* ratings.dat[.zst], else the alphabetically first ratings*.dat[.zst] (a partial copy such as
 * ratings.users0001-2999.dat.zst). 0 or REC_ENOTFOUND. */
static int find_ratings(const char *dir, char *path)
{
    if (rec_reader_find(dir, "ratings.dat", path, PATH_CAP) == 0)
        return REC_OK;
    DIR *d = opendir(dir);
    if (!d)
        return REC_ENOTFOUND;
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ratings_name(e->d_name) || strlen(e->d_name) >= sizeof best)
            continue;
        if (!best[0] || strcmp(e->d_name, best) < 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0])
        return REC_ENOTFOUND;
    int n = snprintf(path, PATH_CAP, "%s/%s", dir, best);
    return n > 0 && n < PATH_CAP ? REC_OK : REC_ENOTFOUND;
}

int rec_import_ml1m(struct rec_import_run *run, const char *dir)
{
    char path[PATH_CAP], ratings[PATH_CAP];
    int rc;
    if (find_ratings(dir, ratings) != 0)
        return rec_errf(run->err, run->errlen, REC_ENOTFOUND,
                        "%s: no ratings.dat or ratings*.dat[.zst]", dir);
    if ((rc = open_optional(run, dir, "movies.dat", path)) < 0)
        return rc;
    if (rc > 0 && (rc = each_line(run, ml1m_item)) < 0)
        return rc;
    if ((rc = open_optional(run, dir, "users.dat", path)) < 0)
        return rc;
    if (rc > 0 && (rc = each_line(run, ml1m_user)) < 0)
        return rc;
    if ((rc = rec_import_open(run, ratings)) < 0)
        return rc;
    return read_ratings(run, "::");
}
