/* XTC frames: byte layout, round trips of both forms, the compression's edge
 * cases, and rejection of truncated, corrupt and forged data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"
#include "solvated.h"

/* An uncompressed frame whose coordinates live in xyz. */
static xtc_frame sample_frame(float (*xyz)[3], int natoms, int step, float time)
{
    xtc_frame f;
    memset(&f, 0, sizeof f);
    f.coords = xyz;
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
    size_t each = XTC_RAW_FRAME_BYTES(natoms);
    unsigned char *buf = malloc(each * (size_t)nframes);
    float xyz[XTC_RAW_MAX_ATOMS][3];
    assert_non_null(buf);
    for (int i = 0; i < nframes; i++) {
        xtc_frame f = sample_frame(xyz, natoms, 100 * (i + 1), 0.2f * (float)(i + 1));
        assert_int_equal(xtc_encode(&f, buf + each * (size_t)i, each), each);
    }
    *len = each * (size_t)nframes;
    return buf;
}

static void test_header_layout(void **state)
{
    (void)state;
    xtc_frame f;
    float xyz[1][3];
    memset(&f, 0, sizeof f);
    f.coords = xyz;
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
    assert_int_equal(XTC_RAW_FRAME_BYTES(1), sizeof expected);
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), sizeof expected);
    assert_memory_equal(buf, expected, sizeof expected);
    assert_int_equal(buf[sizeof expected], 0xee); /* nothing written past the frame */
}

static void test_round_trip(void **state)
{
    (void)state;
    float xyz[XTC_RAW_MAX_ATOMS][3];
    for (int natoms = 1; natoms <= XTC_RAW_MAX_ATOMS; natoms++) {
        xtc_frame in = sample_frame(xyz, natoms, -3 + natoms, 12.75f), out;
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
        xtc_reader_free(&r);
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
    xtc_reader_free(&r);
    assert_int_equal(xtc_check_trajectory(buf, len, err, sizeof err), 5);
    assert_int_equal(xtc_count_frames(buf, len, err, sizeof err), 5);
    assert_int_equal(xtc_check_trajectory(buf, 0, err, sizeof err), 0);
    free(buf);
}

static void test_truncation_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = trajectory(2, 3, &len);
    size_t each = XTC_RAW_FRAME_BYTES(3);
    char err[256];
    for (size_t cut = 1; cut < len; cut++) {
        err[0] = '\0';
        long n = xtc_check_trajectory(buf, cut, err, sizeof err);
        long counted = xtc_count_frames(buf, cut, err, sizeof err);
        if (cut == each) {
            assert_int_equal(n, 1);
            assert_int_equal(counted, 1);
            continue;
        }
        assert_int_equal(n, -1);
        assert_int_equal(counted, -1);
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
    xtc_reader_free(&r);
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
    size_t each3 = XTC_RAW_FRAME_BYTES(3), each4 = XTC_RAW_FRAME_BYTES(4);
    unsigned char buf[2 * XTC_RAW_FRAME_BYTES(4)];
    float xa[4][3], xb[4][3];
    xtc_frame a = sample_frame(xa, 3, 100, 1.0f), b = sample_frame(xb, 4, 200, 2.0f);
    assert_int_equal(xtc_encode(&a, buf, sizeof buf), each3);
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each4);
    assert_int_equal(xtc_check_trajectory(buf, each3 + each4, err, sizeof err), -1);
    assert_non_null(strstr(err, "4 atoms but frame 0 has 3"));

    b = sample_frame(xb, 3, 200, 1.0f); /* same time twice */
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each3);
    assert_int_equal(xtc_check_trajectory(buf, 2 * each3, err, sizeof err), -1);
    assert_non_null(strstr(err, "not after"));

    b = sample_frame(xb, 3, 200, 0.5f); /* going back */
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each3);
    assert_int_equal(xtc_check_trajectory(buf, 2 * each3, err, sizeof err), -1);

    b = sample_frame(xb, 3, 200, 1.0001f);
    assert_int_equal(xtc_encode(&b, buf + each3, sizeof buf - each3), each3);
    assert_int_equal(xtc_check_trajectory(buf, 2 * each3, err, sizeof err), 2);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    unsigned char buf[256];
    size_t len = 1;
    float xyz[2][3];
    xtc_frame f = sample_frame(xyz, 2, 1, 1.0f);
    assert_int_equal(xtc_encode(&f, buf, XTC_RAW_FRAME_BYTES(2) - 1), 0);
    f.natoms = 0;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    assert_null(xtc_encode_alloc(&f, &len));
    f.natoms = XTC_MAX_ATOMS + 1;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    assert_null(xtc_encode_alloc(&f, &len));
    f.natoms = -5;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    f = sample_frame(xyz, 2, 1, NAN);
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    f = sample_frame(xyz, 2, 1, 1.0f);
    f.coords[1][2] = INFINITY;
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
    assert_null(xtc_encode_alloc(&f, &len));
    assert_int_equal(len, 1); /* untouched on failure */
}

