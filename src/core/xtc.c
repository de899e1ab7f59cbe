/* XTC frames in their uncompressed form; see xtc.h for the layout. */
#include "core/xtc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XDR words are big-endian; going through shifts keeps this independent of
 * the host's byte order. */
static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_i32(unsigned char *p, int32_t v)
{
    put_u32(p, (uint32_t)v);
}

static int32_t get_i32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void put_f32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_u32(p, u);
}

static float get_f32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int frame_values_finite(const xtc_frame *f)
{
    if (!isfinite(f->time))
        return 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(f->box[i][j]))
                return 0;
    for (int a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++)
            if (!isfinite(f->coords[a][k]))
                return 0;
    return 1;
}

size_t xtc_encode(const xtc_frame *f, unsigned char *buf, size_t cap)
{
    if (f->natoms < 1 || f->natoms > XTC_MAX_ATOMS || !frame_values_finite(f))
        return 0;
    size_t need = XTC_FRAME_BYTES(f->natoms);
    if (cap < need)
        return 0;
    unsigned char *p = buf;
    put_i32(p, XTC_MAGIC);
    put_i32(p + 4, f->natoms);
    put_i32(p + 8, f->step);
    put_f32(p + 12, f->time);
    p += 16;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++, p += 4)
            put_f32(p, f->box[i][j]);
    put_i32(p, f->natoms);
    p += 4;
    for (int a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++, p += 4)
            put_f32(p, f->coords[a][k]);
    return need;
}

unsigned char *xtc_encode_alloc(const xtc_frame *f, size_t *out_len)
{
    if (f->natoms < 1 || f->natoms > XTC_MAX_ATOMS)
        return NULL;
    size_t need = XTC_FRAME_BYTES(f->natoms);
    unsigned char *buf = malloc(need);
    if (!buf)
        return NULL;
    if (xtc_encode(f, buf, need) != need) {
        free(buf);
        return NULL;
    }
    *out_len = need;
    return buf;
}

void xtc_reader_init(xtc_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
}

/* Reads and checks the fixed header; on success the coordinates follow. */
static int read_header(const unsigned char *p, size_t avail, xtc_frame *f, size_t at, char *err,
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
    f->natoms = get_i32(p + 4);
    if (f->natoms < 1 || f->natoms > XTC_MAX_ATOMS) {
        snprintf(err, errlen, "XTC frame at byte %zu has %d atoms; only 1 to %d (uncompressed) are supported",
                 at, (int)f->natoms, XTC_MAX_ATOMS);
        return -1;
    }
    f->step = get_i32(p + 8);
    f->time = get_f32(p + 12);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            f->box[i][j] = get_f32(p + 16 + 4 * (3 * i + j));
    int32_t again = get_i32(p + 52);
    if (again != f->natoms) {
        snprintf(err, errlen,
                 "XTC frame at byte %zu says %d atoms in its header and %d before its coordinates", at,
                 (int)f->natoms, (int)again);
        return -1;
    }
    return 0;
}

int xtc_reader_next(xtc_reader *r, xtc_frame *f, char *err, size_t errlen)
{
    size_t at = r->pos;
    if (at == r->len)
        return 0;
    const unsigned char *p = r->data + at;
    size_t avail = r->len - at;
    memset(f, 0, sizeof *f);
    if (read_header(p, avail, f, at, err, errlen) < 0)
        return -1;
    size_t need = XTC_FRAME_BYTES(f->natoms);
    if (avail < need) {
        snprintf(err, errlen, "XTC frame at byte %zu is truncated: %zu of %zu bytes", at, avail, need);
        return -1;
    }
    p += XTC_HEADER_BYTES;
    for (int a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++, p += 4)
            f->coords[a][k] = get_f32(p);
    if (!frame_values_finite(f)) {
        snprintf(err, errlen, "XTC frame at byte %zu holds a value that is not a finite number", at);
        return -1;
    }
    r->pos = at + need;
    return 1;
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
            return -1;
        } else if (!(f.time > last_time)) {
            snprintf(err, errlen, "XTC frame %ld has time %g, not after the previous frame's %g", count,
                     (double)f.time, (double)last_time);
            return -1;
        }
        last_time = f.time;
        count++;
    }
    return rc < 0 ? -1 : count;
}
