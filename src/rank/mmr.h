/* mmr.h: diversity re-ranking by Maximal Marginal Relevance, with per-category caps.
 *
 * MMR (Carbonell & Goldstein, "The Use of MMR, Diversity-Based Reranking for Reordering
 * Documents and Producing Summaries", SIGIR 1998) builds the list greedily: each step takes the
 * candidate that best trades its own relevance against its similarity to what is already picked,
 *     argmax_i  (1 - diversity) * rel[i] - diversity * max_{j picked} sim(i, j).
 * The similarity is the caller's (recd mixes category overlap and factor cosine), so this file
 * knows nothing of items. Intra-list diversity (Ziegler et al., "Improving Recommendation Lists
 * Through Topic Diversification", WWW 2005) measures the result.
 */
#ifndef REC_RANK_MMR_H
#define REC_RANK_MMR_H

#include <stddef.h>

/* Similarity of candidates a and b (indexes into the candidate arrays), in [0,1], symmetric.
 * ctx is the caller's pointer, passed through unchanged. A NaN result counts as 0. */
typedef float (*rec_mmr_sim_fn)(void *ctx, int a, int b);

/* Bytes of scratch rec_mmr needs for n candidates (n floats + n bytes); 0 for n <= 0. */
size_t rec_mmr_scratch_size(int n);

/* Picks up to k of the n candidates, in order, into out[0..*n_out). Each step takes the
 * candidate maximizing
 *     (1 - diversity) * rel'[i] - diversity * max_{j picked} sim(i, j)
 * where rel' is rel min-max rescaled to [0,1] over the n candidates (all equal: 1) and the max
 * over an empty list is 0. Ties go to the higher relevance, then the lower index, so
 * diversity 0 is the top-k by relevance (stable: lower index first on equal rel) and makes no
 * similarity calls, and diversity 1 starts from the most relevant candidate.
 *   rel: n finite relevance scores (any scale). diversity: in [0,1].
 *   sim: the similarity; may be NULL only when diversity is 0.
 *   category: NULL, or n primary category ids (-1: none, never capped). With max_per_category
 *     > 0, no category gets more than that many picks: candidates over the cap are skipped, and
 *     when that leaves fewer than k eligible candidates the list stops short (*n_out < k).
 *     max_per_category <= 0: no caps.
 *   scratch: at least rec_mmr_scratch_size(n) bytes, aligned for float (malloc'd or a float
 *     array); its contents on entry do not matter. No allocation.
 *   out: room for k ints (the picked indexes); *n_out: how many were written (min(k, n) without
 *     caps).
 * Cost: at most (k - 1) * n similarity calls and O(k (n + k)) other work.
 * Returns 0, or REC_EINVAL (n or k negative, a NULL that is needed, diversity outside [0,1],
 * a non-finite rel; *n_out is then 0 when n_out is not NULL). Thread-safe (pure; sim must be
 * safe to call from the calling thread). */
int rec_mmr(const float *rel, int n, int k, double diversity, rec_mmr_sim_fn sim, void *ctx,
            const int *category, int max_per_category, void *scratch, int *out, int *n_out);

/* Intra-list diversity: the mean of 1 - sim(list[i], list[j]) over the n (n - 1) / 2 pairs
 * i < j of list[0..n); 0 when n < 2 (or list or sim is NULL). Makes n (n - 1) / 2 similarity
 * calls. Thread-safe (pure). */
double rec_ild(const int *list, int n, rec_mmr_sim_fn sim, void *ctx);

#endif
