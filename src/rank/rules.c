/* rules.c: the business rules file and its evaluation (see rules.h).
 *
 * Parsing compiles each condition into a tree of struct cond whose field references are already
 * split into (source object, key, key): evaluation is a walk over that tree with json_object_get
 * lookups, no string parsing and no allocation. Strings (operands, attribute names, pin ids) point
 * into the parsed document, which the rules keep alive and never modify. "in" sets and block
 * lists are sorted at load time and searched by bisection, since a block list may hold thousands
 * of ids and is consulted for every candidate.
 *
 * Validation errors carry the JSON path of the offending value, built on the way down in one
 * buffer (push/pop), and the line where that value starts, found by rec_jsonpos_line in the
 * original text. No mutable globals.
 */
#include "rank/rules.h"

#include "core/err.h"
#include "core/file.h"
#include "ingest/event.h"
#include "rank/jsonpos.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest JSON path: "rules[1023]" + 16 condition levels of at most ".all[N]" (N < 2^32) + a
 * field of 128 bytes escaped up to 6 bytes each + an operator and an element index. */
#define PATH_CAP 2048
#define LIST_MAX 256 /* bytes of a "(known: ...)" list in a message */

/* ---- tables ------------------------------------------------------------------------------ */

enum src { SRC_ITEM, SRC_USER, SRC_CTX };

/* What a field holds as far as the rules know; selects the operators and operand types. */
enum { F_STR = 1, F_NUM = 2, F_LIST = 4, F_ANY = 8 };
/* JSON types of a scalar operand. */
enum { V_STR = 1, V_NUM = 2, V_BOOL = 4 };

static const struct field_def {
    const char *name; /* the field path, or for a family its prefix (ending in '.') */
    unsigned char src, kind, family;
    const char *key; /* the key read in the source object (family: before the name) */
} field_defs[] = {
    {"item.id", SRC_ITEM, F_STR, 0, "id"},
    {"item.categories", SRC_ITEM, F_LIST, 0, "categories"},
    {"item.tags", SRC_ITEM, F_LIST, 0, "tags"},
    {"item.age_days", SRC_ITEM, F_NUM, 0, "age_days"},
    {"item.published_at", SRC_ITEM, F_NUM, 0, "published_at"},
    {"item.title", SRC_ITEM, F_STR, 0, "title"},
    {"item.attributes.", SRC_ITEM, F_ANY, 1, "attributes"},
    {"user.id", SRC_USER, F_STR, 0, "id"},
    {"user.attributes.", SRC_USER, F_ANY, 1, "attributes"},
    {"context.", SRC_CTX, F_ANY, 1, NULL},
};
#define N_FIELDS (sizeof field_defs / sizeof field_defs[0])

enum op { OP_EQ, OP_NE, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_BETWEEN, OP_IN, OP_NOT_IN, OP_CONTAINS,
          OP_EXISTS, OP__COUNT };
enum arg { ARG_SCALAR, ARG_NUMBER, ARG_RANGE, ARG_LIST, ARG_BOOL };

static const struct op_def {
    const char *name;
    unsigned char arg; /* enum arg */
    unsigned char on;  /* F_* kinds of field it applies to */
} op_defs[OP__COUNT] = {
    [OP_EQ] = {"eq", ARG_SCALAR, F_STR | F_NUM | F_ANY},
    [OP_NE] = {"ne", ARG_SCALAR, F_STR | F_NUM | F_ANY},
    [OP_LT] = {"lt", ARG_NUMBER, F_NUM | F_ANY},
    [OP_LTE] = {"lte", ARG_NUMBER, F_NUM | F_ANY},
    [OP_GT] = {"gt", ARG_NUMBER, F_NUM | F_ANY},
    [OP_GTE] = {"gte", ARG_NUMBER, F_NUM | F_ANY},
    [OP_BETWEEN] = {"between", ARG_RANGE, F_NUM | F_ANY},
    [OP_IN] = {"in", ARG_LIST, F_STR | F_NUM | F_ANY},
    [OP_NOT_IN] = {"not_in", ARG_LIST, F_STR | F_NUM | F_ANY},
    [OP_CONTAINS] = {"contains", ARG_SCALAR, F_LIST | F_ANY},
    [OP_EXISTS] = {"exists", ARG_BOOL, F_STR | F_NUM | F_LIST | F_ANY},
};

