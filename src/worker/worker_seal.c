/* Sealed requests on the worker (docs/confidentiality.md): the data key is
 * unwrapped under the client's session with us (established with the X25519
 * key our certificate claims, then symmetric keys per request), or by a
 * one-shot HPKE wrap; the body opened under the AAD the client sealed it
 * with, each answer message sealed with the request's answer key, and the
 * receipt MACed for the client and, when asked, signed with the receipt key
 * our certificate claims. Plaintext lives only in this process. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
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
    /* Session form: the session and sequence number the request used, the
     * receipt's MAC key, and whether any answer was sealed under its keys
     * (if not, the sequence number is given back when the request is
     * refused, so the proxy may route it here again). */
    worker *w;
    bool session, sealed_any;
    bool sign;                    /* a session request that asked for a signed receipt */
    struct wbatch_entry *batched; /* its receipt, waiting for the batch signature */
    uint8_t sid[32];
    uint64_t seq;
    uint8_t mac_key[32];
};

typedef struct wseal_gen wseal_gen;

static void gen_free(wseal_gen *g)
{
    crypto_seal_sessions_free(g->sessions);
    crypto_ed25519_key_free(g->receipt_key);
    X509_free(g->cert);
    explicit_bzero(g, sizeof(*g));
}

/* Brings w->seal_gen in line with our certificates: a renewal makes the
 * current one the previous one (its sessions and imported key move with it)
 * and forgets the one before, sessions and all: a request wrapped for it no
 * longer opens, so no replay of its sessions' establishments can either. */
static int gens_sync(worker *w, cc_err *err)
{
    X509 *want[2] = {w->tee.identity->cert, w->tee.prev_cert};
    if (w->seal_gen[0].cert == want[0] && w->seal_gen[1].cert == want[1]) return 0;
    wseal_gen old[2] = {w->seal_gen[0], w->seal_gen[1]};
    memset(w->seal_gen, 0, sizeof(w->seal_gen));
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        if (!want[i]) continue;
        for (int j = 0; j < 2 && !w->seal_gen[i].cert; j++)
            if (old[j].cert == want[i]) {
                w->seal_gen[i] = old[j];
                memset(&old[j], 0, sizeof(old[j]));
            }
        if (w->seal_gen[i].cert) continue;
        unsigned char *der = NULL;
        int n = i2d_X509(want[i], &der);
        if (n <= 0) {
            rc = cc_err_set(err, "cannot encode our certificate");
            continue;
        }
        crypto_sha256(der, (size_t)n, w->seal_gen[i].cert_hash);
        OPENSSL_free(der);
        /* Held, so a later certificate can never sit at this address. */
        X509_up_ref(want[i]);
        w->seal_gen[i].cert = want[i];
    }
    gen_free(&old[0]);
    gen_free(&old[1]);
    return rc;
}

/* The generation whose certificate has this hash, or NULL. */
static wseal_gen *gen_find(worker *w, const uint8_t cert_hash[32])
{
    for (int i = 0; i < 2; i++)
        if (w->seal_gen[i].cert && crypto_memeq(w->seal_gen[i].cert_hash, cert_hash, 32))
            return &w->seal_gen[i];
    return NULL;
}

/* The daemon_tee keys of a generation (the current or the previous). */
static const uint8_t *gen_seal_sk(worker *w, const wseal_gen *g)
{
    return g == &w->seal_gen[0] ? w->tee.seal_sk : w->tee.prev_seal_sk;
}

static const uint8_t *gen_receipt_sk(worker *w, const wseal_gen *g)
{
    return g == &w->seal_gen[0] ? w->tee.receipt_sk : w->tee.prev_receipt_sk;
}

