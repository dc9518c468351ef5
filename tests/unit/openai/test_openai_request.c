/* OpenAI request validation and error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

static void test_error_json_shape(void **state)
{
    openai_error e;
    assert_int_equal(
        openai_error_set(&e, 404, "model_not_found", "The model '%s' does not exist", "m1"), -1);
    char *s = openai_error_json(&e);
    assert_string_equal(s, "{\"error\":{\"message\":\"The model 'm1' does not exist\","
                           "\"type\":\"invalid_request_error\",\"param\":null,"
                           "\"code\":\"model_not_found\"}}");
    free(s);
    openai_error_set(&e, 503, NULL, "no workers");
    strcpy(e.param, "model");
    s = openai_error_json(&e);
    assert_string_equal(s, "{\"error\":{\"message\":\"no workers\",\"type\":\"server_error\","
                           "\"param\":\"model\",\"code\":null}}");
    free(s);
    /* invalid UTF-8 from client input is replaced, never dropped */
    openai_error_set(&e, 400, NULL, "bad \xff\xfe value \xc3");
    s = openai_error_json(&e);
    assert_non_null(strstr(s, "\"message\":\"bad ?? value ?\""));
    free(s);
    assert_string_equal(openai_error_type_for_status(400), "invalid_request_error");
    assert_string_equal(openai_error_type_for_status(401), "authentication_error");
    assert_string_equal(openai_error_type_for_status(402), "insufficient_quota");
    assert_string_equal(openai_error_type_for_status(413), "invalid_request_error");
    assert_string_equal(openai_error_type_for_status(429), "rate_limit_error");
    assert_string_equal(openai_error_type_for_status(502), "server_error");
    assert_string_equal(openai_error_type_for_status(504), "server_error");
}

/* The one status -> type map every error body uses (the HTTP server's own
 * 404/405/413, the client's, both worker backends'). */
static void test_status_type_map(void **state)
{
    static const struct {
        int status;
        const char *type;
    } map[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"},
        {402, "insufficient_quota"},    {403, "permission_error"},
        {404, "invalid_request_error"}, {405, "invalid_request_error"},
        {413, "invalid_request_error"}, {418, "invalid_request_error"},
        {429, "rate_limit_error"},      {500, "server_error"},
        {502, "server_error"},          {503, "server_error"},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(map); i++) {
        openai_error e;
        openai_error_set(&e, map[i].status, NULL, "x");
        assert_string_equal(e.type, map[i].type);
        char *s = openai_error_json(&e);
        json_t *j = json_loads(s, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                            map[i].type);
        json_decref(j);
        free(s);
    }
    /* a field error is a 400 that names the field */
    openai_error e;
    assert_int_equal(openai_error_param(&e, "top_k", "'top_k' is %d", 3), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, "top_k");
    assert_string_equal(e.message, "'top_k' is 3");
    assert_string_equal(e.type, "invalid_request_error");
}

static void test_route(void **state)
{
    openai_error e;
    assert_int_equal(openai_route("POST", "/v1/completions", &e), OPENAI_COMPLETION);
    assert_int_equal(openai_route(NULL, "/v1/chat/completions", &e), OPENAI_CHAT);
    assert_int_equal(openai_route("POST", "/v1/embeddings", &e), OPENAI_EMBEDDING);
    assert_int_equal(openai_route("POST", "/v1/audio/speech", &e), 0);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.code, "not_found");
    assert_int_equal(openai_route("GET", "/v1/completions", &e), 0);
    assert_int_equal(e.status, 405);
    assert_string_equal(e.code, "method_not_allowed");
    assert_int_equal(openai_route("POST", NULL, &e), 0);
    assert_int_equal(e.status, 404);
}

static int parse(openai_kind kind, const char *body, openai_request *r, openai_error *e)
{
    return openai_parse(kind, body, strlen(body), r, e);
}

