/* registry.c: every model type recd knows, by name. */
#include <string.h>

#include "model/model.h"

extern const struct rec_model_type rec_model_als, rec_model_bpr, rec_model_ease, rec_model_itemknn,
    rec_model_seqknn, rec_model_content, rec_model_attrs, rec_model_pop;

static const struct rec_model_type *const types[] = {
    &rec_model_als, &rec_model_bpr, &rec_model_ease, &rec_model_itemknn,
    &rec_model_seqknn, &rec_model_content, &rec_model_attrs, &rec_model_pop,
};

const struct rec_model_type *const *rec_model_types(int *n)
{
    *n = (int)(sizeof types / sizeof types[0]);
    return types;
}

const struct rec_model_type *rec_model_find(const char *name)
{
    for (size_t j = 0; j < sizeof types / sizeof types[0]; j++)
        if (!strcmp(types[j]->name, name))
            return types[j];
    return NULL;
}
