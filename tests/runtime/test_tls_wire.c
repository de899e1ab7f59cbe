/* What a TLS client sees of a real `siegetank scv` on loopback: the protocol
 * and cipher it negotiates, and how its replies are framed in records (a
 * whole reply in one record, headers and body together). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "daemon_proc.h"
#include "harness.h"

static struct daemon_proc D;

static int setup(void **state)
{
    (void)state;
    char pki[PATH_MAX];
    harness_tmpdir(pki);
    if (harness_make_pki(pki) != 0)
        return -1;
    daemon_proc_prepare(&D, "scv", "wire", NULL, 1);
    daemon_proc_write_conf(
        &D, "ssl_certfile = %s/cert.pem\nssl_key = %s/key.pem\nssl_ca_certs = %s/chain.pem", pki, pki, pki);
    return daemon_proc_start(&D, 10);
}

static int teardown(void **state)
{
    (void)state;
    return harness_stop(D.pid, SIGTERM, 15);
}

/* Application-data records the client has decrypted so far. */
static int records;

static void count_records(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                          void *arg)
{
    (void)version, (void)arg;
    const unsigned char *b = buf;
    if (write_p || len < 1)
        return;
    /* TLS 1.3 hides the type inside the record (the header always says
     * application data); TLS 1.2 shows it in the header. */
    int wanted = SSL_version(ssl) == TLS1_3_VERSION ? SSL3_RT_INNER_CONTENT_TYPE : SSL3_RT_HEADER;
    if (content_type == wanted && b[0] == SSL3_RT_APPLICATION_DATA)
        records++;
}

struct conn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

static void conn_close(struct conn *c)
{
    if (SSL_is_init_finished(c->ssl))
        SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    close(c->fd);
    SSL_CTX_free(c->ctx);
}

/* A TLS connection to the SCV from a client offering max_version at most
 * (0: the client library's defaults) and ciphers for TLS 1.2 (NULL: the
 * defaults): 1, or 0 when the handshake failed (c must still be closed). */
static int conn_open(struct conn *c, int max_version, const char *ciphers)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)D.port)};
    struct timeval tv = {5, 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (max_version != 0)
        SSL_CTX_set_max_proto_version(c->ctx, max_version);
    if (ciphers != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(c->ctx, ciphers), 1);
    SSL_CTX_set_msg_callback(c->ctx, count_records);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&addr, sizeof addr), 0);
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    return SSL_connect(c->ssl) == 1;
}

/* 1 when a TLS 1.2 client offering only ciphers gets a connection. */
static int tls12_accepted(const char *ciphers)
{
    struct conn c;
    int ok = conn_open(&c, TLS1_2_VERSION, ciphers);
    conn_close(&c);
    return ok;
}

/* Sends request and reads one whole reply (headers, then Content-Length
 * bytes of body unless head) into buf; returns the number of
 * application-data records it came in. */
static int exchange(struct conn *c, const char *request, int head, char *buf, size_t n)
{
    size_t got = 0, want = 0;
    records = 0;
    assert_int_equal(SSL_write(c->ssl, request, (int)strlen(request)), (int)strlen(request));
    while (want == 0 || got < want) {
        assert_true(got + 1 < n);
        int r = SSL_read(c->ssl, buf + got, (int)(n - 1 - got));
        assert_true(r > 0);
        got += (size_t)r;
        buf[got] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (want == 0 && end != NULL && cl != NULL)
            want = (size_t)(end + 4 - buf) + (head ? 0 : strtoul(cl + 16, NULL, 10));
    }
    assert_int_equal(got, want);
    return records;
}

static void test_reply_in_one_record(int max_version)
{
    struct conn c;
    char buf[4096];
    assert_true(conn_open(&c, max_version, NULL));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(exchange(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, buf, sizeof buf), 1);
        assert_memory_equal(buf, "HTTP/1.1 200 OK\r\n", 17);
        assert_non_null(strstr(buf, "\"name\":\"wire\""));
    }
    /* An error reply, and one to HEAD (no body): the same. */
    assert_int_equal(exchange(&c, "GET /no/such HTTP/1.1\r\nHost: x\r\n\r\n", 0, buf, sizeof buf), 1);
    assert_memory_equal(buf, "HTTP/1.1 404 ", 13);
    assert_non_null(strstr(buf, "{\"error\":"));
    assert_int_equal(exchange(&c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 1, buf, sizeof buf), 1);
    assert_memory_equal(buf, "HTTP/1.1 405 ", 13);
    assert_int_equal(exchange(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, buf, sizeof buf), 1);
    assert_memory_equal(buf, "HTTP/1.1 200 OK\r\n", 17);
    conn_close(&c);
}

static void test_tls13_reply_in_one_record(void **state)
{
    (void)state;
    test_reply_in_one_record(0);
}

static void test_tls12_reply_in_one_record(void **state)
{
    (void)state;
    test_reply_in_one_record(TLS1_2_VERSION);
}

/* A current client gets TLS 1.3; a TLS 1.2 client gets an ECDHE (forward
 * secret) AEAD suite, and none without forward secrecy or with CBC. */
static void test_negotiated_protocol_and_cipher(void **state)
{
    (void)state;
    struct conn c;
    assert_true(conn_open(&c, 0, NULL));
    assert_int_equal(SSL_version(c.ssl), TLS1_3_VERSION);
    conn_close(&c);

    assert_true(conn_open(&c, TLS1_2_VERSION, NULL));
    assert_int_equal(SSL_version(c.ssl), TLS1_2_VERSION);
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c.ssl);
    assert_int_equal(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe);
    assert_true(SSL_CIPHER_is_aead(cipher));
    conn_close(&c);

    assert_false(tls12_accepted("kRSA"));
    assert_false(tls12_accepted("ECDHE+AES+SHA1:ECDHE+AES+SHA256:ECDHE+AES+SHA384:!AESGCM"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls13_reply_in_one_record),
        cmocka_unit_test(test_tls12_reply_in_one_record),
        cmocka_unit_test(test_negotiated_protocol_and_cipher),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
