/* experiment.h: A/B experiments: the experiments file, its validation, and the deterministic
 * assignment of users to variants.
 *
 * The file (JSON, loaded by `recd serve --experiments FILE`):
 *
 *   {"experiments": [
 *     {"name": "blend-2026-11",          1..63 bytes of [A-Za-z0-9_.-], unique in the file
 *      "salt": "blend-2026-11",          optional, default = name; a new salt reshuffles users
 *      "traffic": 1.0,                   optional, share of all users in the experiment, (0,1]
 *      "holdout": 0.1,                   optional, share of the experiment's users held out, [0,1)
 *      "holdout_settings": {"mode": "popular"},   optional object, what the holdout gets
 *      "impressions": "served",          optional, "served" (default) or "events"
 *      "variants": [                     1..16; the first one is the control
 *        {"name": "control", "weight": 50, "settings": {}},
 *        {"name": "knn-heavy", "weight": 50, "settings": {"blend_knn": 1.0}}],
 *      "overrides": {"qa-user-1": "knn-heavy", "qa-user-2": "holdout"}}]}   optional QA pins
 *                                    (raw user ids: under --user-id-key they are keyed at load)
 *
 * Experiments are mutually exclusive: a user is in at most one (the first that admits them).
 * A parsed struct rec_experiments is immutable, so any number of threads may read it and assign
 * users concurrently; a reload builds a new one.
 */
#ifndef REC_EXP_EXPERIMENT_H
#define REC_EXP_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

struct rec_uid_key;

#define REC_EXP_NAME_MAX 64      /* bytes of an experiment or variant name, NUL included */
#define REC_EXP_SALT_MAX 256     /* bytes of a salt, NUL included */
#define REC_EXP_MAX_VARIANTS 16
#define REC_EXP_USER_MAX 256     /* bytes of a user id in overrides (as REC_ID_MAX) */
#define REC_EXP_FILE_MAX (16 << 20) /* bytes of an experiments file rec_experiments_load reads */

enum rec_exp_impressions {
    REC_EXP_IMPRESSIONS_SERVED, /* every served item counts as an impression */
    REC_EXP_IMPRESSIONS_EVENTS  /* only impression events count */
};

struct rec_exp_variant {
    char name[REC_EXP_NAME_MAX];
    double share;   /* weight / sum of the weights: in (0,1], the shares of an experiment sum to 1 */
    void *settings; /* json_t object, owned by the experiments; read-only for callers */
};

/* A QA pin: user always gets variant (an index, or REC_EXP_HOLDOUT). */
struct rec_exp_override {
    char *user;  /* owned */
    int variant;
};

struct rec_experiment {
    char name[REC_EXP_NAME_MAX];
    char salt[REC_EXP_SALT_MAX];
    double traffic;         /* (0,1] */
    double holdout;         /* [0,1), a share of the experiment's users, not of all users */
    int impressions;        /* enum rec_exp_impressions */
    void *holdout_settings; /* json_t object, owned; {"mode":"popular"} unless the file says */
    int n_variants;         /* 1..REC_EXP_MAX_VARIANTS; variants[0] is the control */
    struct rec_exp_variant variants[REC_EXP_MAX_VARIANTS];
    int n_overrides;
    struct rec_exp_override *overrides; /* sorted by user (strcmp); owned */
};

struct rec_experiments {
    int n;                        /* may be 0 */
    struct rec_experiment *list;  /* in file order */
};

/* Checks one settings object (a json_t object) for the caller's pipeline: returns 0, or nonzero
 * with a message in err (a negative REC_E* code is passed on, anything else becomes REC_EINVAL).
 * The message gets the JSON path prefixed, e.g. `experiments[0].variants[1].settings: ...`. */
typedef int (*rec_exp_settings_check_fn)(const void *settings, char *err, size_t errlen);

