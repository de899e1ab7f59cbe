/* cc_fields: typed, size-limited reads of request JSON fields.
 *
 * Each returns 0 with the value (or leaves *out untouched when an optional
 * field is absent or null), or -1 with a reason naming the field in err,
 * ready for a 400 reply. Strings must be non-empty and at most max bytes
 * unless allow_empty is set. */
#ifndef ST_CC_FIELDS_H
#define ST_CC_FIELDS_H

#include <jansson.h>
#include <stddef.h>

#define CC_FIELDS_ERR_MAX 256

enum { CC_FIELD_OPTIONAL = 0, CC_FIELD_REQUIRED = 1, CC_FIELD_ALLOW_EMPTY = 2 };

int cc_field_string(const json_t *obj, const char *key, int flags, size_t max, const char **out, char *err,
                    size_t errlen);
/* A finite number (integer or real). */
int cc_field_number(const json_t *obj, const char *key, int flags, double *out, char *err, size_t errlen);
/* An integer >= min. */
int cc_field_int(const json_t *obj, const char *key, int flags, long long min, long long *out, char *err,
                 size_t errlen);
/* An object (borrowed). */
int cc_field_object(const json_t *obj, const char *key, int flags, const json_t **out, char *err,
                    size_t errlen);
/* A non-empty array of at most max_items strings, each 1..max bytes, into a
 * malloc'd array of borrowed pointers (*out, *n); free(*out) when done. */
int cc_field_strings(const json_t *obj, const char *key, int flags, size_t max_items, size_t max,
                     const char ***out, size_t *n, char *err, size_t errlen);

#endif
