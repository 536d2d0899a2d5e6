/*
 * crc32c.h - CRC32C (Castagnoli), as record batches v2 use it.
 *
 * Layer: src/common. Uses the SSE4.2 crc32 instruction with three
 * interleaved streams where the CPU has it (checked once at start-up), and
 * a slicing table otherwise. Thread-safe; no allocation.
 */
#ifndef RN_COMMON_CRC32C_H
#define RN_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 for a fresh computation) over n bytes. */
uint32_t rn_crc32c(uint32_t crc, const void *data, size_t n);

/* The portable table implementation, for tests and benchmarks. */
uint32_t rn_crc32c_sw(uint32_t crc, const void *data, size_t n);

#endif