static void test_good_chat(void **state)
{
    openai_request r;
    openai_error e;
    assert_int_equal(
        parse(OPENAI_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},"
              "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}],"
              "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":50,"
              "\"max_completion_tokens\":40,\"temperature\":0.5,\"top_p\":1,\"n\":1,"
              "\"stop\":[\"a\",\"b\"],\"seed\":-3,\"logprobs\":true,\"top_logprobs\":2,"
              "\"presence_penalty\":-2,\"frequency_penalty\":2,\"top_k\":40}",
              &r, &e),
        0);
    assert_string_equal(r.model, "m");
    assert_true(r.stream);
    assert_true(r.include_usage);
    assert_int_equal(r.max_tokens, 40);
    assert_int_equal(r.kind, OPENAI_CHAT);
    assert_non_null(json_object_get(r.body, "top_k")); /* extensions pass through */
    openai_request_clear(&r);
    assert_null(r.body);

    assert_int_equal(parse(OPENAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"max_tokens\":null,\"stop\":\"\\n\",\"stream\":false}",
                           &r, &e),
                     0);
    assert_false(r.stream);
    assert_int_equal(r.max_tokens, 0);
    assert_int_equal(r.max_coefficient, -1); /* not given */
    openai_request_clear(&r);

    assert_int_equal(parse(OPENAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"max_coefficient\":0}",
                           &r, &e),
                     0);
    assert_int_equal(r.max_coefficient, 0);
    openai_request_clear(&r);
    assert_int_equal(parse(OPENAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"max_coefficient\":2500}",
                           &r, &e),
                     0);
    assert_int_equal(r.max_coefficient, 2500);
    openai_request_clear(&r);
}

static void test_good_completion(void **state)
{
    openai_request r;
    openai_error e;
    const char *bodies[] = {
        "{\"model\":\"m\",\"prompt\":\"once upon\",\"max_tokens\":7,\"logprobs\":3,\"echo\":false}",
        "{\"model\":\"m\",\"prompt\":[\"one\"]}",
        "{\"model\":\"m\",\"prompt\":[1,2,3],\"best_of\":1}",
        "{\"model\":\"m\",\"prompt\":[[1,2,3]],\"suffix\":\"end\"}",
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(bodies); i++) {
        assert_int_equal(parse(OPENAI_COMPLETION, bodies[i], &r, &e), 0);
        assert_int_equal(r.kind, OPENAI_COMPLETION);
        openai_request_clear(&r);
    }
    assert_int_equal(parse(OPENAI_COMPLETION, bodies[0], &r, &e), 0);
    assert_int_equal(r.max_tokens, 7);
    openai_request_clear(&r);
}

typedef struct bad_case {
    openai_kind kind;
    const char *body;
    const char *param;   /* "" = null */
    const char *message; /* substring expected */
} bad_case;

