/*
 * Fuzz target over what a client controls on the embedded backend's path:
 * the OpenAI request body (first byte picks chat, completions or
 * embeddings) through
 * the validator and the bridge to an engine request, then the tokenizer on
 * the resulting prompt (special tokens on, GPT-2 BPE with a ChatML
 * template), the streaming detokenizer with the request's stop strings, and
 * the answer builder (which must always produce valid JSON).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/backend_embedded_int.h"

static engine_model *tiny_model(void)
{
    /* Built once per process: the harness has no other place to keep it. */
    static engine_model *m;
    if (m) return m;
    engine_synth_config c;
    engine_synth_config_default(&c);
    c.arch = ENGINE_ARCH_QWEN2;
    c.bpe_vocab = true;
    c.n_layer = 1;
    c.dim = 32;
    c.hidden_dim = 32;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.n_vocab = 800;
    c.wtype = ENGINE_T_F32;
    static cc_buf file; /* the model borrows these bytes for the whole run */
    cc_err err = {0};
    if (engine_synth_buf(&c, &file, &err)) abort();
    m = engine_model_from_gguf(engine_gguf_parse(file.data, file.len, &err), &err);
    if (!m) abort();
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    engine_model *m = tiny_model();
    static const openai_kind kinds[] = {OPENAI_COMPLETION, OPENAI_CHAT, OPENAI_EMBEDDING,
                                        OPENAI_CHAT};
    openai_kind kind = kinds[data[0] & 3];
    openai_request oreq;
    openai_error e;
    if (openai_parse(kind, data + 1, size - 1, &oreq, &e) < 0) return 0;
    emb_tool_format tools;
    engine_request *r = emb_request_new(m, &oreq, true, &e, &tools);
    if (!r) {
        if (e.status != 400 || !e.param[0]) abort(); /* refusals name their field */
        openai_request_clear(&oreq);
        return 0;
    }
    /* what the engine cannot honour never gets this far (never silently ignored) */
    if (oreq.kind == OPENAI_EMBEDDING || (oreq.has_tools && !oreq.tool_choice_none) ||
        oreq.has_tool_turns || (oreq.response_format != OPENAI_FORMAT_TEXT && !r->grammar) ||
        tools != EMB_TOOLS_NONE || (oreq.n != 1 && r->n_choices != oreq.n) ||
        oreq.best_of != oreq.n || oreq.has_suffix || oreq.echo ||
        (oreq.kind == OPENAI_COMPLETION && !oreq.prompt_is_text))
        abort();
    /* a system part to keep is the prompt's start, and only a chat has one */
    if (r->system_part && (oreq.kind != OPENAI_CHAT ||
                           strncmp(r->prompt, r->system_part, strlen(r->system_part)) != 0))
        abort();
    cc_err err = {0};
    engine_tokens t = {0};
    engine_tokenize(m, r->prompt, strlen(r->prompt), true, r->parse_special, &t, &err);
    engine_detok *d = engine_detok_new(m, (const char *const *)r->stops, r->n_stops);
    openai_output *o = openai_output_new(&oreq, "fuzz");
    cc_buf text = CC_BUF_INIT, out = CC_BUF_INIT;
    engine_step st;
    memset(&st, 0, sizeof(st));
    openai_logprob lp;
    for (size_t i = 0; i < t.n && i < 256; i++) {
        cc_buf_reset(&text);
        bool stop = engine_detok_push(d, t.ids[i], i ? t.ids[i - 1] : -1, &text);
        st.has_token = true;
        st.token = t.ids[i];
        st.lp.id = t.ids[i];
        st.lp.n_top = r->sp.top_logprobs;
        for (int k = 0; k < st.lp.n_top; k++)
            st.lp.top_ids[k] = t.ids[(i + (size_t)k) % t.n];
        emb_logprob(m, &st, r->sp.top_logprobs, &lp);
        openai_output_step(o, (const char *)text.data, text.len, r->logprobs ? &lp : NULL, &out);
        if (stop) break;
    }
    cc_buf_reset(&text);
    engine_detok_flush(d, &text);
    openai_output_step(o, (const char *)text.data, text.len, NULL, &out);
    openai_usage u = {.prompt_tokens = (int64_t)t.n, .completion_tokens = 1};
    openai_output_finish(o, OPENAI_FINISH_STOP, &u, &out);
    if (!oreq.stream) { /* a whole answer must be one valid JSON object */
        json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
        if (!j) abort();
        json_decref(j);
    }
    cc_buf_free(&text);
    cc_buf_free(&out);
    openai_output_free(o);
    engine_detok_free(d);
    engine_tokens_free(&t);
    engine_request_free(r);
    openai_request_clear(&oreq);
    return 0;
}
