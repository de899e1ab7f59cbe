#include "runtime/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>

#include <h2o.h>

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

SSL_CTX *tls_server_context(const char *certfile, const char *keyfile, const char *ca_certs, char *err,
                            size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
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
    if (add_chain(ctx, ca_certs, err, errlen) != 0)
        goto fail;
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
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
