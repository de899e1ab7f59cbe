#include "util/query.h"

#include <string.h>

#include "util/number.h"

int query_value(const char *query, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *p = query; p != NULL && *p != '\0';) {
        size_t part = strcspn(p, "&"), name = strcspn(p, "=&");
        if (name == klen && strncmp(p, key, klen) == 0) {
            size_t vlen = name < part ? part - name - 1 : 0;
            if (vlen >= n)
                return -1;
            memcpy(out, p + part - vlen, vlen);
            out[vlen] = '\0';
            return 1;
        }
        p += part + (p[part] == '&');
    }
    return 0;
}

int query_long(const char *query, const char *key, long min, long max, long *out)
{
    char text[24];
    int found = query_value(query, key, text, sizeof text);
    if (found <= 0)
        return found;
    return number_long(text, min, max, out) == 0 ? 1 : -1;
}
