/* Fuzz target: the base64 decoder of ".b64" frame files. Whatever it
 * accepts must be the input's alphabet characters (whitespace and padding
 * aside; a group's unused low bits and missing padding are tolerated), so
 * encoding the result gives them back; encoding any bytes must decode back
 * to them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "util/base64.h"

/* text without whitespace and '=' into a fresh string, its length in *n. */
static char *alphabet_only(const char *text, size_t len, size_t *n)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    *n = 0;
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n=", text[i]) || text[i] == '\0')
            s[(*n)++] = text[i];
    return s;
}

static void check_decoded(const char *text, size_t len, const unsigned char *raw, size_t raw_len)
{
    FUZZ_CHECK(raw[raw_len] == '\0');
    size_t enc_len = 0, want_n = 0, got_n = 0;
    char *enc = base64_encode(raw, raw_len, &enc_len);
    FUZZ_CHECK(enc != NULL);
    char *want = alphabet_only(text, len, &want_n);
    char *got = alphabet_only(enc, enc_len, &got_n);
    FUZZ_CHECK(got_n == want_n);
    /* A last partial group may differ in its unused low bits only. */
    size_t exact = want_n % 4 == 0 ? want_n : want_n - 1;
    FUZZ_CHECK(memcmp(got, want, exact) == 0);
    free(want);
    free(got);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    size_t raw_len = 0;
    unsigned char *raw = base64_decode(text, size, &raw_len);
    if (raw != NULL)
        check_decoded(text, size, raw, raw_len);
    free(raw);

    size_t enc_len = 0, back_len = 0;
    char *enc = base64_encode(data, size, &enc_len);
    FUZZ_CHECK(enc != NULL && enc_len == (size + 2) / 3 * 4 && enc[enc_len] == '\0');
    unsigned char *back = base64_decode(enc, enc_len, &back_len);
    FUZZ_CHECK(back != NULL && back_len == size && memcmp(back, data, size) == 0);
    free(back);
    free(enc);
    free(text);
    return 0;
}
