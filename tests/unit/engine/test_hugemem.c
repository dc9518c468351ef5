/*
 * Moving weights onto 2 MB pages (hugemem.c): a private file mapping's
 * aligned stretches change backing, never bytes; the ends of the range, the
 * bytes around it and the file itself stay as they were; and through the
 * model loader, a model's matrices leave the file with their bytes and
 * logits unchanged.
 */
#include <setjmp.h>
#include <stdbool.h>
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

/* Whether addr lies in a mapping of a file (/proc/self/maps names one): a
 * moved stretch must be anonymous, whatever its bytes say. */
static bool file_backed(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    bool file = false, found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, inode;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &inode) != 3) continue;
        if ((uintptr_t)addr < lo || (uintptr_t)addr >= hi) continue;
        found = true;
        file = inode != 0;
    }
    fclose(f);
    assert_true(found);
    return file;
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
    assert_true(file_backed((void *)a) && file_backed(p));
    size_t moved = eng_mem_huge(p + off, len);
#if defined(__linux__)
    /* 16 MB or more of aligned stretches (more than one chunk of the move);
     * exactly those left the file, the ends did not. */
    assert_true(b - a >= 16 * MB);
    assert_int_equal(moved, b - a);
    for (uintptr_t x = a; x < b; x += MB)
        assert_false(file_backed((void *)x));
    assert_true(file_backed(p) && file_backed(p + n - 1));
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

/* Through the model loader: an F16 model of a few MB, loaded from its file
 * (its layers' matrices and output moved) and parsed from a buffer (nothing
 * moved): every matrix has the file's bytes, the middle of the layers is no
 * longer file-backed, and both give the same logits bit for bit. */
static void test_model_weights_move(void **state)
{
    (void)state;
    engine_synth_config c;
    engine_synth_config_default(&c);
    c.wtype = ENGINE_T_F16;
    c.n_layer = 4;
    c.dim = 256;
    c.hidden_dim = 1024;
    c.n_head = 4;
    c.n_head_kv = 4;
    c.n_vocab = 2048;
    c.n_ctx = 32;
    cc_buf file = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(engine_synth_buf(&c, &file, &err), 0);
    char path[512];
    cc_tmp_template(path, sizeof(path), "cocoon-hugemem");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file.data, file.len), (ssize_t)file.len);
    close(fd);
    engine_model *mm = engine_model_load(path, &err);
    if (!mm) fail_msg("%s", err.msg);
    unlink(path);
    engine_gguf *g = engine_gguf_parse(file.data, file.len, &err);
    assert_non_null(g);
    engine_model *mb = engine_model_from_gguf(g, &err);
    if (!mb) fail_msg("%s", err.msg);
    for (int l = 0; l < c.n_layer; l++) {
        const eng_tensor *a[] = {&mm->layers[l].wq, &mm->layers[l].w_up, &mm->layers[l].w_down},
                         *b[] = {&mb->layers[l].wq, &mb->layers[l].w_up, &mb->layers[l].w_down};
        for (int i = 0; i < 3; i++)
            assert_memory_equal(a[i]->data, b[i]->data, (size_t)a[i]->rows * a[i]->row_bytes);
    }
#if defined(__linux__)
    const eng_tensor *mid = &mm->layers[c.n_layer / 2].w_up;
    assert_false(file_backed(mid->data + (size_t)mid->rows * mid->row_bytes / 2));
#endif
    engine_ctx *xm = engine_ctx_new(mm, NULL, 16, &err), *xb = engine_ctx_new(mb, NULL, 16, &err);
    assert_true(xm && xb);
    static const int32_t toks[] = {1, 7, 300, 1999};
    for (size_t t = 0; t < sizeof(toks) / sizeof(toks[0]); t++) {
        const float *lm = engine_ctx_eval(xm, &toks[t], 1, &err);
        assert_non_null(lm);
        float first[2048];
        memcpy(first, lm, sizeof(first));
        const float *lb = engine_ctx_eval(xb, &toks[t], 1, &err);
        assert_non_null(lb);
        assert_memory_equal(first, lb, sizeof(first));
    }
    engine_ctx_free(xm);
    engine_ctx_free(xb);
    engine_model_free(mm);
    engine_model_free(mb); /* and g, which it took */
    cc_buf_free(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moves_aligned_stretches_only),
        cmocka_unit_test(test_small_and_empty_ranges),
        cmocka_unit_test(test_model_weights_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
