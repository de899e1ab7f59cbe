/* Fuzz target: HTTP request handling through the runtime (server.c, h2o,
 * the router). One in-process server with a loop thread listens on
 * loopback; each input is sent as raw bytes on a fresh connection, the
 * write side is closed, and the whole answer is read. Routes exercise path
 * parameters, headers, JSON bodies, deferred work and file replies. The
 * server must answer or close within a few seconds, and every answer must
 * start with an HTTP/1.x status line that is not a 5xx, with only headers
 * the runtime sends (none injected through a parameter); a request with
 * ambiguous framing (RFC 9112 §6.1/§6.3: http_framing) must get a 4xx that
 * ends the connection, first or pipelined after a bodiless request. HTTP/2
 * is off on cleartext (and everywhere; see docs/deployment.md). Set
 * FUZZ_HTTP_ECHO=1 to see the answers when replaying inputs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "fuzz_support.h"
#include "harness.h"
#include "runtime/http_framing.h"
#include "runtime/server.h"
#include "util/fs.h"
#include "util/log.h"

#define ANSWER_MAX (1 << 20)
#define WAIT_MS 5000

static struct server *srv;
static int port;
static char file_path[4096];

/* Echoes the path parameters as the real handlers do, with json_pack's
 * "s": a value that is not UTF-8 must never get here. Header values are
 * only ever compared, never quoted, so only a header's length goes back. */
static void h_params(struct server_request *r)
{
    const char *h = server_header(r->req, "x-fuzz");
    const char *second = r->params.count > 1 ? r->params.values[1] : NULL;
    server_reply_json(r->req, 200,
                      json_pack("{s:s, s:s?, s:I}", "id", r->params.values[0], "path", second, "header",
                                (json_int_t)(h ? (long long)strlen(h) : -1)));
}

static void h_body(struct server_request *r)
{
    json_t *body = server_body_object(r->req);
    if (body != NULL)
        server_reply_json(r->req, 200, body);
}

static void work(void *arg)
{
    json_t *body = arg;
    json_object_set_new(body, "worked", json_true());
}

static void done(void *arg, h2o_req_t *req)
{
    json_t *body = arg;
    if (req != NULL)
        server_reply_json(req, 200, json_incref(body));
    json_decref(body);
}

static void h_defer(struct server_request *r)
{
    json_t *body = server_body_object(r->req);
    if (body != NULL)
        server_defer(r, work, done, body);
}

static void h_file(struct server_request *r)
{
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        server_reply_error(r->req, 500, "cannot open the file");
        return;
    }
    server_reply_file(r->req, fd, 5, r->params.values[0]);
}

static void *run(void *arg)
{
    server_run(arg);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct config cfg;
    char err[256];
    pthread_t thread;
    log_set_quiet(1);
    config_defaults(&cfg, CONFIG_SCV);
    snprintf(cfg.name, sizeof cfg.name, "fuzz");
    snprintf(cfg.data_folder, sizeof cfg.data_folder, "%s", fuzz_tmpdir());
    snprintf(file_path, sizeof file_path, "%s/file", fuzz_tmpdir());
    if (fs_write_file(file_path, "hello", 5, 0) != 0)
        abort();
    port = harness_free_port();
    cfg.internal_http_port = port;
    cfg.threads = 1;
    cfg.max_body_size = 64 * 1024;
    srv = server_create(&cfg, "scv", NULL, err, sizeof err);
    if (srv == NULL || server_route(srv, "GET", "/p/:id", h_params) != 0 ||
        server_route(srv, "PUT", "/p/:id/:path...", h_params) != 0 ||
        server_route(srv, "POST", "/body", h_body) != 0 || server_route(srv, "PUT", "/defer", h_defer) != 0 ||
        server_route(srv, "GET", "/file/:name", h_file) != 0) {
        fprintf(stderr, "fuzz_http: cannot set up the server: %s\n", err);
        abort();
    }
    if (pthread_create(&thread, NULL, run, srv) != 0)
        abort();
    pthread_detach(thread);
    return 0;
}

static int connect_server(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 500; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            abort();
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        close(fd);
        usleep(10 * 1000); /* the server is still starting */
    }
    fprintf(stderr, "fuzz_http: cannot connect to port %d\n", port);
    abort();
}

/* Waits for fd to be ready for events; a stuck server is a failure. */
static void wait_ready(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    while ((n = poll(&p, 1, WAIT_MS)) < 0 && errno == EINTR)
        ;
    FUZZ_CHECK(n == 1);
}

static void send_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        wait_ready(fd, POLLOUT);
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            return; /* the server closed first: it may, on garbage */
        data += n;
        size -= (size_t)n;
    }
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        wait_ready(fd, POLLIN);
        ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return len;
        len += (size_t)n;
        FUZZ_CHECK(len < cap);
    }
}

