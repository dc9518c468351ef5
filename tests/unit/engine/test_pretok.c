/*
 * The pre-tokenizer machinery on its own: the generated Unicode class table,
 * the regular-expression engine (semantics and what it refuses), and
 * splitting with chains of expressions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pretok.h"
#include "engine/unicode.h"

static void test_unicode_classes(void **state)
{
    (void)state;
    assert_int_equal(eng_ucd_flags('A'), ENG_U_L | ENG_U_LU);
    assert_int_equal(eng_ucd_flags('z'), ENG_U_L | ENG_U_LL);
    assert_int_equal(eng_ucd_flags('7'), ENG_U_N | ENG_U_ND);
    assert_int_equal(eng_ucd_flags(' '), ENG_U_Z | ENG_U_WS);
    assert_int_equal(eng_ucd_flags('\n'), ENG_U_C | ENG_U_WS);
    assert_int_equal(eng_ucd_flags('$'), ENG_U_S);
    assert_int_equal(eng_ucd_flags('!'), ENG_U_P);
    assert_int_equal(eng_ucd_flags(0x85), ENG_U_C | ENG_U_WS);   /* NEXT LINE */
    assert_int_equal(eng_ucd_flags(0xA0), ENG_U_Z | ENG_U_WS);   /* NO-BREAK SPACE */
    assert_int_equal(eng_ucd_flags(0xB5), ENG_U_L | ENG_U_LL);   /* MICRO SIGN */
    assert_int_equal(eng_ucd_flags(0xBD), ENG_U_N);              /* ½ is No */
    assert_int_equal(eng_ucd_flags(0x301), ENG_U_M);             /* combining acute */
    assert_int_equal(eng_ucd_flags(0x663), ENG_U_N | ENG_U_ND);  /* ARABIC-INDIC THREE */
    assert_int_equal(eng_ucd_flags(0x17B6), ENG_U_M);            /* Khmer vowel sign */
    assert_int_equal(eng_ucd_flags(0x4E2D), ENG_U_L | ENG_U_LO); /* 中, inside a First/Last range */
    assert_int_equal(eng_ucd_flags(0xAC01), ENG_U_L | ENG_U_LO); /* a Hangul syllable */
    assert_int_equal(eng_ucd_flags(0x1F999), ENG_U_S);           /* 🦙 */
    assert_int_equal(eng_ucd_flags(0xE000), ENG_U_C);            /* private use */
    assert_int_equal(eng_ucd_flags(0x2028), ENG_U_Z | ENG_U_WS);
    assert_int_equal(eng_ucd_flags(0x200B), ENG_U_C); /* ZERO WIDTH SPACE is not White_Space */
    assert_int_equal(eng_ucd_flags(0x378), 0);        /* unassigned */
    assert_int_equal(eng_ucd_flags(0x110000), 0);
}

static size_t to_cps(const char *s, uint32_t *cp)
{
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len;)
        i += eng_utf8_decode(s + i, len - i, &cp[n++]);
    return n;
}

/* Length in code points of the match of pattern at the start of text. */
static size_t match(const char *pattern, const char *text)
{
    cc_err err = {0};
    eng_rx *r = eng_rx_compile(pattern, &err);
    if (!r) fail_msg("%s: %s", pattern, err.msg);
    uint32_t cp[256];
    size_t n = to_cps(text, cp);
    size_t m = eng_rx_match_at(r, cp, n, 0, NULL);
    eng_rx_runs runs = {0};
    eng_rx_runs_reset(&runs, r);
    if (eng_rx_match_at(r, cp, n, 0, &runs) != m)
        fail_msg("%s: run memory changes the match", pattern);
    eng_rx_runs_free(&runs);
    eng_rx_free(r);
    return m;
}

static void test_rx_semantics(void **state)
{
    (void)state;
    assert_int_equal(match("\\s+(?!\\S)", "   x"), 2); /* leaves one space for the word */
    assert_int_equal(match("\\s+(?!\\S)", "   "), 3);
    assert_int_equal(match("(?:'[sS]|'[tT])", "'S"), 2);
    assert_int_equal(match("(?i:'s|'t)", "'T"), 2);
    assert_int_equal(match("\\p{N}{1,3}", "12345"), 3);
    assert_int_equal(match("\\p{N}{2}", "1x"), 0);
    assert_int_equal(match("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+", " \xC3\xA9t\xC3\xA9!"), 4);
    assert_int_equal(match("\\s+$", "  \n"), 3);
    assert_int_equal(match("\\s+$", "  x"), 0);
    assert_int_equal(match("a|ab", "ab"), 1); /* the first alternative, not the longest */
    assert_int_equal(match("(?:a|ab)c", "abc"), 3);
    assert_int_equal(match("[\xE4\xB8\x80-\xE9\xBE\xA5]+", "\xE4\xB8\xAD\xE6\x96\x87"
                                                           "a"),
                     2);
    assert_int_equal(match("[\\p{P}\\$\\+<=>\\^~\\|`]+", "$+`|a"), 4);
    assert_int_equal(match("[.,!?\\-]+", "-?x"), 2);
    assert_int_equal(match("\\d+", "\xD9\xA3"
                                   "4x"),
                     2);
    assert_int_equal(match("x.y", "x\ny"), 0);
    assert_int_equal(match("(?=a)\\p{L}", "a"), 1);
    /* A repeated group that consumes one character is a class: a letter
     * that is not a-z. */
    assert_int_equal(match("((?=[\\p{L}])([^a-z]))+", "\xC3\x80"
                                                      "Bcd"),
                     2);
    assert_int_equal(match("((?=[\\p{L}])([^a-z]))*[a-z]+", "\xC3\x80"
                                                            "Bcd1"),
                     4);
    assert_int_equal(match("((?![0-9])(\\S))+", "ab1"), 2);
    /* Long inputs are loops, not recursion. */
    char *many = malloc(200001);
    memset(many, ' ', 200000);
    many[200000] = 0;
    cc_err err = {0};
    eng_rx *r = eng_rx_compile("\\s+(?!\\S)|\\s+", &err);
    uint32_t *cp = malloc(200000 * sizeof(uint32_t));
    for (size_t i = 0; i < 200000; i++)
        cp[i] = ' ';
    assert_int_equal(eng_rx_match_at(r, cp, 200000, 0, NULL), 200000);
    eng_rx_free(r);
    free(cp);
    free(many);
}

