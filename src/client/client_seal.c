/* Sealed requests from the client (docs/confidentiality.md): the proxy's
 * candidates are verified here (quote under the client's policy, image and
 * model hashes against the registry), cached per certificate; the body is
 * sealed once and its key wrapped for the first verified candidates
 * (sealing_candidates) under this client's session with each (one HPKE per
 * session, symmetric keys per request); the answer is opened part by part
 * with the key of whichever candidate served it, and its receipt (its MAC)
 * checked before the caller hears the answer is complete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "client/client_internal.h"

#define MAX_CANDIDATES 8
/* How long a verified certificate is trusted without checking it again. */
#define CACHE_TTL 600.0
#define CACHE_MAX 1024
/* Sealing sessions (docs/confidentiality.md, "Sessions"): how many a client
 * keeps (least recently used dropped first), and how long one is used at
 * most (never past its worker's certificate). */
#define SESSIONS_MAX 256
#define SESSION_LIFETIME 600.0
#define DEFAULT_CANDIDATES 2
/* Candidate lists kept per (proxy link, model): asking before every request
 * was a round trip to the proxy per request, about a tenth of a sealed
 * request's CPU on the client and a share on the proxy. The proxy tells us
 * when its sealing workers change (client.sealingWorkersChanged, sent on the
 * same link before anything it does with the new set), so a list is dropped
 * as soon as a worker joins or leaves; the lifetime only bounds how long a
 * proxy that does not say so (an older one) can hide a new worker. */
#define LISTS_TTL 2.0
#define LISTS_MAX 64

/* One session with one worker key. */
typedef struct csession {
    uint8_t cert_hash[32];
    uint8_t enc[32], secret[32];
    int64_t created_at; /* wall seconds, bound into the secret */
    double expires;     /* monotonic */
    double last_used;
    uint64_t next_seq;
    /* The worker answered under this session: later requests only name it.
     * Until then each carries the encapsulation (the first may have been
     * routed elsewhere). */
    bool confirmed;
} csession;

/* A candidate certificate as verified (cache entry). */
typedef struct ccand {
    uint8_t cert_hash[32];
    bool ok;
    char why[160];
    uint8_t x25519[32], receipt_pub[32], model_hash[32];
    double verified_at;
    /* Evidence for GET /v1/attestation (cache entries only: copies in a
     * cseal or a list never touch der, which the cache entry owns). */
    uint8_t *der;
    size_t der_len;
    bool quote_verified, used;
    uint8_t image_hash[32];
    tee_tcb_status tcb_status;
    double verified_wall;
    double not_after_wall; /* the certificate's notAfter (unix seconds) */
    char summary[256];
} ccand;

/* A proxy's candidates for one model, as verified. */
typedef struct clist {
    const clink *link;
    char *model;
    ccand cands[MAX_CANDIDATES]; /* copies of cache entries (never own der) */
    size_t n;
    double fetched; /* monotonic */
    size_t next;    /* where the next request's candidates start */
} clist;

typedef struct cseal_cand {
    ccand info; /* a copy: the cache may drop the entry meanwhile */
    crypto_seal_stream stream;
    uint8_t enc[32];     /* the session used */
    uint8_t mac_key[32]; /* checks the receipt */
} cseal_cand;

struct cseal {
    cseal_cand cands[MAX_CANDIDATES];
    size_t n;
    int chosen; /* index of the worker whose key opened the first part, -1 before */
    uint8_t request_hash[32];
    bool has_receipt;
    bool checked; /* the receipt matched the whole answer */
    bool sign;    /* a signed receipt was asked for */
    bool asked;   /* by the caller (X-Cocoon-Receipt: signed): checked here too */
    uint8_t receipt[CRYPTO_RECEIPT_MAX_LEN + CRYPTO_RECEIPT_MAC_LEN];
    size_t receipt_len; /* the MAC included */
    size_t rlen;        /* the receipt proper (either form, crypto_receipt_len) */
    client_seal_fallback fallback;
    bool listed; /* its candidates came from a kept list */
};

