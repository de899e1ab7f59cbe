/* Fuzz target: the XTC trajectory reader, with a writer round trip. Every
 * frame the reader accepts must encode back to a frame that reads back
 * equal, and the walk must end cleanly or with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"
#include "fuzz_support.h"

static void round_trip(const xtc_frame *f)
{
    size_t len = 0;
    unsigned char *buf = xtc_encode_alloc(f, &len);
    FUZZ_CHECK(buf != NULL && len > 0);
    xtc_reader r;
    xtc_frame back;
    char err[256];
    xtc_reader_init(&r, buf, len);
    FUZZ_CHECK(xtc_reader_next(&r, &back, err, sizeof err) == 1);
    FUZZ_CHECK(xtc_reader_next(&r, &back, err, sizeof err) == 0);
    xtc_reader_init(&r, buf, len);
    FUZZ_CHECK(xtc_reader_next(&r, &back, err, sizeof err) == 1);
    FUZZ_CHECK(memcmp(&back, f, sizeof back) == 0);
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
    FUZZ_CHECK(rc == 0 || err[0] != '\0');
    long checked = xtc_check_trajectory(copy, size, err, sizeof err);
    FUZZ_CHECK(checked == -1 || (rc == 0 && checked == frames));
    free(copy);
    return 0;
}
