/* Internal state of the cocoon-worker daemon (shared by its .c files). */
#ifndef COCOON_WORKER_INTERNAL_H
#define COCOON_WORKER_INTERNAL_H

#include <event2/event.h>

#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "http/http.h"
#include "net/net.h"
#include "ledger/ledger.h"
#include "registry/registry.h"
#include "tee/tee.h"
#include "tl/tl.h"
#include "ton/ton.h"
#include "worker/worker.h"

typedef struct wreq wreq;

/* One proxy this worker serves: the daemon layer's link object, whose
 * env->ud is the worker. */
typedef daemon_link wlink;

/* One request in flight on the backend. */
struct wreq {
    worker *w;
    wlink *link; /* NULL once the link is gone (the answer is then dropped) */
    tl_int256 request_id;
    int32_t coefficient; /* the proxy's, for the adjusted token counts */
    backend_call *call;
    bool head_sent;
    bool in_start, done_in_start;
    double start_wall;
    double head_wall; /* when the backend's answer head came */
    bool debug;       /* enable_debug: worker_debug in the final info */
    char debug_json[224];
    uint64_t body_bytes;
    /* Not yet sent (see "answers" in worker_request.c). */
    bool head_pending;
    int head_status;
    char **head_headers; /* name, value pairs */
    size_t n_head_headers;
    cc_buf pending;
    /* Sealed requests (worker_seal.c): the answer stream's key and counter,
     * and what the receipt names; NULL for plain requests. */
    struct wseal *seal;
    cc_buf sealed; /* the last sealed part (borrowed by the message being sent) */
    bool dirty;
    /* Flow control (worker_flow.c, docs/net.md): the proxy's credit for the
     * answer parts; with it, parts wait in `pending` and the backend is
     * paused while they pile up. A request whose backend finished but whose
     * last bytes wait for credit lingers in w->reqs, still counted active
     * (so max_active_requests bounds them too). */
    bool flow, paused, lingering;
    net_flow_tx tx;
    backend_usage usage;     /* for the final part of a lingering request */
    cc_list_node dirty_node; /* in w->dirty */
    cc_list_node node;       /* in w->reqs */
    struct wreq *rid_next;   /* in w->by_rid, the next with the same key */
};

/* What the worker knows of its account at one proxy (worker_money.c), as
 * COCOON's WorkerProxyInfo keeps it. */
typedef struct wpay {
    int64_t db_tokens, max_tokens; /* the proxy's totals for us (only grow) */
    int64_t paid_tokens;           /* covered by the latest valid signed payment */
    uint8_t *voucher;              /* that payment's BoC (owned), or NULL */
    size_t voucher_len;
    /* From worker.connectedToProxy: the key that signs the vouchers and the
     * worker contract they must pay. */
    uint8_t proxy_pub[32];
    bool has_pub;
    ton_addr sc_address;
    bool has_sc;
    uint64_t refused; /* requests refused for the proxy's debt */
    /* Set while the proxy's latest signed payment is for less than the one
     * we hold (its ledger was rolled back): its requests are refused with
     * this reason until it signs at least what we hold again. */
    char rollback_why[256];
    /* Set while the proxy reports fewer tokens committed to its database
     * for us than it reported before (COCOON's "tokens_committed_to_db is
     * too low"): refused the same way until it reports at least that. */
    char db_why[200];
    uint64_t rollbacks, refused_rollback;
    /* worker_paystore.c: the proxy's name in proxy-payments.json (owned,
     * set once connected) and whether the file's entry was read. */
    char *name;
    bool restored;
    /* worker_payout.c, with a chain: our contract's StateInit, the proxy's
     * contract, what the contract has paid (tokens) and the claims sent. */
    ton_cell *init;
    ton_addr proxy_sc;
    ton_api_op *op;
    bool deployed, claim_pending;
    int64_t chain_tokens, claimed_tokens;
    uint64_t claims, claim_failures, reads;
    char chain_error[600];
} wpay;

