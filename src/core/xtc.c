/* xtc: reads XTC frames (xtc.h), both forms, every read bounds-checked;
 * the bit stream is described in xtc_bits.h and written by xtc_encode.c. */
#include "core/xtc.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc_bits.h"

/* ---- decoder ---- */

/* A frame's header, checked: what the frame claims and its extent. */
typedef struct frame_shape {
    int32_t natoms;
    size_t bytes; /* the whole frame */
    /* compressed frames only */
    float precision;
    int32_t minint[3], maxint[3];
    int32_t smallidx;
    size_t stream_bytes;
} frame_shape;

/* Checks the header of the frame at byte at (avail bytes left) and finds
 * where it ends, without reading the coordinates. */
static int read_shape(const unsigned char *p, size_t avail, size_t at, frame_shape *s, char *err,
                      size_t errlen)
{
    if (avail < XTC_HEADER_BYTES) {
        snprintf(err, errlen, "XTC frame at byte %zu is truncated: %zu of %d header bytes", at, avail,
                 XTC_HEADER_BYTES);
        return -1;
    }
    int32_t magic = get_i32(p);
    if (magic != XTC_MAGIC) {
        snprintf(err, errlen, "XTC frame at byte %zu has magic %d, expected %d", at, (int)magic, XTC_MAGIC);
        return -1;
    }
    s->natoms = get_i32(p + 4);
    if (s->natoms < 1 || s->natoms > XTC_MAX_ATOMS) {
        snprintf(err, errlen, "XTC frame at byte %zu has %d atoms; 1 to %d are supported", at, (int)s->natoms,
                 XTC_MAX_ATOMS);
        return -1;
    }
    int32_t again = get_i32(p + 52);
    if (again != s->natoms) {
        snprintf(err, errlen,
                 "XTC frame at byte %zu says %d atoms in its header and %d before its coordinates", at,
                 (int)s->natoms, (int)again);
        return -1;
    }
    if (s->natoms <= XTC_RAW_MAX_ATOMS) {
        s->bytes = XTC_RAW_FRAME_BYTES(s->natoms);
    } else {
        if (avail < COMPRESSED_HEADER_BYTES) {
            snprintf(err, errlen, "XTC frame at byte %zu is truncated: %zu of %d header bytes", at, avail,
                     COMPRESSED_HEADER_BYTES);
            return -1;
        }
        s->precision = get_f32(p + 56);
        if (!(s->precision > 0) || !isfinite(s->precision)) {
            snprintf(err, errlen, "XTC frame at byte %zu has precision %g", at, (double)s->precision);
            return -1;
        }
        for (int k = 0; k < 3; k++) {
            s->minint[k] = get_i32(p + 60 + 4 * k);
            s->maxint[k] = get_i32(p + 72 + 4 * k);
            if (s->maxint[k] < s->minint[k]) {
                snprintf(err, errlen, "XTC frame at byte %zu has maxint %d below minint %d", at,
                         (int)s->maxint[k], (int)s->minint[k]);
                return -1;
            }
        }
        s->smallidx = get_i32(p + 84);
        if (s->smallidx < FIRST_IDX || s->smallidx >= END_IDX) {
            snprintf(err, errlen, "XTC frame at byte %zu has smallidx %d, not %d to %d", at, (int)s->smallidx,
                     FIRST_IDX, END_IDX - 1);
            return -1;
        }
        int32_t count = get_i32(p + 88);
        if (count < 0 || (uint64_t)count * 8 < (uint64_t)s->natoms * MIN_BITS_PER_ATOM) {
            snprintf(err, errlen, "XTC frame at byte %zu has %d bytes of coordinates, too few for %d atoms",
                     at, (int)count, (int)s->natoms);
            return -1;
        }
        s->stream_bytes = (size_t)count;
        s->bytes = COMPRESSED_HEADER_BYTES + (((size_t)count + 3) & ~(size_t)3);
    }
    if (avail < s->bytes) {
        snprintf(err, errlen, "XTC frame at byte %zu is truncated: %zu of %zu bytes", at, avail, s->bytes);
        return -1;
    }
    return 0;
}

/* Integer coordinates to nm; scale is 1 / precision. A value past float's
 * range (a forged tiny precision) becomes infinity, which the reader then
 * refuses; converting it directly would be undefined. */
static void store_atom(float *out, const int64_t *v, double scale)
{
    for (int k = 0; k < 3; k++) {
        double x = (double)v[k] * scale;
        out[k] = fabs(x) <= FLT_MAX ? (float)x : INFINITY;
    }
}

static int get_full(bit_reader *r, const full_code *c, int64_t *v)
{
    uint32_t u[3];
    if (c->bits) {
        if (get_triple(r, c->bits, c->size, u) < 0)
            return -1;
    } else {
        for (int k = 0; k < 3; k++)
            if (br_get(r, c->axis_bits[k], &u[k]) < 0 || u[k] >= c->size[k])
                return -1;
    }
    for (int k = 0; k < 3; k++)
        v[k] = (int64_t)c->minint[k] + u[k];
    return 0;
}

static int get_small(bit_reader *r, int idx, const int64_t *from, int64_t *v)
{
    uint32_t size = (uint32_t)magicints[idx], sizes[3] = {size, size, size}, u[3];
    if (get_triple(r, idx, sizes, u) < 0)
        return -1;
    for (int k = 0; k < 3; k++)
        v[k] = from[k] + u[k] - small_half(idx);
    return 0;
}

