/* eval_data.h: what `recd eval` and `recd tune` read: events (any import source, a data
 * directory, or split files), the item and user documents, and the distinct positive pairs. */
#ifndef REC_APP_EVAL_DATA_H
#define REC_APP_EVAL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/idmap.h"
#include "eval/split.h"

struct rec_eval_event {
    int32_t user, item;
    int64_t ts;
    int type;
    double value;
    uint8_t from_test;   /* read from a test split file */
};

struct rec_eval_data {
    struct rec_idmap users, items;
    struct rec_eval_event *ev;
    int64_t n_ev, cap_ev;
    char **item_docs;    /* per item index, JSON or NULL */
    char **user_docs;
    int32_t cap_item_docs, cap_user_docs;
    /* distinct (user, item) pairs with positive summed weight, sorted by (user, item) */
    struct rec_interaction *pairs;
    int64_t n_pairs;
    uint8_t *pair_from_test;  /* split files: the pair came from the test file */
};

/* Reads path (a file or directory any importer takes) or, when path is NULL, the data directory
 * data_dir's store; or, when train_file is set, the two split files. Then builds the pairs with
 * the per-type weights. 0 or a negative code with a message in err. */
int rec_eval_data_load(struct rec_eval_data *d, const char *path, const char *data_dir,
                       const char *train_file, const char *test_file, const double *weights,
                       char *err, size_t errlen);
void rec_eval_data_free(struct rec_eval_data *d);

#endif