void client_seal_free(cseal *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        crypto_seal_stream_clear(&s->cands[i].stream);
    explicit_bzero(s, sizeof(*s));
    free(s);
}

static void ccand_free(ccand *e)
{
    if (!e) return;
    free(e->der);
    free(e);
}

void client_seal_cache_clear(client *c)
{
    for (size_t i = 0; i < c->seal_cache.cap; i++)
        ccand_free(c->seal_cache.slots[i].val);
    cc_map_free(&c->seal_cache);
    cc_map_init(&c->seal_cache);
}

/* ------------------------------------------------------------ candidates */

static void check_candidate(client *c, const uint8_t *der, size_t len, ccand *out)
{
    cc_err err;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        snprintf(out->why, sizeof(out->why), "certificate does not parse");
        X509_free(x);
        return;
    }
    tee_peer_info *info = NULL;
    if (!c->worker_policy) {
        snprintf(out->why, sizeof(out->why), "no worker attestation policy");
    } else if (tee_verify_peer(c->worker_policy, x, (void **)&info, &err) < 0) {
        snprintf(out->why, sizeof(out->why), "%.150s", err.msg);
    } else if (!info->claims.has_x25519 || !info->claims.has_receipt_key) {
        snprintf(out->why, sizeof(out->why), "certificate claims no sealing keys");
    } else if (!info->claims.has_model_hash || strcmp(info->claims.role, "worker") != 0) {
        snprintf(out->why, sizeof(out->why), "certificate is not a worker's with a model claim");
    } else if (c->tee.proxy_registry &&
               !registry_worker_image_allowed(c->tee.proxy_registry,
                                              info->quote_verified ? info->image_hash
                                                                   : (const uint8_t[32]){0})) {
        snprintf(out->why, sizeof(out->why), "worker image hash is not in the registry");
    } else if (c->tee.proxy_registry &&
               !registry_model_hash_allowed(c->tee.proxy_registry, info->claims.model_hash)) {
        snprintf(out->why, sizeof(out->why), "worker model hash is not in the registry");
    } else {
        int days = 0, secs = 0;
        out->ok = true;
        out->not_after_wall = cc_now_wall() + CACHE_TTL;
        if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
            out->not_after_wall = cc_now_wall() + (double)days * 86400 + secs;
        out->quote_verified = info->quote_verified;
        memcpy(out->image_hash, info->image_hash, 32);
        out->tcb_status = info->tcb_status;
        snprintf(out->summary, sizeof(out->summary), "%s", info->summary);
        memcpy(out->x25519, info->claims.x25519_pub, 32);
        memcpy(out->receipt_pub, info->claims.receipt_pub, 32);
        memcpy(out->model_hash, info->claims.model_hash, 32);
    }
    tee_peer_info_free(info);
    X509_free(x);
}

static const ccand *verify_candidate(client *c, tl_bytes cert)
{
    uint8_t h[32];
    crypto_sha256(cert.data, cert.len, h);
    uint64_t key = cc_load_u64le(h);
    ccand *e = cc_map_get(&c->seal_cache, key);
    double now = cc_now_mono();
    if (e && memcmp(e->cert_hash, h, 32) == 0 && now - e->verified_at < CACHE_TTL) return e;
    if (e) ccand_free(cc_map_del(&c->seal_cache, key));
    if (cc_map_count(&c->seal_cache) >= CACHE_MAX) client_seal_cache_clear(c);
    e = cc_calloc(1, sizeof(*e));
    memcpy(e->cert_hash, h, 32);
    e->verified_at = now;
    e->verified_wall = cc_now_wall();
    check_candidate(c, cert.data, cert.len, e);
    if (e->ok) {
        e->der = cc_malloc(cert.len);
        memcpy(e->der, cert.data, cert.len);
        e->der_len = cert.len;
    }
    if (!e->ok) {
        char hex[17];
        cc_hex_encode(h, 8, hex);
        CC_WARN("event=candidate_refused cert=%s reason=\"%s\"", hex, e->why);
        c->stats.candidates_refused++;
    }
    cc_map_put(&c->seal_cache, key, e);
    return e;
}

