/* What the proxy checks of a peer's connectToProxy params, as COCOON's proxy
 * does (ProxyInboundClientConnection.cpp, ProxyInboundWorkerConnection.cpp),
 * and the addresses and token figures it answers with, as COCOON's client and
 * worker parse them (ClientProxyConnection.cpp, WorkerProxyConnection.cpp). */
#include "proxy_fixture.h"
#include "crypto/crypto.h"

#include "ton/ton.h"

#define OWNER_RAW "0:1111111111111111111111111111111111111111111111111111111111111111"

static void query(pclient *c, uint64_t qid, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    fx_encode(msg, &b);
    proxy_client_on_query(NULL, c, qid, b.data, b.len);
    cc_buf_free(&b);
}

static const fx_reply *last(fx *f)
{
    assert_true(f->n_answers > 0);
    return &f->answers[f->n_answers - 1];
}

static tl_obj *last_result(fx *f)
{
    const fx_reply *a = last(f);
    if (a->code) fail_msg("refused: %d %s", a->code, a->error);
    cc_err err = {0};
    tl_obj *o = tl_decode(a->data.data, a->data.len, &err);
    if (!o) fail_msg("answer does not decode: %s", err.msg);
    return o;
}

/* The proxy as it runs: a registry (is_test as given) and an identity. */
static void give_registry(fx *f, bool is_test)
{
    char text[200];
    snprintf(text, sizeof(text),
             "{\"version\": 7, \"params\": {\"is_test\": %s}, \"proxy_image_hashes\": \"any\", "
             "\"worker_image_hashes\": \"any\", \"model_hashes\": \"any\"}",
             is_test ? "true" : "false");
    cc_err err = {0};
    json_t *j = cc_json_loadb(text, strlen(text), &err);
    assert_non_null(j);
    f->p->reg = registry_from_json(j, &err);
    json_decref(j);
    if (!f->p->reg) fail_msg("registry: %s", err.msg);
    f->p->tee.identity = cc_calloc(1, sizeof(*f->p->tee.identity));
    memset(f->p->tee.identity->pubkey, 0x5a, 32);
}

static tl_client_connectToProxy client_connect(bool is_test, const char *owner)
{
    tl_client_connectToProxy q = TL_INIT(client_connectToProxy);
    q.params.hdr.id = TL_ID_client_params;
    q.params.flags = 3; /* as ClientProxyConnection.cpp:28 sends them */
    q.params.client_owner_address = tl_str(owner);
    q.params.is_test = is_test;
    q.params.min_proto_version = 1;
    q.params.max_proto_version = 2;
    return q;
}

static tl_worker_params worker_params(void)
{
    /* As WorkerProxyConnection.cpp:33 fills them. */
    tl_worker_params wp = TL_INIT(worker_params);
    wp.flags = 3;
    wp.worker_owner_address = tl_str(OWNER_RAW);
    wp.model = tl_str("tiny@sha256:00");
    wp.coefficient = 1000;
    wp.is_test = true;
    wp.proxy_cnt = 1;
    wp.max_active_requests = 4;
    wp.min_proto_version = 1;
    wp.max_proto_version = 2;
    return wp;
}

static void assert_parses_as_address(tl_bytes b)
{
    char *s = tl_bytes_strdup(b);
    ton_addr a;
    cc_err err = {0};
    if (ton_addr_parse(s, &a, NULL, NULL, &err) < 0) fail_msg("\"%s\": %s", s, err.msg);
    free(s);
}

