/* experiment.c: the experiments file and user assignment (see experiment.h).
 *
 * One function per JSON object level (file, experiment, variant, overrides); each first checks
 * the object's keys against its table of known keys, so a typo is reported as such rather than
 * as a missing field. Every error names the JSON path of the field, built in small buffers on
 * the way down. No mutable globals.
 */
#include "exp/experiment.h"

#include "core/err.h"
#include "core/file.h"
#include "core/uid.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* JSON paths: "experiments[N]" fits in EXP_PATH, "...variants[N]" in VARIANT_PATH, and a
 * settings field's path in SETTINGS_PATH (sized so the compiler can prove nothing is cut). */
#define EXP_PATH 32
#define VARIANT_PATH 64
#define SETTINGS_PATH 96
#define CHECK_MSG_MAX 384

static const char *const file_keys[] = {"experiments", NULL};
static const char *const exp_keys[] = {"name", "salt", "traffic", "holdout", "holdout_settings",
                                       "impressions", "variants", "overrides", NULL};
static const char *const variant_keys[] = {"name", "weight", "settings", NULL};

/* ---- hashing ---------------------------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        h ^= *p;
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t rec_exp_hash(const char *salt, const char *purpose, const char *user)
{
    uint64_t h = fnv_str(FNV_OFFSET, salt);
    h *= FNV_PRIME; /* the 0 separator byte: h ^= 0 is a no-op, the multiply is not */
    h = fnv_str(h, purpose);
    h *= FNV_PRIME;
    h = fnv_str(h, user);
    /* FNV alone mixes its last bytes poorly into the high bits, which the unit mapping uses;
     * the splitmix64 finalizer spreads every input bit over the whole word. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

double rec_exp_unit(uint64_t h)
{
    return (double)(h >> 11) * 0x1.0p-53;
}

/* ---- validation helpers ----------------------------------------------------------------- */

static int check_keys(const json_t *obj, const char *const *keys, const char *path, char *err,
                      size_t errlen)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        int known = 0;
        for (const char *const *k = keys; *k && !known; k++)
            known = strcmp(*k, key) == 0;
        if (known)
            continue;
        char expected[160];
        size_t used = 0;
        expected[0] = '\0';
        for (const char *const *k = keys; *k; k++) {
            int w = snprintf(expected + used, sizeof expected - used, "%s%s",
                             k == keys ? "" : ", ", *k);
            if (w < 0 || (size_t)w >= sizeof expected - used)
                break;
            used += (size_t)w;
        }
        return rec_errf(err, errlen, REC_EINVAL, "%s: unknown key \"%.64s\" (expected: %s)", path,
                        key, expected);
    }
    return 0;
}

/* 1..63 bytes of [A-Za-z0-9_.-] */
static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n >= 1 && n < REC_EXP_NAME_MAX;
}

static int get_name(const json_t *obj, const char *path, char *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, "name");
    if (!v)
        return rec_errf(err, errlen, REC_EINVAL, "%s.name: missing", path);
    if (!json_is_string(v) || !name_ok(json_string_value(v)))
        return rec_errf(err, errlen, REC_EINVAL,
                        "%s.name: must be a string of 1..%d bytes of [A-Za-z0-9_.-]", path,
                        REC_EXP_NAME_MAX - 1);
    snprintf(out, REC_EXP_NAME_MAX, "%s", json_string_value(v));
    return 0;
}

