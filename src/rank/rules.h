/* rules.h: business rules (filters, boosts, buries, pins, blocks) from a JSON file, validated
 * once at load time and evaluated per candidate item at serving time.
 *
 * The file:
 *
 *   {"rules": [                                     at most REC_RULES_MAX rules, in order
 *     {"name": "available-only",                    required, unique, 1..63 bytes of
 *                                                   [A-Za-z0-9_.-] (as experiment names)
 *      "enabled": true,                             optional, default true
 *      "filter": COND},                             items must satisfy COND to stay
 *     {"name": "b", "boost": 1.5, "when": COND},    score multiplier > 1 where COND holds
 *     {"name": "c", "bury": 0.5, "when": COND},     score multiplier in (0, 1) where COND holds
 *     {"name": "d", "pin": [{"item": "i42", "position": 1}], "when": COND},  "when" optional
 *     {"name": "e", "block": ["i13", "i14"], "when": COND}]}                 "when" optional
 *
 * A rule has exactly one action (filter, boost, bury, pin, block); any other key is an error.
 * "when" is required for boost and bury, optional for pin and block, and not allowed with filter
 * (the filter is the condition). Pin positions are 1-based, 1..REC_RULES_POSITION_MAX, unique
 * within a rule; item ids follow rec_event_check_id (1..REC_ID_MAX bytes, no control chars).
 *
 * COND is an object with exactly one key:
 *   {"all": [COND, ...]}  {"any": [COND, ...]}      non-empty arrays
 *   {"not": COND}
 *   {FIELD: {OP: OPERAND}}                          exactly one operator
 * nested at most REC_RULES_MAX_DEPTH conditions deep.
 *
 * FIELD (at most REC_RULES_FIELD_MAX bytes) and where it is read:
 *   item.id, item.title                 item["id"], item["title"]            strings
 *   item.categories, item.tags          item["categories"], item["tags"]     arrays of strings
 *   item.age_days, item.published_at    item["age_days"], item["published_at"]  numbers
 *   item.attributes.NAME                item["attributes"][NAME]             any type
 *   user.id                             user["id"]                           string
 *   user.attributes.NAME                user["attributes"][NAME]             any type
 *   context.NAME                        ctx[NAME] (device, hour, weekday, region, session,
 *                                       referrer or anything the client sends)  any type
 * NAME is the rest of the path taken literally (dots included: item.attributes.a.b reads the
 * attribute "a.b"); it is not empty.
 *
 * OP and OPERAND:
 *   eq, ne                 a string, number or boolean: equal (ne: not equal)
 *   lt, lte, gt, gte       a number
 *   between                [lo, hi], numbers, lo <= hi: lo <= value <= hi
 *   in, not_in             a non-empty array of strings, numbers or booleans
 *   contains               a string, number or boolean: the field is an array holding it
 *   exists                 true or false
 * Fields of a known type narrow this at load time: a string field takes eq, ne, in, not_in and
 * exists with string operands; a number field takes everything but contains, with numbers; an
 * array field takes contains (a string) and exists.
 *
 * Evaluation. A value equals an operand only when both are numbers (compared as doubles), both
 * strings (byte-wise) or both booleans; order comparisons need a number. A field is MISSING when
 * its object is NULL, a key on its way is absent or not in an object, or its value is JSON null.
 * A missing field, or one of the wrong type, makes every operator false except ne, not_in and
 * exists:false, which are true: ne and not_in are exactly the negations of eq and in, and exists
 * is true iff the field is not missing. contains is false on a value that is not an array.
 *
 * Every validation error reads `<source>:<line>: <path>: <why>`, e.g.
 *   rules.json:7: rules[3].when.all[1]["item.age_days"]: unknown operator "lte2" (known: ...)
 * where path is a JSON path in the syntax of jsonpos.h and line is where the offending value
 * starts (for an unknown key: that key's value; for a missing key: the object that lacks it).
 * Syntax errors read `<source>:<line>:<column>: <jansson's message>`.
 */
#ifndef REC_RANK_RULES_H
#define REC_RANK_RULES_H

#include <stddef.h>
#include <stdint.h>

