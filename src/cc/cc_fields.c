/* cc_fields: request field validation with messages a caller can act on. */
#include "cc/cc_fields.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The field, NULL when absent or null; -1 when a required one is missing. */
static int lookup(const json_t *obj, const char *key, int flags, json_t **v, char *err, size_t errlen)
{
    *v = json_object_get(obj, key);
    if (*v != NULL && json_is_null(*v))
        *v = NULL;
    if (*v == NULL && (flags & CC_FIELD_REQUIRED))
        return fail(err, errlen, "missing field '%s'", key);
    return 0;
}

static int check_string(const json_t *v, const char *key, int flags, size_t max, char *err, size_t errlen)
{
    if (!json_is_string(v))
        return fail(err, errlen, "field '%s' must be a string", key);
    size_t len = json_string_length(v);
    if (len == 0 && !(flags & CC_FIELD_ALLOW_EMPTY))
        return fail(err, errlen, "field '%s' must not be empty", key);
    if (len > max)
        return fail(err, errlen, "field '%s' is longer than %zu bytes", key, max);
    if (strlen(json_string_value(v)) != len)
        return fail(err, errlen, "field '%s' must not contain NUL bytes", key);
    return 0;
}

int cc_field_string(const json_t *obj, const char *key, int flags, size_t max, const char **out, char *err,
                    size_t errlen)
{
    json_t *v;
    if (lookup(obj, key, flags, &v, err, errlen) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (check_string(v, key, flags, max, err, errlen) != 0)
        return -1;
    *out = json_string_value(v);
    return 0;
}

int cc_field_number(const json_t *obj, const char *key, int flags, double *out, char *err, size_t errlen)
{
    json_t *v;
    if (lookup(obj, key, flags, &v, err, errlen) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return fail(err, errlen, "field '%s' must be a number", key);
    *out = json_number_value(v);
    return 0;
}

int cc_field_int(const json_t *obj, const char *key, int flags, long long min, long long *out, char *err,
                 size_t errlen)
{
    json_t *v;
    if (lookup(obj, key, flags, &v, err, errlen) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return fail(err, errlen, "field '%s' must be an integer >= %lld", key, min);
    *out = json_integer_value(v);
    return 0;
}

int cc_field_object(const json_t *obj, const char *key, int flags, const json_t **out, char *err,
                    size_t errlen)
{
    json_t *v;
    if (lookup(obj, key, flags, &v, err, errlen) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return fail(err, errlen, "field '%s' must be an object", key);
    *out = v;
    return 0;
}

int cc_field_strings(const json_t *obj, const char *key, int flags, size_t max_items, size_t max,
                     const char ***out, size_t *n, char *err, size_t errlen)
{
    json_t *v;
    if (lookup(obj, key, flags, &v, err, errlen) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(err, errlen, "field '%s' must be a non-empty array of strings", key);
    if (json_array_size(v) > max_items)
        return fail(err, errlen, "field '%s' has more than %zu items", key, max_items);
    const char **list = calloc(json_array_size(v), sizeof *list);
    if (list == NULL)
        return fail(err, errlen, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (check_string(item, key, CC_FIELD_REQUIRED, max, err, errlen) != 0) {
            free(list);
            return -1;
        }
        list[i] = json_string_value(item);
    }
    *out = list;
    *n = json_array_size(v);
    return 0;
}
