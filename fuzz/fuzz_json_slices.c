/* Fuzz target: json_slices, differentially against jansson. The first byte
 * picks min_len. json_slices_load must accept exactly what json_loadb
 * accepts, and the two trees must be equal once every string is read
 * through json_slices_string. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "scv/json_slices.h"

static int same(const json_slices *s, const json_t *got, const json_t *want)
{
    if (json_is_string(want)) {
        size_t len = 0;
        const char *str = json_slices_string(s, got, &len);
        return str != NULL && len == json_string_length(want) &&
               memcmp(str, json_string_value(want), len) == 0;
    }
    if (json_typeof(got) != json_typeof(want))
        return 0;
    if (json_is_array(want)) {
        if (json_array_size(got) != json_array_size(want))
            return 0;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!same(s, json_array_get(got, i), json_array_get(want, i)))
                return 0;
        return 1;
    }
    if (json_is_object(want)) {
        const char *key;
        json_t *v;
        if (json_object_size(got) != json_object_size(want))
            return 0;
        json_object_foreach((json_t *)want, key, v)
        {
            const json_t *g = json_object_get(got, key);
            if (g == NULL || !same(s, g, v))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)got, (json_t *)want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t min_len = data[0] % 16;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    json_error_t e1, e2;
    json_slices s;
    json_t *got = json_slices_load(text, len, min_len, &s, &e1);
    json_t *want = json_loadb(text, len, 0, &e2);
    FUZZ_CHECK((got == NULL) == (want == NULL));
    if (want != NULL)
        FUZZ_CHECK(same(&s, got, want));
    json_decref(got);
    json_decref(want);
    json_slices_free(&s);
    return 0;
}
