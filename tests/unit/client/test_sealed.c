/* Sealed requests at the client (through the client_io seam, with real
 * certificates from a fake TEE root and real sealing): the body goes out
 * sealed to verified candidates only; answer parts that are altered,
 * reordered, replayed or cut short are refused; a receipt that does not match
 * is refused; a candidate whose key the proxy swapped is detected; streaming,
 * cancellation and retry before the first byte still work sealed. */
#include "client_fixture.h"

#include <openssl/x509.h>

#include "../tee_fixture.h"

#define MODEL_ID "tiny@sha256:00ff"

/* The response headers set so far, as one string. */
static const char *cfx_headers(fcall *call)
{
    cc_buf_append(&call->headers, "", 1);
    call->headers.len--;
    return (const char *)call->headers.data;
}

static char root_dir[512];

/* One attested worker: its identity (certificate) and its sealing keys. */
typedef struct wk {
    tee_identity *id;
    uint8_t x_sk[32], x_pk[32], r_sk[32], r_pk[32];
    uint8_t *der;
    int der_len;
    uint8_t cert_hash[32];
    crypto_seal_sessions *sessions; /* the sessions this worker holds */
} wk;

static tee_provider *g_prov;

static void wk_make(wk *w)
{
    memset(w, 0, sizeof(*w));
    assert_int_equal(crypto_x25519_keygen(w->x_sk, w->x_pk), 0);
    assert_int_equal(crypto_ed25519_keygen(w->r_sk, w->r_pk), 0);
    tee_claims cl = {0};
    cl.has_x25519 = cl.has_receipt_key = cl.has_model_hash = true;
    memcpy(cl.x25519_pub, w->x_pk, 32);
    memcpy(cl.receipt_pub, w->r_pk, 32);
    crypto_sha256(MODEL_ID, strlen(MODEL_ID), cl.model_hash);
    strcpy(cl.role, "worker");
    tee_identity_opts o = {.claims = &cl};
    cc_err err = {0};
    w->id = tee_identity_new(g_prov, &o, &err);
    assert_non_null(w->id);
    w->der_len = i2d_X509(w->id->cert, &w->der);
    assert_true(w->der_len > 0);
    crypto_sha256(w->der, (size_t)w->der_len, w->cert_hash);
    w->sessions = crypto_seal_sessions_new(16, 600, 300);
}

/* The certificate a proxy would forge to read prompts: the worker's quote
 * and claims, but its own X25519 key and its own signing key. */
static void wk_swapped(const wk *genuine, wk *forged)
{
    memset(forged, 0, sizeof(*forged));
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool hq;
    cc_err err = {0};
    assert_int_equal(tee_cert_extract(genuine->id->cert, &claims, &quote, &hq, &err), 0);
    assert_true(hq);
    tee_claims cl;
    assert_int_equal(tee_claims_decode(claims.data, claims.len, &cl, &err), 0);
    assert_int_equal(crypto_x25519_keygen(forged->x_sk, cl.x25519_pub), 0);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    size_t pl = 32;
    EVP_PKEY_get_raw_public_key(k, cl.ed25519_pub, &pl);
    cc_buf c2 = CC_BUF_INIT;
    tee_claims_encode(&cl, &c2);
    X509 *x =
        tee_cert_build(k, c2.data, c2.len, quote.data, quote.len, time(NULL) - 60, 3600, &err);
    assert_non_null(x);
    forged->der_len = i2d_X509(x, &forged->der);
    X509_free(x);
    EVP_PKEY_free(k);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    cc_buf_free(&c2);
}

static void wk_free(wk *w)
{
    crypto_seal_sessions_free(w->sessions);
    if (w->id) tee_identity_free(w->id);
    OPENSSL_free(w->der);
}

static int group_setup(void **state)
{
    (void)state;
    if (tee_fixture_root_create(root_dir, sizeof(root_dir), "client-sealed") < 0) return -1;
    cc_err err = {0};
    g_prov = tee_provider_new_fake(root_dir, "worker", 6, NULL, &err);
    return g_prov ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    tee_provider_free(g_prov);
    tee_fixture_root_remove(root_dir);
    return 0;
}

/* The client under test: sealing required, candidates checked under the
 * fake TEE policy with our root, proxies that relay sealed requests. */
