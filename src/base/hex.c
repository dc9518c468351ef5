#include "base.h"

#include <ctype.h>

static const char hex_digits[] = "0123456789abcdef";

void cc_hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

char *cc_hex_encode_alloc(const uint8_t *in, size_t n)
{
    char *s = cc_malloc(2 * n + 1);
    cc_hex_encode(in, n, s);
    return s;
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cc_hex_decode(const char *hex, uint8_t *out, size_t out_len, cc_err *err)
{
    for (size_t i = 0; i < out_len; i++) {
        if (!hex[2 * i] || !hex[2 * i + 1])
            return cc_err_set(err, "hex string too short: want %zu characters", 2 * out_len);
        int hi = hex_val((unsigned char)hex[2 * i]), lo = hex_val((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return cc_err_set(err, "invalid hex digit at position %zu", 2 * i + (hi < 0 ? 0 : 1));
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * out_len])
        return cc_err_set(err, "hex string too long: want %zu characters", 2 * out_len);
    return 0;
}

int cc_hex_decode_loose(const char *text, size_t len, cc_buf *out, cc_err *err)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i + 1 < len && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X'))
        i += 2;
    int hi = -1;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c))
            continue;
        int v = hex_val(c);
        if (v < 0)
            return cc_err_set(err, "invalid hex character 0x%02x at offset %zu", c, i);
        if (hi < 0) {
            hi = v;
        } else {
            cc_buf_append_u8(out, (uint8_t)(hi << 4 | v));
            hi = -1;
        }
    }
    if (hi >= 0)
        return cc_err_set(err, "odd number of hex digits");
    return 0;
}
