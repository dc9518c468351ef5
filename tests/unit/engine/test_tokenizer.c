/*
 * GPT-2-style BPE on a small hand-made vocabulary (merge ranks, the gpt2 /
 * llama-3 / qwen2 pre-tokenizer splits, byte-to-unicode mapping both ways),
 * special tokens in text, and the chat templates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/vocab.h"

/* "Ġ" (U+0120) stands for a space byte, "Ċ" (U+010A) for a newline. */
static const char *tokens[] = {
    "a",
    "b",
    "c",
    "d",
    "\xC4\xA0",
    "1",
    "2",
    "3",
    "!",
    "\xC4\x8A",
    "'",
    "s",
    "ab",
    "abc",
    "\xC4\xA0"
    "a",
    "\xC4\xA0"
    "ab",
    "12",
    "<|im_start|>",
    "<|im_end|>",
    "\xC4\xA0"
    "d",
};
static const char *merges[] = {"a b",
                               "ab c",
                               "\xC4\xA0 a",
                               "\xC4\xA0"
                               "a b",
                               "1 2",
                               "\xC4\xA0 d"};

static eng_vocab *make_vocab(const char *pre, engine_gguf **gout, cc_buf *file)
{
    size_t n = sizeof(tokens) / sizeof(tokens[0]);
    int32_t types[32];
    for (size_t i = 0; i < n; i++)
        types[i] = 1;
    types[17] = types[18] = 3;
    engine_gguf_writer *w = engine_gguf_writer_new();
    engine_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    engine_gguf_w_str(w, "tokenizer.ggml.pre", pre);
    engine_gguf_w_arr_str(w, "tokenizer.ggml.tokens", tokens, n);
    engine_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, n);
    engine_gguf_w_arr_str(w, "tokenizer.ggml.merges", merges, sizeof(merges) / sizeof(merges[0]));
    engine_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 18);
    engine_gguf_w_finish(w, file);
    engine_gguf_writer_free(w);
    cc_err err = {0};
    engine_gguf *g = engine_gguf_parse(file->data, file->len, &err);
    assert_non_null(g);
    eng_vocab *v = eng_vocab_load(g, 64, &err);
    if (!v) fail_msg("%s", err.msg);
    *gout = g;
    return v;
}

static void expect(const eng_vocab *v, const char *text, const int32_t *ids, size_t n)
{
    engine_tokens t = {0};
    eng_bpe_encode(v, text, strlen(text), &t);
    if (t.n != n) fail_msg("\"%s\": %zu tokens, expected %zu", text, t.n, n);
    for (size_t i = 0; i < n; i++)
        if (t.ids[i] != ids[i])
            fail_msg("\"%s\": token %zu is %d, expected %d", text, i, t.ids[i], ids[i]);
    engine_tokens_free(&t);
}

#define EXPECT(v, text, ...)                                                                       \
    do {                                                                                           \
        const int32_t ids_[] = {__VA_ARGS__};                                                      \
        expect(v, text, ids_, sizeof(ids_) / sizeof(ids_[0]));                                     \
    } while (0)

static void test_bpe_merges(void **state)
{
    (void)state;
    cc_buf file = CC_BUF_INIT;
    engine_gguf *g;
    eng_vocab *v = make_vocab("qwen2", &g, &file);
    assert_int_equal(v->kind, ENGINE_TOK_BPE);
    assert_string_equal(v->pre.name, "qwen2");
    assert_false(v->add_bos);
    EXPECT(v, "abc", 13);        /* a whole piece in the vocabulary */
    EXPECT(v, "abd", 12, 3);     /* "a b" merges, nothing joins d */
    EXPECT(v, " ab", 4, 12);     /* the space joins the word, but no merge makes "Ġab" */
    EXPECT(v, " abd", 4, 12, 3); /* rank 0 "a b" beats rank 2 "Ġ a" */
    EXPECT(v, " d", 19);
    EXPECT(v, "123", 5, 6, 7); /* qwen2 splits digits one by one */
    EXPECT(v, "a's", 0, 10, 11);
    EXPECT(v, "a  b", 0, 4, 4, 1);           /* "a", " ", " b" */
    EXPECT(v, "a!!\n\nb", 0, 8, 8, 9, 9, 1); /* punctuation run takes the newlines */
    /* Output text undoes the byte mapping. */
    assert_int_equal(v->text_len[15], 3);
    assert_memory_equal(v->text + v->text_off[15], " ab", 3);
    assert_memory_equal(v->text + v->text_off[9], "\n", 1);
    assert_int_equal(v->text_len[17], 0); /* control tokens print nothing */
    assert_true(v->is_end[18]);           /* EOS, and <|im_end|> by name */
    eng_vocab_free(v);
    engine_gguf_close(g);
    cc_buf_free(&file);

    v = make_vocab("llama-bpe", &g, &file);
    assert_string_equal(v->pre.name, "llama3");
    EXPECT(v, "123", 16, 7); /* llama-3 keeps up to three digits together */
    EXPECT(v, " ab", 15);    /* llama-3 takes a whole piece that is a token as is */
    EXPECT(v, "a's", 0, 10, 11);
    EXPECT(v, "ab\n\n d", 12, 9, 9, 19); /* "\s*[\r\n]+" stops at the last newline */
    eng_vocab_free(v);
    engine_gguf_close(g);
    cc_buf_free(&file);

    v = make_vocab("gpt-2", &g, &file);
    assert_string_equal(v->pre.name, "gpt-2");
    EXPECT(v, "123", 16, 7); /* gpt2: one run of digits, then merges */
    EXPECT(v, " 12", 4, 16);
    eng_vocab_free(v);
    engine_gguf_close(g);
    cc_buf_free(&file);
}

