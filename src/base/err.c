#include "base.h"

#include <stdio.h>
#include <string.h>

void cc_err_set_impl(cc_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
}

void cc_err_setc_impl(cc_err *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
}

void cc_err_prefix_impl(cc_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* Shift the old message right and put the prefix in front (truncating). */
    size_t cap = sizeof(err->msg), pl = strlen(prefix);
    if (pl > cap / 2)
        pl = cap / 2;
    size_t ol = strnlen(err->msg, cap - 1);
    if (pl + 2 + ol > cap - 1)
        ol = cap - 1 - pl - 2;
    memmove(err->msg + pl + 2, err->msg, ol);
    memcpy(err->msg, prefix, pl);
    err->msg[pl] = ':';
    err->msg[pl + 1] = ' ';
    err->msg[pl + 2 + ol] = 0;
}

void cc_err_clear(cc_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = 0;
    }
}
