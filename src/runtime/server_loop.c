/* server_loop: the event-loop threads, each with its SO_REUSEPORT
 * listener: accepting (bounded by max_connections, paused when out of
 * descriptors), the stop message and the drain until the deadline. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/server_internal.h"
#include "util/clock.h"
#include "util/log.h"

static void on_connection_close(void *data)
{
    struct server *s = data;
    atomic_fetch_sub(&s->connections, 1);
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_retry(h2o_timeout_entry_t *entry)
{
    struct loop_thread *th = H2O_STRUCT_FROM_MEMBER(struct loop_thread, accept_retry, entry);
    if (th->listener != NULL)
        h2o_socket_read_start(th->listener, on_accept);
}

/* Out of descriptors: the connection waiting in the backlog keeps the
 * listener readable, so watching it would fail accept4 in a busy loop. Stop
 * watching and try again in SERVER_ACCEPT_PAUSE_MS, when a connection, file or
 * database handle may have been closed. */
static void pause_accepting(struct loop_thread *th, int err)
{
    if (!th->accept_starved)
        log_warn("thread %d: cannot accept connections: %s; trying again every %d ms", th->index,
                 strerror(err), SERVER_ACCEPT_PAUSE_MS);
    th->accept_starved = 1;
    h2o_socket_read_stop(th->listener);
    if (!h2o_timeout_is_linked(&th->accept_retry))
        h2o_timeout_link(th->loop, &th->accept_pause, &th->accept_retry);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop_thread *th = listener->data;
    struct server *s = th->server;
    if (err != NULL)
        return;
    for (int i = 0; i < 64; i++) { /* drain a burst, bounded so other sockets get a turn */
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(th, errno);
            return;
        }
        th->accept_starved = 0;
        if (atomic_fetch_add(&s->connections, 1) >= s->max_connections) {
            atomic_fetch_sub(&s->connections, 1);
            h2o_socket_close(sock);
            continue;
        }
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = s;
        h2o_accept(&th->accept_ctx, sock);
    }
}

static void on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct loop_thread *th = H2O_STRUCT_FROM_MEMBER(struct loop_thread, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    if (th->listener != NULL) {
        h2o_socket_read_stop(th->listener);
        h2o_socket_close(th->listener);
        th->listener = NULL;
    }
    if (h2o_timeout_is_linked(&th->accept_retry))
        h2o_timeout_unlink(&th->accept_retry);
    h2o_context_request_shutdown(&th->ctx);
    th->stopping = 1;
    th->deadline = clock_mono_s() + th->server->cfg.shutdown_timeout;
}

/* Everything h2o-owned is made on the thread that will run it: h2o keeps
 * per-thread buffer recyclers, and a socket created on one thread but read
 * on another would share the creator's recycler without locks. */
