/*
 * Grammar-constrained sampling: the grammar text's parser and byte matcher
 * (sentences accepted, others rejected, bad grammars refused by name), the
 * JSON-schema compiler (documents valid under the schema accepted, invalid
 * ones rejected, unsupported keywords named), and generation with
 * stories260K: under "any JSON object" and under a schema the output parses
 * with jansson and satisfies the schema, for several prompts and seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "../shared_data.h"

static engine_grammar *parse_ok(const char *text)
{
    cc_err err = {0};
    engine_grammar *g = engine_grammar_parse(text, strlen(text), "root", &err);
    if (!g) fail_msg("grammar refused: %s\n%s", err.msg, text);
    return g;
}

static bool acc(const engine_grammar *g, const char *s)
{
    return engine_grammar_accepts(g, s, strlen(s));
}

static void test_matcher(void **state)
{
    (void)state;
    engine_grammar *g = parse_ok("root ::= \"a\" [b-d]+ (\"x\" | \"yz\")? tail\n"
                                 "tail ::= [0-9]{2,3} # a comment\n");
    assert_true(acc(g, "ab12"));
    assert_true(acc(g, "abcdx123"));
    assert_true(acc(g, "addyz99"));
    assert_false(acc(g, "a12"));     /* [b-d]+ needs one */
    assert_false(acc(g, "ab1"));     /* {2,3} */
    assert_false(acc(g, "ab1234"));  /* {2,3} */
    assert_false(acc(g, "abxyz12")); /* one of x | yz */
    assert_false(acc(g, ""));
    assert_true(engine_grammar_accepts_prefix(g, "abc", 3));
    assert_false(engine_grammar_accepts_prefix(g, "abe", 3));
    engine_grammar_free(g);

    /* Negated classes, escapes, \u as UTF-8, nested groups, right recursion. */
    g = parse_ok("root ::= item (\",\" item)*\nitem ::= [^,\\n]+ | \"\\u00e9\" \"\\x00\"\n"
                 "list ::= \"(\" (list | \"x\")* \")\"");
    assert_true(acc(g, "a,b c,d"));
    assert_false(acc(g, "a,,b"));
    assert_false(acc(g, "a\nb"));
    assert_true(engine_grammar_accepts(g, "\xc3\xa9\x00", 3));
    engine_grammar_free(g);
    g = parse_ok("root ::= \"(\" root* \")\"");
    assert_true(acc(g, "(()(()))"));
    assert_false(acc(g, "(()"));
    assert_false(acc(g, "())"));
    engine_grammar_free(g);

    /* Refusals name the problem. */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"root ::= undefined", "'undefined' is not defined"},
        {"root ::= root \"a\" | \"b\"", "left recursion"},
        {"root ::= x\nx ::= \"\"? root", "left recursion"},
        {"root ::= \"a", "unterminated"},
        {"root ::= [a-", "unterminated"},
        {"root ::= [z-a]", "out of order"},
        {"root ::= (\"a\"", "missing ')'"},
        {"root ::= \"a\"{3,1}", "{m,n}"},
        {"root ::= \"a\"{999}", "too large"},
        {"root ::= \"a\" \nroot ::= \"b\"", "defined twice"},
        {"other ::= \"a\"", "no rule 'root'"},
        {"root ::= [\\u00e9]", "single bytes"},
        {"root = \"a\"", "'::='"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cc_err err = {0};
        engine_grammar *b = engine_grammar_parse(bad[i].text, strlen(bad[i].text), "root", &err);
        if (b) fail_msg("accepted: %s", bad[i].text);
        if (!strstr(err.msg, bad[i].msg)) fail_msg("%s: got '%s'", bad[i].text, err.msg);
    }
}

static engine_grammar *schema_grammar(const char *schema_json)
{
    json_error_t je;
    json_t *s = schema_json ? json_loads(schema_json, 0, &je) : NULL;
    if (schema_json && !s) fail_msg("bad test schema: %s", je.text);
    cc_err err = {0};
    const char *bad = NULL;
    engine_grammar *g = engine_grammar_from_json_schema(s, &bad, &err);
    if (!g) fail_msg("schema refused (%s): %s", bad ? bad : "-", err.msg);
    json_decref(s);
    return g;
}

