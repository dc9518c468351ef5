/* The proxy's half of COCOON's client authorization with a chain
 * (proxy_auth.c; COCOON ProxyInboundClientConnection.cpp): the offer follows
 * the client contract read, a short answer must hash to the contract's
 * secret hash, a long answer waits for the nonce registered on chain by the
 * client's owner, and a wait that runs out is refused with the reason. The
 * chain is a fake table: the tests answer its reads themselves. */
#include "proxy_fixture.h"

#include "crypto/crypto.h"
#include "ton/ton.h"

#define OWNER_RAW "0:1111111111111111111111111111111111111111111111111111111111111111"
#define OTHER_RAW "0:2222222222222222222222222222222222222222222222222222222222222222"

static struct {
    int reads, scans;
    uint64_t last_read_client;
    char last_owner[100];
} g_chain;

static int fake_read(proxy *p, uint64_t client_id, const char *owner)
{
    (void)p;
    g_chain.reads++;
    g_chain.last_read_client = client_id;
    snprintf(g_chain.last_owner, sizeof g_chain.last_owner, "%s", owner);
    return 0;
}

static int fake_scan(proxy *p)
{
    (void)p;
    g_chain.scans++;
    return 0;
}

static const proxy_auth_chain fake_chain = {.read_client = fake_read, .scan = fake_scan};

static int setup(void **state)
{
    fx_setup(state);
    fx *f = *state;
    memset(&g_chain, 0, sizeof g_chain);
    const char *text = "{\"version\": 7, \"params\": {\"is_test\": true}, \"proxy_image_hashes\": "
                       "\"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": \"any\"}";
    cc_err err = {0};
    json_t *j = cc_json_loadb(text, strlen(text), &err);
    f->p->reg = registry_from_json(j, &err);
    json_decref(j);
    assert_non_null(f->p->reg);
    proxy_auth_start(f->p, &fake_chain, 30);
    return 0;
}

static void query(pclient *c, uint64_t qid, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    fx_encode(msg, &b);
    proxy_client_on_query(NULL, c, qid, b.data, b.len);
    cc_buf_free(&b);
}

static size_t n_clients(fx *f)
{
    size_t n = 0;
    cc_list_foreach (pclient, c, &f->p->clients, node)
        n++;
    return n;
}

static const fx_reply *last(fx *f)
{
    assert_true(f->n_answers > 0);
    return &f->answers[f->n_answers - 1];
}

static tl_obj *last_result(fx *f, uint64_t qid)
{
    const fx_reply *a = last(f);
    assert_int_equal(a->qid, qid);
    if (a->code) fail_msg("refused: %d %s", a->code, a->error);
    cc_err err = {0};
    tl_obj *o = tl_decode(a->data.data, a->data.len, &err);
    if (!o) fail_msg("answer does not decode: %s", err.msg);
    return o;
}

/* A new connection sends client.connectToProxy as COCOON's client does. */
static pclient *connect_client(fx *f, const char *owner)
{
    pclient *c = fx_client(f, 2);
    c->connected = c->authorized = false;
    tl_client_connectToProxy q = TL_INIT(client_connectToProxy);
    q.params.hdr.id = TL_ID_client_params;
    q.params.flags = 3;
    q.params.client_owner_address = tl_str(owner);
    q.params.is_test = true;
    q.params.min_proto_version = 1;
    q.params.max_proto_version = 2;
    size_t before = f->n_answers;
    query(c, 1, &q.hdr);
    /* Nothing is answered before the contract is read. */
    assert_int_equal(f->n_answers, before);
    assert_int_equal(g_chain.last_read_client, c->id);
    assert_string_equal(g_chain.last_owner, owner);
    return c;
}

static ton_client_state contract_with(const char *secret, uint32_t st)
{
    ton_client_state s = {.state = st, .balance = 5000000000ull, .stake = 1000000000ull};
    if (secret) crypto_sha256(secret, strlen(secret), s.secret_hash);
    return s;
}

/* The offer the proxy made (connectedToProxy's auth); its nonce in *nonce. */
static uint32_t offer(fx *f, uint64_t *nonce, uint8_t hash[32])
{
    tl_obj *o = last_result(f, 1);
    assert_int_equal(o->id, TL_ID_client_connectedToProxy);
    const tl_client_connectedToProxy *a = (const tl_client_connectedToProxy *)o;
    uint32_t kind = a->auth->id;
    if (kind == TL_ID_client_proxyConnectionAuthShort) {
        const tl_client_proxyConnectionAuthShort *s =
            (const tl_client_proxyConnectionAuthShort *)a->auth;
        *nonce = (uint64_t)s->nonce;
        if (hash) memcpy(hash, s->secret_hash.b, 32);
    } else {
        *nonce = (uint64_t)((const tl_client_proxyConnectionAuthLong *)a->auth)->nonce;
    }
    tl_obj_free(o);
    assert_true(*nonce != 0);
    return kind;
}

