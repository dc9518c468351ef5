/*
 * Tool calling in the embedded backend without a model: the call form read
 * from chat templates, model outputs of each family parsed into OpenAI
 * tool_calls (and left as text when they hold no well-formed call), and the
 * grammar that forces a call accepting exactly well-formed calls to the
 * allowed functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/backend_embedded_int.h"

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(emb_tool_format_detect(NULL), EMB_TOOLS_NONE);
    assert_int_equal(emb_tool_format_detect("{{ messages }}"), EMB_TOOLS_NONE);
    assert_int_equal(emb_tool_format_detect("{%- if tools %}<tool_call>\\n{\"name\": ...}"),
                     EMB_TOOLS_HERMES);
    assert_int_equal(emb_tool_format_detect("{{- '[TOOL_CALLS]' + tool_calls|tojson }}"),
                     EMB_TOOLS_MISTRAL);
    assert_int_equal(
        emb_tool_format_detect("{%- if builtin_tools %}<|python_tag|>{%- endif %}ipython"),
        EMB_TOOLS_LLAMA3);
}

/* Parses and checks: n calls, the names, the arguments texts, the content. */
static void expect_calls(emb_tool_format f, const char *text, size_t n, const char *const *names,
                         const char *const *args, const char *content)
{
    char *got_content = NULL;
    json_t *calls = emb_tool_calls_parse(f, text, strlen(text), &got_content);
    if (!n) {
        if (calls) fail_msg("calls found in: %s", text);
        assert_null(got_content);
        return;
    }
    if (!calls) fail_msg("no calls in: %s", text);
    assert_int_equal(json_array_size(calls), n);
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(calls, i);
        const char *id = json_string_value(json_object_get(c, "id"));
        assert_non_null(id);
        assert_int_equal(strncmp(id, "call_", 5), 0);
        assert_string_equal(json_string_value(json_object_get(c, "type")), "function");
        const json_t *fn = json_object_get(c, "function");
        assert_string_equal(json_string_value(json_object_get(fn, "name")), names[i]);
        /* arguments: a JSON text (OpenAI's form), compared as JSON */
        const char *a = json_string_value(json_object_get(fn, "arguments"));
        assert_non_null(a);
        json_t *got = json_loads(a, JSON_DECODE_ANY, NULL), *want = json_loads(args[i], 0, NULL);
        if (!json_equal(got, want)) fail_msg("arguments %s, want %s", a, args[i]);
        json_decref(got);
        json_decref(want);
    }
    /* distinct ids */
    if (n > 1)
        assert_string_not_equal(json_string_value(json_object_get(json_array_get(calls, 0), "id")),
                                json_string_value(json_object_get(json_array_get(calls, 1), "id")));
    assert_string_equal(got_content, content);
    json_decref(calls);
    free(got_content);
}