/* ------------------------------------------------------------- sessions */

static void csession_free(csession *e)
{
    if (!e) return;
    explicit_bzero(e, sizeof(*e));
    free(e);
}

void client_seal_sessions_clear(client *c)
{
    for (size_t i = 0; i < c->seal_sessions.cap; i++)
        csession_free(c->seal_sessions.slots[i].val);
    cc_map_free(&c->seal_sessions);
    cc_map_init(&c->seal_sessions);
}

static csession *session_find(client *c, const uint8_t cert_hash[32])
{
    csession *e = cc_map_get(&c->seal_sessions, cc_load_u64le(cert_hash));
    return e && !memcmp(e->cert_hash, cert_hash, 32) ? e : NULL;
}

/* The live session to a verified candidate, made (one HPKE) when there is
 * none or it expired. A worker's new key comes with a new certificate, hence
 * a new hash: the old session is never used for it. */
static csession *session_for(client *c, const ccand *cand, cc_err *err)
{
    double now = cc_now_mono(), wall = cc_now_wall();
    uint64_t key = cc_load_u64le(cand->cert_hash);
    csession *e = session_find(c, cand->cert_hash);
    if (e && now < e->expires) {
        e->last_used = now;
        return e;
    }
    csession_free(cc_map_del(&c->seal_sessions, key));
    if (cc_map_count(&c->seal_sessions) >= SESSIONS_MAX) {
        csession *old = NULL;
        for (size_t i = 0; i < c->seal_sessions.cap; i++) {
            csession *x = c->seal_sessions.slots[i].val;
            if (x && (!old || x->last_used < old->last_used)) old = x;
        }
        if (old) csession_free(cc_map_del(&c->seal_sessions, cc_load_u64le(old->cert_hash)));
    }
    e = cc_calloc(1, sizeof(*e));
    memcpy(e->cert_hash, cand->cert_hash, 32);
    e->created_at = (int64_t)wall;
    if (crypto_seal_session_new(cand->x25519, cand->cert_hash, e->created_at, e->enc, e->secret,
                                err) < 0) {
        csession_free(e);
        return NULL;
    }
    double life = c->seal_session_lifetime > 0 ? c->seal_session_lifetime : SESSION_LIFETIME;
    e->expires = now + CC_MIN(life, cand->not_after_wall - wall);
    e->last_used = now;
    cc_map_put(&c->seal_sessions, key, e);
    return e;
}

bool client_seal_session_lost(creq *r, const char *msg)
{
    if (!r->seal) return false;
    client *c = r->c;
    /* A request that failed on candidates from a kept list: the next one
     * asks the proxy again (a worker may have left meanwhile). */
    if (r->seal->listed && !r->head_done) client_seal_lists_forget(c, r->link);
    if (r->head_done || !strstr(msg, CRYPTO_SEAL_SESSION_UNKNOWN_MSG)) return false;
    for (size_t i = 0; i < r->seal->n; i++) {
        csession *e = session_find(c, r->seal->cands[i].info.cert_hash);
        if (e && !memcmp(e->enc, r->seal->cands[i].enc, 32))
            csession_free(cc_map_del(&c->seal_sessions, cc_load_u64le(e->cert_hash)));
    }
    CC_INFO("event=sealing_session_lost reason=\"%s\"", msg);
    return true;
}

/* ------------------------------------------------------- candidate lists */

static double lists_ttl(const client *c)
{
    return c->seal_lists_ttl > 0 ? c->seal_lists_ttl : LISTS_TTL;
}

