/* writer.h: JSON text written straight into a growing buffer, for the responses on the hot
 * path (a list of recommendations), where building a jansson tree cost more than the ranking
 * (an allocation per string and per object, then a second pass to encode it).
 *
 * The writer places commas itself: a value or a key after another value in the same object or
 * array gets one. Memory errors are sticky: calls after one do nothing, and rec_jw_finish
 * reports it. Strings are written as given (they must be UTF-8, which the engine's ids and
 * texts are), with the escapes JSON requires. */
#ifndef REC_JSON_WRITER_H
#define REC_JSON_WRITER_H

#include <stddef.h>

struct rec_jw {
    char *buf;      /* malloc'd, NUL-terminated while no error */
    size_t len, cap;
    int comma;      /* the next value or key needs a comma first */
    int failed;     /* an allocation failed */
};

void rec_jw_init(struct rec_jw *w);
void rec_jw_open(struct rec_jw *w, char bracket);   /* '{' or '[' */
void rec_jw_close(struct rec_jw *w, char bracket);  /* '}' or ']' */
void rec_jw_key(struct rec_jw *w, const char *key);
void rec_jw_str(struct rec_jw *w, const char *s);   /* NULL writes null */
/* A number as jansson encodes it with JSON_REAL_PRECISION(12): %.12g, with ".0" added when
 * the text would read as an integer. Infinite and NaN values, which JSON cannot hold, are
 * written as null. */
void rec_jw_real(struct rec_jw *w, double v);
void rec_jw_int(struct rec_jw *w, long long v);
void rec_jw_bool(struct rec_jw *w, int v);
void rec_jw_null(struct rec_jw *w);
/* Already-encoded JSON text as one value (e.g. a json_dumps result). */
void rec_jw_raw_value(struct rec_jw *w, const char *text);
/* Gives the buffer to the caller (free it) and resets w; NULL after an allocation failure. */
char *rec_jw_finish(struct rec_jw *w, size_t *len);

#endif
