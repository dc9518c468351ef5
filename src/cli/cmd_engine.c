/*
 * `cocoon engine generate | bench | synth | tokenize | vocab | template`: the embedded
 * inference engine from the command line.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"

typedef struct eng_opts {
    const char *model, *prompt, *out, *arch, *type, *text_file, *from_hf, *pre;
    const char *template_file, *bos_token, *eos_token, *messages, *tools, *kv_type;
    int64_t max_tokens, threads, seed, top_k, n_prompt, n_gen, reps, batch;
    int64_t layers, dim, hidden, heads, kv_heads, vocab, ctx;
    double temperature, top_p, min_p, repeat_penalty;
    bool json, chat, bpe, bandwidth, parse_special, no_gen_prompt, context_shift;
    engine_kv_type kv;
} eng_opts;

static const cc_opt engine_options[] = {
    {"--model", "FILE", "GGUF model (generate, bench)", NULL},
    {"--prompt", "TEXT", "prompt (generate)", NULL},
    {"--max-tokens", "N", "tokens to generate (generate)", "256"},
    {"--temperature", "T", "sampling temperature (generate)", "0.8"},
    {"--seed", "S", "sampling / weights seed", "0"},
    {"--top-k", "K", "top-k sampling (generate)", "40"},
    {"--top-p", "P", "nucleus sampling (generate)", "0.95"},
    {"--min-p", "P", "min-p sampling (generate)", "0.05"},
    {"--repeat-penalty", "R", "repetition penalty (generate)", "1.0"},
    {"--threads", "N", "worker threads (0 = one per core)", "0"},
    {"--chat", NULL, "wrap the prompt in the model's chat template (generate)", NULL},
    {"--prompt-tokens", "N", "prompt length (bench; 0 skips the prompt)", "128"},
    {"--gen-tokens", "N", "generated tokens (bench; 0 skips generation)", "128"},
    {"--reps", "N", "repetitions (bench)", "3"},
    {"--batch", "SEQS", "sequences decoded together (bench)", "1"},
    {"--bandwidth", NULL, "also measure memory bandwidth (bench)", NULL},
    {"--json", NULL, "print one JSON line (bench)", NULL},
    {"--out", "FILE", "output GGUF file (synth)", NULL},
    {"--arch", "ARCH", "llama, qwen2 or qwen3 (synth)", "llama"},
    {"--type", "TYPE", "weight type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K (synth)", NULL},
    {"--layers", "N", "layers (synth)", NULL},
    {"--dim", "N", "model width (synth)", NULL},
    {"--hidden", "N", "feed-forward width (synth)", NULL},
    {"--heads", "N", "attention heads (synth)", NULL},
    {"--kv-heads", "N", "key/value heads (synth)", NULL},
    {"--vocab", "N", "vocabulary size (synth)", NULL},
    {"--ctx", "N", "context length (synth; generate: 0 = the model's, capped at 4096)", NULL},
    {"--kv-type", "TYPE", "KV cache type: f16 or q8_0 (generate, bench)", "f16"},
    {"--context-shift", NULL,
     "when the context fills before --max-tokens, drop half of it and go on (generate)", NULL},
    {"--bpe", NULL, "a BPE vocabulary instead of SentencePiece (synth)", NULL},
    {"--text-file", "FILE", "text to tokenize (tokenize; or --prompt)", NULL},
    {"--parse-special", NULL, "tokenize special-token text as special tokens (tokenize)", NULL},
    {"--from-hf", "DIR|FILE", "a Hugging Face tokenizer to convert (vocab)", NULL},
    {"--pre", "NAME", "the pre-tokenizer name to record (vocab)", NULL},
    {"--template", "FILE", "a Jinja chat template (template; or --model)", NULL},
    {"--bos-token", "TEXT", "bos_token for --template (template)", NULL},
    {"--eos-token", "TEXT", "eos_token for --template (template)", NULL},
    {"--messages", "FILE", "JSON list of chat messages (template)", NULL},
    {"--tools", "FILE", "JSON list of tools (template)", NULL},
    {"--no-generation-prompt", NULL, "add_generation_prompt false (template)", NULL},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  cocoon engine generate --model FILE --prompt TEXT [OPTIONS]\n"
            "  cocoon engine bench --model FILE [OPTIONS]\n"
            "  cocoon engine synth --out FILE [OPTIONS]\n"
            "  cocoon engine tokenize --model FILE (--prompt TEXT | --text-file FILE) [OPTIONS]\n"
            "  cocoon engine vocab --from-hf DIR|FILE --out FILE [--pre NAME]\n"
            "  cocoon engine template (--model FILE | --template FILE [--bos-token S] [--eos-token "
            "S])\n"
            "                         --messages FILE [--tools FILE] [--no-generation-prompt] "
            "[--json]\n"
            "\noptions:\n");
    cc_args_usage(f, engine_options, CC_ARRAY_LEN(engine_options));
}

/* Parses argv[2..] (after "engine SUBCOMMAND") into o; returns -1 after
 * printing the error, 1 for --help. */