static int setup(void **state)
{
    cfx_setup(state);
    cfx *f = *state;
    client *c = f->c;
    c->sealing = CLIENT_SEALING_REQUIRED;
    c->seal_lists_ttl = -1; /* each request asks for candidates (lists kept: their own test) */
    cc_err err = {0};
    c->worker_policy = daemon_tee_policy_new("fake", root_dir, &err);
    assert_non_null(c->worker_policy);
    for (size_t i = 0; i < c->links.n; i++)
        c->links.at[i].peer_flags = DAEMON_PARAMS_FLAG_SEALING;
    cfx_tiny(f);
    return 0;
}

#define SEALED_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, cfx_teardown)

/* The proxy's candidate list for the pending query. */
static void offer(cfx *f, const wk *const *ws, size_t n)
{
    tl_sealing_candidate cand[4];
    for (size_t i = 0; i < n; i++)
        cand[i] = (tl_sealing_candidate){.hdr = {.id = TL_ID_sealing_candidate},
                                         .cert = tl_mem(ws[i]->der, (size_t)ws[i]->der_len),
                                         .coefficient = 1000,
                                         .max_active_requests = 4};
    tl_sealing_candidates a = TL_INIT(sealing_candidates);
    a.model = tl_str("tiny");
    a.candidates.n = n;
    a.candidates.items = cand;
    assert_int_equal(f->queries[0].msg->id, TL_ID_client_getSealingCandidates);
    cfx_query_answer(f, &a.hdr, 0, NULL);
}

/* The worker's side of one sealed request. */
typedef struct served {
    tl_int256 rid;
    crypto_seal_stream tx;
    uint8_t request_hash[32];
    uint8_t mac_key[32];
    uint8_t enc[32];
    size_t key_len; /* of the session-form wrapped key: 81 establishing, 73 resuming */
    bool sign;      /* the client asked for a signed receipt */
    cc_buf plain;   /* the opened http.request */
} served;

/* The worker's side of the request on link: its session table opens the key
 * (0), or says the session is unknown (CRYPTO_SEAL_SESSION_UNKNOWN). */
static int try_open_request(cfx *f, size_t link, const wk *w, served *s)
{
    const tl_client_runSealedQuery *q =
        (const tl_client_runSealedQuery *)cfx_take(f, link, TL_ID_client_runSealedQuery);
    s->rid = q->request_id;
    const tl_sealing_wrappedKey *k = NULL;
    for (size_t i = 0; i < q->keys.n; i++)
        if (!memcmp(q->keys.items[i].cert_hash.b, w->cert_hash, 32)) k = &q->keys.items[i];
    assert_non_null(k);
    /* The prompt is not in what the proxy sees. */
    assert_null(memmem(q->body.data, q->body.len, "\"content\":\"hi\"", 14));
    cc_buf aad = CC_BUF_INIT;
    crypto_seal_request_aad(q->request_id.b, (const char *)q->model_name.data, q->model_name.len,
                            q->max_tokens, &aad);
    crypto_seal_opened o;
    cc_err err = {0};
    memset(&s->plain, 0, sizeof(s->plain));
    memset(&s->tx, 0, sizeof(s->tx));
    s->key_len = k->wrapped_key.len;
    memcpy(s->enc, k->enc.b, 32);
    int rc = crypto_seal_sessions_open(w->sessions, w->x_sk, w->cert_hash, cc_now_wall(), k->enc.b,
                                       k->wrapped_key.data, k->wrapped_key.len, &aad, &o, &err);
    if (rc < 0) {
        cc_buf_free(&aad);
        return rc;
    }
    assert_int_equal(crypto_seal_body_open(o.dek, &aad, q->body.data, q->body.len, &s->plain, &err),
                     0);
    assert_non_null(memmem(s->plain.data, s->plain.len, "\"content\":\"hi\"", 14));
    crypto_seal_stream_init_key(&s->tx, o.keys.answer);
    memcpy(s->mac_key, o.keys.mac, 32);
    s->sign = o.sign;
    crypto_sha256(q->body.data, q->body.len, s->request_hash);
    cc_buf_free(&aad);
    return 0;
}

static void open_request(cfx *f, size_t link, const wk *w, served *s)
{
    assert_int_equal(try_open_request(f, link, w, s), 0);
}

