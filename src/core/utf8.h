/* utf8.h: UTF-8 well-formedness, the one implementation recd uses (id checks, error messages,
 * explanations). Overlongs, surrogates and code points past U+10FFFF are not well formed. */
#ifndef REC_CORE_UTF8_H
#define REC_CORE_UTF8_H

#include <stddef.h>

/* Length (1..4) of the well-formed sequence at s, which has n bytes available; 0 when the bytes
 * there are not a complete, well-formed sequence. */
size_t rec_utf8_seq_len(const unsigned char *s, size_t n);
/* Replaces, in place, every byte that does not start a well-formed sequence with '?', so a
 * message cut mid-character by a length limit is still valid UTF-8. */
void rec_utf8_sanitize(char *s);

#endif
