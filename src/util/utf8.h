/* utf8: UTF-8 (RFC 3629) checks for text that must become JSON or a file
 * name. Valid means well-formed: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequence. */
#ifndef ST_UTF8_H
#define ST_UTF8_H

#include <stddef.h>

/* Length in bytes of the well-formed character at s[0..len), or 0 when the
 * bytes there are not one. *cp (may be NULL) gets its code point. */
size_t utf8_char(const unsigned char *s, size_t len, unsigned *cp);
/* 1 when s[0..len) is valid UTF-8, else 0. */
int utf8_valid(const char *s, size_t len);
/* Replaces, in place, every byte that is not part of a well-formed
 * character with '?', so any C string becomes valid UTF-8 (e.g. an error
 * message that quotes a client's bytes). Returns s. */
char *utf8_scrub(char *s);

#endif
