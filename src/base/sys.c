/* Time and file-system helpers. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double cc_now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cc_now_mono(void)
{
    return (double)cc_now_mono_ns() / 1e9;
}

struct timeval cc_timeval(double seconds)
{
    if (!(seconds > 0)) return (struct timeval){0, 0}; /* also NaN */
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    if (tv.tv_usec >= 1000000) tv.tv_usec = 999999; /* rounding at the top */
    return tv;
}

uint64_t cc_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cc_read_file(const char *path, cc_buf *out, cc_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cc_err_set(err, "cannot open %s: %s", path, strerror(errno));
    for (;;) {
        cc_buf_reserve(out, 65536);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return cc_err_set(err, "cannot read %s: %s", path, strerror(e));
        }
        if (n == 0) break;
        out->len += (size_t)n;
    }
    close(fd);
    return 0;
}

/* The temporary file gets a random name and is created with O_EXCL | O_NOFOLLOW, so a file or a
 * symlink planted under a predictable name can neither be reused (with its looser mode) nor be
 * followed to overwrite something else. */
static int open_unique_tmp(const char *path, char *tmp, size_t tmp_size, int mode)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t r;
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
            r = (uint64_t)cc_now_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)attempt;
        snprintf(tmp, tmp_size, "%s.tmp-%016llx", path, (unsigned long long)r);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

int cc_write_file_atomic(const char *path, const void *data, size_t len, int mode, cc_err *err)
{
    size_t tmp_size = strlen(path) + 32;
    char *tmp = cc_malloc(tmp_size);
    int fd = open_unique_tmp(path, tmp, tmp_size, mode);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return cc_err_set(err, "cannot create %s: %s", path, strerror(e));
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return cc_err_set(err, "cannot write %s: %s", path, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return cc_err_set(err, "cannot save %s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

void cc_tmp_template(char *out, size_t n, const char *prefix)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, n, "%s/%s-XXXXXX", dir && *dir ? dir : "/tmp", prefix);
}

int cc_mkdirs(const char *path, int mode, cc_err *err)
{
    char *p = cc_strdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                int e = errno;
                cc_err_set(err, "cannot create directory %s: %s", p, strerror(e));
                free(p);
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    return 0;
}
