/* Fuzz target: the CLI's credentials file. The input is the file's text.
 * Loading either fails with a message or gives two NUL-terminated fields;
 * saving those and loading again must give the same fields back. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client/credentials.h"
#include "fuzz_support.h"
#include "util/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[PATH_MAX], out[PATH_MAX], msg[PATH_MAX + 256] = "";
    snprintf(in, sizeof in, "%s/in", fuzz_tmpdir());
    snprintf(out, sizeof out, "%s/conf/siegetank/credentials", fuzz_tmpdir());
    FUZZ_CHECK(fs_write_file(in, data, size, 0) == 0);
    struct credentials cr, back;
    memset(&cr, 0x5a, sizeof cr);
    if (credentials_load(in, &cr, msg, sizeof msg) != 0) {
        FUZZ_CHECK(msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(memchr(cr.cc, '\0', sizeof cr.cc) != NULL);
    FUZZ_CHECK(memchr(cr.token, '\0', sizeof cr.token) != NULL);
    FUZZ_CHECK(credentials_save(out, &cr, msg, sizeof msg) == 0);
    FUZZ_CHECK(credentials_load(out, &back, msg, sizeof msg) == 0);
    FUZZ_CHECK(strcmp(back.cc, cr.cc) == 0 && strcmp(back.token, cr.token) == 0);
    return 0;
}
