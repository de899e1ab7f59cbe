#include "runtime/tls.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "util/clock.h"

#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/* ALPN offers HTTP/1.1 alone: HTTP/2 is off (see server_dispatch.c). */
static const h2o_iovec_t alpn_http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};

static void ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, len, "unknown error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}

/* Appends every certificate of ca_certs to the chain sent to clients. */
static int add_chain(SSL_CTX *ctx, const char *ca_certs, char *err, size_t errlen)
{
    FILE *f = fopen(ca_certs, "r");
    X509 *cert;
    int count = 0;
    char why[256];
    if (f == NULL) {
        snprintf(err, errlen, "ssl_ca_certs: cannot open '%s'", ca_certs);
        return -1;
    }
    while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add_extra_chain_cert(ctx, cert) != 1) {
            X509_free(cert);
            break;
        }
        count++;
    }
    fclose(f);
    ERR_clear_error(); /* the end of the file shows up as an error */
    if (count == 0) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "ssl_ca_certs: '%s' holds no PEM certificate", ca_certs);
        return -1;
    }
    return 0;
}

/* ---- session ticket keys ------------------------------------------------ */

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];  /* AES-256-CBC */
    unsigned char hmac[32]; /* HMAC-SHA256 */
};

struct ticket_ring {
    pthread_mutex_t lock;
    struct ticket_key keys[TLS_TICKET_KEYS]; /* keys[current] encrypts */
    int count, current;
    time_t next_rotation; /* CLOCK_MONOTONIC seconds */
};

static int ring_index = -1;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct ticket_ring *ring = ptr;
    if (ring == NULL)
        return;
    pthread_mutex_destroy(&ring->lock);
    OPENSSL_cleanse(ring, sizeof *ring);
    free(ring);
}

static void ring_index_init(void)
{
    ring_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ring_free);
}

/* With ring->lock held. */
static int ring_rotate_locked(struct ticket_ring *ring)
{
    int next = ring->count == 0 ? 0 : (ring->current + 1) % TLS_TICKET_KEYS;
    struct ticket_key *k = &ring->keys[next];
    if (RAND_bytes(k->name, sizeof k->name) != 1 || RAND_priv_bytes(k->aes, sizeof k->aes) != 1 ||
        RAND_priv_bytes(k->hmac, sizeof k->hmac) != 1)
        return -1;
    ring->current = next;
    if (ring->count < TLS_TICKET_KEYS)
        ring->count++;
    ring->next_rotation = (time_t)clock_mono_s() + TLS_TICKET_ROTATE_S;
    return 0;
}

static int key_init(const struct ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                    int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    return EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv, enc) == 1 ? 0 : -1;
}

/* OpenSSL's ticket callback: enc 1 issues a ticket under the current key
 * (1, or -1 on error); enc 0 finds the key a ticket names (0: unknown, so a
 * full handshake; 1: resume; 2: resume and send a renewed ticket). */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    struct ticket_ring *ring = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index);
    int rc = enc ? -1 : 0;
    struct ticket_key key;
    pthread_mutex_lock(&ring->lock);
    if (enc) {
        if ((time_t)clock_mono_s() >= ring->next_rotation && ring_rotate_locked(ring) != 0)
            goto out;
        key = ring->keys[ring->current];
        rc = 1;
    } else {
        for (int i = 0; i < ring->count; i++) {
            if (CRYPTO_memcmp(ring->keys[i].name, name, sizeof key.name) == 0) {
                key = ring->keys[i];
                /* A TLS 1.3 client uses a ticket once (RFC 8446, C.4), so it
                 * resumes again only with the fresh ticket a renewal sends. */
                rc = i == ring->current && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
                break;
            }
        }
    }
out:
    pthread_mutex_unlock(&ring->lock);
    if (rc <= 0)
        return rc;
    if (enc) {
        memcpy(name, key.name, sizeof key.name);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
            rc = -1;
    }
    if (rc > 0 && key_init(&key, iv, cctx, hctx, enc) != 0)
        rc = -1;
    OPENSSL_cleanse(&key, sizeof key);
    return rc;
}

