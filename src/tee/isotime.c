/* ISO-8601 UTC times as found in Intel PCS collateral and on the command line. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tee/tee_internal.h"

int tee_parse_iso_time(const char *s, time_t *out, cc_err *err)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
        return cc_err_set(err, "bad time \"%s\" (want YYYY-MM-DD[THH:MM:SS[.frac]][Z])", s);
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &m) != 3 || m != 8)
            return cc_err_set(err, "bad time of day in \"%s\"", s);
        p += 1 + m;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == 'Z')
            p++;
        else if (!strcmp(p, "+00:00"))
            p += 6;
    }
    if (*p) return cc_err_set(err, "bad time \"%s\": only UTC (Z) is accepted", s);
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return cc_err_set(err, "time out of range: \"%s\"", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm);
    return 0;
}