/* The session form of a wrapped key (anything but the 48-byte HPKE wrap). */
static int open_session(worker *w, wseal_gen *g, wseal *s, const tl_proxy_runSealedQuery *q,
                        const cc_buf *aad, uint8_t key[32], cc_err *err)
{
    if (!g->sessions)
        g->sessions = crypto_seal_sessions_new(SESSIONS_MAX, SESSION_LIFETIME, SESSION_SKEW);
    crypto_seal_opened o;
    if (crypto_seal_sessions_open(g->sessions, gen_seal_sk(w, g), s->cert_hash, cc_now_wall(),
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
    if (gens_sync(w, err) < 0) goto out;
    /* A key wrapped for another certificate (ours before two renewals, or a
     * proxy's mistake) cannot open here; say so rather than "bad tag". */
    wseal_gen *g = gen_find(w, q->key.cert_hash.b);
    if (!g) {
        cc_err_set(err, "sealed request was wrapped for another worker certificate");
        goto out;
    }
    if (g != &w->seal_gen[0] && X509_cmp_time(X509_get0_notAfter(g->cert), NULL) < 0) {
        cc_err_set(err, "sealed request was wrapped for our previous certificate, now expired");
        goto out;
    }
    memcpy(s->cert_hash, g->cert_hash, 32);
    crypto_seal_request_aad(q->client_request_id.b, (const char *)q->model_name.data,
                            q->model_name.len, q->max_tokens, &aad);
    memset(&ctx, 0, sizeof(ctx));
    if (q->key.wrapped_key.len != CRYPTO_SEAL_WRAPPED_LEN) {
        /* A session: symmetric work only, unless this request establishes it. */
        if (open_session(w, g, s, q, &aad, key, err) < 0 ||
            crypto_seal_body_open(key, &aad, q->body.data, q->body.len, query, err) < 0)
            goto out;
    } else if (crypto_seal_unwrap(gen_seal_sk(w, g), s->cert_hash, &aad, q->key.enc.b,
                                  q->key.wrapped_key.data, key, &ctx, err) < 0 ||
               crypto_seal_body_open(key, &aad, q->body.data, q->body.len, query, err) < 0 ||
               crypto_seal_stream_init(&s->stream, &ctx, err) < 0) {
        goto out;
    }
    crypto_sha256(q->body.data, q->body.len, s->request_hash);
    crypto_sha256(w->model, strlen(w->model), s->model_hash);
    s->w = w;
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

/* Receipts waiting for this turn's batch signature, each with the final
 * answer message it must precede (encoded: the request may be gone by the
 * time the batch is signed). */
typedef struct wbatch_entry {
    wlink *link;
    net_conn *held; /* link->conn, its output held until the batch is sent */
    tl_int256 request_id;
    crypto_receipt receipt;
    bool session;
    uint8_t mac_key[32];
    cc_buf final_msg;
} wbatch_entry;

typedef struct wseal_batch {
    struct event *ev; /* active once a receipt waits: runs at the end of the turn */
    wbatch_entry entries[CRYPTO_RECEIPT_BATCH_MAX];
    size_t n;
} wseal_batch;

static void send_receipt(wlink *l, const tl_int256 *request_id, const uint8_t *bytes, size_t len,
                         bool session, const uint8_t mac_key[32])
{
    uint8_t buf[CRYPTO_RECEIPT_MAX_LEN + CRYPTO_RECEIPT_MAC_LEN];
    memcpy(buf, bytes, len);
    /* In a session the client checks a MAC under the request's key (which
     * the proxy cannot make) instead of the signature. */
    if (session) crypto_receipt_mac(mac_key, buf, len, buf + len);
    tl_proxy_queryReceipt m = TL_INIT(proxy_queryReceipt);
    m.request_id = *request_id;
    m.receipt = tl_mem(buf, len + (session ? CRYPTO_RECEIPT_MAC_LEN : 0));
    daemon_link_send(l, &m.hdr);
}

static void entry_clear(wbatch_entry *e)
{
    cc_buf_free(&e->final_msg);
    explicit_bzero(e, sizeof(*e));
}

/* Signs the waiting receipts of one certificate (those whose cert_hash is
 * g's) with one signature; a batch of one is signed as a single receipt
 * (the format every client and proxy reads). Returns how many it signed, or
 * -1 (with err) when signing failed. */
static int batch_sign_gen(worker *w, wseal_gen *g, const size_t *idx, size_t n,
                          uint8_t (*out)[CRYPTO_RECEIPT_MAX_LEN], size_t *len, cc_err *err)
{
    wseal_batch *b = w->seal_batch;
    crypto_receipt rs[CRYPTO_RECEIPT_BATCH_MAX];
    uint8_t one[CRYPTO_RECEIPT_BATCH_MAX][CRYPTO_RECEIPT_MAX_LEN];
    size_t one_len[CRYPTO_RECEIPT_BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        rs[i] = b->entries[idx[i]].receipt;
    if (!g->receipt_key && !(g->receipt_key = crypto_ed25519_key_new(gen_receipt_sk(w, g), err)))
        return -1;
    int rc;
    if (n == 1) {
        rc = crypto_receipt_sign_key(&rs[0], g->receipt_key, one[0], err);
        one_len[0] = CRYPTO_RECEIPT_LEN;
    } else {
        rc = crypto_receipt_batch_sign(rs, n, g->receipt_key, one, one_len, err);
    }
    if (rc < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        memcpy(out[idx[i]], one[i], one_len[i]);
        len[idx[i]] = one_len[i];
    }
    return (int)n;
}

/* Signs every waiting receipt, with one signature per certificate (one,
 * unless a renewal came between their requests), and sends each, then its
 * final message. */
static void batch_flush(worker *w)
{
    wseal_batch *b = w->seal_batch;
    size_t n = b->n;
    if (!n) return;
    b->n = 0;
    cc_err err = {0};
    uint8_t out[CRYPTO_RECEIPT_BATCH_MAX][CRYPTO_RECEIPT_MAX_LEN];
    size_t len[CRYPTO_RECEIPT_BATCH_MAX] = {0};
    bool have_gens = gens_sync(w, &err) == 0;
    for (int gi = 0; have_gens && gi < 2; gi++) {
        wseal_gen *g = &w->seal_gen[gi];
        size_t idx[CRYPTO_RECEIPT_BATCH_MAX], k = 0;
        for (size_t i = 0; g->cert && i < n; i++)
            if (crypto_memeq(b->entries[i].receipt.cert_hash, g->cert_hash, 32)) idx[k++] = i;
        if (k && batch_sign_gen(w, g, idx, k, out, len, &err) < 0)
            CC_ERROR("event=receipt_sign_failed receipts=%zu error=\"%s\"", k, err.msg);
    }
    size_t unsigned_n = 0;
    for (size_t i = 0; i < n; i++) {
        wbatch_entry *e = &b->entries[i];
        /* Unsigned (signing failed, or its certificate is two renewals
         * old), nothing is sent: the proxy then refuses to bill the answer,
         * and the client to deliver it (nothing sent beats a lie). */
        if (len[i])
            send_receipt(e->link, &e->request_id, out[i], len[i], e->session, e->mac_key);
        else
            unsigned_n++;
        if (e->final_msg.len && e->link->conn && net_conn_is_ready(e->link->conn) &&
            net_conn_send_packet(e->link->conn, e->final_msg.data, e->final_msg.len, &err) < 0)
            CC_WARN("event=send_failed what=final_part error=\"%s\"", err.msg);
        if (e->held && e->link->conn == e->held) net_conn_output_release(e->held);
        entry_clear(e);
    }
    if (unsigned_n) CC_ERROR("event=receipts_unsigned receipts=%zu", unsigned_n);
    worker_renew_request_ended(w); /* a link waiting for these may reconnect */
}

static void on_batch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    batch_flush(arg);
}

static void batch_add(wseal *s, wlink *l, const tl_int256 *request_id, const crypto_receipt *r)
{
    worker *w = s->w;
    if (!w->seal_batch) {
        w->seal_batch = cc_calloc(1, sizeof(*w->seal_batch));
        w->seal_batch->ev = event_new(w->base, -1, 0, on_batch, w);
    }
    wseal_batch *b = w->seal_batch;
    if (b->n == CRYPTO_RECEIPT_BATCH_MAX) batch_flush(w);
    wbatch_entry *e = &b->entries[b->n++];
    e->link = l;
    /* What the link sends in this turn (other answers' parts) waits for the
     * receipt and its final part, so all leave in one write instead of two:
     * one wakeup less on the proxy, and on the client, per batch. */
    if ((e->held = l->conn)) net_conn_output_hold(e->held);
    e->request_id = *request_id;
    e->receipt = *r;
    e->session = s->session;
    memcpy(e->mac_key, s->mac_key, 32);
    s->batched = e;
    /* Runs after the callbacks already due in this turn, so the answers
     * that end together share one signature, and none waits for a timer. */
    event_active(b->ev, 0, 0);
}

void worker_seal_send_final(wseal *s, wlink *l, const tl_obj *msg)
{
    wbatch_entry *e = s->batched;
    cc_err err;
    s->batched = NULL;
    if (!e || tl_encode(msg, &e->final_msg, &err) < 0) daemon_link_send(l, msg);
}

void worker_seal_link_gone(worker *w, wlink *l)
{
    wseal_batch *b = w->seal_batch;
    if (!b) return;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->entries[i].link == l) {
            /* Still alive here (the link forgets it first, then closes
             * it): a connection that drains before closing must not wait
             * for a batch that no longer sends to it. */
            if (b->entries[i].held) net_conn_output_release(b->entries[i].held);
            entry_clear(&b->entries[i]);
            continue;
        }
        if (k != i) {
            b->entries[k] = b->entries[i];
            memset(&b->entries[i], 0, sizeof(b->entries[i]));
        }
        k++;
    }
    b->n = k;
}

bool worker_seal_link_pending(const worker *w, const wlink *l)
{
    const wseal_batch *b = w->seal_batch;
    for (size_t i = 0; b && i < b->n; i++)
        if (b->entries[i].link == l) return true;
    return false;
}

void worker_seal_state_free(worker *w)
{
    gen_free(&w->seal_gen[0]);
    gen_free(&w->seal_gen[1]);
    wseal_batch *b = w->seal_batch;
    if (!b) return;
    for (size_t i = 0; i < b->n; i++)
        entry_clear(&b->entries[i]);
    if (b->ev) event_free(b->ev);
    free(b);
    w->seal_batch = NULL;
}

int worker_seal_send_receipt(wseal *s, wlink *l, const tl_int256 *request_id,
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
    /* A session request gets a signature only when its client asked for
     * one (its caller wants evidence for others): the MAC is what the
     * client itself checks, and signing is most of a sealed request's cost. */
    if (s->session && !s->sign) {
        uint8_t bytes[CRYPTO_RECEIPT_LEN];
        crypto_receipt_encode_unsigned(&r, bytes);
        send_receipt(l, request_id, bytes, sizeof(bytes), true, s->mac_key);
        return 0;
    }
    batch_add(s, l, request_id, &r);
    return 1;
}

void worker_seal_free(wseal *s)
{
    if (!s) return;
    wseal_gen *g = s->session && !s->sealed_any ? gen_find(s->w, s->cert_hash) : NULL;
    if (g && g->sessions) crypto_seal_sessions_release(g->sessions, s->sid, s->seq);
    explicit_bzero(s->mac_key, sizeof(s->mac_key));
    crypto_seal_stream_clear(&s->stream);
    free(s);
}
