/* http_client: HTTP/1.1 requests sent from an event loop, through h2o's
 * asynchronous client, so a handler can call a peer without a worker.
 *
 * One http_client per process side (a server's): two client TLS contexts
 * (verifying against ca_bundle or the system store, and not verifying) and a
 * keep-alive connection pool per origin and verification mode, shared by
 * every loop thread (h2o's socketpool is thread-safe). A pooled connection
 * idle for HTTP_CLIENT_IDLE_MS is closed, and one the peer has closed is
 * noticed before reuse. Each loop thread has an http_client_loop made on that
 * thread (h2o sockets and timers belong to one loop).
 *
 * Every request is bounded: connecting and the TLS handshake, sending, the
 * wait for the head and each read of the body get io_timeout_ms each. Its
 * done callback runs exactly once on the calling loop thread, possibly
 * before http_client_send returns (a pooled connection that fails at once). */
#ifndef ST_HTTP_CLIENT_H
#define ST_HTTP_CLIENT_H

#include <h2o.h>
#include <stddef.h>

#define HTTP_CLIENT_IDLE_MS 10000

struct http_client;
struct http_client_loop;

struct http_client_request {
    const char *origin; /* "http://host:port" or "https://host:port", no path */
    int verify;         /* TLS: verify the peer's chain and name (a domain name) */
    const char *method;
    const char *path;          /* starts with '/', already escaped */
    const char *authorization; /* NULL: none */
    const char *body;          /* application/json; NULL: none */
    size_t body_len;
    size_t max_reply; /* bytes of body accepted */
};

struct http_client_reply {
    int status;       /* 0: no complete reply; error says why */
    const char *body; /* NUL-terminated, valid during the callback only */
    size_t len;
    const char *error; /* NULL when status != 0 */
    /* 1 when the connection broke after it was set up and before any reply
     * (typically a kept-alive one the peer had just closed): the peer
     * probably never saw the request, which may be sent once more. */
    int resend_ok;
};

typedef void (*http_client_done_fn)(void *arg, const struct http_client_reply *r);

/* NULL + err when a TLS context cannot be made (ca_bundle unreadable). */
struct http_client *http_client_new(const char *ca_bundle, int io_timeout_ms, char *err, size_t errlen);
/* After every loop has stopped and its http_client_loop is freed. */
void http_client_free(struct http_client *c);

/* On the loop thread that will use it; ctx is that thread's h2o context
 * (its name-resolution receiver is used). NULL when out of memory. */
struct http_client_loop *http_client_loop_new(struct http_client *c, h2o_context_t *ctx);
/* After the loop has stopped. */
void http_client_loop_free(struct http_client_loop *l);
/* Requests of this loop not yet completed (a stopping loop waits for them). */
size_t http_client_loop_pending(const struct http_client_loop *l);

/* Sends rq (copied); done(arg, reply) follows. -1 without calling done when
 * the request cannot be made (bad origin, CR or LF in a field, out of
 * memory). */
int http_client_send(struct http_client_loop *l, const struct http_client_request *rq,
                     http_client_done_fn done, void *arg);

#endif
