/* meta.c: see meta.h. */
#include "serve/meta.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "serve/engine_impl.h"

struct meta_draft {
    json_t *json;                           /* item document + id, or the preferences object */
    const char *cat[REC_PREFS_MAX];         /* items: categories; prefs: exclude_categories */
    const char *tag[REC_PREFS_MAX];         /* items: tags; prefs: exclude_tags */
    const char *prefer[REC_PREFS_MAX];      /* prefs: prefer_categories */
    int n_cat, n_tag, n_prefer;
    int64_t published_at;
};

void rec_meta_draft_free(struct meta_draft *d)
{
    if (!d)
        return;
    json_decref(d->json);
    free(d);
}

/* Non-empty strings of array a into out (borrowed from a), up to max. */
static int strings(const json_t *a, const char **out, int max)
{
    int n = 0;
    size_t k;
    json_t *v;
    if (json_is_string(a) && json_string_length(a) > 0) {
        out[0] = json_string_value(a);
        return 1;
    }
    json_array_foreach(a, k, v) {
        if (n < max && json_is_string(v) && json_string_length(v) > 0)
            out[n++] = json_string_value(v);
    }
    return n;
}

/* published_at as Unix seconds (a number, milliseconds above 1e11) or 0. */
static int64_t published(const json_t *v)
{
    if (!json_is_number(v))
        return 0;
    double t = json_number_value(v);
    if (t > 1e11)
        t /= 1000.0; /* milliseconds */
    /* beyond 2100 (or not a time at all) is unknown; the bound also keeps the conversion to
     * int64_t defined (a fuzzer's 1e300 made it undefined) */
    if (!isfinite(t) || t < 0 || t > 4102444800.0)
        return 0;
    return (int64_t)t;
}

struct meta_draft *rec_meta_item_draft(const char *id, const char *doc, int *rc)
{
    *rc = 0;
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    struct meta_draft *d = calloc(1, sizeof *d);
    if (!d || json_object_set_new(j, "id", json_string(id))) {
        json_decref(j);
        free(d);
        *rc = REC_ENOMEM;
        return NULL;
    }
    d->json = j;
    d->n_cat = strings(json_object_get(j, "categories"), d->cat, REC_META_MAX_CATS);
    d->n_tag = strings(json_object_get(j, "tags"), d->tag, REC_META_MAX_TAGS);
    d->published_at = published(json_object_get(j, "published_at"));
    return d;
}

struct meta_draft *rec_meta_prefs_draft(const char *doc, int bare, int *rc)
{
    *rc = 0;
    json_t *root = doc ? json_loads(doc, 0, NULL) : NULL;
    json_t *p = bare ? root : json_object_get(root, "preferences");
    if (!json_is_object(p) || json_object_size(p) == 0) {
        json_decref(root);
        return NULL;
    }
    struct meta_draft *d = calloc(1, sizeof *d);
    if (!d) {
        json_decref(root);
        *rc = REC_ENOMEM;
        return NULL;
    }
    d->json = json_incref(p);
    json_decref(root);
    d->n_cat = strings(json_object_get(p, "exclude_categories"), d->cat, REC_PREFS_MAX);
    d->n_tag = strings(json_object_get(p, "exclude_tags"), d->tag, REC_PREFS_MAX);
    d->n_prefer = strings(json_object_get(p, "prefer_categories"), d->prefer, REC_PREFS_MAX);
    return d;
}

static int intern(struct rec_idmap *m, const char *const *names, int n, int32_t *out)
{
    for (int k = 0; k < n; k++)
        if ((out[k] = rec_idmap_put(m, names[k], NULL)) < 0)
            return REC_ENOMEM;
    return 0;
}

void rec_meta_item_free(struct item_meta *m)
{
    if (!m)
        return;
    json_decref(m->json);
    free(m);
}

void rec_meta_prefs_free(struct user_prefs *p)
{
    if (!p)
        return;
    json_decref(p->json);
    free(p);
}

int rec_meta_install_item(struct rec_engine *e, int32_t i, struct meta_draft *d)
{
    struct item_meta *m = NULL;
    if (d) {
        if (!(m = calloc(1, sizeof *m)) || intern(&e->cat_ids, d->cat, d->n_cat, m->cat) ||
            intern(&e->tag_ids, d->tag, d->n_tag, m->tag)) {
            free(m);
            rec_meta_draft_free(d);
            return REC_ENOMEM;
        }
        m->n_cat = d->n_cat;
        m->n_tag = d->n_tag;
        m->published_at = d->published_at;
        m->json = d->json;
        d->json = NULL;
        rec_meta_draft_free(d);
    }
    rec_meta_item_free(e->items[i].meta);
    e->items[i].meta = m;
    return 0;
}

int rec_meta_install_prefs(struct rec_engine *e, int32_t u, struct meta_draft *d)
{
    struct user_prefs *p = NULL;
    if (d) {
        if (!(p = calloc(1, sizeof *p)) || intern(&e->cat_ids, d->cat, d->n_cat, p->exclude_cat) ||
            intern(&e->tag_ids, d->tag, d->n_tag, p->exclude_tag) ||
            intern(&e->cat_ids, d->prefer, d->n_prefer, p->prefer_cat)) {
            free(p);
            rec_meta_draft_free(d);
            return REC_ENOMEM;
        }
        p->n_exclude_cat = d->n_cat;
        p->n_exclude_tag = d->n_tag;
        p->n_prefer_cat = d->n_prefer;
        p->json = d->json;
        d->json = NULL;
        rec_meta_draft_free(d);
    }
    rec_meta_prefs_free(e->users[u].prefs);
    e->users[u].prefs = p;
    return 0;
}

int rec_meta_prefs_check(const void *json, char *err, size_t errlen)
{
    static const char *const keys[] = {"exclude_categories", "exclude_tags", "prefer_categories"};
    const json_t *o = json;
    if (!json_is_object(o))
        return rec_errf(err, errlen, REC_EINVAL, "preferences must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        size_t k = 0;
        while (k < 3 && strcmp(key, keys[k]))
            k++;
        if (k == 3)
            return rec_errf(err, errlen, REC_EINVAL, "unknown field \"%.64s\" (known: "
                            "exclude_categories, exclude_tags, prefer_categories)", key);
        if (!json_is_array(v) || json_array_size(v) > REC_PREFS_MAX)
            return rec_errf(err, errlen, REC_EINVAL, "\"%s\" must be an array of at most %d strings",
                            key, REC_PREFS_MAX);
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s) {
            if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > 256)
                return rec_errf(err, errlen, REC_EINVAL,
                                "\"%s\"[%zu] must be a non-empty string of at most 256 bytes", key, i);
        }
    }
    return 0;
}
