/* xtc: GROMACS XTC trajectory frames, uncompressed form only.
 * A frame is XDR (big-endian 4-byte words): magic 1995, natoms, step,
 * time (float, ps), box (3x3 floats, nm, row-major), natoms again, then
 * 3*natoms floats (nm). GROMACS, MDTraj and MDAnalysis read and write this
 * form for natoms <= 9; larger systems need the compressed form, which this
 * module neither writes nor reads. A trajectory file is frames back to back,
 * so appending frames to a file keeps it valid. */
#ifndef ST_XTC_H
#define ST_XTC_H

#include <stddef.h>
#include <stdint.h>

#define XTC_MAGIC 1995
#define XTC_MAX_ATOMS 9
#define XTC_HEADER_BYTES 56 /* 5 words + 9 box floats, before the coordinates */
#define XTC_FRAME_BYTES(natoms) ((size_t)XTC_HEADER_BYTES + 12u * (size_t)(natoms))

typedef struct xtc_frame {
    int32_t natoms; /* 1..XTC_MAX_ATOMS */
    int32_t step;
    float time;
    float box[3][3];
    float coords[XTC_MAX_ATOMS][3];
} xtc_frame;

/* Encode f into buf (cap bytes). Returns the bytes written, or 0 when natoms
 * is out of range, a value is not finite, or buf is too small. */
size_t xtc_encode(const xtc_frame *f, unsigned char *buf, size_t cap);
/* Same, into a malloc'd buffer of *out_len bytes; NULL on the same errors. */
unsigned char *xtc_encode_alloc(const xtc_frame *f, size_t *out_len);

/* Walks a byte buffer frame by frame. The buffer must outlive the reader. */
typedef struct xtc_reader {
    const unsigned char *data;
    size_t len;
    size_t pos;
} xtc_reader;

void xtc_reader_init(xtc_reader *r, const void *data, size_t len);
/* 1: *f holds the next frame; 0: clean end of data; -1: truncated or not a
 * valid uncompressed XTC frame, with the reason (and offset) in err. */
int xtc_reader_next(xtc_reader *r, xtc_frame *f, char *err, size_t errlen);

/* Whole-trajectory check: every frame parses, all frames have the same
 * natoms and strictly increasing times. Returns the frame count (0 for an
 * empty buffer) or -1 with the reason in err. */
long xtc_check_trajectory(const void *data, size_t len, char *err, size_t errlen);

#endif
