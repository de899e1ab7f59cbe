/* core_wire: the SCV's ".b64" / ".gz" naming rule applied both ways. */
#include "core/core_wire.h"
#include "util/base64.h"
#include "util/gz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int strip_suffix(char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n < s || strcmp(name + n - s, suffix) != 0)
        return 0;
    name[n - s] = '\0';
    return 1;
}

int core_wire_base_name(const char *wire, char *base, size_t n, int *b64, int *gz)
{
    if (!wire || !wire[0] || strlen(wire) >= n)
        return -1;
    strcpy(base, wire);
    int is_b64 = strip_suffix(base, ".b64");
    int is_gz = strip_suffix(base, ".gz");
    if (!base[0])
        return -1;
    if (b64)
        *b64 = is_b64;
    if (gz)
        *gz = is_gz;
    return 0;
}

/* One value decoded per its name; malloc'd bytes or NULL with the reason. */
static unsigned char *decode_value(const char *wire, const json_t *value, int b64, int gz, size_t max_bytes,
                                   size_t *len, char *err, size_t errlen)
{
    unsigned char *raw = NULL, *out = NULL;
    size_t raw_len = 0;
    if (!json_is_string(value)) {
        snprintf(err, errlen, "start file '%s' is not a string", wire);
        return NULL;
    }
    const char *text = json_string_value(value);
    size_t text_len = json_string_length(value);
    if (b64) {
        raw = base64_decode(text, text_len, &raw_len);
        if (!raw) {
            snprintf(err, errlen, "start file '%s' is not valid base64", wire);
            goto out;
        }
    } else {
        raw = malloc(text_len + 1);
        if (!raw) {
            snprintf(err, errlen, "out of memory decoding '%s'", wire);
            goto out;
        }
        memcpy(raw, text, text_len + 1);
        raw_len = text_len;
    }
    if (gz) {
        out = gz_decompress(raw, raw_len, max_bytes, len);
        if (!out)
            snprintf(err, errlen, "start file '%s' is not valid gzip or inflates past %zu bytes", wire,
                     max_bytes);
        goto out;
    }
    if (raw_len > max_bytes) {
        snprintf(err, errlen, "start file '%s' is larger than %zu bytes", wire, max_bytes);
        goto out;
    }
    out = raw;
    raw = NULL;
    *len = raw_len;
out:
    free(raw);
    return out;
}

int core_wire_decode_files(const json_t *files, size_t max_bytes, struct core_wire_files *out, char *err,
                           size_t errlen)
{
    const char *wire;
    const json_t *value;
    memset(out, 0, sizeof *out);
    if (!json_is_object(files)) {
        snprintf(err, errlen, "the start reply's \"files\" is not an object");
        return -1;
    }
    size_t count = json_object_size(files);
    out->files = calloc(count ? count : 1, sizeof *out->files);
    out->wire_names = calloc(count ? count : 1, sizeof *out->wire_names);
    if (!out->files || !out->wire_names) {
        snprintf(err, errlen, "out of memory decoding the start files");
        goto fail;
    }
    json_object_foreach((json_t *)files, wire, value)
    {
        char base[CORE_WIRE_NAME_MAX];
        int b64, gz;
        size_t len = 0;
        if (core_wire_base_name(wire, base, sizeof base, &b64, &gz) != 0) {
            snprintf(err, errlen, "start file name '%.100s' is empty or too long", wire);
            goto fail;
        }
        unsigned char *data = decode_value(wire, value, b64, gz, max_bytes, &len, err, errlen);
        if (!data)
            goto fail;
        core_file *f = &out->files[out->n];
        f->data = data;
        f->len = len;
        f->name = strdup(base);
        out->wire_names[out->n] = strdup(wire);
        out->n++;
        if (!f->name || !out->wire_names[out->n - 1]) {
            snprintf(err, errlen, "out of memory decoding the start files");
            goto fail;
        }
    }
    return 0;
fail:
    core_wire_files_free(out);
    return -1;
}

void core_wire_files_free(struct core_wire_files *f)
{
    for (size_t i = 0; f->files && i < f->n; i++) {
        free((void *)f->files[i].name);
        free((void *)f->files[i].data);
        free(f->wire_names[i]);
    }
    free(f->files);
    free(f->wire_names);
    memset(f, 0, sizeof *f);
}

const char *core_wire_files_wire_name(const struct core_wire_files *f, const char *base)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->files[i].name, base) == 0)
            return f->wire_names[i];
    return NULL;
}

json_t *core_wire_encode_file(const char *wire_name, const void *data, size_t len, char *err, size_t errlen)
{
    char base[CORE_WIRE_NAME_MAX];
    int b64, gz;
    unsigned char *zipped = NULL;
    char *text = NULL;
    json_t *value = NULL, *files = NULL;
    if (core_wire_base_name(wire_name, base, sizeof base, &b64, &gz) != 0) {
        snprintf(err, errlen, "file name '%.100s' is empty or too long", wire_name ? wire_name : "");
        return NULL;
    }
    if (gz && !b64) {
        snprintf(err, errlen, "file name '%s': gzip bytes cannot travel in JSON without \".b64\"", wire_name);
        return NULL;
    }
    const void *payload = data;
    size_t payload_len = len;
    if (gz) {
        zipped = gz_compress(data, len, &payload_len);
        if (!zipped) {
            snprintf(err, errlen, "cannot gzip '%s'", wire_name);
            goto out;
        }
        payload = zipped;
    }
    if (b64) {
        text = base64_encode(payload, payload_len, &payload_len);
        if (!text) {
            snprintf(err, errlen, "out of memory encoding '%s'", wire_name);
            goto out;
        }
        payload = text;
    }
    value = json_stringn(payload, payload_len);
    if (!value) {
        snprintf(err, errlen, "file '%s' is not UTF-8 text; name it '%s.b64'", wire_name, wire_name);
        goto out;
    }
    files = json_pack("{s:o}", wire_name, value);
    value = NULL; /* json_pack's "o" takes the reference, even when it fails */
    if (!files)
        snprintf(err, errlen, "out of memory encoding '%s'", wire_name);
out:
    json_decref(value);
    free(zipped);
    free(text);
    return files;
}

json_t *core_wire_frame_files(const void *xtc, size_t len, char *err, size_t errlen)
{
    return core_wire_encode_file(CORE_WIRE_FRAME_NAME, xtc, len, err, errlen);
}
