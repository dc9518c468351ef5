/* Base64 in both alphabets (TON uses standard base64 for BoCs and URL-safe
 * base64 for user-friendly addresses; decoders accept either). */
#include "ton/ton_internal.h"

#include <string.h>

char *ton_base64_encode(const uint8_t *data, size_t n, bool url_safe)
{
    const char *abc = url_safe ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                               : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = cc_malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < n) v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < n) v |= data[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

int ton_base64_decode(const char *text, size_t text_len, cc_buf *out, cc_err *err)
{
    uint32_t acc = 0;
    unsigned nbits = 0;
    size_t pad = 0;
    for (size_t i = 0; i < text_len; i++) {
        char ch = text[i];
        if (ch == '\n' || ch == '\r' || ch == ' ' || ch == '\t') continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        int v = b64_value(ch);
        if (v < 0 || pad) return cc_err_set(err, "invalid base64 at offset %zu", i);
        acc = acc << 6 | (uint32_t)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            cc_buf_append_u8(out, (uint8_t)(acc >> nbits));
        }
    }
    /* leftover bits must be the zero padding of a well-formed encoding */
    if (nbits >= 6 || pad > 2 || (acc & ((1u << nbits) - 1)) != 0)
        return cc_err_set(err, "invalid base64 length or padding");
    return 0;
}
