/* settings.h: pipeline settings an experiment variant may set (a JSON object in the experiments
 * file), checked at load and turned into per-request options:
 *
 *   "mode":          "hybrid" | "als" | "knn" | "popular"   which sources rank the list
 *   "blend_knn":     number >= 0                             fusion weight of item-kNN
 *   "blend_popular": number >= 0                             fusion weight of popularity
 *
 * Settings are jansson objects passed as void* (headers of recd do not include jansson).
 */
#ifndef REC_SERVE_SETTINGS_H
#define REC_SERVE_SETTINGS_H

#include <stddef.h>

#include "serve/engine.h"

/* 0, or REC_EINVAL with the offending key and why in err. Matches rec_exp_settings_check_fn. */
int rec_settings_check(const void *settings, char *err, size_t errlen);
/* Sets o's fields from a checked settings object (NULL: leaves o as it is). */
void rec_settings_apply(const void *settings, struct rec_request_opts *o);

#endif