enum action { ACT_FILTER, ACT_BOOST, ACT_BURY, ACT_PIN, ACT_BLOCK, ACT__COUNT };
static const char *const action_names[ACT__COUNT] = {"filter", "boost", "bury", "pin", "block"};

static const char *const file_keys[] = {"rules", NULL};
static const char *const rule_keys[] = {"name", "enabled", "filter", "boost", "bury",
                                        "pin",  "block",   "when",   NULL};
static const char *const pin_keys[] = {"item", "position", NULL};

/* ---- compiled rules ---------------------------------------------------------------------- */

struct scalar {
    unsigned char type; /* V_* */
    int b;
    double num;
    const char *str;
};

/* Operand of in / not_in, or a block list: sorted for bisection. */
struct set {
    const char **strs;
    double *nums;
    size_t n_strs, n_nums;
    unsigned char has_true, has_false;
};

enum cond_kind { COND_ALL, COND_ANY, COND_NOT, COND_TEST };

struct cond {
    unsigned char kind; /* enum cond_kind */
    unsigned char op;   /* COND_TEST: enum op */
    unsigned char src;  /* COND_TEST: enum src */
    int n_kids;         /* all/any: >= 1; not: 1 */
    struct cond *kids;
    const char *key1, *key2; /* the field is src[key1], or src[key1][key2] when key2 */
    struct scalar arg;       /* eq ne contains: the operand; lt..gte exists: num, b; between: lo */
    double hi;               /* between */
    struct set set;          /* in, not_in */
};

struct rule {
    char name[REC_RULES_NAME_MAX];
    int action; /* enum action */
    int enabled;
    double factor;           /* boost, bury */
    struct cond *cond;       /* filter: the filter; else "when", NULL when absent (always) */
    struct rec_rule_pin *pins; /* pin */
    int n_pins;
    struct set block;        /* block: the item ids */
};

struct rec_rules {
    int n;
    struct rule *list; /* in file order */
    json_t *root;      /* the parsed file: strings above point into it */
};

/* ---- evaluation -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_num(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int set_has(const struct set *s, const json_t *v)
{
    if (json_is_string(v)) {
        const char *key = json_string_value(v);
        return s->n_strs && bsearch(&key, s->strs, s->n_strs, sizeof *s->strs, cmp_str);
    }
    if (json_is_number(v)) {
        double x = json_number_value(v);
        return s->n_nums && bsearch(&x, s->nums, s->n_nums, sizeof *s->nums, cmp_num);
    }
    return json_is_true(v) ? s->has_true : json_is_false(v) ? s->has_false : 0;
}

static int equals(const json_t *v, const struct scalar *a)
{
    switch (a->type) {
    case V_STR: return json_is_string(v) && strcmp(json_string_value(v), a->str) == 0;
    case V_NUM: return json_is_number(v) && json_number_value(v) == a->num;
    default: return json_is_boolean(v) && json_is_true(v) == a->b;
    }
}

/* What a condition reads. */
struct subject {
    const json_t *item, *item_extra, *user, *ctx;
};

/* src[key] for the top-level key of a field: for the item, item_extra shadows the document. */
static const json_t *top_value(const struct subject *s, int src, const char *key)
{
    const json_t *v = NULL;
    switch (src) {
    case SRC_ITEM:
        if (s->item_extra)
            v = json_object_get(s->item_extra, key);
        if (!v && s->item)
            v = json_object_get(s->item, key);
        return v;
    case SRC_USER: return s->user ? json_object_get(s->user, key) : NULL;
    default: return s->ctx ? json_object_get(s->ctx, key) : NULL;
    }
}

/* The field's value, or NULL when it is missing (absent, not in an object, or null). */
static const json_t *field_value(const struct cond *k, const struct subject *s)
{
    const json_t *v = top_value(s, k->src, k->key1);
    if (v && k->key2)
        v = json_object_get(v, k->key2);
    return v && !json_is_null(v) ? v : NULL;
}

