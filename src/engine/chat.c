/*
 * Chat templates. GGUF files carry a Jinja template; rather than embed a
 * Jinja interpreter we recognise the common families by their marker tokens
 * and render them in C. Anything else gets a plain "role: content" prompt.
 */
#include <string.h>

#include "engine/engine.h"

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

char *engine_chat_render(engine_chat_kind kind, const engine_chat_msg *msgs, size_t n, bool add_bos,
                         const char *bos_text)
{
    cc_buf b = CC_BUF_INIT;
    if (add_bos && bos_text) cc_buf_append_str(&b, bos_text);
    switch (kind) {
    case ENGINE_CHAT_CHATML:
        for (size_t i = 0; i < n; i++)
            cc_buf_append_fmt(&b, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role, msgs[i].content);
        cc_buf_append_str(&b, "<|im_start|>assistant\n");
        break;
    case ENGINE_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++)
            cc_buf_append_fmt(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>",
                              msgs[i].role, msgs[i].content);
        cc_buf_append_str(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case ENGINE_CHAT_LLAMA2:
        render_llama2(&b, msgs, n);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            cc_buf_append_fmt(&b, "%s: %s\n", msgs[i].role, msgs[i].content);
        cc_buf_append_str(&b, "assistant:");
        break;
    }
    cc_buf_append_u8(&b, 0);
    return (char *)b.data;
}