/* Optional number: *out keeps its default when the key is absent. Sets *present. */
static int get_number(const json_t *obj, const char *key, double *out, int *present)
{
    const json_t *v = json_object_get(obj, key);
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

/* Checks a settings object (path names the field) with the caller's check. */
static int check_settings(const json_t *v, rec_exp_settings_check_fn check, const char *path,
                          char *err, size_t errlen)
{
    if (!json_is_object(v))
        return rec_errf(err, errlen, REC_EINVAL, "%s: must be an object", path);
    if (!check)
        return 0;
    char msg[CHECK_MSG_MAX];
    msg[0] = '\0';
    int rc = check(v, msg, sizeof msg);
    if (rc == 0)
        return 0;
    return rec_errf(err, errlen, rc < 0 ? rc : REC_EINVAL, "%s: %s", path,
                    msg[0] ? msg : "invalid settings");
}

/* A user id in overrides: 1..REC_EXP_USER_MAX bytes, no control characters (the rules of
 * rec_event_check_id; jansson already guarantees valid UTF-8). */
static int user_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > REC_EXP_USER_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return 0;
    return 1;
}

static int cmp_override(const void *a, const void *b)
{
    return strcmp(((const struct rec_exp_override *)a)->user,
                  ((const struct rec_exp_override *)b)->user);
}

static const struct rec_exp_override *find_override(const struct rec_experiment *e,
                                                    const char *user)
{
    if (e->n_overrides == 0)
        return NULL;
    struct rec_exp_override key = {(char *)user, 0};
    return bsearch(&key, e->overrides, (size_t)e->n_overrides, sizeof key, cmp_override);
}

int rec_experiments_key_users(struct rec_experiments *x, const struct rec_uid_key *k)
{
    if (!x || !k)
        return 0;
    /* all new strings first, so a failure changes nothing */
    int total = 0;
    for (int i = 0; i < x->n; i++)
        total += x->list[i].n_overrides;
    char **keyed = calloc(total ? (size_t)total : 1, sizeof *keyed);
    if (!keyed)
        return REC_ENOMEM;
    for (int i = 0, j = 0; i < x->n; i++)
        for (int o = 0; o < x->list[i].n_overrides; o++, j++) {
            char buf[REC_UID_BUF];
            if (!(keyed[j] = strdup(rec_uid_map(k, x->list[i].overrides[o].user, buf)))) {
                while (j >= 0)
                    free(keyed[j--]);
                free(keyed);
                return REC_ENOMEM;
            }
        }
    for (int i = 0, j = 0; i < x->n; i++) {
        struct rec_experiment *e = &x->list[i];
        for (int o = 0; o < e->n_overrides; o++, j++) {
            free(e->overrides[o].user);
            e->overrides[o].user = keyed[j];
        }
        /* find_override searches by the new ids */
        qsort(e->overrides, (size_t)e->n_overrides, sizeof *e->overrides, cmp_override);
    }
    free(keyed);
    return 0;
}

