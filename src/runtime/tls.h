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

#endif