static void test_client_refusals_are_cocoons(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    static const struct {
        bool is_test;
        uint32_t flags;
        const char *owner, *why;
    } cases[] = {
        {false, 3, OWNER_RAW, "test mode mismatch"},
        {true, 2, OWNER_RAW, "too old client"},
        {true, 3, "", "cannot parse client owner address"},
        {true, 3, "0:12", "cannot parse client owner address"},
        {true, 3, "EQ-not-an-address", "cannot parse client owner address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pclient *c = fx_client(f, 2);
        c->connected = c->authorized = false;
        tl_client_connectToProxy q = client_connect(cases[i].is_test, cases[i].owner);
        q.params.flags = cases[i].flags;
        query(c, 7, &q.hdr);
        assert_int_equal(last(f)->code, 602); /* ton::ErrorCode::error */
        assert_string_equal(last(f)->error, cases[i].why);
        assert_false(c->connected);
    }
}

static void test_mainnet_proxy_refuses_test_client(void **state)
{
    fx *f = *state;
    give_registry(f, false);
    pclient *c = fx_client(f, 2);
    c->connected = c->authorized = false;
    tl_client_connectToProxy q = client_connect(true, OWNER_RAW);
    query(c, 1, &q.hdr);
    assert_string_equal(last(f)->error, "test mode mismatch");
    q.params.is_test = false;
    query(c, 2, &q.hdr);
    tl_obj *o = last_result(f);
    assert_int_equal(o->id, TL_ID_client_connectedToProxy);
    assert_false(((tl_client_connectedToProxy *)o)->params.is_test);
    tl_obj_free(o);
}

/* COCOON's client parses all three addresses and drops the link when one
 * does not parse (ClientProxyConnection.cpp:59-61); it then reads max_tokens
 * as tokens already used (ClientProxyConnection.cpp:148). */
static void test_client_session_answers_as_cocoon_reads_them(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    uint8_t seed[32];
    memset(seed, 7, sizeof(seed));
    cc_err oerr = {0};
    assert_int_equal(proxy_money_open(f->p, NULL, seed, &oerr), 0);
    pclient *c = fx_client(f, 2);
    c->connected = c->authorized = false;
    tl_client_connectToProxy q = client_connect(true, OWNER_RAW);
    query(c, 1, &q.hdr);
    tl_obj *o = last_result(f);
    assert_int_equal(o->id, TL_ID_client_connectedToProxy);
    const tl_client_connectedToProxy *a = (const tl_client_connectedToProxy *)o;
    assert_int_equal(a->params.flags & 3u, 3u);
    assert_true(a->params.is_test);
    assert_int_equal(a->params.proto_version, 2);
    assert_parses_as_address(a->params.proxy_owner_address);
    assert_parses_as_address(a->params.proxy_sc_address);
    assert_parses_as_address(a->client_sc_address);
    /* The persistent signing key (it signs vouchers and outlives restarts),
     * not the rotating TLS key. */
    uint8_t pub[32];
    cc_err err = {0};
    assert_int_equal(crypto_ed25519_public(seed, pub, &err), 0);
    assert_memory_equal(a->params.proxy_public_key.b, pub, 32);
    assert_memory_not_equal(a->params.proxy_public_key.b, f->p->tee.identity->pubkey, 32);
    tl_obj_free(o);
    assert_true(c->connected);

    tl_client_authorizeWithProxyLong auth = TL_INIT(client_authorizeWithProxyLong);
    query(c, 2, &auth.hdr);
    o = last_result(f);
    assert_int_equal(o->id, TL_ID_client_authorizationWithProxySuccess);
    assert_int_equal(((tl_client_authorizationWithProxySuccess *)o)->max_tokens, 0);
    tl_obj_free(o);

    tl_client_updatePaymentStatus ps = TL_INIT(client_updatePaymentStatus);
    query(c, 3, &ps.hdr);
    o = last_result(f);
    assert_int_equal(o->id, TL_ID_client_paymentStatus);
    assert_int_equal(((tl_client_paymentStatus *)o)->max_tokens, 0);
    tl_obj_free(o);
}

static void test_configured_owner_is_announced(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    assert_string_equal(proxy_owner_or_zero(f->p), TON_ADDR_ZERO_RAW);
    free(f->p->owner_address);
    f->p->owner_address = cc_strdup(OWNER_RAW);
    assert_string_equal(proxy_owner_or_zero(f->p), OWNER_RAW);
}

/* Protocol 0 is not ours to speak: a client that offers only 0 is refused. */
static void test_protocol_zero_only_client_is_refused(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    pclient *c = fx_client(f, 0);
    c->connected = c->authorized = false;
    tl_client_connectToProxy q = client_connect(true, OWNER_RAW);
    q.params.flags = 1; /* no version range: version 0 */
    query(c, 1, &q.hdr);
    assert_int_equal(last(f)->code, 602);
    assert_false(c->connected);
}

/* COCOON's proxy refuses a client that wants a newer network config than
 * its own, at the handshake (ProxyInboundClientConnection.cpp:47) and per
 * request (ProxyRunner.cpp:1427), comparing as unsigned, against the root
 * contract's version (the registry's). */
static void test_min_config_version(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    int32_t v = (int32_t)proxy_config_version(f->p); /* the root's (registry's) version */
    assert_int_equal(v, 7);
    const int32_t too_new[] = {v + 1, -1};
    for (size_t i = 0; i < 2; i++) {
        pclient *c = fx_client(f, 2);
        c->connected = c->authorized = false;
        tl_client_connectToProxy q = client_connect(true, OWNER_RAW);
        q.min_config_version = too_new[i];
        query(c, 1, &q.hdr);
        assert_int_equal(last(f)->code, 602);
        assert_string_equal(last(f)->error, "active config version is too low");
        assert_false(c->connected);
    }
    pclient *c = fx_client(f, 2);
    c->connected = c->authorized = false;
    tl_client_connectToProxy q = client_connect(true, OWNER_RAW);
    q.min_config_version = v;
    query(c, 2, &q.hdr); /* its own version (older ones too, 0 without a root) */
    tl_obj_free(last_result(f));
    /* per request */
    pclient *rc = fx_client(f, 2);
    fx_worker(f, "tiny", 1000, 0);
    tl_client_runQueryEx rq = TL_INIT(client_runQueryEx);
    rq.model_name = tl_str("tiny");
    rq.query = tl_str("Q");
    rq.max_coefficient = 1000000;
    rq.max_tokens = 10;
    rq.request_id = fx_rid(9);
    rq.min_config_version = v + 3;
    fx_client_packet(rc, &rq.hdr);
    assert_true(fx_error_says(fx_take_error(f, rc, 602), "active config version is too low"));
    fx_expect_none(f);
}

/* A proxy taken out of service (POST /request/disable): COCOON's
 * register_client / register_worker and choose_connection refusals
 * (ProxyRunner.cpp:55, :164, :1357), notready. */
static void test_disabled_proxy(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    fx_worker(f, "tiny", 1000, 0);
    pclient *rc = fx_client(f, 2);
    f->p->disabled = true;
    const char *why = NULL;
    tl_worker_params wp = worker_params();
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 651);
    assert_string_equal(why, "proxy is not participating in this iteration");
    pclient *c = fx_client(f, 2);
    c->connected = c->authorized = false;
    tl_client_connectToProxy q = client_connect(true, OWNER_RAW);
    query(c, 1, &q.hdr);
    assert_int_equal(last(f)->code, 651);
    assert_string_equal(last(f)->error, "proxy is not participating in this iteration");
    fx_run(rc, 1, "tiny");
    assert_true(fx_error_says(fx_take_error(f, rc, 651), "proxy is disabled"));
    f->p->disabled = false;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 0);
    fx_run(rc, 2, "tiny");
    assert_non_null(fx_take_run(f, cc_list_first(pworker, &f->p->all_workers, node)));
}