struct worker {
    struct event_base *base;
    worker_backend *backend;
    char *model;
    char *owner_address;
    int coefficient;
    bool is_test; /* sent in worker.params */
    int max_active;
    int64_t max_proxy_debt; /* nanoTON; 0: no limit */
    /* provider, identity, policy; proxy_registry checks the proxies' image
     * hashes (optional) */
    daemon_tee tee;
    daemon_links links; /* one per configured proxy (their env points at tee) */
    /* Per link: what our proxyHandshakeComplete said (is_disabled). */
    bool *announced_disabled;
    /* Per link: the coefficient our worker.connectToProxy announced. */
    int *announced_coefficient;
    wpay *pay; /* per link, same order */
    size_t n_pay;
    cc_list reqs; /* wreq in flight */
    /* The same by the first 8 bytes of their request id, chained through
     * rid_next (ids are the proxies' choice): a credit or cancel finds its
     * request without a walk over all of them (1,000 streams). */
    cc_map by_rid;
    cc_list dirty; /* wreq with output waiting for the end of this loop turn */
    struct event *flush_ev;
    int active;
    bool healthy;
    bool force_disabled; /* the operator's /request/disable (worker_control.c) */
    http_server *http;
    /* worker_seal.c: per certificate whose sealing keys still open requests
     * ([0] the current one, [1] the one before the last renewal, which links
     * made earlier still present): the certificate (a reference of our own),
     * its hash, the sessions clients hold with us under it, and its receipt
     * key imported once (on the first signed receipt). A certificate older
     * than these is forgotten with its sessions. */
    struct wseal_gen {
        X509 *cert;
        uint8_t cert_hash[32];
        crypto_seal_sessions *sessions;
        crypto_ed25519_key *receipt_key;
    } seal_gen[2];
    struct wseal_batch *seal_batch; /* receipts waiting for this turn's batch signature */
    /* worker_renew.c: the certificate check's timer, and the links that
     * must reconnect to present a renewed certificate once idle. */
    struct {
        struct event *timer, *relink_ev;
        bool *relink;       /* per link */
        bool *awaiting;     /* per link: the proxy has not yet seen "disabled" */
        uint64_t *connects; /* per link: its connects when marked (same connection?) */
        bool pending;       /* some link still waits for its requests to end */
    } renew;
    struct {
        uint64_t total, ok, failed, cancelled, rejected, sealed;
        uint64_t prompt_tokens, completion_tokens, body_bytes;
    } stats;
    /* worker_money.c: adjusted tokens reported to proxies, and the last
     * proxy.workerRequestPayment. */
    struct {
        int64_t tokens_served;
        uint64_t payments;
        int64_t last_db_tokens, last_max_tokens, last_request_tokens;
        char last_client[LEDGER_ADDR_MAX];
    } money;
    /* worker_payout.c: the chain API on our loop, the wallet that sends
     * the payouts, and the periodic read of our contracts. */
    struct {
        ton_api *api;
        daemon_wallet *wallet;
        struct event *timer;
        int64_t threshold; /* payout_threshold_nano; 0: only on request */
    } payout;
    /* worker_paystore.c: proxy-payments.json (path NULL without a state
     * folder) and its entries as last read or written. */
    struct {
        json_t *kept;
        char *path;
    } paystore;
    /* worker_identity.c: our signing key, and the key each proxy first
     * announced (proxy name -> hex, saved in the state folder). */
    struct {
        daemon_identity id;
        json_t *proxy_keys;
        json_t *refusals; /* proxy name -> {count, expected_key, announced_key} */
        char *keys_path;  /* NULL without a state folder */
        uint64_t key_changes_refused;
    } ident;
};

/* worker_link.c */
/* The worker's handshake and packets on its links (env->ud: the worker). */
extern const daemon_link_ops worker_link_ops;
void worker_link_send_enabled(worker *w);

static inline worker *wlink_worker(const wlink *l)
{
    return l->env->ud;
}

/* worker_control.c: COCOON's /request/enable, /request/disable and
 * /request/change_coefficient */
