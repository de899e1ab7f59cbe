/* tls: the server-side TLS context from the three config files.
 * The CA chain in ssl_ca_certs is sent after the certificate. Every failure
 * names the config field and the file so an operator can fix it. */
#ifndef ST_TLS_H
#define ST_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* NULL with a message in err on failure. */
SSL_CTX *tls_server_context(const char *certfile, const char *keyfile, const char *ca_certs, char *err,
                            size_t errlen);

/* Writes a fresh self-signed certificate for localhost and 127.0.0.1
 * (EC P-256, valid ten years) and its key (mode 0600). For local use:
 * clients do not verify IP literals and localhost anyway. 0 or -1 + err. */
int tls_make_self_signed(const char *cert_path, const char *key_path, char *err, size_t errlen);

#endif
