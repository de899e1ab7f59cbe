#include "util/gz.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* windowBits 15 + 16 selects the gzip wrapper in zlib. */
#define GZ_WINDOW (15 + 16)

unsigned char *gz_compress(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZ_WINDOW, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)len);
    unsigned char *out = malloc(cap);
    if (out == NULL)
        goto fail;
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        goto fail;
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
fail:
    free(out);
    deflateEnd(&zs);
    return NULL;
}

/* Inflated bytes handed to the sink per call. */
#define GZ_CHUNK (64u << 10)

/* Points the next input piece (at most UINT_MAX bytes) into zs. */
static void gz_refill(z_stream *zs, const unsigned char **in, size_t *in_left)
{
    size_t n = *in_left > UINT_MAX ? UINT_MAX : *in_left;
    zs->next_in = (Bytef *)*in;
    zs->avail_in = (uInt)n;
    *in += n;
    *in_left -= n;
}

/* One inflate step into chunk; a GZ_ code, or 1 when the input is done. */
static int gz_step(z_stream *zs, unsigned char *chunk, size_t *total, size_t max_out, gz_sink sink, void *ctx,
                   size_t in_left)
{
    zs->next_out = chunk;
    zs->avail_out = GZ_CHUNK;
    int zrc = inflate(zs, Z_NO_FLUSH);
    if (zrc != Z_OK && zrc != Z_STREAM_END)
        return GZ_BAD; /* corrupt, or Z_BUF_ERROR: the input ended inside a member */
    size_t got = GZ_CHUNK - zs->avail_out;
    if (got > max_out - *total)
        return GZ_TOO_BIG;
    if (got > 0 && sink(ctx, chunk, got) != 0)
        return GZ_SINK;
    *total += got;
    if (zrc != Z_STREAM_END)
        return GZ_OK;
    if (zs->avail_in == 0 && in_left == 0)
        return 1;
    /* another gzip member follows */
    return inflateReset(zs) == Z_OK ? GZ_OK : GZ_BAD;
}

int gz_inflate(const void *data, size_t len, size_t max_out, gz_sink sink, void *ctx, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    size_t total = 0;
    if (out_len != NULL)
        *out_len = 0;
    if (len == 0 || inflateInit2(&zs, GZ_WINDOW) != Z_OK)
        return GZ_BAD;
    unsigned char *chunk = malloc(GZ_CHUNK);
    const unsigned char *in = data;
    size_t in_left = len;
    int rc = chunk != NULL ? GZ_OK : GZ_BAD;
    while (rc == GZ_OK) {
        if (zs.avail_in == 0 && in_left > 0)
            gz_refill(&zs, &in, &in_left);
        rc = gz_step(&zs, chunk, &total, max_out, sink, ctx, in_left);
    }
    free(chunk);
    inflateEnd(&zs);
    if (out_len != NULL)
        *out_len = total;
    return rc == 1 ? GZ_OK : rc;
}

struct gz_buffer {
    unsigned char *out;
    size_t used, cap, max_out;
};

/* A gz_sink that grows a buffer (doubling, up to max_out, one byte spare
 * for the NUL). */
static int gz_collect(void *ctx, const void *chunk, size_t len)
{
    struct gz_buffer *b = ctx;
    if (len > b->cap - b->used) {
        size_t next = b->cap;
        while (len > next - b->used)
            next = next > b->max_out / 2 ? b->max_out : next * 2;
        unsigned char *p = realloc(b->out, next + 1);
        if (p == NULL)
            return -1;
        b->out = p;
        b->cap = next;
    }
    memcpy(b->out + b->used, chunk, len);
    b->used += len;
    return 0;
}

unsigned char *gz_decompress(const void *data, size_t len, size_t max_out, size_t *out_len)
{
    struct gz_buffer b = {NULL, 0, len * 4 + 64 < max_out ? len * 4 + 64 : max_out, max_out};
    b.out = malloc(b.cap + 1);
    if (b.out == NULL || gz_inflate(data, len, max_out, gz_collect, &b, NULL) != GZ_OK) {
        free(b.out);
        return NULL;
    }
    b.out[b.used] = '\0';
    *out_len = b.used;
    return b.out;
}
