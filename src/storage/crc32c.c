/* crc32c.c - table-driven CRC-32C (reflected polynomial 0x82F63B78).
 *
 * Slicing-by-8: eight 256-entry tables let the loop consume eight bytes per
 * step, which keeps checksumming well below the cost of the write it guards.
 * The tables are built once, on first use. On x86-64 with SSE4.2 (checked
 * once at run time) the CPU's crc32 instruction does it instead.
 */
#include "storage/crc32c.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static atomic_int crc32c_table_ready;

static void crc32c_build_tables(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc32c_table[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[t][n] = c;
        }
    }
    /* Building twice from two threads is harmless: both write the same values. */
    atomic_store_explicit(&crc32c_table_ready, 1, memory_order_release);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* SSE4.2's crc32 instruction computes this very CRC, 8 bytes per step:
 * several times the tables' speed, which matters where whole snapshot files
 * are checksummed as they stream (a transfer checks each byte three times). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                             size_t len)
{
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    /* The tail in at most three steps (a WAL record header ends in 5 bytes). */
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = __builtin_ia32_crc32si(c32, v);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        c32 = __builtin_ia32_crc32hi(c32, v);
        p += 2;
        len -= 2;
    }
    if (len)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return ~c32;
}

static int crc32c_hw_state; /* 0 unknown, 1 yes, -1 no; racing writers agree */

static bool crc32c_have_hw(void)
{
    int st = __atomic_load_n(&crc32c_hw_state, __ATOMIC_RELAXED);
    if (st == 0) {
        __builtin_cpu_init();
        st = __builtin_cpu_supports("sse4.2") ? 1 : -1;
        __atomic_store_n(&crc32c_hw_state, st, __ATOMIC_RELAXED);
    }
    return st > 0;
}
#endif

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (crc32c_have_hw())
        return crc32c_hw(crc, data, len);
#endif
    return crc32c_extend_table(crc, data, len);
}

uint32_t crc32c_extend_table(uint32_t crc, const void *data, size_t len)
{
    if (!atomic_load_explicit(&crc32c_table_ready, memory_order_acquire))
        crc32c_build_tables();
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
            crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
            crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
            crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}
