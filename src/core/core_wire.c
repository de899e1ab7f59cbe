#include "core/core_wire.h"
#include "util/wire_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int core_wire_base_name(const char *wire, char *base, size_t n, int *b64, int *gz)
{
    if (!wire || !wire[0] || strlen(wire) >= n)
        return -1;
    unsigned enc;
    size_t len = wire_file_base(wire, strlen(wire), &enc);
    if (len == 0)
        return -1;
    memcpy(base, wire, len);
    base[len] = '\0';
    if (b64)
        *b64 = (enc & WIRE_FILE_B64) != 0;
    if (gz)
        *gz = (enc & WIRE_FILE_GZ) != 0;
    return 0;
}

/* One value decoded per its name; malloc'd bytes or NULL with the reason. */
static unsigned char *decode_value(const char *wire, const json_t *value, int b64, int gz, size_t max_bytes,
                                   size_t *len, char *err, size_t errlen)
{
    struct status st;
    unsigned char *out = NULL;
    if (!json_is_string(value)) {
        snprintf(err, errlen, "start file '%s' is not a string", wire);
        return NULL;
    }
    unsigned enc = (b64 ? WIRE_FILE_B64 : 0) | (gz ? WIRE_FILE_GZ : 0);
    if (wire_file_decode(wire, json_string_value(value), json_string_length(value), enc, max_bytes, &out, len,
                         &st) != STATUS_OK)
        snprintf(err, errlen, "start file %s", st.msg);
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
    size_t text_len = 0;
    json_t *value = NULL, *files = NULL;
    if (core_wire_base_name(wire_name, base, sizeof base, &b64, &gz) != 0) {
        snprintf(err, errlen, "file name '%.100s' is empty or too long", wire_name ? wire_name : "");
        return NULL;
    }
    if (gz && !b64) {
        snprintf(err, errlen, "file name '%s': gzip bytes cannot travel in JSON without \".b64\"", wire_name);
        return NULL;
    }
    char *text = wire_file_encode(data, len, (b64 ? WIRE_FILE_B64 : 0) | (gz ? WIRE_FILE_GZ : 0), &text_len);
    if (!text) {
        snprintf(err, errlen, "out of memory encoding '%s'", wire_name);
        return NULL;
    }
    value = json_stringn(text, text_len);
    free(text);
    if (!value) {
        snprintf(err, errlen, "file '%s' is not UTF-8 text; name it '%s.b64'", wire_name, wire_name);
        return NULL;
    }
    files = json_pack("{s:o}", wire_name, value); /* "o" takes the reference, even when it fails */
    if (!files)
        snprintf(err, errlen, "out of memory encoding '%s'", wire_name);
    return files;
}

json_t *core_wire_frame_files(const void *xtc, size_t len, char *err, size_t errlen)
{
    return core_wire_encode_file(CORE_WIRE_FRAME_NAME, xtc, len, err, errlen);
}
