/* tls: session resumption through the ticket key ring, key rotation and the
 * protocol range, checked with real OpenSSL handshakes between a client and
 * the server context over an in-memory BIO pair (no sockets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "runtime/tls.h"

struct fixture {
    char dir[PATH_MAX];
    char cert[PATH_MAX + 16];
    char key[PATH_MAX + 16];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/st-test-tls.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->cert, sizeof f->cert, "%s/cert.pem", f->dir);
    snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
    if (tls_make_self_signed(f->cert, f->key, err, sizeof err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->cert);
    unlink(f->key);
    rmdir(f->dir);
    free(f);
    return 0;
}

static SSL_CTX *server_ctx(const struct fixture *f, int min_version, int max_version)
{
    char err[256];
    struct tls_server_options o = {f->cert, f->key, f->cert, min_version, max_version};
    SSL_CTX *ctx = tls_server_context(&o, err, sizeof err);
    if (ctx == NULL)
        fail_msg("tls_server_context: %s", err);
    return ctx;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* Handshakes client c (resuming the session it holds, if any) with a new
 * server SSL, then sends one byte each way so the client reads any tickets
 * and shuts both down cleanly (a session freed without a clean shutdown is
 * marked not resumable). c is left cleared for its next connection, the way
 * HTTP clients reuse one SSL object. Returns 1 when resumed, 0 when a full
 * handshake was made, -1 when the handshake failed. */