/* ---- the compressed form ---- */

/* Half a step of XTC_PRECISION plus float rounding of x on both sides. */
static void assert_close(float got, float want)
{
    double tol = 0.5 / XTC_PRECISION + 2.0 * (double)FLT_EPSILON * fabs((double)want);
    if (!(fabs((double)got - (double)want) <= tol))
        fail_msg("decoded %.9g, wrote %.9g: off by %.3g pm", (double)got, (double)want,
                 1000 * fabs((double)got - (double)want));
}

static xtc_frame frame_of(float (*xyz)[3], int32_t natoms, int32_t step, float time, float edge)
{
    xtc_frame f;
    memset(&f, 0, sizeof f);
    f.natoms = natoms;
    f.step = step;
    f.time = time;
    f.box[0][0] = f.box[1][1] = f.box[2][2] = edge;
    f.box[2][0] = -0.5f * edge; /* triclinic rows survive too */
    f.coords = xyz;
    return f;
}

/* Encodes f, decodes it back, checks every value, returns the frame's size. */
static size_t round_trip(const xtc_frame *in)
{
    size_t len = 0;
    unsigned char *buf = xtc_encode_alloc(in, &len);
    if (!buf)
        fail_msg("%d atoms did not encode", (int)in->natoms);
    assert_true(len <= xtc_frame_bytes_max(in->natoms));
    assert_int_equal(len % 4, 0);
    char err[256] = "";
    assert_int_equal(xtc_count_frames(buf, len, err, sizeof err), 1);
    xtc_reader r;
    xtc_frame out;
    xtc_reader_init(&r, buf, len);
    if (xtc_reader_next(&r, &out, err, sizeof err) != 1)
        fail_msg("%d atoms: %s", (int)in->natoms, err);
    assert_int_equal(out.natoms, in->natoms);
    assert_int_equal(out.step, in->step);
    assert_true(out.time == in->time);
    assert_memory_equal(out.box, in->box, sizeof in->box);
    for (int32_t a = 0; a < in->natoms; a++)
        for (int k = 0; k < 3; k++)
            assert_close(out.coords[a][k], in->coords[a][k]);
    assert_int_equal(xtc_reader_next(&r, &out, err, sizeof err), 0);
    xtc_reader_free(&r);
    free(buf);
    return len;
}

static float (*alloc_xyz(int32_t natoms))[3]
{
    float(*xyz)[3] = malloc(sizeof *xyz * (size_t)natoms);
    assert_non_null(xyz);
    return xyz;
}

static void fill_uniform(float (*xyz)[3], int32_t natoms, uint64_t seed, double lo, double hi)
{
    for (int32_t a = 0; a < natoms; a++)
        for (int k = 0; k < 3; k++)
            xyz[a][k] = (float)(lo + (hi - lo) * solvated_uniform(&seed));
}

