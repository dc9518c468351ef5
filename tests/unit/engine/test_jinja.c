/*
 * The Jinja interpreter piece by piece: whitespace control, operators,
 * methods, filters, tests, statements and scoping, errors with their line and
 * column, and the limits that stop hostile templates. Every expected text is
 * what Python's jinja2, configured as Hugging Face configures it, renders.
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

static const char *vars_text =
    "{\"messages\": [{\"role\": \"system\", \"content\": \" sys \"}, {\"role\": \"user\", "
    "\"content\": \"Hi ü\"}, {\"role\": \"assistant\", \"content\": \"yo\", \"tool_calls\": "
    "[{\"function\": {\"name\": \"f\", \"arguments\": {\"b\": 1, \"a\": [1.5, null, true]}}}]}], "
    "\"x\": 7, \"s\": \"a-b-c\", \"n\": null}";

static char *render(const char *src, const engine_jinja_limits *lim, cc_err *err)
{
    engine_jinja *t = engine_jinja_parse(src, strlen(src), err);
    if (!t) return NULL;
    json_t *vars = json_loads(vars_text, 0, NULL);
    assert_non_null(vars);
    char *out = engine_jinja_render(t, vars, lim, NULL, err);
    json_decref(vars);
    engine_jinja_free(t);
    return out;
}

static const struct {
    const char *src, *want;
} renders[] = {
    {"{{ (not [])|safe == 'True' }} {{ '' is upper }} {{ 'A1' is upper }} {{ 'aB' is lower }} {{ "
     "n[0] }}|{{ x[0] }}|{{ x['a'] }}|{{ 2.5 is odd }} {{ 4.0 is even }} {{ 'a.b c_d'|wordcount }}",
     "True False True False |||False True 3"},
    {"a\n  {% if true %}\n  b\n  {% endif %}\nc", "a\n  b\nc"},
    {"a  {%- if true -%}  b  {%- endif %}  c", "ab  c"},
    {"  {%+ if true %}x{% endif %}", "  x"},
    {"{# c #}\n  {{ x }}  \n{{- x }}", "  77"},
    {"{% for i in range(3) %}\n{{ i }}\n{% endfor %}\n", "0\n1\n2\n"},
    {"{% raw %}{{ x }}{% endraw %}", "{{ x }}"},
    {"line\r\nbreak\r\n", "line\nbreak"},
    {"{{ 1 + 2 * 3 - 4 / 2 }} {{ 2 ** 10 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 7.5 % 2 }}",
     "5.0 1024 -4 2 1.5"},
    {"{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2] }}", "a1NoneTrue ababab [1, 2]"},
    {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'k' in {'k': 1} "
     "}}",
     "True False True False True"},
    {"{{ s[::-1] }} {{ s[1:3] }} {{ s[-1] }} {{ messages[1:]|length }} {{ [1,2,3,4][::2] }} {{ "
     "[1,2,3][-2:] }}",
     "c-b-a -b c 2 [1, 3] [2, 3]"},
    {"{{ x if x > 5 else 'small' }}{{ 'y' if false }}|", "7|"},
    {"{{ not n and x or 0 }} {{ n or 'dflt' }}", "7 dflt"},
    {"{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 2.5e-7 }} {{ 10 / 4 }} {{ 3.0 * 2 }}",
     "0.30000000000000004 1e+20 1.0 2.5e-07 2.5 6.0"},
    {"{{ messages[0]['role'] }} {{ messages[0].role }} {{ messages[2].tool_calls[0].function.name "
     "}}",
     "system system f"},
    {"{{ s.split('-') }} {{ ' a b  '.split() }} {{ s.upper() }} {{ 'Hello World'.lower() }} {{ "
     "'hello world'.title() }}",
     "['a', 'b', 'c'] ['a', 'b'] A-B-C hello world Hello World"},
    {"{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ "
     "s.replace('-', '+') }}",
     "x|hi|x|x|a+b+c"},
    {"{{ s.startswith('a-') }} {{ s.endswith(('z', 'c')) }} {{ messages[0].get('nope', 'd') }} {{ "
     "messages[0].get('role') }}",
     "True True d system"},
    {"{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}{{ messages[0].keys()|list "
     "}}",
     "role=system;content= sys ;['role', 'content']"},
    {"{{ messages[2].tool_calls[0].function.arguments|tojson }} {{ {'b': 1, 'a': "
     "'ü\"\\n'}|tojson(sort_keys=true) }}",
     "{\"b\": 1, \"a\": [1.5, null, true]} {\"a\": \"ü\\\"\\n\", \"b\": 1}"},
    {"{{ messages[2].tool_calls[0].function.arguments|tojson(indent=2) }}",
     "{\n  \"b\": 1,\n  \"a\": [\n    1.5,\n    null,\n    true\n  ]\n}"},
    {"{{ messages[0].content|trim }}|{{ [3,1,2]|first }}{{ [3,1,2]|last }}{{ 'abc'|length }}{{ "
     "[1,2]|join(', ') }}",
     "sys|3231, 2"},
    {"{{ nope|default('d') }} {{ ''|default('e', true) }} {{ 12|string ~ '!' }} {{ '42'|int + 1 }} "
     "{{ 'x'|int }} {{ 3.9|int }}",
     "d e 12! 43 0 3"},
    {"{{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('role', 'equalto', "
     "'user')|list|length }} {{ messages|rejectattr('tool_calls', "
     "'defined')|map(attribute='role')|list }}",
     "system,user,assistant 1 ['system', 'user']"},
    {"{{ ['a', 'B', 'b', 'A']|unique|list }} {{ 'hello'|capitalize }} {{ 'a\nb\n\nc'|indent(2) }} "
     "{{ 'a\nb'|indent(2, true) }}",
     "['a', 'B'] Hello a\n  b\n\n  c   a\n  b"},
    {"{{ {'a': 1}|items|list }} {{ [3, 1, 2]|sort }} {{ [1, 2]|reverse|list }} {{ 'a b "
     "c'|wordcount }} {{ [1, 2, 3]|sum }}",
     "[('a', 1)] [1, 2, 3] [2, 1] 3 6"},
    {"{{ x is defined }} {{ nope is undefined }} {{ n is none }} {{ s is string }} {{ x is number "
     "}} {{ messages is iterable }}",
     "True True True True True True"},
    {"{{ messages[0] is mapping }} {{ s is sequence }} {{ true is boolean }} {{ true is true }} {{ "
     "false is false }} {{ 'a' is in 'abc' }} {{ x is not none }} {{ x is divisibleby 7 }}",
     "True True True True True True True True"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c %}blk{{ a }}{% endset %}{{ c }}", "12blk1"},
    {"{% set outer = 1 %}{% for i in [1, 2] %}{% set outer = i %}{% endfor %}{{ outer }}", "1"},
    {"{% set ns = namespace(v=0) %}{% for i in [1, 2, 3] %}{% set ns.v = ns.v + i %}{% endfor %}{{ "
     "ns.v }}",
     "6"},
    {"{% for i in [] %}x{% else %}empty{% endfor %}{% for i in [1, 2, 3, 4] if i is even %}{{ "
     "loop.index }}/{{ loop.length }}{{ loop.first }}{{ loop.last }};{% endfor %}",
     "empty1/2TrueFalse;2/2FalseTrue;"},
    {"{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% "
     "endif %}{{ i }}{% endfor %}",
     "013"},
    {"{% for i in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.revindex }} {% "
     "endfor %}",
     "-2-3 1-3-2 2--1 "},
    {"{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, 3) }}{{ m(b=4, a=5) "
     "}}",
     "<1B><23><54>"},
    {"{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}",
     "[inside]"},
    {"{% filter upper %}shout {{ x }}{% endfilter %}", "SHOUT 7"},
    {"{% if x == 1 %}one{% elif x == 7 %}seven{% else %}other{% endif %}", "seven"},
    {"{{ undefined_thing }}|{{ undefined_thing|length }}|{% for q in undefined_thing %}no{% endfor "
     "%}|{{ messages[0].missing is defined }}",
     "|0||False"},
    {"{{ [1, 'a', none, 2.5, {'k': [true]}] }} {{ {'a': 'it\\'s'} }}",
     "[1, 'a', None, 2.5, {'k': [True]}] {'a': \"it's\"}"},
    {"{{ \"they're 1st-class (ok)\".title() }}|{{ \"they're 1st-class (ok)\"|title }}",
     "They'Re 1St-Class (Ok)|They're 1st-Class (Ok)"},
    {"{{ 2.5|round }} {{ 3.5|round }} {{ -2.5|round }} {{ 2.567|round(2) }} {{ 2.4|round(0, "
     "'ceil') "
     "}} {{ 7|round }}",
     "2.0 4.0 -2.0 2.57 3.0 7"},
    {"{{ 0.0001 }} {{ 0.00001 }} {{ 1e15 }} {{ 1e16 }} {{ 123456789.123 }} {{ -0.0 }} {{ 1.5e300 * "
     "1e10 }}",
     "0.0001 1e-05 1000000000000000.0 1e+16 123456789.123 -0.0 inf"},
    {"{{ '\\u00fc\\x41\\t|' }}", "üA\t|"},
};

static void test_renders_like_jinja2(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(renders) / sizeof(renders[0]); i++) {
        cc_err err = {0};
        char *out = render(renders[i].src, NULL, &err);
        if (!out || strcmp(out, renders[i].want))
            fail_msg("template %zu %s\n want [%s]\n got  [%s] %s", i, renders[i].src,
                     renders[i].want, out ? out : "(error)", err.msg);
        free(out);
    }
}

static const struct {
    const char *src, *needle;
} failures[] = {
    {"{{ nope.attr }}", "undefined"},
    {"{{ 1 + 'a' }}", "unsupported operand"},
    {"{% for %}", "line 1, column 8"},
    {"ok\n{% if x %}\n{% endfor %}", "line 3, column 4"},
    {"{{ raise_exception('stop here') }}", "stop here"},
    {"{{ x|nosuchfilter }}", "no filter named"},
    {"{{ x is nosuchtest }}", "no test named"},
    {"{{ 'abc", "unterminated string"},
    {"{% set ns = 1 %}{% set ns.a = 2 %}", "non-namespace"},
    {"{% set l = [] %}{{ l.append(1) }}", "unsafe"},
    {"{{ 1 // 0 }}", "division by zero"},
    {"{{ n[1:] }}", "not subscriptable"},
    {"{{ nope|int }}", "'nope' is undefined"},
};

static void test_errors_say_where_and_why(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
        cc_err err = {0};
        char *out = render(failures[i].src, NULL, &err);
        if (out || !strstr(err.msg, failures[i].needle))
            fail_msg("template %s: %s, message \"%s\" lacks \"%s\"", failures[i].src,
                     out ? "rendered" : "failed", err.msg, failures[i].needle);
    }
}

static void test_limits_stop_hostile_templates(void **state)
{
    (void)state;
    engine_jinja_limits lim = {
        .max_output = 1000, .max_memory = 1 << 20, .max_steps = 1000, .max_depth = 40};
    static const struct {
        const char *src, *needle;
    } cases[] = {
        {"{% for i in range(100000) %}{% endfor %}", "loop iterations"},
        {"{% for i in range(400) %}{% for j in range(400) %}{% endfor %}{% endfor %}",
         "loop iterations"},
        {"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested too deeply"},
        /* a list nested 200 and 300 deep: printing and ordering it must stop, not overflow the
           stack */
        {"{% set ns = namespace(l=[]) %}{% for i in range(200) %}{% set ns.l = [ns.l] %}"
         "{% endfor %}{{ ns.l }}",
         "nested too deeply"},
        {"{% set ns = namespace(l=[]) %}{% for i in range(300) %}{% set ns.l = [ns.l] %}"
         "{% endfor %}{{ ns.l < ns.l }}",
         "nested too deeply"},
        {"{{ 'x' * 1001 }}", "output limit"},
        {"{% for i in range(100) %}0123456789abc{% endfor %}", "longer than the limit"},
        {"{% set ns = namespace(s='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') %}"
         "{% for i in range(300) %}{% set ns.s = (ns.s ~ ns.s)[:400] %}{% endfor %}",
         "bytes of values"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cc_err err = {0};
        char *out = render(cases[i].src, &lim, &err);
        if (out || !strstr(err.msg, cases[i].needle))
            fail_msg("template %s: %s, message \"%s\" lacks \"%s\"", cases[i].src,
                     out ? "rendered" : "failed", err.msg, cases[i].needle);
    }
    /* within the limits the same kind of template renders */
    cc_err err = {0};
    char *out = render("{% for i in range(10) %}{{ i }}{% endfor %}", &lim, &err);
    assert_non_null(out);
    assert_string_equal(out, "0123456789");
    free(out);
}

