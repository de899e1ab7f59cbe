/* xtc: GROMACS XTC trajectory frames, written and read in both of the
 * format's forms. A frame is XDR (big-endian 4-byte words): magic 1995,
 * natoms, step, time (float, ps), box (3x3 floats, nm, row-major), natoms
 * again, then the coordinates:
 *  - natoms <= 9: 3*natoms floats (nm), the form GROMACS uses for tiny
 *    systems;
 *  - natoms > 9: the compressed form (GROMACS's "xdr3dfcoord"): precision
 *    (float), minint[3], maxint[3], smallidx, a byte count, then that many
 *    bytes of bit stream padded to a multiple of 4. Coordinates are integers
 *    in units of 1/precision nm; atoms close to their predecessor are sent as
 *    small differences (xtc.c describes the bit stream).
 * We write compressed frames at XTC_PRECISION (every coordinate within
 * 0.5 pm); we read any precision. A trajectory file is frames back to back,
 * so appending frames keeps it valid. Every read is bounds-checked and sized
 * from what the data can hold: frames may come from the network. */
#ifndef ST_XTC_H
#define ST_XTC_H

#include <stddef.h>
#include <stdint.h>

#define XTC_MAGIC 1995
#define XTC_PRECISION 1000.0f   /* compressed frames: 1/1000 nm = 1 pm */
#define XTC_MAX_ATOMS (1 << 24) /* hard upper bound on natoms accepted by encoder and reader */
#define XTC_RAW_MAX_ATOMS 9     /* frames of up to this many atoms are uncompressed */
/* Compressed frames hold |coordinate| * XTC_PRECISION below 2^29 (about
 * 536,870 nm): the span of a frame then stays below 2^30 steps, which every
 * known reader decodes. */
#define XTC_MAX_COORD_NM 536870.0f
#define XTC_HEADER_BYTES 56 /* 5 words + 9 box floats, before the coordinates */
#define XTC_RAW_FRAME_BYTES(natoms) ((size_t)XTC_HEADER_BYTES + 12u * (size_t)(natoms))

typedef struct xtc_frame {
    int32_t natoms; /* 1..XTC_MAX_ATOMS */
    int32_t step;
    float time;         /* ps */
    float box[3][3];    /* nm */
    float (*coords)[3]; /* natoms rows, nm; owned by whoever filled it */
} xtc_frame;

/* Upper bound of the encoded size of one frame of natoms atoms; 0 when
 * natoms is out of range. */
size_t xtc_frame_bytes_max(int32_t natoms);

/* Encodes f into buf (cap bytes): uncompressed when natoms <= 9, else
 * compressed at XTC_PRECISION. Returns the bytes written, or 0 when natoms
 * is out of range, a value is not finite, a coordinate is too large for the
 * precision (see XTC_MAX_COORD_NM), buf is too small, or memory ran out. */
size_t xtc_encode(const xtc_frame *f, unsigned char *buf, size_t cap);
/* Same, into a malloc'd buffer of *out_len bytes; NULL on the same errors. */
unsigned char *xtc_encode_alloc(const xtc_frame *f, size_t *out_len);

/* Walks a byte buffer frame by frame. The buffer must outlive the reader;
 * the reader owns the coordinates of the frame it last returned. */
typedef struct xtc_reader {
    const unsigned char *data;
    size_t len;
    size_t pos;
    float (*coords)[3];
    size_t coords_cap; /* rows */
} xtc_reader;

void xtc_reader_init(xtc_reader *r, const void *data, size_t len);
/* Frees the coordinates buffer; the reader may be initialized again. */
void xtc_reader_free(xtc_reader *r);
/* 1: *f holds the next frame (f->coords points into r's buffer, valid until
 * the next call); 0: clean end of data; -1: truncated or invalid frame, with
 * the reason and its byte offset in err, and the reader does not move.
 * Reads both forms. */
int xtc_reader_next(xtc_reader *r, xtc_frame *f, char *err, size_t errlen);

/* Counts frames by walking headers only (compressed frames carry their byte
 * count), without decoding coordinates. Returns the count (0 for an empty
 * buffer) or -1 with the reason when a header is invalid or truncated. */
long xtc_count_frames(const void *data, size_t len, char *err, size_t errlen);

/* Whole-trajectory check: every frame decodes, all frames have the same
 * natoms and strictly increasing times. Returns the frame count (0 for an
 * empty buffer) or -1 with the reason in err. */
long xtc_check_trajectory(const void *data, size_t len, char *err, size_t errlen);

#endif
