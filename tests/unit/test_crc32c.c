/*
 * test_crc32c.c - rn_crc32c (hardware path where the CPU has it) agrees
 * with the slicing table and with published check values, for every length
 * and alignment; prints a quick throughput figure for both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/crc32c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint8_t rnd8(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 24);
}

static uint8_t *random_buf(size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = rnd8();
    return b;
}

static void check_value_of_123456789(void **state)
{
    (void)state;
    assert_int_equal(rn_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(rn_crc32c_sw(0, "123456789", 9), 0xE3069283u);
}

/* RFC 3720 (iSCSI) B.4 test vectors. */
static void rfc3720_vectors(void **state)
{
    (void)state;
    uint8_t b[48];
    memset(b, 0, 32);
    assert_int_equal(rn_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xFF, 32);
    assert_int_equal(rn_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(rn_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(rn_crc32c(0, b, 32), 0x113FDB5Cu);
}

static void empty_input_leaves_crc_unchanged(void **state)
{
    (void)state;
    assert_int_equal(rn_crc32c(0, NULL, 0), 0);
    assert_int_equal(rn_crc32c(0x12345678u, "", 0), 0x12345678u);
    assert_int_equal(rn_crc32c_sw(0x12345678u, "", 0), 0x12345678u);
}

static void hw_matches_sw_every_length_and_alignment(void **state)
{
    (void)state;
    size_t max = 5000;
    uint8_t *b = random_buf(max + 16);
    for (size_t n = 0; n <= max; n++) {
        for (size_t a = 0; a < 8; a++) {
            uint32_t seed = (uint32_t)(n * 2654435761u);
            uint32_t sw = rn_crc32c_sw(seed, b + a, n);
            if (rn_crc32c(seed, b + a, n) != sw)
                fail_msg("mismatch at length %zu alignment %zu", n, a);
        }
    }
    free(b);
}

static void hw_matches_sw_on_megabytes(void **state)
{
    (void)state;
    size_t sizes[] = {1u << 20, (3u << 20) + 7, (4u << 20) + 24575, 3 * 8192 * 5 + 3 * 1024 + 3 * 128 + 7};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *b = random_buf(sizes[i] + 3);
        for (size_t a = 0; a < 4; a++)
            assert_int_equal(rn_crc32c(0, b + a, sizes[i]), rn_crc32c_sw(0, b + a, sizes[i]));
        free(b);
    }
}

static void split_computation_equals_whole(void **state)
{
    (void)state;
    size_t n = 100000;
    uint8_t *b = random_buf(n);
    uint32_t whole = rn_crc32c(0, b, n);
    for (size_t cut = 0; cut <= n; cut += 4999) {
        uint32_t c = rn_crc32c(0, b, cut);
        assert_int_equal(rn_crc32c(c, b + cut, n - cut), whole);
        assert_int_equal(rn_crc32c_sw(rn_crc32c_sw(0, b, cut), b + cut, n - cut), whole);
    }
    free(b);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double gbps(uint32_t (*f)(uint32_t, const void *, size_t), const uint8_t *b, size_t n, uint32_t *sink)
{
    double t0 = now_s(), t;
    size_t bytes = 0;
    do {
        *sink ^= f(*sink, b, n);
        bytes += n;
        t = now_s();
    } while (t - t0 < 0.25);
    return (double)bytes / (t - t0) / 1e9;
}

/* A measurement, not an assertion. */
static void report_throughput(void **state)
{
    (void)state;
    size_t sizes[] = {1024, 16384, 1u << 20};
    uint8_t *b = random_buf(1u << 20);
    uint32_t sink = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double hw = gbps(rn_crc32c, b, sizes[i], &sink);
        double sw = gbps(rn_crc32c_sw, b, sizes[i], &sink);
        printf("# crc32c %7zu-byte buffers: rn_crc32c %.2f GB/s, rn_crc32c_sw %.2f GB/s\n", sizes[i], hw, sw);
    }
    free(b);
    (void)sink;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_value_of_123456789),
        cmocka_unit_test(rfc3720_vectors),
        cmocka_unit_test(empty_input_leaves_crc_unchanged),
        cmocka_unit_test(hw_matches_sw_every_length_and_alignment),
        cmocka_unit_test(hw_matches_sw_on_megabytes),
        cmocka_unit_test(split_computation_equals_whole),
        cmocka_unit_test(report_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
