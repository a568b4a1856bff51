/* jsonpos.h: where a JSON path is in a JSON text, so that a validation error can name a line.
 *
 * jansson reports lines only for syntax errors; a file that parses but fails validation needs a
 * second look at the text. rec_jsonpos_line is a single forward pass of a small tokenizer
 * (strings with escapes, numbers, literals, nesting) that descends only into the containers on
 * the path and skips everything else.
 *
 * Path syntax (it can name any value of any JSON document):
 *
 *   path      := [ bare ] component*            the empty path names the top-level value
 *   component := "." bare                       object member whose key is bare
 *              | "[" digits "]"                 array element, 0-based
 *              | "[" json-string "]"            object member with any key
 *   bare      := one or more of [A-Za-z0-9_-]
 *   json-string := a JSON string literal in double quotes, with the JSON escapes
 *                  (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs included)
 *
 * e.g. rules[2].when.all[0]["context.hour"].between. A key containing anything outside the bare
 * set (dots, brackets, quotes, spaces, non-ASCII, the empty key) is written in the ["..."] form;
 * keys are compared by the characters they decode to, so "\u00e9" in the path matches a raw "é"
 * in the text and vice versa. rec_jsonpos_add_key writes the canonical form.
 *
 * Every function is pure (no globals, no allocation) and thread-safe.
 */
#ifndef REC_RANK_JSONPOS_H
#define REC_RANK_JSONPOS_H

#include <stddef.h>

/* The 1-based line on which the value at path starts in text (len bytes, no NUL needed; lines
 * are counted by '\n', so CRLF files count right). Returns 0 when the path is malformed, names
 * nothing in text, or the text is not well-formed JSON along the way (text that jansson
 * accepted always resolves). The first member wins when an object repeats a key. */
int rec_jsonpos_line(const char *text, size_t len, const char *path);

/* Appends the component for object key to the NUL-terminated path in buf (cap bytes, *len its
 * current length): ".key" for a bare key ("key" when the path is empty), else ["key"] with '"',
 * '\' and control characters escaped. Returns 0 and updates *len, or REC_ETOOBIG, leaving buf
 * and *len as they were, when the result would not fit. */
int rec_jsonpos_add_key(char *buf, size_t cap, size_t *len, const char *key);

/* As rec_jsonpos_add_key for array index i: "[i]". */
int rec_jsonpos_add_index(char *buf, size_t cap, size_t *len, size_t i);

/* Length of path without its last component (0 for a path of one component or the empty path,
 * and for a malformed path): path[rec_jsonpos_parent(path)] = '\0' names the parent. */
size_t rec_jsonpos_parent(const char *path);

#endif
