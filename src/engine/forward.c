/*
 * The forward pass of llama-family decoders (llama, qwen2, qwen3) with a
 * KV cache. Tokens are processed in batches (the prompt) or one at a time
 * (generation); matrix products are split by rows across the thread pool,
 * attention by tiles of queries sharing a KV head (att_worker).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

/* Tokens per forward step of a prompt: each step streams every weight once,
 * so a longer step reads less memory per token (64 rather than 32: about 5%
 * less CPU time for a prompt of the 134M-parameter F16 model, on a busy
 * machine whose memory was the bottleneck). */
#define BATCH 64
#define DECODE_MAX 32 /* sequences per engine_ctx_decode_batch (engine.h) */
/* Multiply-adds below which a product runs on one thread: handing work to
 * another core costs about a microsecond, a 64x64 product much less. */
#define MIN_WORK_PER_THREAD 32768

/* Queries below which a tile runs the one-query kernels instead: the AVX2 tiles compute
 * four queries' lanes whatever the tile, so a tile of two (generation with two query heads
 * per KV head) cost 10-50% more than two single queries in bench/engine/attention.sh; from
 * three on the shared reads win. */
#define ATT_TILE_MIN 3

/* A tile of a layer's attention (see att_worker). */
typedef struct att_span {
    int g, i0, n; /* KV head, first query (t * group + h % group), queries */
} att_span;

struct engine_ctx {
    const engine_model *m;
    engine_pool *pool;
    int n_ctx, pos, n_threads;
    engine_kv_type kv;
    uint16_t *kcache, *vcache; /* F16: [layer][n_ctx][kv_dim] half floats */
    int8_t *kq, *vq;           /* Q8_0: [layer][n_ctx][kv_dim] quants */
    uint16_t *kd, *vd;         /* Q8_0: [layer][n_ctx][kv_scales] half-float block scales */
    int kv_scales;             /* Q8_0: scales per position and layer (every head's blocks) */
    size_t kv_bytes;
    int reusable; /* after a shift: the prefix still valid for a new prompt (else n_ctx) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *tmp; /* [BATCH][...] */
    float *logits;
    float *batch_logits;        /* [DECODE_MAX][n_vocab], for decode steps of several contexts */
    float *rope_cos, *rope_sin; /* [BATCH][rope_dim/2] */
    float *scratch;             /* [threads][max cols] */
    float *scores;              /* [threads][ENG_ATT_TILE][n_ctx] */
    att_span *att_spans;        /* [BATCH * n_head] a layer's attention tiles */
    int64_t *att_cost;          /* [BATCH * n_head + 1] their running cost */
    int32_t *tokens;            /* [n_ctx] what the cache holds */
    size_t scratch_stride;
};

bool engine_kv_type_parse(const char *name, engine_kv_type *out)
{
    if (!strcmp(name, "f16"))
        *out = ENGINE_KV_F16;
    else if (!strcmp(name, "q8_0"))
        *out = ENGINE_KV_Q8_0;
    else
        return false;
    return true;
}

const char *engine_kv_type_name(engine_kv_type t)
{
    return t == ENGINE_KV_Q8_0 ? "q8_0" : "f16";
}

engine_ctx *engine_ctx_new(const engine_model *m, engine_pool *pool, int n_ctx, cc_err *err)
{
    return engine_ctx_new_kv(m, pool, n_ctx, ENGINE_KV_F16, err);
}