static void test_parse_hermes(void **state)
{
    (void)state;
    const char *w[] = {"get_weather", "get_time"};
    /* Qwen 2.5 / 3 and Hermes 2 Pro write exactly this */
    expect_calls(EMB_TOOLS_HERMES,
                 "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                 "</tool_call>",
                 1, w, (const char *[]){"{\"city\":\"Paris\"}"}, "");
    expect_calls(EMB_TOOLS_HERMES,
                 "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                 "{\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>\n<tool_call>\n{\"name\": "
                 "\"get_time\", \"arguments\": {}}\n</tool_call>",
                 2, w, (const char *[]){"{\"city\":\"Paris\",\"unit\":\"c\"}", "{}"},
                 "Let me check both.");
    /* cut at max_tokens after the JSON: still a call */
    expect_calls(EMB_TOOLS_HERMES,
                 "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}", 1,
                 w, (const char *[]){"{\"city\":\"Oslo\"}"}, "");
    /* arguments already as a string */
    expect_calls(
        EMB_TOOLS_HERMES,
        "<tool_call>{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}"
        "</tool_call>",
        1, w, (const char *[]){"{\"city\":\"Rome\"}"}, "");
    /* not calls: plain text, broken JSON, no name */
    expect_calls(EMB_TOOLS_HERMES, "The weather in Paris is sunny.", 0, NULL, NULL, NULL);
    expect_calls(EMB_TOOLS_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"argu", 0, NULL, NULL,
                 NULL);
    expect_calls(EMB_TOOLS_HERMES, "<tool_call>\n{\"arguments\": {}}\n</tool_call>", 0, NULL, NULL,
                 NULL);
    expect_calls(EMB_TOOLS_HERMES, "<tool_call>\n[1, 2]\n</tool_call>", 0, NULL, NULL, NULL);
}

static void test_parse_llama3(void **state)
{
    (void)state;
    const char *w[] = {"get_weather", "get_time"};
    expect_calls(EMB_TOOLS_LLAMA3,
                 "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", 1, w,
                 (const char *[]){"{\"city\":\"Paris\"}"}, "");
    expect_calls(EMB_TOOLS_LLAMA3,
                 "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Lima\"}}; "
                 "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"PET\"}}",
                 2, w, (const char *[]){"{\"city\":\"Lima\"}", "{\"tz\":\"PET\"}"}, "");
    /* JSON followed by prose is an answer, not a call */
    expect_calls(EMB_TOOLS_LLAMA3, "{\"name\": \"get_weather\"} is what I would call.", 0, NULL,
                 NULL, NULL);
    expect_calls(EMB_TOOLS_LLAMA3, "It is sunny.", 0, NULL, NULL, NULL);
}

static void test_parse_mistral(void **state)
{
    (void)state;
    const char *w[] = {"get_weather", "get_time"};
    expect_calls(EMB_TOOLS_MISTRAL,
                 "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, "
                 "{\"name\": \"get_time\", \"arguments\": {}}]",
                 2, w, (const char *[]){"{\"city\":\"Paris\"}", "{}"}, "");
    expect_calls(EMB_TOOLS_MISTRAL,
                 "Sure.[TOOL_CALLS][{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Nice\"}}]",
                 1, w, (const char *[]){"{\"city\":\"Nice\"}"}, "Sure.");
    expect_calls(EMB_TOOLS_MISTRAL, "[TOOL_CALLS] oops", 0, NULL, NULL, NULL);
    expect_calls(EMB_TOOLS_MISTRAL, "No tools needed.", 0, NULL, NULL, NULL);
}

static const char *tools_json =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"c\",\"f\"]}},"
    "\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]";

static bool grammar_accepts(const engine_grammar *g, const char *s)
{
    return engine_grammar_accepts(g, s, strlen(s));
}

static void test_forced_grammar(void **state)
{
    (void)state;
    json_t *tools = json_loads(tools_json, 0, NULL);
    assert_non_null(tools);
    cc_err err = {0};
    const char *bad = NULL;
    engine_grammar *g = emb_tool_grammar(EMB_TOOLS_HERMES, tools, "get_weather", &bad, &err);
    if (!g) fail_msg("%s", err.msg);
    const char *ok =
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
        "\"unit\": \"c\"}}\n</tool_call>";
    assert_true(grammar_accepts(g, ok));
    assert_true(grammar_accepts(
        g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"\"}}\n</tool_call>"));
    /* the forced call, and only it, parses back */
    char *content = NULL;
    json_t *calls = emb_tool_calls_parse(EMB_TOOLS_HERMES, ok, strlen(ok), &content);
    assert_non_null(calls);
    json_decref(calls);
    free(content);
    assert_false(grammar_accepts(
        g, "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{}}\n</tool_call>")); /* not named */
    assert_false(grammar_accepts(
        g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{}}\n</tool_call>")); /* city */
    assert_false(grammar_accepts(
        g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"a\",\"unit\":\"k\"}}"
           "\n</tool_call>")); /* enum */
    assert_false(grammar_accepts(g, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"a\"}}"));
    engine_grammar_free(g);

    /* required: any of the tools (no parameters: any object) */
    g = emb_tool_grammar(EMB_TOOLS_HERMES, tools, NULL, &bad, &err);
    assert_non_null(g);
    assert_true(grammar_accepts(
        g, "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{\"tz\":1}}\n</tool_call>"));
    assert_true(grammar_accepts(
        g, "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"x\"}}\n</tool_call>"));
    engine_grammar_free(g);

    /* the other families' forms */
    g = emb_tool_grammar(EMB_TOOLS_LLAMA3, tools, "get_weather", &bad, &err);
    assert_non_null(g);
    assert_true(
        grammar_accepts(g, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"x\"}}"));
    assert_false(
        grammar_accepts(g, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"x\"}}"));
    engine_grammar_free(g);
    g = emb_tool_grammar(EMB_TOOLS_MISTRAL, tools, "get_time", &bad, &err);
    assert_non_null(g);
    assert_true(grammar_accepts(g, "[TOOL_CALLS] [{\"name\":\"get_time\",\"arguments\":{}}]"));
    engine_grammar_free(g);

    /* an unknown function, a parameters keyword that cannot be enforced */
    assert_null(emb_tool_grammar(EMB_TOOLS_HERMES, tools, "nope", &bad, &err));
    assert_string_equal(bad, "tool_choice");
    json_t *pat = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                             "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                             "\"pattern\":\"x\"}}}}}]",
                             0, NULL);
    assert_null(emb_tool_grammar(EMB_TOOLS_HERMES, pat, "f", &bad, &err));
    assert_string_equal(bad, "pattern");
    json_decref(pat);
    json_decref(tools);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),         cmocka_unit_test(test_parse_hermes),
        cmocka_unit_test(test_parse_llama3),   cmocka_unit_test(test_parse_mistral),
        cmocka_unit_test(test_forced_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
