/* user_key.c: --user-id-key for the subcommands that take user ids (serve, import, recommend):
 * loading the key, and checking it against the data directory it is used with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"
#include "core/err.h"
#include "core/log.h"
#include "core/uid.h"
#include "store/store.h"

#define META_KEY "user_id_key"      /* meta row: "hmac-sha256:<fingerprint>" of the last key */
#define META_PREFIX "hmac-sha256:"

int rec_app_user_key(const struct rec_config *c, struct rec_store *store, int ingest,
                     struct rec_uid_key **out)
{
    *out = NULL;
    char err[512];
    char *stored = NULL;
    int rc = rec_store_meta_get(store, META_KEY, &stored);
    if (rc && rc != REC_ENOTFOUND) {
        rec_error("--user-id-key: cannot read the data directory's key fingerprint: %s",
                  rec_strerror(rc));
        return 1;
    }
    const char *was = stored && !strncmp(stored, META_PREFIX, strlen(META_PREFIX))
                          ? stored + strlen(META_PREFIX) : stored;
    if (!c->user_id_key || !*c->user_id_key) {
        int status = 0;
        if (was && ingest) {
            /* raw ids would be stored next to keyed ones, and never match them */
            rec_error("the user ids in %s are keyed (--user-id-key, key fingerprint %s): give "
                      "that key, so that no raw user id is stored", c->data, was);
            status = 1;
        } else if (was) {
            rec_warn("the user ids in %s are keyed (key fingerprint %s): without --user-id-key "
                     "user ids are looked up as given and match none of them", c->data, was);
        }
        free(stored);
        return status;
    }
    if (rec_uid_key_load(c->user_id_key, out, err, sizeof err)) {
        rec_error("--user-id-key: %s", err);
        free(stored);
        return 1;
    }
    struct stat st;
    if (stat(c->user_id_key, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
        rec_warn("privacy: the user id key file %s is readable by other users (chmod 600 it)",
                 c->user_id_key);
    char fp[REC_UID_FINGERPRINT + 1], row[sizeof META_PREFIX + REC_UID_FINGERPRINT];
    rec_uid_key_fingerprint(*out, fp);
    int64_t n_users = 0;
    if (was && strcmp(was, fp))
        rec_warn("privacy: %s was written under another --user-id-key (fingerprint %s, this one "
                 "%s): the users stored before are not found under their ids", c->data, was, fp);
    else if (!was && rec_store_count(store, NULL, &n_users, NULL) == 0 && n_users > 0)
        rec_warn("privacy: %s already holds %lld users stored without --user-id-key: their ids "
                 "stay as they are and requests under the key do not find them", c->data,
                 (long long)n_users);
    rec_info("privacy: user ids are keyed (HMAC-SHA256, key fingerprint %s)", fp);
    int recorded = was && !strcmp(was, fp);
    free(stored); /* was points into it */
    if (!ingest || recorded)
        return 0;
    snprintf(row, sizeof row, "%s%s", META_PREFIX, fp);
    if ((rc = rec_store_meta_set(store, META_KEY, row))) {
        rec_error("--user-id-key: cannot record the key fingerprint: %s", rec_strerror(rc));
        rec_uid_key_destroy(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}
