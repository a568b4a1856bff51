/* beyond.h: beyond-accuracy metrics of a set of top-K lists (definitions in
 * docs/EVALUATION.md): catalog coverage, intra-list diversity by category, novelty, popularity
 * bias (ARP and head share) and the Gini index of recommendation counts.
 *
 * Usage: create with the training popularity (and optionally item categories), add each user's
 * list, finish, destroy. "Mean over lists" means over lists with at least one item.
 */
#ifndef REC_EVAL_BEYOND_H
#define REC_EVAL_BEYOND_H

#include <stdint.h>

#include "model/csr.h"

/* Percent of the catalog, the most popular by training count, that forms the "head":
 * ceil(20% of n_items) items. */
#define REC_BEYOND_HEAD_PERCENT 20

struct rec_beyond; /* opaque accumulator */

struct rec_beyond_result {
    double coverage;           /* distinct recommended items / n_items, in [0, 1] */
    double diversity;          /* mean over lists of 2+ items of their intra-list diversity,
                                * in [0, 1]; 0 when no categories were given */
    double novelty;            /* mean over lists of mean -log2(count_i / n_train_users), bits */
    double arp;                /* mean over lists of mean training count of the items */
    double head_share;         /* mean over lists of the share of head items, in [0, 1] */
    double gini;               /* Gini index of per-item recommendation counts over the whole
                                * catalog, in [0, 1 - 1/n_items]; 0 without recommendations */
    int64_t n_lists;           /* non-empty lists added */
    int64_t n_recs;            /* recommendations added (list entries) */
    int64_t n_diversity_lists; /* lists that entered the diversity mean */
};

/* Item counts of a training matrix: count[i] = entries in column i of ui (users who interacted
 * with item i when ui holds distinct pairs), for i < ui->n_cols. count must hold n_cols values. */
void rec_beyond_item_counts(const struct rec_csr *ui, int64_t *count);

/* Creates an accumulator over a catalog of n_items items (n_items >= 1). item_count[i] >= 0 is
 * item i's training count and n_train_users >= 1 the number of training users; both are copied.
 * item_cats is optional (NULL: no diversity): row i lists item i's category ids, sorted and
 * unique (as rec_csr_from_triplets builds them), values ignored; items past its n_rows have no
 * category. It is read by rec_beyond_add, so it must outlive the accumulator. *out is owned by
 * the caller (rec_beyond_destroy). Returns 0, REC_EINVAL or REC_ENOMEM. */
int rec_beyond_create(int32_t n_items, const int64_t *item_count, int64_t n_train_users,
                      const struct rec_csr *item_cats, struct rec_beyond **out);
/* Adds one user's list recs[0..n_recs) (any order; an empty list is ignored). Every item must be
 * in [0, n_items): otherwise REC_EINVAL and nothing is added. Not thread-safe for the same b. */
int rec_beyond_add(struct rec_beyond *b, const int32_t *recs, int n_recs);
/* Writes the metrics of everything added so far; b is unchanged, so more lists may follow.
 * Returns 0, REC_EINVAL (NULL argument) or REC_ENOMEM. */
int rec_beyond_finish(const struct rec_beyond *b, struct rec_beyond_result *out);
/* Frees b; NULL is a no-op. */
void rec_beyond_destroy(struct rec_beyond *b);

#endif
