/*
 * Internal declarations shared by the engine's own files (not a public API:
 * other modules use engine.h).
 */
#ifndef COCOON_ENGINE_INT_H
#define COCOON_ENGINE_INT_H

#include "engine/engine.h"

/* A weight matrix W[rows][cols] (y = W x), rows stored contiguously. */
typedef struct eng_tensor {
    uint32_t type;
    int rows, cols;
    size_t row_bytes;
    const uint8_t *data;
    /* Rows [0, packed_rows) are stored in groups of eight interleaved rows
     * (blk_q8_0x8 / blk_q4_0x8 / blk_q4_kx8 / blk_q6_kx8, see pack.c); the
     * rows after them as usual. */
    int packed_rows;
} eng_tensor;

/* Block layouts (ggml's). */
#define QK8_0 32
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} blk_q8_0;
#define QK4_0 32
typedef struct {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} blk_q4_0;
#define QK_K 256
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} blk_q4_k;
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} blk_q6_k;

/* Eight Q8_0 or Q4_0 rows interleaved, one block of each (pack.c): the
 * eight scales, then the quants four bytes of each row at a time, so one
 * 32-byte vector holds the same four columns of the eight rows and a
 * product with one input ends with the eight rows' sums in the eight lanes.
 * Q8_0: qs[32k + 4r + j] is value 4k + j of row r (k < 8). Q4_0: qs[32m +
 * 4r + j] is byte 4m + j of row r's block (low nibble value 4m + j, high
 * nibble value 16 + 4m + j; m < 4). Same size as the eight blocks. */
typedef struct {
    uint16_t d[8];
    int8_t qs[8 * QK8_0];
} blk_q8_0x8;
typedef struct {
    uint16_t d[8];
    uint8_t qs[8 * QK4_0 / 2];
} blk_q4_0x8;
/* Eight Q4_K rows interleaved, one super-block of each: the eight d, the
 * eight dmin, then the rows' 12 scale bytes and their quants, both four
 * bytes of each row at a time. scales[32p + 4r + j] is scale byte 4p + j of
 * row r (p < 3), so the kernel unpacks the 6-bit scales and minimums of the
 * eight rows with a few whole-vector operations; qs[32m + 4r + j] is quant
 * byte 4m + j of row r (m < 32: low nibble value 64(m / 8) + 4(m % 8) + j of
 * the row, high nibble the same + 32). Same size as the eight blocks. */
typedef struct {
    uint16_t d[8], dmin[8];
    uint8_t scales[8 * 12];
    uint8_t qs[8 * QK_K / 2];
} blk_q4_kx8;
/* Rows of Q4_K wider than this are not packed (the kernel keeps a small
 * per-input table on the stack). */
#define ENG_X8_Q4K_MAX_COLS 16384
/* Eight Q6_K rows interleaved, one super-block of each (1680 bytes, the
 * eight blocks' size): the eight d; the 16 scales of each row in pairs,
 * scales[16p + 2r + i] = row r's scale 2p + i (p < 8), so 16 bytes widened to
 * 16 bits give each row's lane the two scales of input block p; then per
 * sub-block s (16 values, s < 16) three 32-byte vectors, byte 4r + j of each
 * for row r: with q_c the row's value 16s + 4c + j (unsigned, 0..63, ggml's
 * value + 32), qs[96s + 32k + 4r + j] = q_k | (bits 2k, 2k + 1 of q_3) << 6
 * for k < 3. */
typedef struct {
    uint16_t d[8];
    int8_t scales[8 * QK_K / 16];
    uint8_t qs[8 * (QK_K / 2 + QK_K / 4)];
} blk_q6_kx8;
/* Rewrites the first rows / 8 * 8 rows of a Q8_0, Q4_0, Q4_K or Q6_K matrix in place
 * into groups of eight (same bytes in all); returns how many rows it packed:
 * 0 for other types, other row layouts, or a CPU without AVX2 (only the AVX2
 * kernels read the packed layout). */
int eng_pack_rows8(uint32_t type, uint8_t *data, int rows, int cols, size_t row_bytes);
/* Moves the 2 MB-aligned stretches inside [p, p + n), which must lie in a
 * private mapping of ours, onto anonymous memory advised for 2 MB pages,
 * bytes unchanged (hugemem.c); returns the bytes moved (0 where the system
 * cannot). */
