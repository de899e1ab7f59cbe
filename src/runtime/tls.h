/* tls: the server-side TLS context from the three config files.
 * The CA chain in ssl_ca_certs is sent after the certificate. Every failure
 * names the config field and the file so an operator can fix it. ALPN
 * offers only http/1.1 (HTTP/2 is off). TLS 1.2 offers only forward-secret
 * AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305), as TLS 1.3 does.
 *
 * Sessions resume with stateless tickets for TLS 1.2 and 1.3 clients alike
 * (no server-side session cache, so no lock or memory per session). The
 * ticket keys live in a ring owned by the context, shared by every thread
 * using it: a new key encrypts tickets every TLS_TICKET_ROTATE_S seconds and
 * the previous ones still decrypt (a ticket under one of them is renewed)
 * until TLS_TICKET_KEYS rotations have passed. Keys never leave memory. */
#ifndef ST_TLS_H
#define ST_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#define TLS_TICKET_ROTATE_S 3600
#define TLS_TICKET_KEYS 3

struct tls_server_options {
    const char *certfile; /* ssl_certfile */
    const char *keyfile;  /* ssl_key */
    const char *ca_certs; /* ssl_ca_certs */
    int min_version;      /* lowest TLS 1.x minor offered: 2 or 3 */
    int max_version;      /* highest: 2 or 3 */
};

/* NULL with a message in err on failure. */
SSL_CTX *tls_server_context(const struct tls_server_options *o, char *err, size_t errlen);

/* A client-side context for calls to peers: TLS 1.2 or 1.3, no
 * compression. verify: the peer's chain must lead to a CA of ca_bundle (NULL
 * or empty: the system's store) and its name is then checked by the caller
 * (h2o checks the name it connected to); 0: no check at all, for peers
 * addressed by IP literal or localhost (PROTOCOL.md). NULL + err. */
SSL_CTX *tls_client_context(int verify, const char *ca_bundle, char *err, size_t errlen);

/* Starts a new ticket key now (the context also does so on its own every
 * TLS_TICKET_ROTATE_S); the oldest key of the ring is forgotten, and with
 * it the sessions of tickets it encrypted. 0, or -1 without randomness. */
int tls_rotate_ticket_keys(SSL_CTX *ctx);

/* Writes a fresh self-signed certificate for localhost and 127.0.0.1
 * (EC P-256, valid ten years) and its key (mode 0600). For local use:
 * clients do not verify IP literals and localhost anyway. 0 or -1 + err. */
int tls_make_self_signed(const char *cert_path, const char *key_path, char *err, size_t errlen);

#endif