static void loop_init(struct loop_thread *th)
{
    struct server *s = th->server;
    th->loop = h2o_evloop_create();
    h2o_context_init(&th->ctx, th->loop, &s->globalconf);
    th->accept_ctx.ctx = &th->ctx;
    th->accept_ctx.hosts = s->globalconf.hosts;
    th->accept_ctx.ssl_ctx = s->ssl_ctx;
    h2o_multithread_register_receiver(th->ctx.queue, &th->done_receiver, server_pool_on_done);
    h2o_multithread_register_receiver(th->ctx.queue, &th->stop_receiver, on_stop_message);
    h2o_timeout_init(th->loop, &th->accept_pause, SERVER_ACCEPT_PAUSE_MS);
    th->accept_retry.cb = on_accept_retry;
    th->listener = h2o_evloop_socket_create(th->loop, th->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    th->listener->data = th;
    h2o_socket_read_start(th->listener, on_accept);
    if (s->http_client != NULL && (th->http = http_client_loop_new(s->http_client, &th->ctx)) == NULL)
        log_error("thread %d: out of memory for its HTTP client; its calls to peers use workers", th->index);
}

/* Scheduler slice of loop threads. A loop runs for microseconds per request
 * and then sleeps; with the default slice (~3 ms) a woken loop may wait for
 * the running thread's slice to end before it gets the CPU. Linux's EEVDF
 * scheduler (6.6+) lets a normal thread ask for a shorter slice without
 * privilege, which gives it an earlier deadline and so the CPU at once on
 * wake-up; older kernels ignore the request for normal threads. */
#define LOOP_SLICE_NS (100 * 1000)

/* The kernel's struct sched_attr (its header clashes with <sched.h>). */
struct loop_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

static void loop_prioritize(int index)
{
    struct loop_sched_attr attr = {.size = sizeof attr, .sched_policy = SCHED_OTHER};
    errno = 0;
    attr.sched_nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    attr.sched_runtime = LOOP_SLICE_NS;
    if (errno != 0 || syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
        log_warn("thread %d: cannot shorten the event loop's scheduler slice: %s", index, strerror(errno));
}

static void *loop_main(void *arg)
{
    struct loop_thread *th = arg;
    struct server *s = th->server;
    loop_prioritize(th->index);
    loop_init(th);
    pthread_mutex_lock(&s->stop_lock);
    s->threads_ready++;
    pthread_cond_broadcast(&s->stop_cond);
    pthread_mutex_unlock(&s->stop_lock);
    while (!th->stopping ||
           ((th->inflight > 0 || th->pending > 0 || http_client_loop_pending(th->http) > 0) &&
            clock_mono_s() < th->deadline))
        h2o_evloop_run(th->loop, 100);
    if (th->inflight > 0 || th->pending > 0)
        log_warn("thread %d: stopped with %zu requests still in flight after %d s", th->index, th->inflight,
                 th->server->cfg.shutdown_timeout);
    return NULL;
}

/* A TCP socket bound to port on every IPv4 address, in the port's
 * SO_REUSEPORT group when reuseport is set; -1 with errno on failure. */
static int bind_port(int port, int reuseport)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* A listener joined to the port's SO_REUSEPORT group. */
static int open_listener(int port, char *err, size_t errlen)
{
    int one = 1;
    int fd = bind_port(port, 1);
    if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "internal_http_port: cannot listen on port %d: %s", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* SO_REUSEPORT would let a second daemon silently share the port; a plain
 * bind first proves the port is ours alone. */
static int check_port_free(int port, char *err, size_t errlen)
{
    int fd = bind_port(port, 0);
    if (fd < 0) {
        snprintf(err, errlen, "internal_http_port: port %d is in use or not available: %s", port,
                 strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* Waits until each started thread has its loop and receivers (a stop
 * message needs them). */
int server_loops_start(struct server *s, char *err, size_t errlen)
{
    if (check_port_free(s->cfg.internal_http_port, err, errlen) != 0)
        return -1;
    for (int i = 0; i < s->nthreads; i++) {
        struct loop_thread *th = &s->threads[i];
        th->server = s;
        th->index = i;
        th->listen_fd = open_listener(s->cfg.internal_http_port, err, errlen);
        if (th->listen_fd < 0)
            return -1;
    }
    int started = 0;
    for (; started < s->nthreads; started++)
        if (pthread_create(&s->threads[started].tid, NULL, loop_main, &s->threads[started]) != 0) {
            log_error("cannot start event-loop thread %d; serving with %d", started, started);
            break;
        }
    pthread_mutex_lock(&s->stop_lock);
    while (s->threads_ready < started)
        pthread_cond_wait(&s->stop_cond, &s->stop_lock);
    pthread_mutex_unlock(&s->stop_lock);
    return started;
}

/* h2o 2.2 cannot dispose a context while keep-alive connections or its own
 * timers are still registered (it asserts), and the process exits right
 * after a stop, so contexts are only unhooked from our receivers. */
void server_loops_dispose(struct server *s)
{
    for (int i = 0; s->threads != NULL && i < s->nthreads; i++) {
        struct loop_thread *th = &s->threads[i];
        if (th->loop == NULL)
            continue;
        h2o_multithread_unregister_receiver(th->ctx.queue, &th->done_receiver);
        h2o_multithread_unregister_receiver(th->ctx.queue, &th->stop_receiver);
        http_client_loop_free(th->http);
        th->http = NULL;
        th->loop = NULL;
    }
}

void server_loops_stop(struct server *s, int started)
{
    for (int i = 0; i < started; i++)
        h2o_multithread_send_message(&s->threads[i].stop_receiver, &s->threads[i].stop_message);
    for (int i = 0; i < started; i++)
        pthread_join(s->threads[i].tid, NULL);
}
