/* xtc_bits: what the XTC writer (xtc_encode.c) and reader (xtc.c) share:
 * the format's constants, XDR words, bit streams, and a full atom's code.
 * Internal to src/core; the functions are inline because both directions
 * call them per atom.
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
#ifndef ST_XTC_BITS_H
#define ST_XTC_BITS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/xtc.h"

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
static inline void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void put_i32(unsigned char *p, int32_t v)
{
    put_u32(p, (uint32_t)v);
}

static inline int32_t get_i32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static inline void put_f32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    put_u32(p, u);
}

static inline float get_f32(const unsigned char *p)
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
static inline void bw_put(bit_writer *w, int nbits, uint32_t v)
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
static inline void bw_flush(bit_writer *w)
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
static inline int br_get(bit_reader *r, int nbits, uint32_t *v)
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

static inline void u96_mul_add(u96 *v, uint32_t m, uint32_t a)
{
    uint64_t carry = a;
    for (int i = 0; i < 3; i++) {
        uint64_t t = (uint64_t)v->w[i] * m + carry;
        v->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
}

/* Divides v by d (> 0) in place and returns the remainder. */
static inline uint32_t u96_div(u96 *v, uint32_t d)
{
    uint64_t rem = 0;
    for (int i = 2; i >= 0; i--) {
        uint64_t cur = rem << 32 | v->w[i];
        v->w[i] = (uint32_t)(cur / d);
        rem = cur % d;
    }
    return (uint32_t)rem;
}

static inline unsigned u96_byte(const u96 *v, int k)
{
    return (v->w[k / 4] >> (8 * (k % 4))) & 0xffu;
}

/* A limb's bytes in the order the stream sends them, least significant
 * first, as one 32-bit field. */
static inline uint32_t swap_bytes(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
}

static inline int bit_length64(uint64_t v)
{
    int n = 0;
    for (; v; v >>= 1)
        n++;
    return n;
}

/* Bits the format spends on three integers below these sizes: the bit length
 * of the product itself (one more than needed when it is a power of 2). */
static inline int triple_bits(const uint32_t size[3])
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
static inline void put_triple(bit_writer *w, int nbits, const uint32_t size[3], const uint32_t num[3])
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
static inline int get_triple(bit_reader *r, int nbits, const uint32_t size[3], uint32_t num[3])
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
static inline void full_code_init(full_code *c, const int32_t minint[3], const int32_t maxint[3])
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

/* The offset that makes a small difference at idx non-negative. */
static inline int small_half(int idx)
{
    return magicints[idx] / 2;
}

/* A frame header's time and box are finite (coordinates are checked apart). */
static inline int header_finite(const xtc_frame *f)
{
    if (!isfinite(f->time))
        return 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (!isfinite(f->box[i][j]))
                return 0;
    return 1;
}

#endif