static void test_json_object(void **state)
{
    (void)state;
    engine_grammar *g = schema_grammar(NULL);
    static const char *good[] = {
        "{}",
        "{\"a\":1}",
        "{ \"a\" : [1, 2.5e3, -0.25, true, false, null, \"x\\\"y\\u00e9\\n\"], \"b\": {} }",
        "{\n  \"k\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n}",
        "{\"nested\":{\"deeper\":{\"x\":[[],[{}]]}}}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!acc(g, good[i])) fail_msg("rejected: %s", good[i]);
    static const char *bad[] = {
        "[]",
        "1",
        "\"s\"",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{a:1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\ud800\"}",  /* a lone surrogate escape */
        "{\"a\":\"\xc3\"}",     /* truncated UTF-8 */
        "{\"a\":\"\xc0\xaf\"}", /* overlong */
        "{\"a\":1}x",
        "{\"a\":tru}",
        "{} {}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (acc(g, bad[i])) fail_msg("accepted: %s", bad[i]);
    engine_grammar_free(g);
}

static const char *person_schema =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\"},"
    "\"mood\":{\"enum\":[\"happy\",\"sad\",3]},"
    "\"pet\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"string\",\"maxLength\":8}]},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"maxItems\":3},"
    "\"kind\":{\"const\":\"story\"}},"
    "\"required\":[\"name\",\"age\",\"kind\"],\"additionalProperties\":false}";

static void test_schema(void **state)
{
    (void)state;
    engine_grammar *g = schema_grammar(person_schema);
    static const char *good[] = {
        "{\"name\":\"Lily\",\"age\":3,\"kind\":\"story\"}",
        "{ \"name\": \"\", \"age\": -12, \"mood\": \"sad\", \"pet\": null, \"tags\": [true, "
        "false], \"kind\": \"story\" }",
        "{\"name\":\"Tom\",\"age\":0,\"mood\":3,\"pet\":\"dog\",\"tags\":[],\"kind\":\"story\"}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!acc(g, good[i])) fail_msg("rejected: %s", good[i]);
    static const char *bad[] = {
        "{\"name\":\"Lily\",\"kind\":\"story\"}",                           /* age required */
        "{\"name\":\"Lily\",\"age\":3.5,\"kind\":\"story\"}",               /* integer */
        "{\"name\":\"Lily\",\"age\":3,\"kind\":\"tale\"}",                  /* const */
        "{\"name\":\"Lily\",\"age\":3,\"mood\":\"ok\",\"kind\":\"story\"}", /* enum */
        "{\"name\":\"Lily\",\"age\":3,\"kind\":\"story\",\"x\":1}",         /* additional */
        "{\"name\":\"Lily Lily Lily\",\"age\":3,\"kind\":\"story\"}",       /* maxLength */
        "{\"name\":\"L\",\"age\":3,\"tags\":[true,true,true,true],\"kind\":\"story\"}",
        "{\"name\":\"L\",\"age\":3,\"pet\":1,\"kind\":\"story\"}", /* anyOf */
        "{\"name\":\"L\",\"age\":3,\"kind\":\"story\",}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (acc(g, bad[i])) fail_msg("accepted: %s", bad[i]);
    engine_grammar_free(g);

    /* Optional properties only: any subset in order, commas right. */
    g = schema_grammar("{\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"type\":\"null\"},"
                       "\"c\":{\"type\":\"null\"}}}");
    static const char *subsets[] = {"{}", "{\"a\":null}", "{\"b\":null}", "{\"a\":null,\"c\":null}",
                                    "{\"a\":null,\"b\":null,\"c\":null}"};
    for (size_t i = 0; i < sizeof(subsets) / sizeof(subsets[0]); i++)
        if (!acc(g, subsets[i])) fail_msg("rejected: %s", subsets[i]);
    assert_false(acc(g, "{,\"b\":null}"));
    assert_false(acc(g, "{\"a\":null,}"));
    assert_false(acc(g, "{\"b\":null,\"a\":null}")); /* declared order only */
    engine_grammar_free(g);

    /* Unsupported keywords are named. */
    static const struct {
        const char *schema, *keyword;
    } bad_schemas[] = {
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", "pattern"},
        {"{\"$ref\":\"#/x\"}", "$ref"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"oneOf\":[]}}}", "oneOf"},
        {"{\"type\":\"integer\",\"minimum\":3}", "minimum"},
        {"{\"type\":\"date\"}", "type"},
        {"{\"type\":\"object\",\"properties\":{},\"required\":[\"x\"]}", "required"},
        {"{\"enum\":[]}", "enum"},
        {"{\"type\":\"string\",\"minLength\":1000}", "minLength"},
        {"3", "type"},
    };
    for (size_t i = 0; i < sizeof(bad_schemas) / sizeof(bad_schemas[0]); i++) {
        json_t *s = json_loads(bad_schemas[i].schema, JSON_DECODE_ANY, NULL);
        assert_non_null(s);
        const char *kw = NULL;
        cc_err err = {0};
        engine_grammar *b = engine_grammar_from_json_schema(s, &kw, &err);
        if (b) fail_msg("accepted: %s", bad_schemas[i].schema);
        if (!kw || strcmp(kw, bad_schemas[i].keyword) != 0)
            fail_msg("%s: keyword %s (%s)", bad_schemas[i].schema, kw ? kw : "NULL", err.msg);
        json_decref(s);
    }
}

/* ------------------------------------------------------------ on the model */

static engine_model *model;
static engine_pool *pool;

static int setup(void **state)
{
    (void)state;
    char path[1024];
    shared_data_path(path, sizeof(path), "models/stories260K.gguf");
    cc_err err = {0};
    model = engine_model_load(path, &err);
    if (!model) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    pool = engine_pool_new(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_model_free(model);
    engine_pool_free(pool);
    return 0;
}

static char *generate(const char *prompt, const engine_grammar *g, float temp, uint64_t seed,
                      const int32_t *bias_id, float bias, engine_finish *fin)
{
    cc_err err = {0};
    engine_ctx *c = engine_ctx_new(model, pool, 512, &err);
    assert_non_null(c);
    engine_tokens t = {0};
    assert_int_equal(engine_tokenize(model, prompt, strlen(prompt), true, false, &t, &err), 0);
    engine_seq_params p;
    memset(&p, 0, sizeof(p));
    engine_sample_params_default(&p.sp);
    p.sp.temperature = temp;
    p.sp.seed = seed;
    if (bias_id) {
        p.sp.bias_ids = bias_id;
        p.sp.bias_values = &bias;
        p.sp.n_bias = 1;
    }
    p.max_tokens = 480;
    p.grammar = g;
    engine_seq *s = engine_seq_new(c, &t, &p, &err);
    assert_non_null(s);
    cc_buf out = CC_BUF_INIT;
    engine_step st;
    do
        assert_int_equal(engine_seq_step(s, &out, &st, &err), 0);
    while (!st.finished);
    *fin = st.finish;
    cc_buf_append_u8(&out, 0);
    engine_seq_free(s);
    engine_tokens_free(&t);
    engine_ctx_free(c);
    return (char *)out.data;
}

static const char *prompts[] = {"Once upon a time", "Lily and Tom went to the park.",
                                "The cat said", "Tom said, \"", "The dog"};
#define N_PROMPTS (sizeof(prompts) / sizeof(prompts[0]))

/* Any JSON object. The story model has never seen a '}' (it would write one long object
 * until max_tokens): a logit_bias of +8 on the byte token of '}' (which the grammar admits
 * only where an object may close, or inside a string) lets it finish. Every output must be
 * the start of an object; every one that ended by itself a whole object, parsed by jansson;
 * and most must end by themselves with members (how many depends on the kernels' rounding,
 * hence a margin rather than a list). */
static void test_model_json_object(void **state)
{
    (void)state;
    engine_grammar *g = schema_grammar(NULL);
    cc_err err = {0};
    engine_tokens close = {0};
    assert_int_equal(engine_tokenize(model, "}", 1, false, false, &close, &err), 0);
    int32_t close_id = close.ids[close.n - 1]; /* after the dummy space prefix */
    size_t n_length = 0, n_with_members = 0;
    for (size_t i = 0; i < N_PROMPTS; i++)
        for (int k = 0; k < 3; k++) {
            engine_finish fin;
            float temp = k == 0 ? 0.0f : 0.8f;
            char *text = generate(prompts[i], g, temp, (uint64_t)k * 77 + 1, &close_id, 8.0f, &fin);
            printf("json_object %zu/%d (%s): %.120s\n", i, k,
                   fin == ENGINE_FINISH_STOP ? "stop" : "length", text);
            if (!engine_grammar_accepts_prefix(g, text, strlen(text)))
                fail_msg("not the start of an object: %s", text);
            if (fin == ENGINE_FINISH_LENGTH) {
                n_length++;
            } else {
                json_error_t je;
                json_t *v = json_loads(text, 0, &je);
                if (!v) fail_msg("not JSON (%s): %s", je.text, text);
                assert_true(json_is_object(v));
                n_with_members += json_object_size(v) > 0;
                json_decref(v);
            }
            free(text);
        }
    printf("json_object: %zu of %zu ended with members, %zu ran out of tokens\n", n_with_members,
           N_PROMPTS * 3, n_length);
    assert_true(n_with_members >= 4);
    assert_true(n_length <= 5);
    engine_tokens_free(&close);
    engine_grammar_free(g);
}

/* maxLength counts characters (code points), not bytes. */
static size_t n_chars(const json_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < json_string_length(s); i++)
        n += ((uint8_t)json_string_value(s)[i] & 0xc0) != 0x80;
    return n;
}

static void check_person(const json_t *v, const char *text)
{
    if (!json_is_object(v)) fail_msg("not an object: %s", text);
    const json_t *name = json_object_get(v, "name"), *age = json_object_get(v, "age");
    if (!json_is_string(name) || n_chars(name) > 12) fail_msg("name: %s", text);
    if (!json_is_integer(age)) fail_msg("age: %s", text);
    if (!json_is_string(json_object_get(v, "kind")) ||
        strcmp(json_string_value(json_object_get(v, "kind")), "story"))
        fail_msg("kind: %s", text);
    const json_t *mood = json_object_get(v, "mood");
    if (mood && !(json_is_integer(mood) && json_integer_value(mood) == 3) &&
        !(json_is_string(mood) &&
          (!strcmp(json_string_value(mood), "happy") || !strcmp(json_string_value(mood), "sad"))))
        fail_msg("mood: %s", text);
    const json_t *pet = json_object_get(v, "pet");
    if (pet && !json_is_null(pet) && !(json_is_string(pet) && n_chars(pet) <= 8))
        fail_msg("pet: %s", text);
    const json_t *tags = json_object_get(v, "tags");
    if (tags) {
        if (!json_is_array(tags) || json_array_size(tags) > 3) fail_msg("tags: %s", text);
        size_t i;
        const json_t *x;
        json_array_foreach(tags, i, x) if (!json_is_boolean(x)) fail_msg("tags: %s", text);
    }
    const char *key;
    const json_t *x;
    json_object_foreach((json_t *)v, key, x)
    {
        static const char *const allowed[] = {"name", "age", "mood", "pet", "tags", "kind"};
        bool ok = false;
        for (size_t i = 0; i < 6; i++)
            ok = ok || !strcmp(key, allowed[i]);
        if (!ok) fail_msg("extra property %s: %s", key, text);
    }
}

static void test_model_schema(void **state)
{
    (void)state;
    engine_grammar *g = schema_grammar(person_schema);
    for (size_t i = 0; i < N_PROMPTS; i++)
        for (int k = 0; k < 3; k++) {
            engine_finish fin;
            float temp = k == 0 ? 0.0f : 1.0f;
            char *text = generate(prompts[i], g, temp, (uint64_t)k * 13 + 5, NULL, 0, &fin);
            printf("schema %zu/%d: %s\n", i, k, text);
            assert_true(engine_grammar_accepts(g, text, strlen(text)));
            if (fin != ENGINE_FINISH_STOP) fail_msg("ran out of tokens: %s", text);
            json_error_t je;
            json_t *v = json_loads(text, 0, &je);
            if (!v) fail_msg("not JSON (%s): %s", je.text, text);
            check_person(v, text);
            json_decref(v);
            free(text);
        }
    engine_grammar_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matcher),      cmocka_unit_test(test_json_object),
        cmocka_unit_test(test_schema),       cmocka_unit_test(test_model_json_object),
        cmocka_unit_test(test_model_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