static int test(const struct cond *k, const struct subject *s)
{
    const json_t *v = field_value(k, s);
    double x = v && json_is_number(v) ? json_number_value(v) : 0;
    int num = v && json_is_number(v);
    switch (k->op) {
    case OP_EQ: return v && equals(v, &k->arg);
    case OP_NE: return !(v && equals(v, &k->arg));
    case OP_LT: return num && x < k->arg.num;
    case OP_LTE: return num && x <= k->arg.num;
    case OP_GT: return num && x > k->arg.num;
    case OP_GTE: return num && x >= k->arg.num;
    case OP_BETWEEN: return num && x >= k->arg.num && x <= k->hi;
    case OP_IN: return v && set_has(&k->set, v);
    case OP_NOT_IN: return !(v && set_has(&k->set, v));
    case OP_CONTAINS:
        if (v && json_is_array(v))
            for (size_t i = 0; i < json_array_size(v); i++)
                if (equals(json_array_get(v, i), &k->arg))
                    return 1;
        return 0;
    case OP_EXISTS: return (v != NULL) == k->arg.b;
    }
    return 0;
}

/* Recursion is bounded by REC_RULES_MAX_DEPTH, checked at load time. */
static int eval(const struct cond *k, const struct subject *s)
{
    switch (k->kind) {
    case COND_ALL:
        for (int i = 0; i < k->n_kids; i++)
            if (!eval(&k->kids[i], s))
                return 0;
        return 1;
    case COND_ANY:
        for (int i = 0; i < k->n_kids; i++)
            if (eval(&k->kids[i], s))
                return 1;
        return 0;
    case COND_NOT: return !eval(&k->kids[0], s);
    default: return test(k, s);
    }
}

void rec_rules_apply(const struct rec_rules *r, const void *item, const void *item_extra,
                     const void *user, const void *ctx, struct rec_rule_effect *out)
{
    out->keep = 1;
    out->multiplier = 1.0;
    out->removed_by = -1;
    out->applied_mask = 0;
    if (!r)
        return;
    const struct subject s = {item, item_extra, user, ctx};
    const json_t *id = top_value(&s, SRC_ITEM, "id");
    for (int i = 0; i < r->n; i++) {
        const struct rule *u = &r->list[i];
        int applied = 0, removed = 0;
        if (!u->enabled)
            continue;
        switch (u->action) {
        case ACT_FILTER: removed = !eval(u->cond, &s); break;
        case ACT_BLOCK:
            removed = id && json_is_string(id) && set_has(&u->block, id) &&
                      (!u->cond || eval(u->cond, &s));
            break;
        case ACT_BOOST:
        case ACT_BURY:
            applied = !u->cond || eval(u->cond, &s);
            if (applied)
                out->multiplier *= u->factor;
            break;
        default: continue; /* pins: rec_rules_pins */
        }
        if ((applied || removed) && i < 64)
            out->applied_mask |= UINT64_C(1) << i;
        if (removed) {
            out->keep = 0;
            out->removed_by = i;
            return;
        }
    }
}

int rec_rules_pins(const struct rec_rules *r, const void *user, const void *ctx,
                   struct rec_rule_pin *out, int max)
{
    if (!r)
        return 0;
    const struct subject s = {NULL, NULL, user, ctx};
    int n = 0;
    for (int i = 0; i < r->n && n < max; i++) {
        const struct rule *u = &r->list[i];
        if (!u->enabled || u->action != ACT_PIN || (u->cond && !eval(u->cond, &s)))
            continue;
        for (int j = 0; j < u->n_pins && n < max; j++)
            out[n++] = u->pins[j];
    }
    return n;
}

int rec_rules_count(const struct rec_rules *r)
{
    return r ? r->n : 0;
}

const char *rec_rules_name(const struct rec_rules *r, int i)
{
    return r && i >= 0 && i < r->n ? r->list[i].name : NULL;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void set_clear(struct set *s)
{
    free(s->strs);
    free(s->nums);
}

static void cond_clear(struct cond *k)
{
    for (int i = 0; i < k->n_kids; i++)
        cond_clear(&k->kids[i]);
    free(k->kids);
    set_clear(&k->set);
}

void rec_rules_free(struct rec_rules *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        struct rule *u = &r->list[i];
        if (u->cond) {
            cond_clear(u->cond);
            free(u->cond);
        }
        free(u->pins);
        set_clear(&u->block);
    }
    free(r->list);
    json_decref(r->root);
    free(r);
}

