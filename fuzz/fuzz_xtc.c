/* Fuzz target: the XTC trajectory reader (both forms), the header walk, and
 * a writer round trip. Every frame the reader accepts must encode back
 * (unless a compressed frame's coordinates are too large for our precision)
 * to a frame that reads back equal: exactly for the uncompressed form,
 * within half a step for the compressed one. The walk must end cleanly or
 * with a reason, and the header count must agree with the reader. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"
#include "fuzz_support.h"

static int close_enough(float got, float want, int exact)
{
    if (exact)
        return memcmp(&got, &want, sizeof got) == 0;
    double tol = 0.5 / XTC_PRECISION + 2.0 * (double)FLT_EPSILON * fabs((double)want);
    return fabs((double)got - (double)want) <= tol;
}

static void round_trip(const xtc_frame *f)
{
    size_t len = 0;
    unsigned char *buf = xtc_encode_alloc(f, &len);
    int exact = f->natoms <= XTC_RAW_MAX_ATOMS;
    if (buf == NULL) {
        /* Only a compressed frame with an out-of-range coordinate may fail. */
        FUZZ_CHECK(!exact);
        int too_large = 0;
        for (int32_t a = 0; a < f->natoms; a++)
            for (int k = 0; k < 3; k++)
                too_large |= !(fabsf(f->coords[a][k]) <= XTC_MAX_COORD_NM);
        FUZZ_CHECK(too_large);
        return;
    }
    xtc_reader r;
    xtc_frame back;
    char err[256];
    xtc_reader_init(&r, buf, len);
    FUZZ_CHECK(xtc_reader_next(&r, &back, err, sizeof err) == 1);
    FUZZ_CHECK(back.natoms == f->natoms && back.step == f->step);
    FUZZ_CHECK(memcmp(&back.time, &f->time, sizeof back.time) == 0);
    FUZZ_CHECK(memcmp(back.box, f->box, sizeof back.box) == 0);
    for (int32_t a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++)
            FUZZ_CHECK(close_enough(back.coords[a][k], f->coords[a][k], exact));
    FUZZ_CHECK(xtc_reader_next(&r, &back, err, sizeof err) == 0);
    xtc_reader_free(&r);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    unsigned char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    xtc_reader r;
    xtc_frame f;
    char err[256] = "";
    int rc;
    long frames = 0;
    xtc_reader_init(&r, copy, size);
    while ((rc = xtc_reader_next(&r, &f, err, sizeof err)) == 1) {
        round_trip(&f);
        frames++;
    }
    xtc_reader_free(&r);
    FUZZ_CHECK(rc == 0 || err[0] != '\0');
    long checked = xtc_check_trajectory(copy, size, err, sizeof err);
    FUZZ_CHECK(checked == -1 || (rc == 0 && checked == frames));
    /* Headers alone: every frame the reader accepts has a valid header, and a
     * clean read means a clean count. */
    long counted = xtc_count_frames(copy, size, err, sizeof err);
    FUZZ_CHECK(rc != 0 || counted == frames);
    FUZZ_CHECK(counted == -1 ? err[0] != '\0' : counted >= frames);
    free(copy);
    return 0;
}
