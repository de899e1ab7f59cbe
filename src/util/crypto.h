/* crypto: digests, random identifiers and constant-time comparison.
 * Thin wrappers over OpenSSL (digests, randomness) and libsodium (hex,
 * comparison) so the rest of the code speaks hex strings. */
#ifndef ST_CRYPTO_H
#define ST_CRYPTO_H

#include <stddef.h>

#define CRYPTO_MD5_HEX_LEN 32
#define CRYPTO_SHA256_HEX_LEN 64
#define CRYPTO_UUID_LEN 36

/* Lowercase hex digests; out must hold the hex length + 1. */
void crypto_md5_hex(const void *data, size_t len, char *out);
void crypto_sha256_hex(const void *data, size_t len, char *out);

/* nbytes of randomness from the OS CSPRNG as 2*nbytes hex chars + NUL.
 * Returns 0, or -1 if the generator failed (never silently weak). */
int crypto_random_hex(char *out, size_t nbytes);

/* A random (version 4) UUID, 36 chars + NUL. 0 or -1. */
int crypto_uuid4(char *out);

/* 1 when the NUL-terminated strings are equal. Time depends only on the
 * lengths, never on where they differ. NULL never equals anything. */
int crypto_equal(const char *a, const char *b);

#endif
