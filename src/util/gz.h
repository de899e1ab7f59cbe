/* gz: gzip (RFC 1952) in memory, through zlib. Results are malloc'd.
 * gz_decompress refuses output larger than max_out, so a small hostile body
 * cannot inflate into gigabytes. Also accepts concatenated gzip members. */
#ifndef ST_GZ_H
#define ST_GZ_H

#include <stddef.h>

unsigned char *gz_compress(const void *data, size_t len, size_t *out_len);
unsigned char *gz_decompress(const void *data, size_t len, size_t max_out,
                             size_t *out_len); /* NULL: bad or too big */

#endif