static void test_special_tokens(void **state)
{
    (void)state;
    engine_synth_config c;
    engine_synth_config_default(&c);
    c.arch = ENGINE_ARCH_QWEN2;
    c.bpe_vocab = true;
    c.n_layer = 1;
    c.dim = 64;
    c.hidden_dim = 64;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.n_vocab = 800;
    c.wtype = ENGINE_T_F32;
    cc_buf file = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(engine_synth_buf(&c, &file, &err), 0);
    engine_model *m = engine_model_from_gguf(engine_gguf_parse(file.data, file.len, &err), &err);
    assert_non_null(m);
    assert_int_equal(engine_model_chat_kind(m), ENGINE_CHAT_CHATML);
    const char *text = "<|im_start|>user\nhi<|im_end|>";
    engine_tokens t = {0};
    assert_int_equal(engine_tokenize(m, text, strlen(text), true, true, &t, &err), 0);
    size_t n;
    const char *p = engine_token_piece(m, t.ids[0], &n);
    assert_int_equal(n, 12);
    assert_memory_equal(p, "<|im_start|>", 12);
    p = engine_token_piece(m, t.ids[t.n - 1], &n);
    assert_memory_equal(p, "<|im_end|>", 10);
    assert_true(engine_model_is_end(m, t.ids[t.n - 1]));
    size_t with_special = t.n;
    engine_tokens_free(&t);
    /* Without parse_special the markers are plain text: many more tokens. */
    assert_int_equal(engine_tokenize(m, text, strlen(text), true, false, &t, &err), 0);
    assert_true(t.n > with_special + 10);
    engine_tokens_free(&t);
    engine_model_free(m);
    cc_buf_free(&file);
}

static void test_chat_templates(void **state)
{
    (void)state;
    assert_int_equal(engine_chat_detect(NULL), ENGINE_CHAT_PLAIN);
    assert_int_equal(engine_chat_detect("{% for m in messages %}<|im_start|>{{m.role}}"),
                     ENGINE_CHAT_CHATML);
    assert_int_equal(engine_chat_detect("{{ '<|start_header_id|>' + role }}"), ENGINE_CHAT_LLAMA3);
    assert_int_equal(engine_chat_detect("{{ bos_token + '[INST] ' + content }}"),
                     ENGINE_CHAT_LLAMA2);
    assert_int_equal(engine_chat_detect("{{ something else }}"), ENGINE_CHAT_PLAIN);
    engine_chat_msg msgs[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
    char *s = engine_chat_render(ENGINE_CHAT_CHATML, msgs, 4, false, NULL);
    assert_string_equal(s,
                        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                        "<|im_start|>assistant\n");
    free(s);
    s = engine_chat_render(ENGINE_CHAT_LLAMA3, msgs, 2, false, NULL);
    assert_string_equal(s, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                           "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(s);
    s = engine_chat_render(ENGINE_CHAT_LLAMA2, msgs, 4, false, NULL);
    assert_string_equal(s, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>"
                           "[INST] Bye [/INST]");
    free(s);
    s = engine_chat_render(ENGINE_CHAT_PLAIN, msgs + 1, 1, false, NULL);
    assert_string_equal(s, "user: Hi\nassistant:");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_merges),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_chat_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
