#include "cc/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

_Static_assert(AUTH_PWHASH_LEN == crypto_pwhash_STRBYTES, "AUTH_PWHASH_LEN must match libsodium");

#define KEY_FILE "secret.key"
#define KEY_HEX_LEN (2 * crypto_secretbox_KEYBYTES)

struct auth_box {
    unsigned char key[crypto_secretbox_KEYBYTES];
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

/* Writes a new key beside the final name and links it into place, so two
 * processes starting together agree on one key and a crash never leaves a
 * half-written secret.key. */
static int create_key_file(const char *dir, const char *path, char *err, size_t errlen)
{
    char tmp[4096], hex[KEY_HEX_LEN + 2];
    unsigned char key[crypto_secretbox_KEYBYTES];
    int rc = -1, fd = -1;

    snprintf(tmp, sizeof tmp, "%s/%s.tmp.%ld", dir, KEY_FILE, (long)getpid());
    crypto_secretbox_keygen(key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    strcat(hex, "\n");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write(fd, hex, KEY_HEX_LEN + 1) != KEY_HEX_LEN + 1 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (fs_fsync_path(dir) != 0) {
        snprintf(err, errlen, "cannot sync folder %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(hex, sizeof hex);
    return rc;
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

auth_box *auth_box_open(const char *data_dir, char *err, size_t errlen)
{
    char path[4096];
    auth_box *box = NULL;

    if (snprintf(path, sizeof path, "%s/%s", data_dir, KEY_FILE) >= (int)sizeof path - 32) {
        snprintf(err, errlen, "data folder path too long: %s", data_dir);
        return NULL;
    }
    if (fs_mkdir_p(data_dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    if (!fs_exists(path) && create_key_file(data_dir, path, err, errlen) != 0)
        return NULL;
    box = sodium_malloc(sizeof *box);
    if (!box) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (load_key_file(path, box->key, err, errlen) != 0) {
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
    unsigned char *bin = NULL;
    char *hex = NULL;

    if (len > AUTH_SECRET_MAX)
        return NULL;
    bin = malloc(sealed_len);
    hex = malloc(2 * sealed_len + 1);
    if (!bin || !hex) {
        free(hex);
        hex = NULL;
        goto out;
    }
    randombytes_buf(bin, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(bin + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len, bin,
                          box->key);
    sodium_bin2hex(hex, 2 * sealed_len + 1, bin, sealed_len);
out:
    free(bin);
    return hex;
}

char *auth_box_unseal(const auth_box *box, const char *sealed)
{
    size_t max_bin = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + AUTH_SECRET_MAX;
    size_t hex_len = strnlen(sealed, 2 * max_bin + 1), bin_len = 0, plain_len;
    unsigned char *bin = NULL;
    char *plain = NULL;

    if (hex_len > 2 * max_bin)
        return NULL;
    bin = malloc(max_bin);
    if (!bin)
        return NULL;
    if (sodium_hex2bin(bin, max_bin, sealed, hex_len, NULL, &bin_len, NULL) != 0 ||
        bin_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        goto out;
    plain_len = bin_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    plain = malloc(plain_len + 1);
    if (!plain)
        goto out;
    if (crypto_secretbox_open_easy((unsigned char *)plain, bin + crypto_secretbox_NONCEBYTES,
                                   bin_len - crypto_secretbox_NONCEBYTES, bin, box->key) != 0) {
        free(plain);
        plain = NULL;
        goto out;
    }
    plain[plain_len] = '\0';
out:
    free(bin);
    return plain;
}
