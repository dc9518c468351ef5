/* Sealed requests through the proxy (docs/confidentiality.md): the proxy
 * offers the certificates of its sealing workers as candidates, routes a
 * sealed request to one of the candidates the client wrapped its key for
 * (by load, as any request), relays the sealed answer unchanged, and bills
 * from the worker's receipt, which it checks against what it relayed.
 * It never holds a key that opens a request or an answer. */
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

/* Candidates per request: enough to choose by load, few enough that the
 * client's verification and wrapping stay cheap. */
#define MAX_CANDIDATES 8

/* The signature of the first receipt from each worker connection is checked,
 * then one in this many, and no sooner than RECEIPT_VERIFY_GAP seconds after
 * the last check (docs/confidentiality.md, "Receipts"): an Ed25519 check
 * costs about 200 us on the benchmark machine, so one in 16 was a tenth of a
 * sealed request's CPU on the proxy at full load, while four checks a second
 * still look at a faulty worker's receipts within a quarter second. The
 * answer hash is sampled by count only, of the first answer and one in this
 * many after it. */
#define RECEIPT_VERIFY_EVERY 16
#define RECEIPT_VERIFY_GAP 0.25
#define ANSWER_HASH_EVERY 16

/* One candidate's wrapped key as the client sent it: opaque to the proxy
 * (a one-shot HPKE wrap, or a session form), passed on unchanged. */
typedef struct pseal_key {
    uint8_t cert_hash[32], enc[32], wrapped[CRYPTO_SEAL_SESSION_WRAP_MAX];
    size_t wrapped_len;
} pseal_key;

struct pseal {
    tl_int256 client_rid;
    pseal_key keys[MAX_CANDIDATES];
    size_t n_keys;
    uint8_t request_hash[32]; /* SHA-256 of the sealed body */
    /* Over the parts relayed from the current worker, when this answer is
     * one of the sample whose hash is checked; else NULL. */
    crypto_hash *answer_hash;
    uint64_t parts;
    bool has_receipt;
    uint8_t receipt[CRYPTO_RECEIPT_MAX_LEN + CRYPTO_RECEIPT_MAC_LEN];
    size_t receipt_len; /* the MAC for the client follows in a session */
    size_t mac_len;     /* CRYPTO_RECEIPT_MAC_LEN then, else 0 */
};

/* ------------------------------------------------------------- workers */

void proxy_seal_worker_init(pworker *w, X509 *cert, const tee_peer_info *info)
{
    if (!cert || !info || !info->claims.has_x25519 || !info->claims.has_receipt_key) return;
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0) return;
    w->cert_der = cc_malloc((size_t)n);
    memcpy(w->cert_der, der, (size_t)n);
    w->cert_der_len = (size_t)n;
    OPENSSL_free(der);
    crypto_sha256(w->cert_der, w->cert_der_len, w->cert_hash);
    memcpy(w->receipt_pub, info->claims.receipt_pub, 32);
    w->sealing = true;
}

void proxy_seal_worker_clear(pworker *w)
{
    free(w->cert_der);
    w->cert_der = NULL;
    w->cert_der_len = 0;
    w->sealing = false;
}

void proxy_seal_workers_changed(proxy *p)
{
    tl_client_sealingWorkersChanged m = TL_INIT(client_sealingWorkersChanged);
    m.generation = (int64_t)++p->seal_generation;
    cc_list_foreach (pclient, c, &p->clients, node) {
        if (c->authorized && (c->hello_flags & DAEMON_PARAMS_FLAG_SEAL_LISTS))
            p->io->to_client(c, &m.hdr);
    }
}

static bool serves(const pworker *w, tl_bytes model)
{
    size_t base = registry_model_base_len(w->model);
    return base == model.len && memcmp(w->model, model.data, base) == 0;
}

void proxy_seal_answer_candidates(pclient *c, uint64_t qid, const tl_client_getSealingCandidates *q)
{
    proxy *p = c->p;
    size_t max = q->max_candidates > 0 && q->max_candidates < MAX_CANDIDATES
                     ? (size_t)q->max_candidates
                     : MAX_CANDIDATES;
    tl_sealing_candidate cand[MAX_CANDIDATES];
    size_t n = 0;
    /* Least loaded first (active / cap), so a short list holds the workers
     * the request is most likely to run on. */
    bool *taken = cc_calloc(p->n_workers + 1, sizeof(*taken));
    while (n < max) {
        long best = -1;
        double best_load = 0;
        for (size_t i = 0; i < p->n_workers; i++) {
            const pworker *w = p->workers[i];
            if (taken[i] || !w->sealing || !w->rw.enabled || !serves(w, q->model)) continue;
            double load = w->rw.max_active > 0 ? (double)w->rw.active / w->rw.max_active : 0;
            if (best < 0 || load < best_load) best = (long)i, best_load = load;
        }
        if (best < 0) break;
        taken[best] = true;
        const pworker *w = p->workers[best];
        cand[n] = (tl_sealing_candidate){.hdr = {.id = TL_ID_sealing_candidate},
                                         .cert = tl_mem(w->cert_der, w->cert_der_len),
                                         .coefficient = w->rw.coefficient,
                                         .active_requests = w->rw.active,
                                         .max_active_requests = w->rw.max_active};
        n++;
    }
    free(taken);
    tl_sealing_candidates a = TL_INIT(sealing_candidates);
    a.model = q->model;
    a.candidates.n = n;
    a.candidates.items = cand;
    cc_buf out = CC_BUF_INIT;
    cc_err err;
    if (tl_encode(&a.hdr, &out, &err) < 0)
        p->io->answer_client_error(c, qid, NET_ERR_ERROR, err.msg);
    else
        p->io->answer_client(c, qid, out.data, out.len);
    cc_buf_free(&out);
}

