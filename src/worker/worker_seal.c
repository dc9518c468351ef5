/* Sealed requests on the worker (docs/confidentiality.md): the data key is
 * unwrapped under the client's session with us (established with the X25519
 * key our certificate claims, then symmetric keys per request), or by a
 * one-shot HPKE wrap; the body opened under the AAD the client sealed it
 * with, each answer message sealed with the request's answer key, and the
 * receipt MACed for the client and, when asked, signed with the receipt key
 * our certificate claims. Plaintext lives only in this process. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "worker/worker_internal.h"

/* Sessions a worker holds, how long one is usable, and how far a client's
 * clock may be from ours when it establishes one (docs/confidentiality.md). */
#define SESSIONS_MAX 4096
#define SESSION_LIFETIME 600.0
#define SESSION_SKEW 300.0

struct wseal {
    crypto_seal_stream stream;
    uint8_t request_hash[32];
    uint8_t cert_hash[32];
    uint8_t model_hash[32];
    const uint8_t *receipt_sk; /* the worker's (lives as long as the worker) */
    /* Session form: the session and sequence number the request used, the
     * receipt's MAC key, and whether any answer was sealed under its keys
     * (if not, the sequence number is given back when the request is
     * refused, so the proxy may route it here again). */
    worker *w;
    bool session, sealed_any;
    bool sign; /* a session request that asked for a signed receipt */
    uint8_t sid[32];
    uint64_t seq;
    uint8_t mac_key[32];
};

/* Our certificate's hash, computed once per certificate. A new certificate
 * (a renewal) ends the sessions made to the old one, as the client's, which
 * are keyed by certificate hash, end too. */
static int cert_hash(worker *w, uint8_t out[32], cc_err *err)
{
    X509 *cert = w->tee.identity->cert;
    if (w->seal_cert != cert) {
        unsigned char *der = NULL;
        int n = i2d_X509(cert, &der);
        if (n <= 0) return cc_err_set(err, "cannot encode our certificate");
        crypto_sha256(der, (size_t)n, w->seal_cert_hash);
        OPENSSL_free(der);
        if (w->seal_sessions) crypto_seal_sessions_clear(w->seal_sessions);
        /* Held, so a later certificate can never sit at this address. */
        X509_up_ref(cert);
        X509_free(w->seal_cert);
        w->seal_cert = cert;
    }
    memcpy(out, w->seal_cert_hash, 32);
    return 0;
}

/* The session form of a wrapped key (anything but the 48-byte HPKE wrap). */
static int open_session(worker *w, wseal *s, const tl_proxy_runSealedQuery *q, const cc_buf *aad,
                        uint8_t key[32], cc_err *err)
{
    if (!w->seal_sessions)
        w->seal_sessions = crypto_seal_sessions_new(SESSIONS_MAX, SESSION_LIFETIME, SESSION_SKEW);
    crypto_seal_opened o;
    if (crypto_seal_sessions_open(w->seal_sessions, w->tee.seal_sk, s->cert_hash, cc_now_wall(),
                                  q->key.enc.b, q->key.wrapped_key.data, q->key.wrapped_key.len,
                                  aad, &o, err) < 0)
        return -1;
    memcpy(key, o.dek, 32);
    crypto_seal_stream_init_key(&s->stream, o.keys.answer);
    memcpy(s->mac_key, o.keys.mac, 32);
    memcpy(s->sid, o.sid, 32);
    s->seq = o.seq;
    s->sign = o.sign;
    s->session = true;
    s->w = w;
    explicit_bzero(&o, sizeof(o));
    return 0;
}

