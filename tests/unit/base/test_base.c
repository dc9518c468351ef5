#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

static void test_buf_grows_and_consumes(void **state)
{
    cc_buf b = CC_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cc_buf_append_fmt(&b, "%d,", i);
    assert_true(b.len > 1000);
    assert_memory_equal(b.data, "0,1,2,", 6);
    cc_buf_consume(&b, 2);
    assert_memory_equal(b.data, "1,2,", 4);
    char *s = cc_buf_steal_str(&b);
    assert_int_equal(strncmp(s, "1,2,3,", 6), 0);
    assert_null(b.data);
    free(s);
}

static void test_hex_round_trip_and_errors(void **state)
{
    uint8_t in[4] = {0xde, 0xad, 0x00, 0x7f}, out[4];
    char hex[9];
    cc_hex_encode(in, 4, hex);
    assert_string_equal(hex, "dead007f");
    cc_err err = {0};
    assert_int_equal(cc_hex_decode("DEAD007F", out, 4, &err), 0);
    assert_memory_equal(in, out, 4);
    assert_int_equal(cc_hex_decode("dead00", out, 4, &err), -1);
    assert_int_equal(cc_hex_decode("dead007fff", out, 4, &err), -1);
    assert_int_equal(cc_hex_decode("deag007f", out, 4, &err), -1);
    assert_non_null(strstr(err.msg, "invalid hex digit"));
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(cc_hex_decode_loose(" 0xde ad\n00 7f\n", 15, &b, &err), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, in, 4);
    cc_buf_reset(&b);
    assert_int_equal(cc_hex_decode_loose("abc", 3, &b, &err), -1);
    cc_buf_free(&b);
}

static void test_crc_vectors(void **state)
{
    /* Standard check values over "123456789". */
    assert_int_equal(cc_crc32("123456789", 9), 0xcbf43926u);
    assert_int_equal(cc_crc32c("123456789", 9), 0xe3069283u);
    assert_int_equal(cc_crc16("123456789", 9), 0x31c3);
    /* A TL id: crc32 of the normalised declaration of tcp.ping. */
    const char *decl = "tcp.ping id:long = tcp.Packet";
    assert_int_equal(cc_crc32(decl, strlen(decl)), 0xbbe9627cu);
}

static void test_json_validation_names_field(void **state)
{
    cc_err err = {0};
    const char *text = "{\"port\": 70000, \"name\": 3, \"ok\": true}";
    json_t *j = cc_json_loadb(text, strlen(text), &err);
    assert_non_null(j);
    int64_t port = 0;
    assert_int_equal(cc_json_get_int(j, "port", true, 1, 65535, &port, &err), -1);
    assert_non_null(strstr(err.msg, "\"port\""));
    const char *name = NULL;
    assert_int_equal(cc_json_get_str(j, "name", true, &name, &err), -1);
    assert_non_null(strstr(err.msg, "must be a string"));
    assert_int_equal(cc_json_get_str(j, "absent", false, &name, &err), 0);
    assert_int_equal(cc_json_get_str(j, "absent", true, &name, &err), -1);
    static const char *const allowed[] = {"port", "name", NULL};
    assert_int_equal(cc_json_check_keys(j, allowed, "config", &err), -1);
    assert_non_null(strstr(err.msg, "\"ok\""));
    json_decref(j);
    assert_null(cc_json_loadb("{\"a\":1,\"a\":2}", 13, &err));
    assert_null(cc_json_loadb("{", 1, &err));
}

static void test_parse_i64(void **state)
{
    int64_t v;
    assert_int_equal(cc_parse_i64("42", 0, 100, &v, NULL), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cc_parse_i64("101", 0, 100, &v, NULL), -1);
    assert_int_equal(cc_parse_i64("4x", 0, 100, &v, NULL), -1);
    assert_int_equal(cc_parse_i64("", 0, 100, &v, NULL), -1);
}

static void test_log_escape_keeps_one_line(void **state)
{
    char out[64];
    size_t n = cc_log_escape(out, sizeof(out), "model=a\nts=forged level=error\x1b[2J\x7f");
    assert_string_equal(out, "model=a\\x0ats=forged level=error\\x1b[2J\\x7f");
    assert_int_equal(n, strlen(out));
    /* Truncation never splits an escape and always terminates. */
    char small[6];
    cc_log_escape(small, sizeof(small), "ab\ncd");
    assert_string_equal(small, "ab");
    cc_log_escape(small, sizeof(small), "abcdefgh");
    assert_string_equal(small, "abcde");
}

/* Reads what stderr (redirected to fd) has received so far. */
static size_t read_captured(int fd, char *out, size_t cap)
{
    off_t end = lseek(fd, 0, SEEK_END);
    ssize_t n = pread(fd, out, cap - 1, 0);
    assert_true(end >= 0 && n >= 0);
    out[n] = 0;
    return (size_t)n;
}

