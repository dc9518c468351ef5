/*
 * engine — the embedded inference engine: GGUF llama-family models (llama,
 * qwen2, qwen3) on the CPU.
 *
 * Pieces, bottom up:
 *   engine_gguf     a validated, read-only view of a GGUF v2/v3 file (mmap)
 *   engine_model    weights + hyperparameters + tokenizer loaded from a GGUF
 *   engine_pool     a thread pool the forward pass runs on
 *   engine_ctx      one sequence: KV cache and the forward pass
 *   engine_sampler  temperature/top-k/top-p/min-p/penalties + log-probabilities
 *   engine_server   generation requests served by a scheduler thread with slots
 *
 * Ownership: objects returned by engine_*_new, _open and _load are owned by the caller
 * and released with the matching _free or _close.  An engine_model borrows
 * nothing from the caller; an engine_ctx borrows its model and pool (they must
 * outlive it).  Strings and arrays returned by accessors are borrowed from
 * the object they came from unless stated otherwise.
 *
 * Threading: an engine_model is immutable after loading and may be shared by
 * any number of contexts and threads.  An engine_ctx, engine_sampler or
 * engine_pool is used by one thread at a time.  engine_server is thread-safe
 * (see its section).
 */
#ifndef COCOON_ENGINE_H
#define COCOON_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ================================================================= GGUF */

typedef enum {
    ENGINE_GGUF_U8 = 0,
    ENGINE_GGUF_I8 = 1,
    ENGINE_GGUF_U16 = 2,
    ENGINE_GGUF_I16 = 3,
    ENGINE_GGUF_U32 = 4,
    ENGINE_GGUF_I32 = 5,
    ENGINE_GGUF_F32 = 6,
    ENGINE_GGUF_BOOL = 7,
    ENGINE_GGUF_STRING = 8,
    ENGINE_GGUF_ARRAY = 9,
    ENGINE_GGUF_U64 = 10,
    ENGINE_GGUF_I64 = 11,
    ENGINE_GGUF_F64 = 12,
} engine_gguf_type;

/* ggml tensor types (the numbering of the GGUF format). */
typedef enum {
    ENGINE_T_F32 = 0,
    ENGINE_T_F16 = 1,
    ENGINE_T_Q4_0 = 2,
    ENGINE_T_Q4_1 = 3,
    ENGINE_T_Q5_0 = 6,
    ENGINE_T_Q5_1 = 7,
    ENGINE_T_Q8_0 = 8,
    ENGINE_T_Q8_1 = 9,
    ENGINE_T_Q2_K = 10,
    ENGINE_T_Q3_K = 11,
    ENGINE_T_Q4_K = 12,
    ENGINE_T_Q5_K = 13,
    ENGINE_T_Q6_K = 14,
    ENGINE_T_Q8_K = 15,
    ENGINE_T_I8 = 24,
    ENGINE_T_I16 = 25,
    ENGINE_T_I32 = 26,
    ENGINE_T_I64 = 27,
    ENGINE_T_F64 = 28,
    ENGINE_T_BF16 = 30,
    ENGINE_T_COUNT = 31
} engine_ttype;

/* Block geometry of a tensor type; false for types the reader does not know. */
bool engine_ttype_info(uint32_t type, size_t *block_elems, size_t *block_bytes);
const char *engine_ttype_name(uint32_t type); /* "Q4_K"; "?" when unknown */
/* Whether the engine can compute with weights of this type. */
bool engine_ttype_supported(uint32_t type);

typedef struct engine_gguf_str {
    const char *ptr; /* NOT NUL-terminated; points into the file */
    size_t len;
} engine_gguf_str;

typedef struct engine_gguf_kv {
    engine_gguf_str key;
    uint32_t type; /* engine_gguf_type */
    /* Scalars (all integer types widen into i64/u64, floats into f64). */
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        bool b;
    } v;
    engine_gguf_str str; /* type STRING */
    /* type ARRAY: element type and count. Fixed-size elements start at
     * arr_data (little-endian, unaligned); strings are in arr_strs. */
    uint32_t arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;
    engine_gguf_str *arr_strs;
} engine_gguf_kv;

#define ENGINE_GGUF_MAX_DIMS 4

typedef struct engine_gguf_tensor {
    engine_gguf_str name;
    uint32_t n_dims;
    uint64_t ne[ENGINE_GGUF_MAX_DIMS]; /* ne[0] is the contiguous dimension; unused = 1 */
    uint32_t type;                     /* engine_ttype */
    uint64_t offset;                   /* relative to the data section */
    uint64_t n_elems;
    uint64_t n_bytes;
    const uint8_t *data; /* points into the file */
} engine_gguf_tensor;

typedef struct engine_gguf {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    engine_gguf_kv *kv;
    engine_gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset; /* where the tensor data section starts in the file */
    const uint8_t *base;  /* the whole file */
    size_t size;
    bool mapped; /* true when base is our mmap */
} engine_gguf;

/* Maps and validates a file: magic, version 2 or 3, every count, length,
 * type, offset and alignment.  Errors name the failing item. */
