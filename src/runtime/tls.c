#include "runtime/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
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