static void test_compressed_random(void **state)
{
    (void)state;
    const int32_t sizes[] = {10, 11, 12, 17, 100, 1001, 5000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int32_t n = sizes[s];
        float(*xyz)[3] = alloc_xyz(n);
        fill_uniform(xyz, n, 7 + s, -3.0, 12.0);
        xtc_frame f = frame_of(xyz, n, 1000 * (int32_t)s, 0.5f + (float)s, 9.0f);
        size_t len = round_trip(&f);
        assert_true(len > (size_t)XTC_HEADER_BYTES && len < XTC_RAW_FRAME_BYTES(n));
        free(xyz);
    }
}

/* Protein-like chains and water: the small differences, the run lengths and
 * the swapped first pair of each water are all in use. */
static void test_compressed_solvated(void **state)
{
    (void)state;
    const int32_t sizes[] = {22, 300, 1924, 9001};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int32_t n = sizes[s];
        float(*xyz)[3] = alloc_xyz(n), edge;
        solvated_make(n, 42 + s, xyz, &edge);
        xtc_frame f = frame_of(xyz, n, 5000, 10.0f, edge);
        size_t len = round_trip(&f);
        /* Real water systems compress about 3x against raw floats. */
        if (n > 1000)
            assert_true(len * 5 < XTC_RAW_FRAME_BYTES(n) * 2);
        free(xyz);
    }
}

static void test_compressed_water_runs(void **state)
{
    (void)state;
    /* Long runs of tiny steps (more than a block's 8 small atoms), exact
     * repeats, a spacing that needs a larger index, then back. */
    enum { N = 400 };
    float xyz[N][3];
    for (int a = 0; a < N; a++) {
        double step = a < 100 ? 0.001 : a < 150 ? 0.0 : a < 250 ? 0.35 : a < 300 ? 0.0004 : 0.09;
        for (int k = 0; k < 3; k++)
            xyz[a][k] = a == 0 ? 1.0f : xyz[a - 1][k] + (float)(step * (k == 1 ? -1 : 1));
    }
    xtc_frame f = frame_of(xyz, N, 1, 1.0f, 5.0f);
    round_trip(&f);
    float same[N][3];
    for (int a = 0; a < N; a++)
        same[a][0] = same[a][1] = same[a][2] = -2.5f;
    f.coords = same; /* every axis spans one value: 1-bit full atoms and a flag */
    assert_int_equal(round_trip(&f), 92 + N * 2 / 8);
}

static void test_compressed_large_jumps(void **state)
{
    (void)state;
    enum { N = 64 };
    float xyz[N][3];
    uint64_t rng = 99;
    /* Alternating between two clusters 400 nm apart: every atom is a jump. */
    for (int a = 0; a < N; a++)
        for (int k = 0; k < 3; k++)
            xyz[a][k] = (float)((a % 2 ? 200.0 : -200.0) + solvated_uniform(&rng));
    xtc_frame f = frame_of(xyz, N, 2, 2.0f, 3.0f);
    round_trip(&f);
    /* Spans just under 2^24 steps per axis: full atoms of 72 bits, more
     * than 64-bit arithmetic holds. */
    for (int a = 0; a < N; a++)
        for (int k = 0; k < 3; k++)
            xyz[a][k] = (float)((2 * solvated_uniform(&rng) - 1) * 8000.0);
    xyz[0][0] = xyz[0][1] = xyz[0][2] = -8388.0f;
    xyz[1][0] = xyz[1][1] = xyz[1][2] = 8388.0f;
    round_trip(&f);
    /* Spans over 2^24 steps per axis (16.7 um): sent axis by axis. */
    for (int a = 0; a < N; a++)
        for (int k = 0; k < 3; k++)
            xyz[a][k] = (float)((2 * solvated_uniform(&rng) - 1) * 40000.0);
    round_trip(&f);
    /* One far atom among neighbours, and all atoms far from the origin. */
    solvated_make(N, 5, xyz, &f.box[0][0]);
    xyz[N / 2][0] = -30000.0f;
    round_trip(&f);
    for (int a = 0; a < N; a++)
        for (int k = 0; k < 3; k++)
            xyz[a][k] = XTC_MAX_COORD_NM - 2.0f * (float)solvated_uniform(&rng);
    round_trip(&f);
    for (int a = 0; a < N; a++)
        for (int k = 0; k < 3; k++)
            xyz[a][k] = -xyz[a][k];
    round_trip(&f);
    xyz[N - 1][2] = XTC_MAX_COORD_NM; /* both ends of the range in one frame */
    xyz[0][2] = -XTC_MAX_COORD_NM;
    round_trip(&f);
}