static void test_bad_requests(void **state)
{
    static const bad_case cases[] = {
        {OPENAI_CHAT, "[1,2]", "", "must be a JSON object, got an array"},
        {OPENAI_CHAT, "{\"messages\":[]}", "model", "'model' is a required property"},
        {OPENAI_CHAT, "{\"model\":5,\"messages\":[]}", "model", "'model' must be a string"},
        {OPENAI_CHAT, "{\"model\":\"\",\"messages\":[]}", "model", "must not be empty"},
        {OPENAI_CHAT, "{\"model\":\"m\"}", "messages", "'messages' is a required property"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages", "must be an array"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages", "at least one"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}", "messages",
         "'messages[0]' must be an object"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages",
         "'messages[0].role' is required"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
         "messages", "got 'robot'"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages",
         "'messages[0].content' is required"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":3}]}",
         "messages", "must be a string or an array of content parts"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
         "messages", "'messages[0].content[0].text' must be a string"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}",
         "messages", "got 'video'"},
        {OPENAI_COMPLETION, "{\"model\":\"m\"}", "prompt", "'prompt' is a required property"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":{}}", "prompt", "must be a string"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[]}", "prompt", "empty array"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",1]}", "prompt",
         "'prompt[1]' must match"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[[1,2],[]]}", "prompt",
         "'prompt[1]' must match"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[[1,-2]]}", "prompt",
         "'prompt[0][1]' must be a token id"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":129}", "n",
         "between 1 and 128"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":3,\"best_of\":2}", "best_of",
         "at least 'n' (3)"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":1}", "suffix",
         "must be a string"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tools\":{}}",
         "tools", "'tools' must be an array"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{}}]}",
         "tools", "'tools[0].function.name' is required"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":1}}]}",
         "tools", "parameters' must be an object"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tool_choice\":\"required\"}",
         "tool_choice", "requires 'tools'"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tool_choice\":\"always\"}",
         "tool_choice", "got 'always'"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"response_format\":{\"type\":\"yaml\"}}",
         "response_format", "got 'yaml'"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"response_format\":{\"type\":\"json_schema\"}}",
         "response_format", "json_schema' must be an object"},
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"4\"}]}",
         "messages", "'messages[0].tool_call_id' is required"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\","
         "\"tool_calls\":[]}]}",
         "messages", "only allowed for assistant"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":1}]}]}",
         "messages", "'messages[0].tool_calls[0]' must be an object"},
        {OPENAI_EMBEDDING, "{\"model\":\"m\"}", "input", "'input' is a required property"},
        {OPENAI_EMBEDDING, "{\"model\":\"m\",\"input\":[]}", "input", "empty array"},
        {OPENAI_EMBEDDING, "{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":\"hex\"}",
         "encoding_format", "float or base64"},
        {OPENAI_EMBEDDING, "{\"model\":\"m\",\"input\":\"x\",\"dimensions\":0}", "dimensions",
         "between 1"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens",
         "'max_tokens' must be between 1 and 16777216, got 0"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":\"5\"}", "max_tokens",
         "'max_tokens' must be an integer, got a string"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":2.5}", "max_tokens",
         "must be an integer, got a number"},
        /* COCOON's extension: a non-negative integer that fits 32 bits. */
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_coefficient\":-1}",
         "max_coefficient", "'max_coefficient' must be between 0 and 2147483647, got -1"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_coefficient\":\"9\"}",
         "max_coefficient", "'max_coefficient' must be an integer, got a string"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_coefficient\":4000.0}",
         "max_coefficient", "must be an integer, got a number"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_coefficient\":2147483648}",
         "max_coefficient", "must be between 0 and 2147483647"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"max_completion_tokens\":-1}",
         "max_completion_tokens", "must be between 1"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":2.5}", "temperature",
         "'temperature' must be between 0 and 2, got 2.5"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":\"hot\"}",
         "temperature", "must be a number"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":1.5}", "top_p",
         "between 0 and 1"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":\"yes\"}", "stream",
         "'stream' must be a boolean"},
        {OPENAI_COMPLETION,
         "{\"model\":\"m\",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}",
         "stream_options", "only allowed when 'stream' is true"},
        {OPENAI_COMPLETION,
         "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true,\"stream_options\":[]}",
         "stream_options", "must be an object"},
        {OPENAI_COMPLETION,
         "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true,\"stream_options\":"
         "{\"include_usage\":1}}",
         "stream_options", "include_usage' must be a boolean"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":5}", "stop",
         "string or an array of strings"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",1]}", "stop",
         "'stop[1]' must be a string"},
        {OPENAI_COMPLETION,
         "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop",
         "at most 4"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":\"1\"}", "seed",
         "must be an integer"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":6}", "logprobs",
         "between 0 and 5"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":1}",
         "logprobs", "'logprobs' must be a boolean"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"top_logprobs\":3}",
         "top_logprobs", "requires 'logprobs'"},
        {OPENAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"logprobs\":true,\"top_logprobs\":21}",
         "top_logprobs", "between 0 and 20"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"presence_penalty\":-2.01}",
         "presence_penalty", "between -2 and 2"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"frequency_penalty\":true}",
         "frequency_penalty", "must be a number, got a boolean"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":129}", "best_of",
         "between 1 and 128"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":{\"5\":101}}",
         "logit_bias", "[-100, 100]"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"timeout\":\"9\"}", "timeout",
         "'timeout' must be a number of seconds, got a string"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"timeout\":0}", "timeout",
         "more than 0 and at most 86400 seconds, got 0"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"timeout\":86401}", "timeout",
         "got 86401"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"enable_debug\":1}", "enable_debug",
         "'enable_debug' must be a boolean, got an integer"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"request_guid\":7}", "request_guid",
         "'request_guid' must be a string, got an integer"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"request_guid\":\"\"}",
         "request_guid", "1 to 256 bytes long, got 0"},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(cases); i++) {
        openai_request r;
        openai_error e;
        memset(&e, 0, sizeof(e));
        int rc = parse(cases[i].kind, cases[i].body, &r, &e);
        if (rc != -1 || e.status != 400 || strcmp(e.param, cases[i].param) != 0 ||
            !strstr(e.message, cases[i].message))
            fail_msg("case %zu (%s): rc=%d status=%d param='%s' message='%s'", i, cases[i].body, rc,
                     e.status, e.param, e.message);
        assert_string_equal(e.type, "invalid_request_error");
        assert_null(r.body);
    }
}

