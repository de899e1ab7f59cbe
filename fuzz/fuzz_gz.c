/* Fuzz target: gzip inflation of ".gz" frame files with its output limit.
 * The first byte picks the limit (up to 1 MiB, so a bomb in the corpus
 * costs little) and the sink call, if any, that refuses. gz_decompress must
 * yield at most the limit, NUL-terminated; gz_inflate must accept the same
 * inputs and stream the same bytes in chunks, stop at a refusing sink, and
 * count only what the sink took. Whatever is compressed must inflate back
 * to itself within a limit of exactly its size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "util/gz.h"

struct collect {
    unsigned char *buf;
    size_t len, max;
    int calls, fail_at; /* fail_at 0: never refuse */
};

static int sink(void *ctx, const void *chunk, size_t len)
{
    struct collect *c = ctx;
    FUZZ_CHECK(len > 0 && len <= c->max - c->len);
    if (++c->calls == c->fail_at)
        return -1;
    memcpy(c->buf + c->len, chunk, len);
    c->len += len;
    return 0;
}

static void check_inflate(const uint8_t *body, size_t len, size_t max_out, int fail_at,
                          const unsigned char *out, size_t out_len)
{
    struct collect c = {malloc(max_out ? max_out : 1), 0, max_out, 0, fail_at};
    size_t taken = 12345;
    FUZZ_CHECK(c.buf != NULL);
    int rc = gz_inflate(body, len, max_out, sink, &c, &taken);
    FUZZ_CHECK(taken == c.len);
    if (rc == GZ_SINK)
        FUZZ_CHECK(c.calls == fail_at);
    else if (c.calls < fail_at || fail_at == 0)
        FUZZ_CHECK((rc == GZ_OK) == (out != NULL));
    if (rc == GZ_OK)
        FUZZ_CHECK(out != NULL && c.len == out_len && memcmp(c.buf, out, out_len) == 0);
    FUZZ_CHECK(rc == GZ_OK || rc == GZ_BAD || rc == GZ_TOO_BIG || rc == GZ_SINK);
    free(c.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max_out = (size_t)1 << (data[0] % 21);
    int fail_at = data[0] >> 5;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    size_t out_len = 0;
    unsigned char *out = gz_decompress(body, len, max_out, &out_len);
    if (out != NULL) {
        FUZZ_CHECK(out_len <= max_out);
        FUZZ_CHECK(out[out_len] == '\0');
    }
    check_inflate(body, len, max_out, fail_at, out, out_len);
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
