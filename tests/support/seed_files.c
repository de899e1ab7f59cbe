#include "seed_files.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/md_engine.h"
#include "util/fs.h"
#include "util/gz.h"
#include "util/wire_file.h"

/* files[name] = base64(gzip(data)). */
static void add_file(json_t *files, const char *name, const void *data, size_t len)
{
    char *b64 = wire_file_encode(data, len, WIRE_FILE_GZ | WIRE_FILE_B64, NULL);
    assert_non_null(b64);
    json_object_set_new(files, name, json_string(b64));
    free(b64);
}

json_t *seed_files(int seed)
{
    char *system, *state, err[256];
    size_t system_len, state_len;
    assert_int_equal(md_engine_make_seed_files((uint64_t)seed, 0, &system, &system_len, &state, &state_len,
                                               err, sizeof err),
                     0);
    json_t *files = json_object();
    add_file(files, "system.json.gz.b64", system, system_len);
    add_file(files, "state.json.gz.b64", state, state_len);
    free(system);
    free(state);
    return files;
}

char *seed_files_openmm_data(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", OPENMM_TEST_DATA, name);
    size_t n = 0;
    char *gz = fs_read_file(path, 1 << 20, &n);
    if (!gz)
        fail_msg("cannot read %s", path);
    unsigned char *text = gz_decompress(gz, n, 16u << 20, len);
    assert_non_null(text);
    free(gz);
    return (char *)text;
}

char *seed_files_drop_first(const char *xml, const char *open, size_t *len)
{
    const char *at = strstr(xml, open);
    assert_non_null(at);
    const char *end = strstr(at, "/>");
    assert_non_null(end);
    end += 2;
    size_t n = strlen(xml), head = (size_t)(at - xml);
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, xml, head);
    memcpy(out + head, end, n - (size_t)(end - xml) + 1);
    *len = strlen(out);
    return out;
}

json_t *seed_files_openmm(const char *system, size_t system_len, const char *state, size_t state_len,
                          const char *integrator, size_t integrator_len)
{
    json_t *files = json_object();
    add_file(files, "system.xml.gz.b64", system, system_len);
    add_file(files, "state.xml.gz.b64", state, state_len);
    add_file(files, "integrator.xml.gz.b64", integrator, integrator_len);
    return files;
}
