#include "cc/auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"

_Static_assert(AUTH_PWHASH_LEN == crypto_pwhash_STRBYTES, "AUTH_PWHASH_LEN must match libsodium");

#define KEY_HEX_LEN (2 * crypto_secretbox_KEYBYTES)
#define KEY_ID_BYTES 8
#define KEY_ID_HEX_LEN (2 * KEY_ID_BYTES)
#define KEY_ID_SEP ':'
/* crypto_kdf subkeys of the Argon2id master key. */
#define KDF_CONTEXT "stsealer"
#define KDF_SEAL_KEY 1
#define KDF_KEY_ID 2
/* Argon2id work for the master key: 8 MiB and 3 passes, about 25 ms. cc_pass
 * should be random (etc/cc.conf: openssl rand -hex 32), which no work
 * factor needs to protect; this one only slows down guessing a weak one
 * from a copy of the database, at a cost every CC start and every store a
 * test opens can pay. */
#define KDF_OPSLIMIT 3
#define KDF_MEMLIMIT (8u << 20)

_Static_assert(AUTH_SALT_BYTES == crypto_pwhash_SALTBYTES, "AUTH_SALT_BYTES must match libsodium");

struct auth_key {
    unsigned char key[crypto_secretbox_KEYBYTES];
    char id[KEY_ID_HEX_LEN + 1];
};

/* In sodium_malloc'd memory: guarded, locked, wiped on close. */
struct auth_box {
    struct auth_key keys[AUTH_PASSES_MAX]; /* [0] seals */
    size_t n_keys;
    unsigned char legacy[crypto_secretbox_KEYBYTES];
    int has_legacy;
};

int auth_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int auth_password_hash(const char *password, char out[AUTH_PWHASH_LEN])
{
    size_t len = password ? strlen(password) : 0;
    if (len == 0 || len > AUTH_PASSWORD_MAX)
        return -1;
    return crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

int auth_password_verify(const char *hash, const char *password)
{
    if (!hash || !password || strnlen(hash, AUTH_PWHASH_LEN) == AUTH_PWHASH_LEN)
        return 0;
    size_t len = strlen(password);
    if (len > AUTH_PASSWORD_MAX)
        return 0;
    return crypto_pwhash_str_verify(hash, password, len) == 0;
}

int auth_token_new(char out[AUTH_TOKEN_HEX_LEN + 1])
{
    return crypto_random_hex(out, AUTH_TOKEN_BYTES);
}

void auth_token_hash(const char *token, char out[AUTH_TOKEN_HASH_LEN + 1])
{
    crypto_sha256_hex(token, strlen(token), out);
}

static int load_key_file(const char *path, unsigned char *key, char *err, size_t errlen)
{
    struct stat st;
    size_t len = 0, bin_len = 0;
    char *text = NULL;
    int rc = -1;

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s is readable by others; run chmod 600 on it", path);
        goto out;
    }
    text = fs_read_file(path, KEY_HEX_LEN + 16, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s (missing, unreadable or too large)", path);
        goto out;
    }
    if (sodium_hex2bin(key, crypto_secretbox_KEYBYTES, text, len, " \r\n", &bin_len, NULL) != 0 ||
        bin_len != crypto_secretbox_KEYBYTES) {
        snprintf(err, errlen, "%s is corrupt: expected %d hex characters", path, KEY_HEX_LEN);
        goto out;
    }
    rc = 0;
out:
    if (text) {
        sodium_memzero(text, len);
        free(text);
    }
    return rc;
}

int auth_salt_new(char out[AUTH_SALT_HEX_LEN + 1])
{
    return crypto_random_hex(out, AUTH_SALT_BYTES);
}

/* The sealing key and its id from one cc_pass and the salt. */
static int derive_key(struct auth_key *k, const char *pass, const unsigned char *salt)
{
    unsigned char master[crypto_kdf_KEYBYTES], id[crypto_kdf_BYTES_MIN];
    int rc = -1;
    if (crypto_pwhash(master, sizeof master, pass, strlen(pass), salt, KDF_OPSLIMIT, KDF_MEMLIMIT,
                      crypto_pwhash_ALG_ARGON2ID13) != 0 ||
        crypto_kdf_derive_from_key(k->key, sizeof k->key, KDF_SEAL_KEY, KDF_CONTEXT, master) != 0 ||
        crypto_kdf_derive_from_key(id, sizeof id, KDF_KEY_ID, KDF_CONTEXT, master) != 0)
        goto out;
    sodium_bin2hex(k->id, sizeof k->id, id, KEY_ID_BYTES);
    rc = 0;
out:
    sodium_memzero(master, sizeof master);
    return rc;
}

