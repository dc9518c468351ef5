/*
 * Chat templates. GGUF files carry a Jinja template, rendered by our Jinja
 * interpreter (jinja_*.c) with the variables Hugging Face's
 * apply_chat_template passes. The common families are also recognised by
 * their marker tokens and rendered in C: the fallback when a template fails.
 * Anything else gets a plain "role: content" prompt.
 */
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/vocab.h"

engine_chat_kind engine_chat_detect(const char *t)
{
    if (!t) return ENGINE_CHAT_PLAIN;
    if (strstr(t, "<|im_start|>")) return ENGINE_CHAT_CHATML;
    if (strstr(t, "<|start_header_id|>")) return ENGINE_CHAT_LLAMA3;
    if (strstr(t, "[INST]")) return ENGINE_CHAT_LLAMA2;
    return ENGINE_CHAT_PLAIN;
}

static void render_llama2(cc_buf *b, const engine_chat_msg *msgs, size_t n)
{
    const char *sys = NULL;
    bool open = false; /* inside "[INST] ... " awaiting [/INST] */
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role, *c = msgs[i].content;
        if (!strcmp(r, "system")) {
            sys = c;
            continue;
        }
        if (!strcmp(r, "assistant")) {
            if (open) {
                cc_buf_append_str(b, " [/INST]");
                open = false;
            }
            cc_buf_append_fmt(b, " %s </s><s>", c);
            continue;
        }
        cc_buf_append_str(b, "[INST] ");
        if (sys) {
            cc_buf_append_fmt(b, "<<SYS>>\n%s\n<</SYS>>\n\n", sys);
            sys = NULL;
        }
        cc_buf_append_str(b, c);
        open = true;
    }
    if (open) cc_buf_append_str(b, " [/INST]");
}

/* The recognised formats; without the generation prompt (the open assistant turn) for the
 * system part of a prompt (engine_model_chat_system_part). */
static char *render_kind(engine_chat_kind kind, const engine_chat_msg *msgs, size_t n, bool add_bos,
                         const char *bos_text, bool add_gen)
{
    cc_buf b = CC_BUF_INIT;
    if (add_bos && bos_text) cc_buf_append_str(&b, bos_text);
    switch (kind) {
    case ENGINE_CHAT_CHATML:
        for (size_t i = 0; i < n; i++)
            cc_buf_append_fmt(&b, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role, msgs[i].content);
        if (add_gen) cc_buf_append_str(&b, "<|im_start|>assistant\n");
        break;
    case ENGINE_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++)
            cc_buf_append_fmt(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>",
                              msgs[i].role, msgs[i].content);
        if (add_gen) cc_buf_append_str(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case ENGINE_CHAT_LLAMA2:
        /* The system prompt lives inside the first [INST]: system messages alone render as
         * nothing, so a shift keeps only BOS. */
        render_llama2(&b, msgs, n);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            cc_buf_append_fmt(&b, "%s: %s\n", msgs[i].role, msgs[i].content);
        if (add_gen) cc_buf_append_str(&b, "assistant:");
        break;
    }
    cc_buf_append_u8(&b, 0);
    return (char *)b.data;
}

char *engine_chat_render(engine_chat_kind kind, const engine_chat_msg *msgs, size_t n, bool add_bos,
                         const char *bos_text)
{
    return render_kind(kind, msgs, n, add_bos, bos_text, true);
}

char *engine_chat_apply(const char *template_text, const json_t *messages, const json_t *tools,
                        bool add_generation_prompt, const char *bos_token, const char *eos_token,
                        cc_err *err)
{
    engine_jinja *t = engine_jinja_parse(template_text, strlen(template_text), err);
    if (!t) return NULL;
    json_t *vars = json_object();
    json_object_set(vars, "messages", (json_t *)messages);
    json_object_set_new(vars, "tools", tools ? json_incref((json_t *)tools) : json_null());
    json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt));
    /* like Hugging Face, a token the tokenizer lacks is no variable at all */
    if (bos_token) json_object_set_new(vars, "bos_token", json_string(bos_token));
    if (eos_token) json_object_set_new(vars, "eos_token", json_string(eos_token));
    char *out = engine_jinja_render(t, vars, NULL, NULL, err);
    json_decref(vars);
    engine_jinja_free(t);
    return out;
}