/* What the proxies are told: the backend is down or the operator disabled us. */
bool worker_is_disabled(const worker *w);
void worker_set_force_disabled(worker *w, bool disabled);
/* Sets the coefficient and sends worker.newCoefficient to every ready proxy. */
void worker_set_coefficient(worker *w, int32_t value);
/* "1.5" -> 1500 (×1000, truncated as COCOON does); -1 with why filled when
 * it is not a number or not in [1, 10^9) after scaling. */
int worker_parse_coefficient(const char *s, int32_t *out, char *why, size_t why_size);
/* The "coefficient" argument of a raw URL query string (NULL allowed): 0 with
 * *out set, -1 with why filled when it is not a valid one, 1 when absent. */
int worker_query_coefficient(const char *query, int32_t *out, char *why, size_t why_size);
void worker_control_register(worker *w);

/* worker_money.c */
/* COCOON's CountTokens: raw backend counts to the adjusted tokensUsed. */
void worker_count_tokens(const backend_usage *u, int32_t coefficient, const ledger_multipliers *m,
                         ledger_tokens *out);
void worker_multipliers(const worker *w, ledger_multipliers *m);
void worker_money_on_payment(worker *w, const wlink *l, const tl_proxy_workerRequestPayment *m);
/* A proxy.SignedPayment from the proxy of l (with a request or a payment):
 * a voucher signed by that proxy's key for a higher total is kept. A valid
 * one for a lower total than the kept one marks the proxy rolled back and
 * returns false (why in its wpay); anything else is ignored (an invalid one
 * is logged). */
bool worker_money_on_signed(worker *w, const wlink *l, const tl_obj *signed_payment);
/* nanoTON the proxy of l owes: its total for us beyond the signed payment. */
int64_t worker_money_debt(const worker *w, const wlink *l);
/* Whether a new request from the proxy of l may run; false (with why filled)
 * when its debt is above max_proxy_debt. */
bool worker_money_admits(worker *w, const wlink *l, char *why, size_t why_size);
/* The proxy's tokens_committed_to_db for us (compareBalanceWithProxyResult,
 * workerRequestPayment): false, with pay->db_why set, when it is below what
 * it reported before (its database lost commits); else kept when higher. */
bool worker_money_on_db_tokens(worker *w, const wlink *l, int64_t db_tokens);
void worker_money_free(worker *w);
void worker_money_json(const worker *w, json_t *o);

/* worker_payout.c */
/* After the TEE and its chain: API, wallet ("wallet_key_file"), timer. */
int worker_payout_open(worker *w, const worker_config *cfg, cc_err *err);
void worker_payout_free(worker *w);
/* With a chain: our contract for the proxy of l (the announced one must be
 * the derived one: -1 with why, COCOON's "... SC ADDRESS IS UNEXPECTED"). */
int worker_payout_on_connected(worker *w, wlink *l, const tl_worker_connectedToProxy *a, char *why,
                               size_t why_size);
/* Sends the kept voucher of l's proxy to our contract; -1 with why. */
int worker_payout_claim(worker *w, wlink *l, char *why, size_t why_size);
/* /request/payout[?proxy=PROXY_CONTRACT]: claims at every (that) proxy;
 * the number sent, and COCOON's short answer in out. */
int worker_payout_request(worker *w, const char *proxy_sc, char *out, size_t out_size);
int64_t worker_fee_per_token(const worker *w);

/* worker_paystore.c: the kept payments in state_dir/proxy-payments.json */
int worker_paystore_open(worker *w, const char *state_dir, cc_err *err);
/* Once connected (the proxy's name and key known): what the file holds for
 * it, once per run, when the key matches. */
void worker_paystore_restore(worker *w, wlink *l, const char *proxy, const uint8_t pub[32]);
void worker_paystore_save(worker *w);
void worker_paystore_free(worker *w);

/* worker_identity.c */
/* Loads (or creates) the signing key and the proxies' keys in state_dir
 * (NULL: a key for this run only, proxies' keys kept in memory). */
