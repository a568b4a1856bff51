/* eval_models.c: model lists, parameters and the blend's validation-learned weights. */
#include "app/eval_models.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eval/blend_learn.h"
#include "eval/split.h"

static const char *const param_types[] = REC_CONFIG_MODEL_TYPES;

int rec_eval_model_params(const struct rec_config *c, const struct rec_model_type *t, double *params,
                          char *err, size_t errlen)
{
    rec_model_params_default(t, params);
    for (int j = 0; j < REC_CONFIG_N_MODEL_TYPES; j++)
        if (!strcmp(param_types[j], t->name) && c->model_params[j] && *c->model_params[j])
            return rec_model_params_parse(t, c->model_params[j], params, err, errlen);
    return 0;
}

int rec_eval_models_parse(const struct rec_config *c, struct rec_eval_model *out, int max, int *n,
                          char *err, size_t errlen)
{
    *n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", c->models ? c->models : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max)
            return rec_errf(err, errlen, REC_EINVAL, "at most %d models per run", max);
        struct rec_eval_model *m = &out[*n];
        memset(m, 0, sizeof *m);
        /* the names of recd's first releases keep working */
        const char *name = !strcmp(tok, "popular") || !strcmp(tok, "popularity") ? "pop"
                           : !strcmp(tok, "hybrid")                               ? "served"
                           : !strcmp(tok, "knn")                                  ? "itemknn"
                                                                                  : tok;
        snprintf(m->name, sizeof m->name, "%s", name);
        if (!strcmp(name, "blend")) {
            m->kind = REC_EVAL_BLEND;
        } else if (!strcmp(name, "served")) {
            m->kind = REC_EVAL_SERVED;
            m->diversity = -1;
        } else if (!strncmp(name, "served@", 7)) {
            /* the full serving pipeline at an MMR diversity: served@0.5 */
            char *end;
            m->kind = REC_EVAL_SERVED;
            m->diversity = strtod(name + 7, &end);
            if (end == name + 7 || *end || !(m->diversity >= 0 && m->diversity <= 1))
                return rec_errf(err, errlen, REC_EINVAL,
                                "'%s': the diversity after served@ must be a number from 0 to 1", tok);
        } else {
            m->kind = REC_EVAL_TYPE;
            if (!(m->type = rec_model_find(name))) {
                int nt;
                const struct rec_model_type *const *all = rec_model_types(&nt);
                char known[256] = "";
                for (int j = 0; j < nt; j++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s, ", all[j]->name);
                return rec_errf(err, errlen, REC_EINVAL, "unknown model '%s' (known: %sblend, served)",
                                tok, known);
            }
            int rc = rec_eval_model_params(c, m->type, m->params, err, errlen);
            if (rc)
                return rc;
        }
        (*n)++;
    }
    return *n ? 0 : rec_errf(err, errlen, REC_EINVAL, "--models is empty");
}

int rec_eval_carve(const struct rec_eval_split *s, double ratio, uint64_t seed,
                   struct rec_eval_split *out)
{
    int64_t n = s->train.indptr[s->n_users];
    struct rec_interaction *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    uint8_t *is_test = calloc((size_t)(n ? n : 1), 1);
    int rc = x && is_test ? 0 : REC_ENOMEM;
    for (int32_t u = 0; u < s->n_users && !rc; u++)
        for (int64_t e = s->train.indptr[u]; e < s->train.indptr[u + 1]; e++)
            x[e] = (struct rec_interaction){u, s->train.indices[e], s->train.values[e], s->train_ts[e]};
    if (!rc)
        rc = rec_split_random(x, n, ratio, seed, is_test);
    if (!rc)
        rc = rec_eval_split_build(out, s->n_users, s->n_items, x, n, is_test);
    if (!rc) {
        out->item_docs = s->item_docs;
        out->user_docs = s->user_docs;
        out->item_cats = s->item_cats;
    }
    free(x);
    free(is_test);
    return rc;
}

int rec_eval_blend_fit(struct rec_blend *b, const struct rec_eval_model *list, int n,
                       const struct rec_eval_split *s, double valid_ratio, uint64_t seed, int k, int threads,
                       double *valid_ndcg, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    for (int j = 0; j < n; j++) {
        if (list[j].kind != REC_EVAL_TYPE)
            continue;
        if (b->n == REC_BLEND_MAX)
            return rec_errf(err, errlen, REC_EINVAL, "a blend takes at most %d sources", REC_BLEND_MAX);
        b->type[b->n] = list[j].type;
        memcpy(b->params[b->n], list[j].params, sizeof b->params[0]);
        b->n++;
    }
    if (b->n == 0)
        return rec_errf(err, errlen, REC_EINVAL, "blend needs model types in --models to blend");
    struct rec_eval_split valid;
    int rc = rec_eval_carve(s, valid_ratio, seed ^ 0x76616c6964ULL, &valid);
    if (rc)
        return rec_errf(err, errlen, rc, "blend: carving a validation split: %s", rec_strerror(rc));
    struct rec_train_input in;
    rec_eval_train_input(&valid, threads, &in);
    if (!(rc = rec_blend_fit(b, &in, err, errlen)))
        rc = rec_blend_learn(b, &valid, k, threads, valid_ndcg);
    rec_blend_clear(b);
    rec_eval_split_free(&valid);
    if (rc)
        return rc;
    rec_eval_train_input(s, threads, &in);
    return rec_blend_fit(b, &in, err, errlen);
}

int rec_eval_item_categories(const struct rec_eval_data *d, struct rec_csr *out)
{
    struct rec_idmap cats;
    rec_idmap_init(&cats);
    int64_t n = 0, cap = 1024;
    struct rec_triplet *t = malloc((size_t)cap * sizeof *t);
    int rc = t ? 0 : REC_ENOMEM;
    for (int32_t i = 0; i < d->items.n_names && !rc; i++) {
        const char *doc = i < d->cap_item_docs ? d->item_docs[i] : NULL;
        json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
        json_t *arr = json_object_get(j, "categories");
        size_t x;
        json_t *v;
        json_array_foreach(arr, x, v)
        {
            if (!json_is_string(v))
                continue;
            int32_t cid = rec_idmap_put(&cats, json_string_value(v), NULL);
            if (cid < 0) {
                rc = REC_ENOMEM;
                break;
            }
            if (n == cap) {
                struct rec_triplet *p = realloc(t, (size_t)(cap *= 2) * sizeof *t);
                if (!p) {
                    rc = REC_ENOMEM;
                    break;
                }
                t = p;
            }
            t[n++] = (struct rec_triplet){i, cid, 1.0f};
        }
        json_decref(j);
    }
    if (!rc)
        rc = rec_csr_from_triplets(out, d->items.n_names, cats.n_names > 0 ? cats.n_names : 1, t, n);
    free(t);
    rec_idmap_free(&cats);
    return rc;
}

int rec_eval_score_blend(void *ctx, const struct rec_eval_split *s, int32_t u, float *scores)
{
    const struct rec_blend *b = ctx;
    float *tmp = malloc(((size_t)s->n_items + 1) * sizeof *tmp);
    if (!tmp)
        return REC_ENOMEM;
    struct rec_user_query q;
    rec_eval_query(s, u, &q);
    int rc = rec_blend_score(b, &q, scores, tmp);
    free(tmp);
    return rc;
}
