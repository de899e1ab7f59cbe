/* xtc_encode: writes XTC frames (xtc.h): raw below XTC_RAW_MAX_ATOMS atoms,
 * else the compressed bit stream xtc_bits.h describes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xtc.h"
#include "core/xtc_bits.h"

/* ---- encoder ---- */

/* Whether atom a minus atom b packs as a small difference at idx. */
static int fits_small(const int32_t *a, const int32_t *b, int idx)
{
    int32_t lo = -small_half(idx), hi = magicints[idx] - small_half(idx);
    for (int k = 0; k < 3; k++) {
        int32_t d = a[k] - b[k];
        if (d < lo || d >= hi)
            return 0;
    }
    return 1;
}

/* The smallest index at which a - b is small (the last one if none is). */
static int needed_idx(const int32_t *a, const int32_t *b)
{
    int idx = FIRST_IDX;
    while (idx < END_IDX - 1 && !fits_small(a, b, idx))
        idx++;
    return idx;
}

/* Small atoms in the block that starts at atom i when coded at idx: atom i
 * against atom i+1 (the full one), then each next atom against the last.
 * None when a small atom would cost more than a full one and its flag (as
 * when a frame's atoms are nearly all in one place). */
static int run_atoms(const int32_t (*q)[3], int32_t n, int32_t i, int idx, const full_code *c)
{
    if (idx > c->total_bits || i + 1 >= n || !fits_small(q[i], q[i + 1], idx))
        return 0;
    int32_t prev = i;
    int k = 1;
    while (k < MAX_RUN_ATOMS && i + k + 1 < n && fits_small(q[i + k + 1], q[prev], idx)) {
        prev = i + k + 1;
        k++;
    }
    return k;
}

/* Start index: the median need of the first pairs, so the first blocks do
 * not wait for the per-block steps of +-1 to find the typical spacing. */
static int first_idx(const int32_t (*q)[3], int32_t n)
{
    enum { SAMPLE = 31 };
    int need[SAMPLE], m = 0;
    for (int32_t i = 0; i + 1 < n && m < SAMPLE; i++) {
        int v = needed_idx(q[i], q[i + 1]);
        int j = m++;
        for (; j > 0 && need[j - 1] > v; j--)
            need[j] = need[j - 1];
        need[j] = v;
    }
    return need[m / 2];
}

typedef struct block_plan {
    int idx;   /* idx for the next block */
    int small; /* its small atoms */
} block_plan;

/* Picks idx - 1, idx or idx + 1 for the block at atom next: the one with the
 * fewest estimated bits per atom for that block, counting the 5 bits a change
 * costs when the current block would otherwise send a bare flag. Ties keep
 * idx. */
static block_plan plan_next(const int32_t (*q)[3], int32_t n, int32_t next, int idx, int run_same,
                            const full_code *c)
{
    long full_bits = c->total_bits;
    block_plan best = {idx, run_atoms(q, n, next, idx, c)};
    long best_bits = full_bits + 1 + (long)best.small * idx, best_atoms = best.small + 1;
    for (int t = idx - 1; t <= idx + 1; t += 2) {
        if (t < FIRST_IDX || t >= END_IDX)
            continue;
        int small = run_atoms(q, n, next, t, c);
        long bits = full_bits + 1 + (long)small * t + (run_same ? 5 : 0);
        if (bits * best_atoms < best_bits * (small + 1)) {
            best = (block_plan){t, small};
            best_bits = bits;
            best_atoms = small + 1;
        }
    }
    return best;
}

static void put_full(bit_writer *w, const full_code *c, const int32_t *q)
{
    uint32_t v[3];
    for (int k = 0; k < 3; k++)
        v[k] = (uint32_t)((int64_t)q[k] - c->minint[k]);
    if (c->bits) {
        put_triple(w, c->bits, c->size, v);
        return;
    }
    for (int k = 0; k < 3; k++)
        bw_put(w, c->axis_bits[k], v[k]);
}

static void put_small(bit_writer *w, int idx, const int32_t *a, const int32_t *b)
{
    uint32_t size = (uint32_t)magicints[idx], sizes[3] = {size, size, size}, v[3];
    for (int k = 0; k < 3; k++)
        v[k] = (uint32_t)(a[k] - b[k] + small_half(idx));
    put_triple(w, idx, sizes, v);
}

/* The bit stream for n >= 2 quantized atoms; idx is the header's smallidx. */
static void put_blocks(bit_writer *w, const int32_t (*q)[3], int32_t n, const full_code *c, int idx)
{
    int run = 0; /* the decoder's run, in integers */
    int32_t i = 0;
    int small = run_atoms(q, n, 0, idx, c);
    while (i < n) {
        int32_t next = i + small + 1;
        block_plan plan = {idx, 0};
        if (next < n)
            plan = plan_next(q, n, next, idx, 3 * small == run, c);
        put_full(w, c, q[small ? i + 1 : i]);
        if (3 * small != run || plan.idx != idx) {
            run = 3 * small;
            bw_put(w, 1, 1);
            bw_put(w, 5, (uint32_t)(run + plan.idx - idx + 1));
        } else {
            bw_put(w, 1, 0);
        }
        for (int k = 0; k < small; k++) {
            int32_t at = k == 0 ? i : i + k + 1, from = k == 0 ? i + 1 : k == 1 ? i : i + k;
            put_small(w, idx, q[at], q[from]);
        }
        i = next;
        idx = plan.idx;
        small = plan.small;
    }
}

