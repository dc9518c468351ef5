/*
 * The TON HTTP API client's asynchronous call against our own http_server on
 * a loopback port: answers, {"ok":false} envelopes, HTTP errors without a
 * JSON body, the whole-call timeout, cancellation, the API key header, and
 * blocking calls refused on a loop-bound client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "http/http.h"
#include "ton/ton.h"

typedef struct fixture {
    struct event_base *base;
    http_server *srv;
    char url[64];
    http_req *held; /* the "slow" request, never answered */
    char last_key[64];
    char last_body[256];
} fixture;

static void h_ok(http_req *r, void *ud)
{
    fixture *f = ud;
    const char *k = http_req_header(r, "X-API-Key");
    snprintf(f->last_key, sizeof f->last_key, "%s", k ? k : "");
    size_t n;
    const uint8_t *b = http_req_body(r, &n);
    snprintf(f->last_body, sizeof f->last_body, "%.*s", (int)n, (const char *)b);
    const char *q = http_req_query(r);
    char text[256];
    snprintf(text, sizeof text, "{\"ok\":true,\"result\":{\"method\":\"%s\",\"query\":\"%s\"}}",
             http_req_method(r), q ? q : "");
    http_reply(r, 200, "application/json", text, strlen(text));
}

static void h_refused(http_req *r, void *ud)
{
    const char *t = "{\"ok\":false,\"error\":\"exit code 37\",\"code\":500}";
    http_reply(r, 500, "application/json", t, strlen(t));
}

static void h_broken(http_req *r, void *ud)
{
    http_reply(r, 502, "text/plain", "bad gateway", 11);
}

static void h_garbage(http_req *r, void *ud)
{
    http_reply(r, 200, "application/json", "[1,2", 4);
}

static void h_slow(http_req *r, void *ud)
{
    fixture *f = ud;
    f->held = r;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    http_server_config cfg = {.host = "127.0.0.1"};
    cc_err err = {0};
    f->srv = http_server_new(f->base, &cfg, &err);
    assert_non_null(f->srv);
    http_server_route(f->srv, NULL, "/api/v2/ok", h_ok, f);
    http_server_route(f->srv, NULL, "/api/v2/refused", h_refused, f);
    http_server_route(f->srv, NULL, "/api/v2/broken", h_broken, f);
    http_server_route(f->srv, NULL, "/api/v2/garbage", h_garbage, f);
    http_server_route(f->srv, NULL, "/api/v2/slow", h_slow, f);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/api/v2/", http_server_port(f->srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    http_server_free(f->srv);
    event_base_free(f->base);
    free(f);
    return 0;
}

typedef struct outcome {
    int calls;
    json_t *result;
    cc_err err;
} outcome;

static void on_done(void *ud, json_t *result, const cc_err *err)
{
    outcome *o = ud;
    o->calls++;
    if (result)
        o->result = json_incref(result);
    else
        o->err = *err;
}

/* Runs the loop until the call reported (the calls' own timeouts bound it). */
static void wait_for(fixture *f, outcome *o)
{
    while (o->calls == 0)
        event_base_loop(f->base, EVLOOP_ONCE);
}

