/* Fuzz target: the CC's typed JSON field readers (cc_fields). The input is a
 * request body; the first byte picks flags and limits. Every reader is asked
 * for the keys "a" and "b": on success the value must honour the limits it
 * was asked for, on failure the status must name a reason. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_fields.h"
#include "fuzz_support.h"

static void check_err(status_code rc, const struct status *st)
{
    if (rc != STATUS_OK)
        FUZZ_CHECK(st->code == rc && st->msg[0] != '\0');
}

static void read_key(const json_t *obj, const char *key, int flags, size_t max)
{
    struct status st;
    status_code rc;
    const char *s = NULL;
    double d = 0;
    long long ll = 0, min = (flags & 4) ? -5 : 1;
    const json_t *o = NULL;
    const char **list = NULL;
    size_t n = 0;
    int f = flags & (CC_FIELD_REQUIRED | CC_FIELD_ALLOW_EMPTY);

    status_clear(&st);
    rc = cc_field_string(obj, key, f, max, &s, &st);
    check_err(rc, &st);
    if (rc == STATUS_OK && s != NULL) {
        size_t len = strlen(s);
        FUZZ_CHECK(len <= max);
        FUZZ_CHECK(len > 0 || (f & CC_FIELD_ALLOW_EMPTY));
    }
    status_clear(&st);
    rc = cc_field_number(obj, key, f, &d, &st);
    check_err(rc, &st);
    if (rc == STATUS_OK)
        FUZZ_CHECK(isfinite(d));
    status_clear(&st);
    rc = cc_field_int(obj, key, f, min, &ll, &st);
    check_err(rc, &st);
    if (rc == STATUS_OK && json_object_get(obj, key) != NULL && !json_is_null(json_object_get(obj, key)))
        FUZZ_CHECK(ll >= min);
    status_clear(&st);
    rc = cc_field_object(obj, key, f, &o, &st);
    check_err(rc, &st);
    if (rc == STATUS_OK && o != NULL)
        FUZZ_CHECK(json_is_object(o));
    status_clear(&st);
    rc = cc_field_strings(obj, key, f, 3, max, &list, &n, &st);
    check_err(rc, &st);
    if (rc == STATUS_OK && list != NULL) {
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
