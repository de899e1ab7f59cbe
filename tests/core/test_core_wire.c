/* core_wire: name decoding, start-file decoding and the bodies the core sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/core_wire.h"
#include "util/base64.h"
#include "util/gz.h"

static void test_base_name(void **state)
{
    (void)state;
    char base[32];
    int b64 = -1, gz = -1;
    assert_int_equal(core_wire_base_name("state.json.gz.b64", base, sizeof base, &b64, &gz), 0);
    assert_string_equal(base, "state.json");
    assert_true(b64 && gz);
    assert_int_equal(core_wire_base_name("frames.xtc.b64", base, sizeof base, &b64, &gz), 0);
    assert_string_equal(base, "frames.xtc");
    assert_true(b64 && !gz);
    assert_int_equal(core_wire_base_name("x.gz", base, sizeof base, &b64, &gz), 0);
    assert_string_equal(base, "x");
    assert_true(!b64 && gz);
    assert_int_equal(core_wire_base_name("system.json", base, sizeof base, &b64, &gz), 0);
    assert_string_equal(base, "system.json");
    assert_true(!b64 && !gz);
    /* The SCV strips .b64 then .gz, once each, in that order. */
    assert_int_equal(core_wire_base_name("a.b64.gz", base, sizeof base, &b64, &gz), 0);
    assert_string_equal(base, "a.b64");
    assert_int_equal(core_wire_base_name("a.gz.gz.b64", base, sizeof base, NULL, NULL), 0);
    assert_string_equal(base, "a.gz");
}

static void test_base_name_refusals(void **state)
{
    (void)state;
    char base[8];
    assert_int_equal(core_wire_base_name("", base, sizeof base, NULL, NULL), -1);
    assert_int_equal(core_wire_base_name(NULL, base, sizeof base, NULL, NULL), -1);
    assert_int_equal(core_wire_base_name(".b64", base, sizeof base, NULL, NULL), -1);
    assert_int_equal(core_wire_base_name(".gz.b64", base, sizeof base, NULL, NULL), -1);
    assert_int_equal(core_wire_base_name("12345678", base, sizeof base, NULL, NULL), -1);
    assert_int_equal(core_wire_base_name("1234567", base, sizeof base, NULL, NULL), 0);
}

/* base64(gzip(text)) as the CLI sends a seed file. */
static char *wrap(const char *text)
{
    size_t zlen = 0;
    unsigned char *z = gz_compress(text, strlen(text), &zlen);
    assert_non_null(z);
    char *b = base64_encode(z, zlen, NULL);
    free(z);
    assert_non_null(b);
    return b;
}

static const core_file *find(const struct core_wire_files *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->files[i].name, name) == 0)
            return &f->files[i];
    return NULL;
}

static void test_decode_files(void **state)
{
    (void)state;
    char err[256] = "";
    struct core_wire_files f;
    char *sys = wrap("{\"engine\":\"toy\"}");
    char *plain = base64_encode("raw", 3, NULL);
    json_t *files = json_pack("{s:s, s:s, s:s}", "system.json.gz.b64", sys, "notes.txt.b64", plain, "readme",
                              "plain text");
    assert_int_equal(core_wire_decode_files(files, 1024, &f, err, sizeof err), 0);
    assert_int_equal(f.n, 3);
    const core_file *m = find(&f, "system.json");
    assert_non_null(m);
    assert_int_equal(m->len, strlen("{\"engine\":\"toy\"}"));
    assert_memory_equal(m->data, "{\"engine\":\"toy\"}", m->len);
    m = find(&f, "notes.txt");
    assert_non_null(m);
    assert_int_equal(m->len, 3);
    assert_memory_equal(m->data, "raw", 3);
    m = find(&f, "readme");
    assert_non_null(m);
    assert_memory_equal(m->data, "plain text", 10);
    assert_string_equal(core_wire_files_wire_name(&f, "system.json"), "system.json.gz.b64");
    assert_string_equal(core_wire_files_wire_name(&f, "readme"), "readme");
    assert_null(core_wire_files_wire_name(&f, "state.json"));
    core_wire_files_free(&f);
    assert_int_equal(f.n, 0);
    json_decref(files);
    free(sys);
    free(plain);
}

static void expect_decode_error(json_t *files, size_t max, const char *needle)
{
    char err[256] = "";
    struct core_wire_files f;
    assert_int_equal(core_wire_decode_files(files, max, &f, err, sizeof err), -1);
    assert_int_equal(f.n, 0);
    assert_null(f.files);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
    json_decref(files);
}