static void test_get_and_post(void **state)
{
    fixture *f = *state;
    cc_err err = {0};
    ton_api *api = ton_api_new_on(f->base, f->url, "k3y", &err);
    assert_non_null(api);

    outcome o = {0};
    assert_non_null(ton_api_call_async(api, "ok", "address=a%3Ab", NULL, on_done, &o, &err));
    assert_int_equal(o.calls, 0); /* never from inside the call */
    wait_for(f, &o);
    assert_int_equal(o.calls, 1);
    assert_non_null(o.result);
    assert_string_equal(json_string_value(json_object_get(o.result, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(o.result, "query")), "address=a%3Ab");
    assert_string_equal(f->last_key, "k3y");
    json_decref(o.result);

    outcome p = {0};
    json_t *body = json_pack("{s:s}", "boc", "te6c");
    assert_non_null(ton_api_call_async(api, "ok", NULL, body, on_done, &p, &err));
    json_decref(body);
    wait_for(f, &p);
    assert_non_null(p.result);
    assert_string_equal(json_string_value(json_object_get(p.result, "method")), "POST");
    assert_string_equal(f->last_body, "{\"boc\":\"te6c\"}");
    json_decref(p.result);

    /* The blocking calls are refused on a loop-bound client. */
    assert_null(ton_api_call(api, "ok", NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "blocking"));
    ton_api_free(api);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    cc_err err = {0};
    ton_api *api = ton_api_new_on(f->base, f->url, NULL, &err);
    assert_non_null(api);

    outcome a = {0}, b = {0}, c = {0};
    assert_non_null(ton_api_call_async(api, "refused", NULL, NULL, on_done, &a, &err));
    assert_non_null(ton_api_call_async(api, "broken", NULL, NULL, on_done, &b, &err));
    assert_non_null(ton_api_call_async(api, "garbage", NULL, NULL, on_done, &c, &err));
    wait_for(f, &a);
    wait_for(f, &b);
    wait_for(f, &c);
    assert_null(a.result);
    assert_non_null(strstr(a.err.msg, "refused"));
    assert_non_null(strstr(a.err.msg, "exit code 37"));
    assert_int_equal(a.err.code, 500);
    assert_null(b.result);
    assert_non_null(strstr(b.err.msg, "HTTP 502"));
    assert_int_equal(b.err.code, 502);
    assert_null(c.result);
    assert_non_null(strstr(c.err.msg, "not a JSON object"));

    /* Nothing listens on port 1: a connect error naming the API. */
    ton_api *dead = ton_api_new_on(f->base, "http://127.0.0.1:1/api/v2", NULL, &err);
    outcome d = {0};
    assert_non_null(ton_api_call_async(dead, "ok", NULL, NULL, on_done, &d, &err));
    wait_for(f, &d);
    assert_null(d.result);
    assert_non_null(strstr(d.err.msg, "TON API ok"));
    assert_non_null(strstr(d.err.msg, "127.0.0.1:1"));
    ton_api_free(dead);

    assert_null(ton_api_new_on(f->base, "ftp://x", NULL, &err));
    assert_non_null(strstr(err.msg, "http://"));
    ton_api_free(api);
}

static void test_timeout_and_cancel(void **state)
{
    fixture *f = *state;
    cc_err err = {0};
    ton_api *api = ton_api_new_on(f->base, f->url, NULL, &err);
    assert_non_null(api);
    ton_api_set_timeout(api, 1);
    outcome t = {0};
    assert_non_null(ton_api_call_async(api, "slow", NULL, NULL, on_done, &t, &err));
    wait_for(f, &t);
    assert_null(t.result);
    assert_non_null(strstr(t.err.msg, "timed out"));
    assert_non_null(f->held); /* the request did reach the server */

    /* A cancelled call never reports, even once the server answers. */
    f->held = NULL;
    ton_api_set_timeout(api, 30);
    outcome x = {0}, y = {0};
    ton_api_op *op = ton_api_call_async(api, "slow", NULL, NULL, on_done, &x, &err);
    assert_non_null(op);
    while (!f->held)
        event_base_loop(f->base, EVLOOP_ONCE);
    ton_api_cancel(op);
    assert_non_null(ton_api_call_async(api, "ok", NULL, NULL, on_done, &y, &err));
    wait_for(f, &y);
    assert_non_null(y.result);
    json_decref(y.result);
    assert_int_equal(x.calls, 0);

    /* Freeing the client with a call in flight drops it without a report. */
    outcome z = {0};
    assert_non_null(ton_api_call_async(api, "slow", NULL, NULL, on_done, &z, &err));
    ton_api_free(api);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(z.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