/* ---- parsing: context, paths and messages ------------------------------------------------ */

struct pctx {
    const char *text, *source;
    size_t len;
    char *err;
    size_t errlen;
    int in_pin;            /* parsing a pin rule's "when": no item fields */
    size_t plen;           /* strlen(path) */
    char path[PATH_CAP];   /* JSON path of the value being parsed (jsonpos.h syntax) */
};

/* Path components: push returns the length to pop back to. A component that does not fit is
 * left out, which only makes a message less precise (the caps above make it unreachable). */
static size_t push_key(struct pctx *c, const char *key)
{
    size_t old = c->plen;
    rec_jsonpos_add_key(c->path, sizeof c->path, &c->plen, key);
    return old;
}

static size_t push_index(struct pctx *c, size_t i)
{
    size_t old = c->plen;
    rec_jsonpos_add_index(c->path, sizeof c->path, &c->plen, i);
    return old;
}

static void pop(struct pctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

/* REC_EINVAL with "<source>:<line>: <path>: <why>". The line is that of the value at the path,
 * or at path.key when key is given (an unknown or misused key: point at it); when that value
 * does not exist (a missing key), that of its nearest enclosing value. */
static int fail(struct pctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct pctx *c, const char *key, const char *fmt, ...)
{
    char why[512], where[PATH_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    size_t n = c->plen;
    memcpy(where, c->path, n + 1);
    if (key)
        rec_jsonpos_add_key(where, sizeof where, &n, key);
    int line = rec_jsonpos_line(c->text, c->len, where);
    while (line == 0 && where[0]) {
        where[rec_jsonpos_parent(where)] = '\0';
        line = rec_jsonpos_line(c->text, c->len, where);
    }
    const char *path = c->plen ? c->path : "top level";
    if (line > 0)
        return rec_errf(c->err, c->errlen, REC_EINVAL, "%s:%d: %s: %s", c->source, line, path,
                        why);
    return rec_errf(c->err, c->errlen, REC_EINVAL, "%s: %s: %s", c->source, path, why);
}

static int oom(struct pctx *c)
{
    return rec_errf(c->err, c->errlen, REC_ENOMEM, "%s: out of memory", c->source);
}

/* Joins names[i] for the i whose bit is in mask (all when mask is ~0u) with ", ". */
static void join(char *buf, size_t cap, const char *const *names, size_t n, unsigned mask)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!(mask & (1u << i)) || !names[i])
            continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - used)
            return;
        used += (size_t)w;
    }
}

static void op_list(char *buf, size_t cap, unsigned kind)
{
    const char *names[OP__COUNT];
    unsigned mask = 0;
    for (int i = 0; i < OP__COUNT; i++) {
        names[i] = op_defs[i].name;
        if (op_defs[i].on & kind)
            mask |= 1u << i;
    }
    join(buf, cap, names, OP__COUNT, mask);
}

static void field_list(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_FIELDS; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s%s", i ? ", " : "", field_defs[i].name,
                         field_defs[i].family ? "<name>" : "");
        if (w < 0 || (size_t)w >= cap - used)
            return;
        used += (size_t)w;
    }
}

static int check_keys(struct pctx *c, const json_t *obj, const char *const *keys)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        size_t n = 0;
        while (keys[n] && strcmp(keys[n], key) != 0)
            n++;
        if (keys[n])
            continue;
        for (n = 0; keys[n]; n++)
            ;
        char expected[LIST_MAX];
        join(expected, sizeof expected, keys, n, ~0u);
        return fail(c, key, "unknown key \"%.64s\" (expected: %s)", key, expected);
    }
    return 0;
}

/* ---- parsing: conditions ----------------------------------------------------------------- */

static const char *scalar_desc(unsigned types)
{
    return types == V_STR ? "a string" : types == V_NUM ? "a number"
                                                        : "a string, a number or a boolean";
}

static const char *list_desc(unsigned types)
{
    return types == V_STR ? "a non-empty array of strings"
           : types == V_NUM ? "a non-empty array of numbers"
                            : "a non-empty array of strings, numbers or booleans";
}

