/* XTC frames: byte layout, round trip, and rejection of bad data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"

static xtc_frame sample_frame(int natoms, int step, float time)
{
    xtc_frame f;
    memset(&f, 0, sizeof f);
    f.natoms = natoms;
    f.step = step;
    f.time = time;
    f.box[0][0] = 2.5f;
    f.box[1][1] = 3.0f;
    f.box[2][2] = 3.5f;
    f.box[0][1] = 0.25f;
    for (int a = 0; a < natoms; a++)
        for (int k = 0; k < 3; k++)
            f.coords[a][k] = 0.1f * (float)(a + 1) - 0.37f * (float)k;
    return f;
}

/* Frames back to back, as a frames.xtc file holds them. */
static unsigned char *trajectory(int nframes, int natoms, size_t *len)
{
    size_t each = XTC_FRAME_BYTES(natoms);
    unsigned char *buf = malloc(each * (size_t)nframes);
    assert_non_null(buf);
    for (int i = 0; i < nframes; i++) {
        xtc_frame f = sample_frame(natoms, 100 * (i + 1), 0.2f * (float)(i + 1));
        assert_int_equal(xtc_encode(&f, buf + each * (size_t)i, each), each);
    }
    *len = each * (size_t)nframes;
    return buf;
}

static void test_header_layout(void **state)
{
    (void)state;
    xtc_frame f;
    memset(&f, 0, sizeof f);
    f.natoms = 1;
    f.step = 7;
    f.time = 1.5f;
    f.box[0][0] = f.box[1][1] = f.box[2][2] = 2.0f;
    f.coords[0][0] = 1.0f;
    f.coords[0][1] = -2.0f;
    f.coords[0][2] = 0.5f;
    /* Worked out by hand: 1995 = 0x7cb; IEEE-754 single 1.5 = 0x3fc00000,
     * 2.0 = 0x40000000, 1.0 = 0x3f800000, -2.0 = 0xc0000000, 0.5 = 0x3f000000. */
    static const unsigned char expected[68] = {
        0x00, 0x00, 0x07, 0xcb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
        0x3f, 0xc0, 0x00, 0x00,                                                 /* header */
        0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* box row 0 */
        0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* box row 1 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, /* box row 2 */
        0x00, 0x00, 0x00, 0x01,                                                 /* natoms */
        0x3f, 0x80, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, /* x y z */
    };
    unsigned char buf[128];
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(XTC_FRAME_BYTES(1), sizeof expected);
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), sizeof expected);
    assert_memory_equal(buf, expected, sizeof expected);
    assert_int_equal(buf[sizeof expected], 0xee); /* nothing written past the frame */
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int natoms = 1; natoms <= XTC_MAX_ATOMS; natoms++) {
        xtc_frame in = sample_frame(natoms, -3 + natoms, 12.75f), out;
        size_t len = 0;
        unsigned char *buf = xtc_encode_alloc(&in, &len);
        assert_non_null(buf);
        assert_int_equal(len, 56 + 12 * natoms);
        xtc_reader r;
        char err[256] = "";
        xtc_reader_init(&r, buf, len);
        assert_int_equal(xtc_reader_next(&r, &out, err, sizeof err), 1);
        assert_int_equal(out.natoms, natoms);
        assert_int_equal(out.step, in.step);
        assert_true(out.time == in.time);
        assert_memory_equal(out.box, in.box, sizeof in.box);
        assert_memory_equal(out.coords, in.coords, sizeof(float) * 3 * (size_t)natoms);
        assert_int_equal(xtc_reader_next(&r, &out, err, sizeof err), 0);
        free(buf);
    }
}

static void test_walks_frames(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = trajectory(5, 4, &len);
    xtc_reader r;
    xtc_frame f;
    char err[256];
    xtc_reader_init(&r, buf, len);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 1);
        assert_int_equal(f.step, 100 * (i + 1));
        assert_true(f.time == 0.2f * (float)(i + 1));
    }
    assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 0);
    assert_int_equal(xtc_check_trajectory(buf, len, err, sizeof err), 5);
    assert_int_equal(xtc_check_trajectory(buf, 0, err, sizeof err), 0);
    free(buf);
}