static void authorize_short(pclient *c, uint64_t qid, const char *secret)
{
    tl_client_authorizeWithProxyShort q = TL_INIT(client_authorizeWithProxyShort);
    q.data = tl_str(secret);
    query(c, qid, &q.hdr);
}

static void authorize_long(pclient *c, uint64_t qid)
{
    tl_client_authorizeWithProxyLong q = TL_INIT(client_authorizeWithProxyLong);
    query(c, qid, &q.hdr);
}

static void expect_success(fx *f, pclient *c, uint64_t qid)
{
    tl_obj *o = last_result(f, qid);
    assert_int_equal(o->id, TL_ID_client_authorizationWithProxySuccess);
    tl_obj_free(o);
    assert_true(c->authorized);
    assert_null(c->auth);
}

/* Runs the loop until the condition holds (the proxy's timers), with a
 * generous limit. */
#define LOOP_UNTIL(f, cond)                                                                        \
    do {                                                                                           \
        double until_ = cc_now_mono() + 20;                                                        \
        while (!(cond) && cc_now_mono() < until_)                                                  \
            event_base_loop((f)->base, EVLOOP_ONCE);                                               \
        assert_true(cond);                                                                         \
    } while (0)

static void test_short_secret_checked(void **state)
{
    fx *f = *state;
    pclient *c = connect_client(f, OWNER_RAW);
    ton_client_state st = contract_with("good-secret", 0);
    proxy_auth_on_contract(f->p, c->id, NULL, &st);
    uint64_t nonce;
    uint8_t h[32];
    assert_int_equal(offer(f, &nonce, h), TL_ID_client_proxyConnectionAuthShort);
    assert_memory_equal(h, st.secret_hash, 32); /* the contract's hash is offered */
    /* A request before authorization drops the link, as before. */
    assert_false(c->authorized);
    /* The wrong secret: COCOON's error, the client is gone. */
    authorize_short(c, 2, "bad-secret");
    assert_int_equal(last(f)->code, NET_ERR_ERROR);
    assert_string_equal(last(f)->error, "sha256 mismatch");
    assert_int_equal(n_clients(f), 0);
    assert_int_equal(f->p->stats.auth_refused, 1);

    /* The right one authorizes, and the account takes the contract's figures. */
    c = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, c->id, NULL, &st);
    offer(f, &nonce, NULL);
    authorize_short(c, 2, "good-secret");
    expect_success(f, c, 2);
    assert_int_equal(c->acct->sc_status, LEDGER_SC_OPEN);
    assert_memory_equal(c->acct->secret_hash, st.secret_hash, 32);
    /* No second connect or authorization on an authorized link. */
    authorize_short(c, 3, "good-secret");
    assert_string_equal(last(f)->error, "already authorized");
}

static void test_contract_without_hash_gets_long_offer(void **state)
{
    fx *f = *state;
    pclient *c = connect_client(f, OWNER_RAW);
    ton_client_state st = contract_with(NULL, 0);
    proxy_auth_on_contract(f->p, c->id, NULL, &st);
    uint64_t nonce;
    assert_int_equal(offer(f, &nonce, NULL), TL_ID_client_proxyConnectionAuthLong);
    /* Any secret against no hash is a mismatch. */
    authorize_short(c, 2, "");
    assert_string_equal(last(f)->error, "sha256 mismatch");
    assert_int_equal(n_clients(f), 0);
}

static void test_closing_contract_refused(void **state)
{
    fx *f = *state;
    pclient *c = connect_client(f, OWNER_RAW);
    ton_client_state st = contract_with("s", 1);
    proxy_auth_on_contract(f->p, c->id, NULL, &st);
    assert_int_equal(last(f)->code, NET_ERR_ERROR);
    assert_string_equal(last(f)->error, "client is closing");
    assert_int_equal(n_clients(f), 0);
}

