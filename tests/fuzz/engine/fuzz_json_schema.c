/*
 * Fuzz target over grammar-constrained sampling's inputs: bytes as a JSON
 * schema compiled to a grammar (refused with a named keyword, or a grammar
 * that parses), and the same bytes as a grammar text; every grammar that
 * compiles then matches the input bytes, so the matcher runs on odd
 * grammars too. Nothing may crash, hang or grow without bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err = {0};
    json_t *schema = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (schema) {
        const char *bad = NULL;
        engine_grammar *g = engine_grammar_from_json_schema(schema, &bad, &err);
        if (!g && !err.msg[0]) abort(); /* a refusal says why */
        if (g) {
            /* the schema's own text is rarely valid under it: either answer is fine */
            (void)engine_grammar_accepts(g, data, size);
            engine_grammar_free(g);
        }
        json_decref(schema);
    }
    engine_grammar *g = engine_grammar_parse((const char *)data, size, "root", &err);
    if (g) {
        (void)engine_grammar_accepts_prefix(g, data, size < 256 ? size : 256);
        engine_grammar_free(g);
    }
    return 0;
}