static void served_free(served *s)
{
    crypto_seal_stream_clear(&s->tx);
    cc_buf_free(&s->plain);
}

static void send_receipt_full(cfx *f, size_t link, served *s, const wk *w, int64_t completion,
                              const uint8_t mac_key[32], bool sign);

/* Seals one answer message (head = an http.response with payload). */
static void seal_msg(served *s, bool head, const char *text, bool final, cc_buf *out)
{
    cc_err err = {0};
    if (head) {
        tl_http_header h = {.hdr = {.id = TL_ID_http_header},
                            .name = tl_str("Content-Type"),
                            .value = tl_str("application/json")};
        tl_http_response resp = TL_INIT(http_response);
        resp.http_version = tl_str("HTTP/1.1");
        resp.status_code = 200;
        resp.reason = tl_str("OK");
        resp.headers.n = 1;
        resp.headers.items = &h;
        resp.payload = tl_str(text);
        cc_buf enc = CC_BUF_INIT;
        assert_int_equal(tl_encode(&resp.hdr, &enc, &err), 0);
        assert_int_equal(crypto_seal_part(&s->tx, final, enc.data, enc.len, out, &err), 0);
        cc_buf_free(&enc);
    } else {
        assert_int_equal(crypto_seal_part(&s->tx, final, text, strlen(text), out, &err), 0);
    }
}

static void deliver(cfx *f, size_t link, served *s, bool head, const cc_buf *sealed, bool final,
                    int64_t completion)
{
    tl_client_queryAnswerPartEx a = TL_INIT(client_queryAnswerPartEx);
    if (head) a.hdr.id = TL_ID_client_queryAnswerEx;
    a.request_id = s->rid;
    a.answer = tl_mem(sealed->data, sealed->len);
    if (final) {
        a.flags = 1;
        a.final_info.hdr.id = TL_ID_client_queryFinalInfo;
        a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
        a.final_info.tokens_used.prompt_tokens_used = 3;
        a.final_info.tokens_used.completion_tokens_used = completion;
        a.final_info.tokens_used.total_tokens_used = 3 + completion;
    }
    cfx_deliver(f, link, &a.hdr);
}

static void send_receipt_mac(cfx *f, size_t link, served *s, const wk *w, int64_t completion,
                             const uint8_t mac_key[32])
{
    send_receipt_full(f, link, s, w, completion, mac_key, true);
}

static void send_receipt_full(cfx *f, size_t link, served *s, const wk *w, int64_t completion,
                              const uint8_t mac_key[32], bool sign)
{
    crypto_receipt r = {0};
    memcpy(r.cert_hash, w->cert_hash, 32);
    crypto_sha256(MODEL_ID, strlen(MODEL_ID), r.model_hash);
    memcpy(r.request_hash, s->request_hash, 32);
    crypto_seal_stream_hash(&s->tx, r.answer_hash);
    r.prompt_tokens = 3;
    r.completion_tokens = completion;
    r.total_tokens = 3 + completion;
    r.coefficient = 1000;
    r.parts = s->tx.counter;
    uint8_t bytes[CRYPTO_RECEIPT_LEN + CRYPTO_RECEIPT_MAC_LEN];
    cc_err err = {0};
    if (sign)
        assert_int_equal(crypto_receipt_sign(&r, w->r_sk, bytes, &err), 0);
    else
        crypto_receipt_encode_unsigned(&r, bytes);
    crypto_receipt_mac(mac_key, bytes, CRYPTO_RECEIPT_LEN, bytes + CRYPTO_RECEIPT_LEN);
    tl_client_queryReceipt m = TL_INIT(client_queryReceipt);
    m.request_id = s->rid;
    m.receipt = tl_mem(bytes, sizeof(bytes));
    client_seal_on_receipt(&f->c->links.at[link], &m);
}

static void send_receipt(cfx *f, size_t link, served *s, const wk *w, int64_t completion)
{
    send_receipt_mac(f, link, s, w, completion, s->mac_key);
}

