/* auth: credentials at rest.
 * - Passwords: Argon2id (libsodium crypto_pwhash_str, INTERACTIVE limits),
 *   encoded with their salt and parameters; verify is constant time.
 * - Tokens (user tokens, engine keys): 128 random bits as 32 hex chars;
 *   stored only as their SHA-256 hex (high entropy, so a fast hash is right).
 * - Secrets the CC must show or present again (engine keys, SCV passwords):
 *   sealed with XSalsa20-Poly1305 (crypto_secretbox) under a 256-bit key
 *   derived from cc_pass and the database's random salt: Argon2id
 *   (crypto_pwhash, 8 MiB, 3 passes) gives a master key, crypto_kdf the
 *   sealing key and the key's id. Every CC configured with the same cc_pass
 *   and database derives the same key; nothing is copied between them. A
 *   sealed value names its key id, so values sealed under a previous
 *   cc_pass, or under the <data>/secret.key of older versions (no key id),
 *   are still opened when those are given.
 * Call auth_init() once before anything else (it initialises libsodium). */
#ifndef ST_CC_AUTH_H
#define ST_CC_AUTH_H

#include <stddef.h>

#include "util/crypto.h"

#define AUTH_PWHASH_LEN 128 /* crypto_pwhash_STRBYTES, NUL included */
#define AUTH_PASSWORD_MAX 1024
#define AUTH_TOKEN_BYTES 16
#define AUTH_TOKEN_HEX_LEN (2 * AUTH_TOKEN_BYTES)
#define AUTH_TOKEN_HASH_LEN CRYPTO_SHA256_HEX_LEN
#define AUTH_SECRET_MAX 1024 /* longest plain text auth_box_seal accepts */

int auth_init(void); /* 0, or -1 when libsodium cannot start */

/* out receives a NUL-terminated Argon2id string. 0, or -1 when the password
 * is empty or over AUTH_PASSWORD_MAX, or out of memory. */
int auth_password_hash(const char *password, char out[AUTH_PWHASH_LEN]);
/* 1 when password matches hash, 0 otherwise (also on a malformed hash). */
int auth_password_verify(const char *hash, const char *password);

/* A fresh random token (AUTH_TOKEN_HEX_LEN chars + NUL). 0 or -1. */
int auth_token_new(char out[AUTH_TOKEN_HEX_LEN + 1]);
/* The form a token is stored and looked up by. */
void auth_token_hash(const char *token, char out[AUTH_TOKEN_HASH_LEN + 1]);

#define AUTH_SALT_BYTES 16 /* crypto_pwhash_SALTBYTES */
#define AUTH_SALT_HEX_LEN (2 * AUTH_SALT_BYTES)
#define AUTH_PASSES_MAX 8 /* cc_pass and the previous ones */

/* A fresh random salt (AUTH_SALT_HEX_LEN hex chars + NUL). 0 or -1. */
int auth_salt_new(char out[AUTH_SALT_HEX_LEN + 1]);

/* The sealing keys of one database. */
typedef struct auth_box auth_box;

/* passes[0] is the current cc_pass, which seals; passes[1..n-1] are
 * previous ones, used only to unseal (n <= AUTH_PASSES_MAX, none empty).
 * salt_hex: the database's salt. legacy_key: the path of an older
 * version's secret.key, used only to unseal, or NULL. NULL with a reason in
 * err on failure (bad salt, unreadable or group/world-readable key file). */
auth_box *auth_box_open(const char *const *passes, size_t n, const char *salt_hex, const char *legacy_key,
                        char *err, size_t errlen);
void auth_box_close(auth_box *box); /* wipes the keys; NULL is fine */
/* Seals plain (at most AUTH_SECRET_MAX bytes) under the current key into
 * malloc'd "<key id>:<hex of nonce || MAC || ciphertext>". NULL when too
 * long or out of memory. */
char *auth_box_seal(const auth_box *box, const char *plain);
/* The malloc'd plain text, or NULL when sealed is malformed, was sealed
 * under a key the box does not hold, or was tampered with. *current (may be
 * NULL) is 1 when it was sealed under the current key. */
char *auth_box_unseal(const auth_box *box, const char *sealed, int *current);

#endif