size_t eng_mem_huge(void *p, size_t n);

/* Y[t][r] = dot(W row r, X[t]) for t < n and r in [r0, r1).  ldx/ldy are the
 * strides (in floats) between consecutive vectors.  scratch holds
 * ENG_SCRATCH_FLOATS(n, W->cols) floats (a dequantized row, or the inputs
 * quantized to 8 bits). */
#define ENG_SCRATCH_FLOATS(n, cols)                                                                \
    ((size_t)(n) * ((size_t)(cols) / 32 + 1) * 10 + (size_t)(n) * ((size_t)(cols) / 16 + 16) +     \
     (size_t)(cols) + 64)
void eng_matmul(const eng_tensor *W, const float *X, int n, int ldx, float *Y, int ldy, int r0,
                int r1, float *scratch);
float eng_dot_f32(const float *a, const float *b, int n);
/* y += a * x */
void eng_axpy(float *y, float a, const float *x, int n);

/* One attention head: softmax(q . k_p * scale) over positions p < len, then
 * the weighted sum of v_p into out (hd floats). The KV cache is half floats
 * (as llama.cpp's default): k and v advance by stride halves per position; sc
 * holds len floats of scratch. */
void eng_attend(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd, int len,
                float scale, float *sc, float *out);
void eng_attend_portable(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd,
                         int len, float scale, float *sc, float *out);
/* A prompt batch's attention a tile at a time: up to ENG_ATT_TILE queries of one KV head
 * (several tokens, or the query heads sharing it under grouped-query attention), each with
 * its own causal length len[j], so the tile reads each cached key and value once for all of
 * them. Every query's scores, softmax and weighted sum are computed with the one-query
 * kernel's operations in its order, so out[j] has the bits eng_attend (or eng_attend_q8)
 * gives for q[j] alone. sc[j] holds len[j] floats of scratch. */
#define ENG_ATT_TILE 4
typedef struct eng_att_tile {
    int n; /* 1 .. ENG_ATT_TILE */
    float scale;
    const float *q[ENG_ATT_TILE];
    float *out[ENG_ATT_TILE];
    float *sc[ENG_ATT_TILE];
    int len[ENG_ATT_TILE];
} eng_att_tile;
void eng_attend_tile(const eng_att_tile *t, const uint16_t *k, const uint16_t *v, int stride,
                     int hd);
void eng_attend_tile_portable(const eng_att_tile *t, const uint16_t *k, const uint16_t *v,
                              int stride, int hd);
/* Attention's softmax numerators in place: sc[p] = exp(sc[p] - mx) for p < len; returns
 * their sum (the portable attentions share it, so their bits agree). */
float eng_softmax_exp(float *sc, int len, float mx);
/* dst[i] = src[i] as a half float, rounded to nearest even (the KV cache's writes). */
void eng_f16_store(uint16_t *dst, const float *src, int n);
/* a[i] = silu(a[i]) * b[i] */
void eng_silu_mul(float *a, const float *b, int n);

/* The Q8_0 KV cache (kv_q8.c): a head's n values in ENG_KVQ_BLOCKS(n) blocks of up to 32,
 * each 8-bit integers and a scale (ggml's Q8_0 rounding: d = max |x| / 127, q = round(x / d)).
 * Heads of up to ENG_KVQ_MAX_HD values. */
#define ENG_KVQ_MAX_HD 512
#define ENG_KVQ_BLOCKS(n) (((n) + 31) / 32)
void eng_kvq_quantize(const float *x, int n, int8_t *qs, float *d);
/* The cache's writes and reads: scales as half floats. */
void eng_kvq_store(int8_t *qs, uint16_t *d, const float *x, int n);
void eng_kvq_load(float *x, const int8_t *qs, const uint16_t *d, int n);
/* eng_attend over a Q8_0 cache: quants advance by stride bytes per position, scales by
 * dstride halves. The query is quantized like the keys and their products are integer sums
 * per block. The portable and AVX2 versions agree to float rounding (the AVX2 one sums the
 * blocks' scaled products in another order and uses its own exp). */