static void test_sealed_answer_with_receipt(void **state)
{
    cfx *f = *state;
    wk a, b;
    wk_make(&a);
    wk_make(&b);
    fcall *call = cfx_chat(f, false);
    const wk *ws[] = {&a, &b};
    offer(f, ws, 2);
    served s;
    open_request(f, 0, &b, &s); /* the proxy chose b */
    cc_buf m0 = CC_BUF_INIT, m1 = CC_BUF_INIT;
    seal_msg(&s, true, "{\"id\":", false, &m0);
    deliver(f, 0, &s, true, &m0, false, 0);
    seal_msg(&s, false, "\"x\"}", true, &m1);
    send_receipt(f, 0, &s, &b, 2);
    deliver(f, 0, &s, false, &m1, true, 2);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    assert_string_equal(cfx_out(call), "{\"id\":\"x\"}");
    char hex[65];
    cc_hex_encode(b.cert_hash, 32, hex);
    assert_non_null(strstr(cfx_headers(call), "X-Cocoon-Sealing: on\n"));
    assert_non_null(strstr(cfx_headers(call), hex));
    assert_non_null(strstr(cfx_headers(call), "X-Cocoon-Receipt: Q0NSQ1BUMDE")); /* "CCRCPT01" */
    assert_int_equal(f->c->stats.sealed, 1);
    cc_buf_free(&m0);
    cc_buf_free(&m1);
    served_free(&s);
    wk_free(&a);
    wk_free(&b);
}

typedef enum { TAMPER, REORDER, REPLAY, TRUNCATE, WRONG_COUNT, NO_RECEIPT, FORGED_MAC } attack;

static void attacked(cfx *f, attack how, const char *code)
{
    wk a;
    wk_make(&a);
    fcall *call = cfx_chat(f, true);
    const wk *ws[] = {&a};
    offer(f, ws, 1);
    served s;
    open_request(f, 0, &a, &s);
    cc_buf m[3] = {CC_BUF_INIT, CC_BUF_INIT, CC_BUF_INIT};
    seal_msg(&s, true, "data: {\"n\":0}\n\n", false, &m[0]);
    seal_msg(&s, false, "data: {\"n\":1}\n\n", false, &m[1]);
    seal_msg(&s, false, "data: [DONE]\n\n", true, &m[2]);
    deliver(f, 0, &s, true, &m[0], false, 0);
    assert_true(call->streaming);
    switch (how) {
    case TAMPER:
        m[1].data[2] ^= 4;
        deliver(f, 0, &s, false, &m[1], false, 0);
        break;
    case REORDER:
        deliver(f, 0, &s, false, &m[2], true, 2);
        break;
    case REPLAY:
        deliver(f, 0, &s, false, &m[1], false, 0);
        deliver(f, 0, &s, false, &m[1], false, 0);
        break;
    case TRUNCATE: /* part 1 passed off as the last */
        deliver(f, 0, &s, false, &m[1], true, 1);
        break;
    case WRONG_COUNT: /* the final info bills more than the worker signed */
        deliver(f, 0, &s, false, &m[1], false, 0);
        send_receipt(f, 0, &s, &a, 2);
        deliver(f, 0, &s, false, &m[2], true, 50);
        break;
    case NO_RECEIPT:
        deliver(f, 0, &s, false, &m[1], false, 0);
        deliver(f, 0, &s, false, &m[2], true, 2);
        break;
    case FORGED_MAC: { /* right fields and signature, a MAC the proxy made up */
        uint8_t guess[32] = {1};
        deliver(f, 0, &s, false, &m[1], false, 0);
        send_receipt_mac(f, 0, &s, &a, 2, guess);
        deliver(f, 0, &s, false, &m[2], true, 2);
        break;
    }
    }
    assert_true(call->done);
    const char *out = cfx_out(call);
    if (!strstr(out, code)) fail_msg("stream %s does not end with %s", out, code);
    assert_null(strstr(out, "[DONE]"));
    assert_null(strstr(out, "X-Cocoon-Receipt"));
    for (int i = 0; i < 3; i++)
        cc_buf_free(&m[i]);
    served_free(&s);
    wk_free(&a);
}

static void test_tampered_part_refused(void **state)
{
    attacked(*state, TAMPER, "sealing_error");
    cfx *f = *state;
    cfx_take(f, 0, TL_ID_client_cancelQuery); /* the worker stops */
}

static void test_reordered_part_refused(void **state)
{
    attacked(*state, REORDER, "sealing_error");
}

