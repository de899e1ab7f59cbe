/* XTC frames in both forms; see xtc.h for the frame layout.
 *
 * The compressed bit stream (bits most significant first, bytes in order):
 * coordinates are integers q = round(x * precision), and per axis s =
 * maxint - minint + 1. The stream is a series of blocks, each:
 *  1. one atom in full: q - minint per axis, packed as one number (see
 *     put_triple) of bit_length(sx * sy * sz) bits, or, when some s exceeds
 *     2^24 - 1, as three fields of bit_length(s) bits;
 *  2. one flag bit. 1: five bits r follow; this block's run is r - r % 3
 *     (three integers per small atom), and after the block the index idx
 *     moves by r % 3 - 1. 0: the run is the previous block's (0 at first)
 *     and idx stays (it starts at the header's smallidx);
 *  3. run / 3 small atoms, each the difference from the atom before it plus
 *     magicints[idx] / 2 per axis, packed as one number of idx bits.
 * In a block with a run the full atom is the block's second atom and the
 * first small atom its first (so a water's O and both H are differences from
 * a neighbour); every later small atom is relative to the one just decoded.
 * The byte count covers the bit stream rounded up to whole bytes. */
#include "core/xtc.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The format's table of small-difference ranges: magicints[i]^3 <= 2^i, so
 * three differences in [0, magicints[i]) pack into i bits. Indexes below
 * FIRST_IDX are unused. */
static const int32_t magicints[] = {
    0,       0,       0,       0,       0,        0,        0,        0,       0,       8,       10,
    12,      16,      20,      25,      32,       40,       50,       64,      80,      101,     128,
    161,     203,     256,     322,     406,      512,      645,      812,     1024,    1290,    1625,
    2048,    2580,    3250,    4096,    5060,     6501,     8192,     10321,   13003,   16384,   20642,
    26007,   32768,   41285,   52015,   65536,    82570,    104031,   131072,  165140,  208063,  262144,
    330280,  416127,  524287,  660561,  832255,   1048576,  1321122,  1664510, 2097152, 2642245, 3329021,
    4194304, 5284491, 6658042, 8388607, 10568983, 13316085, 16777216,
};

#define FIRST_IDX 9
#define END_IDX ((int)(sizeof magicints / sizeof *magicints)) /* one past the last index */
#define MAX_RUN_ATOMS 8            /* small atoms per block, as GROMACS writes them */
#define TRIPLE_LIMIT 0xffffffu     /* larger spans are sent axis by axis */
#define COMPRESSED_HEADER_BYTES 92 /* + precision, minint, maxint, smallidx, byte count */
/* Every atom costs at least 2 bits: a block of one atom is a full atom of
 * >= 1 bit and a flag; each small atom costs >= FIRST_IDX bits. So a byte
 * count bounds natoms, before anything is allocated. */
#define MIN_BITS_PER_ATOM 2
/* Our encoder's worst atom: a full one of 3 x 30 bits plus a flag and a
 * run (6 bits); a small atom costs at most END_IDX - 1 = 72 bits. */
#define MAX_BYTES_PER_ATOM 12

/* ---- XDR words ---- */

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

/* ---- bit streams ---- */

typedef struct bit_writer {
    unsigned char *out;
    size_t cap, len;
    uint64_t acc; /* the low nacc bits are pending */
    int nacc;
    int overflow;
} bit_writer;

/* Appends the low nbits (0..32) of v. */
static void bw_put(bit_writer *w, int nbits, uint32_t v)
{
    w->acc = w->acc << nbits | (v & (uint32_t)((1ull << nbits) - 1));
    w->nacc += nbits;
    while (w->nacc >= 8) {
        w->nacc -= 8;
        if (w->len < w->cap)
            w->out[w->len++] = (unsigned char)(w->acc >> w->nacc);
        else
            w->overflow = 1;
    }
}

/* Pads the last partial byte with zero bits. */
static void bw_flush(bit_writer *w)
{
    if (w->nacc > 0)
        bw_put(w, 8 - w->nacc, 0);
}

typedef struct bit_reader {
    const unsigned char *in;
    size_t len, pos;
    uint64_t acc;
    int nacc;
} bit_reader;

/* Takes the next nbits (0..32) into *v; -1 when the stream ends first. */
static int br_get(bit_reader *r, int nbits, uint32_t *v)
{
    while (r->nacc < nbits) {
        if (r->pos == r->len)
            return -1;
        r->acc = r->acc << 8 | r->in[r->pos++];
        r->nacc += 8;
    }
    r->nacc -= nbits;
    *v = (uint32_t)((r->acc >> r->nacc) & ((1ull << nbits) - 1));
    return 0;
}

/* ---- three integers as one number ---- */

/* Three sizes below 2^24 multiply to less than 2^72: 96 bits in 32-bit limbs,
 * least significant first. */
typedef struct u96 {
    uint32_t w[3];
} u96;

