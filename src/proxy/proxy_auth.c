/* COCOON's client authorization on the proxy, with a chain (proxy_internal.h,
 * "proxy_auth.c"; COCOON runners/proxy/ProxyInboundClientConnection.cpp and
 * ProxyRunner.cpp register_connecting_client / on_client_register).
 *
 * On client.connectToProxy the proxy reads the client's contract (derived
 * from the owner it names) and only then answers:
 *   - closing or closed contract: refused, "client is closing" (COCOON);
 *   - a contract holding a secret hash: the short offer (that hash and a
 *     fresh nonce); the client proves it with the secret, whose SHA-256 must
 *     be the hash, else "sha256 mismatch" and the link is closed;
 *   - otherwise (no contract yet, or no hash): the long offer (a nonce). The
 *     client's owner sends owner_client_register(nonce) to its contract,
 *     which reports it to our proxy contract (client_proxy_request with a
 *     client_proxy_register payload); the proxy reads its contract's
 *     transactions until it sees that nonce from that client contract, with
 *     the contract's state in the same message.
 * Every read is asynchronous (the chain table, p->auth_chain), so a client
 * waiting here delays no other. Departure: COCOON's proxy waits for the
 * registration as long as the client does (its client gives up after 300 s);
 * ours refuses after auth_timeout with the reason, and a contract read that
 * keeps failing refuses too. Without a chain (p->auth_chain NULL) none of
 * this runs: proxy_client.c answers as COCOON's ton_disabled mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proxy/proxy_internal.h"
#include "ton/ton.h"

#define READ_RETRY_FIRST 0.5 /* s before a failed contract read is tried again */
#define READ_RETRY_MAX 5.0
#define SCAN_FIRST 1.0 /* s before the first look for a registration */
#define SCAN_MAX 5.0   /* the backoff's ceiling */

typedef enum {
    PA_READING, /* the contract read is in flight; connectToProxy unanswered */
    PA_OFFERED, /* connectedToProxy sent; the client's authorize* to come */
    PA_WAITING, /* authorizeWithProxyLong held until the nonce is seen */
} pauth_state;

struct pauth {
    pclient *c;
    pauth_state state;
    uint64_t connect_qid, auth_qid;
    uint64_t nonce;
    ton_addr owner;
    bool exists;     /* the contract was there at the last read */
    bool has_hash;   /* the short offer was made with hash */
    bool registered; /* the nonce was seen before the long query came (COCOON's received) */
    uint8_t hash[32];
    struct event *deadline, *retry;
    double retry_delay;
    char contract[80]; /* the client contract's raw address, for the messages */
    char last_error[200];
};

static void pauth_free(pauth *a)
{
    if (!a) return;
    if (a->deadline) event_free(a->deadline);
    if (a->retry) event_free(a->retry);
    free(a);
}

void proxy_auth_client_gone(pclient *c)
{
    pauth_free(c->auth);
    c->auth = NULL;
}

static pclient *client_by_id(proxy *p, uint64_t id)
{
    cc_list_foreach (pclient, c, &p->clients, node)
        if (c->id == id) return c;
    return NULL;
}

/* Answers first, then closes once the answer is out (a refused client must
 * learn why); in unit tests (no connection) the client is simply forgotten. */
static void refuse(pclient *c, const char *why)
{
    CC_WARN("event=client_auth_refused id=%llu owner=%s reason=\"%s\"", (unsigned long long)c->id,
            c->owner_address ? c->owner_address : "-", why);
    c->p->stats.auth_refused++;
    net_conn *conn = c->conn;
    c->conn = NULL;
    proxy_client_destroy(c, why);
    if (conn) net_conn_close_after_flush(conn, why, 5);
}

static void scan_arm(proxy *p, double after)
{
    if (!p->auth_scan_ev) return;
    struct timeval tv = cc_timeval(after);
    evtimer_add(p->auth_scan_ev, &tv);
}

static bool anyone_waiting(proxy *p)
{
    cc_list_foreach (pclient, c, &p->clients, node)
        if (c->auth && c->auth->state == PA_WAITING) return true;
    return false;
}

static void on_scan_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy *p = arg;
    if (p->auth_scanning || !anyone_waiting(p)) return;
    p->auth_scanning = true;
    p->stats.auth_scans++;
    if (p->auth_chain->scan(p) < 0) proxy_auth_scan_done(p, "the scan could not start");
}

void proxy_auth_scan_done(proxy *p, const char *error)
{
    p->auth_scanning = false;
    if (error) {
        snprintf(p->auth_scan_error, sizeof p->auth_scan_error, "%s", error);
        CC_DEBUG("event=client_auth_scan_failed error=\"%s\"", error);
    } else {
        p->auth_scan_error[0] = 0;
    }
    if (!anyone_waiting(p)) return;
    /* Backoff: registrations land within seconds on a live chain; a client
     * that never registers costs a read every SCAN_MAX at most. */
    p->auth_scan_delay = p->auth_scan_delay * 1.5;
    if (p->auth_scan_delay > SCAN_MAX) p->auth_scan_delay = SCAN_MAX;
    scan_arm(p, p->auth_scan_delay);
}

