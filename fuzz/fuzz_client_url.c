/* Fuzz target: the client's URL helpers against the server's router. The
 * input is NUL-separated parts. A path the client escapes
 * (client_path_escape) must reach a handler as exactly the same bytes
 * through router_match; a normalized CC address keeps an http(s) scheme and
 * loses trailing slashes; an origin is a prefix of its URL; an error body
 * becomes a NUL-terminated message. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "fuzz_support.h"
#include "runtime/router.h"
#include "util/utf8.h"

static struct router table;
static int h_download;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    router_init(&table);
    if (router_add(&table, "GET", "/streams/download/:id/:path...", &h_download) != 0)
        abort();
    return 0;
}

/* Everything the router can hand a handler: non-empty UTF-8 without NUL. */
static int routable(const char *s)
{
    return s[0] != '\0' && utf8_valid(s, strlen(s));
}

static void check_escape(const char *id, const char *path)
{
    char *eid = client_path_escape(id, 0), *epath = client_path_escape(path, 1);
    FUZZ_CHECK(eid != NULL && epath != NULL);
    FUZZ_CHECK(strchr(eid, '/') == NULL && strchr(eid, '?') == NULL && strchr(epath, '?') == NULL);
    size_t n = strlen("/streams/download/") + strlen(eid) + 1 + strlen(epath) + 1;
    char *url = malloc(n);
    FUZZ_CHECK(url != NULL);
    snprintf(url, n, "/streams/download/%s/%s", eid, epath);
    struct router_params p;
    void *h = NULL;
    enum router_result r = router_match(&table, "GET", 3, url, strlen(url), &h, &p);
    /* The decoded parameters must fit the router's buffer to match at all. */
    if (routable(id) && routable(path) && strlen(id) + strlen(path) + 2 <= ROUTER_PARAM_BYTES) {
        FUZZ_CHECK(r == ROUTER_MATCH && h == &h_download && p.count == 2);
        FUZZ_CHECK(strcmp(p.values[0], id) == 0 && strcmp(p.values[1], path) == 0);
    }
    free(url);
    free(eid);
    free(epath);
}

static void check_normalize(const char *in)
{
    char out[512], origin[512];
    if (client_url_normalize(in, out, sizeof out) == 0) {
        FUZZ_CHECK(strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0 ||
                   strncasecmp(out, "http", 4) == 0);
        size_t len = strlen(out);
        FUZZ_CHECK(len > 0 && out[len - 1] != '/');
        if (client_url_origin(out, origin, sizeof origin) == 0)
            FUZZ_CHECK(strncmp(out, origin, strlen(origin)) == 0);
    }
    (void)client_host_kind(in);
    (void)client_stream_scv(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = fuzz_cstr(data, size);
    size_t alen = strlen(a);
    const char *b = alen < size ? a + alen + 1 : "";
    check_escape(a, b);
    check_normalize(a);
    struct client_error err;
    memset(&err, 0x5a, sizeof err);
    client_error_from_body(&err, 400, (const char *)data, size);
    FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL && err.status == 400);
    free(a);
    return 0;
}
