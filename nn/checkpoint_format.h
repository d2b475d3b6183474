// What the checkpoint writer (checkpoint_write.c), reader (checkpoint_read.c) and tools share about the file format
// (documented in checkpoint.h): the magic, the dtypes, little-endian integers, crc32 over long buffers, names and
// sizes. Private to nn/.
#ifndef NN_CHECKPOINT_FORMAT_H
#define NN_CHECKPOINT_FORMAT_H
#include "checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

// Payloads are the host's bytes of the elements; the format says little-endian.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint payloads are little-endian: this host needs byte swapping in checkpoint_read.c and checkpoint_write.c"
#endif

static const char MAGIC[4] = {'N', 'N', 'C', 'K'};
enum { ZCHUNK = 1 << 18 };          // deflate/inflate buffer: 256 KiB
// Float tensors have no repeated strings for LZ77 to find; what compresses is the skewed distribution of exponent
// bytes, which Huffman coding alone captures: 3x faster than level 1 at the same size (7% smaller than raw for a
// 100 MB Gaussian tensor, 78 MB/s against 26 MB/s on this machine's cores).
enum { ZLEVEL = Z_BEST_SPEED, ZSTRATEGY = Z_HUFFMAN_ONLY };
#define CKPT_NDTYPES 6

static const char *const DTYPE_NAME[CKPT_NDTYPES] = {"?", "f32", "f64", "i32", "u64", "bytes"};
static const int DTYPE_SIZE[CKPT_NDTYPES] = {0, 4, 8, 4, 8, 1};
static inline int dtype_ok(int dtype) { return dtype >= 1 && dtype < CKPT_NDTYPES; }

static inline void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static inline void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }
static inline uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

// zlib's crc32 takes 32-bit lengths.
static inline uint32_t crc_bytes(uint32_t crc, const void *data, uint64_t n) {
    const unsigned char *p = data;
    while (n) {
        unsigned k = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k, n -= k;
    }
    return crc;
}

static inline int name_ok(const char *name, size_t len) {
    if (len < 1 || len > CKPT_MAX_NAME) return 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] <= ' ' || name[i] > '~') return 0;
    return 1;
}

// Raw size of dims * element size; 0 on overflow past 2^62 (no real tensor comes near, and it keeps sums safe).
static inline int raw_size(CkptDtype dtype, int ndim, const uint64_t *dims, uint64_t *out) {
    uint64_t n = (uint64_t)DTYPE_SIZE[dtype];
    for (int d = 0; d < ndim; d++) {
        if (dims[d] && n > (UINT64_C(1) << 62) / dims[d]) return 0;
        n *= dims[d];
    }
    *out = n;
    return 1;
}

static inline void format_shape(char *buf, size_t cap, int ndim, const uint64_t *dims) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

#endif
