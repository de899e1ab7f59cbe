#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"

enum key_type { KEY_STRING, KEY_INT, KEY_SIZE, KEY_BOOL, KEY_TLS_VERSIONS };

#define FOR_CC 1
#define FOR_SCV 2
#define FOR_BOTH (FOR_CC | FOR_SCV)

struct key_spec {
    const char *name;
    int kinds;
    enum key_type type;
    size_t offset;
    size_t size; /* capacity of a string field */
    long min, max;
};

#define STR(n, k)                                                                                            \
    {                                                                                                        \
#n, k, KEY_STRING, offsetof(struct config, n), sizeof(((struct config *)0)->n), 0, 0                 \
    }
#define INT(n, k, lo, hi)                                                                                    \
    {                                                                                                        \
#n, k, KEY_INT, offsetof(struct config, n), 0, lo, hi                                                \
    }

static const struct key_spec config_keys[] = {
    STR(name, FOR_BOTH),
    INT(internal_http_port, FOR_BOTH, 1, 65535),
    STR(external_host, FOR_BOTH),
    STR(ssl_certfile, FOR_BOTH),
    STR(ssl_key, FOR_BOTH),
    STR(ssl_ca_certs, FOR_BOTH),
    {"ssl_protocols", FOR_BOTH, KEY_TLS_VERSIONS, offsetof(struct config, ssl_min_version), 0, 2, 3},
    STR(ca_bundle, FOR_BOTH),
    STR(cc_pass, FOR_BOTH),
    STR(cc_pass_previous, FOR_CC),
    STR(command_center, FOR_SCV),
    STR(database, FOR_CC),
    STR(data_folder, FOR_BOTH),
    INT(heartbeat_increment, FOR_SCV, 1, 86400 * 30),
    INT(max_stream_errors, FOR_SCV, 1, 1000000),
    INT(threads, FOR_BOTH, 0, 256),
    {"max_body_size", FOR_BOTH, KEY_SIZE, offsetof(struct config, max_body_size), 0, 1024, 1L << 32},
    {"max_inflate_size", FOR_SCV, KEY_SIZE, offsetof(struct config, max_inflate_size), 0, 1024, 1L << 40},
    INT(max_connections, FOR_BOTH, 1, 10000000),
    INT(header_timeout, FOR_BOTH, 1, 3600),
    INT(idle_timeout, FOR_BOTH, 1, 86400),
    INT(shutdown_timeout, FOR_BOTH, 0, 3600),
    {"access_log", FOR_BOTH, KEY_BOOL, offsetof(struct config, access_log), 0, 0, 1},
    INT(scv_check_interval, FOR_CC, 1, 3600),
};

int config_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CONFIG_NAME_MAX || name[0] == '.')
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return 0;
    return 1;
}

void config_defaults(struct config *c, enum config_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->internal_http_port = kind == CONFIG_CC ? 8980 : 8960;
    snprintf(c->database, sizeof c->database, "sqlite");
    c->heartbeat_increment = 900;
    c->max_stream_errors = 10;
    c->threads = 0;
    c->max_body_size = 64u << 20;
    c->max_inflate_size = 256u << 20;
    c->max_connections = 0; /* derived from the open-files limit at start (server.h) */
    c->header_timeout = 10;
    c->idle_timeout = 300;
    c->shutdown_timeout = 10;
    c->access_log = 1;
    c->scv_check_interval = 5;
    c->ssl_min_version = 2;
    c->ssl_max_version = 3;
}

