#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool cc_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void cc_str_copy(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
}

int cc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, cc_err *err)
{
    if (!s || !*s)
        return cc_err_set(err, "empty number");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return cc_err_set(err, "not a valid integer: \"%s\"", s);
    if (v < min || v > max)
        return cc_err_set(err, "%lld is out of range [%lld, %lld]", v, (long long)min,
                          (long long)max);
    *out = v;
    return 0;
}
