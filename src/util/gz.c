#include "util/gz.h"

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

static int gz_grow(unsigned char **out, size_t *cap, size_t max_out)
{
    if (*cap >= max_out)
        return -1;
    size_t next = *cap * 2 > max_out ? max_out : *cap * 2;
    unsigned char *p = realloc(*out, next + 1);
    if (p == NULL)
        return -1;
    *out = p;
    *cap = next;
    return 0;
}

unsigned char *gz_decompress(const void *data, size_t len, size_t max_out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, GZ_WINDOW) != Z_OK)
        return NULL;
    size_t cap = len * 4 + 64 < max_out ? len * 4 + 64 : max_out;
    size_t used = 0;
    unsigned char *out = malloc(cap + 1);
    const unsigned char *in = data;
    size_t in_left = len;
    if (out == NULL)
        goto fail;
    while (in_left > 0) {
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)in_left;
        int rc;
        do {
            if (used == cap && gz_grow(&out, &cap, max_out) != 0)
                goto fail;
            zs.next_out = out + used;
            zs.avail_out = (uInt)(cap - used);
            rc = inflate(&zs, Z_NO_FLUSH);
            used = cap - zs.avail_out;
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
                goto fail;
            if (rc == Z_BUF_ERROR && zs.avail_in == 0)
                goto fail; /* input ended inside a member */
        } while (rc != Z_STREAM_END);
        in_left = zs.avail_in;
        in = zs.next_in;
        if (in_left > 0 && inflateReset(&zs) != Z_OK) /* another gzip member follows */
            goto fail;
    }
    if (used == 0 && len == 0)
        goto fail;
    out[used] = '\0';
    *out_len = used;
    inflateEnd(&zs);
    return out;
fail:
    free(out);
    inflateEnd(&zs);
    return NULL;
}
