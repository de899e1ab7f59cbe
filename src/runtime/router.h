/* router: maps (method, path) to a handler with path parameters.
 *
 * Patterns are literal segments and parameters: `/streams/info/:id` takes one
 * non-empty segment; a final `:path...` takes the rest of the path (one or
 * more segments, slashes kept). Parameters are percent-decoded; a parameter
 * that decodes to a NUL byte or to bytes that are not valid UTF-8, or has a
 * broken escape, makes the match fail with ROUTER_BAD_PARAM (so every
 * parameter can be quoted in a JSON reply). Query strings are ignored. Pure: no I/O, no allocation. */
#ifndef ST_ROUTER_H
#define ST_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_ROUTES 64
#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_BYTES 768 /* small enough for h2o's pool, big enough for id + path */

enum router_result { ROUTER_MATCH, ROUTER_NOT_FOUND, ROUTER_BAD_METHOD, ROUTER_BAD_PARAM };

struct router_route {
    const char *method; /* "GET", "POST", "PUT", ... */
    const char *pattern;
    void *handler; /* opaque to the router */
    int secret;    /* its parameters are secrets: see router_redact */
};

struct router {
    struct router_route routes[ROUTER_MAX_ROUTES];
    int count;
};

struct router_params {
    int route; /* index in router.routes of the match; -1 when none */
    int count;
    const char *values[ROUTER_MAX_PARAMS]; /* NUL-terminated, point into buf */
    char buf[ROUTER_PARAM_BYTES];
};

void router_init(struct router *r);
/* 0, or -1 when the table is full or the pattern is malformed. */
int router_add(struct router *r, const char *method, const char *pattern, void *handler);
/* The same for a route whose path parameters are secrets (an engine key):
 * router_redact hides them wherever a path is written down. */
int router_add_secret(struct router *r, const char *method, const char *pattern, void *handler);

#define ROUTER_REDACTED "[redacted]"
/* When path (any method, query ignored) starts with the literal part of a
 * secret route's pattern, up to its first parameter, and goes on past it:
 * that part followed by ROUTER_REDACTED is copied into out (room bytes,
 * NUL-terminated) and 1 returned. Else 0 (also when out is too small). */
int router_redact(const struct router *r, const char *path, size_t path_len, char *out, size_t room);

/* On ROUTER_MATCH *handler and params are filled. */
enum router_result router_match(const struct router *r, const char *method, size_t method_len,
                                const char *path, size_t path_len, void **handler,
                                struct router_params *params);

#endif