int worker_identity_open(worker *w, const char *state_dir, cc_err *err);
void worker_identity_free(worker *w);
/* The name a proxy's key is remembered under: its contract address when it
 * has one, else its owner and the address we dial. */
void worker_proxy_name(const char *sc_address, const char *owner, const char *link_addr, char *out,
                       size_t out_size);
/* COCOON's rule: the first key a proxy announces is recorded; a different
 * one later is refused (false, why = "PROXY PUBLIC KEY CHANGED: was .. now
 * ..", logged and counted). */
bool worker_proxy_key_check(worker *w, const char *proxy, const uint8_t pub[32], char *why,
                            size_t why_size);
/* /jsonstats "identity". */
void worker_identity_json(const worker *w, json_t *o);
/* worker_seal.c: sealed requests (docs/confidentiality.md) */
typedef struct wseal wseal;
/* Opens proxy.runSealedQuery's body: the http.request bytes into *query and
 * a new answer sealer. -1 with err when it is not ours or does not open. */
wseal *worker_seal_open(worker *w, const tl_proxy_runSealedQuery *q, cc_buf *query, cc_err *err);
/* Seals answer bytes in place of the plain ones (out is appended). */
int worker_seal_part(wseal *s, bool final, const uint8_t *data, size_t len, cc_buf *out,
                     cc_err *err);
/* The receipt for the finished answer, sent before its final part. A
 * receipt to sign waits for the end of this event-loop turn, when every
 * receipt then waiting is signed at once (one signature over their Merkle
 * root): it returns 1 then, and the final message goes through
 * worker_seal_send_final, which holds it until its receipt has left. */
int worker_seal_send_receipt(wseal *s, wlink *l, const tl_int256 *request_id,
                             const tl_proxy_queryFinalInfo *fi, int32_t coefficient);
void worker_seal_send_final(wseal *s, wlink *l, const tl_obj *msg);
/* Drops the receipts waiting to go to a link that went away. */
void worker_seal_link_gone(worker *w, wlink *l);
/* The batch and the certificates' sealing state (at shutdown). */
void worker_seal_state_free(worker *w);
/* True while a receipt (and the final part after it) waits to go out on l. */
bool worker_seal_link_pending(const worker *w, const wlink *l);

/* worker_renew.c: certificate renewal with new sealing keys; 1 when renewed
 * (the links then reconnect once idle), 0 when not due (and not forced), -1
 * with err. */
int worker_renew(worker *w, bool force, cc_err *err);
void worker_renew_start(worker *w); /* after the links are set up */
void worker_renew_request_ended(worker *w);
void worker_renew_free(worker *w);
void worker_seal_free(wseal *s);

/* worker_request.c */
void worker_handle_packet(wlink *l, const uint8_t *data, size_t len);
/* Drops every request of a link that went away (their backend calls are cancelled). */
void worker_link_gone(wlink *l);
void worker_requests_cancel_all(worker *w);
/* Sends the output the backend produced during this loop turn. */
void worker_flush_pending(worker *w);
void worker_req_free(wreq *r);
/* Takes r out of w->reqs and w->by_rid (not freed, still counted active). */
void worker_req_unlink(wreq *r);
bool worker_send_pending(wreq *r, bool final, const backend_usage *usage);
long worker_send_part(wreq *r, bool final, const uint8_t *data, size_t len,
                      const backend_usage *usage);

/* ---- worker_flow.c: per-stream flow control toward the proxy ---- */
/* Sends r's pending body in parts within its credit (the final part too
 * once everything fits); false while bytes wait. */
bool worker_flow_send(wreq *r, bool final, const backend_usage *usage);
/* Pauses the backend while the bytes waiting for credit pile up, resumes
 * once they went. */
void worker_flow_pace(wreq *r);
/* proxy.streamCredit for r: sends what waited; a lingering r that is done
 * is freed. */
void worker_flow_on_credit(wreq *r, int64_t bytes);
/* Frees a lingering request (its proxy link went, or it was cancelled). */
void worker_flow_drop(wreq *r);

#endif