static void test_chat_apply(void **state)
{
    (void)state;
    json_t *msgs = json_loads("[{\"role\": \"user\", \"content\": \"hi\"}]", 0, NULL);
    cc_err err = {0};
    const char *tmpl = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}"
                       "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>"
                       "{% endif %}{{ tools is none }}{{ tools|length if tools else '' }}";
    char *out = engine_chat_apply(tmpl, msgs, NULL, true, "<s>", "</s>", &err);
    assert_non_null(out);
    assert_string_equal(out, "<s><user>hi</s><assistant>True");
    free(out);
    json_t *tools = json_loads("[{\"type\": \"function\"}]", 0, NULL);
    out = engine_chat_apply(tmpl, msgs, tools, false, NULL, NULL, &err);
    assert_non_null(out);
    /* no bos_token / eos_token variables: undefined prints as nothing */
    assert_string_equal(out, "<user>hiFalse1");
    free(out);
    json_decref(tools);
    json_decref(msgs);
}

/* A model's template drives its chat prompt; without one the recognised
 * formats stay (stories260K). BOS is left to engine_tokenize(add_bos). */
static void test_model_chat_render(void **state)
{
    (void)state;
    char path[4096];
    shared_data_path(path, sizeof(path), "models/vocab/ggml-vocab-phi-3.gguf");
    cc_err err = {0};
    engine_model *m = engine_model_load_vocab(path, &err);
    if (!m) fail_msg("%s", err.msg);
    assert_non_null(engine_model_chat_template(m));
    engine_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    bool templated = false;
    char *out = engine_model_chat_render(m, msgs, 2, &templated);
    assert_true(templated);
    /* phi-3's template: bos_token, then user turns (its system message is dropped) */
    assert_string_equal(out, "<|user|>\nHi<|end|>\n<|assistant|>\n");
    engine_tokens t = {0};
    assert_int_equal(engine_tokenize(m, out, strlen(out), true, true, &t, &err), 0);
    assert_true(t.n > 2);
    assert_int_equal(t.ids[0], engine_model_bos(m));
    assert_true(t.ids[1] != engine_model_bos(m));
    engine_tokens_free(&t);
    free(out);
    engine_model_free(m);

    shared_data_path(path, sizeof(path), "models/stories260K.gguf");
    m = engine_model_load_vocab(path, &err);
    if (!m) fail_msg("%s", err.msg);
    out = engine_model_chat_render(m, msgs + 1, 1, &templated);
    assert_false(templated);
    assert_string_equal(out, "user: Hi\nassistant:");
    free(out);
    engine_model_free(m);
}