static void test_worker_refusals_are_cocoons(void **state)
{
    fx *f = *state;
    give_registry(f, true);
    const char *why = NULL;
    tl_worker_params wp = worker_params();
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 0);
    wp.flags = 2;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 602);
    assert_string_equal(why, "too old worker");
    wp = worker_params();
    wp.is_test = false;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 602);
    assert_string_equal(why, "test mode mismatch");
    wp = worker_params();
    wp.model = tl_str("");
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 621);
    assert_string_equal(why, "invalid worker hash or worker type");
    wp = worker_params();
    wp.coefficient = 1000000000;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 621);
    assert_string_equal(why, "invalid coefficient value");
    wp.coefficient = -1;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 621);
    wp = worker_params();
    wp.max_active_requests = 0;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 621);
    assert_string_equal(why, "invalid max_active_requests value");
    wp = worker_params();
    wp.proxy_cnt = 0;
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 621);
    assert_string_equal(why, "invalid proxy_cnt value");
    wp = worker_params();
    wp.worker_owner_address = tl_str("");
    assert_int_equal(proxy_check_worker_params(f->p, &wp, &why), 602);
    assert_string_equal(why, "cannot parse worker owner address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_refusals_are_cocoons, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mainnet_proxy_refuses_test_client, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_client_session_answers_as_cocoon_reads_them, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_configured_owner_is_announced, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_protocol_zero_only_client_is_refused, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_worker_refusals_are_cocoons, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_min_config_version, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disabled_proxy, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