/* ------------------------------------------------------------ requests */

pseal *proxy_seal_new(const tl_client_runSealedQuery *q, const char **why)
{
    if (q->keys.n == 0 || q->keys.n > MAX_CANDIDATES) {
        *why = "a sealed request needs 1 to 8 wrapped keys";
        return NULL;
    }
    if (q->body.len < CRYPTO_SEAL_TAG_LEN) {
        *why = "sealed body is shorter than its tag";
        return NULL;
    }
    pseal *s = cc_calloc(1, sizeof(*s));
    s->client_rid = q->request_id;
    for (size_t i = 0; i < q->keys.n; i++) {
        const tl_sealing_wrappedKey *k = &q->keys.items[i];
        size_t wl = k->wrapped_key.len;
        if (wl != CRYPTO_SEAL_WRAPPED_LEN && wl != CRYPTO_SEAL_SESSION_WRAP_MAX &&
            wl != CRYPTO_SEAL_SESSION_WRAP_MAX - 8) {
            *why = "a wrapped key has the wrong size";
            free(s);
            return NULL;
        }
        memcpy(s->keys[i].cert_hash, k->cert_hash.b, 32);
        memcpy(s->keys[i].enc, k->enc.b, 32);
        memcpy(s->keys[i].wrapped, k->wrapped_key.data, wl);
        s->keys[i].wrapped_len = wl;
    }
    s->n_keys = q->keys.n;
    crypto_sha256(q->body.data, q->body.len, s->request_hash);
    return s;
}

void proxy_seal_free(pseal *s)
{
    if (!s) return;
    if (s->answer_hash) {
        uint8_t sink[32];
        crypto_hash_final(s->answer_hash, sink);
    }
    free(s);
}

static const pseal_key *key_for(const pseal *s, const pworker *w)
{
    if (!w->sealing) return NULL;
    for (size_t i = 0; i < s->n_keys; i++)
        if (memcmp(s->keys[i].cert_hash, w->cert_hash, 32) == 0) return &s->keys[i];
    return NULL;
}

long proxy_seal_pick(preq *r, uint64_t exclude_id, uint64_t prefer_id, uint64_t rnd, int *why_none)
{
    proxy *p = r->p;
    /* The usual choice, over the workers the client wrapped its key for. */
    const proxy_route_worker *route[MAX_CANDIDATES];
    long index[MAX_CANDIDATES];
    size_t n = 0;
    for (size_t i = 0; i < p->n_workers && n < MAX_CANDIDATES; i++)
        if (key_for(r->seal, p->workers[i])) {
            route[n] = p->route[i];
            index[n++] = (long)i;
        }
    long k = proxy_route_pick(route, n, r->model, r->max_coefficient, exclude_id, rnd);
    k = proxy_route_prefer(route, n, k, prefer_id, r->model, r->max_coefficient, exclude_id);
    if (why_none)
        *why_none = proxy_route_why_none(route, n, r->model, r->max_coefficient, exclude_id);
    return k < 0 ? -1 : index[k];
}

int proxy_seal_dispatch(preq *r, double timeout)
{
    pworker *w = r->worker;
    const pseal_key *k = key_for(r->seal, w);
    if (!k) return -1;
    pseal *s = r->seal;
    /* A new worker starts a new answer: hash only what this one relays. */
    if (s->answer_hash) {
        uint8_t sink[32];
        crypto_hash_final(s->answer_hash, sink);
    }
    /* Hashing every relayed byte was a tenth of a sealed request's cost
     * here, and what it checks is the worker's own consistency: the parts
     * came over the attested worker's RA-TLS link unchanged, so a receipt
     * naming other bytes can only be a faulty worker, which the first
     * answer of each connection and a sample after it catch, as for the
     * signatures. The client checks the hash of every answer it opens. */
    s->answer_hash =
        w->answers_seen++ % ANSWER_HASH_EVERY == 0 ? crypto_hash_new(CRYPTO_HASH_SHA256) : NULL;
    s->parts = 0;
    s->has_receipt = false;
    tl_proxy_runSealedQuery q = TL_INIT(proxy_runSealedQuery);
    q.coefficient = w->rw.coefficient;
    q.timeout = timeout;
    q.request_id = r->worker_rid;
    q.client_request_id = s->client_rid;
    q.model_name = tl_str(r->model);
    q.max_tokens = (int32_t)r->max_tokens;
    q.key.hdr.id = TL_ID_sealing_wrappedKey;
    memcpy(q.key.cert_hash.b, k->cert_hash, 32);
    memcpy(q.key.enc.b, k->enc, 32);
    q.key.wrapped_key = tl_mem(k->wrapped, k->wrapped_len);
    q.body = tl_mem(r->query.data, r->query.len);
    r->p->stats.sealed++;
    return r->p->io->to_worker(w, &q.hdr);
}

