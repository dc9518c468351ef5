#include "base.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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

/* The buffer of a daemon's lines. Daemons log a line per request; one write(2) per line was a
 * measurable part of a relayed request's CPU, so a daemon gathers lines here and its loop flushes
 * them every 100 ms. Warnings and errors go out at once (with everything before them, keeping the
 * order), and a crash or exit flushes what is left. Like the settings above, this belongs to the
 * process: stderr is one per process. */
#define LOG_BUFFER_SIZE 16384
static struct {
    bool on;
    pthread_mutex_t lock;
    size_t len;
    char data[LOG_BUFFER_SIZE];
} log_buffer = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0) return; /* nowhere to report a failing stderr */
        p += w;
        n -= (size_t)w;
    }
}

/* Called with the lock held. */
static void flush_locked(void)
{
    write_all(log_buffer.data, log_buffer.len);
    log_buffer.len = 0;
}

void cc_log_flush(void)
{
    pthread_mutex_lock(&log_buffer.lock);
    flush_locked();
    pthread_mutex_unlock(&log_buffer.lock);
}

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static struct sigaction crash_previous[CC_ARRAY_LEN(crash_signals)];

/* A crashing process may hold the lock or be mid-append: write what the buffer holds without
 * locking (write(2) is async-signal-safe), put the previous handler back (a sanitizer's, or the
 * default) and return, so the faulting instruction or abort() runs into that handler. */
static void on_crash(int sig)
{
    write_all(log_buffer.data, log_buffer.len < LOG_BUFFER_SIZE ? log_buffer.len : 0);
    log_buffer.len = 0;
    for (size_t i = 0; i < CC_ARRAY_LEN(crash_signals); i++)
        if (crash_signals[i] == sig) sigaction(sig, &crash_previous[i], NULL);
}

void cc_log_buffered(bool on)
{
    if (on == log_buffer.on) return;
    if (!on) {
        cc_log_flush();
        log_buffer.on = false;
        return;
    }
    log_buffer.on = true;
    static bool hooked; /* atexit and the handlers are installed once per process */
    if (hooked) return;
    hooked = true;
    atexit(cc_log_flush);
    struct sigaction sa = {.sa_handler = on_crash};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < CC_ARRAY_LEN(crash_signals); i++)
        sigaction(crash_signals[i], &sa, &crash_previous[i]);
}

static void emit(cc_log_level lvl, const char *line, size_t n)
{
    if (!log_buffer.on) {
        write_all(line, n); /* one write per line keeps lines from different threads whole */
        return;
    }
    pthread_mutex_lock(&log_buffer.lock);
    if (log_buffer.len + n > LOG_BUFFER_SIZE) flush_locked();
    if (n > LOG_BUFFER_SIZE) {
        write_all(line, n);
    } else {
        memcpy(log_buffer.data + log_buffer.len, line, n);
        log_buffer.len += n;
    }
    if (lvl >= CC_LOG_WARN) flush_locked();
    pthread_mutex_unlock(&log_buffer.lock);
}

/* "ts=YYYY-MM-DDTHH:MM:SS.mmmZ level=L comp=C " into line; returns its length. The date and
 * time to the second are formatted once per second and thread (a daemon logs a line per
 * request, and gmtime_r plus printf per line was a measurable part of it). */
static int line_prefix(char *line, size_t cap, cc_log_level lvl)
{
    static _Thread_local struct {
        time_t sec;
        char text[64]; /* 24 bytes; room for any int the compiler imagines */
        bool set;
    } cache;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!cache.set || cache.sec != ts.tv_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cache.text, sizeof(cache.text), "ts=%04d-%02d-%02dT%02d:%02d:%02d.",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cache.sec = ts.tv_sec;
        cache.set = true;
    }
    size_t n = strlen(cache.text), c = strlen(log_component);
    const char *level = level_names[lvl];
    size_t l = strlen(level);
    if (n + 3 + 8 + l + 6 + c + 2 > cap) return -1;
    memcpy(line, cache.text, n);
    long ms = ts.tv_nsec / 1000000;
    line[n++] = (char)('0' + ms / 100);
    line[n++] = (char)('0' + ms / 10 % 10);
    line[n++] = (char)('0' + ms % 10);
    memcpy(line + n, "Z level=", 8);
    n += 8;
    memcpy(line + n, level, l);
    n += l;
    memcpy(line + n, " comp=", 6);
    n += 6;
    memcpy(line + n, log_component, c);
    n += c;
    line[n++] = ' ';
    line[n] = 0;
    return (int)n;
}

void cc_log(cc_log_level lvl, const char *fmt, ...)
{
    if (lvl < log_min) return;
    char line[2048];
    int n = line_prefix(line, sizeof(line), lvl);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line)) vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* A peer-controlled string (a model name, an error text) may hold a newline or an escape
     * sequence; escaping every control byte keeps one event on one line, so nobody can forge a
     * log line or a terminal command through us. */
    char safe[sizeof(line) * 2 + 1];
    size_t len = cc_log_escape(safe, sizeof(safe) - 1, line);
    safe[len++] = '\n';
    emit(lvl, safe, len);
}
