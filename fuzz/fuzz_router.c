/* Fuzz target: the router and its percent-decoding, on the CC's and the
 * SCV's route table. Input: method, one '\n', then the raw path (query
 * string included). A match must fill exactly the pattern's parameters,
 * each NUL-terminated inside the parameter buffer, non-empty, valid UTF-8,
 * with no '/' in a one-segment parameter unless it came escaped; a path
 * that reaches the secret route (engine keys) is always redacted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "runtime/router.h"
#include "util/utf8.h"

static const char *const routes[][2] = {
    {"GET", "/"},
    {"GET", "/active_cores"},
    {"GET", "/core/start"},
    {"GET", "/streams/download/:id/:path..."},
    {"GET", "/streams/info/:id"},
    {"GET", "/streams/sync/:id"},
    {"GET", "/targets/info/:id"},
    {"GET", "/targets/streams/:id"},
    {"POST", "/auth"},
    {"POST", "/core/assign"},
    {"PUT", "/core/frame"},
    {"PUT", "/engines/keys/delete/:key"},
    {"PUT", "/streams/delete/:id"},
    {"PUT", "/streams/start/:id"},
    {"PUT", "/streams/upload/:id/:path..."},
    {"PUT", "/targets/update/:id"},
};
#define NROUTES (sizeof routes / sizeof routes[0])
#define SECRET_ROUTE 11 /* its key is a secret: logged paths hide it */
#define SECRET_PREFIX "/engines/keys/delete/"

static struct router table;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    router_init(&table);
    for (size_t i = 0; i < NROUTES; i++)
        if ((i == SECRET_ROUTE ? router_add_secret : router_add)(&table, routes[i][0], routes[i][1],
                                                                 (void *)&routes[i]) != 0)
            abort();
    return 0;
}

/* Parameters a pattern declares, and whether its last one takes the rest. */
static int pattern_params(const char *pattern, int *rest)
{
    int n = 0;
    for (const char *p = pattern; *p; p++)
        n += p[0] == '/' && p[1] == ':';
    *rest = strstr(pattern, "...") != NULL;
    return n;
}

/* Bytes of the path's raw (undecoded) parameter text, an upper bound. */
static size_t path_bytes(const char *path, size_t len)
{
    const char *q = memchr(path, '?', len);
    return q ? (size_t)(q - path) : len;
}

static void check_match(const char *const *route, const char *path, size_t path_len,
                        const struct router_params *params)
{
    int rest;
    int want = pattern_params(route[1], &rest);
    FUZZ_CHECK(params->count == want);
    size_t total = 0;
    for (int i = 0; i < params->count; i++) {
        const char *v = params->values[i];
        FUZZ_CHECK(v >= params->buf && v < params->buf + ROUTER_PARAM_BYTES);
        size_t room = (size_t)(params->buf + ROUTER_PARAM_BYTES - v);
        const char *nul = memchr(v, '\0', room);
        FUZZ_CHECK(nul != NULL);
        size_t len = (size_t)(nul - v);
        FUZZ_CHECK(len > 0 && utf8_valid(v, len));
        if (!(rest && i == params->count - 1))
            FUZZ_CHECK(memchr(v, '/', len) == NULL || memchr(path, '%', path_len) != NULL);
        total += len;
    }
    FUZZ_CHECK(total <= path_bytes(path, path_len));
}

/* A path routed, or routable by another method, to the secret route is
 * redacted to its prefix and ROUTER_REDACTED; any redaction looks so. */
static void check_redact(const char *path, size_t path_len)
{
    struct router_params params;
    void *handler = NULL;
    char out[ROUTER_PARAM_BYTES];
    size_t room = (size_t)path_len % sizeof out + 1; /* small buffers too */
    int redacted = router_redact(&table, path, path_len, out, room);
    enum router_result r = router_match(&table, routes[SECRET_ROUTE][0], strlen(routes[SECRET_ROUTE][0]),
                                        path, path_len, &handler, &params);
    int secret = (r == ROUTER_MATCH && handler == (void *)&routes[SECRET_ROUTE]) ||
                 (r == ROUTER_BAD_PARAM && path_len > strlen(SECRET_PREFIX) &&
                  memcmp(path, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0);
    if (secret && room >= sizeof SECRET_PREFIX ROUTER_REDACTED)
        FUZZ_CHECK(redacted == 1);
    if (redacted)
        FUZZ_CHECK(strcmp(out, SECRET_PREFIX ROUTER_REDACTED) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl == NULL)
        return 0;
    size_t method_len = (size_t)(nl - data);
    /* Copies, so ASan sees any read past either end. */
    char *method = fuzz_cstr(data, method_len);
    size_t path_len = size - method_len - 1;
    char *path = malloc(path_len ? path_len : 1);
    if (path == NULL)
        abort();
    memcpy(path, nl + 1, path_len);
    struct router_params params;
    void *handler = NULL;
    memset(&params, 0xa5, sizeof params);
    enum router_result r = router_match(&table, method, method_len, path, path_len, &handler, &params);
    if (r == ROUTER_MATCH) {
        const char *const *route = handler;
        FUZZ_CHECK(strcmp(route[0], method) == 0 && strlen(method) == method_len);
        check_match(route, path, path_len, &params);
    }
    check_redact(path, path_len);
    free(method);
    free(path);
    return 0;
}