/* Headers the runtime and h2o send; anything else was injected. */
static const char *const known_headers[] = {"date",
                                            "connection",
                                            "content-length",
                                            "server",
                                            "access-control-allow-origin",
                                            "content-type",
                                            "content-disposition",
                                            "transfer-encoding",
                                            "access-control-allow-methods",
                                            "access-control-allow-headers",
                                            "vary",
                                            "upgrade",
                                            "x-fuzz"};

/* A header line is a known name, ':', and a value without control bytes. */
static int header_line_ok(const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return 0;
    size_t name_len = (size_t)(colon - line), known = 0;
    for (size_t k = 0; k < sizeof known_headers / sizeof known_headers[0]; k++)
        known |= strlen(known_headers[k]) == name_len && strncasecmp(line, known_headers[k], name_len) == 0;
    if (!known)
        return 0;
    for (size_t i = name_len + 1; i < len; i++)
        if ((unsigned char)line[i] < ' ' && line[i] != '\t')
            return 0;
    return 1;
}

/* The first answer's head: a status line without a server error, then
 * header lines up to a blank line. */
static void check_answer(const char *buf, size_t len)
{
    if (len == 0)
        return;
    FUZZ_CHECK(len >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && buf[8] == ' ');
    FUZZ_CHECK(buf[9] != '5');
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    FUZZ_CHECK(end != NULL);
    const char *line = memmem(buf, (size_t)(end - buf), "\r\n", 2);
    while (line != NULL && line < end) {
        line += 2;
        const char *next = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        FUZZ_CHECK(next != NULL);
        FUZZ_CHECK(header_line_ok(line, (size_t)(next - line)));
        line = next == end ? NULL : next;
    }
}

/* Where the head that starts at p ends (past its blank line), reading lines
 * as http_framing does (LF, with an optional CR); 0 when it does not end. */
static size_t head_end(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);
        if (nl == NULL)
            return 0;
        size_t line = (size_t)(nl - (p + i));
        if (i > 0 && (line == 0 || (line == 1 && p[i] == '\r')))
            return (size_t)(nl - p) + 1;
        i = (size_t)(nl - p) + 1;
    }
    return 0;
}

/* 1 when the len bytes at p start with word, ignoring case. */
static int starts_with(const char *p, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && strncasecmp(p, word, n) == 0;
}

/* 1 when a head names Content-Length or Transfer-Encoding at all. */
static int has_body_framing(const char *head, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (head[i] == '\n' && (starts_with(head + i + 1, len - i - 1, "content-length") ||
                                starts_with(head + i + 1, len - i - 1, "transfer-encoding")))
            return 1;
    return 0;
}

struct answers {
    int n;
    int status[2];
};

/* The statuses of the first two final answers, walking by their
 * Content-Length. */
static void split_answers(const char *buf, size_t len, struct answers *a)
{
    size_t at = 0;
    a->n = 0;
    while (a->n < 2 && len - at >= 12 && memcmp(buf + at, "HTTP/1.", 7) == 0) {
        int status = atoi(buf + at + 9);
        const char *end = memmem(buf + at, len - at, "\r\n\r\n", 4);
        if (end == NULL)
            return;
        if (status < 200) { /* an interim answer (100 Continue): head only */
            at = (size_t)(end + 4 - buf);
            continue;
        }
        a->status[a->n++] = status;
        const char *cl = NULL;
        for (const char *q = buf + at; q < end && cl == NULL; q++)
            if (q[0] == '\n' && starts_with(q + 1, (size_t)(end - q - 1), "content-length:"))
                cl = q + 16;
        if (cl == NULL)
            return;
        at = (size_t)(end + 4 - buf) + (size_t)strtoul(cl, NULL, 10);
        if (at > len)
            return;
    }
}

/* RFC 9112 framing: a request whose head http_framing refuses gets a 4xx
 * and is the connection's last answer, whether it comes first or second
 * (after a request without a body, so where it starts is certain). */
static void check_framing(const char *in, size_t size, const char *answer, size_t len)
{
    struct answers a;
    split_answers(answer, len, &a);
    if (http_framing_check(in, size) != NULL) {
        FUZZ_CHECK(a.n == 1 && a.status[0] >= 400 && a.status[0] < 500);
        return;
    }
    size_t first = head_end(in, size);
    if (first == 0 || has_body_framing(in, first) || a.n < 2)
        return;
    if (http_framing_check(in + first, size - first) != NULL)
        FUZZ_CHECK(a.n == 2 && a.status[1] >= 400 && a.status[1] < 500);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char answer[ANSWER_MAX];
    int fd = connect_server();
    send_all(fd, data, size);
    shutdown(fd, SHUT_WR);
    size_t len = read_all(fd, answer, sizeof answer);
    close(fd);
    if (getenv("FUZZ_HTTP_ECHO") != NULL) /* replaying an input: show the answer */
        fwrite(answer, 1, len, stderr);
    check_answer(answer, len);
    if (len > 0)
        check_framing((const char *)data, size, answer, len);
    return 0;
}