static void u96_mul_add(u96 *v, uint32_t m, uint32_t a)
{
    uint64_t carry = a;
    for (int i = 0; i < 3; i++) {
        uint64_t t = (uint64_t)v->w[i] * m + carry;
        v->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
}

/* Divides v by d (> 0) in place and returns the remainder. */
static uint32_t u96_div(u96 *v, uint32_t d)
{
    uint64_t rem = 0;
    for (int i = 2; i >= 0; i--) {
        uint64_t cur = rem << 32 | v->w[i];
        v->w[i] = (uint32_t)(cur / d);
        rem = cur % d;
    }
    return (uint32_t)rem;
}

static unsigned u96_byte(const u96 *v, int k)
{
    return (v->w[k / 4] >> (8 * (k % 4))) & 0xffu;
}

/* A limb's bytes in the order the stream sends them, least significant
 * first, as one 32-bit field. */
static uint32_t swap_bytes(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
}

static int bit_length64(uint64_t v)
{
    int n = 0;
    for (; v; v >>= 1)
        n++;
    return n;
}

/* Bits the format spends on three integers below these sizes: the bit length
 * of the product itself (one more than needed when it is a power of 2). */
static int triple_bits(const uint32_t size[3])
{
    u96 p = {{size[0], 0, 0}};
    u96_mul_add(&p, size[1], 0);
    u96_mul_add(&p, size[2], 0);
    for (int i = 2; i >= 0; i--)
        if (p.w[i])
            return 32 * i + bit_length64(p.w[i]);
    return 0;
}

/* Sends num[] (each below its size) as V = (num0 * size1 + num1) * size2 +
 * num2 in nbits bits: its low bytes first, 8 bits each, then what is left. */
static void put_triple(bit_writer *w, int nbits, const uint32_t size[3], const uint32_t num[3])
{
    u96 v = {{num[0], 0, 0}};
    if (nbits <= 64) { /* V < 2^nbits: plain 64-bit arithmetic, the usual case */
        uint64_t x = ((uint64_t)num[0] * size[1] + num[1]) * size[2] + num[2];
        v = (u96){{(uint32_t)x, (uint32_t)(x >> 32), 0}};
    } else {
        u96_mul_add(&v, size[1], num[1]);
        u96_mul_add(&v, size[2], num[2]);
    }
    int k = 0;
    for (; k + 4 <= nbits / 8; k += 4)
        bw_put(w, 32, swap_bytes(v.w[k / 4]));
    for (; k < nbits / 8; k++)
        bw_put(w, 8, u96_byte(&v, k));
    bw_put(w, nbits % 8, u96_byte(&v, k));
}

/* The inverse of put_triple; -1 when the stream ends or V is too large for
 * the sizes (only corrupt data does that). nbits <= 72. */
static int get_triple(bit_reader *r, int nbits, const uint32_t size[3], uint32_t num[3])
{
    u96 v = {{0, 0, 0}};
    uint32_t b = 0;
    int k = 0;
    for (; k + 4 <= nbits / 8; k += 4) {
        if (br_get(r, 32, &b) < 0)
            return -1;
        v.w[k / 4] = swap_bytes(b);
    }
    for (; k < nbits / 8; k++) {
        if (br_get(r, 8, &b) < 0)
            return -1;
        v.w[k / 4] |= b << (8 * (k % 4));
    }
    if (br_get(r, nbits % 8, &b) < 0)
        return -1;
    v.w[k / 4] |= b << (8 * (k % 4));
    if ((v.w[2] | v.w[1]) == 0) { /* the narrowest division that holds V is the fastest */
        uint32_t x = v.w[0];
        num[2] = x % size[2];
        x /= size[2];
        num[1] = x % size[1];
        v.w[0] = x / size[1];
    } else if (v.w[2] == 0) {
        uint64_t x = (uint64_t)v.w[1] << 32 | v.w[0];
        num[2] = (uint32_t)(x % size[2]);
        x /= size[2];
        num[1] = (uint32_t)(x % size[1]);
        x /= size[1];
        v = (u96){{(uint32_t)x, (uint32_t)(x >> 32), 0}};
    } else {
        num[2] = u96_div(&v, size[2]);
        num[1] = u96_div(&v, size[1]);
    }
    if (v.w[2] || v.w[1] || v.w[0] >= size[0])
        return -1;
    num[0] = v.w[0];
    return 0;
}

/* How one frame sends a full atom. */
typedef struct full_code {
    int32_t minint[3];
    uint32_t size[3];
    int bits;         /* > 0: as one number of this many bits */
    int axis_bits[3]; /* bits == 0: axis by axis */
    int total_bits;   /* either way */
} full_code;

/* Sizes come from maxint - minint + 1 (1..2^32); axis fields are at most 32
 * bits wide, as in GROMACS. */
static void full_code_init(full_code *c, const int32_t minint[3], const int32_t maxint[3])
{
    int wide = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t s = (uint64_t)((int64_t)maxint[k] - minint[k]) + 1;
        c->minint[k] = minint[k];
        c->size[k] = (uint32_t)(s > UINT32_MAX ? UINT32_MAX : s);
        int b = bit_length64(s);
        c->axis_bits[k] = b > 32 ? 32 : b;
        wide |= s > TRIPLE_LIMIT;
    }
    c->bits = wide ? 0 : triple_bits(c->size);
    c->total_bits = wide ? c->axis_bits[0] + c->axis_bits[1] + c->axis_bits[2] : c->bits;
}

/* ---- encoder ---- */

static int small_half(int idx)
{
    return magicints[idx] / 2;
}

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

static int header_finite(const xtc_frame *f)
{
    if (!isfinite(f->time))
        return 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(f->box[i][j]))
                return 0;
    return 1;
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