static void test_replayed_part_refused(void **state)
{
    attacked(*state, REPLAY, "sealing_error");
}

static void test_truncated_answer_refused(void **state)
{
    attacked(*state, TRUNCATE, "sealing_error");
}

static void test_receipt_count_refused(void **state)
{
    attacked(*state, WRONG_COUNT, "receipt_refused");
}

static void test_missing_receipt_refused(void **state)
{
    attacked(*state, NO_RECEIPT, "receipt_refused");
}

static void test_forged_receipt_mac_refused(void **state)
{
    attacked(*state, FORGED_MAC, "receipt_refused");
}

static void test_sealed_stream_ends_with_receipt_comment(void **state)
{
    cfx *f = *state;
    wk a;
    wk_make(&a);
    fcall *call = cfx_chat(f, true);
    const wk *ws[] = {&a};
    offer(f, ws, 1);
    served s;
    open_request(f, 0, &a, &s);
    cc_buf m0 = CC_BUF_INIT, m1 = CC_BUF_INIT;
    seal_msg(&s, true, "data: {\"n\":0}\n\n", false, &m0);
    deliver(f, 0, &s, true, &m0, false, 0);
    seal_msg(&s, false, "data: [DONE]\n\n", true, &m1);
    send_receipt(f, 0, &s, &a, 1);
    deliver(f, 0, &s, false, &m1, true, 1);
    assert_true(call->done);
    const char *out = cfx_out(call);
    assert_non_null(strstr(out, "data: [DONE]\n\n: X-Cocoon-Receipt: Q0NSQ1BUMDE"));
    assert_non_null(strstr(cfx_headers(call), "X-Cocoon-Worker: "));
    cc_buf_free(&m0);
    cc_buf_free(&m1);
    served_free(&s);
    wk_free(&a);
}

static void test_swapped_key_detected(void **state)
{
    cfx *f = *state;
    wk a, forged;
    wk_make(&a);
    wk_swapped(&a, &forged);
    fcall *call = cfx_chat(f, false);
    const wk *ws[] = {&forged};
    offer(f, ws, 1);
    /* Required: nothing is sent, the caller hears why. */
    cfx_expect_none(f);
    assert_true(call->done);
    assert_int_equal(call->status, 503);
    assert_string_equal(call->err.code, "sealing_unavailable");
    assert_int_equal(f->c->stats.candidates_refused, 1);
    /* Beside a genuine one, only the genuine one gets a key. */
    call = cfx_chat(f, false);
    const wk *both[] = {&forged, &a};
    offer(f, both, 2);
    const tl_client_runSealedQuery *q =
        (const tl_client_runSealedQuery *)cfx_take(f, 0, TL_ID_client_runSealedQuery);
    assert_int_equal(q->keys.n, 1);
    assert_memory_equal(q->keys.items[0].cert_hash.b, a.cert_hash, 32);
    cfx_caller_leaves(call);
    wk_free(&a);
    wk_free(&forged);
}

static void test_cancel_and_retry_sealed(void **state)
{
    cfx *f = *state;
    wk a;
    wk_make(&a);
    /* The caller leaves mid-stream: the proxy hears client.cancelQuery. */
    fcall *call = cfx_chat(f, true);
    const wk *ws[] = {&a};
    offer(f, ws, 1);
    served s;
    open_request(f, 0, &a, &s);
    cc_buf m0 = CC_BUF_INIT;
    seal_msg(&s, true, "data: {}\n\n", false, &m0);
    deliver(f, 0, &s, true, &m0, false, 0);
    cfx_caller_leaves(call);
    const tl_client_cancelQuery *cq =
        (const tl_client_cancelQuery *)cfx_take(f, 0, TL_ID_client_cancelQuery);
    assert_memory_equal(cq->request_id.b, s.rid.b, 32);
    served_free(&s);

    /* The proxy is lost before the first byte: sealed again via the other. */
    call = cfx_chat(f, false);
    offer(f, ws, 1);
    open_request(f, 0, &a, &s);
    cfx_link_lost(f, 0);
    offer(f, ws, 1);
    served s2;
    open_request(f, 1, &a, &s2);
    assert_memory_not_equal(s2.rid.b, s.rid.b, 32);
    cc_buf m1 = CC_BUF_INIT;
    seal_msg(&s2, true, "{}", true, &m1);
    send_receipt(f, 1, &s2, &a, 0);
    deliver(f, 1, &s2, true, &m1, true, 0);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    assert_int_equal(f->c->stats.retried, 1);
    cc_buf_free(&m0);
    cc_buf_free(&m1);
    served_free(&s);
    served_free(&s2);
    wk_free(&a);
}