static void list_drop(client *c, size_t i)
{
    free(c->seal_lists[i].model);
    c->seal_lists[i] = c->seal_lists[--c->n_seal_lists];
}

void client_seal_lists_forget(client *c, const clink *l)
{
    for (size_t i = c->n_seal_lists; i-- > 0;)
        if (!l || c->seal_lists[i].link == l) list_drop(c, i);
    if (!l) {
        free(c->seal_lists);
        c->seal_lists = NULL;
    }
}

void client_seal_on_workers_changed(clink *l, const tl_client_sealingWorkersChanged *m)
{
    client *c = clink_client(l);
    CC_DEBUG("event=sealing_workers_changed proxy=%s generation=%lld", l->addr,
             (long long)m->generation);
    client_seal_lists_forget(c, l);
}

/* l's live list for model, or NULL. */
static clist *list_find(client *c, const clink *l, const char *model)
{
    double now = cc_now_mono();
    for (size_t i = 0; i < c->n_seal_lists; i++) {
        clist *e = &c->seal_lists[i];
        if (e->link != l || strcmp(e->model, model) != 0) continue;
        if (now - e->fetched < lists_ttl(c)) return e;
        list_drop(c, i);
        return NULL;
    }
    return NULL;
}

static void list_keep(client *c, const clink *l, const char *model, const ccand *cands, size_t n)
{
    clist *e = list_find(c, l, model);
    if (!e) {
        if (c->n_seal_lists == LISTS_MAX) client_seal_lists_forget(c, NULL);
        if (!c->seal_lists) c->seal_lists = cc_calloc(LISTS_MAX, sizeof(*c->seal_lists));
        e = &c->seal_lists[c->n_seal_lists++];
        memset(e, 0, sizeof(*e));
        e->link = l;
        e->model = cc_strdup(model);
    }
    memcpy(e->cands, cands, n * sizeof(*cands));
    e->n = n;
    e->next = 0;
    e->fetched = cc_now_mono();
}

/* The candidates of one request from a kept list: as many as it is wrapped
 * for, starting one further along at each request. The proxy then picks the
 * least loaded of them, so the load spreads as with two random choices
 * (instead of every request going to the two least loaded when the list was
 * made). */
static size_t list_take(client *c, clist *e, ccand *out)
{
    size_t max = c->seal_candidates > 0 ? (size_t)c->seal_candidates : DEFAULT_CANDIDATES;
    size_t k = CC_MIN(max, e->n), start = e->next++ % e->n;
    for (size_t i = 0; i < k; i++)
        out[i] = e->cands[(start + i) % e->n];
    return k;
}

/* -------------------------------------------------------------- sealing */

static creq *find(client *c, const tl_int256 *rid)
{
    creq *r = cc_map_get(&c->reqs, cc_load_u64le(rid->b));
    if (!r || memcmp(r->rid.b, rid->b, 32) != 0 || !r->hreq) return NULL;
    return r;
}

/* Nothing to seal to: required refuses, preferred goes plain. */
static void unsealable(creq *r, const char *why)
{
    client *c = r->c;
    cseal *s = r->seal;
    r->seal = NULL;
    client_seal_fallback fallback = s->fallback;
    client_seal_free(s);
    if (c->sealing == CLIENT_SEALING_REQUIRED) {
        c->stats.sealing_refused++;
        char msg[300];
        snprintf(msg, sizeof(msg), "sealing is required and %s; the prompt was not sent", why);
        fallback(r, 503, msg);
    } else {
        c->stats.plain++;
        fallback(r, 0, why);
    }
}

