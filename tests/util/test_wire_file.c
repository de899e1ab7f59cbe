/* wire_file: the ".b64" / ".gz" naming rule, both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/wire_file.h"

static void expect_base(const char *name, const char *base, unsigned enc)
{
    unsigned got = 99;
    assert_int_equal(wire_file_base(name, strlen(name), &got), strlen(base));
    assert_memory_equal(name, base, strlen(base));
    assert_int_equal(got, enc);
}

static void test_base(void **state)
{
    (void)state;
    expect_base("state.xml.gz.b64", "state.xml", WIRE_FILE_GZ | WIRE_FILE_B64);
    expect_base("frames.xtc.b64", "frames.xtc", WIRE_FILE_B64);
    expect_base("x.gz", "x", WIRE_FILE_GZ);
    expect_base("system.json", "system.json", 0);
    expect_base("a.b64.gz", "a.b64", WIRE_FILE_GZ); /* .b64 then .gz, once each */
    expect_base("a.gz.gz.b64", "a.gz", WIRE_FILE_GZ | WIRE_FILE_B64);
    expect_base(".gz.b64", "", WIRE_FILE_GZ | WIRE_FILE_B64);
    expect_base("", "", 0);
    assert_int_equal(wire_file_base("x.b64", 3, NULL), 3); /* only len bytes count */
}

static void round_trip(unsigned enc)
{
    const char *text = "<State step=\"5\"/>";
    size_t len = 0, back_len = 0;
    unsigned char *back = NULL;
    char *wire = wire_file_encode(text, strlen(text), enc, &len);
    assert_non_null(wire);
    assert_int_equal(strlen(wire), len);
    assert_int_equal(wire_file_decode("f", wire, len, enc, 100, &back, &back_len, NULL), STATUS_OK);
    assert_int_equal(back_len, strlen(text));
    assert_string_equal((char *)back, text);
    free(back);
    free(wire);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip(0);
    round_trip(WIRE_FILE_B64);
    round_trip(WIRE_FILE_GZ | WIRE_FILE_B64);
    assert_null(wire_file_encode("x", 1, WIRE_FILE_GZ, NULL)); /* gzip bytes are no JSON string */
}

static void expect_refused(const char *text, unsigned enc, size_t max, status_code code, const char *msg)
{
    struct status st;
    unsigned char *out = (unsigned char *)"untouched";
    size_t len = 0;
    assert_int_equal(wire_file_decode("a.gz.b64", text, strlen(text), enc, max, &out, &len, &st), code);
    assert_null(out);
    assert_int_equal(st.code, code);
    assert_string_equal(st.msg, msg);
}

static void test_decode_refusals(void **state)
{
    (void)state;
    char *notgz = wire_file_encode("not gzip", 8, WIRE_FILE_B64, NULL);
    char *big = wire_file_encode("0123456789abcdefg", 17, WIRE_FILE_GZ | WIRE_FILE_B64, NULL);
    expect_refused("!!!", WIRE_FILE_B64, 100, STATUS_INVALID, "'a.gz.b64' is not valid base64");
    expect_refused(notgz, WIRE_FILE_GZ | WIRE_FILE_B64, 100, STATUS_INVALID,
                   "'a.gz.b64' is not valid gzip or inflates past 100 bytes");
    expect_refused(big, WIRE_FILE_GZ | WIRE_FILE_B64, 16, STATUS_INVALID,
                   "'a.gz.b64' is not valid gzip or inflates past 16 bytes");
    expect_refused("0123456789abcdefg", 0, 16, STATUS_TOO_LARGE, "'a.gz.b64' is larger than 16 bytes");
    expect_refused(notgz, WIRE_FILE_B64, 7, STATUS_TOO_LARGE, "'a.gz.b64' is larger than 7 bytes");
    free(notgz);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_decode_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
