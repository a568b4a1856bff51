/* checkpointer.c: copies the WAL back into the database on a thread of its own.
 *
 * SQLite's automatic checkpoint runs on the connection that committed, after the commit: the
 * writer thread, the one stage of ingestion that cannot be spread over cores, spent a tenth
 * of its time copying pages it had already written once. Now the writer asks (its WAL hook,
 * writer.c) once the WAL is half as long as the checkpoint threshold, and this thread, with
 * its own connection, runs a PASSIVE checkpoint while the writer goes on with the next batch:
 * it copies the frames committed before it started and blocks no writer. It cannot finish the
 * job alone: only a writer that finds every frame copied restarts the WAL, which a checkpoint
 * racing a busy writer rarely leaves it. So at the threshold the writer still checkpoints, as
 * SQLite did, but finds most frames copied already: the WAL keeps its old length (a full disk
 * must not fill sooner) and the writer keeps little of the copying.
 */
#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_int.h"

struct rec_store_ckpt {
    sqlite3 *db;               /* used by the thread only once it runs */
    pthread_t thread;
    pthread_mutex_t mu;        /* guards the two flags */
    pthread_cond_t cv;
    int wanted;                /* a checkpoint was asked for since the last one started */
    int stopping;
};

static void *ckpt_main(void *arg)
{
    struct rec_store_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        c->wanted = 0;
        pthread_mutex_unlock(&c->mu);
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        /* BUSY: another checkpoint (the writer's) holds the lock; the next request retries */
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            rec_warn("store: WAL checkpoint: %s (%d of %d frames)", sqlite3_errmsg(c->db), done,
                     log);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int rec_store_ckpt_start(const char *path, struct rec_store_ckpt **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    struct rec_store_ckpt *c = calloc(1, sizeof *c);
    if (!c)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    int rc = rec_store_db_open(path, SQLITE_OPEN_READWRITE, &c->db, err, errlen);
    if (rc)
        goto fail_open;
    rc = REC_ENOMEM;
    if (pthread_mutex_init(&c->mu, NULL))
        goto fail_mutex;
    if (pthread_cond_init(&c->cv, NULL))
        goto fail_cond;
    if (pthread_create(&c->thread, NULL, ckpt_main, c))
        goto fail_thread;
    *out = c;
    return 0;
fail_thread:
    pthread_cond_destroy(&c->cv);
fail_cond:
    pthread_mutex_destroy(&c->mu);
fail_mutex:
    rec_errf(err, errlen, rc, "cannot start the store checkpointer thread");
    sqlite3_close(c->db);
fail_open:
    free(c);
    return rc;
}

void rec_store_ckpt_request(struct rec_store_ckpt *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->wanted) {
        c->wanted = 1;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void rec_store_ckpt_stop(struct rec_store_ckpt *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    if (sqlite3_close(c->db) != SQLITE_OK)
        rec_error("store: closing the checkpointer connection: %s", sqlite3_errmsg(c->db));
    free(c);
}