static int get_scalar(const json_t *v, unsigned types, struct scalar *out)
{
    if ((types & V_STR) && json_is_string(v)) {
        out->type = V_STR;
        out->str = json_string_value(v);
    } else if ((types & V_NUM) && json_is_number(v)) {
        out->type = V_NUM;
        out->num = json_number_value(v);
    } else if ((types & V_BOOL) && json_is_boolean(v)) {
        out->type = V_BOOL;
        out->b = json_is_true(v);
    } else {
        return -1;
    }
    return 0;
}

/* Fills a sorted set from the array arr (already checked non-empty), whose elements must be of
 * types; ids: strings must also be valid item ids. The path names arr. */
static int parse_set(struct pctx *c, const json_t *arr, unsigned types, int ids, struct set *s)
{
    size_t n = json_array_size(arr);
    if (!(s->strs = calloc(n, sizeof *s->strs)) || !(s->nums = calloc(n, sizeof *s->nums)))
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        struct scalar a = {0};
        if (get_scalar(v, types, &a)) {
            size_t at = push_index(c, i);
            int rc = fail(c, NULL, "must be %s",
                          ids ? "an item id (a string)" : scalar_desc(types));
            pop(c, at);
            return rc;
        }
        char msg[160];
        if (ids && rec_event_check_id(a.str, "an item id", msg, sizeof msg)) {
            size_t at = push_index(c, i);
            int rc = fail(c, NULL, "%s", msg);
            pop(c, at);
            return rc;
        }
        if (a.type == V_STR)
            s->strs[s->n_strs++] = a.str;
        else if (a.type == V_NUM)
            s->nums[s->n_nums++] = a.num;
        else if (a.b)
            s->has_true = 1;
        else
            s->has_false = 1;
    }
    qsort(s->strs, s->n_strs, sizeof *s->strs, cmp_str);
    qsort(s->nums, s->n_nums, sizeof *s->nums, cmp_num);
    return 0;
}

/* The operand v of operator k->op on a field of kind; the path names the operand. */
static int parse_operand(struct pctx *c, const json_t *v, unsigned kind, struct cond *k)
{
    /* the types a value of this field can have: what eq, in and contains may compare with */
    unsigned types = kind == F_NUM ? V_NUM : kind == F_ANY ? (V_STR | V_NUM | V_BOOL) : V_STR;
    switch (op_defs[k->op].arg) {
    case ARG_SCALAR:
        if (get_scalar(v, types, &k->arg))
            return fail(c, NULL, "must be %s", scalar_desc(types));
        return 0;
    case ARG_NUMBER:
        if (get_scalar(v, V_NUM, &k->arg))
            return fail(c, NULL, "must be a number");
        return 0;
    case ARG_RANGE:
        if (json_array_size(v) != 2 || get_scalar(json_array_get(v, 0), V_NUM, &k->arg) ||
            !json_is_number(json_array_get(v, 1)) ||
            (k->hi = json_number_value(json_array_get(v, 1))) < k->arg.num)
            return fail(c, NULL, "must be [lo, hi]: two numbers with lo <= hi");
        return 0;
    case ARG_LIST:
        if (json_array_size(v) == 0)
            return fail(c, NULL, "must be %s", list_desc(types));
        return parse_set(c, v, types, 0, &k->set);
    default:
        if (get_scalar(v, V_BOOL, &k->arg))
            return fail(c, NULL, "must be true or false");
        return 0;
    }
}