/* The text of a special token for the template's bos_token / eos_token. */
static char *token_text(const engine_model *m, int32_t id)
{
    size_t n = 0;
    const char *p = id >= 0 ? engine_token_piece(m, id, &n) : NULL;
    return p ? cc_strndup(p, n) : NULL;
}

char *engine_model_chat_apply(const engine_model *m, const json_t *messages, const json_t *tools,
                              bool add_generation_prompt, cc_err *err)
{
    if (!m->chat_template) {
        cc_err_set(err, "the model has no tokenizer.chat_template");
        return NULL;
    }
    char *bos = token_text(m, engine_model_bos(m)), *eos = token_text(m, engine_model_eos(m));
    char *out =
        engine_chat_apply(m->chat_template, messages, tools, add_generation_prompt, bos, eos, err);
    free(bos);
    free(eos);
    return out;
}

/* The model's template without the leading BOS text (see engine_model_chat_prompt). */
static char *template_prompt(const engine_model *m, const json_t *messages, const json_t *tools,
                             bool add_gen, cc_err *err)
{
    char *out = engine_model_chat_apply(m, messages, tools, add_gen, err);
    if (!out) return NULL;
    /* The prompt is tokenized with add_bos, which puts BOS first when the
     * model wants one: a template that writes bos_token itself would
     * give two. */
    const eng_vocab *v = m->vocab;
    size_t n_bos = 0;
    const char *bos = v->add_bos && v->bos >= 0 ? engine_token_piece(m, v->bos, &n_bos) : NULL;
    if (bos && n_bos && !strncmp(out, bos, n_bos))
        memmove(out, out + n_bos, strlen(out + n_bos) + 1);
    return out;
}

char *engine_model_chat_prompt(const engine_model *m, const json_t *messages, const json_t *tools,
                               cc_err *err)
{
    return template_prompt(m, messages, tools, true, err);
}

static json_t *msgs_json(const engine_chat_msg *msgs, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            list, json_pack("{s:s, s:s}", "role", msgs[i].role, "content", msgs[i].content));
    return list;
}

char *engine_model_chat_render(const engine_model *m, const engine_chat_msg *msgs, size_t n,
                               bool *used_template)
{
    *used_template = false;
    if (m->chat_template) {
        json_t *list = msgs_json(msgs, n);
        cc_err err = {0};
        char *out = engine_model_chat_prompt(m, list, NULL, &err);
        json_decref(list);
        if (out) {
            *used_template = true;
            return out;
        }
        /* a template our interpreter cannot run must not make the model unusable */
        CC_WARN("event=engine_chat_template_failed fallback=recognised error=\"%s\"", err.msg);
    }
    return engine_chat_render(m->chat, msgs, n, false, NULL);
}

static bool is_system_role(const char *role)
{
    return role && (!strcmp(role, "system") || !strcmp(role, "developer"));
}

/* part when the prompt starts with it, else NULL (part freed): a template that renders the
 * system messages differently once other messages follow has no system part to keep. */
static char *if_prefix(char *part, const char *prompt)
{
    if (part && !strncmp(prompt, part, strlen(part))) return part;
    free(part);
    return NULL;
}

char *engine_model_chat_system_part(const engine_model *m, const engine_chat_msg *msgs, size_t n,
                                    bool used_template, const char *prompt)
{
    size_t k = 0;
    while (k < n && is_system_role(msgs[k].role))
        k++;
    if (!k) return NULL;
    if (!used_template) return if_prefix(render_kind(m->chat, msgs, k, false, NULL, false), prompt);
    json_t *list = msgs_json(msgs, k);
    cc_err err = {0};
    char *part = template_prompt(m, list, NULL, false, &err);
    json_decref(list);
    return if_prefix(part, prompt);
}

char *engine_model_chat_prompt_system_part(const engine_model *m, const json_t *messages,
                                           const json_t *tools, const char *prompt)
{
    json_t *list = json_array();
    size_t k;
    const json_t *msg;
    json_array_foreach(messages, k, msg)
    {
        if (!is_system_role(json_string_value(json_object_get(msg, "role")))) break;
        json_array_append(list, (json_t *)msg);
    }
    char *part = NULL;
    if (json_array_size(list)) {
        /* With the tools: templates that describe them in the system turn (Qwen, Hermes)
         * then keep them too. */
        cc_err err = {0};
        part = if_prefix(template_prompt(m, list, tools, false, &err), prompt);
    }
    json_decref(list);
    return part;
}
