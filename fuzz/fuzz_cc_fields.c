/* Fuzz target: the CC's typed JSON field readers (cc_fields). The input is a
 * request body; the first byte picks flags and limits. Every reader is asked
 * for the keys "a" and "b": on success the value must honour the limits it
 * was asked for, on failure err must name a reason. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_fields.h"
#include "fuzz_support.h"

static void check_err(int rc, const char *err)
{
    if (rc != 0)
        FUZZ_CHECK(err[0] != '\0');
}

static void read_key(const json_t *obj, const char *key, int flags, size_t max)
{
    char err[CC_FIELDS_ERR_MAX];
    const char *s = NULL;
    double d = 0;
    long long ll = 0, min = (flags & 4) ? -5 : 1;
    const json_t *o = NULL;
    const char **list = NULL;
    size_t n = 0;
    int f = flags & (CC_FIELD_REQUIRED | CC_FIELD_ALLOW_EMPTY);
    int rc;

    err[0] = '\0';
    rc = cc_field_string(obj, key, f, max, &s, err, sizeof err);
    check_err(rc, err);
    if (rc == 0 && s != NULL) {
        size_t len = strlen(s);
        FUZZ_CHECK(len <= max);
        FUZZ_CHECK(len > 0 || (f & CC_FIELD_ALLOW_EMPTY));
    }
    err[0] = '\0';
    rc = cc_field_number(obj, key, f, &d, err, sizeof err);
    check_err(rc, err);
    if (rc == 0)
        FUZZ_CHECK(isfinite(d));
    err[0] = '\0';
    rc = cc_field_int(obj, key, f, min, &ll, err, sizeof err);
    check_err(rc, err);
    if (rc == 0 && json_object_get(obj, key) != NULL && !json_is_null(json_object_get(obj, key)))
        FUZZ_CHECK(ll >= min);
    err[0] = '\0';
    rc = cc_field_object(obj, key, f, &o, err, sizeof err);
    check_err(rc, err);
    if (rc == 0 && o != NULL)
        FUZZ_CHECK(json_is_object(o));
    err[0] = '\0';
    rc = cc_field_strings(obj, key, f, 3, max, &list, &n, err, sizeof err);
    check_err(rc, err);
    if (rc == 0 && list != NULL) {
        FUZZ_CHECK(n >= 1 && n <= 3);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(strlen(list[i]) >= 1 && strlen(list[i]) <= max);
    }
    free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int flags = data[0] & 7;
    size_t max = (size_t)(data[0] >> 3) + 1;
    json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_ALLOW_NUL, NULL);
    if (body != NULL) {
        read_key(body, "a", flags, max);
        read_key(body, "b", flags, max);
        json_decref(body);
    }
    return 0;
}