/* Cases where the client's validator and the engine's used to disagree:
 * one validator now gives one verdict, naming the field. */
static void test_one_verdict(void **state)
{
    static const struct {
        const char *body; /* completions */
        const char *param;
        const char *message;
    } bad_cases[] = {
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":5.0}", "max_tokens",
         "'max_tokens' must be an integer, got a number"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":2147483647}", "max_tokens",
         "between 1 and 16777216, got 2147483647"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_completion_tokens\":16777217}",
         "max_completion_tokens", "between 1 and 16777216"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"seed\":1.0}", "seed", "must be an integer"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":-2}", "top_k", "between -1 and 1048576"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":2.0}", "top_k", "must be an integer"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"min_p\":1.5}", "min_p", "between 0 and 1"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"repetition_penalty\":0}", "repetition_penalty",
         "between 0.01 and 10"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"echo\":1}", "echo", "must be a boolean"},
        {"{\"prompt\":\"x\"}", "model", "'model' is a required property"},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(bad_cases); i++) {
        openai_request r;
        openai_error e;
        memset(&e, 0, sizeof(e));
        if (parse(OPENAI_COMPLETION, bad_cases[i].body, &r, &e) != -1 || e.status != 400 ||
            strcmp(e.param, bad_cases[i].param) != 0 || !strstr(e.message, bad_cases[i].message))
            fail_msg("case %zu (%s): status=%d param='%s' message='%s'", i, bad_cases[i].body,
                     e.status, e.param, e.message);
    }
    /* the values the worker reads */
    openai_request r;
    openai_error e;
    assert_int_equal(parse(OPENAI_COMPLETION,
                           "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":16777216,"
                           "\"top_k\":-1,\"min_p\":0.1,\"repetition_penalty\":1.1,"
                           "\"temperature\":0,\"top_p\":0.5,\"seed\":-7,\"stop\":[\"a\",\"\"],"
                           "\"logprobs\":3,\"echo\":true,\"presence_penalty\":1,"
                           "\"frequency_penalty\":-1}",
                           &r, &e),
                     0);
    assert_int_equal(r.max_tokens, 16777216);
    assert_int_equal(r.top_k, -1);
    assert_true(r.min_p > 0.099 && r.min_p < 0.101);
    assert_true(r.repetition_penalty > 1.09 && r.repetition_penalty < 1.11);
    assert_true(r.temperature == 0 && r.top_p == 0.5);
    assert_true(r.presence_penalty == 1 && r.frequency_penalty == -1);
    assert_true(r.has_seed);
    assert_int_equal(r.seed, -7);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[0], "a");
    assert_string_equal(r.stop[1], "");
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 3);
    assert_true(r.echo);
    openai_request_clear(&r);
    /* defaults */
    assert_int_equal(parse(OPENAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"stop\":\"end\",\"logprobs\":true}",
                           &r, &e),
                     0);
    assert_true(r.temperature == 1 && r.top_p == 1 && r.min_p == 0 && r.repetition_penalty == 1);
    assert_int_equal(r.top_k, 0);
    assert_false(r.has_seed);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "end");
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    assert_int_equal(r.max_tokens, 0);
    openai_request_clear(&r);
}

