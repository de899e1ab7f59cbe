/* gz: gzip (RFC 1952) through zlib. Also accepts concatenated gzip members.
 * Inflation is always bounded by max_out, so a small hostile body cannot
 * inflate into gigabytes: gz_inflate streams the output to a sink in
 * chunks (nothing held in memory), gz_decompress collects it in a malloc'd
 * buffer. gz_compress results are malloc'd. */
#ifndef ST_GZ_H
#define ST_GZ_H

#include <stddef.h>

enum {
    GZ_OK = 0,
    GZ_BAD = -1,     /* not gzip, corrupt or truncated (or out of memory) */
    GZ_TOO_BIG = -2, /* would inflate past max_out */
    GZ_SINK = -3,    /* the sink returned non-zero */
};

/* Receives the next len (> 0) inflated bytes; non-zero stops the inflate. */
typedef int (*gz_sink)(void *ctx, const void *chunk, size_t len);

unsigned char *gz_compress(const void *data, size_t len, size_t *out_len);
/* Feeds sink at most max_out bytes in all; *out_len (may be NULL) counts
 * what the sink accepted. Returns a GZ_ code. */
int gz_inflate(const void *data, size_t len, size_t max_out, gz_sink sink, void *ctx, size_t *out_len);
/* NUL-terminated; NULL when bad or too big. */
unsigned char *gz_decompress(const void *data, size_t len, size_t max_out, size_t *out_len);

#endif
