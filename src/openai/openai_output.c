/*
 * OpenAI answers: chat.completion / text_completion objects, or their
 * streamed form (server-sent events of chat.completion.chunk or
 * text_completion chunks ending with "data: [DONE]"), with the usage and
 * log-probabilities the generator reports. Nothing here knows how the text
 * was produced: token texts arrive as bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "openai/openai_int.h"

/* One choice's answer so far (OpenAI's n: several, built side by side). */
typedef struct out_choice {
    bool started;
    cc_buf text;      /* non-streamed: the whole answer */
    json_t *lp_items; /* non-streamed: chat logprobs content / completion arrays */
    json_t *lp_tokens, *lp_values, *lp_tops, *lp_offsets;
    size_t text_offset;
} out_choice;

struct openai_output {
    openai_kind api;
    bool stream, include_usage, logprobs;
    int top_logprobs;
    char id[48];
    char *model_name;
    char fingerprint[16]; /* system_fingerprint: "fp_" + 10 hex of SHA-256(model name) */
    int64_t created;
    size_t n; /* choices */
    out_choice *ch;
};

/* JSON strings must be valid UTF-8: invalid bytes become U+FFFD. */
static json_t *utf8_json(const char *s, size_t n)
{
    return openai_json_text(s, n, "\xEF\xBF\xBD");
}

openai_output *openai_output_new(const openai_request *r, const char *model_name)
{
    openai_output *o = cc_calloc(1, sizeof(*o));
    o->api = r->kind;
    o->stream = r->stream;
    o->include_usage = r->include_usage;
    o->logprobs = r->logprobs;
    o->top_logprobs = r->top_logprobs;
    uint8_t rnd[12];
    crypto_random(rnd, sizeof(rnd));
    char hex[25];
    cc_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(o->id, sizeof(o->id), "%s-%s", r->kind == OPENAI_CHAT ? "chatcmpl" : "cmpl", hex);
    o->model_name = cc_strdup(model_name ? model_name : "");
    /* The name the worker serves already pins the weights' hash, so the
     * same name means the same backend configuration. */
    uint8_t h[32];
    crypto_sha256(o->model_name, strlen(o->model_name), h);
    char hh[11];
    cc_hex_encode(h, 5, hh);
    snprintf(o->fingerprint, sizeof(o->fingerprint), "fp_%s", hh);
    o->created = (int64_t)time(NULL);
    o->n = r->n > 1 ? (size_t)r->n : 1;
    o->ch = cc_calloc(o->n, sizeof(out_choice));
    for (size_t i = 0; i < o->n && o->logprobs; i++) {
        out_choice *ch = &o->ch[i];
        ch->lp_items = json_array();
        ch->lp_tokens = json_array();
        ch->lp_values = json_array();
        ch->lp_tops = json_array();
        ch->lp_offsets = json_array();
    }
    return o;
}

void openai_output_free(openai_output *o)
{
    if (!o) return;
    free(o->model_name);
    for (size_t i = 0; i < o->n; i++) {
        out_choice *ch = &o->ch[i];
        cc_buf_free(&ch->text);
        json_decref(ch->lp_items);
        json_decref(ch->lp_tokens);
        json_decref(ch->lp_values);
        json_decref(ch->lp_tops);
        json_decref(ch->lp_offsets);
    }
    free(o->ch);
    free(o);
}

static json_t *envelope(const openai_output *o, const char *object)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(o->id));
    json_object_set_new(j, "object", json_string(object));
    json_object_set_new(j, "created", json_integer(o->created));
    json_object_set_new(j, "model", json_string(o->model_name));
    json_object_set_new(j, "system_fingerprint", json_string(o->fingerprint));
    return j;
}

static void emit_sse(cc_buf *out, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    cc_buf_append_str(out, "data: ");
    cc_buf_append_str(out, s ? s : "{}");
    cc_buf_append_str(out, "\n\n");
    free(s);
}

static json_t *bytes_array(const char *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((uint8_t)s[i]));
    return a;
}

/* Chat: one entry of logprobs.content for a token. */
static json_t *chat_lp_token(const openai_token_text *t)
{
    json_t *e = json_object();
    json_object_set_new(e, "token", utf8_json(t->text, t->len));
    json_object_set_new(e, "logprob", json_real(t->logprob));
    json_object_set_new(e, "bytes", bytes_array(t->text, t->len));
    return e;
}

static json_t *chat_lp_entry(const openai_output *o, const openai_logprob *lp)
{
    json_t *e = chat_lp_token(&lp->token);
    json_t *tops = json_array();
    for (size_t i = 0; i < lp->n_top && i < (size_t)o->top_logprobs; i++)
        json_array_append_new(tops, chat_lp_token(&lp->top[i]));
    json_object_set_new(e, "top_logprobs", tops);
    return e;
}

