/*
 * Fuzz target over the GGUF reader and everything that trusts it: the model
 * loader (shapes, metadata, vocabulary, merges) and, for models that load, a
 * tokenization and two forward steps with a tiny context.
 */
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err = {0};
    engine_gguf *g = engine_gguf_parse(data, size, &err);
    if (!g) return 0;
    engine_model *m = engine_model_from_gguf(g, &err); /* owns g from here */
    if (!m) return 0;
    const engine_hparams *hp = engine_model_hparams(m);
    /* Keep each input cheap: the file bounds the weights, not the work. */
    if ((int64_t)hp->n_layer * hp->dim * hp->hidden_dim < (1 << 22)) {
        engine_tokens t = {0};
        const char *text = "Hello <|im_start|> w0rld\n\n  ok";
        engine_tokenize(m, text, strlen(text), true, true, &t, &err);
        engine_ctx *c = engine_ctx_new(m, NULL, 8, &err);
        if (c && t.n) {
            size_t n = t.n < 4 ? t.n : 4;
            if (engine_ctx_eval(c, t.ids, n, &err)) engine_ctx_eval(c, t.ids, 1, &err);
        }
        engine_ctx_free(c);
        engine_tokens_free(&t);
    }
    engine_model_free(m);
    return 0;
}
