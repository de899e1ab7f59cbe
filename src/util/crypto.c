#include "util/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, bytes, n);
}

/* OpenSSL 3 looks EVP_sha256() and EVP_md5() up in its provider store on
 * every use (locks and a property query, most of a short digest's cost:
 * core tokens are hashed on every heartbeat), so the algorithms are fetched
 * once. A failed fetch leaves NULL and the lookup-per-call objects are used. */
static EVP_MD *fetched_sha256, *fetched_md5;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    fetched_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    fetched_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

static const EVP_MD *digest_sha256(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return fetched_sha256 != NULL ? fetched_sha256 : EVP_sha256();
}

static const EVP_MD *digest_md5(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return fetched_md5 != NULL ? fetched_md5 : EVP_md5();
}

static void digest_hex(const EVP_MD *md, const void *data, size_t len, char *out)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, digest, &n, md, NULL);
    to_hex(digest, n, out);
}

void crypto_md5_hex(const void *data, size_t len, char *out)
{
    digest_hex(digest_md5(), data, len, out);
}

void crypto_sha256_hex(const void *data, size_t len, char *out)
{
    digest_hex(digest_sha256(), data, len, out);
}

int crypto_random_hex(char *out, size_t nbytes)
{
    unsigned char buf[256];
    if (nbytes > sizeof buf || RAND_bytes(buf, (int)nbytes) != 1)
        return -1;
    to_hex(buf, nbytes, out);
    return 0;
}

int crypto_uuid4(char *out)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, CRYPTO_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

int crypto_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && sodium_memcmp(a, b, la) == 0;
}