/* Completions: appends to the parallel arrays of the legacy format. */
static void completion_lp_add(const openai_output *o, size_t text_offset, const openai_logprob *lp,
                              json_t *tokens, json_t *values, json_t *tops, json_t *offsets)
{
    json_array_append_new(tokens, utf8_json(lp->token.text, lp->token.len));
    json_array_append_new(values, json_real(lp->token.logprob));
    json_t *top = json_object();
    for (size_t i = 0; i < lp->n_top && i < (size_t)o->top_logprobs; i++) {
        json_t *key = utf8_json(lp->top[i].text, lp->top[i].len);
        /* a key with a NUL byte is cut there (jansson keys are C strings) */
        json_object_set_new(top, json_string_value(key), json_real(lp->top[i].logprob));
        json_decref(key);
    }
    json_array_append_new(tops, top);
    json_array_append_new(offsets, json_integer((json_int_t)text_offset));
}

static json_t *completion_lp_object(json_t *tokens, json_t *values, json_t *tops, json_t *offsets)
{
    json_t *l = json_object();
    json_object_set(l, "tokens", tokens);
    json_object_set(l, "token_logprobs", values);
    json_object_set(l, "top_logprobs", tops);
    json_object_set(l, "text_offset", offsets);
    return l;
}

static json_t *chunk_choice(openai_output *o, size_t index, const char *text, size_t n,
                            const openai_logprob *step_lp, const char *finish)
{
    out_choice *ch = &o->ch[index];
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer((json_int_t)index));
    json_t *lp = json_null();
    bool has_lp = o->logprobs && step_lp;
    if (o->api == OPENAI_CHAT) {
        json_t *delta = json_object();
        if (!ch->started) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", utf8_json(text, n));
        json_object_set_new(c, "delta", delta);
        if (has_lp) {
            json_decref(lp);
            lp = json_object();
            json_t *content = json_array();
            json_array_append_new(content, chat_lp_entry(o, step_lp));
            json_object_set_new(lp, "content", content);
        }
    } else {
        json_object_set_new(c, "text", utf8_json(text ? text : "", text ? n : 0));
        if (has_lp) {
            json_decref(lp);
            json_t *a = json_array(), *b = json_array(), *t = json_array(), *f = json_array();
            completion_lp_add(o, ch->text_offset, step_lp, a, b, t, f);
            lp = completion_lp_object(a, b, t, f);
            json_decref(a);
            json_decref(b);
            json_decref(t);
            json_decref(f);
        }
    }
    json_object_set_new(c, "logprobs", lp);
    json_object_set_new(c, "finish_reason", finish ? json_string(finish) : json_null());
    ch->started = true;
    return c;
}

void openai_output_step_choice(openai_output *o, size_t index, const char *text, size_t n,
                               const openai_logprob *lp, cc_buf *out)
{
    if (index >= o->n) return;
    out_choice *ch = &o->ch[index];
    if (!o->stream) {
        if (n) cc_buf_append(&ch->text, text, n);
        if (o->logprobs && lp) {
            if (o->api == OPENAI_CHAT)
                json_array_append_new(ch->lp_items, chat_lp_entry(o, lp));
            else
                completion_lp_add(o, ch->text_offset, lp, ch->lp_tokens, ch->lp_values, ch->lp_tops,
                                  ch->lp_offsets);
        }
        ch->text_offset += n;
        return;
    }
    bool has_lp = o->logprobs && lp;
    if (!n && !has_lp && ch->started) return;
    json_t *j = envelope(o, o->api == OPENAI_CHAT ? "chat.completion.chunk" : "text_completion");
    json_t *choices = json_array();
    json_array_append_new(choices, chunk_choice(o, index, text, n, lp, NULL));
    json_object_set_new(j, "choices", choices);
    emit_sse(out, j);
    ch->text_offset += n;
}

void openai_output_step(openai_output *o, const char *text, size_t n, const openai_logprob *lp,
                        cc_buf *out)
{
    openai_output_step_choice(o, 0, text, n, lp, out);
}

static void finish_with(openai_output *o, const openai_finish *fins, const char *reason0,
                        const json_t *calls, const openai_usage *u, cc_buf *out);

static json_t *final_choice(openai_output *o, size_t i, const char *reason, const json_t *calls);

