/* cc_fields: typed, size-limited reads of request JSON fields.
 *
 * Each returns STATUS_OK with the value (or leaves *out untouched when an
 * optional field is absent or null), or STATUS_INVALID with a reason naming
 * the field in st, ready for a 400 reply (STATUS_IO when out of memory).
 * Strings must be non-empty and at most max bytes unless allow_empty is
 * set. */
#ifndef ST_CC_FIELDS_H
#define ST_CC_FIELDS_H

#include <jansson.h>
#include <stddef.h>

#include "util/status.h"

enum { CC_FIELD_OPTIONAL = 0, CC_FIELD_REQUIRED = 1, CC_FIELD_ALLOW_EMPTY = 2 };

status_code cc_field_string(const json_t *obj, const char *key, int flags, size_t max, const char **out,
                            struct status *st);
/* A finite number (integer or real). */
status_code cc_field_number(const json_t *obj, const char *key, int flags, double *out, struct status *st);
/* An integer >= min. */
status_code cc_field_int(const json_t *obj, const char *key, int flags, long long min, long long *out,
                         struct status *st);
/* An object (borrowed). */
status_code cc_field_object(const json_t *obj, const char *key, int flags, const json_t **out,
                            struct status *st);
/* A non-empty array of at most max_items strings, each 1..max bytes, into a
 * malloc'd array of borrowed pointers (*out, *n); free(*out) when done. */
status_code cc_field_strings(const json_t *obj, const char *key, int flags, size_t max_items, size_t max,
                             const char ***out, size_t *n, struct status *st);

#endif
