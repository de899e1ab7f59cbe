/* Fuzz target: gzip inflation of ".gz" frame files with its output limit.
 * The first byte picks the limit (up to 1 MiB, so a bomb in the corpus
 * costs little). An accepted input yields at most the limit, NUL-terminated;
 * whatever is compressed must inflate back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "util/gz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max_out = (size_t)1 << (data[0] % 21);
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    size_t out_len = 0;
    unsigned char *out = gz_decompress(body, len, max_out, &out_len);
    if (out != NULL) {
        FUZZ_CHECK(out_len <= max_out);
        FUZZ_CHECK(out[out_len] == '\0');
    }
    free(out);

    size_t z_len = 0, back_len = 0;
    unsigned char *z = gz_compress(body, len, &z_len);
    FUZZ_CHECK(z != NULL);
    unsigned char *back = gz_decompress(z, z_len, len, &back_len);
    FUZZ_CHECK(back != NULL && back_len == len && memcmp(back, body, len) == 0);
    free(back);
    free(z);
    return 0;
}