/* One whole sealed request to w on link 0 (the worker answers "{}"). */
static void one_request(cfx *f, const wk *w, served *s)
{
    fcall *call = cfx_chat(f, false);
    const wk *ws[] = {w};
    offer(f, ws, 1);
    open_request(f, 0, w, s);
    cc_buf m = CC_BUF_INIT;
    seal_msg(s, true, "{}", true, &m);
    send_receipt(f, 0, s, w, 0);
    deliver(f, 0, s, true, &m, true, 0);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    cc_buf_free(&m);
}

/* As one_request, the receipt unsigned (MAC only): the caller gets status. */
static void one_request_unsigned(cfx *f, const wk *w, served *s, const char *hdr, int status)
{
    fcall *call = cfx_chat(f, false);
    call->receipt_hdr = hdr;
    const wk *ws[] = {w};
    offer(f, ws, 1);
    open_request(f, 0, w, s);
    cc_buf m = CC_BUF_INIT;
    seal_msg(s, true, "{}", true, &m);
    send_receipt_full(f, 0, s, w, 0, s->mac_key, false);
    deliver(f, 0, s, true, &m, true, 0);
    assert_true(call->done);
    assert_int_equal(call->status, status);
    if (status == 200) {
        assert_non_null(strstr(cfx_headers(call), "X-Cocoon-Sealing: on\n"));
        assert_null(strstr(cfx_headers(call), "X-Cocoon-Receipt"));
    }
    cc_buf_free(&m);
}

static void test_session_reused(void **state)
{
    cfx *f = *state;
    wk a;
    wk_make(&a);
    served s1, s2, s3;
    one_request(f, &a, &s1);
    one_request(f, &a, &s2);
    one_request(f, &a, &s3);
    /* The first carries the encapsulation; once the worker answered under
     * it, later ones only name the session: one session on each side. */
    assert_int_equal(s1.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX);
    assert_int_equal(s2.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX - 8);
    assert_int_equal(s3.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX - 8);
    assert_memory_equal(s1.enc, s2.enc, 32);
    assert_memory_equal(s1.enc, s3.enc, 32);
    assert_int_equal(crypto_seal_sessions_count(a.sessions), 1);
    /* Each request has its own keys all the same. */
    assert_memory_not_equal(s1.tx.key, s2.tx.key, 32);
    assert_memory_not_equal(s2.mac_key, s3.mac_key, 32);
    served_free(&s1);
    served_free(&s2);
    served_free(&s3);
    wk_free(&a);
}

static void test_session_lost_reencapsulates(void **state)
{
    cfx *f = *state;
    wk a;
    wk_make(&a);
    served s1, s2, s3;
    one_request(f, &a, &s1);
    /* The worker restarts with the same key (its sessions are gone). */
    crypto_seal_sessions_clear(a.sessions);
    fcall *call = cfx_chat(f, false);
    const wk *ws[] = {&a};
    offer(f, ws, 1);
    assert_int_equal(try_open_request(f, 0, &a, &s2), CRYPTO_SEAL_SESSION_UNKNOWN);
    assert_int_equal(s2.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX - 8);
    cfx_error(f, 0, &s2.rid, NET_ERR_ERROR, CRYPTO_SEAL_SESSION_UNKNOWN_MSG);
    /* The caller hears nothing of it: the client re-encapsulates once. */
    assert_false(call->done);
    offer(f, ws, 1);
    open_request(f, 0, &a, &s3);
    assert_int_equal(s3.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX);
    assert_memory_not_equal(s3.enc, s1.enc, 32);
    cc_buf m = CC_BUF_INIT;
    seal_msg(&s3, true, "{}", true, &m);
    send_receipt(f, 0, &s3, &a, 0);
    deliver(f, 0, &s3, true, &m, true, 0);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    assert_int_equal(f->c->stats.retried, 1);
    /* Lost twice in a row: the second loss reaches the caller. */
    crypto_seal_sessions_clear(a.sessions);
    served s4, s5;
    call = cfx_chat(f, false);
    offer(f, ws, 1);
    assert_int_equal(try_open_request(f, 0, &a, &s4), CRYPTO_SEAL_SESSION_UNKNOWN);
    cfx_error(f, 0, &s4.rid, NET_ERR_ERROR, CRYPTO_SEAL_SESSION_UNKNOWN_MSG);
    offer(f, ws, 1);
    crypto_seal_sessions_clear(a.sessions);
    /* The retry establishes (it carries the encapsulation), so it opens. */
    open_request(f, 0, &a, &s5);
    assert_int_equal(s5.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX);
    cfx_error(f, 0, &s5.rid, NET_ERR_ERROR, CRYPTO_SEAL_SESSION_UNKNOWN_MSG);
    assert_true(call->done);
    assert_int_equal(call->status, 502);
    cc_buf_free(&m);
    served_free(&s1);
    served_free(&s2);
    served_free(&s3);
    served_free(&s4);
    served_free(&s5);
    wk_free(&a);
}