/* {FIELD: {OP: OPERAND}}: the path names the condition object. */
static int parse_test(struct pctx *c, const char *field, const json_t *v, struct cond *k)
{
    const struct field_def *f = NULL;
    size_t flen = strlen(field);
    for (size_t i = 0; i < N_FIELDS && !f; i++) {
        size_t n = strlen(field_defs[i].name);
        if (field_defs[i].family ? strncmp(field, field_defs[i].name, n) == 0 && flen > n
                                 : strcmp(field, field_defs[i].name) == 0)
            f = &field_defs[i];
    }
    if (flen > REC_RULES_FIELD_MAX)
        return fail(c, field, "field path \"%.64s...\" is longer than %d bytes", field,
                    REC_RULES_FIELD_MAX);
    if (!f) {
        char known[LIST_MAX];
        field_list(known, sizeof known);
        return fail(c, field, "unknown field \"%.64s\" (a condition is all, any, not or one of: "
                    "%s)", field, known);
    }
    if (c->in_pin && f->src == SRC_ITEM)
        return fail(c, field, "the \"when\" of a pin cannot use item fields (%.64s): pins are "
                    "chosen once per request, not per item", field);
    k->kind = COND_TEST;
    k->src = f->src;
    k->key1 = f->family && !f->key ? field + strlen(f->name) : f->key;
    k->key2 = f->family && f->key ? field + strlen(f->name) : NULL;

    size_t at = push_key(c, field);
    char known[LIST_MAX];
    int rc;
    if (!json_is_object(v) || json_object_size(v) != 1) {
        op_list(known, sizeof known, F_ANY);
        rc = fail(c, NULL, "must be an object with one operator, such as {\"eq\": ...} "
                  "(known: %s)", known);
        goto out;
    }
    void *it = json_object_iter((json_t *)v);
    const char *op = json_object_iter_key(it);
    int i = 0;
    while (i < OP__COUNT && strcmp(op_defs[i].name, op) != 0)
        i++;
    if (i == OP__COUNT) {
        op_list(known, sizeof known, F_ANY);
        rc = fail(c, op, "unknown operator \"%.64s\" (known: %s)", op, known);
        goto out;
    }
    if (!(op_defs[i].on & f->kind)) {
        op_list(known, sizeof known, f->kind);
        rc = fail(c, op, "\"%s\" does not apply to %s, which is %s (use: %s)", op, field,
                  f->kind == F_STR ? "a string" : f->kind == F_NUM ? "a number" : "an array",
                  known);
        goto out;
    }
    k->op = (unsigned char)i;
    push_key(c, op);
    rc = parse_operand(c, json_object_iter_value(it), f->kind, k);
out:
    pop(c, at);
    return rc;
}

/* A condition; the path names v; depth counts the conditions from the rule down (1 for the
 * outermost). */
static int parse_cond(struct pctx *c, const json_t *v, struct cond *k, int depth)
{
    if (depth > REC_RULES_MAX_DEPTH)
        return fail(c, NULL, "conditions are nested more than %d deep", REC_RULES_MAX_DEPTH);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return fail(c, NULL, "a condition must be an object with exactly one key: \"all\", "
                    "\"any\", \"not\" or a field such as \"item.categories\"");
    void *it = json_object_iter((json_t *)v);
    const char *key = json_object_iter_key(it);
    const json_t *val = json_object_iter_value(it);
    int all = strcmp(key, "all") == 0, any = strcmp(key, "any") == 0;
    if (!all && !any && strcmp(key, "not") != 0)
        return parse_test(c, key, val, k);

    size_t at = push_key(c, key);
    int rc = 0;
    size_t n = all || any ? json_array_size(val) : 1;
    if ((all || any) && n == 0) {
        rc = fail(c, NULL, "must be a non-empty array of conditions");
        goto out;
    }
    k->kind = all ? COND_ALL : any ? COND_ANY : COND_NOT;
    if (!(k->kids = calloc(n, sizeof *k->kids))) {
        rc = oom(c);
        goto out;
    }
    k->n_kids = (int)n; /* zeroed kids are safe to clear when a sibling fails */
    if (!all && !any) {
        rc = parse_cond(c, val, &k->kids[0], depth + 1);
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t at2 = push_index(c, i);
        rc = parse_cond(c, json_array_get(val, i), &k->kids[i], depth + 1);
        pop(c, at2);
    }
out:
    pop(c, at);
    return rc;
}

/* ---- parsing: rules ---------------------------------------------------------------------- */

/* 1..63 bytes of [A-Za-z0-9_.-] */
static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return n >= 1 && n < REC_RULES_NAME_MAX;
}