static json_t *usage_json(const openai_usage *u)
{
    json_t *j = json_object();
    json_object_set_new(j, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(j, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(j, "total_tokens", json_integer(u->prompt_tokens + u->completion_tokens));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(u->cached_tokens));
    json_object_set_new(j, "prompt_tokens_details", d);
    return j;
}

void openai_output_finish(openai_output *o, openai_finish fin, const openai_usage *u, cc_buf *out)
{
    openai_finish *fins = cc_calloc(o->n, sizeof(*fins));
    for (size_t i = 0; i < o->n; i++)
        fins[i] = fin;
    finish_with(o, fins, NULL, NULL, u, out);
    free(fins);
}

void openai_output_finish_choices(openai_output *o, const openai_finish *fins, size_t n,
                                  const openai_usage *u, cc_buf *out)
{
    openai_finish *all = cc_calloc(o->n, sizeof(*all));
    for (size_t i = 0; i < o->n && i < n; i++)
        all[i] = fins[i];
    finish_with(o, all, NULL, NULL, u, out);
    free(all);
}

void openai_output_finish_tools(openai_output *o, const char *content, size_t n,
                                const json_t *calls, const openai_usage *u, cc_buf *out)
{
    if (o->stream) {
        if (n) openai_output_step(o, content, n, NULL, out);
        size_t i;
        const json_t *call;
        json_array_foreach(calls, i, call)
        {
            json_t *j = envelope(o, "chat.completion.chunk");
            json_t *c = chunk_choice(o, 0, NULL, 0, NULL, NULL);
            json_t *d = json_deep_copy(call);
            json_object_set_new(d, "index", json_integer((json_int_t)i));
            json_object_set_new(json_object_get(c, "delta"), "tool_calls", json_pack("[o]", d));
            json_object_set_new(j, "choices", json_pack("[o]", c));
            emit_sse(out, j);
        }
    } else {
        cc_buf_reset(&o->ch[0].text);
        if (n) cc_buf_append(&o->ch[0].text, content, n);
    }
    openai_finish stop = OPENAI_FINISH_STOP;
    finish_with(o, &stop, "tool_calls", calls, u, out);
}

static const char *reason_of(const openai_finish *fins, const char *reason0, size_t i)
{
    if (i == 0 && reason0) return reason0;
    return fins[i] == OPENAI_FINISH_LENGTH ? "length" : "stop";
}

/* fins: each choice's finish; reason0 (tool_calls) overrides the first one's, calls are the
 * first choice's tool calls (only with one choice). */
static void finish_with(openai_output *o, const openai_finish *fins, const char *reason0,
                        const json_t *calls, const openai_usage *u, cc_buf *out)
{
    if (o->stream) {
        for (size_t i = 0; i < o->n; i++) {
            json_t *j =
                envelope(o, o->api == OPENAI_CHAT ? "chat.completion.chunk" : "text_completion");
            json_t *choices = json_array();
            json_array_append_new(choices,
                                  chunk_choice(o, i, NULL, 0, NULL, reason_of(fins, reason0, i)));
            json_object_set_new(j, "choices", choices);
            emit_sse(out, j);
        }
        if (o->include_usage) {
            json_t *j =
                envelope(o, o->api == OPENAI_CHAT ? "chat.completion.chunk" : "text_completion");
            json_object_set_new(j, "choices", json_array());
            json_object_set_new(j, "usage", usage_json(u));
            emit_sse(out, j);
        }
        cc_buf_append_str(out, "data: [DONE]\n\n");
        return;
    }
    json_t *j = envelope(o, o->api == OPENAI_CHAT ? "chat.completion" : "text_completion");
    json_t *choices = json_array();
    for (size_t i = 0; i < o->n; i++)
        json_array_append_new(
            choices, final_choice(o, i, reason_of(fins, reason0, i), i == 0 ? calls : NULL));
    json_object_set_new(j, "choices", choices);
    json_object_set_new(j, "usage", usage_json(u));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    cc_buf_append_str(out, s ? s : "{}");
    free(s);
}

static json_t *final_choice(openai_output *o, size_t i, const char *reason, const json_t *calls)
{
    out_choice *ch = &o->ch[i];
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer((json_int_t)i));
    json_t *text = utf8_json(ch->text.len ? (const char *)ch->text.data : "", ch->text.len);
    json_t *lp = json_null();
    if (o->api == OPENAI_CHAT) {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        if (calls && !ch->text.len) { /* OpenAI: content null beside tool calls */
            json_decref(text);
            text = json_null();
        }
        json_object_set_new(msg, "content", text);
        if (calls) json_object_set(msg, "tool_calls", (json_t *)calls);
        json_object_set_new(c, "message", msg);
        if (o->logprobs) {
            json_decref(lp);
            lp = json_object();
            json_object_set(lp, "content", ch->lp_items);
        }
    } else {
        json_object_set_new(c, "text", text);
        if (o->logprobs) {
            json_decref(lp);
            lp = completion_lp_object(ch->lp_tokens, ch->lp_values, ch->lp_tops, ch->lp_offsets);
        }
    }
    json_object_set_new(c, "logprobs", lp);
    json_object_set_new(c, "finish_reason", json_string(reason));
    return c;
}