static void test_malformed_json_position(void **state)
{
    openai_request r;
    openai_error e;
    assert_int_equal(parse(OPENAI_CHAT, "{\"model\":\"m\",\n \"messages\": [}", &r, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "invalid_json");
    assert_non_null(strstr(e.message, "line 2, column 15"));
    assert_non_null(strstr(e.message, "position 29"));
    assert_int_equal(openai_parse(OPENAI_CHAT, "", 0, &r, &e), -1);
    assert_string_equal(e.code, "invalid_json");
    /* duplicate keys are ambiguous between parsers: refused */
    assert_int_equal(parse(OPENAI_CHAT, "{\"model\":\"a\",\"model\":\"b\"}", &r, &e), -1);
    assert_string_equal(e.code, "invalid_json");
    /* a NUL inside the body is not a terminator */
    assert_int_equal(
        openai_parse(OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\"}\0junk", 32, &r, &e),
        -1);
}

/* COCOON's own fields: read, then removed from the body as COCOON's client
 * does before forwarding (ClientRunningRequest.cpp on_payload_downloaded). */
static void test_cocoon_fields(void **state)
{
    (void)state;
    openai_request r;
    openai_error e;
    assert_int_equal(
        parse(OPENAI_COMPLETION,
              "{\"model\":\"m\",\"prompt\":\"x\",\"timeout\":12.5,\"enable_debug\":true,"
              "\"request_guid\":\"g-1\",\"max_coefficient\":2000,\"top_k\":3}",
              &r, &e),
        0);
    assert_true(r.timeout == 12.5);
    assert_true(r.enable_debug);
    assert_string_equal(r.request_guid, "g-1");
    assert_true(openai_request_strip_cocoon(&r));
    assert_null(r.request_guid);
    char *j = json_dumps(r.body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(j, "{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":3}");
    free(j);
    assert_false(openai_request_strip_cocoon(&r)); /* nothing left to remove */
    openai_request_clear(&r);
    /* Absent: defaults, and a body left as it is. */
    assert_int_equal(parse(OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\"}", &r, &e), 0);
    assert_true(r.timeout == 0);
    assert_false(r.enable_debug);
    assert_null(r.request_guid);
    assert_false(openai_request_strip_cocoon(&r));
    openai_request_clear(&r);
}

/* What OpenAI-compatible servers honour passes validation and is recorded,
 * so that the embedded backend can refuse it by name. */
static void test_passthrough_fields(void **state)
{
    openai_request r;
    openai_error e;
    assert_int_equal(
        parse(OPENAI_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},"
              "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
              "\"type\":\"function\",\"function\":{\"name\":\"add\",\"arguments\":\"{}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"4\"}],"
              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"add\","
              "\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":\"auto\","
              "\"parallel_tool_calls\":false,\"response_format\":{\"type\":\"json_object\"},"
              "\"n\":3,\"logit_bias\":{\"42\":-100}}",
              &r, &e),
        0);
    assert_true(r.has_tools);
    assert_false(r.tool_choice_none);
    assert_true(r.has_tool_turns);
    assert_int_equal(r.response_format, OPENAI_FORMAT_JSON_OBJECT);
    assert_int_equal(r.n, 3);
    assert_true(r.has_logit_bias);
    openai_request_clear(&r);

    assert_int_equal(parse(OPENAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"tools\":[],\"tool_choice\":\"none\",\"logit_bias\":{},"
                           "\"response_format\":{\"type\":\"text\"}}",
                           &r, &e),
                     0);
    assert_false(r.has_tools);
    assert_true(r.tool_choice_none);
    assert_false(r.has_tool_turns);
    assert_false(r.has_logit_bias);
    assert_int_equal(r.response_format, OPENAI_FORMAT_TEXT);
    assert_int_equal(r.n, 1);
    openai_request_clear(&r);

    assert_int_equal(parse(OPENAI_COMPLETION,
                           "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"],\"suffix\":\"z\","
                           "\"echo\":true,\"n\":2,\"best_of\":4}",
                           &r, &e),
                     0);
    assert_false(r.prompt_is_text);
    assert_true(r.has_suffix);
    assert_true(r.echo);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.best_of, 4);
    openai_request_clear(&r);
    assert_int_equal(
        parse(OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\"],\"suffix\":\"\"}", &r, &e),
        0);
    assert_true(r.prompt_is_text);
    assert_false(r.has_suffix);
    openai_request_clear(&r);
    assert_int_equal(parse(OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2,3]}", &r, &e), 0);
    assert_false(r.prompt_is_text);
    openai_request_clear(&r);

    assert_int_equal(parse(OPENAI_EMBEDDING,
                           "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"encoding_format\":"
                           "\"base64\",\"dimensions\":4}",
                           &r, &e),
                     0);
    assert_int_equal(r.kind, OPENAI_EMBEDDING);
    assert_string_equal(r.model, "m");
    openai_request_clear(&r);
}