static void test_session_expires(void **state)
{
    cfx *f = *state;
    f->c->seal_session_lifetime = 1e-9; /* every session is over at once */
    wk a;
    wk_make(&a);
    served s1, s2;
    one_request(f, &a, &s1);
    one_request(f, &a, &s2);
    assert_int_equal(s2.key_len, CRYPTO_SEAL_SESSION_WRAP_MAX);
    assert_memory_not_equal(s1.enc, s2.enc, 32);
    assert_int_equal(crypto_seal_sessions_count(a.sessions), 2);
    served_free(&s1);
    served_free(&s2);
    wk_free(&a);
}

static void test_receipts_signed_on_request(void **state)
{
    cfx *f = *state;
    f->c->seal_sign_on_request = true;
    wk a;
    wk_make(&a);
    const wk *ws[] = {&a};
    /* Nobody asked: an unsigned receipt with its MAC will do, and the answer
     * carries no X-Cocoon-Receipt. */
    served s1, s2, s3;
    one_request_unsigned(f, &a, &s1, NULL, 200);
    assert_false(s1.sign);
    /* Unsigned when the caller asked: refused. */
    fcall *call = cfx_chat(f, false);
    call->receipt_hdr = "signed";
    offer(f, ws, 1);
    open_request(f, 0, &a, &s2);
    assert_true(s2.sign);
    cc_buf m = CC_BUF_INIT;
    seal_msg(&s2, true, "{}", true, &m);
    send_receipt_full(f, 0, &s2, &a, 0, s2.mac_key, false);
    deliver(f, 0, &s2, true, &m, true, 0);
    assert_true(call->done);
    assert_int_equal(call->status, 502);
    assert_string_equal(call->err.code, "receipt_refused");
    /* Signed when asked: checked, and handed on. */
    call = cfx_chat(f, false);
    call->receipt_hdr = "signed";
    offer(f, ws, 1);
    open_request(f, 0, &a, &s3);
    cc_buf_reset(&m);
    seal_msg(&s3, true, "{}", true, &m);
    send_receipt(f, 0, &s3, &a, 0);
    deliver(f, 0, &s3, true, &m, true, 0);
    assert_int_equal(call->status, 200);
    assert_non_null(strstr(cfx_headers(call), "X-Cocoon-Receipt: Q0NSQ1BUMDE"));
    cc_buf_free(&m);
    served_free(&s1);
    served_free(&s2);
    served_free(&s3);
    wk_free(&a);
}

/* Serves the sealed request just sent for call on link 0 by w ("{}"). */
static void serve_call(cfx *f, fcall *call, const wk *w, served *s)
{
    open_request(f, 0, w, s);
    cc_buf m = CC_BUF_INIT;
    seal_msg(s, true, "{}", true, &m);
    send_receipt(f, 0, s, w, 0);
    deliver(f, 0, s, true, &m, true, 0);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    cc_buf_free(&m);
}

/* The proxy's candidate list is kept: one query serves the requests after
 * it, each wrapped for its share of the list in turn, until the proxy says
 * its sealing workers changed (a new worker is offered at once), a request
 * on the kept list fails, or the link goes. */
