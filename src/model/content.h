/* content.h: content-based model over item documents (TF-IDF, cosine), registered as "content".
 *
 * Each fitted item gets a sparse, L2-normalised TF-IDF vector over four fields of its JSON
 * document: categories and tags (each whole string is one term), title words and text words.
 * Terms are kept per field ("drama" as a category and "drama" in a title are distinct terms) so
 * each field's weight (params w_category, w_tag, w_title, w_text) scales its share of the vector.
 * A user's profile is the decayed, strength-weighted sum of the vectors of their history; score
 * is the cosine of the profile with each item, computed through an inverted index term -> items.
 * The vocabulary and IDF are fixed at fit time: a document seen later (a new item) is vectorised
 * with them and its unknown terms are ignored.
 *
 * A fitted model is immutable: every function here is thread-safe on it.
 */
#ifndef REC_MODEL_CONTENT_H
#define REC_MODEL_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

extern const struct rec_model_type rec_model_content;

/* The k fitted items most similar (cosine > 0) to the document doc_json (same format as
 * rec_train_input.item_docs), best first, ties by lower index. eligible[i] != 0 marks items
 * that may be returned (one byte per fitted item; NULL = all). Writes up to k entries to
 * items[] and sims[] (caller-owned, k each) and their number to *n_out (0 when the document
 * shares no term with an eligible item). Returns 0, REC_EINVAL (NULL arguments, k < 0, or
 * content is not a content model: a tag in the model catches one of another type),
 * REC_EFORMAT (doc_json is not a JSON object) or REC_ENOMEM. */
int rec_content_neighbors_of_doc(const struct rec_model *content, const char *doc_json,
                                 const uint8_t *eligible, int k, int32_t *items, float *sims,
                                 int *n_out);

/* The same for the fitted item `item` (never returned itself). REC_EINVAL also when item is out
 * of range; an item whose document had no usable term has no neighbours (*n_out = 0). */
int rec_content_neighbors_of_item(const struct rec_model *content, int32_t item,
                                  const uint8_t *eligible, int k, int32_t *items, float *sims,
                                  int *n_out);

/* Working memory for repeated neighbour searches on one thread (a bulk fit calls the search
 * once per cold item): a mark and an index per fitted item, allocated once, so a search costs
 * what it reads of the posting lists instead of the catalog's size. (The searches are exact
 * MaxScore: the item's terms from the shortest posting list up, each item met scored from its
 * own row, until the k-th best beats what the terms left could add.) NULL when out of memory or
 * content is not a content model. One scratch must not be used by two threads at once. */
struct rec_content_scratch;
struct rec_content_scratch *rec_content_scratch_new(const struct rec_model *content);
void rec_content_scratch_free(struct rec_content_scratch *s);

/* rec_content_neighbors_of_item with the caller's scratch s (from the same model; NULL = one
 * for this call). REC_EINVAL also when s was made for a model of another size. */
int rec_content_neighbors_of_item_in(const struct rec_model *content,
                                     struct rec_content_scratch *s, int32_t item,
                                     const uint8_t *eligible, int k, int32_t *items, float *sims,
                                     int *n_out);

/* Number of items of the fit, or -1 when content is not a content model. */
int32_t rec_content_n_items(const struct rec_model *content);

/* Splits text into lowercase words as the model does for titles and texts: runs of ASCII letters
 * and digits and of bytes >= 0x80 (so UTF-8 letters stay inside words; only ASCII is
 * lowercased), at most 64 bytes each (longer runs are dropped), one-character words and a short
 * English stopword list dropped. Calls fn(ctx, word, len) for each word in order (word is not
 * NUL-terminated); stops and returns fn's value when it is nonzero, else returns 0. Pure. */
int rec_content_tokenize(const char *text, size_t len,
                         int (*fn)(void *ctx, const char *word, size_t len), void *ctx);

#endif
