/* json_slices: parses a JSON text while leaving its long plain string
 * values in the text instead of copying them into the tree.
 *
 * Frame bodies are mostly one base64 string; jansson validates and copies
 * such a string a byte at a time, which was most of the SCV's CPU per
 * frame. Here one pass finds every string value of at least min_len bytes
 * that is printable ASCII with no escapes, replaces it with a short
 * placeholder in a skeleton that jansson parses, and records where the
 * bytes are. The result is exactly what json_loadb would accept or refuse:
 * a string the pass leaves alone is copied verbatim into the skeleton.
 * json_slices_string returns a value's bytes: from the text for a slice
 * (valid while the text is), from the tree otherwise. */
#ifndef ST_JSON_SLICES_H
#define ST_JSON_SLICES_H

#include <jansson.h>
#include <stddef.h>

struct json_slice {
    size_t offset;
    size_t len;
};

typedef struct json_slices {
    const char *text;
    struct json_slice *v;
    size_t n;
} json_slices;

/* The parsed root (caller decrefs), or NULL with err filled (as jansson
 * fills it, positions aside). s must be freed with json_slices_free either
 * way. min_len 0 means never slice. */
json_t *json_slices_load(const char *text, size_t len, size_t min_len, json_slices *s, json_error_t *err);
/* The bytes of string value v and their length; NULL if v is not a string. */
const char *json_slices_string(const json_slices *s, const json_t *v, size_t *len);
void json_slices_free(json_slices *s);

#endif
