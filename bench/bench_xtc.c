/* bench_xtc: size and speed of compressed XTC frames on a solvated-protein-
 * like system (tests/support/solvated.h), against raw float32 coordinates.
 *
 *   st-bench-xtc [NATOMS] [SECONDS] [OUT.xtc]   (defaults 9000 atoms, 1 s per figure)
 *
 * Prints bytes per frame and the ratio to raw float32 (12 bytes per atom,
 * what the uncompressed form would need), then MB/s of raw coordinates
 * (12 * natoms bytes per frame) for: our encoder, our reader, and as
 * references in the same run the XDR float32 form (a big-endian store of
 * every float, what an uncompressed writer does) and memcpy, all timed in
 * CPU seconds of this process. Frames differ
 * from one another by thermal-like motion of up to 0.01 nm. With OUT.xtc the
 * encoded frames are saved there, for bench/xtc_vs_mdtraj.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xtc.h"
#include "solvated.h"

enum { FRAMES = 16 };

/* CPU time of this process: on a shared machine it counts only our own
 * work, which wall time would mix with the neighbours'. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct bench {
    int32_t natoms;
    xtc_frame frames[FRAMES];
    unsigned char *out; /* one encoded frame per slot */
    size_t out_cap;
    size_t lens[FRAMES];
    float (*scratch)[3];
    double seconds;
} bench;

typedef void (*bench_step)(bench *b, int i);

static void step_encode(bench *b, int i)
{
    b->lens[i] = xtc_encode(&b->frames[i], b->out + (size_t)i * b->out_cap, b->out_cap);
    if (b->lens[i] == 0) {
        fprintf(stderr, "bench_xtc: frame %d did not encode\n", i);
        exit(1);
    }
}

static void step_decode(bench *b, int i)
{
    xtc_reader r;
    xtc_frame f;
    char err[256];
    xtc_reader_init(&r, b->out + (size_t)i * b->out_cap, b->lens[i]);
    r.coords = b->scratch; /* reuse one buffer, as a reader walking a file does */
    r.coords_cap = (size_t)b->natoms;
    if (xtc_reader_next(&r, &f, err, sizeof err) != 1) {
        fprintf(stderr, "bench_xtc: frame %d: %s\n", i, err);
        exit(1);
    }
}

static void step_xdr_floats(bench *b, int i)
{
    unsigned char *p = b->out + (size_t)i * b->out_cap;
    const float *x = &b->frames[i].coords[0][0];
    for (size_t k = 0; k < 3 * (size_t)b->natoms; k++, p += 4) {
        uint32_t u;
        memcpy(&u, &x[k], 4);
        p[0] = (unsigned char)(u >> 24);
        p[1] = (unsigned char)(u >> 16);
        p[2] = (unsigned char)(u >> 8);
        p[3] = (unsigned char)u;
    }
}

static void step_memcpy(bench *b, int i)
{
    memcpy(b->out + (size_t)i * b->out_cap, b->frames[i].coords, 12 * (size_t)b->natoms);
}

/* Runs step over the frames for about b->seconds; MB/s of raw coordinates. */
static double rate(bench *b, bench_step step)
{
    long done = 0;
    double start = now_s(), elapsed;
    do {
        for (int i = 0; i < FRAMES; i++)
            step(b, i);
        done += FRAMES;
    } while ((elapsed = now_s() - start) < b->seconds);
    return (double)done * 12.0 * b->natoms / elapsed / 1e6;
}

/* Writes the frames, encoded again (the references wrote over them). */
static int save(bench *b, const char *path)
{
    FILE *out = fopen(path, "wb");
    int rc = out ? 0 : -1;
    for (int i = 0; rc == 0 && i < FRAMES; i++) {
        step_encode(b, i);
        if (fwrite(b->out + (size_t)i * b->out_cap, 1, b->lens[i], out) != b->lens[i])
            rc = -1;
    }
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    bench b = {.natoms = argc > 1 ? atoi(argv[1]) : 9000, .seconds = argc > 2 ? atof(argv[2]) : 1.0};
    if (b.natoms <= XTC_RAW_MAX_ATOMS || b.natoms > XTC_MAX_ATOMS || !(b.seconds > 0)) {
        fprintf(stderr, "usage: st-bench-xtc [NATOMS 10..%d] [SECONDS] [OUT.xtc]\n", XTC_MAX_ATOMS);
        return 2;
    }
    b.out_cap = xtc_frame_bytes_max(b.natoms);
    b.out = malloc(b.out_cap * FRAMES);
    b.scratch = malloc(12 * (size_t)b.natoms);
    float edge;
    uint64_t rng = 2014;
    for (int i = 0; i < FRAMES; i++) {
        xtc_frame *f = &b.frames[i];
        f->natoms = b.natoms;
        f->step = 5000 * i;
        f->time = 10.0f * (float)i;
        f->coords = malloc(12 * (size_t)b.natoms);
        if (!f->coords || !b.out || !b.scratch)
            return 1;
        if (i == 0)
            solvated_make(b.natoms, 1, f->coords, &edge);
        else
            memcpy(f->coords, b.frames[i - 1].coords, 12 * (size_t)b.natoms);
        solvated_jiggle(b.natoms, &rng, 0.01f, f->coords);
        f->box[0][0] = f->box[1][1] = f->box[2][2] = edge;
    }
    double enc = rate(&b, step_encode), dec = rate(&b, step_decode);
    double xdr = rate(&b, step_xdr_floats), cpy = rate(&b, step_memcpy);
    size_t total = 0;
    for (int i = 0; i < FRAMES; i++)
        total += b.lens[i];
    double per_frame = (double)total / FRAMES, raw = 12.0 * b.natoms;
    printf("atoms %d (chain %d, box %.2f nm), %d distinct frames\n", (int)b.natoms,
           (int)solvated_protein_atoms(b.natoms), (double)edge, FRAMES);
    printf("bytes/frame: compressed %.0f (%.2f bytes/atom), raw float32 %.0f + 56 header: %.2fx smaller\n",
           per_frame, per_frame / b.natoms, raw, (raw + 56) / per_frame);
    printf("MB/s of raw coordinates: encode %.0f, decode %.0f, XDR float32 store %.0f, memcpy %.0f\n", enc,
           dec, xdr, cpy);
    printf("encode / XDR float32 store: %.3f\n", enc / xdr);
    if (argc > 3 && save(&b, argv[3]) < 0) {
        fprintf(stderr, "bench_xtc: cannot write %s\n", argv[3]);
        return 1;
    }
    for (int i = 0; i < FRAMES; i++)
        free(b.frames[i].coords);
    free(b.scratch);
    free(b.out);
    return 0;
}
