#include "util/wire_file.h"

#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/gz.h"

/* 1 and *len shortened when name[0..*len) ends in suffix. */
static int strip(const char *name, size_t *len, const char *suffix)
{
    size_t n = strlen(suffix);
    if (*len < n || memcmp(name + *len - n, suffix, n) != 0)
        return 0;
    *len -= n;
    return 1;
}

/* data and a NUL, malloc'd. */
static char *copy_bytes(const void *data, size_t len)
{
    char *c = malloc(len + 1);
    if (c != NULL) {
        memcpy(c, data, len);
        c[len] = '\0';
    }
    return c;
}

size_t wire_file_base(const char *name, size_t len, unsigned *enc)
{
    unsigned bits = strip(name, &len, ".b64") ? WIRE_FILE_B64 : 0;
    bits |= strip(name, &len, ".gz") ? WIRE_FILE_GZ : 0;
    if (enc != NULL)
        *enc = bits;
    return len;
}

char *wire_file_encode(const void *data, size_t len, unsigned enc, size_t *out_len)
{
    if ((enc & WIRE_FILE_GZ) && !(enc & WIRE_FILE_B64))
        return NULL;
    unsigned char *zipped = NULL;
    char *out = NULL;
    if (enc & WIRE_FILE_GZ) {
        zipped = gz_compress(data, len, &len);
        if (zipped == NULL)
            return NULL;
        data = zipped;
    }
    if (enc & WIRE_FILE_B64) {
        out = base64_encode(data, len, out_len);
    } else if ((out = copy_bytes(data, len)) != NULL && out_len != NULL) {
        *out_len = len;
    }
    free(zipped);
    return out;
}

status_code wire_file_decode(const char *name, const char *text, size_t len, unsigned enc, size_t max,
                             unsigned char **out, size_t *out_len, struct status *st)
{
    unsigned char *raw = NULL;
    size_t raw_len = len;
    *out = NULL;
    if (enc & WIRE_FILE_B64) {
        raw = base64_decode(text, len, &raw_len);
        if (raw == NULL)
            return status_fail(st, STATUS_INVALID, "'%s' is not valid base64", name);
        text = (const char *)raw;
    }
    if (enc & WIRE_FILE_GZ) {
        *out = gz_decompress(text, raw_len, max, out_len);
        free(raw);
        if (*out == NULL)
            return status_fail(st, STATUS_INVALID, "'%s' is not valid gzip or inflates past %zu bytes", name,
                               max);
        return STATUS_OK;
    }
    if (raw_len > max) {
        free(raw);
        return status_fail(st, STATUS_TOO_LARGE, "'%s' is larger than %zu bytes", name, max);
    }
    if (raw == NULL)
        raw = (unsigned char *)copy_bytes(text, len);
    if (raw == NULL)
        return status_fail(st, STATUS_IO, "out of memory decoding '%s'", name);
    *out = raw;
    *out_len = raw_len;
    return STATUS_OK;
}
