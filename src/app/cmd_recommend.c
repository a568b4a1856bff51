/* cmd_recommend.c: `recd recommend --user U`: the list the API would serve, on the terminal. */
#include <stdio.h>
#include <stdlib.h>

#include "app/app.h"
#include "core/err.h"
#include "core/uid.h"

int rec_cmd_recommend(int argc, char **argv)
{
    struct rec_config c;
    const char *pos[1];
    int np;
    int rc = rec_app_config(&c, REC_CMD_RECOMMEND, "recommend", "--user ID [-n N] [options]", argc,
                            argv, pos, 1, &np);
    if (rc)
        return rc - 1;
    const char *user = c.user ? c.user : np ? pos[0] : NULL;
    if (!user || c.n < 1 || c.n > 10000) {
        fprintf(stderr, "recd recommend: give --user ID and -n between 1 and 10000\n");
        rec_config_free(&c);
        return 2;
    }
    struct rec_store *store;
    struct rec_engine *engine;
    if (rec_app_open(&c, 0, &store, &engine)) {
        rec_config_free(&c);
        return 1;
    }
    /* with --user-id-key the store knows the user by the keyed id only */
    struct rec_uid_key *user_key = NULL;
    if (rec_app_user_key(&c, store, 0, &user_key)) {
        rec_app_close(store, engine);
        rec_config_free(&c);
        return 1;
    }
    char keyed[REC_UID_BUF];
    const char *id = rec_uid_map(user_key, user, keyed);
    struct rec_engine_status st;
    rec_engine_status(engine, &st);
    if (!st.als.present && st.n_events > 0)
        rec_engine_train_now(engine);
    struct rec_result *r = malloc((size_t)c.n * sizeof *r);
    int got = 0;
    const char *model = "";
    rc = r ? rec_engine_recommend(engine, id, c.n, r, &got, &model) : REC_ENOMEM;
    if (rc) {
        fprintf(stderr, "recd recommend: %s\n", rec_strerror(rc));
    } else {
        printf("recommendations for %s (model %s)\n", user, model);
        for (int k = 0; k < got; k++)
            printf("%3d. %-20s %8.4f  %s\n", k + 1, r[k].id, r[k].score, r[k].reason);
    }
    free(r);
    rec_uid_key_destroy(user_key);
    rec_app_close(store, engine);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
