#include "scv/scv_frame.h"

#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"
#include "scv/json_slices.h"
#include "scv/stream_path.h"
#include "util/base64.h"
#include "util/gz.h"
#include "util/wire_file.h"

/* Frame file strings this long are read in place, not copied by jansson. */
#define FRAME_SLICE_MIN 4096
#define FRAMES_MAX 1000000000

/* One frame's appending: the store's handle and what is left to inflate. */
struct frame_ctx {
    stream_store_frame *fr;
    size_t budget;
    size_t max_inflate;
    int64_t frames;
    uint64_t bytes;     /* appended so far */
    struct status sink; /* why the last sink write failed */
};

static int frame_sink(void *arg, const void *chunk, size_t len)
{
    struct frame_ctx *c = arg;
    if (stream_store_frame_write(c->fr, chunk, len, &c->sink) != STATUS_OK)
        return -1;
    c->bytes += len;
    return 0;
}

static status_code append_gzip(struct frame_ctx *c, const char *name, const void *bytes, size_t len,
                               struct status *st)
{
    size_t inflated = 0;
    int zrc = gz_inflate(bytes, len, c->budget, frame_sink, c, &inflated);
    c->budget -= inflated;
    switch (zrc) {
    case GZ_OK:
        return STATUS_OK;
    case GZ_TOO_BIG:
        return status_fail(st, STATUS_TOO_LARGE, "the frame's .gz files inflate past %zu bytes in all",
                           c->max_inflate);
    case GZ_SINK:
        return status_fail(st, c->sink.code, "cannot buffer the frame: %s", c->sink.msg);
    default:
        return status_fail(st, STATUS_INVALID, "frame file '%s' is not valid gzip", name);
    }
}

/* The credit integrity rule: an XTC file holds exactly the claimed frames. */
static status_code check_xtc(struct frame_ctx *c, const char *name, struct status *st)
{
    char why[STATUS_MSG_LEN];
    const void *data;
    size_t len;
    struct status inner;
    if (stream_store_frame_appended(c->fr, &data, &len, &inner) != STATUS_OK)
        return status_fail(st, inner.code, "cannot buffer the frame: %s", inner.msg);
    long n = xtc_count_frames(data, len, why, sizeof why);
    if (n < 0)
        return status_fail(st, STATUS_INVALID, "frame file '%s' is not XTC: %s", name, why);
    if (n != c->frames)
        return status_fail(st, STATUS_INVALID,
                           "frame file '%s' holds %ld XTC frames, but \"frames\" says %lld", name, n,
                           (long long)c->frames);
    return STATUS_OK;
}

/* Appends one file under its decoded name. */
static status_code append_file(struct frame_ctx *c, const json_slices *slices, const char *name,
                               const json_t *value, struct status *st)
{
    char plain[STREAM_PATH_NAME_MAX + 1];
    struct status inner;
    size_t len = strlen(name), bytes_len;
    unsigned char *decoded = NULL;
    if (!json_is_string(value))
        return status_fail(st, STATUS_INVALID, "\"files\".\"%s\" must be a string", name);
    if (len > STREAM_PATH_NAME_MAX)
        return status_fail(st, STATUS_INVALID, "frame file name '%.40s...' is too long", name);
    unsigned enc;
    len = wire_file_base(name, len, &enc);
    memcpy(plain, name, len);
    plain[len] = '\0';
    int b64 = (enc & WIRE_FILE_B64) != 0, gz = (enc & WIRE_FILE_GZ) != 0;
    const void *bytes = json_slices_string(slices, value, &bytes_len);
    if (b64 && (bytes = decoded = base64_decode(bytes, bytes_len, &bytes_len)) == NULL)
        return status_fail(st, STATUS_INVALID, "frame file '%s' is not valid base64", name);
    status_code rc = stream_store_frame_file(c->fr, plain, &inner);
    if (rc == STATUS_OK && !gz &&
        (rc = stream_store_frame_write(c->fr, bytes, bytes_len, &inner)) == STATUS_OK)
        c->bytes += bytes_len;
    if (rc != STATUS_OK)
        status_fail(st, rc, "cannot buffer the frame: %s", inner.msg);
    else if (gz)
        rc = append_gzip(c, name, bytes, bytes_len, st);
    free(decoded);
    if (rc == STATUS_OK && len > 4 && strcmp(plain + len - 4, ".xtc") == 0)
        rc = check_xtc(c, name, st);
    return rc;
}

static status_code frames_field(const json_t *body, int64_t *frames, struct status *st)
{
    json_t *v = json_object_get(body, "frames");
    *frames = 1;
    if (v == NULL)
        return STATUS_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > FRAMES_MAX)
        return status_fail(st, STATUS_INVALID, "\"frames\" must be an integer from 1 to %d", FRAMES_MAX);
    *frames = json_integer_value(v);
    return STATUS_OK;
}

static status_code append_all(struct frame_ctx *c, const json_t *files, const json_slices *slices,
                              struct status *st)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)files, name, v)
    {
        status_code rc = append_file(c, slices, name, v, st);
        if (rc != STATUS_OK)
            return rc;
    }
    return STATUS_OK;
}

status_code scv_frame_append(stream_store *store, const char *id, const char *body, size_t len,
                             size_t max_inflate, int64_t *frames, uint64_t *bytes, int *broken,
                             struct status *st)
{
    json_error_t jerr;
    json_slices slices = {0};
    struct status inner;
    struct frame_ctx c = {.budget = max_inflate, .max_inflate = max_inflate, .frames = 1};
    status_code rc;
    *broken = 0;
    json_t *root = json_slices_load(body, len, FRAME_SLICE_MIN, &slices, &jerr);
    json_t *files = json_object_get(root, "files");
    if (!json_is_object(root)) {
        rc = status_fail(st, STATUS_INVALID, "the body must be a JSON object%s%s", root ? "" : ": ",
                         root ? "" : jerr.text);
        goto out;
    }
    if (!json_is_object(files)) {
        rc = status_fail(st, STATUS_INVALID, "\"files\" must be an object of name: string");
        goto out;
    }
    if ((rc = frames_field(root, &c.frames, st)) != STATUS_OK)
        goto out;
    if ((rc = stream_store_frame_begin(store, id, &c.fr, &inner)) != STATUS_OK) {
        status_fail(st, rc, "cannot buffer the frame: %s", inner.msg);
        goto out;
    }
    rc = append_all(&c, files, &slices, st);
    if (stream_store_frame_end(c.fr, rc == STATUS_OK, &inner) != STATUS_OK) {
        *broken = 1;
        rc = status_fail(st, STATUS_IO, "cannot buffer the frame: %s; the stream was released", inner.msg);
    }
out:
    *frames = c.frames;
    *bytes = c.bytes;
    json_decref(root);
    json_slices_free(&slices);
    return rc;
}