wseal *worker_seal_open(worker *w, const tl_proxy_runSealedQuery *q, cc_buf *query, cc_err *err)
{
    if (!w->tee.sealing) {
        cc_err_set(err, "this worker has no sealing keys");
        return NULL;
    }
    wseal *s = cc_calloc(1, sizeof(*s));
    cc_buf aad = CC_BUF_INIT;
    uint8_t key[32];
    crypto_hpke_ctx ctx;
    int rc = -1;
    if (cert_hash(w, s->cert_hash, err) < 0) goto out;
    /* A key wrapped for another certificate (ours before a rotation, or a
     * proxy's mistake) cannot open here; say so rather than "bad tag". */
    if (!crypto_memeq(s->cert_hash, q->key.cert_hash.b, 32)) {
        cc_err_set(err, "sealed request was wrapped for another worker certificate");
        goto out;
    }
    crypto_seal_request_aad(q->client_request_id.b, (const char *)q->model_name.data,
                            q->model_name.len, q->max_tokens, &aad);
    memset(&ctx, 0, sizeof(ctx));
    if (q->key.wrapped_key.len != CRYPTO_SEAL_WRAPPED_LEN) {
        /* A session: symmetric work only, unless this request establishes it. */
        if (open_session(w, s, q, &aad, key, err) < 0 ||
            crypto_seal_body_open(key, &aad, q->body.data, q->body.len, query, err) < 0)
            goto out;
    } else if (crypto_seal_unwrap(w->tee.seal_sk, s->cert_hash, &aad, q->key.enc.b,
                                  q->key.wrapped_key.data, key, &ctx, err) < 0 ||
               crypto_seal_body_open(key, &aad, q->body.data, q->body.len, query, err) < 0 ||
               crypto_seal_stream_init(&s->stream, &ctx, err) < 0) {
        goto out;
    }
    crypto_sha256(q->body.data, q->body.len, s->request_hash);
    crypto_sha256(w->model, strlen(w->model), s->model_hash);
    s->receipt_sk = w->tee.receipt_sk;
    rc = 0;
out:
    explicit_bzero(key, sizeof(key));
    crypto_hpke_clear(&ctx);
    cc_buf_free(&aad);
    if (rc < 0) {
        worker_seal_free(s);
        return NULL;
    }
    return s;
}

int worker_seal_part(wseal *s, bool final, const uint8_t *data, size_t len, cc_buf *out,
                     cc_err *err)
{
    s->sealed_any = true;
    return crypto_seal_part(&s->stream, final, data, len, out, err);
}

void worker_seal_send_receipt(wseal *s, wlink *l, const tl_int256 *request_id,
                              const tl_proxy_queryFinalInfo *fi, int32_t coefficient)
{
    crypto_receipt r = {0};
    memcpy(r.request_id, request_id->b, 32);
    memcpy(r.cert_hash, s->cert_hash, 32);
    memcpy(r.model_hash, s->model_hash, 32);
    memcpy(r.request_hash, s->request_hash, 32);
    crypto_seal_stream_hash(&s->stream, r.answer_hash);
    r.prompt_tokens = fi->tokens_used.prompt_tokens_used;
    r.cached_tokens = fi->tokens_used.cached_tokens_used;
    r.completion_tokens = fi->tokens_used.completion_tokens_used;
    r.reasoning_tokens = fi->tokens_used.reasoning_tokens_used;
    r.total_tokens = fi->tokens_used.total_tokens_used;
    r.coefficient = coefficient;
    r.parts = s->stream.counter;
    r.issued_at = (int64_t)cc_now_wall();
    uint8_t bytes[CRYPTO_RECEIPT_LEN + CRYPTO_RECEIPT_MAC_LEN];
    cc_err err;
    /* A session request gets a signature only when its client asked for
     * one (its caller wants evidence for others): the MAC below is what the
     * client itself checks, and signing is most of a sealed request's cost. */
    if (s->session && !s->sign)
        crypto_receipt_encode_unsigned(&r, bytes);
    else if (crypto_receipt_sign(&r, s->receipt_sk, bytes, &err) < 0) {
        CC_ERROR("event=receipt_sign_failed error=\"%s\"", err.msg);
        return; /* the proxy then refuses to bill: nothing sent beats a lie */
    }
    /* In a session the client checks a MAC under the request's key (which
     * the proxy cannot make) instead of the signature. */
    if (s->session) crypto_receipt_mac(s->mac_key, bytes, bytes + CRYPTO_RECEIPT_LEN);
    tl_proxy_queryReceipt m = TL_INIT(proxy_queryReceipt);
    m.request_id = *request_id;
    m.receipt = tl_mem(bytes, s->session ? sizeof(bytes) : CRYPTO_RECEIPT_LEN);
    daemon_link_send(l, &m.hdr);
}

void worker_seal_free(wseal *s)
{
    if (!s) return;
    if (s->session && !s->sealed_any && s->w->seal_sessions)
        crypto_seal_sessions_release(s->w->seal_sessions, s->sid, s->seq);
    explicit_bzero(s->mac_key, sizeof(s->mac_key));
    crypto_seal_stream_clear(&s->stream);
    free(s);
}
