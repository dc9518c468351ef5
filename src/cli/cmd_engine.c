/*
 * `cocoon engine generate | bench | synth | tokenize | vocab`: the embedded
 * inference engine from the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"

typedef struct eng_opts {
    const char *model, *prompt, *out, *arch, *type, *text_file, *from_hf, *pre;
    int64_t max_tokens, threads, seed, top_k, n_prompt, n_gen, reps, batch;
    int64_t layers, dim, hidden, heads, kv_heads, vocab, ctx;
    double temperature, top_p, min_p, repeat_penalty;
    bool json, chat, bpe, bandwidth, parse_special;
} eng_opts;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage:\n"
        "  cocoon engine generate --model FILE --prompt TEXT [--max-tokens N] [--temperature T]\n"
        "                         [--seed S] [--top-k K] [--top-p P] [--min-p P]\n"
        "                         [--repeat-penalty R] [--threads N] [--chat]\n"
        "  cocoon engine bench --model FILE [--threads N] [--prompt-tokens N] [--gen-tokens N]\n"
        "                      [--reps N] [--batch SEQS] [--bandwidth] [--json]\n"
        "  cocoon engine synth --out FILE [--arch llama|qwen2|qwen3] [--type Q8_0|Q4_K|...]\n"
        "                      [--layers N] [--dim N] [--hidden N] [--heads N] [--kv-heads N]\n"
        "                      [--vocab N] [--ctx N] [--seed S] [--bpe]\n");
}

static int parse(int argc, char **argv, eng_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        cc_err err = {0};
#define STR(name, field)                                                                           \
    if (!strcmp(a, name)) {                                                                        \
        if (!v) goto missing;                                                                      \
        o->field = v;                                                                              \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define INT(name, field, lo, hi)                                                                   \
    if (!strcmp(a, name)) {                                                                        \
        if (!v) goto missing;                                                                      \
        if (cc_parse_i64(v, lo, hi, &o->field, &err)) {                                            \
            fprintf(stderr, "cocoon engine: %s: %s\n", name, err.msg);                             \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define DBL(name, field)                                                                           \
    if (!strcmp(a, name)) {                                                                        \
        if (!v) goto missing;                                                                      \
        char *end;                                                                                 \
        o->field = strtod(v, &end);                                                                \
        if (*end || end == v) {                                                                    \
            fprintf(stderr, "cocoon engine: %s: not a number\n", name);                            \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
        continue;                                                                                  \
    }
#define FLAG(name, field)                                                                          \
    if (!strcmp(a, name)) {                                                                        \
        o->field = true;                                                                           \
        continue;                                                                                  \
    }
        STR("--model", model)
        STR("--prompt", prompt)
        STR("--out", out)
        STR("--arch", arch)
        STR("--type", type)
        STR("--text-file", text_file)
        STR("--from-hf", from_hf)
        STR("--pre", pre)
        INT("--max-tokens", max_tokens, 0, 1 << 24)
        INT("--threads", threads, 0, 256)
        INT("--seed", seed, 0, INT64_MAX)
        INT("--top-k", top_k, 0, 1 << 24)
        INT("--prompt-tokens", n_prompt, 0, 1 << 16)
        INT("--gen-tokens", n_gen, 0, 1 << 16)
        INT("--reps", reps, 1, 1000)
        INT("--batch", batch, 1, 32)
        INT("--layers", layers, 1, 512)
        INT("--dim", dim, 2, 65536)
        INT("--hidden", hidden, 1, 1 << 20)
        INT("--heads", heads, 1, 1024)
        INT("--kv-heads", kv_heads, 1, 1024)
        INT("--vocab", vocab, 300, 1 << 22)
        INT("--ctx", ctx, 1, 1 << 24)
        DBL("--temperature", temperature)
        DBL("--top-p", top_p)
        DBL("--min-p", min_p)
        DBL("--repeat-penalty", repeat_penalty)
        FLAG("--json", json)
        FLAG("--chat", chat)
        FLAG("--bpe", bpe)
        FLAG("--bandwidth", bandwidth)
        FLAG("--parse-special", parse_special)
        fprintf(stderr, "cocoon engine: unknown option %s\n", a);
        return -1;
    missing:
        fprintf(stderr, "cocoon engine: %s needs a value\n", a);
        return -1;
    }
    return 0;
}

static int cmd_generate(eng_opts *o)
{
    if (!o->model || !o->prompt) {
        usage(stderr);
        return 2;
    }
    cc_err err = {0};
    engine_model *m = engine_model_load(o->model, &err);
    if (!m) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
        return 1;
    }
    engine_pool *pool = engine_pool_new((int)o->threads);
    engine_ctx *c = engine_ctx_new(m, pool, 0, &err);
    engine_tokens t = {0};
    char *text = NULL;
    bool special = false;
    if (o->chat) {
        engine_chat_msg msg = {"user", o->prompt};
        text = engine_chat_render(engine_model_chat_kind(m), &msg, 1, false, NULL);
        special = true;
    } else {
        text = cc_strdup(o->prompt);
    }
    int rc = 1;
    engine_seq *s = NULL;
    if (!c || engine_tokenize(m, text, strlen(text), true, special, &t, &err)) goto out;
    engine_seq_params p;
    memset(&p, 0, sizeof(p));
    engine_sample_params_default(&p.sp);
    p.sp.temperature = (float)o->temperature;
    p.sp.top_k = (int)o->top_k;
    p.sp.top_p = (float)o->top_p;
    p.sp.min_p = (float)o->min_p;
    p.sp.repeat_penalty = (float)o->repeat_penalty;
    p.sp.seed = (uint64_t)o->seed;
    p.max_tokens = o->max_tokens;
    s = engine_seq_new(c, &t, &p, &err);
    if (!s) goto out;
    cc_buf piece = CC_BUF_INIT;
    engine_step st;
    double t0 = cc_now_mono(), t_first = 0;
    if (!o->chat) fputs(o->prompt, stdout);
    do {
        if (engine_seq_step(s, &piece, &st, &err)) {
            cc_buf_free(&piece);
            goto out;
        }
        if (st.has_token && !t_first) t_first = cc_now_mono();
        fwrite(piece.data, 1, piece.len, stdout);
        fflush(stdout);
        cc_buf_reset(&piece);
    } while (!st.finished);
    cc_buf_free(&piece);
    double t1 = cc_now_mono();
    size_t ng = engine_seq_generated(s);
    fprintf(stdout, "\n");
    fprintf(stderr,
            "[prompt %zu tokens in %.1f ms; %zu tokens generated at %.0f tok/s; finish %s]\n", t.n,
            (t_first - t0) * 1e3, ng, ng > 1 ? (double)(ng - 1) / (t1 - t_first) : 0.0,
            st.finish == ENGINE_FINISH_STOP ? "stop" : "length");
    rc = 0;
out:
    if (rc) fprintf(stderr, "cocoon engine: %s\n", err.msg);
    engine_seq_free(s);
    engine_tokens_free(&t);
    free(text);
    engine_ctx_free(c);
    engine_pool_free(pool);
    engine_model_free(m);
    return rc;
}

static int cmd_bench(eng_opts *o)
{
    if (!o->model) {
        usage(stderr);
        return 2;
    }
    cc_err err = {0};
    double t0 = cc_now_mono();
    engine_model *m = engine_model_load(o->model, &err);
    if (!m) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
        return 1;
    }
    double load_s = cc_now_mono() - t0;
    engine_pool *pool = engine_pool_new((int)o->threads);
    engine_bench_result r;
    int np = o->n_prompt ? (int)o->n_prompt : 128, ng = o->n_gen ? (int)o->n_gen : 128;
    int reps = o->reps ? (int)o->reps : 3;
    int nseq = o->batch ? (int)o->batch : 1;
    int rc = engine_bench_run(m, pool, np, ng, reps, nseq, &r, &err);
    double bw = o->bandwidth ? engine_bench_bandwidth(pool, (size_t)1 << 29, 3) : 0;
    double la[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3) la[0] = 0;
        fclose(f);
    }
    if (rc) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
    } else {
        const engine_hparams *hp = engine_model_hparams(m);
        const char *name = strrchr(o->model, '/') ? strrchr(o->model, '/') + 1 : o->model;
        if (o->json) {
            printf("{\"bench\":\"engine\",\"model\":\"%s\",\"threads\":%d,\"avx2\":%s,"
                   "\"prompt_tokens\":%d,\"prompt_tok_s\":%.1f,\"gen_tokens\":%d,"
                   "\"gen_tok_s\":%.1f,\"weight_bytes\":%llu,\"weights_gb_s\":%.3f,"
                   "\"load_s\":%.3f,\"layers\":%d,\"dim\":%d",
                   name, engine_pool_threads(pool), engine_kernels_have_avx2() ? "true" : "false",
                   np, r.prompt_tok_s, ng, r.gen_tok_s, (unsigned long long)r.weight_bytes,
                   r.weights_gb_s, load_s, hp->n_layer, hp->dim);
            if (o->bandwidth) printf(",\"mem_bw_gb_s\":%.2f", bw);
            if (nseq > 1) printf(",\"batch_seqs\":%d,\"batch_tok_s\":%.1f", nseq, r.batch_tok_s);
            printf(",\"loadavg\":%.2f}\n", la[0]);
        } else {
            printf("%s: %d threads, prompt %.0f tok/s (%d tokens), generation %.0f tok/s "
                   "(%d tokens), weights %.2f GB/s",
                   name, engine_pool_threads(pool), r.prompt_tok_s, np, r.gen_tok_s, ng,
                   r.weights_gb_s);
            if (o->bandwidth) printf(", memory %.2f GB/s", bw);
            printf(", load %.2f\n", la[0]);
        }
    }
    engine_pool_free(pool);
    engine_model_free(m);
    return rc ? 1 : 0;
}

static int cmd_synth(eng_opts *o)
{
    if (!o->out) {
        usage(stderr);
        return 2;
    }
    engine_synth_config c;
    engine_synth_config_default(&c);
    if (o->arch) {
        if (!strcmp(o->arch, "llama"))
            c.arch = ENGINE_ARCH_LLAMA;
        else if (!strcmp(o->arch, "qwen2"))
            c.arch = ENGINE_ARCH_QWEN2;
        else if (!strcmp(o->arch, "qwen3"))
            c.arch = ENGINE_ARCH_QWEN3;
        else {
            fprintf(stderr, "cocoon engine: unknown --arch %s\n", o->arch);
            return 2;
        }
    }
    if (o->type) {
        bool found = false;
        for (uint32_t t = 0; t < ENGINE_T_COUNT; t++)
            if (engine_ttype_supported(t) && !strcasecmp(engine_ttype_name(t), o->type)) {
                c.wtype = t;
                found = true;
            }
        if (!found) {
            fprintf(stderr,
                    "cocoon engine: --type must be F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K\n");
            return 2;
        }
    }
    if (o->layers) c.n_layer = (int)o->layers;
    if (o->dim) c.dim = (int)o->dim;
    if (o->hidden) c.hidden_dim = (int)o->hidden;
    if (o->heads) c.n_head = c.n_head_kv = (int)o->heads;
    if (o->kv_heads) c.n_head_kv = (int)o->kv_heads;
    if (o->vocab) c.n_vocab = (int)o->vocab;
    if (o->ctx) c.n_ctx = (int)o->ctx;
    if (o->seed) c.seed = (uint64_t)o->seed;
    c.bpe_vocab = o->bpe;
    cc_err err = {0};
    if (engine_synth_write(&c, o->out, &err)) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int cmd_tokenize(eng_opts *o)
{
    if (!o->model || !o->text_file == !o->prompt) {
        usage(stderr);
        return 2;
    }
    cc_err err = {0};
    cc_buf text = CC_BUF_INIT;
    if (o->text_file) {
        if (cc_read_file(o->text_file, &text, &err)) {
            fprintf(stderr, "cocoon engine: %s\n", err.msg);
            return 1;
        }
    } else {
        cc_buf_append(&text, o->prompt, strlen(o->prompt));
    }
    engine_model *m = engine_model_load_vocab(o->model, &err);
    if (!m) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
        cc_buf_free(&text);
        return 1;
    }
    engine_tokens t = {0};
    int rc =
        engine_tokenize(m, (const char *)text.data, text.len, false, o->parse_special, &t, &err);
    if (rc) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
    } else {
        fputs(o->json ? "{\"ids\": [" : "", stdout);
        for (size_t i = 0; i < t.n; i++)
            printf("%s%d", i ? (o->json ? ", " : " ") : "", t.ids[i]);
        fputs(o->json ? "]}\n" : "\n", stdout);
    }
    engine_tokens_free(&t);
    engine_model_free(m);
    cc_buf_free(&text);
    return rc ? 1 : 0;
}

static int cmd_vocab(eng_opts *o)
{
    if (!o->from_hf || !o->out) {
        usage(stderr);
        return 2;
    }
    cc_err err = {0};
    if (engine_vocab_from_hf(o->from_hf, o->pre, o->out, &err)) {
        fprintf(stderr, "cocoon engine: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int cli_cmd_engine(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    eng_opts o;
    memset(&o, 0, sizeof(o));
    o.temperature = 0.8;
    o.top_p = 0.95;
    o.top_k = 40;
    o.min_p = 0.05;
    o.repeat_penalty = 1.0;
    o.max_tokens = 256;
    o.seed = 0;
    if (parse(argc, argv, &o)) return 2;
    if (!strcmp(argv[1], "generate")) return cmd_generate(&o);
    if (!strcmp(argv[1], "bench")) return cmd_bench(&o);
    if (!strcmp(argv[1], "synth")) return cmd_synth(&o);
    if (!strcmp(argv[1], "tokenize")) return cmd_tokenize(&o);
    if (!strcmp(argv[1], "vocab")) return cmd_vocab(&o);
    fprintf(stderr, "cocoon engine: unknown subcommand %s\n", argv[1]);
    usage(stderr);
    return 2;
}
