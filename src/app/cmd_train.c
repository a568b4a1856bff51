/* cmd_train.c: `recd train`: fit iALS on the stored events and save a snapshot. */
#include <stdio.h>

#include "app/app.h"
#include "core/clock.h"
#include "core/err.h"

int rec_cmd_train(int argc, char **argv)
{
    struct rec_config c;
    int rc = rec_app_config(&c, REC_CMD_TRAIN, "train", "[options]", argc, argv, NULL, 0, NULL);
    if (rc)
        return rc - 1;
    struct rec_store *store;
    struct rec_engine *engine;
    if (rec_app_open(&c, 0, &store, &engine)) {
        rec_config_free(&c);
        return 1;
    }
    double t0 = rec_mono_s();
    rc = rec_engine_train_now(engine);
    double wall = rec_mono_s() - t0;
    struct rec_engine_status st;
    rec_engine_status(engine, &st);
    if (rc)
        fprintf(stderr, "recd train: %s\n", rc == REC_EMODEL ? "no events to train on" : rec_strerror(rc));
    else
        printf("trained iALS v%lld: %d factors, %d users x %d items, %lld events, fit %.2fs (wall %.2fs)\n",
               (long long)st.als.version, st.als.factors, st.als.n_users, st.als.n_items,
               (long long)st.als.trained_events, st.als.duration_s, wall);
    rec_app_close(store, engine);
    rec_config_free(&c);
    return rc ? 1 : 0;
}
