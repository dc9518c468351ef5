/*
 * Moving weights onto 2 MB pages (hugemem.c): a private file mapping's
 * aligned stretches change backing, never bytes; the ends of the range, the
 * bytes around it and the file itself stay as they were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine_int.h"

#define MB ((size_t)1 << 20)

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 2654435761u >> 13);
}

/* A temporary file of n pattern bytes, mapped private and writable, as
 * engine_gguf_open maps a model. */
static uint8_t *map_file(size_t n, FILE **f)
{
    *f = tmpfile();
    assert_non_null(*f);
    for (size_t i = 0; i < n; i++)
        fputc(pattern(i), *f);
    assert_int_equal(fflush(*f), 0);
    uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fileno(*f), 0);
    assert_true(p != MAP_FAILED);
    return p;
}

static void assert_pattern(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(i)) fail_msg("byte %zu changed: %u, not %u", i, p[i], pattern(i));
}

static void test_moves_aligned_stretches_only(void **state)
{
    (void)state;
    FILE *f;
    size_t n = 21 * MB + 4321;
    uint8_t *p = map_file(n, &f);
    size_t off = 12345, len = n - off - 777;
    uintptr_t a = ((uintptr_t)p + off + 2 * MB - 1) & ~(uintptr_t)(2 * MB - 1);
    uintptr_t b = ((uintptr_t)p + off + len) & ~(uintptr_t)(2 * MB - 1);
    size_t moved = eng_mem_huge(p + off, len);
#if defined(__linux__)
    /* 16 MB or more of aligned stretches (more than one chunk of the move). */
    assert_true(b - a >= 16 * MB);
    assert_int_equal(moved, b - a);
#else
    (void)a;
    (void)b;
    (void)moved;
#endif
    assert_pattern(p, n);
    /* Still private and writable, and the file does not see writes. */
    p[off + len / 2] ^= 0xff;
    assert_int_equal(p[off + len / 2], (uint8_t)~pattern(off + len / 2));
    uint8_t c;
    assert_int_equal(pread(fileno(f), &c, 1, (off_t)(off + len / 2)), 1);
    assert_int_equal(c, pattern(off + len / 2));
    assert_int_equal(munmap(p, n), 0);
    fclose(f);
}

static void test_small_and_empty_ranges(void **state)
{
    (void)state;
    FILE *f;
    size_t n = 3 * MB;
    uint8_t *p = map_file(n, &f);
    assert_int_equal(eng_mem_huge(p, 0), 0);
    /* Under 2 MB: no aligned stretch fits, nothing moves. */
    assert_int_equal(eng_mem_huge(p + 100, MB), 0);
    assert_pattern(p, n);
    assert_int_equal(munmap(p, n), 0);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moves_aligned_stretches_only),
        cmocka_unit_test(test_small_and_empty_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
