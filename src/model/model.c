/* model.c: hyperparameter helpers shared by every model type (parse, format, defaults). */
#include "model/model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void rec_model_params_default(const struct rec_model_type *t, double *params)
{
    for (int j = 0; j < t->n_params; j++)
        params[j] = t->params[j].def;
}

int rec_model_param_index(const struct rec_model_type *t, const char *name)
{
    for (int j = 0; j < t->n_params; j++)
        if (!strcmp(t->params[j].name, name))
            return j;
    return -1;
}

int rec_model_params_parse(const struct rec_model_type *t, const char *s, double *params, char *err,
                           size_t errlen)
{
    while (s && *s) {
        const char *end = strchr(s, ','), *eq = strchr(s, '=');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (!eq || (size_t)(eq - s) >= len)
            return rec_errf(err, errlen, REC_EINVAL, "%s: expected name=value, got \"%.*s\"", t->name,
                            (int)(len > 64 ? 64 : len), s);
        char name[64];
        size_t nlen = (size_t)(eq - s);
        if (nlen >= sizeof name)
            nlen = sizeof name - 1;
        memcpy(name, s, nlen);
        name[nlen] = '\0';
        int j = rec_model_param_index(t, name);
        if (j < 0)
            return rec_errf(err, errlen, REC_EINVAL, "%s has no parameter \"%s\"", t->name, name);
        char *num_end;
        errno = 0;
        double v = strtod(eq + 1, &num_end);
        if (errno || num_end == eq + 1 || (size_t)(num_end - s) != len || !isfinite(v))
            return rec_errf(err, errlen, REC_EINVAL, "%s.%s: \"%.*s\" is not a number", t->name, name,
                            (int)(len - nlen - 1 > 32 ? 32 : len - nlen - 1), eq + 1);
        const struct rec_param_spec *sp = &t->params[j];
        if (v < sp->lo || v > sp->hi)
            return rec_errf(err, errlen, REC_EINVAL, "%s.%s must be in %g..%g, got %g", t->name, name,
                            sp->lo, sp->hi, v);
        if ((sp->scale == REC_PARAM_INT || sp->scale == REC_PARAM_LOG_INT) && v != floor(v))
            return rec_errf(err, errlen, REC_EINVAL, "%s.%s must be a whole number, got %g", t->name,
                            name, v);
        params[j] = v;
        s = end ? end + 1 : NULL;
    }
    return 0;
}

int rec_model_params_check(const char *model, const struct rec_param_spec *spec, int n,
                           const double *p, char *err, size_t errlen)
{
    if (!p)
        return rec_errf(err, errlen, REC_EINVAL, "%s: params missing", model);
    for (int j = 0; j < n; j++) {
        const struct rec_param_spec *s = &spec[j];
        if (!(p[j] >= s->lo && p[j] <= s->hi))
            return rec_errf(err, errlen, REC_EINVAL, "%s.%s must be in %g..%g", model, s->name,
                            s->lo, s->hi);
        if ((s->scale == REC_PARAM_INT || s->scale == REC_PARAM_LOG_INT) && p[j] != floor(p[j]))
            return rec_errf(err, errlen, REC_EINVAL, "%s.%s must be a whole number", model,
                            s->name);
    }
    return REC_OK;
}

void rec_model_params_format(const struct rec_model_type *t, const double *params, char *buf,
                             size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = '\0';
    for (int j = 0; j < t->n_params && off < len; j++) {
        int w = snprintf(buf + off, len - off, "%s%s=%.6g", j ? "," : "", t->params[j].name, params[j]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}
