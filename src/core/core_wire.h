/* core_wire: how the reference core's files travel in core requests.
 *
 * The SCV's rule for a file name (PROTOCOL.md, PUT /core/frame): a name
 * ending in ".b64" holds base64 text, the suffix dropped; then a name ending
 * in ".gz" holds gzip bytes, the suffix dropped. "state.json.gz.b64" is
 * base64(gzip(state.json)). This module applies that rule both ways: it
 * decodes the files of GET /core/start into the engine's base names, and
 * encodes the frame and checkpoint files the core sends back. */
#ifndef ST_CORE_WIRE_H
#define ST_CORE_WIRE_H

#include <stddef.h>
#include <jansson.h>

#include "core/core_engine.h"

#define CORE_WIRE_FRAME_NAME "frames.xtc.b64"
#define CORE_WIRE_NAME_MAX 256

/* The base name of a wire name ("x.gz.b64" -> "x", "x.b64" -> "x",
 * "x.gz" -> "x", "x" -> "x") into base; *b64 and *gz (may be NULL) say which
 * encodings apply. 0, or -1 when the name is empty, reduces to an empty name
 * or does not fit in n bytes. */
int core_wire_base_name(const char *wire, char *base, size_t n, int *b64, int *gz);

/* Decoded start files: names are base names, data is owned. */
struct core_wire_files {
    core_file *files;
    char **wire_names; /* the name each file came under, same order */
    size_t n;
};

/* Decodes {name: string} into out. A decoded file over max_bytes, a value
 * that is not a string, bad base64 or bad gzip is refused with the file's
 * name in err. Returns 0 or -1 (out is then empty). */
int core_wire_decode_files(const json_t *files, size_t max_bytes, struct core_wire_files *out, char *err,
                           size_t errlen);
void core_wire_files_free(struct core_wire_files *f);
/* The wire name the file with this base name came under, or NULL. */
const char *core_wire_files_wire_name(const struct core_wire_files *f, const char *base);

/* {wire_name: encoded data}, encoded as the name's suffixes say (a name
 * without ".b64" must carry UTF-8 text and no ".gz"). NULL with the reason. */
json_t *core_wire_encode_file(const char *wire_name, const void *data, size_t len, char *err, size_t errlen);

/* The files of PUT /core/frame for one XTC frame: {"frames.xtc.b64": ...}. */
json_t *core_wire_frame_files(const void *xtc, size_t len, char *err, size_t errlen);

#endif
