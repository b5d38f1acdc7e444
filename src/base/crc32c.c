#include "base/crc32c.h"

#include <stdbool.h>

/* Reflected polynomial 0x82F63B78 (Castagnoli). The SSE4.2 crc32 instruction computes the
 * same function when the processor has it; the table is the portable path. */
#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static bool crc_table_ready;

static void crc_table_build(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        for (int t = 1; t < 8; t++) {
            uint32_t prev = crc_table[t - 1][n];
            crc_table[t][n] = (prev >> 8) ^ crc_table[0][prev & 0xffu];
        }
    }
    crc_table_ready = true;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#include <string.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
                                                         size_t size)
{
    uint64_t c = crc;
    while (size >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        size -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (size > 0) {
        c32 = _mm_crc32_u8(c32, *p);
        p++;
        size--;
    }
    return c32;
}

static bool crc_hw_available(void)
{
    static int available = -1;
    if (available < 0) {
        __builtin_cpu_init();
        available = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    return available == 1;
}
#else
static bool crc_hw_available(void)
{
    return false;
}
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t size)
{
    (void)p;
    (void)size;
    return crc;
}
#endif

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t size)
{
    if (!crc_table_ready) {
        crc_table_build();
    }
    while (size >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xffu] ^ crc_table[6][(lo >> 8) & 0xffu] ^
              crc_table[5][(lo >> 16) & 0xffu] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        size -= 8;
    }
    while (size > 0) {
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p) & 0xffu];
        p++;
        size--;
    }
    return crc;
}

uint32_t crc32c_extend(uint32_t crc, const void *bytes, size_t size)
{
    const uint8_t *p = bytes;
    crc = ~crc;
    crc = crc_hw_available() ? crc_hw(crc, p, size) : crc_sw(crc, p, size);
    return ~crc;
}

uint32_t crc32c(const void *bytes, size_t size)
{
    return crc32c_extend(0, bytes, size);
}