static void test_compressed_rejects(void **state)
{
    (void)state;
    enum { N = 20 };
    float xyz[N][3];
    unsigned char buf[XTC_HEADER_BYTES + 92 + 12 * N];
    fill_uniform(xyz, N, 3, 0.0, 2.0);
    xtc_frame f = frame_of(xyz, N, 1, 1.0f, 2.0f);
    size_t len = xtc_encode(&f, buf, sizeof buf);
    assert_true(len > 0);
    for (size_t cap = 0; cap < len; cap++)
        assert_int_equal(xtc_encode(&f, buf, cap), 0);
    const float bad[] = {NAN, INFINITY, -INFINITY, XTC_MAX_COORD_NM * 1.01f, -1e9f};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        float keep = xyz[N - 1][i % 3];
        xyz[N - 1][i % 3] = bad[i];
        assert_int_equal(xtc_encode(&f, buf, sizeof buf), 0);
        xyz[N - 1][i % 3] = keep;
    }
    assert_int_equal(xtc_encode(&f, buf, sizeof buf), len);
}

static void test_bounds(void **state)
{
    (void)state;
    assert_int_equal(xtc_frame_bytes_max(0), 0);
    assert_int_equal(xtc_frame_bytes_max(-1), 0);
    assert_int_equal(xtc_frame_bytes_max(XTC_MAX_ATOMS + 1), 0);
    assert_int_equal(xtc_frame_bytes_max(9), XTC_RAW_FRAME_BYTES(9));
    assert_true(xtc_frame_bytes_max(10) >= XTC_RAW_FRAME_BYTES(10));
    assert_true(xtc_frame_bytes_max(XTC_MAX_ATOMS) > 0);

    /* A million atoms of water round trip. */
    int32_t n = 1000000;
    float(*xyz)[3] = alloc_xyz(n), edge;
    solvated_make(n, 11, xyz, &edge);
    xtc_frame f = frame_of(xyz, n, 7, 3.0f, edge);
    size_t len = round_trip(&f);
    assert_true(len < 5 * (size_t)n);
    free(xyz);
}

/* A compressed frame of natoms at one point (minint = maxint = 0, so full
 * atoms are 1 bit) with count bytes of zero bits: every atom a full atom with
 * a bare flag, 2 bits each. */
static size_t forged(unsigned char *buf, size_t cap, int32_t natoms, int32_t count)
{
    memset(buf, 0, cap);
    unsigned char *p = buf;
    const int32_t words[] = {XTC_MAGIC, natoms, 1,          0x3f800000, 0, 0, 0, 0, 0, 0, 0,    0,
                             0,         natoms, 0x447a0000, 0,          0, 0, 0, 0, 0, 9, count};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++, p += 4) {
        uint32_t w = (uint32_t)words[i];
        p[0] = (unsigned char)(w >> 24);
        p[1] = (unsigned char)(w >> 16);
        p[2] = (unsigned char)(w >> 8);
        p[3] = (unsigned char)w;
    }
    return (size_t)(p - buf) + (((size_t)(count > 0 ? count : 0) + 3) & ~(size_t)3);
}

static void expect_rejected(const unsigned char *buf, size_t len, const char *reason)
{
    char err[256] = "";
    xtc_reader r;
    xtc_frame f;
    xtc_reader_init(&r, buf, len);
    assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), -1);
    if (!strstr(err, reason))
        fail_msg("expected \"%s\" in: %s", reason, err);
    assert_int_equal(r.pos, 0);
    xtc_reader_free(&r);
}