static void succeed(pclient *c, uint64_t qid)
{
    pauth *a = c->auth;
    CC_INFO("event=client_authorized id=%llu owner=%s contract=%s form=%s",
            (unsigned long long)c->id, c->owner_address ? c->owner_address : "-", a->contract,
            a->state == PA_WAITING || a->registered ? "long" : "short");
    c->auth = NULL;
    pauth_free(a);
    proxy_client_auth_success(c, qid);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pclient *c = arg;
    pauth *a = c->auth;
    proxy *p = c->p;
    char why[512];
    switch (a->state) {
    case PA_READING:
        snprintf(why, sizeof why, "the client contract %s could not be read within %g s: %s",
                 a->contract, p->auth_timeout, a->last_error);
        p->io->answer_client_error(c, a->connect_qid, NET_ERR_TIMEOUT, why);
        break;
    case PA_OFFERED:
        snprintf(why, sizeof why, "no authorization within %g s", p->auth_timeout);
        break;
    case PA_WAITING: {
        /* The cause first: the client shows a line of it to its callers. */
        snprintf(why, sizeof why,
                 "%sno owner_client_register of nonce %llu seen on chain within %g s (client "
                 "contract %s)",
                 a->exists ? "" : "client contract not deployed: ", (unsigned long long)a->nonce,
                 p->auth_timeout, a->contract);
        /* COCOON's send_auth_fail: the failure is the answer. */
        tl_client_authorizationWithProxyFailed f = TL_INIT(client_authorizationWithProxyFailed);
        f.error_code = NET_ERR_TIMEOUT;
        f.error = tl_str(why);
        cc_err err;
        cc_buf b = CC_BUF_INIT;
        if (tl_encode(&f.hdr, &b, &err) == 0) p->io->answer_client(c, a->auth_qid, b.data, b.len);
        cc_buf_free(&b);
        break;
    }
    }
    refuse(c, why);
}