int rec_exp_variant_find(const struct rec_experiment *e, const char *name)
{
    if (!e || !name)
        return REC_EXP_NONE;
    if (strcmp(name, "holdout") == 0)
        return REC_EXP_HOLDOUT;
    for (int v = 0; v < e->n_variants; v++)
        if (strcmp(e->variants[v].name, name) == 0)
            return v;
    return REC_EXP_NONE;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static void experiment_clear(struct rec_experiment *e)
{
    for (int v = 0; v < e->n_variants; v++)
        json_decref(e->variants[v].settings);
    json_decref(e->holdout_settings);
    for (int i = 0; i < e->n_overrides; i++)
        free(e->overrides[i].user);
    free(e->overrides);
    memset(e, 0, sizeof *e);
}

static int parse_variants(struct rec_experiment *e, const json_t *arr,
                          rec_exp_settings_check_fn check, const char *path, char *err,
                          size_t errlen)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n < 1 || n > REC_EXP_MAX_VARIANTS)
        return rec_errf(err, errlen, REC_EINVAL, "%s.variants: must be an array of 1..%d variants",
                        path, REC_EXP_MAX_VARIANTS);
    double weight[REC_EXP_MAX_VARIANTS], wmax = 0;
    char vpath[VARIANT_PATH], spath[SETTINGS_PATH];
    int rc;
    for (size_t i = 0; i < n; i++) {
        const json_t *vo = json_array_get(arr, i);
        struct rec_exp_variant *var = &e->variants[i];
        snprintf(vpath, sizeof vpath, "%s.variants[%zu]", path, i);
        if (!json_is_object(vo))
            return rec_errf(err, errlen, REC_EINVAL, "%s: must be an object", vpath);
        if ((rc = check_keys(vo, variant_keys, vpath, err, errlen)) ||
            (rc = get_name(vo, vpath, var->name, err, errlen)))
            return rc;
        if (strcasecmp(var->name, "holdout") == 0 || strcasecmp(var->name, "default") == 0)
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s.name: \"%s\" is reserved (holdout and default name the users "
                            "outside the variants)", vpath, var->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(e->variants[j].name, var->name) == 0)
                return rec_errf(err, errlen, REC_EINVAL,
                                "%s.name: \"%s\" is already used by %s.variants[%zu]", vpath,
                                var->name, path, j);
        int present;
        weight[i] = 0;
        if (get_number(vo, "weight", &weight[i], &present) || !(weight[i] > 0))
            return rec_errf(err, errlen, REC_EINVAL, "%s.weight: %smust be a number > 0", vpath,
                            present ? "" : "missing, ");
        if (weight[i] > wmax)
            wmax = weight[i];

        const json_t *s = json_object_get(vo, "settings");
        var->settings = s ? json_incref((json_t *)s) : json_object();
        e->n_variants = (int)i + 1; /* owns settings from here on, for experiment_clear */
        if (!var->settings)
            return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
        snprintf(spath, sizeof spath, "%s.settings", vpath);
        if ((rc = check_settings(var->settings, check, spath, err, errlen)))
            return rc;
    }
    /* Scale by the largest weight first, so huge weights cannot overflow the sum (each term is
     * in (0,1], the sum at most 16). */
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += weight[i] / wmax;
    for (size_t i = 0; i < n; i++) {
        e->variants[i].share = weight[i] / wmax / sum;
        if (!(e->variants[i].share > 0)) /* 1e-300 next to 1e300: a share that rounds to 0 */
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s.variants[%zu].weight: too small next to the largest weight "
                            "(its share of traffic rounds to 0)", path, i);
    }
    return 0;
}

/* Overrides of experiment index ei; earlier experiments (list[0..ei-1]) are complete. */
static int parse_overrides(struct rec_experiment *list, int ei, const json_t *obj,
                           const char *path, char *err, size_t errlen)
{
    struct rec_experiment *e = &list[ei];
    if (!json_is_object(obj))
        return rec_errf(err, errlen, REC_EINVAL,
                        "%s.overrides: must be an object mapping user ids to variant names", path);
    size_t n = json_object_size(obj);
    if (n == 0)
        return 0;
    e->overrides = calloc(n, sizeof *e->overrides);
    if (!e->overrides)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    const char *user;
    json_t *val;
    json_object_foreach((json_t *)obj, user, val) {
        if (!user_ok(user))
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s.overrides[\"%.40s\"]: a user id must be 1..%d bytes without "
                            "control characters", path, user, REC_EXP_USER_MAX);
        int v = json_is_string(val) ? rec_exp_variant_find(e, json_string_value(val))
                                    : REC_EXP_NONE;
        if (v == REC_EXP_NONE)
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s.overrides[\"%.40s\"]: must name a variant of %s or \"holdout\"",
                            path, user, e->name);
        for (int j = 0; j < ei; j++)
            if (find_override(&list[j], user))
                return rec_errf(err, errlen, REC_EINVAL,
                                "%s.overrides[\"%.40s\"]: already pinned by experiments[%d] (%s); "
                                "a user is in at most one experiment", path, user, j,
                                list[j].name);
        struct rec_exp_override *o = &e->overrides[e->n_overrides];
        o->user = strdup(user);
        if (!o->user)
            return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
        o->variant = v;
        e->n_overrides++;
    }
    qsort(e->overrides, (size_t)e->n_overrides, sizeof *e->overrides, cmp_override);
    return 0;
}