static void test_kind_for_path(void **state)
{
    assert_int_equal(openai_kind_for_path("/v1/chat/completions"), OPENAI_CHAT);
    assert_int_equal(openai_kind_for_path("/v1/completions"), OPENAI_COMPLETION);
    assert_int_equal(openai_kind_for_path("/v1/embeddings"), OPENAI_EMBEDDING);
    assert_int_equal(openai_kind_for_path("/v1/images/generations"), 0);
}

/* The quick scan: the common requests are read by it exactly as the validator reads them;
 * everything outside its few fields and plain forms, and every request the validator refuses,
 * it leaves to the validator (false), never giving a verdict of its own. */
static void test_quick_scan(void **state)
{
    static const struct {
        openai_kind kind;
        const char *body;
    } accepted[] = {
        {OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
        {OPENAI_CHAT, " {\"model\": \"fake-model\", \"stream\": true, \"stream_options\": "
                      "{\"include_usage\": true}, \"max_tokens\": 64, \"messages\": [{\"role\": "
                      "\"system\", \"content\": \"a\\\"b\\n\\u00e9\\ud83d\\ude00\"}, {\"role\": "
                      "\"assistant\", \"name\": \"x\", \"content\": \"\xc3\xa9\xf0\x9f\x98\x80\"}"
                      "], \"temperature\": 0.25, \"top_p\": 1, \"n\": 2, \"user\": \"u\", "
                      "\"max_completion_tokens\": 5, \"presence_penalty\": -1.5e0}\r\n"},
        {OPENAI_COMPLETION, "{\"model\":\"m\",\"prompt\":\"once\",\"max_tokens\":null,"
                            "\"stream\":false,\"frequency_penalty\":2}"},
    };
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        openai_request q, r;
        openai_error e;
        const char *b = accepted[i].body;
        if (!openai_parse_quick(accepted[i].kind, b, strlen(b), &q)) fail_msg("declined %zu", i);
        assert_int_equal(openai_parse(accepted[i].kind, b, strlen(b), &r, &e), 0);
        assert_null(q.body);
        assert_string_equal(q.model, r.model);
        assert_int_equal(q.stream, r.stream);
        assert_int_equal(q.include_usage, r.include_usage);
        assert_int_equal(q.max_tokens, r.max_tokens);
        assert_true(q.temperature == r.temperature && q.top_p == r.top_p);
        assert_true(q.presence_penalty == r.presence_penalty &&
                    q.frequency_penalty == r.frequency_penalty);
        assert_int_equal(q.n, r.n);
        assert_int_equal(q.best_of, r.best_of);
        assert_int_equal(q.prompt_is_text, r.prompt_is_text);
        assert_int_equal(q.max_coefficient, r.max_coefficient);
        openai_request_clear(&q);
        openai_request_clear(&r);
    }
    openai_request q;
    const char *b = accepted[1].body;
    assert_true(openai_parse_quick(OPENAI_CHAT, b, strlen(b), &q));
    assert_true(q.stream && q.include_usage && q.max_tokens == 5 && q.n == 2);
    assert_true(q.temperature == 0.25 && q.presence_penalty == -1.5);
    openai_request_clear(&q);

    static const char *const declined[] = {
        /* outside what it knows (the validator accepts these) */
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":1}",
        "{\"mod\\u0065l\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\\u0031\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\",\"tool_call_id\":"
        "\"1\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":"
        "\"x\"}]}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"timeout\":5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":"
        "123456789012345678901}",
        /* refused by the validator */
        "{\"model\":\"m\",\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\udc00\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\u0000\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} x",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],}",
        "{\"model\":\"m\",\"messages\":[]}",
        "{\"model\":\"\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":5.0}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":2."
        "5}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":01}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stream_options\":{\"include_usage\":true}}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"prompt\":\"x\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
        memset(&q, 0x5a, sizeof(q));
        if (openai_parse_quick(OPENAI_CHAT, declined[i], strlen(declined[i]), &q))
            fail_msg("accepted %zu: %s", i, declined[i]);
    }
    /* embeddings are never its business */
    b = "{\"model\":\"m\",\"input\":\"x\"}";
    assert_false(openai_parse_quick(OPENAI_EMBEDDING, b, strlen(b), &q));
}