static void test_candidate_lists_kept(void **state)
{
    cfx *f = *state;
    client *c = f->c;
    c->seal_lists_ttl = 0; /* the default lifetime */
    c->seal_candidates = 1;
    c->links.at[0].peer_flags |= DAEMON_PARAMS_FLAG_SEAL_LISTS; /* the proxy tells of changes */
    wk a, b, n;
    wk_make(&a);
    wk_make(&b);
    wk_make(&n);
    served s[6];
    fcall *call = cfx_chat(f, false);
    assert_int_equal(f->n_queries, 1);
    const tl_client_getSealingCandidates *q =
        (const tl_client_getSealingCandidates *)f->queries[0].msg;
    assert_int_equal(q->max_candidates, 8); /* the whole list, to keep */
    const wk *ab[] = {&a, &b};
    offer(f, ab, 2);
    serve_call(f, call, &a, &s[0]);
    call = cfx_chat(f, false);
    assert_int_equal(f->n_queries, 0);
    serve_call(f, call, &b, &s[1]);
    call = cfx_chat(f, false);
    serve_call(f, call, &a, &s[2]);
    assert_int_equal(c->stats.candidate_queries, 1);

    /* A worker joined (or left): the next request asks, and gets it. */
    tl_client_sealingWorkersChanged ch = TL_INIT(client_sealingWorkersChanged);
    ch.generation = 7;
    client_seal_on_workers_changed(&c->links.at[0], &ch);
    call = cfx_chat(f, false);
    assert_int_equal(f->n_queries, 1);
    const wk *only_n[] = {&n};
    offer(f, only_n, 1);
    serve_call(f, call, &n, &s[3]);

    /* A request on the kept list fails: the caller hears it, and the next
     * request asks again. */
    call = cfx_chat(f, false);
    assert_int_equal(f->n_queries, 0);
    open_request(f, 0, &n, &s[4]);
    cfx_error(f, 0, &s[4].rid, NET_ERR_NOT_READY, "no worker serves this model");
    assert_true(call->done);
    assert_int_not_equal(call->status, 200);
    call = cfx_chat(f, false);
    assert_int_equal(f->n_queries, 1);
    offer(f, only_n, 1);
    serve_call(f, call, &n, &s[5]);
    assert_int_equal(c->stats.candidate_queries, 3);

    /* The link goes: its lists go with it. */
    assert_int_equal(c->n_seal_lists, 1);
    cfx_link_lost(f, 0);
    assert_int_equal(c->n_seal_lists, 0);

    /* A proxy that does not tell of changes (an earlier version): each
     * request asks. */
    served t1, t2;
    c->links.at[0].peer_flags &= ~DAEMON_PARAMS_FLAG_SEAL_LISTS;
    c->links.at[0].state = DAEMON_LINK_READY;
    for (int i = 0; i < 2; i++) {
        call = cfx_chat(f, false);
        assert_int_equal(f->n_queries, 1);
        assert_int_equal(
            ((const tl_client_getSealingCandidates *)f->queries[0].msg)->max_candidates, 1);
        offer(f, only_n, 1);
        serve_call(f, call, &n, i ? &t2 : &t1);
    }
    assert_int_equal(c->n_seal_lists, 0);
    served_free(&t1);
    served_free(&t2);
    for (size_t i = 0; i < 6; i++)
        served_free(&s[i]);
    wk_free(&a);
    wk_free(&b);
    wk_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SEALED_TEST(test_sealed_answer_with_receipt),
        SEALED_TEST(test_tampered_part_refused),
        SEALED_TEST(test_reordered_part_refused),
        SEALED_TEST(test_replayed_part_refused),
        SEALED_TEST(test_truncated_answer_refused),
        SEALED_TEST(test_receipt_count_refused),
        SEALED_TEST(test_missing_receipt_refused),
        SEALED_TEST(test_sealed_stream_ends_with_receipt_comment),
        SEALED_TEST(test_swapped_key_detected),
        SEALED_TEST(test_cancel_and_retry_sealed),
        SEALED_TEST(test_forged_receipt_mac_refused),
        SEALED_TEST(test_session_reused),
        SEALED_TEST(test_session_lost_reencapsulates),
        SEALED_TEST(test_session_expires),
        SEALED_TEST(test_receipts_signed_on_request),
        SEALED_TEST(test_candidate_lists_kept),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