static int handshake(SSL_CTX *server, SSL *c)
{
    BIO *cb, *sb;
    SSL *s = SSL_new(server);
    int rc = -1, cdone = 0, sdone = 0;
    unsigned char byte = 'x';
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        int r;
        if (!cdone && (r = SSL_do_handshake(c)) <= 0 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
            goto out;
        cdone = SSL_is_init_finished(c);
        if (!sdone && (r = SSL_do_handshake(s)) <= 0 && SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
            goto out;
        sdone = SSL_is_init_finished(s);
    }
    if (!(cdone && sdone) || SSL_write(s, &byte, 1) != 1 || SSL_read(c, &byte, 1) != 1 ||
        SSL_write(c, &byte, 1) != 1 || SSL_read(s, &byte, 1) != 1)
        goto out;
    rc = SSL_session_reused(c);
    SSL_shutdown(c);
    SSL_shutdown(s);
out:
    SSL_clear(c);
    SSL_free(s);
    return rc;
}

/* One connection of a fresh client SSL that resumes *session (when set);
 * *session becomes the client's latest session. */
static int connect_once(SSL_CTX *server, SSL_CTX *client, SSL_SESSION **session)
{
    SSL *c = SSL_new(client);
    if (*session != NULL)
        SSL_set_session(c, *session);
    int rc = handshake(server, c);
    if (rc >= 0) {
        SSL_SESSION_free(*session);
        *session = SSL_get1_session(c);
    }
    SSL_free(c);
    return rc;
}

static void check_resumption(const struct fixture *f, int version)
{
    SSL_CTX *server = server_ctx(f, 2, 3), *client = client_ctx(version);
    SSL_SESSION *session = NULL;
    assert_int_equal(connect_once(server, client, &session), 0);
    /* Each resumption hands the client a ticket it can resume with again. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(connect_once(server, client, &session), 1);
    SSL_SESSION_free(session);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

/* A client that keeps one SSL object resumes from whatever session it last
 * held: with TLS 1.3 that is the fresh ticket of each resumption. */
static void check_reused_object(const struct fixture *f, int version)
{
    SSL_CTX *server = server_ctx(f, 2, 3), *client = client_ctx(version);
    SSL *c = SSL_new(client);
    assert_int_equal(handshake(server, c), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(handshake(server, c), 1);
    SSL_free(c);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

static void test_resumes_tls12(void **state)
{
    check_resumption(*state, TLS1_2_VERSION);
}

static void test_resumes_tls13(void **state)
{
    check_resumption(*state, TLS1_3_VERSION);
}

static void test_reused_object_tls12(void **state)
{
    check_reused_object(*state, TLS1_2_VERSION);
}

static void test_reused_object_tls13(void **state)
{
    check_reused_object(*state, TLS1_3_VERSION);
}

/* A ticket outlives TLS_TICKET_KEYS - 1 rotations, not TLS_TICKET_KEYS. */
static void check_rotation(const struct fixture *f, int version)
{
    SSL_CTX *server = server_ctx(f, 2, 3), *client = client_ctx(version);
    SSL_SESSION *session = NULL, *kept;
    assert_int_equal(connect_once(server, client, &session), 0);
    SSL_SESSION_up_ref(kept = session);
    for (int i = 0; i < TLS_TICKET_KEYS - 1; i++)
        assert_int_equal(tls_rotate_ticket_keys(server), 0);
    assert_int_equal(connect_once(server, client, &session), 1);
    assert_int_equal(tls_rotate_ticket_keys(server), 0);
    SSL_SESSION_free(session);
    session = kept;
    assert_int_equal(connect_once(server, client, &session), 0);
    SSL_SESSION_free(session);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

static void test_rotation_tls12(void **state)
{
    check_rotation(*state, TLS1_2_VERSION);
}

static void test_rotation_tls13(void **state)
{
    check_rotation(*state, TLS1_3_VERSION);
}

/* Tickets are the server's own: another context's key ring cannot read them. */
static void test_tickets_belong_to_their_context(void **state)
{
    SSL_CTX *a = server_ctx(*state, 2, 3), *b = server_ctx(*state, 2, 3),
            *client = client_ctx(TLS1_3_VERSION);
    SSL_SESSION *session = NULL;
    assert_int_equal(connect_once(a, client, &session), 0);
    assert_int_equal(connect_once(b, client, &session), 0);
    SSL_SESSION_free(session);
    SSL_CTX_free(client);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
}

static void test_protocol_range(void **state)
{
    SSL_CTX *only13 = server_ctx(*state, 3, 3), *only12 = server_ctx(*state, 2, 2);
    SSL_CTX *c12 = client_ctx(TLS1_2_VERSION), *c13 = client_ctx(TLS1_3_VERSION);
    SSL_SESSION *session = NULL;
    assert_int_equal(connect_once(only13, c12, &session), -1);
    assert_int_equal(connect_once(only12, c13, &session), -1);
    assert_int_equal(connect_once(only13, c13, &session), 0);
    assert_int_equal(SSL_SESSION_get_protocol_version(session), TLS1_3_VERSION);
    SSL_SESSION_free(session);
    session = NULL;
    assert_int_equal(connect_once(only12, c12, &session), 0);
    assert_int_equal(SSL_SESSION_get_protocol_version(session), TLS1_2_VERSION);
    SSL_SESSION_free(session);
    SSL_CTX_free(c12);
    SSL_CTX_free(c13);
    SSL_CTX_free(only13);
    SSL_CTX_free(only12);
}

/* A client that would rather speak HTTP/2 is given HTTP/1.1: h2o 2.2.5's
 * HTTP/2 lacks the rapid-reset fix (CVE-2023-44487). */
static void test_alpn_offers_http1_only(void **state)
{
    static const unsigned char protos[] = "\x02h2\x08http/1.1";
    SSL_CTX *server = server_ctx(*state, 2, 3);
    for (int version = TLS1_2_VERSION; version <= TLS1_3_VERSION; version++) {
        SSL_CTX *client = client_ctx(version);
        assert_int_equal(SSL_CTX_set_alpn_protos(client, protos, sizeof protos - 1), 0);
        SSL_SESSION *session = NULL;
        assert_int_equal(connect_once(server, client, &session), 0);
        const unsigned char *alpn = NULL;
        size_t len = 0;
        SSL_SESSION_get0_alpn_selected(session, &alpn, &len);
        assert_int_equal(len, 8);
        assert_memory_equal(alpn, "http/1.1", 8);
        SSL_SESSION_free(session);
        SSL_CTX_free(client);
    }
    SSL_CTX_free(server);
}

/* Client contexts for calls to peers: without verification any server
 * will do; with it, only one whose chain leads to ca_bundle (here the
 * self-signed certificate itself), and an unusable bundle is refused. */
static void test_client_contexts(void **state)
{
    const struct fixture *f = *state;
    char err[256];
    SSL_CTX *server = server_ctx(f, 2, 3);
    SSL_SESSION *session = NULL;
    SSL_CTX *open = tls_client_context(0, NULL, err, sizeof err);
    SSL_CTX *trusting = tls_client_context(1, f->cert, err, sizeof err);
    SSL_CTX *system = tls_client_context(1, NULL, err, sizeof err);
    assert_non_null(open);
    assert_non_null(trusting);
    assert_non_null(system);
    assert_int_equal(connect_once(server, open, &session), 0);
    SSL_SESSION_free(session);
    session = NULL;
    assert_int_equal(connect_once(server, trusting, &session), 0);
    SSL_SESSION_free(session);
    session = NULL;
    assert_int_equal(connect_once(server, system, &session), -1);
    assert_null(tls_client_context(1, f->key, err, sizeof err)); /* no certificate in it */
    assert_non_null(strstr(err, "ca_bundle"));
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/missing.pem", f->dir);
    assert_null(tls_client_context(1, missing, err, sizeof err));
    assert_non_null(strstr(err, "cannot read"));
    SSL_CTX_free(open);
    SSL_CTX_free(trusting);
    SSL_CTX_free(system);
    SSL_CTX_free(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resumes_tls12),
        cmocka_unit_test(test_resumes_tls13),
        cmocka_unit_test(test_reused_object_tls12),
        cmocka_unit_test(test_reused_object_tls13),
        cmocka_unit_test(test_rotation_tls12),
        cmocka_unit_test(test_rotation_tls13),
        cmocka_unit_test(test_tickets_belong_to_their_context),
        cmocka_unit_test(test_protocol_range),
        cmocka_unit_test(test_alpn_offers_http1_only),
        cmocka_unit_test(test_client_contexts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