static void test_long_waits_for_the_nonce(void **state)
{
    fx *f = *state;
    pclient *c = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, c->id, NULL, NULL); /* no contract yet */
    uint64_t nonce;
    assert_int_equal(offer(f, &nonce, NULL), TL_ID_client_proxyConnectionAuthLong);
    size_t answered = f->n_answers;
    authorize_long(c, 2);
    assert_int_equal(f->n_answers, answered); /* held */
    /* The proxy looks at its contract's transactions by itself. */
    LOOP_UNTIL(f, g_chain.scans >= 1);
    ton_addr owner, other;
    assert_int_equal(ton_addr_parse(OWNER_RAW, &owner, NULL, NULL, NULL), 0);
    assert_int_equal(ton_addr_parse(OTHER_RAW, &other, NULL, NULL, NULL), 0);
    ton_client_state_data sd = {.state = 0, .balance = 7, .stake = 3};
    /* Another nonce, or our nonce registered by another owner: nothing. */
    proxy_auth_registered(f->p, &owner, nonce + 1, &sd);
    proxy_auth_registered(f->p, &other, nonce, &sd);
    proxy_auth_scan_done(f->p, NULL);
    assert_int_equal(f->n_answers, answered);
    assert_false(c->authorized);
    /* It keeps looking (with backoff) while someone waits. */
    LOOP_UNTIL(f, g_chain.scans >= 2);
    proxy_auth_registered(f->p, &owner, nonce, &sd);
    expect_success(f, c, 2);
    proxy_auth_scan_done(f->p, NULL);
    /* Nobody waits: the scans stop. */
    int scans = g_chain.scans;
    for (int i = 0; i < 3; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(g_chain.scans, scans);
}

static void test_registration_before_the_query(void **state)
{
    fx *f = *state;
    pclient *c = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, c->id, NULL, NULL);
    uint64_t nonce;
    offer(f, &nonce, NULL);
    ton_addr owner;
    ton_addr_parse(OWNER_RAW, &owner, NULL, NULL, NULL);
    ton_client_state_data sd = {.state = 0, .stake = 3};
    proxy_auth_registered(f->p, &owner, nonce, &sd); /* COCOON's "received" */
    assert_false(c->authorized);
    authorize_long(c, 2);
    expect_success(f, c, 2);
}

static void test_long_wait_times_out(void **state)
{
    fx *f = *state;
    f->p->auth_timeout = 0.3;
    pclient *c = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, c->id, NULL, NULL);
    uint64_t nonce;
    offer(f, &nonce, NULL);
    authorize_long(c, 2);
    LOOP_UNTIL(f, n_clients(f) == 0);
    /* COCOON's authorizationWithProxyFailed, with the reason. */
    tl_obj *o = last_result(f, 2);
    assert_int_equal(o->id, TL_ID_client_authorizationWithProxyFailed);
    const tl_client_authorizationWithProxyFailed *fl =
        (const tl_client_authorizationWithProxyFailed *)o;
    char *why = tl_bytes_strdup(fl->error);
    char want[64];
    snprintf(want, sizeof want, "nonce %llu", (unsigned long long)nonce);
    assert_non_null(strstr(why, "no owner_client_register"));
    assert_non_null(strstr(why, want));
    assert_non_null(strstr(why, "client contract not deployed"));
    free(why);
    tl_obj_free(o);
}

static void test_failed_reads_retried_then_refused(void **state)
{
    fx *f = *state;
    f->p->auth_timeout = 2;
    pclient *c = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, c->id, "HTTP 502", NULL);
    LOOP_UNTIL(f, g_chain.reads >= 2); /* tried again by itself */
    proxy_auth_on_contract(f->p, c->id, "HTTP 502", NULL);
    LOOP_UNTIL(f, n_clients(f) == 0);
    assert_int_equal(last(f)->qid, 1);
    assert_int_equal(last(f)->code, NET_ERR_TIMEOUT);
    assert_non_null(strstr(last(f)->error, "could not be read"));
    assert_non_null(strstr(last(f)->error, "HTTP 502"));
}

static void test_nonces_differ(void **state)
{
    fx *f = *state;
    pclient *a = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, a->id, NULL, NULL);
    uint64_t na, nb;
    offer(f, &na, NULL);
    pclient *b = connect_client(f, OWNER_RAW);
    proxy_auth_on_contract(f->p, b->id, NULL, NULL);
    offer(f, &nb, NULL);
    assert_true(na != nb);
    authorize_long(a, 2);
    authorize_long(b, 3);
    /* b's registration authorizes b only. */
    ton_addr owner;
    ton_addr_parse(OWNER_RAW, &owner, NULL, NULL, NULL);
    ton_client_state_data sd = {.state = 0, .stake = 3};
    proxy_auth_registered(f->p, &owner, nb, &sd);
    expect_success(f, b, 3);
    assert_false(a->authorized);
    assert_non_null(a->auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_short_secret_checked, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_contract_without_hash_gets_long_offer, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_closing_contract_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_long_waits_for_the_nonce, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_registration_before_the_query, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_long_wait_times_out, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failed_reads_retried_then_refused, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_nonces_differ, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