static void test_truncation_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = trajectory(2, 3, &len);
    size_t each = XTC_FRAME_BYTES(3);
    char err[256];
    for (size_t cut = 1; cut < len; cut++) {
        err[0] = '\0';
        long n = xtc_check_trajectory(buf, cut, err, sizeof err);
        if (cut == each) {
            assert_int_equal(n, 1);
            continue;
        }
        assert_int_equal(n, -1);
        assert_non_null(strstr(err, "truncated"));
    }
    free(buf);
}

/* Corrupts one 4-byte word of a valid frame and expects the reason. */
static void expect_word_rejected(size_t offset, uint32_t word, const char *reason)
{
    size_t len;
    unsigned char *buf = trajectory(1, 2, &len);
    buf[offset] = (unsigned char)(word >> 24);
    buf[offset + 1] = (unsigned char)(word >> 16);
    buf[offset + 2] = (unsigned char)(word >> 8);
    buf[offset + 3] = (unsigned char)word;
    xtc_reader r;
    xtc_frame f;
    char err[256] = "";
    xtc_reader_init(&r, buf, len);
    assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, reason));
    assert_int_equal(r.pos, 0); /* a bad frame does not move the reader */
    free(buf);
}

static void test_garbage_rejected(void **state)
{
    (void)state;
    expect_word_rejected(0, 1993, "magic 1993");     /* a TRR magic */
    expect_word_rejected(4, 0, "0 atoms");           /* natoms */
    expect_word_rejected(4, 10, "10 atoms");         /* compressed form */
    expect_word_rejected(4, 0x80000000u, "atoms");   /* negative */
    expect_word_rejected(52, 3, "3 before");         /* second natoms disagrees */
    expect_word_rejected(12, 0x7fc00000u, "finite"); /* NaN time */
    expect_word_rejected(60, 0x7f800000u, "finite"); /* inf coordinate */
    expect_word_rejected(16, 0xff800000u, "finite"); /* -inf box */

    unsigned char noise[300];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)(i * 37 + 11);
    char err[256];
    assert_int_equal(xtc_check_trajectory(noise, sizeof noise, err, sizeof err), -1);
    assert_non_null(strstr(err, "magic"));
    assert_int_equal(xtc_check_trajectory("hello", 5, err, sizeof err), -1);
}

static void test_trajectory_consistency(void **state)
{
    (void)state;
    char err[256];
    size_t each3 = XTC_FRAME_BYTES(3), each4 = XTC_FRAME_BYTES(4);
    unsigned char buf[2 * XTC_FRAME_BYTES(4)];
    xtc_frame a = sample_frame(3, 100, 1.0f), b = sample_frame(4, 200, 2.0f);
    assert_int_equal(xtc_encode(&a, buf, sizeof buf), each3);
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each4);
    assert_int_equal(xtc_check_trajectory(buf, each3 + each4, err, sizeof err), -1);
    assert_non_null(strstr(err, "4 atoms but frame 0 has 3"));

    b = sample_frame(3, 200, 1.0f); /* same time twice */
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each3);
    assert_int_equal(xtc_check_trajectory(buf, 2 * each3, err, sizeof err), -1);
    assert_non_null(strstr(err, "not after"));

    b = sample_frame(3, 200, 0.5f); /* going back */
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each3);
    assert_int_equal(xtc_check_trajectory(buf, 2 * each3, err, sizeof err), -1);

    b = sample_frame(3, 200, 1.0001f);
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each3);
    assert_int_equal(xtc_check_trajectory(buf, 2 * each3, err, sizeof err), 2);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    unsigned char buf[256];
    size_t len = 1;
    xtc_frame f = sample_frame(2, 1, 1.0f);
    assert_int_equal(xtc_encode(&f, buf, XTC_FRAME_BYTES(2) - 1), 0);
    f.natoms = 0;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    assert_null(xtc_encode_alloc(&f, &len));
    f.natoms = XTC_MAX_ATOMS + 1;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    f = sample_frame(2, 1, NAN);
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    f = sample_frame(2, 1, 1.0f);
    f.coords[1][2] = INFINITY;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    assert_null(xtc_encode_alloc(&f, &len));
    assert_int_equal(len, 1); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_layout),    cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_walks_frames),     cmocka_unit_test(test_truncation_rejected),
        cmocka_unit_test(test_garbage_rejected), cmocka_unit_test(test_trajectory_consistency),
        cmocka_unit_test(test_encode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