static void test_forged_headers(void **state)
{
    (void)state;
    static unsigned char buf[4096];
    char err[256];
    size_t len = forged(buf, sizeof buf, 1000, 256);
    assert_int_equal(xtc_count_frames(buf, len, err, sizeof err), 1);
    assert_int_equal(xtc_check_trajectory(buf, len, err, sizeof err), 1);
    /* A million atoms cannot fit in 1,000 bytes: refused before allocating. */
    len = forged(buf, sizeof buf, 1000000, 1000);
    expect_rejected(buf, len, "too few for 1000000 atoms");
    assert_int_equal(xtc_count_frames(buf, len, err, sizeof err), -1);
    len = forged(buf, sizeof buf, XTC_MAX_ATOMS + 1, 1000);
    expect_rejected(buf, len, "atoms; 1 to");
    len = forged(buf, sizeof buf, 100, -4);
    expect_rejected(buf, 92, "-4 bytes");
    len = forged(buf, sizeof buf, 100, 0x7ffffff0);
    expect_rejected(buf, 92 + 64, "truncated");
    assert_int_equal(xtc_count_frames(buf, 92 + 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));

    struct {
        size_t at;
        uint32_t word;
        const char *reason;
    } bad[] = {
        {56, 0, "precision 0"},
        {56, 0xbf800000u, "precision -1"},
        {56, 0x7fc00000u, "precision nan"},
        {60, 11, "below minint"},
        {84, 8, "smallidx 8"},
        {84, 73, "smallidx 73"},
        {84, 0x80000000u, "smallidx"},
        {0, 1993, "magic"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        len = forged(buf, sizeof buf, 100, 100);
        for (int b = 0; b < 4; b++)
            buf[bad[i].at + (size_t)b] = (unsigned char)(bad[i].word >> (24 - 8 * b));
        expect_rejected(buf, len, bad[i].reason);
        assert_int_equal(xtc_count_frames(buf, len, err, sizeof err), -1);
    }
    len = forged(buf, sizeof buf, 100, 25); /* exactly 2 bits per atom */
    assert_int_equal(xtc_check_trajectory(buf, len, err, sizeof err), 1);
    buf[72 + 3] = 200; /* maxint x: 9-bit full atoms, more than the stream holds */
    expect_rejected(buf, len, "corrupt");
    /* All atoms at 1000 steps of the smallest float precision: past float's
     * range in nm. */
    len = forged(buf, sizeof buf, 100, 25);
    buf[56] = buf[57] = buf[58] = 0;
    buf[59] = 1;
    for (int k = 0; k < 6; k++) {
        buf[60 + 4 * k + 2] = 1000 >> 8;
        buf[60 + 4 * k + 3] = 1000 & 0xff;
    }
    expect_rejected(buf, len, "finite");
}

static unsigned char *solvated_trajectory(int32_t natoms, int nframes, size_t *len, size_t *first)
{
    float(*xyz)[3] = alloc_xyz(natoms), edge;
    solvated_make(natoms, 3, xyz, &edge);
    size_t cap = xtc_frame_bytes_max(natoms) * (size_t)nframes, used = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    uint64_t rng = 17;
    for (int i = 0; i < nframes; i++) {
        xtc_frame f = frame_of(xyz, natoms, 10 * (i + 1), (float)(i + 1), edge);
        size_t n = xtc_encode(&f, buf + used, cap - used);
        assert_true(n > 0);
        if (i == 0)
            *first = n;
        used += n;
        solvated_jiggle(natoms, &rng, 0.01f, xyz);
    }
    free(xyz);
    *len = used;
    return buf;
}

static void test_compressed_truncated(void **state)
{
    (void)state;
    size_t len, first;
    unsigned char *buf = solvated_trajectory(60, 2, &len, &first);
    char err[256];
    assert_int_equal(xtc_check_trajectory(buf, len, err, sizeof err), 2);
    for (size_t cut = 1; cut < len; cut++) {
        long want = cut == first ? 1 : -1;
        assert_int_equal(xtc_check_trajectory(buf, cut, err, sizeof err), want);
        assert_int_equal(xtc_count_frames(buf, cut, err, sizeof err), want);
        if (want < 0)
            assert_non_null(strstr(err, "truncated"));
    }
    free(buf);
}

/* Every byte of the bit stream replaced by other values and every byte count
 * shortened: the reader returns a frame or an error, never reads outside the
 * frame (ASan watches). */
static void test_compressed_corrupt(void **state)
{
    (void)state;
    size_t len, first;
    unsigned char *good = solvated_trajectory(40, 1, &len, &first);
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    char err[256];
    xtc_reader r;
    xtc_frame f;
    xtc_reader_init(&r, NULL, 0);
    int rejected = 0;
    for (size_t at = 56; at < len; at++)
        for (unsigned v = 0; v < 256; v += 37) {
            memcpy(buf, good, len);
            buf[at] ^= (unsigned char)(v | 1);
            r.data = buf;
            r.len = len;
            r.pos = 0;
            int rc = xtc_reader_next(&r, &f, err, sizeof err);
            assert_true(rc == 1 || rc == -1);
            rejected += rc < 0;
        }
    assert_true(rejected > 0);
    int32_t whole = good[90] << 8 | good[91]; /* the true byte count, < 65536 here */
    for (int32_t count = 0; count < whole; count++) {
        memcpy(buf, good, len);
        buf[88] = buf[89] = buf[90] = 0;
        buf[91] = (unsigned char)count;
        size_t flen = 92 + (((size_t)count + 3) & ~(size_t)3);
        r.data = buf;
        r.len = flen;
        r.pos = 0;
        assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), -1);
    }
    xtc_reader_free(&r);
    free(buf);
    free(good);
}