static const struct key_spec *find_key(const char *name, enum config_kind kind)
{
    int mask = kind == CONFIG_CC ? FOR_CC : FOR_SCV;
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
        if (strcmp(config_keys[i].name, name) == 0 && (config_keys[i].kinds & mask))
            return &config_keys[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Strips matching quotes and a trailing `# comment`; -1 on a lone or
 * mismatched quote or text after the closing quote. */
static int unquote(char **value)
{
    char *v = *value;
    if (v[0] != '\'' && v[0] != '"') {
        for (char *p = v; *p; p++)
            if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        *value = trim(v);
        return 0;
    }
    char *close = strchr(v + 1, v[0]);
    if (close == NULL)
        return -1;
    char *rest = trim(close + 1);
    if (*rest != '\0' && *rest != '#')
        return -1;
    *close = '\0';
    *value = v + 1;
    return 0;
}

/* "64M", "1G", "4096" -> bytes. */
static int parse_size(const char *v, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || n < 0)
        return -1;
    long long mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1LL << 10;
    else if (*end == 'M' || *end == 'm')
        mult = 1LL << 20;
    else if (*end == 'G' || *end == 'g')
        mult = 1LL << 30;
    if (mult != 1)
        end++;
    if (*end != '\0' || n > (1LL << 40) / mult)
        return -1;
    *out = n * mult;
    return 0;
}

/* "TLSv1.2 TLSv1.3" (spaces or commas between) -> the lowest and highest
 * minor version listed; -1 on any other word or an empty list. */
static int parse_tls_versions(const char *v, int *min, int *max)
{
    char copy[128];
    char *save = NULL;
    *min = 99;
    *max = 0;
    if (strlen(v) >= sizeof copy)
        return -1;
    memcpy(copy, v, strlen(v) + 1);
    for (char *w = strtok_r(copy, " ,", &save); w != NULL; w = strtok_r(NULL, " ,", &save)) {
        int minor;
        if (strcmp(w, "TLSv1.2") == 0)
            minor = 2;
        else if (strcmp(w, "TLSv1.3") == 0)
            minor = 3;
        else
            return -1;
        *min = minor < *min ? minor : *min;
        *max = minor > *max ? minor : *max;
    }
    return *max == 0 ? -1 : 0;
}

static status_code set_value(struct config *c, const struct key_spec *k, const char *v, struct status *st,
                             const char *path, int line)
{
    char *field = (char *)c + k->offset;
    long long n;
    char *end;

    switch (k->type) {
    case KEY_STRING:
        if (strlen(v) >= k->size)
            return status_fail(st, STATUS_INVALID,
                               "%s:%d: value of '%s' is too long (at most %zu characters)", path, line,
                               k->name, k->size - 1);
        memcpy(field, v, strlen(v) + 1);
        return STATUS_OK;
    case KEY_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
            *(int *)field = 1;
        else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0 ||
                 strcmp(v, "0") == 0)
            *(int *)field = 0;
        else
            return status_fail(st, STATUS_INVALID, "%s:%d: '%s' must be true or false, not '%s'", path, line,
                               k->name, v);
        return STATUS_OK;
    case KEY_SIZE:
        if (parse_size(v, &n) != 0 || n < k->min || n > k->max)
            return status_fail(
                st, STATUS_INVALID,
                "%s:%d: '%s' must be a size between %ld and %ld bytes (suffix K, M or G), not '%s'", path,
                line, k->name, k->min, k->max, v);
        *(size_t *)field = (size_t)n;
        return STATUS_OK;
    case KEY_TLS_VERSIONS:
        if (parse_tls_versions(v, &c->ssl_min_version, &c->ssl_max_version) != 0)
            return status_fail(st, STATUS_INVALID, "%s:%d: '%s' lists TLSv1.2 and/or TLSv1.3, not '%s'", path,
                               line, k->name, v);
        return STATUS_OK;
    case KEY_INT:
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < k->min || n > k->max)
            return status_fail(st, STATUS_INVALID, "%s:%d: '%s' must be an integer from %ld to %ld, not '%s'",
                               path, line, k->name, k->min, k->max, v);
        *(int *)field = (int)n;
        return STATUS_OK;
    }
    return status_fail(st, STATUS_INVALID, "%s:%d: internal error for '%s'", path, line, k->name);
}

static status_code parse_line(struct config *c, char *s, const char *path, int line, unsigned char *seen,
                              struct status *st)
{
    s = trim(s);
    if (*s == '\0' || *s == '#')
        return STATUS_OK;
    char *eq = strchr(s, '=');
    if (eq == NULL)
        return status_fail(st, STATUS_INVALID, "%s:%d: expected 'key = value', got '%s'", path, line, s);
    *eq = '\0';
    char *key = trim(s);
    char *value = trim(eq + 1);
    const struct key_spec *k = find_key(key, c->kind);
    if (k == NULL)
        return status_fail(st, STATUS_INVALID, "%s:%d: unknown key '%s' for a %s config", path, line, key,
                           c->kind == CONFIG_CC ? "cc" : "scv");
    size_t idx = (size_t)(k - config_keys);
    if (seen[idx])
        return status_fail(st, STATUS_INVALID, "%s:%d: key '%s' is set twice", path, line, key);
    seen[idx] = 1;
    if (unquote(&value) != 0)
        return status_fail(st, STATUS_INVALID,
                           "%s:%d: unbalanced quotes or text after the closing quote in the value of '%s'",
                           path, line, key);
    return set_value(c, k, value, st, path, line);
}