void eng_attend_q8(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                   const uint16_t *vd, int stride, int dstride, int hd, int len, float scale,
                   float *sc, float *out);
void eng_attend_q8_portable(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                            const uint16_t *vd, int stride, int dstride, int hd, int len,
                            float scale, float *sc, float *out);
/* eng_attend_tile over a Q8_0 cache (arguments as eng_attend_q8's). */
void eng_attend_q8_tile(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                        const int8_t *vq, const uint16_t *vd, int stride, int dstride, int hd);
void eng_attend_q8_tile_portable(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                                 const int8_t *vq, const uint16_t *vd, int stride, int dstride,
                                 int hd);

/* AVX2/FMA variants (kernels_avx2.c), only called when the CPU has them. */
void eng_avx2_attend(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd,
                     int len, float scale, float *sc, float *out);
void eng_avx2_f16_store(uint16_t *dst, const float *src, int n);
/* hd a multiple of 8 (the Q8_0 one at most ENG_KVQ_MAX_HD). */
void eng_avx2_attend_tile(const eng_att_tile *t, const uint16_t *k, const uint16_t *v, int stride,
                          int hd);
void eng_avx2_attend_q8_tile(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                             const int8_t *vq, const uint16_t *vd, int stride, int dstride, int hd);

/* hd a multiple of 8 and at most ENG_KVQ_MAX_HD. */
void eng_avx2_attend_q8(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                        const uint16_t *vd, int stride, int dstride, int hd, int len, float scale,
                        float *sc, float *out);
void eng_avx2_silu_mul(float *a, const float *b, int n);
float eng_avx2_dot_f32(const float *a, const float *b, int n);
void eng_avx2_axpy(float *y, float a, const float *x, int n);
float eng_avx2_dot_row(uint32_t type, const void *row, const float *x, int n);
void eng_avx2_matvec_f32(const float *W, int cols, const float *x, float *y, int r0, int r1);
/* F16 rows [r0, r1) against n inputs (cols a multiple of 8): Y[t * ldy + r]
 * = row r . X[t * ldx ...], the same value for any n and row range (register
 * tiles of rows x inputs, one accumulator per pair). wide: NULL, or 4 * cols
 * floats of scratch where groups of four rows are widened once for all the
 * inputs (worth it for a batch). */
void eng_avx2_f16_rows(const uint16_t *W, int cols, const float *X, int n, size_t ldx, float *Y,
                       size_t ldy, int r0, int r1, float *wide);
/* The same contract with AVX-512 (kernels_avx512.c): 16-lane accumulators,
 * so its sums round differently from the AVX2 kernel's; cols a multiple of
 * 16. wide is not used (the tiles widen the half floats themselves). */
void eng_avx512_f16_rows(const uint16_t *W, int cols, const float *X, int n, size_t ldx, float *Y,
                         size_t ldy, int r0, int r1, float *wide);
bool eng_cpu_avx2(void);
/* AVX-512F on top of AVX2 (CPU and OS), unless the environment sets
 * COCOON_ENGINE_NO_AVX512 (to test and measure the AVX2 kernels on such a
 * CPU). Read once per process. */
bool eng_cpu_avx512(void);
/* AVX-VNNI too (only with gcc builds; false without AVX2). */
bool eng_cpu_vnni(void);
/* eng_cpu_avx512() (so COCOON_ENGINE_NO_AVX512 turns it off too) and
 * AVX-512 BW/VL/DQ and VNNI; asked once, then cached. */
bool eng_cpu_avx512vnni(void);

/* Activations quantized to 8 bits per 32 elements, for integer dot products
 * with Q8_0, Q4_0, Q4_K and Q6_K rows (like llama.cpp's Q8_0/Q8_K inputs). */
typedef struct eng_q8x {
    float d;
    union {
        int32_t isum; /* sum of qs, for the K-quants' minimums and Q4_0 */
        /* Q6_K inputs instead: the sums of qs[0..15] and qs[16..31] (at most
         * 16 x 127 each), for the packed kernel's offset of 32 (one madd
         * with a row's two scales). */
        int16_t half_sum[2];
    };
    int8_t qs[32];
} eng_q8x;
/* Y[t * ldy + r] = packed row r . input t (quantized, nbk = cols / 32 blocks
 * apart) for r in [r0, min(r1, W->packed_rows)); the same bits for any n
 * and row range. */