/* "name" of rule i, unique among the rules before it; the path names the rule. */
static int parse_name(struct pctx *c, const struct rec_rules *r, int i, const json_t *ro)
{
    const json_t *v = json_object_get(ro, "name");
    size_t at = push_key(c, "name");
    int rc = 0;
    if (!v)
        rc = fail(c, NULL, "missing");
    else if (!json_is_string(v) || !name_ok(json_string_value(v)))
        rc = fail(c, NULL, "must be a string of 1..%d bytes of [A-Za-z0-9_.-]",
                  REC_RULES_NAME_MAX - 1);
    for (int j = 0; j < i && rc == 0; j++)
        if (strcmp(r->list[j].name, json_string_value(v)) == 0)
            rc = fail(c, NULL, "\"%s\" is already used by rules[%d]", r->list[j].name, j);
    if (rc == 0)
        snprintf(r->list[i].name, sizeof r->list[i].name, "%s", json_string_value(v));
    pop(c, at);
    return rc;
}

/* "pin": [{"item": ID, "position": N}, ...]; the path names the array. */
static int parse_pins(struct pctx *c, struct rule *u, int ri, const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return fail(c, NULL, "must be a non-empty array of {\"item\": ID, \"position\": N}");
    if (!(u->pins = calloc(n, sizeof *u->pins)))
        return oom(c);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *po = json_array_get(arr, i);
        size_t at = push_index(c, i);
        if (!json_is_object(po)) {
            rc = fail(c, NULL, "must be an object {\"item\": ID, \"position\": N}");
        } else if (!(rc = check_keys(c, po, pin_keys))) {
            const json_t *item = json_object_get(po, "item");
            const json_t *pos = json_object_get(po, "position");
            json_int_t p = json_is_integer(pos) ? json_integer_value(pos) : 0;
            char msg[160];
            size_t at2 = push_key(c, "item");
            if (!item)
                rc = fail(c, NULL, "missing");
            else if (!json_is_string(item))
                rc = fail(c, NULL, "must be an item id (a string)");
            else if (rec_event_check_id(json_string_value(item), "an item id", msg, sizeof msg))
                rc = fail(c, NULL, "%s", msg);
            pop(c, at2);
            push_key(c, "position");
            if (rc == 0 && !pos)
                rc = fail(c, NULL, "missing");
            else if (rc == 0 && (p < 1 || p > REC_RULES_POSITION_MAX))
                rc = fail(c, NULL, "must be an integer in 1..%d", REC_RULES_POSITION_MAX);
            pop(c, at2);
            for (size_t j = 0; j < i && rc == 0; j++) {
                if (u->pins[j].position == (int)p)
                    rc = fail(c, "position", "position %d is already taken by pin[%zu]", (int)p, j);
                else if (strcmp(u->pins[j].item, json_string_value(item)) == 0)
                    rc = fail(c, "item", "\"%s\" is already pinned by pin[%zu]",
                              json_string_value(item), j);
            }
            if (rc == 0)
                u->pins[u->n_pins++] = (struct rec_rule_pin){json_string_value(item), (int)p, ri};
        }
        pop(c, at);
    }
    return rc;
}

/* The action's value v (the path names the rule). */
static int parse_action(struct pctx *c, struct rule *u, int ri, const json_t *v)
{
    size_t at = push_key(c, action_names[u->action]);
    int rc = 0;
    switch (u->action) {
    case ACT_FILTER:
        if (!(u->cond = calloc(1, sizeof *u->cond)))
            rc = oom(c);
        else
            rc = parse_cond(c, v, u->cond, 1);
        break;
    case ACT_BOOST:
        if (!json_is_number(v) || !((u->factor = json_number_value(v)) > 1))
            rc = fail(c, NULL, "must be a number > 1 (a score multiplier)");
        break;
    case ACT_BURY:
        if (!json_is_number(v) || !((u->factor = json_number_value(v)) > 0 && u->factor < 1))
            rc = fail(c, NULL, "must be a number in (0, 1) (a score multiplier)");
        break;
    case ACT_PIN: rc = parse_pins(c, u, ri, v); break;
    default:
        if (json_array_size(v) == 0)
            rc = fail(c, NULL, "must be a non-empty array of item ids");
        else
            rc = parse_set(c, v, V_STR, 1, &u->block);
    }
    pop(c, at);
    return rc;
}