/* The system part a context shift keeps: the leading system messages rendered alone, the way
 * the prompt was (template or recognised format), without the generation prompt; none when
 * the prompt does not start with it. */
static void test_chat_system_part(void **state)
{
    (void)state;
    char path[4096];
    shared_data_path(path, sizeof(path), "models/vocab/ggml-vocab-phi-3.gguf");
    cc_err err = {0};
    engine_model *m = engine_model_load_vocab(path, &err);
    if (!m) fail_msg("%s", err.msg);
    engine_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    bool templated = false;
    char *prompt = engine_model_chat_render(m, msgs, 2, &templated);
    /* phi-3's template drops the system message: an empty part, so only BOS is kept */
    char *part = engine_model_chat_system_part(m, msgs, 2, templated, prompt);
    assert_non_null(part);
    assert_string_equal(part, "");
    engine_tokens t = {0};
    assert_int_equal(engine_tokenize(m, prompt, strlen(prompt), true, true, &t, &err), 0);
    assert_int_equal(engine_system_part_tokens(m, &t, part, true), 1);
    engine_tokens_free(&t);
    free(part);
    free(prompt);
    engine_model_free(m);

    shared_data_path(path, sizeof(path), "models/stories260K.gguf");
    m = engine_model_load_vocab(path, &err);
    if (!m) fail_msg("%s", err.msg);
    /* the recognised plain format */
    engine_chat_msg three[] = {{"system", "Be brief."}, {"developer", "Rhyme."}, {"user", "Hi"}};
    prompt = engine_model_chat_render(m, three, 3, &templated);
    assert_false(templated);
    part = engine_model_chat_system_part(m, three, 3, templated, prompt);
    assert_string_equal(part, "system: Be brief.\ndeveloper: Rhyme.\n");
    assert_int_equal(engine_tokenize(m, prompt, strlen(prompt), true, false, &t, &err), 0);
    size_t n = engine_system_part_tokens(m, &t, part, false);
    engine_tokens sys = {0};
    assert_int_equal(engine_tokenize(m, part, strlen(part), true, false, &sys, &err), 0);
    assert_true(n > 1 && n <= sys.n && n + 1 >= sys.n);
    assert_memory_equal(t.ids, sys.ids, n * sizeof(int32_t));
    engine_tokens_free(&t);
    engine_tokens_free(&sys);
    free(part);
    free(prompt);
    /* no leading system message: no part */
    assert_null(engine_model_chat_system_part(m, msgs + 1, 1, false, "user: Hi\nassistant:"));

    /* a template, the BOS text dropped as from the prompt */
    engine_model_set_chat_template(
        m, "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
           "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
           "{% endif %}");
    prompt = engine_model_chat_render(m, msgs, 2, &templated);
    assert_true(templated);
    part = engine_model_chat_system_part(m, msgs, 2, templated, prompt);
    assert_string_equal(part, "<|im_start|>system\nBe brief.<|im_end|>\n");
    free(part);
    free(prompt);
    /* a template that renders the system turn otherwise when others follow: no part */
    engine_model_set_chat_template(m, "{{ messages|length }}{% for m in messages %}{{ m.content }}"
                                      "{% endfor %}");
    prompt = engine_model_chat_render(m, msgs, 2, &templated);
    assert_string_equal(prompt, "2Be brief.Hi");
    assert_null(engine_model_chat_system_part(m, msgs, 2, templated, prompt));
    free(prompt);

    /* messages as JSON with tools: a template that describes them in the system turn keeps
     * them; one that fails without a user message has no part */
    json_t *list = json_loads("[{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                              "{\"role\": \"user\", \"content\": \"Hi\"}]",
                              0, NULL);
    json_t *tools = json_loads("[{\"type\": \"function\"}]", 0, NULL);
    engine_model_set_chat_template(
        m, "{% if messages|length < 2 and not tools %}{{ raise_exception('no user') }}{% endif %}"
           "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% if loop.first and tools %}"
           "[{{ tools|length }} tools]{% endif %}{% endfor %}"
           "{% if add_generation_prompt %}<assistant>{% endif %}");
    prompt = engine_model_chat_prompt(m, list, tools, &err);
    assert_non_null(prompt);
    part = engine_model_chat_prompt_system_part(m, list, tools, prompt);
    assert_string_equal(part, "<system>Be brief.[1 tools]");
    free(part);
    free(prompt);
    prompt = engine_model_chat_prompt(m, list, NULL, &err);
    assert_string_equal(prompt, "<system>Be brief.<user>Hi<assistant>");
    assert_null(engine_model_chat_prompt_system_part(m, list, NULL, prompt));
    free(prompt);
    json_decref(tools);
    json_decref(list);
    engine_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renders_like_jinja2),
        cmocka_unit_test(test_errors_say_where_and_why),
        cmocka_unit_test(test_limits_stop_hostile_templates),
        cmocka_unit_test(test_chat_apply),
        cmocka_unit_test(test_model_chat_render),
        cmocka_unit_test(test_chat_system_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