static void seal_and_send(creq *r, clink *l, const ccand *cands, size_t n, size_t offered)
{
    client *c = r->c;
    cseal *s = r->seal;
    size_t max = c->seal_candidates > 0 ? (size_t)c->seal_candidates : DEFAULT_CANDIDATES;
    /* The proxy lists the least loaded first; it chooses among these. */
    for (size_t i = 0; i < n && s->n < CC_MIN(max, (size_t)MAX_CANDIDATES); i++)
        s->cands[s->n++].info = cands[i];
    if (s->n == 0) {
        unsealable(r, offered ? "no candidate worker passed verification"
                              : "no candidate worker supports sealing");
        return;
    }
    const char *want =
        c->io->req_header && r->hreq ? c->io->req_header(r->hreq, "X-Cocoon-Receipt") : NULL;
    s->asked = want && !strcasecmp(want, "signed");
    s->sign = s->asked || !c->seal_sign_on_request;
    cc_buf aad = CC_BUF_INIT, body = CC_BUF_INIT;
    crypto_seal_request_aad(r->rid.b, r->model, strlen(r->model),
                            (int32_t)CC_MIN(r->max_tokens, (int64_t)INT32_MAX), &aad);
    uint8_t dek[32];
    /* From the client's pool: one RAND_bytes call per request was a
     * visible share of a sealed request's cost. The pool wipes what it hands
     * out, and the client's memory holds the prompt anyway. */
    crypto_rand_pool_get(&c->ids, dek, sizeof(dek));
    tl_sealing_wrappedKey keys[MAX_CANDIDATES];
    uint8_t wrapped[MAX_CANDIDATES][CRYPTO_SEAL_SESSION_WRAP_MAX];
    cc_err err;
    int rc = crypto_seal_body(dek, &aad, r->query.data, r->query.len, &body, &err);
    /* The data key under each candidate's session: one HPKE per new
     * session, symmetric work otherwise. */
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        cseal_cand *cand = &s->cands[i];
        csession *e = session_for(c, &cand->info, &err);
        if (!e) {
            rc = -1;
            break;
        }
        crypto_seal_keys k;
        size_t len = 0;
        keys[i] = (tl_sealing_wrappedKey){.hdr = {.id = TL_ID_sealing_wrappedKey}};
        memcpy(keys[i].cert_hash.b, cand->info.cert_hash, 32);
        memcpy(keys[i].enc.b, e->enc, 32);
        rc =
            crypto_seal_session_wrap(e->secret, !e->confirmed, s->sign, e->created_at,
                                     e->next_seq++, &aad, dek, &c->ids, wrapped[i], &len, &k, &err);
        if (rc == 0) {
            crypto_seal_stream_init_key(&cand->stream, k.answer);
            memcpy(cand->mac_key, k.mac, 32);
            memcpy(cand->enc, e->enc, 32);
        }
        explicit_bzero(&k, sizeof(k));
        keys[i].wrapped_key = tl_mem(wrapped[i], len);
    }
    explicit_bzero(dek, sizeof(dek));
    if (rc < 0) {
        CC_ERROR("event=seal_failed error=\"%s\"", err.msg);
        unsealable(r, "sealing failed here");
        cc_buf_free(&aad);
        cc_buf_free(&body);
        return;
    }
    crypto_sha256(body.data, body.len, s->request_hash);
    tl_client_runSealedQuery q = TL_INIT(client_runSealedQuery);
    q.model_name = tl_str(r->model);
    q.max_coefficient = c->max_coefficient;
    q.max_tokens = (int32_t)CC_MIN(r->max_tokens, (int64_t)INT32_MAX);
    q.timeout = r->timeout;
    q.request_id = r->rid;
    q.keys.n = s->n;
    q.keys.items = keys;
    q.body = tl_mem(body.data, body.len);
    c->stats.sealed++;
    if (c->io->send(l, &q.hdr) < 0) {
        cc_buf_free(&aad);
        cc_buf_free(&body);
        client_seal_fallback fallback = s->fallback;
        r->seal = NULL;
        client_seal_free(s);
        fallback(r, 502, "could not send the request to the proxy");
        return;
    }
    client_flow_begin(r);
    cc_buf_free(&aad);
    cc_buf_free(&body);
}

