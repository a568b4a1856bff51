/* app.h: the subcommands of the recd binary and what they share. */
#ifndef REC_APP_APP_H
#define REC_APP_APP_H

#include <stddef.h>

#include "core/config.h"
#include "serve/engine.h"

struct rec_store;
struct rec_uid_key;

/* Each subcommand: argv holds the arguments after its name; returns the process exit code. */
int rec_cmd_serve(int argc, char **argv);
int rec_cmd_import(int argc, char **argv);
int rec_cmd_train(int argc, char **argv);
int rec_cmd_recommend(int argc, char **argv);
int rec_cmd_eval(int argc, char **argv);
int rec_cmd_tune(int argc, char **argv);
int rec_cmd_gen(int argc, char **argv);
int rec_cmd_version(int argc, char **argv);

/* Loads the config of cmd (printing help or errors); returns 0 to go on, or an exit code + 1
 * (so 1 means exit 0 after --help, 3 means exit 2 after a usage error). */
int rec_app_config(struct rec_config *c, unsigned cmd, const char *name, const char *usage,
                   int argc, char **argv, const char **positional, int max_positional,
                   int *n_positional);
/* Engine parameters from the config; model_dir is written into buf (data/models). */
void rec_app_engine_params(const struct rec_config *c, struct rec_engine_params *p, int background,
                           char *buf, size_t buflen);
/* The blend settings (sources, blend-weights, params-<type>) into p; 0 or REC_EINVAL with a
 * message (err may be NULL). rec_app_engine_params calls it too, ignoring errors. */
int rec_app_sources(const struct rec_config *c, struct rec_engine_params *p, char *err,
                    size_t errlen);
/* Engine parameters as `recd serve` would use them with no flags (built-in defaults and any
 * RECD_* environment variables), no background trainer, no snapshots. 0 or REC_EINVAL. */
int rec_app_default_engine_params(struct rec_engine_params *p);
/* Opens the store in c->data and an engine replayed from it. 0 or an error (printed). */
int rec_app_open(const struct rec_config *c, int background, struct rec_store **store,
                 struct rec_engine **engine);
void rec_app_close(struct rec_store *store, struct rec_engine *engine);
/* --user-id-key (user_key.c): loads the key into *out (NULL without the option; the caller
 * destroys it) and checks it against the store, which keeps the fingerprint of the last key
 * given (meta "user_id_key"). A different key, or a key on a store that holds users written
 * without one, is logged as a warning (those users are not found under their ids). ingest (the
 * command stores user ids: serve, import) records the fingerprint, and refuses a store keyed
 * before when no key is given, as raw ids would be stored next to keyed ones. 0, or 1 after
 * logging why. */
int rec_app_user_key(const struct rec_config *c, struct rec_store *store, int ingest,
                     struct rec_uid_key **out);


#endif
