/* xtc_tool: our XTC writer and reader as a program, for checks against an
 * independent implementation (tests/core/test_xtc_mdtraj.py).
 *   xtc_tool make NATOMS NFRAMES SEED OUT.frames   solvated-like frames
 *   xtc_tool encode IN.frames OUT.xtc
 *   xtc_tool decode IN.xtc OUT.frames
 * A .frames file is frames back to back in host byte order: int32 natoms,
 * int32 step, float time (ps), float box[3][3] (nm), float xyz[natoms][3]
 * (nm). Exit status 0, or 1 with the reason on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"
#include "solvated.h"

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "xtc_tool: %s: %s\n", what, why);
    return 1;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size + 1)) && fread(buf, 1, (size_t)size, f) == (size_t)size) {
        *len = (size_t)size;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int write_frame(FILE *out, const xtc_frame *f)
{
    size_t rows = (size_t)f->natoms;
    return fwrite(&f->natoms, 4, 1, out) == 1 && fwrite(&f->step, 4, 1, out) == 1 &&
                   fwrite(&f->time, 4, 1, out) == 1 && fwrite(f->box, 4, 9, out) == 9 &&
                   fwrite(f->coords, 12, rows, out) == rows
               ? 0
               : -1;
}

static int make(long natoms, int nframes, uint64_t seed, const char *path)
{
    if (natoms < 1 || natoms > XTC_MAX_ATOMS)
        return fail(path, "NATOMS out of range");
    float(*xyz)[3] = malloc(12 * (size_t)natoms), edge;
    FILE *out = fopen(path, "wb");
    int rc = 0;
    if (!xyz || !out) {
        rc = fail(path, "cannot create");
        goto done;
    }
    solvated_make((int32_t)natoms, seed, xyz, &edge);
    for (int i = 0; i < nframes && rc == 0; i++) {
        xtc_frame f = {
            (int32_t)natoms, 250 * i, 0.5f * (float)i, {{edge, 0, 0}, {0, edge, 0}, {0, 0, edge}}, xyz};
        rc = write_frame(out, &f) ? fail(path, "write failed") : 0;
        solvated_jiggle((int32_t)natoms, &seed, 0.02f, xyz);
    }
done:
    if (out && fclose(out) != 0 && rc == 0)
        rc = fail(path, "write failed");
    free(xyz);
    return rc;
}

static int encode(const char *in_path, const char *out_path)
{
    size_t len = 0, at = 0;
    unsigned char *in = slurp(in_path, &len);
    FILE *out = fopen(out_path, "wb");
    int rc = 0;
    if (!in || !out) {
        rc = fail(in ? out_path : in_path, "cannot open");
        goto done;
    }
    while (at < len && rc == 0) {
        xtc_frame f;
        if (len - at < 48) {
            rc = fail(in_path, "truncated frame header");
            break;
        }
        memcpy(&f.natoms, in + at, 4);
        memcpy(&f.step, in + at + 4, 4);
        memcpy(&f.time, in + at + 8, 4);
        memcpy(f.box, in + at + 12, 36);
        at += 48;
        if (f.natoms < 1 || f.natoms > XTC_MAX_ATOMS || (len - at) / 12 < (size_t)f.natoms) {
            rc = fail(in_path, "bad atom count or truncated coordinates");
            break;
        }
        size_t n = 0;
        unsigned char *frame = NULL;
        f.coords = malloc(12 * (size_t)f.natoms);
        if (f.coords) {
            memcpy(f.coords, in + at, 12 * (size_t)f.natoms);
            frame = xtc_encode_alloc(&f, &n);
        }
        at += 12 * (size_t)f.natoms;
        if (!frame || fwrite(frame, 1, n, out) != n)
            rc = fail(out_path, frame ? "write failed" : "frame does not encode");
        free(frame);
        free(f.coords);
    }
done:
    if (out && fclose(out) != 0 && rc == 0)
        rc = fail(out_path, "write failed");
    free(in);
    return rc;
}

static int decode(const char *in_path, const char *out_path)
{
    size_t len = 0;
    unsigned char *in = slurp(in_path, &len);
    FILE *out = fopen(out_path, "wb");
    char err[256] = "";
    int rc = 0, got;
    xtc_reader r;
    xtc_frame f;
    if (!in || !out) {
        free(in);
        if (out)
            fclose(out);
        return fail(in ? out_path : in_path, "cannot open");
    }
    xtc_reader_init(&r, in, len);
    while (rc == 0 && (got = xtc_reader_next(&r, &f, err, sizeof err)) == 1)
        rc = write_frame(out, &f) ? fail(out_path, "write failed") : 0;
    if (rc == 0 && got < 0)
        rc = fail(in_path, err);
    if (fclose(out) != 0 && rc == 0)
        rc = fail(out_path, "write failed");
    xtc_reader_free(&r);
    free(in);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "make") == 0)
        return make(atol(argv[2]), atoi(argv[3]), strtoull(argv[4], NULL, 10), argv[5]);
    if (argc == 4 && strcmp(argv[1], "encode") == 0)
        return encode(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "decode") == 0)
        return decode(argv[2], argv[3]);
    fprintf(stderr, "usage: xtc_tool make NATOMS NFRAMES SEED OUT | encode IN OUT | decode IN OUT\n");
    return 2;
}