#define REC_RULES_NAME_MAX 64        /* bytes of a rule name, NUL included */
#define REC_RULES_MAX 1024           /* rules in a file */
#define REC_RULES_MAX_DEPTH 16       /* conditions nested in one another */
#define REC_RULES_FIELD_MAX 128      /* bytes of a field path */
#define REC_RULES_POSITION_MAX 10000 /* largest pin position */
#define REC_RULES_FILE_MAX (16 << 20) /* bytes of a file rec_rules_load reads */

/* Parsed rules: immutable once built, so any number of threads may evaluate one concurrently. */
struct rec_rules;

/* Parses and validates the rules in text (len bytes, no NUL needed). source names the text in
 * messages ("rules.json"; NULL reads "rules"). On success *out is a new struct the caller frees
 * with rec_rules_free. Returns 0, REC_EINVAL with a message in err (format above), or
 * REC_ENOMEM; *out is NULL on failure. Disabled rules are validated as fully as enabled ones.
 * Thread-safe. */
int rec_rules_parse(const char *text, size_t len, const char *source, struct rec_rules **out,
                    char *err, size_t errlen);

/* As rec_rules_parse for the file at path (at most REC_RULES_FILE_MAX bytes), with path as the
 * source. Returns also REC_ENOTFOUND (no such file), REC_EIO (unreadable) or REC_ETOOBIG; every
 * message starts with the path. Thread-safe, but uses strerror. */
int rec_rules_load(const char *path, struct rec_rules **out, char *err, size_t errlen);

/* Frees r and everything it owns; NULL is a no-op. Invalidates every pointer r handed out
 * (names, pin item ids). */
void rec_rules_free(struct rec_rules *r);

/* Number of rules in the file, disabled ones included (rule indices are file positions);
 * 0 for NULL. Thread-safe. */
int rec_rules_count(const struct rec_rules *r);

/* Name of rule i, or NULL when i is out of range or r is NULL. Lives as long as r. Thread-safe. */
const char *rec_rules_name(const struct rec_rules *r, int i);

/* What the rules do to one candidate. */
struct rec_rule_effect {
    int keep;              /* 0: a filter or a block removed it */
    double multiplier;     /* product of the boosts and buries that applied; 1 when none */
    int removed_by;        /* index of the rule that removed it, -1 when kept */
    uint64_t applied_mask; /* bit i: rule i applied (first 64 rules), for debug output */
};

/* Evaluates the enabled filter, block, boost and bury rules in file order for one candidate.
 * item, item_extra, user and ctx are jansson json_t objects; any may be NULL, and then its
 * fields are missing. item is the item document; item_extra holds what the caller computes per
 * request ("id" when the document lacks it, "age_days") and shadows the document's top-level
 * keys, so a shared, read-only document needs no per-candidate copy. user is {"id",
 * "attributes"}; ctx is the request context.
 * A filter removes the item when its condition is false, a block when the item's id is listed
 * and its "when" holds (or it has none); evaluation stops at the first removal, so the rules
 * after it set no bits. A rule applied when it removed the item or, for a boost or bury, when
 * its "when" held. Pin rules are not evaluated here (see rec_rules_pins; a pinned item may also
 * be a candidate, which the caller resolves). r NULL keeps everything with multiplier 1.
 * Does not allocate; thread-safe (r and the objects are only read). */
void rec_rules_apply(const struct rec_rules *r, const void *item, const void *item_extra,
                     const void *user, const void *ctx, struct rec_rule_effect *out);

struct rec_rule_pin {
    const char *item; /* item id, owned by the rules */
    int position;     /* 1-based */
    int rule;         /* index of the rule */
};

/* Pins of the enabled pin rules whose "when" holds for (user, ctx) (validation forbids item
 * fields there), in rule order and within a rule in file order: writes the first max of them to
 * out and returns how many it wrote (0..max; out may be NULL when max <= 0; 0 when r is NULL).
 * Several rules may pin the same position or item: the caller decides (e.g. first wins).
 * Does not allocate; thread-safe. */
int rec_rules_pins(const struct rec_rules *r, const void *user, const void *ctx,
                   struct rec_rule_pin *out, int max);

#endif