typedef struct cand_call {
    client *c;
    const clink *link; /* asked */
    tl_int256 rid;
    bool keep; /* the whole list was asked for, to be kept */
} cand_call;

static void on_candidates(net_conn *conn, void *ud, int32_t code, const char *error,
                          const uint8_t *data, size_t len)
{
    (void)conn;
    cand_call *call = ud;
    client *c = call->c;
    creq *r = find(c, &call->rid);
    bool keep = call->keep && r && r->link == call->link;
    free(call);
    if (!r || !r->seal || !r->link) return; /* the caller went away meanwhile */
    if (code != 0) {
        char why[200];
        snprintf(why, sizeof(why), "the proxy gave no candidates (%.150s)",
                 error ? error : "error");
        unsealable(r, why);
        return;
    }
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW, .expect_type = TL_TYPE_sealing_Candidates};
    tl_obj *obj = tl_decode_ex(data, len, &o, &err);
    if (!obj) {
        unsealable(r, "the proxy's candidate list does not decode");
        return;
    }
    const tl_sealing_candidates *cs = (const tl_sealing_candidates *)obj;
    ccand ok[MAX_CANDIDATES];
    size_t n = 0;
    for (size_t i = 0; i < cs->candidates.n && n < MAX_CANDIDATES; i++) {
        const ccand *v = verify_candidate(c, cs->candidates.items[i].cert);
        if (v->ok) ok[n++] = *v;
    }
    size_t offered = cs->candidates.n;
    tl_obj_free(obj);
    if (keep && n) {
        /* Only a list with a candidate is kept: without one, the next
         * request asks again, as a new worker may be there by then. */
        list_keep(c, r->link, r->model, ok, n);
        clist *e = list_find(c, r->link, r->model);
        n = list_take(c, e, ok);
    }
    seal_and_send(r, r->link, ok, n, offered);
}

void client_seal_start(creq *r, clink *l, client_seal_fallback fallback)
{
    client *c = r->c;
    client_seal_free(r->seal);
    r->seal = cc_calloc(1, sizeof(*r->seal));
    r->seal->chosen = -1;
    r->seal->fallback = fallback;
    if (!(l->peer_flags & DAEMON_PARAMS_FLAG_SEALING) || !c->io->query) {
        unsealable(r, "the proxy does not relay sealed requests");
        return;
    }
    /* Lists are kept only from a proxy that says when they go stale. */
    bool keep = c->seal_lists_ttl >= 0 && (l->peer_flags & DAEMON_PARAMS_FLAG_SEAL_LISTS);
    clist *e = keep ? list_find(c, l, r->model) : NULL;
    if (e) {
        ccand cands[MAX_CANDIDATES];
        size_t n = list_take(c, e, cands);
        r->seal->listed = true;
        seal_and_send(r, l, cands, n, n);
        return;
    }
    tl_client_getSealingCandidates q = TL_INIT(client_getSealingCandidates);
    q.model = tl_str(r->model);
    cand_call *call = cc_calloc(1, sizeof(*call));
    call->c = c;
    call->link = l;
    call->rid = r->rid;
    call->keep = keep;
    /* A list to keep holds every candidate (each request takes its share);
     * otherwise just the ones this request is wrapped for. */
    q.max_candidates = call->keep               ? MAX_CANDIDATES
                       : c->seal_candidates > 0 ? c->seal_candidates
                                                : DEFAULT_CANDIDATES;
    c->stats.candidate_queries++;
    cc_err err;
    if (c->io->query(l, &q.hdr, on_candidates, call, &err) < 0) {
        free(call);
        unsealable(r, "the candidate query could not be sent");
    }
}

/* -------------------------------------------------------------- answers */

