/* option: "key=value" parsing (see option.h). */
#include "client/option.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int option_parse(const char *arg, char **key, json_t **value, char *msg, size_t msg_n)
{
    const char *eq = arg ? strchr(arg, '=') : NULL;
    *key = NULL;
    *value = NULL;
    if (!eq) {
        snprintf(msg, msg_n, "'%.60s' is not key=value", arg ? arg : "");
        return -1;
    }
    size_t klen = (size_t)(eq - arg);
    if (klen == 0 || klen > OPTION_KEY_MAX) {
        snprintf(msg, msg_n, "'%.60s': the key must have 1 to %d characters", arg, OPTION_KEY_MAX);
        return -1;
    }
    for (size_t i = 0; i < klen; i++) {
        if (isspace((unsigned char)arg[i]) || iscntrl((unsigned char)arg[i])) {
            snprintf(msg, msg_n, "'%.60s': the key must not contain spaces or control characters", arg);
            return -1;
        }
    }
    const char *text = eq + 1;
    size_t vlen = strlen(text);
    if (vlen == 0 || vlen > OPTION_VALUE_MAX) {
        snprintf(msg, msg_n, "'%.60s': the value is %s", arg,
                 vlen ? "too long" : "empty (write key='\"\"' for an empty string)");
        return -1;
    }
    json_t *v = json_loadb(text, vlen, JSON_DECODE_ANY, NULL);
    if (!v)
        v = json_stringn(text, vlen);
    *key = strndup(arg, klen);
    if (!v || !*key) {
        json_decref(v);
        free(*key);
        *key = NULL;
        snprintf(msg, msg_n, "'%.60s': the value is not valid UTF-8", arg);
        return -1;
    }
    *value = v;
    return 0;
}

int option_add(json_t *object, const char *arg, char *msg, size_t msg_n)
{
    char *key;
    json_t *value;
    if (option_parse(arg, &key, &value, msg, msg_n) != 0)
        return -1;
    int rc = json_object_set_new(object, key, value);
    if (rc != 0)
        snprintf(msg, msg_n, "'%.60s': the key is not valid UTF-8", arg);
    free(key);
    return rc == 0 ? 0 : -1;
}
