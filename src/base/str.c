#include "base.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cc_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void cc_str_copy(char *dst, size_t cap, const char *src)
{
    if (!cap) return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
}

int cc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, cc_err *err)
{
    if (!s || !*s) return cc_err_set(err, "empty number");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return cc_err_set(err, "not a valid integer: \"%s\"", s);
    if (v < min || v > max)
        return cc_err_set(err, "%lld is out of range [%lld, %lld]", v, (long long)min,
                          (long long)max);
    *out = v;
    return 0;
}

size_t cc_fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    dst[n] = 0;
    return n;
}

size_t cc_fmt_fixed(char *dst, double x, int decimals)
{
    static const int64_t scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    if (decimals < 0) decimals = 0;
    if (decimals > 6) decimals = 6;
    /* Beyond this the scaled value leaves int64 (and the exact digits matter little). */
    if (!(fabs(x) < 9.2e12)) return (size_t)snprintf(dst, 32, "%.*f", decimals, x);
    int64_t s = scale[decimals];
    double scaled = x * (double)s;
    int64_t v = (int64_t)(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
    size_t n = 0;
    if (v < 0 || (v == 0 && signbit(x))) dst[n++] = '-';
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    n += cc_fmt_u64(dst + n, u / (uint64_t)s);
    if (decimals) {
        dst[n++] = '.';
        uint64_t frac = u % (uint64_t)s;
        for (int i = decimals - 1; i >= 0; i--) {
            dst[n + (size_t)i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        n += (size_t)decimals;
        dst[n] = 0;
    }
    return n;
}
