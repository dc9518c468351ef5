/*
 * llama.cpp's tokenizer test vectors against our tokenizer: every
 * ggml-vocab-NAME.gguf in $COCOON_SHARED/models/vocab that has NAME.gguf.inp
 * and NAME.gguf.out. The .inp holds test strings separated by lines
 * "__ggml_vocab_test__", the .out one line of expected ids per string, made
 * with no BOS/EOS and special-token text not parsed (test-tokenizer-0's
 * semantics: SentencePiece models still get their dummy space prefix).
 * Each family's result is printed as "vocab NAME: passed/total".
 *
 * Vectors whose GGUF is not there (llama-bpe, qwen2) are skipped here:
 * test_engine_vocab_hf.py converts those from the Hugging Face tokenizers
 * and runs this program on them with the arguments DIR and the number of
 * families expected there.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "../shared_data.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

typedef struct vec {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} vec;

/* Splits the .inp the way test-tokenizer-0 does; returns the count. */
static size_t split_inputs(const cc_buf *inp, vec **out)
{
    size_t n = 0, cap = 64;
    vec *v = calloc(cap, sizeof(vec));
    const char *s = (const char *)inp->data;
    size_t pos = 0, sl = strlen(SEP);
    while (pos < inp->len) {
        const char *hit = memmem(s + pos, inp->len - pos, SEP, sl);
        size_t end = hit ? (size_t)(hit - s) : inp->len;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof(vec));
        memset(&v[n], 0, sizeof(vec));
        v[n].len = end - pos;
        v[n].text = malloc(v[n].len + 1);
        memcpy(v[n].text, s + pos, v[n].len);
        n++;
        if (!hit) break;
        pos = end + sl;
    }
    *out = v;
    return n;
}

/* One line of ids per input; returns the number of lines. */
static size_t parse_outputs(const cc_buf *outb, vec *v, size_t nv)
{
    const char *s = (const char *)outb->data;
    size_t line = 0;
    for (size_t pos = 0; pos < outb->len; line++) {
        const char *nl = memchr(s + pos, '\n', outb->len - pos);
        size_t end = nl ? (size_t)(nl - s) : outb->len;
        if (line < nv) {
            v[line].ids = calloc(end - pos + 1, sizeof(int32_t));
            for (size_t i = pos; i < end;) {
                while (i < end && s[i] == ' ')
                    i++;
                if (i == end) break;
                char *stop;
                long id = strtol(s + i, &stop, 10);
                if (stop == s + i || (size_t)(stop - s) > end) fail_msg("bad .out line %zu", line);
                v[line].ids[v[line].n++] = (int32_t)id;
                i = (size_t)(stop - s);
            }
        }
        pos = end + 1;
    }
    return line;
}

static bool read_all(const char *path, cc_buf *b)
{
    cc_err err = {0};
    return cc_read_file(path, b, &err) == 0;
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Runs one family; returns the number of failed vectors. */
static size_t run_family(const char *dir, const char *gguf, size_t *total)
{
    char path[1024], inp[1100], outp[1100];
    snprintf(path, sizeof(path), "%s/%s", dir, gguf);
    snprintf(inp, sizeof(inp), "%s.inp", path);
    snprintf(outp, sizeof(outp), "%s.out", path);
    cc_buf bi = CC_BUF_INIT, bo = CC_BUF_INIT;
    if (!read_all(inp, &bi) || !read_all(outp, &bo)) {
        cc_buf_free(&bi);
        cc_buf_free(&bo);
        *total = 0;
        return 0;
    }
    cc_err err = {0};
    engine_model *m = engine_model_load_vocab(path, &err);
    if (!m) fail_msg("%s", err.msg);
    vec *v;
    size_t nv = split_inputs(&bi, &v);
    size_t nl = parse_outputs(&bo, v, nv);
    if (nl != nv) fail_msg("%s: %zu inputs but %zu output lines", gguf, nv, nl);
    size_t failed = 0;
    for (size_t i = 0; i < nv; i++) {
        engine_tokens t = {0};
        assert_int_equal(engine_tokenize(m, v[i].text, v[i].len, false, false, &t, &err), 0);
        bool ok = t.n == v[i].n && (!t.n || !memcmp(t.ids, v[i].ids, t.n * sizeof(int32_t)));
        if (!ok) {
            failed++;
            fprintf(stderr, "  %s vector %zu \"%.*s\":\n", gguf, i, (int)CC_MIN(v[i].len, 60),
                    v[i].text);
            print_ids("expected", v[i].ids, v[i].n);
            print_ids("got     ", t.ids, t.n);
        }
        engine_tokens_free(&t);
        free(v[i].text);
        free(v[i].ids);
    }
    free(v);
    engine_model_free(m);
    cc_buf_free(&bi);
    cc_buf_free(&bo);
    *total = nv;
    return failed;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *arg_dir;     /* argv[1]: another folder of vocabularies and vectors */
static size_t arg_families = 9; /* the nine families with vectors and a GGUF in shared/ */

static void test_vectors(void **state)
{
    (void)state;
    char dir[900];
    if (arg_dir)
        snprintf(dir, sizeof(dir), "%s", arg_dir);
    else
        shared_data_path(dir, sizeof(dir), "models/vocab");
    DIR *d = opendir(dir);
    if (!d) fail_msg("no %s (set COCOON_SHARED to the shared data folder)", dir);
    char *names[64];
    size_t nn = 0;
    for (struct dirent *e; (e = readdir(d)) && nn < 64;) {
        size_t l = strlen(e->d_name);
        if (!strncmp(e->d_name, "ggml-vocab-", 11) && l > 5 && !strcmp(e->d_name + l - 5, ".gguf"))
            names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof(char *), by_name);
    size_t families = 0, bad = 0;
    for (size_t i = 0; i < nn; i++) {
        size_t total, failed = run_family(dir, names[i], &total);
        if (total) {
            families++;
            printf("vocab %s: %zu/%zu\n", names[i], total - failed, total);
            bad += failed;
        }
        free(names[i]);
    }
    fflush(stdout);
    if (families != arg_families)
        fail_msg("%zu families with vectors in %s, expected %zu", families, dir, arg_families);
    assert_int_equal(bad, 0);
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        arg_dir = argv[1];
        arg_families = strtoul(argv[2], NULL, 10);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
