/* wire_file: how a file travels as a JSON string (PROTOCOL.md, "files").
 * A name ending in ".b64" holds base64 text, the suffix dropped; then a name
 * ending in ".gz" holds gzip bytes, the suffix dropped: "state.xml.gz.b64"
 * is base64(gzip(state.xml)), and seed files travel as NAME.gz.b64. This is
 * the one place the rule lives: the CLI and the core encode with it, the
 * core and the SCV read names (and the core decodes) with it. */
#ifndef ST_WIRE_FILE_H
#define ST_WIRE_FILE_H

#include <stddef.h>

#include "util/status.h"

enum { WIRE_FILE_B64 = 1, WIRE_FILE_GZ = 2 };

/* The suffix of a file sent gzipped and base64-encoded. */
#define WIRE_FILE_GZ_B64 ".gz.b64"

/* The length of the base of name[0..len) (".b64" then ".gz" undone, once
 * each); *enc (may be NULL) gets the WIRE_FILE_ bits that apply. */
size_t wire_file_base(const char *name, size_t len, unsigned *enc);

/* data encoded as enc says (gzip, then base64), malloc'd and NUL-terminated.
 * NULL when out of memory, or when enc is gzip without base64: gzip bytes
 * cannot be a JSON string. */
char *wire_file_encode(const void *data, size_t len, unsigned enc, size_t *out_len);

/* text decoded as enc says into a malloc'd, NUL-terminated *out of at most
 * max bytes. STATUS_INVALID (bad base64 or gzip, or gzip inflating past max)
 * or STATUS_TOO_LARGE, with a reason that names the file `name`. */
status_code wire_file_decode(const char *name, const char *text, size_t len, unsigned enc, size_t max,
                             unsigned char **out, size_t *out_len, struct status *st);

#endif