/* Rounds to the nearest step, halves away from zero; -1 when x is not finite
 * or too large for the precision. */
static int quantize(const xtc_frame *f, int32_t (*q)[3], int32_t minint[3], int32_t maxint[3])
{
    for (int k = 0; k < 3; k++) {
        minint[k] = INT32_MAX;
        maxint[k] = INT32_MIN;
    }
    for (int32_t a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++) {
            float x = f->coords[a][k];
            if (!(fabsf(x) <= XTC_MAX_COORD_NM))
                return -1;
            double v = (double)x * XTC_PRECISION;
            int32_t i = (int32_t)(v >= 0 ? v + 0.5 : v - 0.5);
            q[a][k] = i;
            if (i < minint[k])
                minint[k] = i;
            if (i > maxint[k])
                maxint[k] = i;
        }
    return 0;
}

/* Writes the compressed coordinates of the quantized atoms q after the
 * 56-byte header; 0 when cap is too small. */
static size_t write_compressed(const int32_t (*q)[3], int32_t n, const int32_t minint[3],
                               const int32_t maxint[3], unsigned char *buf, size_t cap)
{
    if (cap < COMPRESSED_HEADER_BYTES)
        return 0;
    full_code c;
    full_code_init(&c, minint, maxint);
    int idx = first_idx(q, n);
    bit_writer w = {buf + COMPRESSED_HEADER_BYTES, cap - COMPRESSED_HEADER_BYTES, 0, 0, 0, 0};
    put_blocks(&w, q, n, &c, idx);
    bw_flush(&w);
    size_t padded = (w.len + 3) & ~(size_t)3;
    if (w.overflow || padded > w.cap)
        return 0;
    memset(w.out + w.len, 0, padded - w.len);
    unsigned char *p = buf + XTC_HEADER_BYTES;
    put_f32(p, XTC_PRECISION);
    for (int k = 0; k < 3; k++) {
        put_i32(p + 4 + 4 * k, minint[k]);
        put_i32(p + 16 + 4 * k, maxint[k]);
    }
    put_i32(p + 28, idx);
    put_i32(p + 32, (int32_t)w.len);
    return COMPRESSED_HEADER_BYTES + padded;
}

static size_t encode_compressed(const xtc_frame *f, unsigned char *buf, size_t cap)
{
    int32_t(*q)[3] = malloc(sizeof *q * (size_t)f->natoms);
    int32_t minint[3], maxint[3];
    size_t len = 0;
    if (q && quantize(f, q, minint, maxint) == 0)
        len = write_compressed((const int32_t(*)[3])q, f->natoms, minint, maxint, buf, cap);
    free(q);
    return len;
}

static size_t encode_raw(const xtc_frame *f, unsigned char *buf, size_t cap)
{
    size_t need = XTC_RAW_FRAME_BYTES(f->natoms);
    if (cap < need)
        return 0;
    unsigned char *p = buf + XTC_HEADER_BYTES;
    for (int a = 0; a < f->natoms; a++)
        for (int k = 0; k < 3; k++, p += 4) {
            if (!isfinite(f->coords[a][k]))
                return 0;
            put_f32(p, f->coords[a][k]);
        }
    return need;
}

size_t xtc_frame_bytes_max(int32_t natoms)
{
    if (natoms < 1 || natoms > XTC_MAX_ATOMS)
        return 0;
    if (natoms <= XTC_RAW_MAX_ATOMS)
        return XTC_RAW_FRAME_BYTES(natoms);
    return COMPRESSED_HEADER_BYTES + MAX_BYTES_PER_ATOM * (size_t)natoms;
}

size_t xtc_encode(const xtc_frame *f, unsigned char *buf, size_t cap)
{
    if (f->natoms < 1 || f->natoms > XTC_MAX_ATOMS || !header_finite(f) || cap < XTC_HEADER_BYTES)
        return 0;
    put_i32(buf, XTC_MAGIC);
    put_i32(buf + 4, f->natoms);
    put_i32(buf + 8, f->step);
    put_f32(buf + 12, f->time);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            put_f32(buf + 16 + 4 * (3 * i + j), f->box[i][j]);
    put_i32(buf + 52, f->natoms);
    if (f->natoms <= XTC_RAW_MAX_ATOMS)
        return encode_raw(f, buf, cap);
    return encode_compressed(f, buf, cap);
}

unsigned char *xtc_encode_alloc(const xtc_frame *f, size_t *out_len)
{
    size_t cap = xtc_frame_bytes_max(f->natoms);
    unsigned char *buf = cap ? malloc(cap) : NULL;
    if (!buf)
        return NULL;
    size_t len = xtc_encode(f, buf, cap);
    if (len == 0) {
        free(buf);
        return NULL;
    }
    unsigned char *fit = realloc(buf, len);
    *out_len = len;
    return fit ? fit : buf;
}