static int parse_experiment(struct rec_experiment *list, int ei, const json_t *eo,
                            rec_exp_settings_check_fn check, char *err, size_t errlen)
{
    struct rec_experiment *e = &list[ei];
    char path[EXP_PATH], spath[SETTINGS_PATH];
    snprintf(path, sizeof path, "experiments[%d]", ei);
    int rc, present;
    if (!json_is_object(eo))
        return rec_errf(err, errlen, REC_EINVAL, "%s: must be an object", path);
    if ((rc = check_keys(eo, exp_keys, path, err, errlen)) ||
        (rc = get_name(eo, path, e->name, err, errlen)))
        return rc;
    for (int j = 0; j < ei; j++)
        if (strcmp(list[j].name, e->name) == 0)
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s.name: \"%s\" is already used by experiments[%d]", path, e->name,
                            j);

    const json_t *salt = json_object_get(eo, "salt");
    if (salt && (!json_is_string(salt) || json_string_length(salt) < 1 ||
                 json_string_length(salt) >= REC_EXP_SALT_MAX ||
                 strlen(json_string_value(salt)) != json_string_length(salt)))
        return rec_errf(err, errlen, REC_EINVAL, "%s.salt: must be a string of 1..%d bytes", path,
                        REC_EXP_SALT_MAX - 1);
    snprintf(e->salt, sizeof e->salt, "%s", salt ? json_string_value(salt) : e->name);

    e->traffic = 1;
    if (get_number(eo, "traffic", &e->traffic, &present) || !(e->traffic > 0 && e->traffic <= 1))
        return rec_errf(err, errlen, REC_EINVAL, "%s.traffic: must be a number in (0, 1]", path);
    e->holdout = 0;
    if (get_number(eo, "holdout", &e->holdout, &present) || !(e->holdout >= 0 && e->holdout < 1))
        return rec_errf(err, errlen, REC_EINVAL, "%s.holdout: must be a number in [0, 1)", path);

    const json_t *imp = json_object_get(eo, "impressions");
    e->impressions = REC_EXP_IMPRESSIONS_SERVED;
    if (imp) {
        const char *s = json_is_string(imp) ? json_string_value(imp) : "";
        if (strcmp(s, "served") == 0)
            e->impressions = REC_EXP_IMPRESSIONS_SERVED;
        else if (strcmp(s, "events") == 0)
            e->impressions = REC_EXP_IMPRESSIONS_EVENTS;
        else
            return rec_errf(err, errlen, REC_EINVAL,
                            "%s.impressions: must be \"served\" or \"events\"", path);
    }

    const json_t *hs = json_object_get(eo, "holdout_settings");
    e->holdout_settings = hs ? json_incref((json_t *)hs) : json_pack("{s:s}", "mode", "popular");
    if (!e->holdout_settings)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    snprintf(spath, sizeof spath, "%s.holdout_settings%s", path,
             hs ? "" : " (default {\"mode\":\"popular\"})");
    if ((rc = check_settings(e->holdout_settings, check, spath, err, errlen)))
        return rc;

    if ((rc = parse_variants(e, json_object_get(eo, "variants"), check, path, err, errlen)))
        return rc;
    const json_t *ov = json_object_get(eo, "overrides");
    if (ov && (rc = parse_overrides(list, ei, ov, path, err, errlen)))
        return rc;
    return 0;
}

void rec_experiments_free(struct rec_experiments *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->n; i++)
        experiment_clear(&x->list[i]);
    free(x->list);
    free(x);
}