static void test_count_mixed(void **state)
{
    (void)state;
    size_t len_c, first;
    unsigned char *comp = solvated_trajectory(500, 3, &len_c, &first);
    size_t len_r;
    unsigned char *raw = trajectory(2, 5, &len_r);
    unsigned char *all = malloc(len_c + len_r);
    assert_non_null(all);
    memcpy(all, comp, len_c);
    memcpy(all + len_c, raw, len_r);
    char err[256];
    assert_int_equal(xtc_count_frames(all, len_c + len_r, err, sizeof err), 5);
    assert_int_equal(xtc_count_frames(all, 0, err, sizeof err), 0);
    assert_int_equal(xtc_check_trajectory(all, len_c + len_r, err, sizeof err), -1);
    assert_non_null(strstr(err, "5 atoms but frame 0 has 500"));
    assert_int_equal(xtc_count_frames(all, len_c + len_r - 1, err, sizeof err), -1);
    assert_int_equal(xtc_count_frames(all, first + 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    all[first + 7] ^= 1; /* second frame's natoms */
    assert_int_equal(xtc_count_frames(all, len_c + len_r, err, sizeof err), -1);
    char at[64];
    snprintf(at, sizeof at, "at byte %zu ", first);
    assert_non_null(strstr(err, at));
    /* The reader keeps one buffer and grows it as frames grow. */
    xtc_reader r;
    xtc_frame f;
    xtc_reader_init(&r, raw, len_r);
    assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 1);
    r.data = comp;
    r.len = len_c;
    r.pos = 0;
    assert_int_equal(xtc_reader_next(&r, &f, err, sizeof err), 1);
    assert_int_equal(f.natoms, 500);
    assert_true(r.coords_cap >= 500);
    xtc_reader_free(&r);
    free(all);
    free(raw);
    free(comp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_walks_frames),
        cmocka_unit_test(test_truncation_rejected),
        cmocka_unit_test(test_garbage_rejected),
        cmocka_unit_test(test_trajectory_consistency),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_compressed_random),
        cmocka_unit_test(test_compressed_solvated),
        cmocka_unit_test(test_compressed_water_runs),
        cmocka_unit_test(test_compressed_large_jumps),
        cmocka_unit_test(test_compressed_rejects),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_forged_headers),
        cmocka_unit_test(test_compressed_truncated),
        cmocka_unit_test(test_compressed_corrupt),
        cmocka_unit_test(test_count_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