/* Decodes the bit stream of shape s at p into out[natoms]; returns the atom
 * at which it failed, or -1 when all decoded. */
static int32_t decode_blocks(const unsigned char *p, const frame_shape *s, float (*out)[3])
{
    full_code c;
    full_code_init(&c, s->minint, s->maxint);
    bit_reader r = {p + COMPRESSED_HEADER_BYTES, s->stream_bytes, 0, 0, 0};
    int idx = s->smallidx, run = 0;
    int32_t i = 0;
    double scale = 1.0 / s->precision;
    while (i < s->natoms) {
        int64_t full[3], prev[3], cur[3];
        uint32_t flag = 0, code = 0;
        if (get_full(&r, &c, full) < 0 || br_get(&r, 1, &flag) < 0)
            return i;
        int step = 0;
        if (flag) {
            if (br_get(&r, 5, &code) < 0)
                return i;
            run = (int)(code - code % 3);
            step = (int)(code % 3) - 1;
        }
        if (run > 0 && (idx < FIRST_IDX || idx >= END_IDX || s->natoms - i < run / 3 + 1))
            return i;
        if (run == 0)
            store_atom(out[i++], full, scale);
        memcpy(prev, full, sizeof prev);
        for (int k = 0; k < run / 3; k++) {
            if (get_small(&r, idx, prev, cur) < 0)
                return i;
            store_atom(out[i++], cur, scale);
            if (k == 0)
                store_atom(out[i++], full, scale);
            memcpy(prev, cur, sizeof prev);
        }
        idx += step;
    }
    return -1;
}

void xtc_reader_init(xtc_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
    r->coords = NULL;
    r->coords_cap = 0;
}

void xtc_reader_free(xtc_reader *r)
{
    free(r->coords);
    r->coords = NULL;
    r->coords_cap = 0;
}

static int coords_finite(const xtc_frame *f)
{
    for (int32_t a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(f->coords[a][k]))
                return 0;
    return 1;
}

int xtc_reader_next(xtc_reader *r, xtc_frame *f, char *err, size_t errlen)
{
    size_t at = r->pos;
    if (at >= r->len)
        return 0;
    const unsigned char *p = r->data + at;
    frame_shape s;
    if (read_shape(p, r->len - at, at, &s, err, errlen) < 0)
        return -1;
    if (r->coords_cap < (size_t)s.natoms) {
        float(*grown)[3] = realloc(r->coords, sizeof *grown * (size_t)s.natoms);
        if (!grown) {
            snprintf(err, errlen, "XTC frame at byte %zu: out of memory for %d atoms", at, (int)s.natoms);
            return -1;
        }
        r->coords = grown;
        r->coords_cap = (size_t)s.natoms;
    }
    memset(f, 0, sizeof *f);
    f->natoms = s.natoms;
    f->step = get_i32(p + 8);
    f->time = get_f32(p + 12);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            f->box[i][j] = get_f32(p + 16 + 4 * (3 * i + j));
    f->coords = r->coords;
    if (s.natoms <= XTC_RAW_MAX_ATOMS) {
        for (int a = 0; a < s.natoms; a++)
            for (int k = 0; k < 3; k++)
                f->coords[a][k] = get_f32(p + XTC_HEADER_BYTES + 12 * a + 4 * k);
    } else {
        int32_t bad = decode_blocks(p, &s, f->coords);
        if (bad >= 0) {
            snprintf(err, errlen, "XTC frame at byte %zu: compressed coordinates are corrupt at atom %d", at,
                     (int)bad);
            return -1;
        }
    }
    if (!header_finite(f) || !coords_finite(f)) {
        snprintf(err, errlen, "XTC frame at byte %zu holds a value that is not a finite number", at);
        return -1;
    }
    r->pos = at + s.bytes;
    return 1;
}

long xtc_count_frames(const void *data, size_t len, char *err, size_t errlen)
{
    const unsigned char *p = data;
    long count = 0;
    for (size_t at = 0; at < len; count++) {
        frame_shape s;
        if (read_shape(p + at, len - at, at, &s, err, errlen) < 0)
            return -1;
        at += s.bytes;
    }
    return count;
}

long xtc_check_trajectory(const void *data, size_t len, char *err, size_t errlen)
{
    xtc_reader r;
    xtc_frame f;
    int32_t natoms0 = 0;
    long count = 0;
    float last_time = 0;
    int rc;
    xtc_reader_init(&r, data, len);
    while ((rc = xtc_reader_next(&r, &f, err, errlen)) == 1) {
        if (count == 0) {
            natoms0 = f.natoms;
        } else if (f.natoms != natoms0) {
            snprintf(err, errlen, "XTC frame %ld has %d atoms but frame 0 has %d", count, (int)f.natoms,
                     (int)natoms0);
            rc = -1;
            break;
        } else if (!(f.time > last_time)) {
            snprintf(err, errlen, "XTC frame %ld has time %g, not after the previous frame's %g", count,
                     (double)f.time, (double)last_time);
            rc = -1;
            break;
        }
        last_time = f.time;
        count++;
    }
    xtc_reader_free(&r);
    return rc < 0 ? -1 : count;
}