static int parse(int argc, char **argv, eng_opts *o)
{
    cc_args a;
    cc_err err = {0};
    if (cc_args_parse(engine_options, CC_ARRAY_LEN(engine_options), argc - 2, argv + 2, &a, &err) <
        0)
        goto fail;
    if (a.help) return 1;
    /* The bench's lengths: 0 skips that phase, so the defaults are set here
     * rather than read from 0. */
    o->n_prompt = o->n_gen = 128;
    if (a.n_pos > 0) {
        cc_err_set(&err, "unexpected argument \"%s\"", a.pos[0]);
        goto fail;
    }
    o->model = cc_args_get(&a, "--model");
    o->prompt = cc_args_get(&a, "--prompt");
    o->out = cc_args_get(&a, "--out");
    o->arch = cc_args_get(&a, "--arch");
    o->type = cc_args_get(&a, "--type");
    o->text_file = cc_args_get(&a, "--text-file");
    o->from_hf = cc_args_get(&a, "--from-hf");
    o->pre = cc_args_get(&a, "--pre");
    o->template_file = cc_args_get(&a, "--template");
    o->bos_token = cc_args_get(&a, "--bos-token");
    o->eos_token = cc_args_get(&a, "--eos-token");
    o->messages = cc_args_get(&a, "--messages");
    o->tools = cc_args_get(&a, "--tools");
    o->no_gen_prompt = cc_args_flag(&a, "--no-generation-prompt");
    o->parse_special = cc_args_flag(&a, "--parse-special");
    o->json = cc_args_flag(&a, "--json");
    o->chat = cc_args_flag(&a, "--chat");
    o->bpe = cc_args_flag(&a, "--bpe");
    o->bandwidth = cc_args_flag(&a, "--bandwidth");
    o->context_shift = cc_args_flag(&a, "--context-shift");
    o->kv_type = cc_args_get(&a, "--kv-type");
    if (o->kv_type && !engine_kv_type_parse(o->kv_type, &o->kv)) {
        cc_err_set(&err, "--kv-type: expected f16 or q8_0, not \"%s\"", o->kv_type);
        goto fail;
    }
    static const struct {
        const char *name;
        size_t offset;
        int64_t lo, hi;
    } ints[] = {
        {"--max-tokens", offsetof(eng_opts, max_tokens), 0, 1 << 24},
        {"--threads", offsetof(eng_opts, threads), 0, 256},
        {"--seed", offsetof(eng_opts, seed), 0, INT64_MAX},
        {"--top-k", offsetof(eng_opts, top_k), 0, 1 << 24},
        {"--prompt-tokens", offsetof(eng_opts, n_prompt), 0, 1 << 16},
        {"--gen-tokens", offsetof(eng_opts, n_gen), 0, 1 << 16},
        {"--reps", offsetof(eng_opts, reps), 1, 1000},
        {"--batch", offsetof(eng_opts, batch), 1, 32},
        {"--layers", offsetof(eng_opts, layers), 1, 512},
        {"--dim", offsetof(eng_opts, dim), 2, 65536},
        {"--hidden", offsetof(eng_opts, hidden), 1, 1 << 20},
        {"--heads", offsetof(eng_opts, heads), 1, 1024},
        {"--kv-heads", offsetof(eng_opts, kv_heads), 1, 1024},
        {"--vocab", offsetof(eng_opts, vocab), 300, 1 << 22},
        {"--ctx", offsetof(eng_opts, ctx), 1, 1 << 24},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(ints); i++)
        if (cc_args_i64(&a, ints[i].name, ints[i].lo, ints[i].hi,
                        (int64_t *)((char *)o + ints[i].offset), &err) < 0)
            goto fail;
    if (cc_args_double(&a, "--temperature", &o->temperature, &err) < 0 ||
        cc_args_double(&a, "--top-p", &o->top_p, &err) < 0 ||
        cc_args_double(&a, "--min-p", &o->min_p, &err) < 0 ||
        cc_args_double(&a, "--repeat-penalty", &o->repeat_penalty, &err) < 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "cocoon engine: %s\n", err.msg);
    return -1;
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
    engine_ctx *c = engine_ctx_new_kv(m, pool, (int)o->ctx, o->kv, &err);
    engine_tokens t = {0};
    char *text = NULL;
    bool special = false;
    if (o->chat) {
        engine_chat_msg msg = {"user", o->prompt};
        bool templated;
        text = engine_model_chat_render(m, &msg, 1, &templated);
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
    p.context_shift = o->context_shift;
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
    int np = (int)o->n_prompt, ng = (int)o->n_gen;
    if (np == 0 && ng == 0) {
        fprintf(stderr, "cocoon engine: --prompt-tokens and --gen-tokens are both 0: nothing to "
                        "measure\n");
        engine_pool_free(pool);
        engine_model_free(m);
        return 2;
    }
    int reps = o->reps ? (int)o->reps : 3;
    int nseq = o->batch ? (int)o->batch : 1;
    int rc = engine_bench_run(m, pool, np, ng, reps, nseq, o->kv, &r, &err);
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

/* Reads a JSON file (NULL path: NULL, no error). */
static int read_json(const char *path, json_t **out, cc_err *err)
{
    *out = NULL;
    if (!path) return 0;
    json_error_t je;
    *out = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!*out) return cc_err_set(err, "%s: line %d: %s", path, je.line, je.text);
    return 0;
}

static int cmd_template(eng_opts *o)
{
    if (!o->messages || !o->model == !o->template_file) {
        usage(stderr);
        return 2;
    }
    cc_err err = {0};
    json_t *msgs = NULL, *tools = NULL;
    engine_model *m = NULL;
    cc_buf tmpl = CC_BUF_INIT;
    char *text = NULL;
    if (read_json(o->messages, &msgs, &err) || read_json(o->tools, &tools, &err)) goto out;
    if (!json_is_array(msgs)) {
        cc_err_set(&err, "%s: the messages must be a JSON list", o->messages);
        goto out;
    }
    if (tools && !json_is_array(tools)) {
        cc_err_set(&err, "%s: the tools must be a JSON list", o->tools);
        goto out;
    }
    if (o->model) {
        m = engine_model_load_vocab(o->model, &err);
        if (m) text = engine_model_chat_apply(m, msgs, tools, !o->no_gen_prompt, &err);
    } else if (!cc_read_file(o->template_file, &tmpl, &err)) {
        cc_buf_append_u8(&tmpl, 0);
        text = engine_chat_apply((const char *)tmpl.data, msgs, tools, !o->no_gen_prompt,
                                 o->bos_token, o->eos_token, &err);
    }
    if (text && o->json) {
        json_t *j = json_pack("{s:s}", "text", text);
        char *s = j ? json_dumps(j, JSON_ENSURE_ASCII) : NULL;
        if (s)
            printf("%s\n", s);
        else
            cc_err_set(&err, "the rendered text is not valid UTF-8");
        free(s);
        json_decref(j);
    } else if (text)
        fputs(text, stdout);
out:
    if (err.msg[0]) fprintf(stderr, "cocoon engine: %s\n", err.msg);
    int rc = text && !err.msg[0] ? 0 : 1;
    free(text);
    cc_buf_free(&tmpl);
    engine_model_free(m);
    json_decref(msgs);
    json_decref(tools);
    return rc;
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
    int prc = parse(argc, argv, &o);
    if (prc < 0) return 2;
    if (prc > 0) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "generate")) return cmd_generate(&o);
    if (!strcmp(argv[1], "bench")) return cmd_bench(&o);
    if (!strcmp(argv[1], "synth")) return cmd_synth(&o);
    if (!strcmp(argv[1], "tokenize")) return cmd_tokenize(&o);
    if (!strcmp(argv[1], "vocab")) return cmd_vocab(&o);
    if (!strcmp(argv[1], "template")) return cmd_template(&o);
    fprintf(stderr, "cocoon engine: unknown subcommand %s\n", argv[1]);
    usage(stderr);
    return 2;
}