static int ring_attach(SSL_CTX *ctx)
{
    pthread_once(&ring_once, ring_index_init);
    struct ticket_ring *ring = calloc(1, sizeof *ring);
    if (ring_index < 0 || ring == NULL) {
        free(ring);
        return -1;
    }
    pthread_mutex_init(&ring->lock, NULL);
    if (ring_rotate_locked(ring) != 0 || SSL_CTX_set_ex_data(ctx, ring_index, ring) != 1) {
        ring_free(NULL, ring, NULL, 0, 0, NULL);
        return -1;
    }
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    return 0;
}

int tls_rotate_ticket_keys(SSL_CTX *ctx)
{
    struct ticket_ring *ring = SSL_CTX_get_ex_data(ctx, ring_index);
    if (ring == NULL)
        return -1;
    pthread_mutex_lock(&ring->lock);
    int rc = ring_rotate_locked(ring);
    pthread_mutex_unlock(&ring->lock);
    return rc;
}

SSL_CTX *tls_server_context(const struct tls_server_options *o, char *err, size_t errlen)
{
    const char *certfile = o->certfile, *keyfile = o->keyfile;
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, o->min_version == 3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, o->max_version == 2 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    /* TLS 1.2 offers forward-secret AEAD suites only (OpenSSL's default list
     * adds RSA key exchange and CBC); TLS 1.3's suites all are. */
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        snprintf(err, errlen, "cannot set the TLS 1.2 cipher list");
        goto fail;
    }
    /* Tickets carry the sessions; a server-side cache would only add a
     * shared lock and memory per client. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (ring_attach(ctx) != 0) {
        snprintf(err, errlen, "cannot set up TLS session ticket keys");
        goto fail;
    }
    if (SSL_CTX_use_certificate_file(ctx, certfile, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "ssl_certfile: cannot load certificate '%s': %s", certfile, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(err, errlen,
                     "ssl_key: private key '%s' does not match the certificate in ssl_certfile '%s'", keyfile,
                     certfile);
            goto fail;
        }
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "ssl_key: cannot load private key '%s': %s", keyfile, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "ssl_key: private key '%s' does not match the certificate in ssl_certfile '%s'",
                 keyfile, certfile);
        goto fail;
    }
    if (add_chain(ctx, o->ca_certs, err, errlen) != 0)
        goto fail;
    h2o_ssl_register_alpn_protocols(ctx, alpn_http1_only);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_context(int verify, const char *ca_bundle, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS client context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    if (!verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_bundle != NULL && ca_bundle[0] != '\0' && access(ca_bundle, R_OK) != 0) {
        snprintf(err, errlen, "ca_bundle: cannot read '%s': %s", ca_bundle, strerror(errno));
        SSL_CTX_free(ctx);
        return NULL;
    }
    int loaded = ca_bundle != NULL && ca_bundle[0] != '\0'
                     ? SSL_CTX_load_verify_locations(ctx, ca_bundle, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "ca_bundle: cannot load CA certificates from '%s': %s",
                 ca_bundle && ca_bundle[0] ? ca_bundle : "the system store", why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int add_extension(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return -1;
    int rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

static int write_pem_files(X509 *cert, EVP_PKEY *key, const char *cert_path, const char *key_path, char *err,
                           size_t errlen)
{
    FILE *f = fopen(cert_path, "w");
    if (f == NULL || PEM_write_X509(f, cert) != 1) {
        snprintf(err, errlen, "cannot write certificate '%s'", cert_path);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    int fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
        snprintf(err, errlen, "cannot write private key '%s'", key_path);
        if (f != NULL)
            fclose(f);
        else if (fd >= 0)
            close(fd);
        return -1;
    }
    fclose(f);
    return 0;
}

int tls_make_self_signed(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    int rc = -1;
    X509 *cert = X509_new();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    unsigned char serial[16];
    if (cert == NULL || key == NULL || RAND_bytes(serial, sizeof serial) != 1) {
        snprintf(err, errlen, "cannot generate a key for the self-signed certificate");
        goto out;
    }
    serial[0] &= 0x7f; /* a positive serial number */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_set_version(cert, 2);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    if (add_extension(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") != 0 ||
        add_extension(cert, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        X509_sign(cert, key, EVP_sha256()) == 0) {
        snprintf(err, errlen, "cannot sign the self-signed certificate");
        goto out;
    }
    rc = write_pem_files(cert, key, cert_path, key_path, err, errlen);
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}