static void test_rx_refuses(void **state)
{
    (void)state;
    static const char *bad[] = {
        "(?<=a)b", "a{2",    "[ab",    "\\p{Han}+", "a+?",    "a++", "(ab)+",
        "(a",      "a)",     "[b-a]",  "\\bx",      "\\w",    "*a",  "[[:alpha:]]",
        "\\p{L",   "(?x:a)", "a{3,2}", "\\",        "(?=a)+", "$*",  "[\\S]",
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++) {
        cc_err err = {0};
        eng_rx *r = eng_rx_compile(bad[i], &err);
        if (r) fail_msg("\"%s\" compiled", bad[i]);
        assert_non_null(strstr(err.msg, "pre-tokenizer pattern"));
    }
}

static void expect_split(const char *pre, const char *text, const char *const *want, size_t n_want)
{
    eng_pretok p;
    cc_err err = {0};
    if (eng_pretok_init(&p, pre, &err)) fail_msg("%s", err.msg);
    uint32_t cp[256];
    size_t n = to_cps(text, cp);
    eng_span *s;
    size_t ns;
    eng_pretok_split(&p, cp, n, &s, &ns);
    if (ns != n_want) fail_msg("%s \"%s\": %zu pieces, expected %zu", pre, text, ns, n_want);
    for (size_t i = 0; i < ns; i++) {
        uint32_t w[64];
        size_t wn = to_cps(want[i], w);
        if (s[i].len != wn || memcmp(cp + s[i].start, w, wn * sizeof(uint32_t)))
            fail_msg("%s \"%s\": piece %zu is not \"%s\"", pre, text, i, want[i]);
    }
    free(s);
    eng_pretok_free(&p);
}

#define SPLIT(pre, text, ...)                                                                      \
    do {                                                                                           \
        const char *want_[] = {__VA_ARGS__};                                                       \
        expect_split(pre, text, want_, CC_ARRAY_LEN(want_));                                       \
    } while (0)

static void test_split(void **state)
{
    (void)state;
    SPLIT("gpt-2", "Hello world  !", "Hello", " world", " ", " !");
    SPLIT("mpt", "it's 2024", "it", "'s", " 2024");
    /* falcon: punctuation runs first, then GPT-2, then groups of three digits */
    SPLIT("falcon", "a+b=3333", "a", "+", "b", "=", "333", "3");
    SPLIT("starcoder", "x 42", "x", " ", "4", "2");
    SPLIT("llama-bpe", "12345 ok\n\n", "123", "45", " ok", "\n\n");
    SPLIT("qwen2", "AB12", "AB", "1", "2");
    SPLIT("deepseek-coder", "\xE6\x88\x91\xE6\x83\xB3 go", "\xE6\x88\x91\xE6\x83\xB3", " go");
    SPLIT(NULL, "a,b", "a", ",", "b"); /* no tokenizer.ggml.pre: the default list */
    eng_pretok p;
    cc_err err = {0};
    assert_int_equal(eng_pretok_init(&p, "no-such-family", &err), -1);
    assert_non_null(strstr(err.msg, "no-such-family"));
}

/* Run memory is an optimisation only: on random text over an alphabet that
 * exercises every class, matching with and without it agrees everywhere. */
static void test_run_memory_agrees(void **state)
{
    (void)state;
    static const char *patterns[] = {
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        "(?:'[sS]|'[tT])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "\\s+$",
        "\\s?\\p{L}+",
        "[0-9][0-9][0-9]",
        "a*b*\\s*$|\\p{N}{2,}"};
    static const uint32_t alphabet[] = {' ', '\n', '\t', 'a',  'B',    '1',
                                        '!', '\'', 's',  0xE9, 0x4E2D, 0xA0};
    uint64_t seed = 42;
    for (size_t p = 0; p < CC_ARRAY_LEN(patterns); p++) {
        cc_err err = {0};
        eng_rx *r = eng_rx_compile(patterns[p], &err);
        if (!r) fail_msg("%s", err.msg);
        eng_rx_runs runs = {0};
        for (int round = 0; round < 200; round++) {
            uint32_t cp[64];
            size_t n = 1 + round % 63;
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                cp[i] = alphabet[(seed >> 33) % CC_ARRAY_LEN(alphabet)];
            }
            eng_rx_runs_reset(&runs, r);
            for (size_t i = 0; i < n; i++)
                if (eng_rx_match_at(r, cp, n, i, &runs) != eng_rx_match_at(r, cp, n, i, NULL))
                    fail_msg("pattern %zu, round %d, position %zu", p, round, i);
        }
        eng_rx_runs_free(&runs);
        eng_rx_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unicode_classes),   cmocka_unit_test(test_rx_semantics),
        cmocka_unit_test(test_rx_refuses),        cmocka_unit_test(test_split),
        cmocka_unit_test(test_run_memory_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
