#include "seed_files.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "core/md_engine.h"
#include "util/base64.h"
#include "util/gz.h"

json_t *seed_files(int seed)
{
    char *system, *state, err[256];
    size_t system_len, state_len, gz_len, b64_len;
    assert_int_equal(md_engine_make_seed_files((uint64_t)seed, 0, &system, &system_len, &state, &state_len,
                                               err, sizeof err),
                     0);
    json_t *files = json_object();
    const char *names[2] = {"system.json.gz.b64", "state.json.gz.b64"};
    char *data[2] = {system, state};
    size_t lens[2] = {system_len, state_len};
    for (int i = 0; i < 2; i++) {
        unsigned char *gz = gz_compress(data[i], lens[i], &gz_len);
        char *b64 = base64_encode(gz, gz_len, &b64_len);
        json_object_set_new(files, names[i], json_string(b64));
        free(gz);
        free(b64);
        free(data[i]);
    }
    return files;
}