int client_seal_open(creq *r, bool final, tl_bytes answer, cc_buf *out, cc_err *err)
{
    cseal *s = r->seal;
    if (s->chosen >= 0)
        return crypto_seal_part_open(&s->cands[s->chosen].stream, final, answer.data, answer.len,
                                     out, err);
    /* The first part tells which candidate served: only its key opens it
     * (the proxy cannot claim another, and a part that opens under none
     * fails the request). */
    for (size_t i = 0; i < s->n; i++)
        if (crypto_seal_part_open(&s->cands[i].stream, final, answer.data, answer.len, out, err) ==
            0) {
            s->chosen = (int)i;
            const uint8_t *h = s->cands[i].info.cert_hash;
            ccand *e = cc_map_get(&r->c->seal_cache, cc_load_u64le(h));
            if (e && !memcmp(e->cert_hash, h, 32)) e->used = true;
            /* The worker holds the session: later requests just name it. */
            csession *se = session_find(r->c, h);
            if (se && !memcmp(se->enc, s->cands[i].enc, 32)) se->confirmed = true;
            return 0;
        }
    return cc_err_set(err, "the first answer part opens under no candidate's key");
}

void client_seal_on_receipt(clink *l, const tl_client_queryReceipt *m)
{
    creq *r = find(clink_client(l), &m->request_id);
    size_t rlen = crypto_receipt_len(m->receipt.data, m->receipt.len);
    if (!r || r->link != l || !r->seal || !rlen ||
        (m->receipt.len != rlen && m->receipt.len != rlen + CRYPTO_RECEIPT_MAC_LEN))
        return;
    memcpy(r->seal->receipt, m->receipt.data, m->receipt.len);
    r->seal->receipt_len = m->receipt.len;
    r->seal->rlen = rlen;
    r->seal->has_receipt = true;
}

void client_seal_head_headers(creq *r)
{
    client *c = r->c;
    if (!c->io->reply_header || !r->hreq) return;
    if (!r->seal || r->seal->chosen < 0) {
        char note[200];
        snprintf(note, sizeof(note), "off; %.150s",
                 r->sealing_note[0] ? r->sealing_note : "disabled");
        if (c->sealing == CLIENT_SEALING_OFF) snprintf(note, sizeof(note), "off");
        c->io->reply_header(r->hreq, "X-Cocoon-Sealing", note);
        return;
    }
    char hex[65];
    cc_hex_encode(r->seal->cands[r->seal->chosen].info.cert_hash, 32, hex);
    c->io->reply_header(r->hreq, "X-Cocoon-Sealing", "on");
    c->io->reply_header(r->hreq, "X-Cocoon-Worker", hex);
}

int client_seal_check(creq *r, const tl_client_queryFinalInfo *fi, cc_err *err)
{
    cseal *s = r->seal;
    if (s->chosen < 0) return cc_err_set(err, "a sealed answer ended before any part");
    cseal_cand *cand = &s->cands[s->chosen];
    if (!cand->stream.finished) return cc_err_set(err, "the sealed answer was cut short");
    if (!s->has_receipt) return cc_err_set(err, "the worker's receipt is missing");
    /* The MAC under this request's key says the worker that holds our
     * session made these exact bytes, signature included: the proxy knows no
     * such key. The signature is for whoever checks the receipt later
     * (`cocoon receipt verify`), so it is not checked on every request. */
    if (s->receipt_len != s->rlen + CRYPTO_RECEIPT_MAC_LEN)
        return cc_err_set(err, "the receipt carries no MAC");
    uint8_t mac[CRYPTO_RECEIPT_MAC_LEN];
    crypto_receipt_mac(cand->mac_key, s->receipt, s->rlen, mac);
    if (!crypto_memeq(mac, s->receipt + s->rlen, CRYPTO_RECEIPT_MAC_LEN))
        return cc_err_set(err, "the receipt's MAC does not verify (not from the worker)");
    crypto_receipt rc;
    if (s->sign && !crypto_receipt_is_signed(s->receipt))
        return cc_err_set(err, "the receipt is not signed");
    if (s->asked ? crypto_receipt_verify(s->receipt, s->rlen, cand->info.receipt_pub, &rc, err) < 0
                 : crypto_receipt_parse(s->receipt, s->rlen, &rc, err) < 0)
        return -1;
    uint8_t answer[32];
    crypto_seal_stream_hash(&cand->stream, answer);
    const tl_tokensUsed *t = &fi->tokens_used;
    const char *bad = NULL;
    if (memcmp(rc.cert_hash, cand->info.cert_hash, 32) != 0)
        bad = "certificate hash";
    else if (memcmp(rc.model_hash, cand->info.model_hash, 32) != 0)
        bad = "model hash";
    else if (memcmp(rc.request_hash, s->request_hash, 32) != 0)
        bad = "sealed request hash";
    else if (memcmp(rc.answer_hash, answer, 32) != 0 || rc.parts != cand->stream.counter)
        bad = "sealed answer hash";
    else if (rc.total_tokens != t->total_tokens_used || rc.prompt_tokens != t->prompt_tokens_used ||
             rc.completion_tokens != t->completion_tokens_used)
        /* What the proxy bills must be what the worker signed: the client
         * pays for no token the receipt does not list. */
        bad = "token counts";
    if (bad) return cc_err_set(err, "the receipt's %s does not match the answer", bad);
    s->checked = true;
    return 0;
}