engine_gguf *engine_gguf_open(const char *path, cc_err *err);
/* Same over caller memory (borrowed until engine_gguf_close). */
engine_gguf *engine_gguf_parse(const uint8_t *data, size_t size, cc_err *err);
void engine_gguf_close(engine_gguf *g);

const engine_gguf_kv *engine_gguf_find(const engine_gguf *g, const char *key);
const engine_gguf_tensor *engine_gguf_tensor_find(const engine_gguf *g, const char *name);
/* Typed getters: 0 when found and convertible, -1 otherwise (with err when
 * the key exists but has the wrong type). Absent keys leave *out untouched. */
int engine_gguf_get_u64(const engine_gguf *g, const char *key, uint64_t *out, cc_err *err);
int engine_gguf_get_f64(const engine_gguf *g, const char *key, double *out, cc_err *err);
int engine_gguf_get_bool(const engine_gguf *g, const char *key, bool *out, cc_err *err);
/* Returns a heap copy of a string value (caller frees) or NULL. */
char *engine_gguf_get_str(const engine_gguf *g, const char *key);

/* ---------------------------------------------------------- GGUF writer */

/* Builds a GGUF v3 file in memory (used by `cocoon engine synth` and tests). */
typedef struct engine_gguf_writer engine_gguf_writer;
engine_gguf_writer *engine_gguf_writer_new(void);
void engine_gguf_writer_free(engine_gguf_writer *w);
void engine_gguf_w_u32(engine_gguf_writer *w, const char *key, uint32_t v);
void engine_gguf_w_f32(engine_gguf_writer *w, const char *key, float v);
void engine_gguf_w_bool(engine_gguf_writer *w, const char *key, bool v);
void engine_gguf_w_str(engine_gguf_writer *w, const char *key, const char *v);
void engine_gguf_w_arr_str(engine_gguf_writer *w, const char *key, const char *const *v, size_t n);
void engine_gguf_w_arr_f32(engine_gguf_writer *w, const char *key, const float *v, size_t n);
void engine_gguf_w_arr_i32(engine_gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* data: the tensor's bytes in its type's layout (copied). ne: ne[0] first. */
void engine_gguf_w_tensor(engine_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                          const uint64_t *ne, const void *data, size_t n_bytes);
/* Serialises everything into out (appended). */
void engine_gguf_w_finish(engine_gguf_writer *w, cc_buf *out);
/* Same, straight into a file (large models are not held twice). */
int engine_gguf_w_write_file(engine_gguf_writer *w, const char *path, cc_err *err);

/* ============================================================ kernels */

/* Half/brain-float conversions. */
float engine_f16_to_f32(uint16_t h);
uint16_t engine_f32_to_f16(float f);
float engine_bf16_to_f32(uint16_t h);
uint16_t engine_f32_to_bf16(float f);

/* Dequantizes n elements (a multiple of the type's block) of row data. */
int engine_dequant_row(uint32_t type, const void *row, float *out, size_t n);
/* Quantizes n floats into the type's blocks (reference quantizers; used by
 * synth and tests). Returns the number of bytes written. */
size_t engine_quant_row(uint32_t type, const float *in, void *out, size_t n);
/* dot(row of type `type`, x) over n elements (float inputs; AVX2/FMA when
 * the CPU has them, else portable C). */
float engine_dot_row(uint32_t type, const void *row, const float *x, size_t n);
bool engine_kernels_have_avx2(void);

/* ============================================================ threads */

typedef struct engine_pool engine_pool;
/* threads <= 0: number of online CPUs. */
engine_pool *engine_pool_new(int threads);
void engine_pool_free(engine_pool *p);
int engine_pool_threads(const engine_pool *p);
/* Runs fn(arg, chunk, n_chunks, thread) for every chunk in [0, n_chunks)
 * on the calling thread and the pool's workers, returning when all are
 * done. `thread` (0 = the caller, < engine_pool_threads) tells which
 * thread runs the chunk, for per-thread scratch memory. Chunks are claimed
 * dynamically: if the workers are slow to wake, the caller does them all. */
void engine_pool_run(engine_pool *p, int n_chunks,
                     void (*fn)(void *arg, int chunk, int n_chunks, int thread), void *arg);

/* ============================================================== model */

typedef enum { ENGINE_ARCH_LLAMA = 0, ENGINE_ARCH_QWEN2, ENGINE_ARCH_QWEN3 } engine_arch;
typedef enum { ENGINE_TOK_SPM = 0, ENGINE_TOK_BPE } engine_tok_kind;
typedef enum {
    ENGINE_CHAT_PLAIN = 0,
    ENGINE_CHAT_CHATML,
    ENGINE_CHAT_LLAMA2,
    ENGINE_CHAT_LLAMA3
} engine_chat_kind;

typedef struct engine_hparams {
    engine_arch arch;
    int n_layer, dim, hidden_dim, n_head, n_head_kv, head_dim;
    int n_vocab, n_ctx_train, rope_dim;
    float rope_base, norm_eps;
    float rope_pos_scale; /* RoPE scaling, linear or YaRN's interpolation: 1/factor (1 = none) */
    float rope_yarn_ext;  /* YaRN: how far the fast pairs keep their frequency (0: not YaRN) */
    float rope_yarn_lo, rope_yarn_hi; /* YaRN: pairs below lo keep it, pairs above hi scale */
    float rope_mscale;                /* cos and sin times this (YaRN's magnitude; 1 = none) */
    bool tied_output;                 /* output.weight absent: token_embd is reused */
    bool neox_rope;                   /* rotate (i, i + d/2) pairs instead of (2i, 2i+1) */
} engine_hparams;

typedef struct engine_model engine_model;

engine_model *engine_model_load(const char *path, cc_err *err);
/* Loads from an already opened GGUF (takes ownership of g, even on failure). */
engine_model *engine_model_from_gguf(engine_gguf *g, cc_err *err);
/* Loads only the tokenizer of a GGUF: a vocab-only file (llama.cpp's
 * ggml-vocab-*.gguf, any architecture) or a model whose weights are left
 * alone. Such a model serves the tokenizer functions; engine_ctx_new
 * refuses it. */
engine_model *engine_model_load_vocab(const char *path, cc_err *err);
void engine_model_free(engine_model *m);
/* Converts a Hugging Face tokenizer (dir/tokenizer.json, and
 * dir/tokenizer_config.json when present) into a vocab-only GGUF as
 * llama.cpp's converter does: byte-level BPE (pre: the tokenizer.ggml.pre
 * name, NULL to recognise it from the split regex) or SentencePiece-style
 * BPE with byte fallback. */
int engine_vocab_from_hf(const char *dir, const char *pre, const char *out_path, cc_err *err);
const engine_hparams *engine_model_hparams(const engine_model *m);
uint64_t engine_model_weight_bytes(const engine_model *m); /* bytes read per token */

/* ---------------------------------------------------------- tokenizer */

typedef struct engine_tokens {
    int32_t *ids;
    size_t n, cap;
} engine_tokens;
void engine_tokens_push(engine_tokens *t, int32_t id);
void engine_tokens_free(engine_tokens *t);

engine_tok_kind engine_model_tok_kind(const engine_model *m);
int32_t engine_model_bos(const engine_model *m); /* -1 when none */
int32_t engine_model_eos(const engine_model *m);
/* True for tokens that end generation: EOS, EOT, BOS (stories260K and other
 * llama2.c models end a document with BOS; BOS never belongs inside an
 * answer) and end-of-turn tokens known by name (<|im_end|>, <|eot_id|>, ...). */
bool engine_model_is_end(const engine_model *m, int32_t id);
/* Appends the tokens of text to out. With add_bos, BOS goes first if the
 * model wants one (tokenizer.ggml.add_bos_token; when absent: SentencePiece
 * yes, GPT-2 BPE no). parse_special: text like "<|im_start|>" becomes its
 * control token. */
int engine_tokenize(const engine_model *m, const char *text, size_t len, bool add_bos,
                    bool parse_special, engine_tokens *out, cc_err *err);
/* The bytes a token stands for in output text (control tokens: empty). */
const char *engine_token_text(const engine_model *m, int32_t id, size_t *len);
/* The raw vocabulary string of a token. */
const char *engine_token_piece(const engine_model *m, int32_t id, size_t *len);

/* ----------------------------------------------------------- chat */

typedef struct engine_chat_msg {
    const char *role; /* system, user, assistant */
    const char *content;
} engine_chat_msg;

engine_chat_kind engine_model_chat_kind(const engine_model *m);
/* The GGUF's tokenizer.chat_template (NULL: none); owned by the model. */
const char *engine_model_chat_template(const engine_model *m);
/* Replaces it (copied; NULL: none), before the model is shared with other threads. */
void engine_model_set_chat_template(engine_model *m, const char *text);
/* Renders messages with the model's template and an open assistant turn.
 * Returns a heap string (caller frees). */
char *engine_chat_render(engine_chat_kind kind, const engine_chat_msg *msgs, size_t n, bool add_bos,
                         const char *bos_text);
/* Recognises the family of a Jinja chat template text (NULL: plain). */
engine_chat_kind engine_chat_detect(const char *template_text);

/* ------------------------------------------------ Jinja chat templates */

/* A Jinja interpreter for the chat templates GGUF files carry, configured as
 * Hugging Face's apply_chat_template configures jinja2 (trim_blocks and
 * lstrip_blocks on, tojson without ASCII escapes, raise_exception,
 * strftime_now, loop controls). Templates are outside input: the limits
 * stop one that would hang or exhaust memory. */
typedef struct engine_jinja engine_jinja;
typedef struct engine_jinja_limits {
    size_t max_output;  /* bytes of rendered text */
    size_t max_memory;  /* bytes of values made while rendering */
    uint64_t max_steps; /* loop iterations plus macro calls */
    int max_depth;      /* nesting of macro calls and expressions */
} engine_jinja_limits;
/* The limits a NULL engine_jinja_limits stands for. */
engine_jinja_limits engine_jinja_default_limits(void);

/* Parses a template; errors name the line and column. */
engine_jinja *engine_jinja_parse(const char *src, size_t len, cc_err *err);
void engine_jinja_free(engine_jinja *t);
/* Renders with the members of vars (a JSON object, NULL: none) as variables.
 * Returns a heap string (caller frees; *out_len its length if out_len), or
 * NULL with the reason (raise_exception's message, an undefined value used,
 * a limit reached, ...) in err. */
char *engine_jinja_render(const engine_jinja *t, const json_t *vars, const engine_jinja_limits *lim,
                          size_t *out_len, cc_err *err);

/* Renders a conversation as Hugging Face's apply_chat_template does: the
 * variables messages, tools (JSON null when NULL), add_generation_prompt,
 * bos_token and eos_token (no variable when NULL). Returns a heap string or NULL with err. */
char *engine_chat_apply(const char *template_text, const json_t *messages, const json_t *tools,
                        bool add_generation_prompt, const char *bos_token, const char *eos_token,
                        cc_err *err);
/* engine_chat_apply with the model's template, its BOS and EOS token text. */
char *engine_model_chat_apply(const engine_model *m, const json_t *messages, const json_t *tools,
                              bool add_generation_prompt, cc_err *err);
/* engine_model_chat_apply with the generation prompt, without the leading BOS text that
 * engine_tokenize(add_bos) adds for a model that wants one (for conversations with tools and
 * tool turns, which only a template can render). */
char *engine_model_chat_prompt(const engine_model *m, const json_t *messages, const json_t *tools,
                               cc_err *err);
/* The prompt for a chat with an open assistant turn: the model's template
 * when it has one and it renders (*used_template set), else the recognised
 * format of engine_chat_render. Either way without the BOS that
 * engine_tokenize(add_bos) adds for a model that wants one (a template's
 * leading bos_token text is dropped). Returns a heap string. */
char *engine_model_chat_render(const engine_model *m, const engine_chat_msg *msgs, size_t n,
                               bool *used_template);
/* The system part of a chat prompt, for a context shift to keep (engine_request.system_part):
 * the leading system (or developer) messages of msgs rendered alone, the way
 * engine_model_chat_render rendered the prompt (the template when *used_template was set, else
 * the recognised format) but without the generation prompt and without the leading BOS text.
 * NULL when msgs does not start with a system message, the rendering fails, or prompt does
 * not start with that text. Returns a heap string. */
char *engine_model_chat_system_part(const engine_model *m, const engine_chat_msg *msgs, size_t n,
                                    bool used_template, const char *prompt);
/* The same for a prompt made by engine_model_chat_prompt (a JSON message array, the tools as
 * given to it: a template that describes them in the system turn keeps them too). */
char *engine_model_chat_prompt_system_part(const engine_model *m, const json_t *messages,
                                           const json_t *tools, const char *prompt);

/* ============================================================ context */

typedef struct engine_ctx engine_ctx;

/* How the KV cache stores keys and values. F16 (the default, as llama.cpp's) rounds each
 * value to a half float; Q8_0 keeps each head's vector in blocks of 32 (the last block of a
 * head shorter when the head dimension is not a multiple of 32) as 8-bit integers with one
 * half-float scale per block, about half the memory of F16, and attention multiplies the
 * keys with 8-bit integer dot products. */
typedef enum { ENGINE_KV_F16 = 0, ENGINE_KV_Q8_0 } engine_kv_type;
/* "f16" / "q8_0" (false: unknown name). */
bool engine_kv_type_parse(const char *name, engine_kv_type *out);
const char *engine_kv_type_name(engine_kv_type t);

/* n_ctx <= 0: min(model's training context, 4096). An F16 cache. */
engine_ctx *engine_ctx_new(const engine_model *m, engine_pool *pool, int n_ctx, cc_err *err);
engine_ctx *engine_ctx_new_kv(const engine_model *m, engine_pool *pool, int n_ctx,
                              engine_kv_type kv, cc_err *err);
engine_kv_type engine_ctx_kv_type(const engine_ctx *c);
/* Bytes allocated for the keys and values (scales included). */
size_t engine_ctx_kv_bytes(const engine_ctx *c);
/* Context shift (as llama.cpp's server does it): keeps the first n_keep cached tokens, drops
 * the n_discard after them and moves the rest down by n_discard positions, rotating their
 * keys back by n_discard positions (RoPE of the position difference), so the cache then
 * reads as if those tokens had been at their new positions; engine_ctx_pos() falls by
 * n_discard. The moved entries were computed with the dropped tokens in view, so they are
 * no longer a prefix a new prompt may reuse beyond n_keep (see engine_ctx_reusable). */
int engine_ctx_shift(engine_ctx *c, int n_keep, int n_discard, cc_err *err);
/* How many leading cached tokens a new prompt may reuse: engine_ctx_pos(), or after a shift
 * at most its n_keep (until the cache is truncated that far). */
int engine_ctx_reusable(const engine_ctx *c);
void engine_ctx_free(engine_ctx *c);
int engine_ctx_size(const engine_ctx *c);
int engine_ctx_pos(const engine_ctx *c); /* tokens in the KV cache */
/* Forgets everything from position pos on (pos <= current). */
void engine_ctx_truncate(engine_ctx *c, int pos);
/* The tokens now in the KV cache (engine_ctx_pos of them). */
const int32_t *engine_ctx_tokens(const engine_ctx *c);
/* Makes dst hold the first n cached tokens of src (keys, values and ids; same model): a
 * prompt evaluated once serves several sequences. */
int engine_ctx_copy_prefix(engine_ctx *dst, const engine_ctx *src, int n, cc_err *err);
/* Runs tokens through the model at the current position (batched), appends
 * them to the KV cache and returns the logits of the last one (n_vocab
 * floats, owned by the context, valid until the next call). */
const float *engine_ctx_eval(engine_ctx *c, const int32_t *tokens, size_t n, cc_err *err);

/* One decode step for several sequences at once (1..32 contexts of the
 * same model and size, each given one token): the weights are read once for
 * all of them. Afterwards engine_ctx_logits(ctxs[i]) holds each one's
 * logits. The compute buffers of ctxs[0] are used. */
int engine_ctx_decode_batch(engine_ctx *const *ctxs, const int32_t *tokens, int n, cc_err *err);
/* One step for several sequences that each take a run of tokens: counts[i] >= 1 tokens
 * tokens[i] for ctxs[i] (1..ENGINE_STEP_MAX distinct contexts as for decode_batch), so a
 * scheduler puts prompt chunks and generated tokens into the same forward passes (of up to 64
 * tokens, a run may straddle two) and reads the weights once for all of them. Afterwards
 * engine_ctx_logits(ctxs[i]) holds the logits of ctxs[i]'s last token. Every token's results
 * are the bits it gets evaluated alone or in any other batch. On an error no context
 * changed. */
#define ENGINE_STEP_MAX 64
int engine_ctx_step_batch(engine_ctx *const *ctxs, const int32_t *const *tokens, const int *counts,
                          int n, cc_err *err);
const float *engine_ctx_logits(const engine_ctx *c);

/* ============================================================ sampling */

typedef struct engine_sample_params {
    float temperature;       /* 0 = greedy */
    int top_k;               /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    uint64_t seed;           /* reproducible stream */
    float repeat_penalty;    /* 1 = off (llama.cpp style, on the last repeat_last_n tokens) */
    int repeat_last_n;       /* 0 = whole history */
    float frequency_penalty; /* OpenAI */
    float presence_penalty;  /* OpenAI */
    int top_logprobs;        /* alternatives to report per token (0..20) */
    /* OpenAI logit_bias: bias_values[i] is added to the logit of bias_ids[i] before any other
     * step (-100 bans a token, +100 all but forces it). Borrowed: the sampler copies them; an
     * engine_request owns its arrays (engine_request_free frees them). */
    const int32_t *bias_ids;
    const float *bias_values;
    int n_bias;
} engine_sample_params;

void engine_sample_params_default(engine_sample_params *p);

#define ENGINE_MAX_TOP_LOGPROBS 20

typedef struct engine_logprob {
    int32_t id;
    float logprob; /* of the chosen token under the unmodified distribution */
    int n_top;
    int32_t top_ids[ENGINE_MAX_TOP_LOGPROBS];
    float top_logprobs[ENGINE_MAX_TOP_LOGPROBS];
} engine_logprob;

typedef struct engine_sampler engine_sampler;
engine_sampler *engine_sampler_new(const engine_sample_params *p, int n_vocab);
void engine_sampler_free(engine_sampler *s);
/* Picks the next token. history: tokens the penalties look at (prompt and
 * generated, generated penalised by OpenAI penalties). lp (optional) gets
 * the chosen token's log-probability and the top alternatives. */
int32_t engine_sampler_sample(engine_sampler *s, const float *logits, const int32_t *history,
                              size_t n_history, size_t n_generated, engine_logprob *lp);
/* Restricts the following draws to tokens with allow[id] != 0 (n_vocab bytes, borrowed until
 * the next call; NULL: all). Log-probabilities stay those of the model's own distribution. */
void engine_sampler_set_allowed(engine_sampler *s, const uint8_t *allow);

/* ============================================================ grammars */

/* A grammar the sampled text must follow (grammar-constrained sampling), written in a
 * GBNF-like text: rules `name ::= alternatives`, alternatives separated by `|`, sequences of
 * "literals" (escapes \n \t \r \\ \" \xHH for a byte, \uHHHH for a code point's UTF-8),
 * byte classes [a-z\x80-\xbf] and [^...], rule names, ( groups ), and the postfixes * + ?
 * {m} {m,} {m,n} (bounds up to 256); # comments. It matches bytes: multi-byte characters are
 * written as byte sequences. Undefined rules, left recursion and oversized grammars are
 * refused with a message naming the rule or the place. */
typedef struct engine_grammar engine_grammar;
engine_grammar *engine_grammar_parse(const char *text, size_t len, const char *root, cc_err *err);
void engine_grammar_free(engine_grammar *g);
/* Whether the bytes are a whole sentence of the grammar / the start of one. */
bool engine_grammar_accepts(const engine_grammar *g, const void *bytes, size_t n);
bool engine_grammar_accepts_prefix(const engine_grammar *g, const void *bytes, size_t n);

/* A model's vocabulary sorted by the tokens' bytes, as grammar matching walks it; building one
 * sorts the whole vocabulary, so a server builds it once and lends it to every sequence. */
typedef struct engine_gvocab engine_gvocab;
engine_gvocab *engine_gvocab_new(const engine_model *m);
void engine_gvocab_free(engine_gvocab *v);

/* A JSON schema compiled to a grammar text (root rule "root") whose sentences are JSON
 * documents valid under the schema (schema NULL: any JSON object). Supported: type (object,
 * array, string, number, integer, boolean, null, or a list of them), properties, required,
 * additionalProperties (only declared properties are generated when properties are given),
 * items, enum, const, anyOf, minLength/maxLength, minItems/maxItems; title, description,
 * default, examples, $schema, $id, $comment, strict are ignored. Any other keyword is
 * refused: *bad_keyword (if not NULL) is set to its name (static or borrowed from schema)
 * and err says where. Returns a heap string. */
char *engine_json_schema_gbnf(const json_t *schema, const char **bad_keyword, cc_err *err);
/* The same, parsed. */
engine_grammar *engine_grammar_from_json_schema(const json_t *schema, const char **bad_keyword,
                                                cc_err *err);
/* The same document between fixed texts (before and after; NULL: none), e.g. a tool call's
 * JSON inside its family's markers. */
engine_grammar *engine_grammar_from_json_schema_wrapped(const json_t *schema, const char *before,
                                                        const char *after, const char **bad_keyword,
                                                        cc_err *err);

/* ============================================================ generation */

/* Streams detokenized text out of a token sequence: handles byte tokens that
 * make up a multi-byte UTF-8 character, SentencePiece's leading space after
 * BOS, and stop strings (text that might start a stop string is held back
 * until it is decided). */
typedef struct engine_detok engine_detok;
engine_detok *engine_detok_new(const engine_model *m, const char *const *stops, size_t n_stops);
void engine_detok_free(engine_detok *d);
/* Feeds a token; appends the text now safe to emit to out. Returns true when
 * a stop string matched (out holds the text before it; stop here). */
bool engine_detok_push(engine_detok *d, int32_t id, int32_t prev_id, cc_buf *out);
/* Flushes the held-back text at the end of generation. */
void engine_detok_flush(engine_detok *d, cc_buf *out);

typedef enum { ENGINE_FINISH_STOP = 0, ENGINE_FINISH_LENGTH } engine_finish;

/* One generation over a context: the prompt (reusing whatever prefix of it
 * the context already holds), then sampled tokens until an end token, a
 * stop string, max_tokens or a full context. */
typedef struct engine_seq_params {
    engine_sample_params sp;
    int64_t max_tokens; /* 0 = until the context is full */
    const char *const *stops;
    size_t n_stops;
    bool logprobs;
    int prompt_chunk; /* prompt tokens per step (0 = all in one step) */
    /* Constrained sampling (borrowed, must outlive the sequence; NULL: none): only tokens
     * whose bytes continue a sentence of the grammar are sampled, an end token only where
     * the grammar can end. */
    const engine_grammar *grammar;
    const engine_gvocab *gvocab; /* borrowed, optional: the model's sorted vocabulary */
    /* When the context fills before max_tokens (> 0) tokens were generated: shift it
     * (engine_ctx_shift: the first n_keep tokens kept, half of the rest dropped) and go on;
     * false, or max_tokens 0: the generation ends with length. */
    bool context_shift;
    /* The prompt's first tokens a shift keeps (its system part: engine_server computes it
     * from engine_request.system_part), at most the prompt's length. 0, or so many that less
     * than a quarter of the context would be left to drop: only the first token when it is
     * BOS, so that every shift frees a good part of the context. */
    int n_keep;
} engine_seq_params;

typedef struct engine_step {
    bool finished;
    engine_finish finish;
    bool has_token; /* a token was generated in this step */
    int choice;     /* which of the request's choices (engine_request.n_choices) */
    int32_t token;
    engine_logprob lp; /* when logprobs were asked for */
} engine_step;

typedef struct engine_seq engine_seq;
/* Borrows c and prompt's contents are copied. Fails when the prompt does
 * not fit the context. */
engine_seq *engine_seq_new(engine_ctx *c, const engine_tokens *prompt, const engine_seq_params *p,
                           cc_err *err);
void engine_seq_free(engine_seq *s);
/* Does one step (a prompt chunk or one token); text released by this step
 * is appended to text_out. Returns -1 on an internal error. */
int engine_seq_step(engine_seq *s, cc_buf *text_out, engine_step *st, cc_err *err);
/* The same step in two halves, so a scheduler can evaluate the next tokens
 * of several sequences in one engine_ctx_decode_batch: while
 * engine_seq_in_prompt() is false, engine_seq_sample() picks and emits a
 * token and sets *next to the token to evaluate (-1 when finished); the
 * caller evaluates it on engine_seq_ctx() and hands the logits back. */
bool engine_seq_in_prompt(const engine_seq *s);
int engine_seq_sample(engine_seq *s, cc_buf *text_out, engine_step *st, int32_t *next, cc_err *err);
void engine_seq_set_logits(engine_seq *s, const float *logits);
/* The prompt the same way: while engine_seq_in_prompt(), the next at most max (0: no bound)
 * prompt tokens to evaluate (also at most the prompt_chunk), at *tokens, valid until the
 * sequence's next call; the caller evaluates them (engine_ctx_step_batch) and hands the
 * logits back. 0 once the prompt is in. */
size_t engine_seq_prompt_next(const engine_seq *s, size_t max, const int32_t **tokens);
engine_ctx *engine_seq_ctx(const engine_seq *s);
size_t engine_seq_prompt_tokens(const engine_seq *s);
size_t engine_seq_cached_tokens(const engine_seq *s); /* prompt tokens found in the cache */
size_t engine_seq_generated(const engine_seq *s);

/* ============================================================ requests */

/* One generation to run: a prompt and how to sample (owned;
 * engine_request_free). Callers fill it with cc_calloc'd memory: the
 * worker's embedded backend builds it from a validated OpenAI request. */
typedef struct engine_request {
    char *prompt;       /* prompt text (a chat: the template's output) */
    bool parse_special; /* prompt contains template control tokens */
    int64_t max_tokens; /* 0 = until the context is full */
    engine_sample_params sp;
    bool logprobs; /* report each token's log-probability (and sp.top_logprobs alternatives) */
    char *stops[4];
    size_t n_stops;
    engine_grammar *grammar; /* owned; NULL: unconstrained */
    /* Choices (OpenAI's n; 0 or 1: one): the prompt is evaluated once and its cache copied to
     * a slot per choice; choice c samples with its own stream (seed + c x a large odd
     * constant). All need a slot at once: more than the server's slots is refused. */
    int n_choices;
    /* max_tokens was the caller's own (not a cap added on the way): with
     * ENGINE_OVERFLOW_ERROR a prompt plus max_tokens beyond the context is refused. */
    bool max_tokens_asked;
    /* A chat's system part (engine_model_chat_system_part; NULL: none, e.g. a completion):
     * with ENGINE_OVERFLOW_SHIFT and ENGINE_KEEP_SYSTEM a shift keeps the prompt's tokens it
     * accounts for (the longest common prefix of its ids, tokenized as the prompt is, and the
     * prompt's: the tokens at the boundary may differ). */
    char *system_part;
} engine_request;

void engine_request_free(engine_request *r);

/* ============================================================ server */

/*
 * engine_server: a scheduler thread that owns the contexts (slots) and serves
 * requests concurrently, one forward step per active slot in turn.  Callbacks
 * run ON THE SCHEDULER THREAD; the caller marshals them where it wants (the
 * worker's backend moves them onto its libevent loop).  For one job they come
 * in order: on_start, on_step*, then exactly one on_done (a job refused,
 * cancelled before it started or failed early gets only on_done).  All
 * strings and structs passed to callbacks are borrowed for the call.
 */
typedef struct engine_server engine_server;
typedef struct engine_job engine_job;

typedef struct engine_usage {
    int64_t prompt_tokens, completion_tokens;
    int64_t cached_tokens; /* prompt tokens whose KV entries were reused */
} engine_usage;

/* How a job ended (engine_job_result.status). The engine knows nothing of
 * the network: the worker maps these to COCOON's protocol codes. */
typedef enum {
    ENGINE_JOB_OK = 0,    /* generation ended (finish says why) */
    ENGINE_JOB_REFUSED,   /* the request cannot run: empty prompt, too long for the context */
    ENGINE_JOB_FAILED,    /* an internal error while computing */
    ENGINE_JOB_CANCELLED, /* engine_job_cancel or engine_server_free */
} engine_job_status;

typedef struct engine_job_result {
    engine_job_status status;
    engine_finish finish; /* ENGINE_JOB_OK: stop (end token, stop string) or length */
    engine_usage usage;   /* the prompt counted once, the completions of every choice */
    const char *error;    /* why, for every other status */
    /* ENGINE_JOB_OK: each choice's finish (finish_of[0] == finish) */
    int n_choices;
    const engine_finish *finish_of;
} engine_job_result;

typedef struct engine_job_callbacks {
    /* Once, when the job has a slot and its prompt fits: steps follow. */
    void (*on_start)(void *ud);
    /* A generation step: the text it released (may be empty) and its token
     * (st->has_token; st->lp holds log-probabilities when asked for). */
    void (*on_step)(void *ud, const char *text, size_t len, const engine_step *st);
    void (*on_done)(void *ud, const engine_job_result *res);
} engine_job_callbacks;

/* What happens to a request that outgrows a slot's context. */
typedef enum {
    /* Refused (ENGINE_JOB_REFUSED, naming the context size) when the prompt plus the
     * caller's max_tokens does not fit; without max_tokens the generation ends with length
     * when the context is full. As OpenAI's API and vLLM answer. */
    ENGINE_OVERFLOW_ERROR = 0,
    /* The context is shifted (engine_seq_params.context_shift) so a generation with
     * max_tokens goes on past it; a prompt longer than the context is still refused. */
    ENGINE_OVERFLOW_SHIFT,
} engine_overflow;
bool engine_overflow_parse(const char *name, engine_overflow *out); /* "error" / "shift" */
const char *engine_overflow_name(engine_overflow o);

/* What a context shift keeps at the start of a slot's context (with ENGINE_OVERFLOW_SHIFT). */
typedef enum {
    /* A chat's system part (engine_request.system_part), BOS included: the model keeps its
     * instructions however long the conversation runs. BOS only for a completion, a chat
     * without a leading system message, or a system part too long to keep (n_keep in
     * engine_seq_params). */
    ENGINE_KEEP_SYSTEM = 0,
    ENGINE_KEEP_BOS, /* only BOS (llama.cpp's server without n_keep) */
} engine_keep;
bool engine_keep_parse(const char *name, engine_keep *out); /* "system" / "bos" */
/* How many of a chat prompt's tokens are its system part: the longest common prefix of the
 * prompt's ids and those of system_part tokenized as the prompt is (with BOS, parse_special
 * as the prompt's); a token at the boundary may differ. */
size_t engine_system_part_tokens(const engine_model *m, const engine_tokens *prompt,
                                 const char *system_part, bool parse_special);
const char *engine_keep_name(engine_keep k);

typedef struct engine_server_config {
    int threads; /* 0 = cores */
    int slots;   /* 0 = 4 */
    int n_ctx;   /* per slot; 0 = min(model, 4096) */
    engine_kv_type kv_type;
    engine_overflow overflow;
    engine_keep keep; /* what a shift keeps (ENGINE_KEEP_SYSTEM, the default) */
} engine_server_config;

/* Takes ownership of m. */
engine_server *engine_server_new(engine_model *m, const engine_server_config *cfg, cc_err *err);
/* Stops the thread; jobs still pending get on_done(ENGINE_JOB_CANCELLED). */
void engine_server_free(engine_server *s);
const engine_model *engine_server_model(const engine_server *s);
int engine_server_slots(const engine_server *s); /* the most choices one request may have */
/* Queues a request (ownership of req passes to the server). The
 * returned handle stays valid until on_done has returned. */
engine_job *engine_server_submit(engine_server *s, engine_request *req,
                                 const engine_job_callbacks *cb, void *ud);
/* Asks the job to stop; on_done(ENGINE_JOB_CANCELLED) follows (unless it already finished). */
void engine_job_cancel(engine_job *j);
/* Figures for monitoring. */
typedef struct engine_server_stats {
    int64_t requests, active, queued, prompt_tokens, completion_tokens;
    double busy_seconds;
} engine_server_stats;
void engine_server_get_stats(engine_server *s, engine_server_stats *out);

/* ============================================================ bench */

typedef struct engine_bench_result {
    double prompt_tok_s, gen_tok_s; /* best of the repetitions */
    uint64_t weight_bytes;          /* read per generated token */
    double weights_gb_s;            /* weight_bytes x gen_tok_s */
    double batch_tok_s;             /* n_seq sequences decoding together, all tokens */
} engine_bench_result;

/* Prompt of n_prompt random tokens in one batch; then n_gen greedy tokens
 * one at a time from BOS; with n_seq > 1, also n_seq sequences decoding
 * n_gen tokens each in batched steps. */
int engine_bench_run(const engine_model *m, engine_pool *pool, int n_prompt, int n_gen, int reps,
                     int n_seq, engine_kv_type kv, engine_bench_result *out, cc_err *err);
/* Streaming-read bandwidth in GB/s over a buffer of `bytes`, read by all
 * the pool's threads (pool may be NULL: one thread). */
double engine_bench_bandwidth(engine_pool *pool, size_t bytes, int reps);

/* ============================================================ misc */

/* "name@sha256:<hex of the file>" (heap string). */
char *engine_model_identifier(const char *path, const char *name, cc_err *err);

/* Synthetic model options for `cocoon engine synth`. */
typedef struct engine_synth_config {
    engine_arch arch;
    int n_layer, dim, hidden_dim, n_head, n_head_kv, n_vocab, n_ctx;
    uint32_t wtype; /* type of the big matrices */
    uint64_t seed;
    bool bpe_vocab;          /* gpt2-style tokenizer instead of SentencePiece */
    bool rope_freqs;         /* write a rope_freqs.weight tensor (llama 3.1 style) */
    float rope_linear_scale; /* > 0: linear RoPE scaling with this factor */
    float rope_yarn_factor;  /* > 0: YaRN scaling with this factor (instead of linear) */
    int rope_yarn_orig_ctx;  /* YaRN's original context length (0: not written) */
} engine_synth_config;
void engine_synth_config_default(engine_synth_config *c);
/* Writes a random-weight GGUF file. */
int engine_synth_write(const engine_synth_config *c, const char *path, cc_err *err);
/* Same into memory (appended to out). */
int engine_synth_buf(const engine_synth_config *c, cc_buf *out, cc_err *err);

#endif