engine_ctx *engine_ctx_new_kv(const engine_model *m, engine_pool *pool, int n_ctx,
                              engine_kv_type kv, cc_err *err)
{
    const engine_hparams *hp = &m->hp;
    if (m->vocab_only) {
        cc_err_set(err, "the model was loaded for its tokenizer only");
        return NULL;
    }
    if (kv == ENGINE_KV_Q8_0 && hp->head_dim > ENG_KVQ_MAX_HD) {
        cc_err_set(err, "a Q8_0 KV cache takes heads of at most %d values (this model: %d)",
                   ENG_KVQ_MAX_HD, hp->head_dim);
        return NULL;
    }
    if (n_ctx <= 0) n_ctx = CC_MIN(hp->n_ctx_train, 4096);
    if (n_ctx > (1 << 20)) n_ctx = 1 << 20;
    size_t kvd = (size_t)hp->n_head_kv * hp->head_dim, qd = (size_t)hp->n_head * hp->head_dim;
    size_t cache = (size_t)hp->n_layer * n_ctx * kvd;
    if (cache > ((size_t)1 << 34) / sizeof(uint16_t)) {
        cc_err_set(err, "KV cache of %zu values is too large; use a smaller context", cache * 2);
        return NULL;
    }
    engine_ctx *c = cc_calloc(1, sizeof(*c));
    c->m = m;
    c->pool = pool;
    c->n_ctx = n_ctx;
    c->n_threads = pool ? engine_pool_threads(pool) : 1;
    c->kv = kv;
    c->reusable = n_ctx;
    if (kv == ENGINE_KV_Q8_0) {
        /* 8 bits and a half-float scale per 32 values: about half of F16 again, for a longer
         * context or more slots in the same memory. */
        c->kv_scales = hp->n_head_kv * ENG_KVQ_BLOCKS(hp->head_dim);
        size_t scales = (size_t)hp->n_layer * n_ctx * (size_t)c->kv_scales;
        c->kq = cc_calloc(cache, 1);
        c->vq = cc_calloc(cache, 1);
        c->kd = cc_calloc(scales, sizeof(uint16_t));
        c->vd = cc_calloc(scales, sizeof(uint16_t));
        c->kv_bytes = 2 * (cache + scales * sizeof(uint16_t));
    } else {
        /* Half floats, as llama.cpp keeps its cache by default: half the memory per token, half
         * the bytes attention reads, and the same rounding llama.cpp's answers are made with. */
        c->kcache = cc_calloc(cache, sizeof(uint16_t));
        c->vcache = cc_calloc(cache, sizeof(uint16_t));
        c->kv_bytes = 2 * cache * sizeof(uint16_t);
    }
    size_t wide = CC_MAX((size_t)hp->dim, qd);
    c->x = cc_calloc(BATCH * (size_t)hp->dim, sizeof(float));
    c->xb = cc_calloc(BATCH * wide, sizeof(float));
    c->tmp = cc_calloc(BATCH * wide, sizeof(float));
    c->q = cc_calloc(BATCH * qd, sizeof(float));
    c->k = cc_calloc(BATCH * kvd, sizeof(float));
    c->v = cc_calloc(BATCH * kvd, sizeof(float));
    c->att = cc_calloc(BATCH * qd, sizeof(float));
    c->hb = cc_calloc(BATCH * (size_t)hp->hidden_dim, sizeof(float));
    c->hb2 = cc_calloc(BATCH * (size_t)hp->hidden_dim, sizeof(float));
    c->logits = cc_calloc((size_t)hp->n_vocab, sizeof(float));
    c->batch_logits = NULL; /* allocated on first batched decode */
    c->rope_cos = cc_calloc(BATCH * (size_t)hp->rope_dim / 2, sizeof(float));
    c->rope_sin = cc_calloc(BATCH * (size_t)hp->rope_dim / 2, sizeof(float));
    /* a dequantized row, or the row's input quantized to eng_q8x blocks */
    c->scratch_stride =
        ENG_SCRATCH_FLOATS(BATCH, CC_MAX(CC_MAX((size_t)hp->hidden_dim, wide), 256));
    c->scratch = cc_calloc((size_t)c->n_threads * c->scratch_stride, sizeof(float));
    c->scores = cc_calloc((size_t)c->n_threads * ENG_ATT_TILE * (size_t)n_ctx, sizeof(float));
    c->att_spans = cc_calloc(BATCH * (size_t)hp->n_head, sizeof(*c->att_spans));
    c->att_cost = cc_calloc(BATCH * (size_t)hp->n_head + 1, sizeof(int64_t));
    c->tokens = cc_calloc((size_t)n_ctx, sizeof(int32_t));
    return c;
}

void engine_ctx_free(engine_ctx *c)
{
    if (!c) return;
    free(c->kcache);
    free(c->vcache);
    free(c->kq);
    free(c->vq);
    free(c->kd);
    free(c->vd);
    free(c->x);
    free(c->xb);
    free(c->tmp);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->logits);
    free(c->batch_logits);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->scratch);
    free(c->scores);
    free(c->att_spans);
    free(c->att_cost);
    free(c->tokens);
    free(c);
}

int engine_ctx_size(const engine_ctx *c)
{
    return c->n_ctx;
}
int engine_ctx_pos(const engine_ctx *c)
{
    return c->pos;
}

const int32_t *engine_ctx_tokens(const engine_ctx *c)
{
    return c->tokens;
}

const engine_model *eng_ctx_model(const engine_ctx *c)
{
    return c->m;
}

void engine_ctx_truncate(engine_ctx *c, int pos)
{
    if (pos >= 0 && pos < c->pos) c->pos = pos;
    if (c->pos <= c->reusable) c->reusable = c->n_ctx; /* what follows will be computed anew */
}

int engine_ctx_reusable(const engine_ctx *c)
{
    return CC_MIN(c->pos, c->reusable);
}

engine_kv_type engine_ctx_kv_type(const engine_ctx *c)
{
    return c->kv;
}

size_t engine_ctx_kv_bytes(const engine_ctx *c)
{
    return c->kv_bytes;
}

/* ------------------------------------------------------- parallel parts */

