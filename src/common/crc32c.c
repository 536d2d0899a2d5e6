/*
 * crc32c.c - CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Layer: src/common. Two implementations behind rn_crc32c:
 *
 *   hw  SSE4.2 crc32 instruction on three independent streams. The crc32
 *       instruction has a latency of 3 cycles and a throughput of 1 per
 *       cycle, so one dependent chain uses a third of the unit. A block of
 *       3*B bytes is split into thirds A|B|C, each third is crc'd on its own
 *       chain (A starting from the running crc, B and C from 0), and the
 *       three are combined with
 *            crc(A|B|C) = shift(crcA, 2B) ^ shift(crcB, B) ^ crcC
 *       where shift(c, n) is the raw state after n zero bytes, computed in a
 *       few cycles with one carry-less multiply (PCLMULQDQ) by the constant
 *       x^(8n-33) mod P and one crc32 instruction to reduce the product.
 *   sw  Slicing-by-8 tables, for CPUs without SSE4.2/PCLMUL and as the
 *       reference the tests check the hw path against.
 *
 * Which one runs is decided once, on first use, with __builtin_cpu_supports.
 * Thread-safe (pthread_once); no allocation.
 */
#include "common/crc32c.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define RN_CRC32C_HAVE_HW 1
#else
#define RN_CRC32C_HAVE_HW 0
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];

/* ---- software: slicing-by-8 ---- */

static void crc_tables_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][i] = c;
        }
    }
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Raw state update (no pre/post inversion). */
static uint32_t crc_sw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t v = load_le64(p) ^ crc;
        crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
              crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
              crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
              crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static void crc_init(void);

uint32_t rn_crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_sw_raw(~crc, (const uint8_t *)data, n);
}

/* ---- hardware: SSE4.2 crc32 x3 + PCLMULQDQ combine ---- */

#if RN_CRC32C_HAVE_HW

/* Per-stream block sizes (bytes, multiples of 8), largest first. A buffer
 * is consumed in blocks of 3*size for each tier while it is big enough. */
static const size_t hw_block_bytes[] = {8192, 1024};
#define HW_TIERS (sizeof hw_block_bytes / sizeof hw_block_bytes[0])

/* What is left after the tiers (< 3*1024 bytes) is one more three-way
 * block of any per-stream size b = 8*i, i < HW_SMALL, when b is at least
 * this big; the combine costs ~15 cycles of latency, one stream of 3*b
 * bytes costs 3*b/8 * 3 cycles. */
#define HW_SMALL 128
#define HW_SMALL_MIN_BYTES 32

/* shift_k[t][0] shifts by one block of tier t, shift_k[t][1] by two;
 * shift_small[i][0|1] likewise for a block of 8*i bytes. */
static uint64_t shift_k[HW_TIERS][2];
static uint64_t shift_small[HW_SMALL][2];

/* v * x^e mod P, reflected 32-bit representation (bit 31 = x^0). */
static uint32_t mulx_mod(uint32_t v, uint64_t e)
{
    while (e--)
        v = (v & 1) ? (v >> 1) ^ CRC32C_POLY : v >> 1;
    return v;
}

/* x^e mod P. */
static uint32_t xpow_mod(uint64_t e)
{
    return mulx_mod(0x80000000u, e);
}

/* The raw crc state c advanced over n zero bytes, given kconst = x^(8n-33) mod P. */
__attribute__((target("sse4.2,pclmul"))) static inline uint32_t hw_shift(uint32_t c, uint64_t kconst)
{
    __m128i prod = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)c), _mm_cvtsi64_si128((long long)kconst), 0);
    return (uint32_t)_mm_crc32_u64(0, (unsigned long long)_mm_cvtsi128_si64(prod));
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t crc_hw(uint32_t crc0, const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    uint64_t crc = ~crc0;

    while (n && ((uintptr_t)p & 7)) {
        crc = _mm_crc32_u8((uint32_t)crc, *p++);
        n--;
    }
    for (size_t t = 0; t < HW_TIERS; t++) {
        size_t b = hw_block_bytes[t];
        while (n >= 3 * b) {
            uint64_t c0 = crc, c1 = 0, c2 = 0;
            const uint8_t *end = p + b;
            do {
                uint64_t v0, v1, v2;
                memcpy(&v0, p, 8);
                memcpy(&v1, p + b, 8);
                memcpy(&v2, p + 2 * b, 8);
                c0 = _mm_crc32_u64(c0, v0);
                c1 = _mm_crc32_u64(c1, v1);
                c2 = _mm_crc32_u64(c2, v2);
                p += 8;
            } while (p < end);
            crc = hw_shift((uint32_t)c0, shift_k[t][1]) ^ hw_shift((uint32_t)c1, shift_k[t][0]) ^ c2;
            p += 2 * b;
            n -= 3 * b;
        }
    }
    size_t words = n / 24; /* per-stream block of the rest, in 8-byte words */
    if (words * 8 >= HW_SMALL_MIN_BYTES) {
        size_t b = words * 8;
        assert(words < HW_SMALL); /* n < 3 * 1024 after the tiers */
        uint64_t c0 = crc, c1 = 0, c2 = 0;
        const uint8_t *end = p + b;
        do {
            uint64_t v0, v1, v2;
            memcpy(&v0, p, 8);
            memcpy(&v1, p + b, 8);
            memcpy(&v2, p + 2 * b, 8);
            c0 = _mm_crc32_u64(c0, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
            p += 8;
        } while (p < end);
        crc = hw_shift((uint32_t)c0, shift_small[words][1]) ^ hw_shift((uint32_t)c1, shift_small[words][0]) ^ c2;
        p += 2 * b;
        n -= 3 * b;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = _mm_crc32_u64(crc, v);
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = _mm_crc32_u8((uint32_t)crc, *p++);
    return ~(uint32_t)crc;
}

#endif /* RN_CRC32C_HAVE_HW */

static uint32_t (*crc_impl)(uint32_t, const void *, size_t);

static uint32_t crc_sw_entry(uint32_t crc, const void *data, size_t n)
{
    return ~crc_sw_raw(~crc, (const uint8_t *)data, n);
}

static void crc_init(void)
{
    crc_tables_init();
    crc_impl = crc_sw_entry;
#if RN_CRC32C_HAVE_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) {
        for (size_t t = 0; t < HW_TIERS; t++) {
            shift_k[t][0] = xpow_mod(8 * hw_block_bytes[t] - 33);
            shift_k[t][1] = xpow_mod(16 * hw_block_bytes[t] - 33);
        }
        /* i = 1: x^(64-33), x^(128-33); each next i is x^64, x^128 further. */
        uint32_t k1 = xpow_mod(64 - 33), k2 = xpow_mod(128 - 33);
        for (size_t i = 1; i < HW_SMALL; i++) {
            shift_small[i][0] = k1;
            shift_small[i][1] = k2;
            k1 = mulx_mod(k1, 64);
            k2 = mulx_mod(k2, 128);
        }
        crc_impl = crc_hw;
    }
#endif
}

uint32_t rn_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    return crc_impl(crc, data, n);
}
