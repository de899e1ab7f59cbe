/* cc_fields: request field validation with messages a caller can act on. */
#include "cc/cc_fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The field into *v, NULL when absent or null (STATUS_OK either way);
 * STATUS_INVALID when a required one is missing. */
static status_code lookup(const json_t *obj, const char *key, int flags, json_t **v, struct status *st)
{
    *v = json_object_get(obj, key);
    if (*v != NULL && json_is_null(*v))
        *v = NULL;
    if (*v == NULL && (flags & CC_FIELD_REQUIRED))
        return status_fail(st, STATUS_INVALID, "missing field '%s'", key);
    return STATUS_OK;
}

static status_code check_string(const json_t *v, const char *key, int flags, size_t max, struct status *st)
{
    if (!json_is_string(v))
        return status_fail(st, STATUS_INVALID, "field '%s' must be a string", key);
    size_t len = json_string_length(v);
    if (len == 0 && !(flags & CC_FIELD_ALLOW_EMPTY))
        return status_fail(st, STATUS_INVALID, "field '%s' must not be empty", key);
    if (len > max)
        return status_fail(st, STATUS_INVALID, "field '%s' is longer than %zu bytes", key, max);
    if (strlen(json_string_value(v)) != len)
        return status_fail(st, STATUS_INVALID, "field '%s' must not contain NUL bytes", key);
    return STATUS_OK;
}

status_code cc_field_string(const json_t *obj, const char *key, int flags, size_t max, const char **out,
                            struct status *st)
{
    json_t *v;
    status_code rc = lookup(obj, key, flags, &v, st);
    if (rc != STATUS_OK || v == NULL)
        return rc;
    if ((rc = check_string(v, key, flags, max, st)) != STATUS_OK)
        return rc;
    *out = json_string_value(v);
    return STATUS_OK;
}

status_code cc_field_number(const json_t *obj, const char *key, int flags, double *out, struct status *st)
{
    json_t *v;
    status_code rc = lookup(obj, key, flags, &v, st);
    if (rc != STATUS_OK || v == NULL)
        return rc;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return status_fail(st, STATUS_INVALID, "field '%s' must be a number", key);
    *out = json_number_value(v);
    return STATUS_OK;
}

status_code cc_field_int(const json_t *obj, const char *key, int flags, long long min, long long *out,
                         struct status *st)
{
    json_t *v;
    status_code rc = lookup(obj, key, flags, &v, st);
    if (rc != STATUS_OK || v == NULL)
        return rc;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return status_fail(st, STATUS_INVALID, "field '%s' must be an integer >= %lld", key, min);
    *out = json_integer_value(v);
    return STATUS_OK;
}

status_code cc_field_object(const json_t *obj, const char *key, int flags, const json_t **out,
                            struct status *st)
{
    json_t *v;
    status_code rc = lookup(obj, key, flags, &v, st);
    if (rc != STATUS_OK || v == NULL)
        return rc;
    if (!json_is_object(v))
        return status_fail(st, STATUS_INVALID, "field '%s' must be an object", key);
    *out = v;
    return STATUS_OK;
}

status_code cc_field_strings(const json_t *obj, const char *key, int flags, size_t max_items, size_t max,
                             const char ***out, size_t *n, struct status *st)
{
    json_t *v;
    status_code rc = lookup(obj, key, flags, &v, st);
    if (rc != STATUS_OK || v == NULL)
        return rc;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return status_fail(st, STATUS_INVALID, "field '%s' must be a non-empty array of strings", key);
    if (json_array_size(v) > max_items)
        return status_fail(st, STATUS_INVALID, "field '%s' has more than %zu items", key, max_items);
    const char **list = calloc(json_array_size(v), sizeof *list);
    if (list == NULL)
        return status_fail(st, STATUS_IO, "out of memory");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (check_string(item, key, CC_FIELD_REQUIRED, max, st) != STATUS_OK) {
            free(list);
            return STATUS_INVALID;
        }
        list[i] = json_string_value(item);
    }
    *out = list;
    *n = json_array_size(v);
    return STATUS_OK;
}