char *client_seal_evidence(creq *r)
{
    cseal *s = r->seal;
    if (!s || !s->checked) return NULL;
    /* Only a signed receipt is evidence for others; an unsigned one (MAC
     * only) convinced this client and is not handed on. */
    bool has = crypto_receipt_is_signed(s->receipt);
    char b64[4 * ((CRYPTO_RECEIPT_MAX_LEN + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, s->receipt, (int)s->rlen);
    if (r->http_started) {
        cc_buf ev = CC_BUF_INIT;
        char hex[65];
        cc_hex_encode(s->cands[s->chosen].info.cert_hash, 32, hex);
        if (has) cc_buf_append_fmt(&ev, ": X-Cocoon-Receipt: %s\n", b64);
        cc_buf_append_fmt(&ev, ": X-Cocoon-Worker: %s\n\n", hex);
        return cc_buf_steal_str(&ev);
    }
    if (r->c->io->reply_header && r->hreq) {
        client_seal_head_headers(r);
        if (has) r->c->io->reply_header(r->hreq, "X-Cocoon-Receipt", b64);
    }
    return NULL;
}

/* ----------------------------------------------------------- evidence */

static char *b64(const uint8_t *d, size_t n)
{
    char *out = cc_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, d, (int)n);
    return out;
}

json_t *client_seal_attestation_json(client *c)
{
    json_t *ws = json_array();
    for (size_t i = 0; i < c->seal_cache.cap; i++) {
        const ccand *e = c->seal_cache.slots[i].val;
        if (!e || !e->ok || !e->used) continue;
        char h[65], img[65] = "", model[65];
        cc_hex_encode(e->cert_hash, 32, h);
        if (e->quote_verified) cc_hex_encode(e->image_hash, 32, img);
        cc_hex_encode(e->model_hash, 32, model);
        char *cert = b64(e->der, e->der_len);
        json_t *o = json_object();
        json_object_set_new(o, "certificate_hash", json_string(h));
        json_object_set_new(o, "certificate", json_string(cert));
        json_object_set_new(o, "quote_verified", json_boolean(e->quote_verified));
        json_object_set_new(o, "tcb_status", json_string(tee_tcb_status_name(e->tcb_status)));
        json_object_set_new(o, "image_hash", json_string(img));
        json_object_set_new(o, "model_hash", json_string(model));
        json_object_set_new(o, "attestation", json_string(e->summary));
        json_object_set_new(o, "verified_at", json_real(e->verified_wall));
        json_array_append_new(ws, o);
        free(cert);
    }
    return ws;
}
