/* base64: standard alphabet (RFC 4648).
 * The encoder (libsodium's) pads. The decoder ignores ASCII whitespace
 * (Python's encoders wrap lines), takes the padding or its absence,
 * tolerates a last group's unused low bits (RFC 4648 lets a decoder), and
 * refuses anything else that is not base64, a NUL included. Results are
 * malloc'd and NUL-terminated (the NUL is not counted in *out_len). */
#ifndef ST_BASE64_H
#define ST_BASE64_H

#include <stddef.h>

char *base64_encode(const void *data, size_t len, size_t *out_len);
unsigned char *base64_decode(const char *text, size_t len, size_t *out_len); /* NULL if invalid */

#endif