int rec_experiments_parse(const char *text, size_t len, rec_exp_settings_check_fn check,
                          struct rec_experiments **out, char *err, size_t errlen)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rec_errf(err, errlen, REC_EINVAL, "line %d, column %d: %s", jerr.line, jerr.column,
                        jerr.text);
    int rc;
    struct rec_experiments *x = calloc(1, sizeof *x);
    if (!x) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "out of memory");
        goto out;
    }
    if (!json_is_object(root)) {
        rc = rec_errf(err, errlen, REC_EINVAL,
                      "top level: must be an object {\"experiments\": [...]}");
        goto out;
    }
    if ((rc = check_keys(root, file_keys, "top level", err, errlen)))
        goto out;
    const json_t *arr = json_object_get(root, "experiments");
    if (!arr) {
        rc = rec_errf(err, errlen, REC_EINVAL, "experiments: missing");
        goto out;
    }
    if (!json_is_array(arr)) {
        rc = rec_errf(err, errlen, REC_EINVAL, "experiments: must be an array");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n > 0 && !(x->list = calloc(n, sizeof *x->list))) {
        rc = rec_errf(err, errlen, REC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        x->n = (int)i + 1; /* a half-parsed experiment is cleared by rec_experiments_free */
        if ((rc = parse_experiment(x->list, (int)i, json_array_get(arr, i), check, err, errlen)))
            goto out;
    }
    rc = 0;
out:
    json_decref(root); /* the settings objects we kept hold their own references */
    if (rc) {
        rec_experiments_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

int rec_experiments_load(const char *path, rec_exp_settings_check_fn check,
                         struct rec_experiments **out, char *err, size_t errlen)
{
    *out = NULL;
    char *buf;
    size_t n;
    int rc = rec_file_read(path, REC_EXP_FILE_MAX, &buf, &n, err, errlen);
    if (rc == 0) {
        char msg[512];
        rc = rec_experiments_parse(buf, n, check, out, msg, sizeof msg);
        if (rc)
            rec_errf(err, errlen, rc, "%s: %s", path, msg);
    }
    free(buf);
    return rc;
}

/* ---- lookup and assignment ---------------------------------------------------------------- */

const struct rec_experiment *rec_experiments_find(const struct rec_experiments *x,
                                                  const char *name)
{
    if (!x || !name)
        return NULL;
    for (int i = 0; i < x->n; i++)
        if (strcmp(x->list[i].name, name) == 0)
            return &x->list[i];
    return NULL;
}

static void set_assignment(struct rec_exp_assignment *a, const struct rec_experiment *e, int v)
{
    a->exp = e;
    a->variant = v;
    if (v == REC_EXP_HOLDOUT) {
        a->variant_name = "holdout";
        a->settings = e->holdout_settings;
    } else {
        a->variant_name = e->variants[v].name;
        a->settings = e->variants[v].settings;
    }
}

void rec_experiments_assign(const struct rec_experiments *x, const char *user,
                            struct rec_exp_assignment *a)
{
    a->exp = NULL;
    a->variant = REC_EXP_NONE;
    a->variant_name = "default";
    a->settings = NULL;
    a->overridden = 0;
    if (!x || !user)
        return;
    /* Pins first, over every experiment: a QA user pinned to the second experiment must not be
     * captured by the first one's traffic gate. */
    for (int i = 0; i < x->n; i++) {
        const struct rec_exp_override *o = find_override(&x->list[i], user);
        if (o) {
            set_assignment(a, &x->list[i], o->variant);
            a->overridden = 1;
            return;
        }
    }
    for (int i = 0; i < x->n; i++) {
        const struct rec_experiment *e = &x->list[i];
        if (!(rec_exp_unit(rec_exp_hash(e->salt, "traffic", user)) < e->traffic))
            continue;
        if (e->holdout > 0 && rec_exp_unit(rec_exp_hash(e->salt, "holdout", user)) < e->holdout) {
            set_assignment(a, e, REC_EXP_HOLDOUT);
            return;
        }
        double u = rec_exp_unit(rec_exp_hash(e->salt, "variant", user)), c = 0;
        int v = e->n_variants - 1; /* rounding may leave the shares' sum a hair below 1 */
        for (int k = 0; k < e->n_variants - 1; k++) {
            c += e->variants[k].share;
            if (u < c) {
                v = k;
                break;
            }
        }
        set_assignment(a, e, v);
        return;
    }
}