/* A conversation's opening: from the first message through the first user
 * message, the same in every later turn. */
static void test_scan_opening(void **state)
{
    (void)state;
    static const struct {
        const char *body, *want; /* want NULL: no opening */
    } cases[] = {
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
         "{\"role\":\"user\",\"content\":\"hi\"}"},
        {"{\"messages\": [ {\"content\":\"be brief\",\"role\":\"system\"} ,"
         " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]},"
         " {\"role\":\"assistant\",\"content\":\"b\"}], \"model\":\"m\"}",
         "{\"content\":\"be brief\",\"role\":\"system\"} ,"
         " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}"},
        {"{\"model\":\"m\",\"tools\":[{\"x\":[1,2]}],\"messages\":[{\"role\":\"system\","
         "\"content\":\"s\"},{\"role\":\"user\",\"content\":\"u\\\"q\"}]}",
         "{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"u\\\"q\"}"},
        {"{\"messages\":[{\"role\":\"system\",\"content\":\"s\"}]}", NULL}, /* no user */
        {"{\"messages\":[]}", NULL},
        {"{\"prompt\":\"hi\"}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}",
         "{\"role\":\"user\",\"content\":\"hi\"}"},
        {"{\"messages\":[{\"role\":\"user\"", NULL}, /* cut inside the message */
        {"[1]", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t off = 0, n = 0;
        bool got = openai_scan_opening(cases[i].body, strlen(cases[i].body), &off, &n);
        if (got != (cases[i].want != NULL)) fail_msg("case %zu: got %d", i, got);
        if (got && (n != strlen(cases[i].want) || memcmp(cases[i].body + off, cases[i].want, n)))
            fail_msg("case %zu: opening %.*s", i, (int)n, cases[i].body + off);
    }
    /* Nine messages before a user message: past the limit, no opening. */
    char big[1024] = "{\"messages\":[";
    for (int i = 0; i < OPENAI_OPENING_MAX_MESSAGES; i++)
        strcat(big, "{\"role\":\"system\",\"content\":\"s\"},");
    strcat(big, "{\"role\":\"user\",\"content\":\"u\"}]}");
    size_t off, n;
    assert_false(openai_scan_opening(big, strlen(big), &off, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_json_shape),
        cmocka_unit_test(test_good_chat),
        cmocka_unit_test(test_good_completion),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_malformed_json_position),
        cmocka_unit_test(test_kind_for_path),
        cmocka_unit_test(test_cocoon_fields),
        cmocka_unit_test(test_passthrough_fields),
        cmocka_unit_test(test_status_type_map),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_one_verdict),
        cmocka_unit_test(test_quick_scan),
        cmocka_unit_test(test_scan_opening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