static int open_keys(auth_box *box, const char *const *passes, size_t n, const char *salt_hex,
                     const char *legacy_key, char *err, size_t errlen)
{
    unsigned char salt[AUTH_SALT_BYTES];
    size_t salt_len = 0;
    if (n == 0 || n > AUTH_PASSES_MAX) {
        snprintf(err, errlen, "between 1 and %d cc_pass values are needed to seal secrets", AUTH_PASSES_MAX);
        return -1;
    }
    if (sodium_hex2bin(salt, sizeof salt, salt_hex, strlen(salt_hex), NULL, &salt_len, NULL) != 0 ||
        salt_len != sizeof salt) {
        snprintf(err, errlen, "the database's sealing salt is corrupt");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (passes[i][0] == '\0' || strlen(passes[i]) > AUTH_PASSWORD_MAX) {
            snprintf(err, errlen, "cc_pass must be 1 to %d characters to seal secrets", AUTH_PASSWORD_MAX);
            return -1;
        }
        if (derive_key(&box->keys[i], passes[i], salt) != 0) {
            snprintf(err, errlen, "cannot derive the sealing key from cc_pass (out of memory?)");
            return -1;
        }
    }
    box->n_keys = n;
    if (legacy_key != NULL) {
        if (load_key_file(legacy_key, box->legacy, err, errlen) != 0)
            return -1;
        box->has_legacy = 1;
    }
    return 0;
}

auth_box *auth_box_open(const char *const *passes, size_t n, const char *salt_hex, const char *legacy_key,
                        char *err, size_t errlen)
{
    auth_box *box = sodium_malloc(sizeof *box);
    if (!box) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(box, 0, sizeof *box);
    if (open_keys(box, passes, n, salt_hex, legacy_key, err, errlen) != 0) {
        auth_box_close(box);
        return NULL;
    }
    return box;
}

void auth_box_close(auth_box *box)
{
    if (box)
        sodium_free(box); /* sodium_free wipes before releasing */
}

char *auth_box_seal(const auth_box *box, const char *plain)
{
    size_t len = strlen(plain);
    size_t sealed_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    size_t prefix = KEY_ID_HEX_LEN + 1;
    unsigned char *bin = NULL;
    char *out = NULL;

    if (len > AUTH_SECRET_MAX)
        return NULL;
    bin = malloc(sealed_len);
    out = malloc(prefix + 2 * sealed_len + 1);
    if (!bin || !out) {
        free(out);
        out = NULL;
        goto out;
    }
    randombytes_buf(bin, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(bin + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len, bin,
                          box->keys[0].key);
    memcpy(out, box->keys[0].id, KEY_ID_HEX_LEN);
    out[KEY_ID_HEX_LEN] = KEY_ID_SEP;
    sodium_bin2hex(out + prefix, 2 * sealed_len + 1, bin, sealed_len);
out:
    free(bin);
    return out;
}

/* The key sealed names (its id before KEY_ID_SEP; none: the legacy key),
 * with *body pointing past the id. NULL when the box does not hold it. */
static const unsigned char *key_for(const auth_box *box, const char *sealed, const char **body, int *current)
{
    const char *sep = strchr(sealed, KEY_ID_SEP);
    *current = 0;
    if (sep == NULL) {
        *body = sealed;
        return box->has_legacy ? box->legacy : NULL;
    }
    *body = sep + 1;
    if (sep - sealed != KEY_ID_HEX_LEN)
        return NULL;
    for (size_t i = 0; i < box->n_keys; i++) {
        if (sodium_memcmp(box->keys[i].id, sealed, KEY_ID_HEX_LEN) == 0) {
            *current = i == 0;
            return box->keys[i].key;
        }
    }
    return NULL;
}

char *auth_box_unseal(const auth_box *box, const char *sealed, int *current)
{
    size_t max_bin = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + AUTH_SECRET_MAX;
    size_t hex_len, bin_len = 0, plain_len;
    unsigned char *bin = NULL;
    char *plain = NULL;
    const char *body;
    int is_current = 0;

    if (current)
        *current = 0;
    if (strnlen(sealed, KEY_ID_HEX_LEN + 2 + 2 * max_bin) > KEY_ID_HEX_LEN + 1 + 2 * max_bin)
        return NULL;
    const unsigned char *key = key_for(box, sealed, &body, &is_current);
    hex_len = strlen(body);
    if (key == NULL || hex_len > 2 * max_bin)
        return NULL;
    bin = malloc(max_bin);
    if (!bin)
        return NULL;
    if (sodium_hex2bin(bin, max_bin, body, hex_len, NULL, &bin_len, NULL) != 0 ||
        bin_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        goto out;
    plain_len = bin_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    plain = malloc(plain_len + 1);
    if (!plain)
        goto out;
    if (crypto_secretbox_open_easy((unsigned char *)plain, bin + crypto_secretbox_NONCEBYTES,
                                   bin_len - crypto_secretbox_NONCEBYTES, bin, key) != 0) {
        free(plain);
        plain = NULL;
        goto out;
    }
    plain[plain_len] = '\0';
    if (current)
        *current = is_current;
out:
    free(bin);
    return plain;
}