static void start_read(pclient *c)
{
    pauth *a = c->auth;
    if (c->p->auth_chain->read_client(c->p, c->id, c->owner_address) < 0) {
        snprintf(a->last_error, sizeof a->last_error,
                 "the read could not start (the proxy contract is not active yet, or the chain "
                 "API refused it)");
        struct timeval tv = cc_timeval(a->retry_delay);
        evtimer_add(a->retry, &tv);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_read(arg);
}

bool proxy_auth_begin(pclient *c, uint64_t qid)
{
    proxy *p = c->p;
    if (!p->auth_chain) return false;
    pauth *a = cc_calloc(1, sizeof *a);
    a->c = c;
    a->connect_qid = qid;
    a->retry_delay = READ_RETRY_FIRST;
    c->auth = a;
    cc_err err = {0};
    const char *sc = c->acct ? proxy_chain_client_sc(p, c->acct) : TON_ADDR_ZERO_RAW;
    snprintf(a->contract, sizeof a->contract, "%s", sc);
    if (!c->owner_address || ton_addr_parse(c->owner_address, &a->owner, NULL, NULL, &err) < 0 ||
        a->owner.none) {
        /* COCOON: "cannot parse client owner address". */
        p->io->answer_client_error(c, qid, NET_ERR_ERROR, "cannot parse client owner address");
        refuse(c, "cannot parse client owner address");
        return true;
    }
    /* A nonce no other connecting client holds (COCOON's
     * register_connecting_client); 0 is never offered. */
    for (;;) {
        a->nonce = crypto_random_u64();
        bool taken = a->nonce == 0;
        cc_list_foreach (pclient, o, &p->clients, node)
            if (o != c && o->auth && o->auth->nonce == a->nonce) taken = true;
        if (!taken) break;
    }
    a->deadline = evtimer_new(p->base, on_deadline, c);
    a->retry = evtimer_new(p->base, on_retry, c);
    struct timeval tv = cc_timeval(p->auth_timeout);
    evtimer_add(a->deadline, &tv);
    a->state = PA_READING;
    start_read(c);
    return true;
}

void proxy_auth_on_contract(proxy *p, uint64_t client_id, const char *error,
                            const ton_client_state *st)
{
    pclient *c = client_by_id(p, client_id);
    if (!c || !c->auth) return;
    pauth *a = c->auth;
    if (error) {
        snprintf(a->last_error, sizeof a->last_error, "%s", error);
        CC_DEBUG("event=client_contract_read_failed id=%llu error=\"%s\"",
                 (unsigned long long)c->id, error);
        if (a->state == PA_READING) {
            struct timeval tv = cc_timeval(a->retry_delay);
            evtimer_add(a->retry, &tv);
            a->retry_delay =
                a->retry_delay * 2 > READ_RETRY_MAX ? READ_RETRY_MAX : a->retry_delay * 2;
        }
        return;
    }
    if (a->state != PA_READING) return;
    a->exists = st != NULL;
    if (st && c->acct)
        ledger_client_update_state(c->acct, st->state, (int64_t)st->balance, (int64_t)st->stake,
                                   (int64_t)st->tokens_used, p->price_per_token, st->secret_hash);
    if (st && st->state != 0) {
        /* COCOON's receive_connect_to_proxy_query on a closing client. */
        p->io->answer_client_error(c, a->connect_qid, NET_ERR_ERROR, "client is closing");
        refuse(c, "client is closing");
        return;
    }
    static const uint8_t zero[32];
    a->has_hash = st && memcmp(st->secret_hash, zero, 32) != 0;
    if (a->has_hash) memcpy(a->hash, st->secret_hash, 32);
    a->state = PA_OFFERED;
    CC_INFO("event=client_auth_offer id=%llu owner=%s contract=%s form=%s exists=%d",
            (unsigned long long)c->id, c->owner_address, a->contract,
            a->has_hash ? "short" : "long", a->exists);
    proxy_client_send_connected(c, a->connect_qid, a->has_hash ? a->hash : NULL, a->nonce,
                                a->contract);
}

void proxy_auth_on_query(pclient *c, uint64_t qid, const tl_obj *q)
{
    proxy *p = c->p;
    pauth *a = c->auth;
    if (a->state != PA_OFFERED) {
        /* COCOON: a second connectToProxy or authorize* while one is pending. */
        p->io->answer_client_error(c, qid, NET_ERR_ERROR,
                                   a->state == PA_READING ? "connection is being set up"
                                                          : "duplicate auth message");
        return;
    }
    if (q->id == TL_ID_client_authorizeWithProxyShort) {
        const tl_client_authorizeWithProxyShort *s = (const tl_client_authorizeWithProxyShort *)q;
        uint8_t h[32];
        crypto_sha256(s->data.data, s->data.len, h);
        if (!a->has_hash || !crypto_memeq(h, a->hash, 32)) {
            /* COCOON's text; the log says which case it was. */
            CC_WARN("event=client_auth_secret_mismatch id=%llu owner=%s contract=%s "
                    "contract_hash=%s",
                    (unsigned long long)c->id, c->owner_address, a->contract,
                    a->has_hash ? "set" : "none");
            p->io->answer_client_error(c, qid, NET_ERR_ERROR, "sha256 mismatch");
            refuse(c, "sha256 mismatch");
            return;
        }
        succeed(c, qid);
        return;
    }
    if (a->registered) { /* seen on chain before the query came */
        succeed(c, qid);
        return;
    }
    a->state = PA_WAITING;
    a->auth_qid = qid;
    /* A new waiter: look soon, whatever the backoff had grown to. */
    p->auth_scan_delay = SCAN_FIRST;
    if (!p->auth_scanning) scan_arm(p, SCAN_FIRST);
}

void proxy_auth_registered(proxy *p, const ton_addr *owner, uint64_t nonce,
                           const ton_client_state_data *st)
{
    cc_list_foreach (pclient, c, &p->clients, node) {
        pauth *a = c->auth;
        if (!a || a->nonce != nonce || a->state == PA_READING) continue;
        if (!ton_addr_equal(&a->owner, owner)) {
            /* COCOON's on_client_register: another owner's registration of
             * this nonce authorizes nobody. */
            CC_WARN("event=client_auth_owner_mismatch id=%llu nonce=%llu",
                    (unsigned long long)c->id, (unsigned long long)nonce);
            return;
        }
        a->exists = true;
        if (c->acct)
            ledger_client_update_state(c->acct, st->state, (int64_t)st->balance, (int64_t)st->stake,
                                       (int64_t)st->tokens_used, p->price_per_token,
                                       st->secret_hash);
        if (st->state != 0) {
            if (a->state == PA_WAITING)
                p->io->answer_client_error(c, a->auth_qid, NET_ERR_ERROR, "client is closing");
            refuse(c, "client is closing");
            return;
        }
        if (a->state == PA_WAITING)
            succeed(c, a->auth_qid);
        else
            a->registered = true;
        return;
    }
}

void proxy_auth_start(proxy *p, const proxy_auth_chain *chain, double timeout)
{
    p->auth_chain = chain;
    p->auth_timeout = timeout > 0 ? timeout : 120;
    p->auth_scan_delay = SCAN_FIRST;
    if (!p->auth_scan_ev) p->auth_scan_ev = evtimer_new(p->base, on_scan_timer, p);
}

void proxy_auth_stop(proxy *p)
{
    if (p->auth_scan_ev) event_free(p->auth_scan_ev);
    p->auth_scan_ev = NULL;
    p->auth_chain = NULL;
}

json_t *proxy_auth_json(const proxy *p)
{
    size_t waiting = 0, connecting = 0;
    cc_list_foreach (pclient, c, &((proxy *)p)->clients, node)
        if (c->auth) {
            connecting++;
            if (c->auth->state == PA_WAITING) waiting++;
        }
    return json_pack("{s:b,s:f,s:I,s:I,s:I,s:I,s:s}", "chain", p->auth_chain != NULL, "timeout",
                     p->auth_timeout, "connecting", (json_int_t)connecting, "waiting_register",
                     (json_int_t)waiting, "refused", (json_int_t)p->stats.auth_refused, "scans",
                     (json_int_t)p->stats.auth_scans, "scan_error", p->auth_scan_error);
}
