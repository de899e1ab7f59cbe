/* cc_peer: the CC's own HTTP calls to SCVs (activate, liveness, stream
 * listing), through the client library.
 *
 * Calls go through a client pool (one handle per calling thread, freed when
 * the thread exits) so connections to SCVs are reused; the CC service owns
 * it. SCVs register host:port
 * only, so the scheme is learnt: a host given with an explicit http:// or
 * https:// is used as is; otherwise the scheme recorded in the SCV's health
 * record is used, and when it is unknown (or probe is set) https is tried
 * first and then http, and the one that answered is recorded. TLS
 * verification follows the protocol's rule (domain names only), with
 * ca_bundle (may be empty) for private CAs. */
#ifndef ST_CC_PEER_H
#define ST_CC_PEER_H

#include <jansson.h>

#include "cc/cc_health.h"
#include "client/client.h"

#define CC_PEER_ORIGIN_MAX (CC_HOST_MAX + 16)
/* Calls from the event loops (the server's HTTP client): each step
 * (connect and TLS handshake, send, first reply byte, each later read) may
 * take this long, like the worker path's connect timeout. */
#define CC_PEER_LOOP_TIMEOUT_MS 3000

struct cc_peer_call {
    struct client_pool *pool; /* from cc_peer_pool_new */
    const char *host;         /* as registered */
    const char *method;
    const char *path;   /* starts with '/', already escaped */
    const char *auth;   /* Authorization value or NULL */
    const json_t *body; /* NULL: no body */
    int probe;          /* 1: on no answer, also try the other scheme */
};

/* The pool for calls to SCVs; ca_bundle "" or NULL: the system store. */
struct client_pool *cc_peer_pool_new(const char *ca_bundle, struct client_error *err);

/* 0 when the SCV answered (any status; *out filled, free it with
 * client_reply_free), -1 when it could not be reached (err says why).
 * origin (may be NULL) receives "scheme://host" of the answering URL. */
int cc_peer_request(cc_health_rec *rec, const struct cc_peer_call *call, struct client_reply *out,
                    char origin[CC_PEER_ORIGIN_MAX], struct client_error *err);

/* The scheme host is called with: its explicit one, else the recorded one
 * (CC_SCHEME_UNKNOWN until an SCV has answered). */
int cc_peer_scheme(const cc_health_rec *rec, const char *host);

/* "scheme://host" for host in the recorded (or explicit) scheme; https when
 * unknown. 0, or -1 when it does not fit. */
int cc_peer_origin(const cc_health_rec *rec, const char *host, char origin[CC_PEER_ORIGIN_MAX]);

#endif
