/*
 * The pre-tokenizer regular expressions per tokenizer.ggml.pre name, as
 * llama.cpp's vocabulary loader assigns them (the patterns are the models'
 * tokenizer.json ones; case-insensitive groups are spelled out as [sS] ...
 * the way llama.cpp adapts them), and the splitting itself.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/pretok.h"

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3                                                                                  \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"   \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                   \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"        \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_TEKKEN_WORDS                                                                            \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"                        \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"

typedef struct family {
    const char *name;
    const char *aliases; /* tokenizer.ggml.pre values, space separated */
    bool ignore_merges;
    const char *rx[6];
} family;

static const family families[] = {
    {"default",
     "default",
     false,
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3",
     "llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2",
     true,
     {RX_LLAMA3}},
    {"dbrx", "dbrx smaug-bpe", false, {RX_LLAMA3}},
    /* The \u escapes are characters that Unicode normalisation would turn
     * into others (U+1F7D into U+03CE, ...): spelled out so no editor does. */
    {"deepseek-llm",
     "deepseek-llm",
     false,
     {"[\r\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-"
      "Ჿᴀ-"
      "ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-"
      "Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-"
      "ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-"
      "ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-"
      "𞥃]"
      "+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"}},
    {"deepseek-coder",
     "deepseek-coder",
     false,
     {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
    {"deepseek-v3",
     "deepseek-v3",
     false,
     {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./"
      ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
      " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", "falcon", false, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    {"starcoder",
     "starcoder refact command-r smollm codeshell exaone minerva-7b",
     false,
     {"\\p{N}", RX_GPT2}},
    {"gpt-2",
     "gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum jina-v1-en "
     "jina-v2-code roberta-bpe mpt olmo jais trillion exaone4",
     false,
     {RX_GPT2}},
    {"qwen2", "qwen2 deepseek-r1-qwen kormo stablelm2 megrez hunyuan", false, {RX_QWEN2}},
    {"chatglm4", "glm4 chatglm-bpe", false, {RX_LLAMA3}},
    {"poro", "poro-chat bloom gpt3-finnish", false, {" ?[^(\\s|.,!?…。，、।۔،)]+"}},
    {"viking", "viking", false, {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"}},
    {"tekken",
     "tekken",
     true,
     {RX_TEKKEN_WORDS "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"gpt-4o",
     "gpt-4o llama4 minimax-m2",
     false,
     {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RX_CONTRACTIONS "?|"
      "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RX_CONTRACTIONS "?|"
      "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"seed-coder",
     "seed-coder",
     false,
     {RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|"
                      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"bailingmoe",
     "bailingmoe bailingmoe2 llada-moe",
     false,
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
};

static bool has_alias(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        if (l == n && !memcmp(p, name, n)) return true;
        p += l + (sp ? 1 : 0);
    }
    return false;
}

int eng_pretok_init(eng_pretok *p, const char *pre, cc_err *err)
{
    memset(p, 0, sizeof(*p));
    const family *f = NULL;
    for (size_t i = 0; i < CC_ARRAY_LEN(families) && !f; i++)
        if (has_alias(families[i].aliases, pre && *pre ? pre : "default")) f = &families[i];
    if (!f)
        return cc_err_set(err, "pre-tokenizer \"%.64s\" (tokenizer.ggml.pre) not supported", pre);
    p->name = f->name;
    p->ignore_merges = f->ignore_merges;
    p->rx = cc_calloc(CC_ARRAY_LEN(f->rx), sizeof(eng_rx *));
    for (size_t i = 0; i < CC_ARRAY_LEN(f->rx) && f->rx[i]; i++) {
        p->rx[i] = eng_rx_compile(f->rx[i], err);
        if (!p->rx[i]) {
            cc_err_prefix(err, "pre-tokenizer %s", f->name);
            eng_pretok_free(p);
            return -1;
        }
        p->n_rx++;
    }
    return 0;
}

void eng_pretok_free(eng_pretok *p)
{
    for (size_t i = 0; i < p->n_rx; i++)
        eng_rx_free(p->rx[i]);
    free(p->rx);
    memset(p, 0, sizeof(*p));
}

typedef struct spans {
    eng_span *v;
    size_t n, cap;
} spans;

static void push(spans *s, size_t start, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = cc_realloc(s->v, s->cap * sizeof(eng_span));
    }
    s->v[s->n++] = (eng_span){start, len};
}

void eng_pretok_split(const eng_pretok *p, const uint32_t *cp, size_t n, eng_span **out,
                      size_t *n_out)
{
    spans cur = {0};
    eng_rx_runs runs = {0};
    if (n) push(&cur, 0, n);
    for (size_t r = 0; r < p->n_rx; r++) {
        spans nxt = {0};
        for (size_t f = 0; f < cur.n; f++) {
            /* Each regex sees one piece alone: $ and lookaheads stop at its end. */
            const uint32_t *s = cp + cur.v[f].start;
            size_t len = cur.v[f].len, gap = 0;
            eng_rx_runs_reset(&runs, p->rx[r]);
            for (size_t i = 0; i < len;) {
                size_t m = eng_rx_match_at(p->rx[r], s, len, i, &runs);
                if (!m) {
                    i++;
                    continue;
                }
                if (i > gap) push(&nxt, cur.v[f].start + gap, i - gap);
                push(&nxt, cur.v[f].start + i, m);
                i += m;
                gap = i;
            }
            if (len > gap) push(&nxt, cur.v[f].start + gap, len - gap);
        }
        free(cur.v);
        cur = nxt;
    }
    eng_rx_runs_free(&runs);
    *out = cur.v;
    *n_out = cur.n;
}