typedef struct mm_op {
    const eng_tensor *W;
    const float *X;
    float *Y;
    int ldx, ldy;
} mm_op;

typedef struct mm_job {
    engine_ctx *c;
    mm_op ops[3];
    int n_ops, nb;
} mm_job;

static void mm_worker(void *arg, int i, int n, int thread)
{
    mm_job *j = arg;
    float *scratch = j->c->scratch + (size_t)thread * j->c->scratch_stride;
    for (int o = 0; o < j->n_ops; o++) {
        const mm_op *op = &j->ops[o];
        int rows = op->W->rows;
        /* Chunk edges on multiples of eight rows: packed Q8_0/Q4_0 rows
         * are computed eight at a time (any edge gives the same values). */
        int r0 = (int)((int64_t)rows * i / n) & ~7,
            r1 = i + 1 == n ? rows : (int)((int64_t)rows * (i + 1) / n) & ~7;
        if (r1 > r0) eng_matmul(op->W, op->X, j->nb, op->ldx, op->Y, op->ldy, r0, r1, scratch);
    }
}

/* How many chunks to cut `work` multiply-adds into: one (run inline) when
 * it is too small to be worth another thread, else two per thread so a
 * late thread's share is picked up by the others. */
static int chunks_for(const engine_ctx *c, int64_t work)
{
    int64_t n = CC_MIN((int64_t)c->n_threads, work / MIN_WORK_PER_THREAD);
    return !c->pool || n <= 1 ? 1 : (int)n * 2;
}

static void run_mm(engine_ctx *c, mm_job *j)
{
    int64_t work = 0;
    for (int o = 0; o < j->n_ops; o++)
        work += (int64_t)j->ops[o].W->rows * j->ops[o].W->cols;
    work *= j->nb;
    j->c = c;
    int n = chunks_for(c, work);
    if (n <= 1)
        mm_worker(j, 0, 1, 0);
    else
        engine_pool_run(c->pool, n, mm_worker, j);
}

static void matmul1(engine_ctx *c, const eng_tensor *W, const float *X, int ldx, float *Y, int ldy,
                    int nb)
{
    mm_job j = {.ops = {{W, X, Y, ldx, ldy}}, .n_ops = 1, .nb = nb};
    run_mm(c, &j);
}

/* What the tokens of a forward step are: each token's sequence (whose KV
 * cache it extends and attends over) and position in it. One sequence's
 * prompt chunk has owner[t] == c and consecutive positions; a decode step
 * of several slots has one token per sequence. */
typedef struct eng_batch {
    int n;
    engine_ctx *owner[BATCH];
    int pos[BATCH];
} eng_batch;

/* A layer's attention as tiles of up to ENG_ATT_TILE queries sharing one KV head and one
 * cache (eng_att_tile). The queries of KV head g are (t, h) for the batch's tokens t and the
 * query heads h of g's group, token by token; a tile is a run of them with one owner. Tiles
 * go head by head, so a chunk of them keeps reading the same head's keys and values. */
typedef struct att_job {
    engine_ctx *c;
    const eng_batch *b;
    int layer, n_tiles;
    const att_span *tiles;
    const int64_t *cost; /* cost[i]: the summed causal lengths of tiles before i (n_tiles + 1) */
} att_job;

static void att_worker(void *arg, int chunk, int n_chunks, int thread)
{
    att_job *j = arg;
    engine_ctx *c = j->c;
    const engine_hparams *hp = &c->m->hp;
    int hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd;
    int group = hp->n_head / hp->n_head_kv;
    float *sc = c->scores + (size_t)thread * ENG_ATT_TILE * c->n_ctx;
    /* Chunks of equal work, not of equal tiles: a late token's tile sees more positions. */
    int64_t total = j->cost[j->n_tiles], lo = total * chunk / n_chunks,
            hi = total * (chunk + 1) / n_chunks;
    int a = 0;
    while (a < j->n_tiles && j->cost[a] < lo)
        a++;
    for (int ti = a; ti < j->n_tiles && j->cost[ti] < hi; ti++) {
        const att_span *sp = &j->tiles[ti];
        eng_att_tile t = {.n = sp->n, .scale = 1.0f / sqrtf((float)hd)};
        for (int k = 0; k < sp->n; k++) {
            int i = sp->i0 + k, tok = i / group, h = sp->g * group + i % group;
            t.q[k] = c->q + (size_t)tok * qd + (size_t)h * hd;
            t.out[k] = c->att + (size_t)tok * qd + (size_t)h * hd;
            t.len[k] = j->b->pos[tok] + 1;
            t.sc[k] = sc + (size_t)k * c->n_ctx;
        }
        const engine_ctx *o = j->b->owner[sp->i0 / group];
        size_t at = (size_t)j->layer * o->n_ctx * kvd, kvoff = (size_t)sp->g * hd;
        if (o->kv == ENGINE_KV_Q8_0) {
            size_t dat =
                (size_t)j->layer * o->n_ctx * o->kv_scales + (size_t)sp->g * ENG_KVQ_BLOCKS(hd);
            const int8_t *kq = o->kq + at + kvoff, *vq = o->vq + at + kvoff;
            if (t.n < ATT_TILE_MIN) /* the one-query kernel (same bits) */
                for (int k = 0; k < t.n; k++)
                    eng_attend_q8(t.q[k], kq, o->kd + dat, vq, o->vd + dat, kvd, o->kv_scales, hd,
                                  t.len[k], t.scale, t.sc[k], t.out[k]);
            else
                eng_attend_q8_tile(&t, kq, o->kd + dat, vq, o->vd + dat, kvd, o->kv_scales, hd);
        } else {
            const uint16_t *kv_k = o->kcache + at + kvoff, *kv_v = o->vcache + at + kvoff;
            if (t.n < ATT_TILE_MIN)
                for (int k = 0; k < t.n; k++)
                    eng_attend(t.q[k], kv_k, kv_v, kvd, hd, t.len[k], t.scale, t.sc[k], t.out[k]);
            else
                eng_attend_tile(&t, kv_k, kv_v, kvd, hd);
        }
    }
}

