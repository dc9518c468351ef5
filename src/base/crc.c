/* Checksums used by wire formats: CRC-32 (IEEE, TL constructor ids),
 * CRC-32C (Castagnoli, TON bag-of-cells) and CRC-16/XMODEM (TON addresses). */
#include "base.h"

static uint32_t crc32_generic(uint32_t poly_reflected, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (poly_reflected & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

uint32_t cc_crc32(const void *data, size_t n) { return crc32_generic(0xedb88320u, data, n); }

uint32_t cc_crc32c(const void *data, size_t n) { return crc32_generic(0x82f63b78u, data, n); }

uint16_t cc_crc16(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint16_t c = 0;
    while (n--) {
        c ^= (uint16_t)(*p++ << 8);
        for (int k = 0; k < 8; k++)
            c = (uint16_t)((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
    }
    return c;
}