/* "when", per action: required for boost/bury, optional for pin/block, refused with filter. */
static int parse_when(struct pctx *c, struct rule *u, const json_t *when)
{
    size_t at = push_key(c, "when");
    int rc = 0;
    if (u->action == ACT_FILTER && when)
        rc = fail(c, NULL, "a filter takes no \"when\": the filter itself is the condition");
    else if ((u->action == ACT_BOOST || u->action == ACT_BURY) && !when)
        rc = fail(c, NULL, "missing: a %s needs a condition", action_names[u->action]);
    else if (u->action != ACT_FILTER && when) {
        if (!(u->cond = calloc(1, sizeof *u->cond)))
            rc = oom(c);
        c->in_pin = u->action == ACT_PIN;
        if (rc == 0)
            rc = parse_cond(c, when, u->cond, 1);
        c->in_pin = 0;
    }
    pop(c, at);
    return rc;
}

/* rules[i]; the path names it. */
static int parse_rule(struct pctx *c, struct rec_rules *r, int i, const json_t *ro)
{
    struct rule *u = &r->list[i];
    int rc;
    if (!json_is_object(ro))
        return fail(c, NULL, "must be an object {\"name\": ..., ACTION: ...}");
    if ((rc = check_keys(c, ro, rule_keys)) || (rc = parse_name(c, r, i, ro)))
        return rc;
    const json_t *en = json_object_get(ro, "enabled");
    if (en && !json_is_boolean(en)) {
        size_t at = push_key(c, "enabled");
        rc = fail(c, NULL, "must be true or false");
        pop(c, at);
        return rc;
    }
    u->enabled = !en || json_is_true(en);

    /* exactly one action; the second one found, in file order, is the one reported */
    const char *key, *first = NULL;
    json_t *val, *action = NULL;
    json_object_foreach((json_t *)ro, key, val) {
        for (int a = 0; a < ACT__COUNT; a++) {
            if (strcmp(key, action_names[a]) != 0)
                continue;
            if (first)
                return fail(c, key, "has both \"%s\" and \"%s\": a rule takes exactly one action",
                            first, key);
            first = key;
            action = val;
            u->action = a;
        }
    }
    if (!first)
        return fail(c, NULL, "needs an action: one of filter, boost, bury, pin, block");
    if ((rc = parse_action(c, u, i, action)))
        return rc;
    return parse_when(c, u, json_object_get(ro, "when"));
}

int rec_rules_parse(const char *text, size_t len, const char *source, struct rec_rules **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    if (!source)
        source = "rules";
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rec_errf(err, errlen, REC_EINVAL, "%s:%d:%d: %s", source, jerr.line, jerr.column,
                        jerr.text);
    struct pctx *c = malloc(sizeof *c);
    struct rec_rules *r = calloc(1, sizeof *r);
    int rc;
    if (!c || !r) {
        free(c);
        free(r);
        json_decref(root);
        return rec_errf(err, errlen, REC_ENOMEM, "%s: out of memory", source);
    }
    r->root = root; /* freed with r from here on */
    *c = (struct pctx){.text = text, .source = source, .len = len, .err = err, .errlen = errlen};
    if (!json_is_object(root)) {
        rc = fail(c, NULL, "must be an object {\"rules\": [...]}");
        goto out;
    }
    if ((rc = check_keys(c, root, file_keys)))
        goto out;
    const json_t *arr = json_object_get(root, "rules");
    push_key(c, "rules");
    if (!arr || !json_is_array(arr) || json_array_size(arr) > REC_RULES_MAX) {
        rc = arr ? fail(c, NULL, "must be an array of at most %d rules", REC_RULES_MAX)
                 : fail(c, NULL, "missing");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n > 0 && !(r->list = calloc(n, sizeof *r->list))) {
        rc = oom(c);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        r->n = (int)i + 1; /* a half-parsed rule is cleared by rec_rules_free */
        size_t at = push_index(c, i);
        if ((rc = parse_rule(c, r, (int)i, json_array_get(arr, i))))
            goto out;
        pop(c, at);
    }
    rc = 0;
out:
    free(c);
    if (rc) {
        rec_rules_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int rec_rules_load(const char *path, struct rec_rules **out, char *err, size_t errlen)
{
    *out = NULL;
    char *buf;
    size_t n;
    int rc = rec_file_read(path, REC_RULES_FILE_MAX, &buf, &n, err, errlen);
    if (rc == 0)
        rc = rec_rules_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}
