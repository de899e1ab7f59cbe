#include "runtime/router.h"

#include <string.h>

#include "util/utf8.h"

void router_init(struct router *r)
{
    memset(r, 0, sizeof *r);
}

static int pattern_valid(const char *p)
{
    if (p[0] != '/')
        return 0;
    const char *rest = strstr(p, "...");
    return rest == NULL || rest[3] == '\0';
}

int router_add(struct router *r, const char *method, const char *pattern, void *handler)
{
    if (r->count == ROUTER_MAX_ROUTES || !pattern_valid(pattern))
        return -1;
    r->routes[r->count++] = (struct router_route){method, pattern, handler, 0};
    return 0;
}

int router_add_secret(struct router *r, const char *method, const char *pattern, void *handler)
{
    if (strchr(pattern, ':') == NULL || router_add(r, method, pattern, handler) != 0)
        return -1;
    r->routes[r->count - 1].secret = 1;
    return 0;
}

int router_redact(const struct router *r, const char *path, size_t path_len, char *out, size_t room)
{
    const char *q = memchr(path, '?', path_len);
    if (q != NULL)
        path_len = (size_t)(q - path);
    for (int i = 0; i < r->count; i++) {
        if (!r->routes[i].secret)
            continue;
        const char *pattern = r->routes[i].pattern;
        size_t prefix = (size_t)(strchr(pattern, ':') - pattern);
        if (path_len <= prefix || memcmp(path, pattern, prefix) != 0 ||
            prefix + sizeof ROUTER_REDACTED > room)
            continue;
        memcpy(out, pattern, prefix);
        memcpy(out + prefix, ROUTER_REDACTED, sizeof ROUTER_REDACTED);
        return 1;
    }
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) into out; -1 on a bad escape, a NUL (raw or %00),
 * or no room. */
static int percent_decode(const char *src, size_t len, char *out, size_t room, size_t *written)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_value(src[i + 1]), lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= room)
            return -1;
        out[o++] = c;
    }
    out[o++] = '\0';
    *written = o;
    return 0;
}

struct matcher {
    const char *path;
    size_t len;
    size_t pos;
    struct router_params *params;
    size_t used;
    int bad_param;
};

static int take_param(struct matcher *m, size_t start, size_t end)
{
    size_t written;
    char *value = m->params->buf + m->used;
    if (m->params->count == ROUTER_MAX_PARAMS ||
        percent_decode(m->path + start, end - start, value, ROUTER_PARAM_BYTES - m->used, &written) != 0 ||
        !utf8_valid(value, written - 1)) {
        m->bad_param = 1;
        return 0;
    }
    m->params->values[m->params->count++] = value;
    m->used += written;
    return 1;
}

/* Walks pattern and path segment by segment; 1 when the path fits. */
static int match_path(const char *pattern, struct matcher *m)
{
    const char *p = pattern;
    m->pos = 0;
    while (*p != '\0') {
        if (*p != '/' || m->pos >= m->len || m->path[m->pos] != '/')
            return 0;
        p++;
        m->pos++;
        const char *pend = strchr(p, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t start = m->pos;
        size_t end = start;
        while (end < m->len && m->path[end] != '/')
            end++;
        if (p[0] == ':' && plen > 3 && strncmp(p + plen - 3, "...", 3) == 0) {
            if (start == m->len)
                return 0;
            return take_param(m, start, m->len);
        }
        if (p[0] == ':') {
            if (end == start || !take_param(m, start, end))
                return 0;
        } else if (plen != end - start || strncmp(p, m->path + start, plen) != 0) {
            return 0;
        }
        m->pos = end;
        p += plen;
    }
    return m->pos == m->len || (m->len == 1 && m->path[0] == '/' && pattern[1] == '\0');
}

enum router_result router_match(const struct router *r, const char *method, size_t method_len,
                                const char *path, size_t path_len, void **handler,
                                struct router_params *params)
{
    const char *q = memchr(path, '?', path_len);
    if (q != NULL)
        path_len = (size_t)(q - path);
    int path_known = 0;
    params->route = -1;
    for (int i = 0; i < r->count; i++) {
        struct matcher m = {path, path_len, 0, params, 0, 0};
        params->count = 0;
        if (!match_path(r->routes[i].pattern, &m)) {
            if (m.bad_param)
                return ROUTER_BAD_PARAM;
            continue;
        }
        path_known = 1;
        if (strlen(r->routes[i].method) == method_len &&
            memcmp(r->routes[i].method, method, method_len) == 0) {
            *handler = r->routes[i].handler;
            params->route = i;
            return ROUTER_MATCH;
        }
    }
    params->count = 0;
    return path_known ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}