void eng_avx2_x8_rows(const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy, int r0,
                      int r1);
/* The Q6_K tiles of eng_avx2_x8_rows (kernels_x8_q6k.c): one packed group
 * (blk_q6_kx8, nb = cols / 32) against 1, 2, 3 or 4 inputs, the eight rows'
 * results of input t at y + t * ldy. */
void eng_avx2_q6_kx8_1(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy);
void eng_avx2_q6_kx8_2(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy);
void eng_avx2_q6_kx8_3(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy);
void eng_avx2_q6_kx8_4(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy);
/* The instruction sets of the packed tiles, best last; eng_avx2_x8_rows takes
 * the best this CPU has. All give the same bits. */
enum { ENG_X8_AVX2, ENG_X8_AVXVNNI, ENG_X8_AVX512VNNI };
/* eng_avx2_x8_rows with the tiles of `kind`; false (Y untouched) when this
 * CPU or build lacks them (tests compare the kinds). */
bool eng_x8_rows_kind(int kind, const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy,
                      int r0, int r1);
/* A tile: one group of eight packed rows (or two, 16 rows, the second group's
 * blocks right after the first's) against T inputs, T = 1..4 its index in a
 * table; y + t * ldy gets input t's row results. */
typedef void (*eng_x8_tile_fn)(const void *g, int nb, const eng_q8x *const *x, float *y,
                               size_t ldy);
/* kernels_x8_vnni.c: the tables of a VNNI kind for Q8_0 / Q4_0 / Q6_K (tiles8: eight
 * rows, NULL or a NULL entry for the AVX2 ones; tiles16: sixteen rows, NULL
 * or a NULL entry where eight-row tiles do better); false when the CPU, build
 * or type has none. */
bool eng_x8_vnni_tiles(int kind, uint32_t type, const eng_x8_tile_fn **tiles8,
                       const eng_x8_tile_fn **tiles16);
/* A Q4_K tile: as eng_x8_tile_fn, with xs[t] input t's paired 32-value
 * block sums (kernels_x8.c, q4k_x8_sums). */
typedef void (*eng_x8_q4k_fn)(const void *g, int nb, const eng_q8x *const *x,
                              const int32_t *const *xs, float *y, size_t ldy);
/* kernels_x8_vnni.c: the Q4_K tiles of a VNNI kind, eight and sixteen rows
 * (NULL entries where the AVX2 eight-row ones serve); false when the CPU,
 * build or kind has none (AVX-512 VNNI only). */
bool eng_x8_vnni_q4k_tiles(int kind, const eng_x8_q4k_fn **tiles8, const eng_x8_q4k_fn **tiles16);
bool eng_int8_type(uint32_t type);
/* The inputs of a product with `type` rows: one scale per 32 values, but
 * per 256 for Q4_K (every block of a 256-value group then has the same d). */
void eng_avx2_quantize_x(uint32_t type, const float *x, int n, eng_q8x *out);
float eng_avx2_dot_q(uint32_t type, const void *row, const eng_q8x *xq, int n);
/* The same for four inputs at once; false when the type has no such kernel. */
bool eng_avx2_dot_q4x(uint32_t type, const void *row, const eng_q8x *const xq[4], int n,
                      float out[4]);
/* Q4_K: an input's per-256-value scale vectors (16 floats per 256 values,
 * n / 16 floats in all), computed once per matrix product. */
void eng_avx2_q4k_x_scales(const eng_q8x *xq, int n, float *out);
/* Tests: one Q8_0 or Q4_K row dot by the AVX2 kernel (out[0]) and by the
 * AVX-VNNI one (out[1]); false (out[1] untouched) for other types or when
 * this CPU or build has no VNNI. */
bool eng_avx2_dot_q_both(uint32_t type, const void *row, const eng_q8x *xq, int n, float out[2]);
/* Q4_K rows [r0, r1) against four inputs; y[t * ldy + r] gets row r . input t,
 * bit-identical to eng_avx2_dot_q. */
void eng_avx2_q4k_rows4(const uint8_t *data, size_t row_bytes, int n, const eng_q8x *const xq[4],
                        const float *const xsc[4], float *y, size_t ldy, int r0, int r1);
