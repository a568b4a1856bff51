/* attrs.h: recommendations from user attributes (cold start for users), registered as "attrs".
 *
 * User documents are {"attributes":{...}}. Each attribute becomes a feature "key=value": strings
 * (and each string of an array, and booleans) are categorical, numbers are bucketed ("age" into
 * <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+; any other number into the quartiles of its values
 * at fit time). Keys and string values are ASCII-lowercased. For each feature f the fit counts,
 * among training users with f and some history, how many have each item; score combines these
 * per-feature estimates naively-Bayes style on top of global popularity (formula in attrs.c).
 * A query's attributes come from q->user_doc, else from the fitted user q->user's document;
 * without any known feature the ranking is global popularity. The query's history is not used.
 *
 * A fitted model is immutable: score is thread-safe. No save/load (the fit takes milliseconds).
 */
#ifndef REC_MODEL_ATTRS_H
#define REC_MODEL_ATTRS_H

#include "model/model.h"

extern const struct rec_model_type rec_model_attrs;

#endif
