#include "base.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Process-wide logging settings, written once by cc_log_init() at start. */
static char log_component[32] = "cocoon";
static cc_log_level log_min = CC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cc_log_init(const char *component, cc_log_level min_level)
{
    snprintf(log_component, sizeof(log_component), "%s", component ? component : "cocoon");
    log_min = min_level;
}

cc_log_level cc_log_level_from_string(const char *s)
{
    for (size_t i = 0; s && i < CC_ARRAY_LEN(level_names); i++)
        if (strcasecmp(s, level_names[i]) == 0) return (cc_log_level)i;
    return CC_LOG_INFO;
}

bool cc_log_enabled(cc_log_level lvl)
{
    return lvl >= log_min;
}

size_t cc_log_escape(char *dst, size_t dst_size, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!dst_size) return 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            if (o + 1 >= dst_size) break;
            dst[o++] = (char)*p;
        } else {
            if (o + 4 >= dst_size) break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    dst[o] = 0;
    return o;
}

void cc_log(cc_log_level lvl, const char *fmt, ...)
{
    if (lvl < log_min) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[lvl], log_component);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line)) vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* A peer-controlled string (a model name, an error text) may hold a newline or an escape
     * sequence; escaping every control byte keeps one event on one line, so nobody can forge a
     * log line or a terminal command through us. */
    char safe[sizeof(line) * 2];
    cc_log_escape(safe, sizeof(safe), line);
    /* One write per line keeps lines from different threads whole. */
    fprintf(stderr, "%s\n", safe);
}
