/* Fuzz target: the core's wire names and file encoding (core_wire). The
 * first byte picks a mode. Mode 0: the rest is a JSON "files" object given
 * to core_wire_decode_files with a small limit. Otherwise the rest is a wire
 * name, a NUL, then file bytes: the name's base must be the name minus at
 * most ".b64" then ".gz", and what core_wire_encode_file produces must decode
 * back to the same base name and bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_wire.h"
#include "fuzz_support.h"

#define DECODE_MAX 4096

static void decode_object(const uint8_t *data, size_t size)
{
    json_t *files = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    struct core_wire_files out;
    char err[256] = "";
    if (core_wire_decode_files(files, DECODE_MAX, &out, err, sizeof err) == 0) {
        FUZZ_CHECK(out.n == json_object_size(files));
        for (size_t i = 0; i < out.n; i++) {
            FUZZ_CHECK(out.files[i].len <= DECODE_MAX);
            FUZZ_CHECK(out.files[i].name[0] != '\0');
            FUZZ_CHECK(core_wire_files_wire_name(&out, out.files[i].name) != NULL);
        }
        core_wire_files_free(&out);
    } else {
        FUZZ_CHECK(err[0] != '\0' && out.n == 0);
    }
    json_decref(files);
}

static void check_base(const char *wire, const char *base, int b64, int gz)
{
    size_t wl = strlen(wire), bl = strlen(base);
    size_t suffix = (b64 ? 4 : 0) + (gz ? 3 : 0);
    FUZZ_CHECK(bl > 0 && bl + suffix == wl && memcmp(wire, base, bl) == 0);
    if (gz)
        FUZZ_CHECK(memcmp(wire + bl, ".gz", 3) == 0);
    if (b64)
        FUZZ_CHECK(memcmp(wire + wl - 4, ".b64", 4) == 0);
}

static void round_trip(const char *wire, const uint8_t *data, size_t len)
{
    char base[CORE_WIRE_NAME_MAX], err[256] = "";
    int b64 = -1, gz = -1;
    if (core_wire_base_name(wire, base, sizeof base, &b64, &gz) != 0)
        return;
    check_base(wire, base, b64, gz);
    json_t *files = core_wire_encode_file(wire, data, len, err, sizeof err);
    if (files == NULL) {
        FUZZ_CHECK(err[0] != '\0');
        return;
    }
    struct core_wire_files out;
    FUZZ_CHECK(core_wire_decode_files(files, len, &out, err, sizeof err) == 0);
    FUZZ_CHECK(out.n == 1 && strcmp(out.files[0].name, base) == 0 && strcmp(out.wire_names[0], wire) == 0);
    FUZZ_CHECK(out.files[0].len == len && (len == 0 || memcmp(out.files[0].data, data, len) == 0));
    core_wire_files_free(&out);
    json_decref(files);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] == 0) {
        decode_object(data + 1, size - 1);
        return 0;
    }
    const uint8_t *nul = memchr(data + 1, '\0', size - 1);
    if (nul == NULL)
        return 0;
    char *wire = fuzz_cstr(data + 1, (size_t)(nul - data - 1));
    round_trip(wire, nul + 1, size - (size_t)(nul - data) - 1);
    free(wire);
    return 0;
}