/* Parses and validates an experiments file held in text (len bytes, no NUL needed). check is
 * applied to every variant's settings and to each holdout_settings (the default
 * {"mode":"popular"} included, so a caller whose check rejects it learns at once); NULL accepts
 * any object. On success *out is a new struct the caller frees with rec_experiments_free.
 * Returns 0, REC_EINVAL with a message naming the JSON path of the bad field (or the line and
 * column of a syntax error) in err, or REC_ENOMEM; *out is NULL on failure. Thread-safe. */
int rec_experiments_parse(const char *text, size_t len, rec_exp_settings_check_fn check,
                          struct rec_experiments **out, char *err, size_t errlen);

/* As rec_experiments_parse, for the file at path (at most REC_EXP_FILE_MAX bytes). Every error
 * message starts with the path. Returns also REC_ENOTFOUND (no such file), REC_EIO (unreadable)
 * or REC_ETOOBIG. Thread-safe, but uses strerror. */
int rec_experiments_load(const char *path, rec_exp_settings_check_fn check,
                         struct rec_experiments **out, char *err, size_t errlen);

/* Replaces every user of the overrides by its keyed id under k (--user-id-key, core/uid.h), so
 * that the pins match the keyed ids recd assigns. Call once, before x is shared; k NULL is a
 * no-op. Returns 0 or REC_ENOMEM (x is then unchanged). Not thread-safe. */
int rec_experiments_key_users(struct rec_experiments *x, const struct rec_uid_key *k);

/* Frees x and everything it owns; NULL is a no-op. Invalidates pointers from find and assign. */
void rec_experiments_free(struct rec_experiments *x);

/* The experiment called name, or NULL (also when x is NULL). Thread-safe. */
const struct rec_experiment *rec_experiments_find(const struct rec_experiments *x,
                                                  const char *name);

/* Index of the variant called name in e, REC_EXP_HOLDOUT for "holdout", or REC_EXP_NONE. */
int rec_exp_variant_find(const struct rec_experiment *e, const char *name);

#define REC_EXP_HOLDOUT (-1)
#define REC_EXP_NONE (-2)  /* the user is in no experiment */

struct rec_exp_assignment {
    const struct rec_experiment *exp; /* NULL when the user is in no experiment */
    int variant;              /* index into exp->variants, REC_EXP_HOLDOUT, or REC_EXP_NONE */
    const char *variant_name; /* "default" (no experiment), "holdout", or the variant's name */
    const void *settings;     /* json_t object of what the user gets; NULL for default */
    int overridden;           /* 1 when the assignment comes from overrides */
};

/* Assigns user (NULL counts as no experiment). Overrides come first: the first experiment in
 * file order that pins the user decides (validation forbids pinning a user twice). Otherwise the
 * first experiment in file order whose traffic gate admits the user:
 *   rec_exp_unit(rec_exp_hash(salt, "traffic", user)) < traffic,
 * then the holdout: rec_exp_unit(rec_exp_hash(salt, "holdout", user)) < holdout,
 * then the variant whose cumulative share interval holds
 *   rec_exp_unit(rec_exp_hash(salt, "variant", user)).
 * The three hashes are independent, so the holdout is a uniform slice of every variant's users
 * and changing traffic only adds or removes users without moving the others between variants.
 * A pure function of (file, user): sticky across restarts, machines and versions (the hash is
 * fixed by a golden test). Pointers in *a live as long as x. Thread-safe (x is read-only). */
void rec_experiments_assign(const struct rec_experiments *x, const char *user,
                            struct rec_exp_assignment *a);

/* The stable 64-bit hash assignment uses: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3) over the bytes of salt, one 0 byte, purpose, one 0 byte, and user (no NUL at
 * the end), then the splitmix64 finalizer: z ^= z >> 30; z *= 0xbf58476d1ce4e5b9;
 * z ^= z >> 27; z *= 0x94d049bb133111eb; z ^= z >> 31. NULL strings count as "". Thread-safe. */
uint64_t rec_exp_hash(const char *salt, const char *purpose, const char *user);

/* Maps a hash to [0,1) with its top 53 bits: (h >> 11) * 2^-53. */
double rec_exp_unit(uint64_t h);

#endif