/* The batch's tiles (att_span) and their running cost into c's buffers; returns how many. */
static int att_tiles(engine_ctx *c, const eng_batch *b)
{
    const engine_hparams *hp = &c->m->hp;
    int group = hp->n_head / hp->n_head_kv, nq = b->n * group, n = 0;
    c->att_cost[0] = 0;
    for (int g = 0; g < hp->n_head_kv; g++)
        for (int i = 0; i < nq;) {
            const engine_ctx *o = b->owner[i / group];
            att_span sp = {g, i, 0};
            int64_t cost = 0;
            for (; i < nq && sp.n < ENG_ATT_TILE && b->owner[i / group] == o; i++, sp.n++)
                cost += b->pos[i / group] + 1;
            c->att_spans[n] = sp;
            c->att_cost[n + 1] = c->att_cost[n] + cost;
            n++;
        }
    return n;
}

/* ------------------------------------------------------- small pieces */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    float ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float s = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * s * w[i];
}

/* The angle per position of RoPE pair i (scaling applied). */
static float rope_freq(const engine_model *m, int i)
{
    const engine_hparams *hp = &m->hp;
    float freq = powf(hp->rope_base, -2.0f * (float)i / (float)hp->rope_dim);
    if (m->rope_freqs) /* llama 3.1+: per-pair divisors of the frequency */
        freq /= m->rope_freqs[i];
    float scaled = freq * hp->rope_pos_scale;
    if (hp->rope_yarn_ext != 0.0f) { /* YaRN: fast pairs keep their frequency, ramped */
        float y =
            ((float)i - hp->rope_yarn_lo) / fmaxf(0.001f, hp->rope_yarn_hi - hp->rope_yarn_lo);
        float keep = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * hp->rope_yarn_ext;
        scaled = scaled * (1.0f - keep) + freq * keep;
    }
    return scaled;
}

static void rope_tables(engine_ctx *c, const eng_batch *b)
{
    int nb = b->n;
    const engine_hparams *hp = &c->m->hp;
    int half = hp->rope_dim / 2;
    for (int i = 0; i < half; i++) {
        float scaled = rope_freq(c->m, i);
        float ms = hp->rope_mscale;
        for (int t = 0; t < nb; t++) {
            float a = (float)b->pos[t] * scaled;
            c->rope_cos[t * half + i] = cosf(a) * ms;
            c->rope_sin[t * half + i] = sinf(a) * ms;
        }
    }
}

/* Rotates the first rope_dim elements of each head of vec (n_heads heads) by the angles
 * whose cosines and sines are cs and sn (rope_dim / 2 each). */
