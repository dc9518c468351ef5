/* Sealed requests on the worker (docs/confidentiality.md): the data key is
 * unwrapped with the X25519 key our certificate claims, the body opened under
 * the AAD the client sealed it with, each answer message sealed with the key
 * exported from the HPKE context, and the receipt signed with the receipt key
 * our certificate claims. Plaintext lives only in this process. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "worker/worker_internal.h"

struct wseal {
    crypto_seal_stream stream;
    uint8_t request_hash[32];
    uint8_t cert_hash[32];
    uint8_t model_hash[32];
    const uint8_t *receipt_sk; /* the worker's (lives as long as the worker) */
};

static int cert_hash(X509 *cert, uint8_t out[32], cc_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0) return cc_err_set(err, "cannot encode our certificate");
    crypto_sha256(der, (size_t)n, out);
    OPENSSL_free(der);
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
    if (cert_hash(w->tee.identity->cert, s->cert_hash, err) < 0) goto out;
    /* A key wrapped for another certificate (ours before a rotation, or a
     * proxy's mistake) cannot open here; say so rather than "bad tag". */
    if (!crypto_memeq(s->cert_hash, q->key.cert_hash.b, 32)) {
        cc_err_set(err, "sealed request was wrapped for another worker certificate");
        goto out;
    }
    if (q->key.wrapped_key.len != CRYPTO_SEAL_WRAPPED_LEN) {
        cc_err_set(err, "wrapped key of %zu bytes, expected %d", q->key.wrapped_key.len,
                   CRYPTO_SEAL_WRAPPED_LEN);
        goto out;
    }
    crypto_seal_request_aad(q->client_request_id.b, (const char *)q->model_name.data,
                            q->model_name.len, q->max_tokens, &aad);
    if (crypto_seal_unwrap(w->tee.seal_sk, s->cert_hash, &aad, q->key.enc.b,
                           q->key.wrapped_key.data, key, &ctx, err) < 0 ||
        crypto_seal_body_open(key, &aad, q->body.data, q->body.len, query, err) < 0 ||
        crypto_seal_stream_init(&s->stream, &ctx, err) < 0)
        goto out;
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
    uint8_t bytes[CRYPTO_RECEIPT_LEN];
    cc_err err;
    if (crypto_receipt_sign(&r, s->receipt_sk, bytes, &err) < 0) {
        CC_ERROR("event=receipt_sign_failed error=\"%s\"", err.msg);
        return; /* the proxy then refuses to bill: nothing sent beats a lie */
    }
    tl_proxy_queryReceipt m = TL_INIT(proxy_queryReceipt);
    m.request_id = *request_id;
    m.receipt = tl_mem(bytes, sizeof(bytes));
    daemon_link_send(l, &m.hdr);
}

void worker_seal_free(wseal *s)
{
    if (!s) return;
    crypto_seal_stream_clear(&s->stream);
    free(s);
}