static void test_log_buffered_keeps_order_and_flushes(void **state)
{
    (void)state;
    char path[256];
    cc_tmp_template(path, sizeof(path), "cc-log");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    char got[4096];

    cc_log_buffered(true);
    cc_log(CC_LOG_INFO, "event=first");
    cc_log(CC_LOG_INFO, "event=second");
    assert_int_equal(read_captured(fd, got, sizeof(got)), 0); /* held until a flush */
    cc_log(CC_LOG_WARN, "event=third"); /* a warning takes all out, in order */
    read_captured(fd, got, sizeof(got));
    char *a = strstr(got, "event=first"), *b = strstr(got, "event=second"),
         *c = strstr(got, "event=third");
    assert_true(a && b && c && a < b && b < c);
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ level=info comp=... (the prefix is built by hand) */
    const char *shape = "ts=dddd-dd-ddTdd:dd:dd.dddZ level=info comp=";
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? got[i] < '0' || got[i] > '9' : got[i] != shape[i])
            fail_msg("log prefix differs at %zu: %.60s", i, got);
    size_t before = strlen(got);
    cc_log(CC_LOG_INFO, "event=fourth");
    assert_int_equal(read_captured(fd, got, sizeof(got)), before);
    cc_log_flush();
    read_captured(fd, got, sizeof(got));
    assert_non_null(strstr(got, "event=fourth\n"));
    /* Off again: each line goes out at once. */
    cc_log_buffered(false);
    cc_log(CC_LOG_INFO, "event=fifth");
    read_captured(fd, got, sizeof(got));
    assert_non_null(strstr(got, "event=fifth\n"));

    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
}

static void test_atomic_write_refuses_planted_files(void **state)
{
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "cc-atomic");
    assert_non_null(mkdtemp(dir));
    char path[300], victim[300], link[320];
    snprintf(path, sizeof(path), "%s/key", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    cc_err err;
    /* Names the old code used (path.tmpPID) planted as a symlink to a victim and as a 0666 file:
     * neither is followed nor reused. */
    assert_int_equal(cc_write_file_atomic(victim, "keep", 4, 0600, &err), 0);
    snprintf(link, sizeof(link), "%s.tmp%d", path, (int)getpid());
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(cc_write_file_atomic(path, "secret", 6, 0600, &err), 0);
    char buf[16] = {0};
    FILE *f = fopen(victim, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf), f), 4);
    fclose(f);
    assert_string_equal(buf, "keep");
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Rewriting keeps the mode asked for and leaves no temporary file behind. */
    assert_int_equal(cc_write_file_atomic(path, "secret2", 7, 0600, &err), 0);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            entries++;
            assert_null(strstr(e->d_name, ".tmp-"));
        }
    closedir(d);
    assert_int_equal(entries, 3); /* key, victim, the planted link */
    unlink(link);
    unlink(path);
    unlink(victim);
    rmdir(dir);
}

static void test_str_copy_truncates(void **state)
{
    char d[6];
    cc_str_copy(d, sizeof(d), "abcdefgh");
    assert_string_equal(d, "abcde");
    cc_str_copy(d, sizeof(d), NULL);
    assert_string_equal(d, "");
    cc_str_copy(d, sizeof(d), "ab");
    assert_string_equal(d, "ab");
}

/* The hand-written formatting matches printf for timestamps, durations and counts (values chosen
 * away from rounding halfway points, where the two may differ in the last digit). */
static void test_fmt_matches_printf(void **state)
{
    (void)state;
    char a[40], b[40];
    const uint64_t ints[] = {0, 7, 10, 999, 1000000, UINT64_MAX};
    for (size_t i = 0; i < CC_ARRAY_LEN(ints); i++) {
        size_t n = cc_fmt_u64(a, ints[i]);
        snprintf(b, sizeof(b), "%llu", (unsigned long long)ints[i]);
        assert_string_equal(a, b);
        assert_int_equal(n, strlen(b));
    }
    const double xs[] = {0.0,     1764620000.123456, 1764620000.000001, 0.04,
                         12.3449, -3.25001,          -0.0000001,        999.96,
                         1e-7,    123456789.987654,  -1764.5001,        5e12};
    for (size_t i = 0; i < CC_ARRAY_LEN(xs); i++)
        for (int d = 0; d <= 6; d++) {
            size_t n = cc_fmt_fixed(a, xs[i], d);
            snprintf(b, sizeof(b), "%.*f", d, xs[i]);
            assert_string_equal(a, b);
            assert_int_equal(n, strlen(b));
        }
    char big[400];
    cc_fmt_fixed(a, 1e300, 1); /* out of the fast range: printf's text */
    snprintf(big, sizeof(big), "%.1f", 1e300);
    assert_true(strncmp(a, big, 31) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_consumes),
        cmocka_unit_test(test_hex_round_trip_and_errors),
        cmocka_unit_test(test_crc_vectors),
        cmocka_unit_test(test_json_validation_names_field),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_str_copy_truncates),
        cmocka_unit_test(test_fmt_matches_printf),
        cmocka_unit_test(test_log_escape_keeps_one_line),
        cmocka_unit_test(test_log_buffered_keeps_order_and_flushes),
        cmocka_unit_test(test_atomic_write_refuses_planted_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
