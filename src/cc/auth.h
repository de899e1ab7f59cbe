/* auth: credentials at rest.
 * - Passwords: Argon2id (libsodium crypto_pwhash_str, INTERACTIVE limits),
 *   encoded with their salt and parameters; verify is constant time.
 * - Tokens (user tokens, engine keys): 128 random bits as 32 hex chars;
 *   stored only as their SHA-256 hex (high entropy, so a fast hash is right).
 * - Secrets the CC must show or present again (engine keys, SCV passwords):
 *   sealed with XSalsa20-Poly1305 (crypto_secretbox) under a 256-bit key kept
 *   in <data>/secret.key (mode 0600, created on first use). Every CC sharing
 *   one database must hold the same secret.key.
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

/* A secretbox key loaded from (or created in) a data folder. */
typedef struct auth_box auth_box;

/* Loads <data_dir>/secret.key, creating the folder and the key (0600) when
 * missing. NULL with a reason in err on failure (unreadable, wrong size,
 * group/world-readable). */
auth_box *auth_box_open(const char *data_dir, char *err, size_t errlen);
void auth_box_close(auth_box *box); /* wipes the key; NULL is fine */
/* Seals plain (at most AUTH_SECRET_MAX bytes) into malloc'd hex of
 * nonce || MAC || ciphertext. NULL when too long or out of memory. */
char *auth_box_seal(const auth_box *box, const char *plain);
/* The malloc'd plain text, or NULL when sealed is malformed, was sealed
 * under another key, or was tampered with. */
char *auth_box_unseal(const auth_box *box, const char *sealed);

#endif