/* y[r] = eng_avx2_dot_q(type, row r, xq, n) for r in [r0, r1), rows row_bytes apart. */
void eng_avx2_matvec_q(uint32_t type, const uint8_t *data, size_t row_bytes, const eng_q8x *xq,
                       int n, float *y, int r0, int r1);

float eng_dot_row_portable(uint32_t type, const void *row, const float *x, int n);

/* Tokenizer internals (vocab.c), built by model.c. */
typedef struct eng_vocab eng_vocab;
eng_vocab *eng_vocab_load(const engine_gguf *g, int n_vocab_model, cc_err *err);
void eng_vocab_free(eng_vocab *v);

typedef struct eng_layer {
    const float *attn_norm, *ffn_norm;
    const float *q_norm, *k_norm; /* qwen3: per-head RMSNorm weights (head_dim) */
    const float *bq, *bk, *bv;    /* qwen2: projection biases */
    eng_tensor wq, wk, wv, wo, w_gate, w_up, w_down;
} eng_layer;

struct engine_model {
    engine_gguf *g;
    engine_hparams hp;
    eng_layer *layers;
    eng_tensor tok_embd, output;
    const float *output_norm;
    const float *rope_freqs; /* optional per-pair frequency divisors (llama 3.1+) */
    void **owned;            /* vectors converted to F32 */
    size_t n_owned;
    eng_vocab *vocab;
    bool vocab_only; /* engine_model_load_vocab: no weights, tokenizer only */
    engine_chat_kind chat;
    char *chat_template; /* tokenizer.chat_template (NULL: none) */
    uint64_t weight_bytes;
};

const engine_model *eng_ctx_model(const engine_ctx *c);

/* Vocabulary accessors used by the tokenizer and detokenizer. */
int eng_vocab_size(const eng_vocab *v);

/* ------------------------------------------------ grammar matching (grammar.c) */

/* A matcher state: the set of parse stacks, stored one after another as
 * [len, pos_0 .. pos_len-1] (top last; len 0: a complete sentence). */
typedef struct eng_gstate {
    uint32_t *v;
    size_t n, cap, n_stacks;
} eng_gstate;
void eng_gstate_init(const engine_grammar *g, eng_gstate *s);
void eng_gstate_free(eng_gstate *s);
void eng_gstate_copy(eng_gstate *dst, const eng_gstate *src);
/* out = the states reached from in by byte c; false when none (c cannot follow). scratch
 * (grown as needed) is the caller's reusable work buffer. */
bool eng_gstate_advance(const engine_grammar *g, const eng_gstate *in, uint8_t c, eng_gstate *out,
                        uint32_t **scratch, size_t *scratch_cap);
bool eng_gstate_can_end(const eng_gstate *s);  /* the bytes so far are a sentence */
bool eng_gstate_only_end(const eng_gstate *s); /* ... and nothing can follow */

/* Token-level matching (grammar_token.c): which tokens of a model's vocabulary can come next. */
typedef struct eng_gmatch eng_gmatch;
/* v: the model's sorted vocabulary (NULL: sorted here, for this matcher alone). */
eng_gmatch *eng_gmatch_new(const engine_grammar *g, const engine_model *m, const engine_gvocab *v);
void eng_gmatch_free(eng_gmatch *gm);
/* Bounds the matcher's automaton below its default (tests and benchmarks: 0 steps the states
 * themselves, as with the automaton full). */
void eng_gmatch_limit_states(eng_gmatch *gm, uint32_t max_states);
/* Whether token id may come next (end tokens: where the grammar can end). */
bool eng_gmatch_token_ok(eng_gmatch *gm, int32_t id);
/* allow[id] = 1 for every token that may come next, 0 for the others (n_vocab bytes). Returns
 * the number allowed. */
size_t eng_gmatch_mask(eng_gmatch *gm, uint8_t *allow);
/* Advances past a token (an end token changes nothing); false if it was not allowed. */
bool eng_gmatch_accept(eng_gmatch *gm, int32_t id);
/* How many masks filled the automaton midway and were computed over the states instead. */
uint64_t eng_gmatch_fallbacks(const eng_gmatch *gm);

#endif
