/* meta.h: what the ranking stages need to know about items and users beyond their events:
 * an item's categories, tags, publication time and document (for rules), and a user's
 * preferences (excluded categories and tags, preferred categories).
 *
 * Documents are parsed outside the engine's lock into a draft (names, not ids); installing a
 * draft interns the names in the engine's category and tag maps and must hold the write lock.
 */
#ifndef REC_SERVE_META_H
#define REC_SERVE_META_H

#include <stddef.h>
#include <stdint.h>

#define REC_META_MAX_CATS 8
#define REC_META_MAX_TAGS 16
#define REC_PREFS_MAX 64           /* entries of each preference list */

struct rec_engine;

struct item_meta {
    void *json;                    /* json_t: the item document plus "id"; rules read it */
    int32_t cat[REC_META_MAX_CATS];/* category ids (engine->cat_ids), document order */
    int n_cat;
    int32_t tag[REC_META_MAX_TAGS];
    int n_tag;
    int64_t published_at;          /* Unix seconds, 0 when unknown */
};

struct user_prefs {
    int32_t exclude_cat[REC_PREFS_MAX], exclude_tag[REC_PREFS_MAX], prefer_cat[REC_PREFS_MAX];
    int n_exclude_cat, n_exclude_tag, n_prefer_cat;
    void *json;                    /* json_t: the preferences object as given (GET returns it) */
};

struct meta_draft;                 /* parsed, not yet interned */

/* Parses an item document (JSON text) for item id: NULL when doc is NULL or not an object,
 * or on ENOMEM (*rc set). Lock-free. */
struct meta_draft *rec_meta_item_draft(const char *id, const char *doc, int *rc);
/* Parses the "preferences" object of a user document, or a bare preferences object
 * (bare = 1). NULL when there is none. */
struct meta_draft *rec_meta_prefs_draft(const char *doc, int bare, int *rc);
void rec_meta_draft_free(struct meta_draft *d);

/* Installs d (taken, may be NULL: clears) as item i's meta / user u's prefs. Write lock held.
 * 0 or REC_ENOMEM (then the old state stays). */
int rec_meta_install_item(struct rec_engine *e, int32_t i, struct meta_draft *d);
int rec_meta_install_prefs(struct rec_engine *e, int32_t u, struct meta_draft *d);

void rec_meta_item_free(struct item_meta *m);
void rec_meta_prefs_free(struct user_prefs *p);

/* Checks a preferences object: only exclude_categories, exclude_tags, prefer_categories, each
 * an array of at most REC_PREFS_MAX non-empty strings. 0 or REC_EINVAL with the reason. */
int rec_meta_prefs_check(const void *json, char *err, size_t errlen);

#endif