static void test_decode_refusals(void **state)
{
    (void)state;
    char *big = wrap("0123456789abcdef0123456789abcdef");
    char *notgz = base64_encode("not gzip", 8, NULL);
    expect_decode_error(json_pack("[]"), 100, "not an object");
    expect_decode_error(NULL, 100, "not an object");
    expect_decode_error(json_pack("{s:i}", "a.b64", 1), 100, "'a.b64' is not a string");
    expect_decode_error(json_pack("{s:s}", "a.b64", "!!!"), 100, "'a.b64' is not valid base64");
    expect_decode_error(json_pack("{s:s}", "a.gz.b64", notgz), 100, "'a.gz.b64' is not valid gzip");
    /* The cap applies to the inflated size, so a small body cannot balloon. */
    expect_decode_error(json_pack("{s:s}", "a.gz.b64", big), 16, "inflates past 16 bytes");
    expect_decode_error(json_pack("{s:s}", "plain", "0123456789abcdefXYZ"), 16, "larger than 16 bytes");
    expect_decode_error(json_pack("{s:s, s:s}", "ok", "x", ".gz.b64", "x"), 16, "empty or too long");
    free(big);
    free(notgz);
}

/* Decodes value the way the SCV does for name. */
static unsigned char *scv_decode(const char *name, const json_t *files, size_t *len)
{
    const char *v = json_string_value(json_object_get(files, name));
    assert_non_null(v);
    size_t raw_len = 0;
    unsigned char *raw = base64_decode(v, strlen(v), &raw_len);
    assert_non_null(raw);
    if (strstr(name, ".gz.b64") == NULL) {
        *len = raw_len;
        return raw;
    }
    unsigned char *out = gz_decompress(raw, raw_len, 1 << 20, len);
    free(raw);
    assert_non_null(out);
    return out;
}

static void test_frame_files(void **state)
{
    (void)state;
    char err[256] = "";
    const unsigned char frame[] = {0, 0, 7, 203, 0, 0, 0, 1, 0xff, 0x80, 0};
    json_t *files = core_wire_frame_files(frame, sizeof frame, err, sizeof err);
    assert_non_null(files);
    assert_int_equal(json_object_size(files), 1);
    size_t len = 0;
    unsigned char *back = scv_decode(CORE_WIRE_FRAME_NAME, files, &len);
    assert_int_equal(len, sizeof frame);
    assert_memory_equal(back, frame, len);
    free(back);
    /* Identical frames give identical bodies: what the SCV's retry check needs. */
    json_t *again = core_wire_frame_files(frame, sizeof frame, err, sizeof err);
    char *a = json_dumps(files, JSON_COMPACT), *b = json_dumps(again, JSON_COMPACT);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(again);
    json_decref(files);
}

static void test_checkpoint_files(void **state)
{
    (void)state;
    char err[256] = "";
    const char *st = "{\"engine\":\"toy\",\"step\":42}";
    json_t *files = core_wire_encode_file("state.json.gz.b64", st, strlen(st), err, sizeof err);
    assert_non_null(files);
    size_t len = 0;
    unsigned char *back = scv_decode("state.json.gz.b64", files, &len);
    assert_int_equal(len, strlen(st));
    assert_memory_equal(back, st, len);
    free(back);
    /* And the core's own decoder reads what it wrote (a resumed core). */
    struct core_wire_files f;
    assert_int_equal(core_wire_decode_files(files, 1024, &f, err, sizeof err), 0);
    assert_string_equal(f.files[0].name, "state.json");
    assert_memory_equal(f.files[0].data, st, strlen(st));
    core_wire_files_free(&f);
    json_decref(files);

    files = core_wire_encode_file("state.json", st, strlen(st), err, sizeof err);
    assert_non_null(files);
    assert_string_equal(json_string_value(json_object_get(files, "state.json")), st);
    json_decref(files);
}

static void test_encode_refusals(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(core_wire_encode_file("state.json.gz", "x", 1, err, sizeof err));
    assert_non_null(strstr(err, "without \".b64\""));
    assert_null(core_wire_encode_file("bin", "\xff\xfe", 2, err, sizeof err));
    assert_non_null(strstr(err, "not UTF-8"));
    assert_null(core_wire_encode_file("", "x", 1, err, sizeof err));
    assert_non_null(strstr(err, "empty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_name),       cmocka_unit_test(test_base_name_refusals),
        cmocka_unit_test(test_decode_files),    cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_frame_files),     cmocka_unit_test(test_checkpoint_files),
        cmocka_unit_test(test_encode_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
