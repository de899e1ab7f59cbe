/* Fuzz target: the UTF-8 checks every name and JSON-bound text goes
 * through (util/utf8), differentially against jansson's own UTF-8 check
 * (json_stringn refuses exactly the ill-formed strings). utf8_char must
 * walk a valid string in steps that decode to in-range scalar values, and
 * utf8_scrub must give valid UTF-8 of the same length, changing nothing in
 * a valid string. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "util/utf8.h"

static void check_walk(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned cp = 0xffffffffu;
        size_t n = utf8_char(s + i, len - i, &cp);
        FUZZ_CHECK(n >= 1 && n <= 4 && n <= len - i);
        FUZZ_CHECK(cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff));
        FUZZ_CHECK(n == (cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u));
        i += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int valid = utf8_valid(s, size);
    json_t *j = json_stringn(s, size);
    FUZZ_CHECK(valid == (j != NULL));
    json_decref(j);
    if (valid)
        check_walk(data, size);

    size_t clen = strlen(s);
    char *orig = fuzz_cstr((const uint8_t *)s, clen);
    FUZZ_CHECK(utf8_scrub(s) == s);
    FUZZ_CHECK(strlen(s) == clen && utf8_valid(s, clen));
    if (utf8_valid(orig, clen))
        FUZZ_CHECK(strcmp(s, orig) == 0);
    for (size_t i = 0; i < clen; i++)
        FUZZ_CHECK(s[i] == orig[i] || s[i] == '?');
    free(orig);
    free(s);
    return 0;
}