static status_code resolve_data_folder(struct config *c, const char *path, struct status *st)
{
    char dir[PATH_MAX], rel[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    const char *base = dirname(dir);
    if (c->data_folder[0] == '\0')
        snprintf(rel, sizeof rel, "%s_data", c->name);
    else
        snprintf(rel, sizeof rel, "%s", c->data_folder);
    if (rel[0] == '/')
        return STATUS_OK;
    if ((size_t)snprintf(c->data_folder, sizeof c->data_folder, "%s/%s", base, rel) >= sizeof c->data_folder)
        return status_fail(st, STATUS_INVALID, "%s: data folder path is too long", path);
    return STATUS_OK;
}

status_code config_parse(struct config *c, const char *text, const char *path, struct status *st)
{
    unsigned char seen[sizeof config_keys / sizeof config_keys[0]] = {0};
    char *copy = strdup(text);
    status_code rc = STATUS_OK;
    int line = 0;
    if (copy == NULL)
        return status_fail(st, STATUS_IO, "out of memory");
    char *save = NULL;
    for (char *s = copy; rc == STATUS_OK && s != NULL; s = save) {
        save = strchr(s, '\n');
        if (save != NULL)
            *save++ = '\0';
        rc = parse_line(c, s, path, ++line, seen, st);
    }
    free(copy);
    return rc;
}

int config_tls_enabled(const struct config *c)
{
    return c->ssl_certfile[0] != '\0';
}

static status_code check_tls(const struct config *c, const char *path, struct status *st)
{
    const char *names[3] = {"ssl_certfile", "ssl_key", "ssl_ca_certs"};
    const char *values[3] = {c->ssl_certfile, c->ssl_key, c->ssl_ca_certs};
    int set = 0;
    for (int i = 0; i < 3; i++)
        set += values[i][0] != '\0';
    if (set == 0)
        return STATUS_OK;
    for (int i = 0; i < 3; i++)
        if (values[i][0] == '\0')
            return status_fail(
                st, STATUS_INVALID,
                "%s: '%s' is empty but other ssl_* keys are set: set all three of ssl_certfile, "
                "ssl_key, ssl_ca_certs for TLS, or none for plain HTTP",
                path, names[i]);
    for (int i = 0; i < 3; i++) {
        if (access(values[i], R_OK) != 0)
            return status_fail(st, STATUS_INVALID, "%s: '%s' file '%s' cannot be read: %s", path, names[i],
                               values[i], strerror(errno));
    }
    return STATUS_OK;
}

status_code config_load(struct config *c, enum config_kind kind, const char *path, struct status *st)
{
    config_defaults(c, kind);
    char *text = fs_read_file(path, 1 << 20, NULL);
    if (text == NULL)
        return status_fail(st, STATUS_IO, "cannot read config file '%s': %s", path, strerror(errno));
    status_code rc = config_parse(c, text, path, st);
    free(text);
    if (rc != STATUS_OK)
        return rc;
    if (c->name[0] == '\0')
        return status_fail(st, STATUS_INVALID,
                           "%s: 'name' is required (it names the server and its data folder)", path);
    if (!config_name_ok(c->name))
        return status_fail(st, STATUS_INVALID, "%s: 'name' must be " CONFIG_NAME_RULE, path);
    if (kind == CONFIG_SCV && c->external_host[0] == '\0')
        snprintf(c->external_host, sizeof c->external_host, "127.0.0.1:%d", c->internal_http_port);
    rc = check_tls(c, path, st);
    if (rc != STATUS_OK)
        return rc;
    return resolve_data_folder(c, path, st);
}
