/* fuzz_support: see fuzz_support.h. */
#include "fuzz_support.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"

void fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
    abort();
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static char tmpdir[PATH_MAX];

static void remove_tmpdir(void)
{
    fs_rm_rf(tmpdir);
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/st-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        abort();
    atexit(remove_tmpdir);
    return tmpdir;
}