static void rope_rotate(const engine_hparams *hp, float *vec, int n_heads, const float *cs,
                        const float *sn)
{
    int half = hp->rope_dim / 2, hd = hp->head_dim;
    for (int h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            /* normal mode: pairs (2i, 2i+1); neox: pairs (i, i + rope_dim/2) */
            int a = hp->neox_rope ? i : 2 * i, b = hp->neox_rope ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs[i] - x1 * sn[i];
            v[b] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

static void rope(const engine_ctx *c, float *vec, int n_heads, int t)
{
    int half = c->m->hp.rope_dim / 2;
    rope_rotate(&c->m->hp, vec, n_heads, c->rope_cos + t * half, c->rope_sin + t * half);
}

static void add_bias(float *v, const float *b, int n)
{
    if (b)
        for (int i = 0; i < n; i++)
            v[i] += b[i];
}

/* ------------------------------------------------------- a batch */

/* The per-token steps between the matrix products. Each token's arithmetic
 * is the same whichever thread does it, so spreading a prompt batch's tokens
 * over the pool keeps the results bit for bit. */
typedef enum tok_step {
    TOK_ATTN_NORM, /* xb = rmsnorm(x) */
    TOK_QKV,       /* biases, q/k norms, RoPE, K and V into the cache */
    TOK_FFN_NORM,  /* x += tmp (attention output), xb = rmsnorm(x) */
    TOK_SILU,      /* hb = silu(hb) * hb2 */
    TOK_RESIDUAL,  /* x += tmp (feed-forward output) */
} tok_step;

typedef struct tok_job {
    engine_ctx *c;
    const eng_batch *b;
    int layer;
    tok_step step;
} tok_job;

/* The cache entry of (layer, position) as floats (kvd each), and back. */
static void kv_read(const engine_ctx *o, int l, int p, float *k, float *v)
{
    const engine_hparams *hp = &o->m->hp;
    int hd = hp->head_dim, kvd = hp->n_head_kv * hd;
    size_t at = ((size_t)l * o->n_ctx + (size_t)p) * kvd;
    if (o->kv == ENGINE_KV_Q8_0) {
        size_t dat = ((size_t)l * o->n_ctx + (size_t)p) * o->kv_scales;
        for (int h = 0; h < hp->n_head_kv; h++) {
            size_t hq = (size_t)h * hd, hs = (size_t)h * ENG_KVQ_BLOCKS(hd);
            if (k) eng_kvq_load(k + hq, o->kq + at + hq, o->kd + dat + hs, hd);
            if (v) eng_kvq_load(v + hq, o->vq + at + hq, o->vd + dat + hs, hd);
        }
    } else
        for (int i = 0; i < kvd; i++) {
            if (k) k[i] = engine_f16_to_f32(o->kcache[at + i]);
            if (v) v[i] = engine_f16_to_f32(o->vcache[at + i]);
        }
}

static void kv_write(engine_ctx *o, int l, int p, const float *k, const float *v)
{
    const engine_hparams *hp = &o->m->hp;
    int hd = hp->head_dim, kvd = hp->n_head_kv * hd;
    size_t at = ((size_t)l * o->n_ctx + (size_t)p) * kvd;
    if (o->kv == ENGINE_KV_Q8_0) {
        size_t dat = ((size_t)l * o->n_ctx + (size_t)p) * o->kv_scales;
        for (int h = 0; h < hp->n_head_kv; h++) {
            size_t hq = (size_t)h * hd, hs = (size_t)h * ENG_KVQ_BLOCKS(hd);
            if (k) eng_kvq_store(o->kq + at + hq, o->kd + dat + hs, k + hq, hd);
            if (v) eng_kvq_store(o->vq + at + hq, o->vd + dat + hs, v + hq, hd);
        }
    } else {
        if (k) eng_f16_store(o->kcache + at, k, kvd);
        if (v) eng_f16_store(o->vcache + at, v, kvd);
    }
}

static void tok_one(const tok_job *j, int t)
{
    engine_ctx *c = j->c;
    const engine_hparams *hp = &c->m->hp;
    const eng_layer *ly = &c->m->layers[j->layer];
    int dim = hp->dim, hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd;
    int hid = hp->hidden_dim;
    float *x = c->x + (size_t)t * dim, *tmp = c->tmp + (size_t)t * dim;
    switch (j->step) {
    case TOK_ATTN_NORM:
        rmsnorm(c->xb + (size_t)t * dim, x, ly->attn_norm, dim, hp->norm_eps);
        break;
    case TOK_QKV: {
        float *q = c->q + (size_t)t * qd, *k = c->k + (size_t)t * kvd, *v = c->v + (size_t)t * kvd;
        add_bias(q, ly->bq, qd);
        add_bias(k, ly->bk, kvd);
        add_bias(v, ly->bv, kvd);
        if (ly->q_norm) {
            for (int h = 0; h < hp->n_head; h++)
                rmsnorm(q + h * hd, q + h * hd, ly->q_norm, hd, hp->norm_eps);
            for (int h = 0; h < hp->n_head_kv; h++)
                rmsnorm(k + h * hd, k + h * hd, ly->k_norm, hd, hp->norm_eps);
        }
        rope(c, q, hp->n_head, t);
        rope(c, k, hp->n_head_kv, t);
        kv_write(j->b->owner[t], j->layer, j->b->pos[t], k, v);
        break;
    }
    case TOK_FFN_NORM:
        for (int i = 0; i < dim; i++)
            x[i] += tmp[i];
        rmsnorm(c->xb + (size_t)t * dim, x, ly->ffn_norm, dim, hp->norm_eps);
        break;
    case TOK_SILU:
        eng_silu_mul(c->hb + (size_t)t * hid, c->hb2 + (size_t)t * hid, hid);
        break;
    case TOK_RESIDUAL:
        for (int i = 0; i < dim; i++)
            x[i] += tmp[i];
        break;
    }
}

static void tok_worker(void *arg, int chunk, int n_chunks, int thread)
{
    (void)thread;
    const tok_job *j = arg;
    int t0 = j->b->n * chunk / n_chunks, t1 = j->b->n * (chunk + 1) / n_chunks;
    for (int t = t0; t < t1; t++)
        tok_one(j, t);
}

/* One step for every token of the batch: on the pool when there are several
 * tokens (a prompt), inline for one. */
static void run_tokens(engine_ctx *c, const eng_batch *b, int l, tok_step step)
{
    tok_job j = {c, b, l, step};
    int n = c->pool && b->n > 1 ? CC_MIN(b->n, 2 * c->n_threads) : 1;
    if (n <= 1)
        tok_worker(&j, 0, 1, 0);
    else
        engine_pool_run(c->pool, n, tok_worker, &j);
}

static void layer_forward(engine_ctx *c, int l, const eng_batch *b)
{
    int nb = b->n;
    const engine_model *m = c->m;
    const engine_hparams *hp = &m->hp;
    const eng_layer *ly = &m->layers[l];
    int dim = hp->dim, hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd;
    int hid = hp->hidden_dim;

    run_tokens(c, b, l, TOK_ATTN_NORM);
    mm_job qkv = {.ops = {{&ly->wq, c->xb, c->q, dim, qd},
                          {&ly->wk, c->xb, c->k, dim, kvd},
                          {&ly->wv, c->xb, c->v, dim, kvd}},
                  .n_ops = 3,
                  .nb = nb};
    run_mm(c, &qkv);
    run_tokens(c, b, l, TOK_QKV);
    int n_tiles = att_tiles(c, b);
    att_job aj = {c, b, l, n_tiles, c->att_spans, c->att_cost};
    int64_t att_work = 0;
    for (int t = 0; t < nb; t++)
        att_work += (int64_t)hp->n_head * (b->pos[t] + 1) * hd * 2;
    int n = CC_MIN(chunks_for(c, att_work), n_tiles);
    if (n <= 1)
        att_worker(&aj, 0, 1, 0);
    else
        engine_pool_run(c->pool, n, att_worker, &aj);

    matmul1(c, &ly->wo, c->att, qd, c->tmp, dim, nb);
    run_tokens(c, b, l, TOK_FFN_NORM);
    mm_job ffn = {
        .ops = {{&ly->w_gate, c->xb, c->hb, dim, hid}, {&ly->w_up, c->xb, c->hb2, dim, hid}},
        .n_ops = 2,
        .nb = nb};
    run_mm(c, &ffn);
    run_tokens(c, b, l, TOK_SILU);
    matmul1(c, &ly->w_down, c->hb, hid, c->tmp, dim, nb);
    run_tokens(c, b, l, TOK_RESIDUAL);
}

/* Embeddings, every layer, and the tokens recorded in their caches. The
 * compute buffers are c's. */
static void forward_batch(engine_ctx *c, const eng_batch *b, const int32_t *tokens)
{
    const engine_model *m = c->m;
    int dim = m->hp.dim;
    for (int t = 0; t < b->n; t++)
        engine_dequant_row(m->tok_embd.type,
                           m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes,
                           c->x + (size_t)t * dim, (size_t)dim);
    rope_tables(c, b);
    for (int l = 0; l < m->hp.n_layer; l++)
        layer_forward(c, l, b);
    for (int t = 0; t < b->n; t++)
        b->owner[t]->tokens[b->pos[t]] = tokens[t];
}

const float *engine_ctx_eval(engine_ctx *c, const int32_t *tokens, size_t n, cc_err *err)
{
    const engine_model *m = c->m;
    const engine_hparams *hp = &m->hp;
    if (n == 0) {
        cc_err_set(err, "no tokens to evaluate");
        return NULL;
    }
    if ((size_t)c->pos + n > (size_t)c->n_ctx) {
        cc_err_set(err, "context full: %d + %zu tokens > %d", c->pos, n, c->n_ctx);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab) {
            cc_err_set(err, "token id %d out of range [0, %d)", tokens[i], hp->n_vocab);
            return NULL;
        }
    int dim = hp->dim;
    eng_batch b;
    for (size_t done = 0; done < n;) {
        int nb = (int)CC_MIN((size_t)BATCH, n - done);
        b.n = nb;
        for (int t = 0; t < nb; t++) {
            b.owner[t] = c;
            b.pos[t] = c->pos + t;
        }
        forward_batch(c, &b, tokens + done);
        c->pos += nb;
        done += (size_t)nb;
        if (done == n) {
            float *last = c->x + (size_t)(nb - 1) * dim;
            rmsnorm(c->xb, last, m->output_norm, dim, hp->norm_eps);
            matmul1(c, &m->output, c->xb, dim, c->logits, hp->n_vocab, 1);
        }
    }
    return c->logits;
}

/* The output norm and matrix for the nl hidden states at c->x rows rows[k]: each context
 * owns[k] gets its logits (DECODE_MAX at a time, in c->batch_logits). */
static void batch_output(engine_ctx *c, const int *rows, engine_ctx *const *owns, int nl)
{
    const engine_model *m = c->m;
    const engine_hparams *hp = &m->hp;
    int dim = hp->dim;
    if (!c->batch_logits)
        c->batch_logits = cc_malloc((size_t)DECODE_MAX * (size_t)hp->n_vocab * sizeof(float));
    for (int k0 = 0; k0 < nl; k0 += DECODE_MAX) {
        int k1 = CC_MIN(nl, k0 + DECODE_MAX);
        for (int k = k0; k < k1; k++)
            rmsnorm(c->xb + (size_t)(k - k0) * dim, c->x + (size_t)rows[k] * dim, m->output_norm,
                    dim, hp->norm_eps);
        matmul1(c, &m->output, c->xb, dim, c->batch_logits, hp->n_vocab, k1 - k0);
        for (int k = k0; k < k1; k++)
            memcpy(owns[k]->logits, c->batch_logits + (size_t)(k - k0) * hp->n_vocab,
                   (size_t)hp->n_vocab * sizeof(float));
    }
}

int engine_ctx_decode_batch(engine_ctx *const *ctxs, const int32_t *tokens, int n, cc_err *err)
{
    if (n < 1 || n > DECODE_MAX)
        return cc_err_set(err, "batch of %d sequences (1..%d allowed)", n, DECODE_MAX);
    engine_ctx *c = ctxs[0];
    const engine_model *m = c->m;
    const engine_hparams *hp = &m->hp;
    eng_batch b;
    b.n = n;
    for (int t = 0; t < n; t++) {
        engine_ctx *o = ctxs[t];
        if (o->m != m || o->n_ctx != c->n_ctx || o->kv != c->kv)
            return cc_err_set(err, "batched contexts must share model, size and cache type");
        for (int u = 0; u < t; u++)
            if (ctxs[u] == o) return cc_err_set(err, "a context appears twice in a batch");
        if (o->pos >= o->n_ctx) return cc_err_set(err, "context full: %d tokens", o->pos);
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab)
            return cc_err_set(err, "token id %d out of range [0, %d)", tokens[t], hp->n_vocab);
        b.owner[t] = o;
        b.pos[t] = o->pos;
    }
    forward_batch(c, &b, tokens);
    /* The output matrix is read once for every sequence; each sequence then gets its row of
     * logits. */
    int rows[DECODE_MAX];
    for (int t = 0; t < n; t++)
        rows[t] = t;
    batch_output(c, rows, ctxs, n);
    for (int t = 0; t < n; t++)
        ctxs[t]->pos++;
    return 0;
}

int engine_ctx_step_batch(engine_ctx *const *ctxs, const int32_t *const *tokens, const int *counts,
                          int n, cc_err *err)
{
    if (n < 1 || n > ENGINE_STEP_MAX)
        return cc_err_set(err, "step of %d sequences (1..%d allowed)", n, ENGINE_STEP_MAX);
    engine_ctx *c = ctxs[0];
    const engine_model *m = c->m;
    const engine_hparams *hp = &m->hp;
    for (int i = 0; i < n; i++) {
        const engine_ctx *o = ctxs[i];
        if (o->m != m || o->n_ctx != c->n_ctx || o->kv != c->kv)
            return cc_err_set(err, "batched contexts must share model, size and cache type");
        for (int u = 0; u < i; u++)
            if (ctxs[u] == o) return cc_err_set(err, "a context appears twice in a batch");
        if (counts[i] < 1 || counts[i] > o->n_ctx - o->pos)
            return cc_err_set(err, "context full: %d + %d tokens > %d", o->pos, counts[i],
                              o->n_ctx);
        for (int t = 0; t < counts[i]; t++)
            if (tokens[i][t] < 0 || tokens[i][t] >= hp->n_vocab)
                return cc_err_set(err, "token id %d out of range [0, %d)", tokens[i][t],
                                  hp->n_vocab);
    }
    /* Forward passes of up to BATCH tokens, the runs one after another; after each, the
     * hidden states of the runs that ended in it go through the output (the next pass
     * overwrites c->x). A run cut between two passes has its first part in the cache before
     * the second part attends to it. */
    eng_batch b;
    int32_t tok[BATCH];
    int rows[BATCH];
    engine_ctx *owns[BATCH];
    int i = 0, done = 0; /* the run and how many of its tokens are in earlier passes */
    while (i < n) {
        int nb = 0, nl = 0;
        while (i < n && nb < BATCH) {
            int take = CC_MIN(counts[i] - done, BATCH - nb);
            for (int t = 0; t < take; t++, nb++) {
                b.owner[nb] = ctxs[i];
                b.pos[nb] = ctxs[i]->pos + done + t;
                tok[nb] = tokens[i][done + t];
            }
            done += take;
            if (done == counts[i]) {
                rows[nl] = nb - 1;
                owns[nl++] = ctxs[i];
                i++;
                done = 0;
            }
        }
        b.n = nb;
        forward_batch(c, &b, tok);
        batch_output(c, rows, owns, nl);
    }
    for (int k = 0; k < n; k++)
        ctxs[k]->pos += counts[k];
    return 0;
}

const float *engine_ctx_logits(const engine_ctx *c)
{
    return c->logits;
}

int engine_ctx_copy_prefix(engine_ctx *dst, const engine_ctx *src, int n, cc_err *err)
{
    if (dst->m != src->m || dst->kv != src->kv || n < 0 || n > src->pos || n > dst->n_ctx)
        return cc_err_set(err, "cannot copy %d cached tokens between these contexts", n);
    const engine_hparams *hp = &src->m->hp;
    size_t kvd = (size_t)hp->n_head_kv * hp->head_dim, ns = (size_t)src->kv_scales;
    for (int l = 0; l < hp->n_layer; l++) {
        size_t from = (size_t)l * src->n_ctx * kvd, to = (size_t)l * dst->n_ctx * kvd;
        if (src->kv == ENGINE_KV_Q8_0) {
            size_t dfrom = (size_t)l * src->n_ctx * ns, dto = (size_t)l * dst->n_ctx * ns;
            memcpy(dst->kq + to, src->kq + from, (size_t)n * kvd);
            memcpy(dst->vq + to, src->vq + from, (size_t)n * kvd);
            memcpy(dst->kd + dto, src->kd + dfrom, (size_t)n * ns * sizeof(uint16_t));
            memcpy(dst->vd + dto, src->vd + dfrom, (size_t)n * ns * sizeof(uint16_t));
        } else {
            memcpy(dst->kcache + to, src->kcache + from, (size_t)n * kvd * sizeof(uint16_t));
            memcpy(dst->vcache + to, src->vcache + from, (size_t)n * kvd * sizeof(uint16_t));
        }
    }
    memcpy(dst->tokens, src->tokens, (size_t)n * sizeof(int32_t));
    dst->pos = n;
    dst->reusable = CC_MIN(src->reusable, dst->n_ctx);
    return 0;
}

int engine_ctx_shift(engine_ctx *c, int n_keep, int n_discard, cc_err *err)
{
    if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > c->pos)
        return cc_err_set(err, "cannot drop %d cached tokens after %d of %d", n_discard, n_keep,
                          c->pos);
    const engine_hparams *hp = &c->m->hp;
    int half = hp->rope_dim / 2, kvd = hp->n_head_kv * hp->head_dim;
    /* Rotating by minus n_discard positions: RoPE's rotations compose, so a key rotated for
     * position p and then by -n_discard reads as one rotated for p - n_discard. Without the
     * YaRN magnitude factor, which the cached keys already carry once. */
    float *cs = cc_malloc((size_t)half * sizeof(float)),
          *sn = cc_malloc((size_t)half * sizeof(float));
    for (int i = 0; i < half; i++) {
        float a = -(float)n_discard * rope_freq(c->m, i);
        cs[i] = cosf(a);
        sn[i] = sinf(a);
    }
    float *k = cc_malloc((size_t)kvd * sizeof(float)), *v = cc_malloc((size_t)kvd * sizeof(float));
    for (int l = 0; l < hp->n_layer; l++)
        for (int p = n_keep + n_discard; p < c->pos; p++) {
            /* Upwards, so every entry is read before its place is written. The F16 or Q8_0
             * values are rounded again after the rotation, as llama.cpp's shift does. */
            kv_read(c, l, p, k, v);
            rope_rotate(hp, k, hp->n_head_kv, cs, sn);
            kv_write(c, l, p - n_discard, k, v);
        }
    free(cs);
    free(sn);
    free(k);
    free(v);
    memmove(c->tokens + n_keep, c->tokens + n_keep + n_discard,
            (size_t)(c->pos - n_keep - n_discard) * sizeof(int32_t));
    c->pos -= n_discard;
    c->reusable = CC_MIN(c->reusable, n_keep);
    return 0;
}
