/* inproc_server: the project's HTTP runtime inside the test process, for
 * tests that stand in for a peer (a fake SCV) or probe the runtime itself.
 * It listens on a free loopback port with one event-loop thread and a fresh
 * temp data folder. Add routes with server_route() between
 * inproc_server_create and inproc_server_start; inproc_server_stop stops it,
 * joins its thread and frees it. Failures fail the calling cmocka test. */
#ifndef ST_INPROC_SERVER_H
#define ST_INPROC_SERVER_H

#include <pthread.h>

#include "runtime/server.h"

struct inproc_server {
    struct server *server;
    pthread_t thread;
    char url[64]; /* http://127.0.0.1:<port> */
};

void inproc_server_create(struct inproc_server *s, const char *name);
/* Runs the server on its own thread; returns once GET / answers. */
void inproc_server_start(struct inproc_server *s);
void inproc_server_stop(struct inproc_server *s);

#endif