/* ------------------------------------------------------------- answers */

void proxy_seal_on_receipt(pworker *w, const tl_proxy_queryReceipt *m)
{
    preq *r = proxy_request_lookup(w, &m->request_id);
    if (!r || !r->seal) return;
    pseal *s = r->seal;
    /* A receipt alone (one-shot form), or followed by its MAC (sessions):
     * the client's wrapped key said which, but the proxy does not read it,
     * so it takes whichever length is a receipt's. */
    size_t len = m->receipt.len, rlen = crypto_receipt_len(m->receipt.data, len);
    size_t mac = len - rlen;
    if (!rlen || (mac != 0 && mac != CRYPTO_RECEIPT_MAC_LEN)) {
        s->has_receipt = false; /* refused at the final part */
        return;
    }
    memcpy(s->receipt, m->receipt.data, len);
    s->receipt_len = len;
    s->mac_len = mac;
    s->has_receipt = true;
}

void proxy_seal_on_part(preq *r, const tl_bytes *answer)
{
    pseal *s = r->seal;
    if (s->answer_hash) crypto_seal_hash_part(s->answer_hash, answer->data, answer->len);
    s->parts++;
}

int proxy_seal_check_receipt(preq *r, const tl_proxy_queryFinalInfo *fi, char *why, size_t n)
{
    pseal *s = r->seal;
    pworker *w = r->worker;
    crypto_receipt rc;
    cc_err err;
    if (!w) return snprintf(why, n, "the worker is gone"), -1;
    if (!s->has_receipt) return snprintf(why, n, "the worker sent no receipt"), -1;
    /* The worker is attested and the link is its RA-TLS: a bad signature
     * can only be a faulty worker, which the first receipt and a sample
     * after it catch. What protects the client from us is its own check. */
    size_t rlen = s->receipt_len - s->mac_len;
    if (!s->mac_len && !crypto_receipt_is_signed(s->receipt))
        return snprintf(why, n, "the receipt is neither signed nor MACed"), -1;
    bool verify = false;
    if (crypto_receipt_is_signed(s->receipt)) {
        double now = cc_now_mono();
        verify = w->receipts_seen++ == 0 || (++w->receipts_since_check >= RECEIPT_VERIFY_EVERY &&
                                             now - w->receipt_checked_at >= RECEIPT_VERIFY_GAP);
        if (verify) {
            w->receipts_since_check = 0;
            w->receipt_checked_at = now;
        }
    }
    int vrc = verify ? crypto_receipt_verify(s->receipt, rlen, w->receipt_pub, &rc, &err)
                     : crypto_receipt_parse(s->receipt, rlen, &rc, &err);
    if (vrc < 0) return snprintf(why, n, "%s", err.msg), -1;
    uint8_t answer[32], model[32];
    if (s->answer_hash) {
        crypto_hash *h = crypto_hash_dup(s->answer_hash);
        crypto_hash_final(h, answer);
    } else {
        memcpy(answer, rc.answer_hash, 32); /* not in this answer's sample */
    }
    crypto_sha256(w->model, strlen(w->model), model);
    const tl_tokensUsed *t = &fi->tokens_used;
    const char *bad = NULL;
    if (memcmp(rc.request_id, r->worker_rid.b, 32) != 0)
        bad = "request id";
    else if (memcmp(rc.cert_hash, w->cert_hash, 32) != 0)
        bad = "certificate hash";
    else if (memcmp(rc.model_hash, model, 32) != 0)
        bad = "model hash";
    else if (memcmp(rc.request_hash, s->request_hash, 32) != 0)
        bad = "sealed request hash";
    else if (memcmp(rc.answer_hash, answer, 32) != 0 || rc.parts != s->parts)
        bad = "sealed answer hash";
    else if (rc.prompt_tokens != t->prompt_tokens_used ||
             rc.cached_tokens != t->cached_tokens_used ||
             rc.completion_tokens != t->completion_tokens_used ||
             rc.reasoning_tokens != t->reasoning_tokens_used ||
             rc.total_tokens != t->total_tokens_used)
        bad = "token counts";
    else if (rc.coefficient != w->rw.coefficient)
        bad = "coefficient";
    if (bad) return snprintf(why, n, "the receipt's %s does not match the answer", bad), -1;
    return 0;
}

void proxy_seal_forward_receipt(preq *r)
{
    if (!r->client) return;
    tl_client_queryReceipt m = TL_INIT(client_queryReceipt);
    m.request_id = r->client_rid;
    m.receipt = tl_mem(r->seal->receipt, r->seal->receipt_len);
    r->p->io->to_client(r->client, &m.hdr);
}
