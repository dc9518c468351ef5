/* Internal state of the cocoon-proxy daemon (shared by its .c files). */
#ifndef COCOON_PROXY_INTERNAL_H
#define COCOON_PROXY_INTERNAL_H

#include <event2/event.h>

#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "net/net.h"
#include "proxy/proxy.h"
#include "proxy/proxy_route.h"
#include "registry/registry.h"
#include "tee/tee.h"
#include "tl/tl.h"

typedef struct preq preq;
typedef struct pworker pworker;
typedef struct pclient pclient;

/* Where the request logic sends: the worker and client legs go through this
 * table so unit tests can drive routing, retry, queueing, timeouts and
 * cancellation without sockets (they record what would be sent). The
 * production table (proxy_io_net) encodes into the peer's link. Each returns
 * -1 when the message could not be handed to the link (gone or congested). */
typedef struct proxy_io {
    int (*to_worker)(pworker *w, const tl_obj *msg);
    /* A notice the worker need not hear at once (its payment after an
     * answer): it rides with the next message to w. NULL: to_worker. */
    int (*to_worker_later)(pworker *w, const tl_obj *msg);
    int (*to_client)(pclient *c, const tl_obj *msg);
    /* Answers to a client's query (qid): the encoded result, or an error. */
    int (*answer_client)(pclient *c, uint64_t qid, const uint8_t *data, size_t len);
    int (*answer_client_error)(pclient *c, uint64_t qid, int32_t code, const char *msg);
} proxy_io;

typedef enum {
    PW_NEW = 0,   /* waiting for worker.connectToProxy */
    PW_CONNECTED, /* params accepted; balance and handshake-complete to come */
    PW_READY,     /* in the routing table */
} pworker_state;

struct pworker {
    proxy *p;
    net_conn *conn;
    pworker_state state;
    proxy_route_worker rw; /* routing figures; rw.model points at model */
    char *model;           /* as announced: "name@commit:verity"; clients see and request
                            * its base name "name" (registry_model_base_len) */
    char *owner_address;
    int proto_version;
    size_t index; /* position in p->workers while READY */
    cc_list reqs; /* preq running on this worker (through w_node) */
    uint64_t requests, failures;
    ledger_worker *acct; /* its owner's ledger account (proxy_money_worker) */
    double connected_at;
    /* Sealing: the worker's certificate claims an X25519 key and a receipt
     * key (proxy_seal.c). cert_der is what clients verify themselves. */
    bool sealing;
    bool flow;             /* speaks per-stream flow control (DAEMON_PARAMS_FLAG_FLOW) */
    uint8_t cert_hash[32]; /* SHA-256 of cert_der */
    uint8_t receipt_pub[32];
    uint64_t receipts_seen;        /* signed receipts from this connection (proxy_seal.c) */
    uint64_t receipts_since_check; /* ... since the last whose signature was checked */
    double receipt_checked_at;     /* monotonic time of that check */
    uint64_t answers_seen;         /* sealed answers dispatched on it (proxy_seal.c) */
    uint8_t *cert_der;
    size_t cert_der_len;
    cc_list_node node; /* in p->all_workers */
};

/* One client owner (its wallet address, from client.connectToProxy) as the
 * fair limits see it: every connection announcing the address shares its
 * active, waiting and byte limits and its one place in the round robin, so
 * many connections buy an owner nothing. A connection before its
 * connectToProxy has an owner of its own (address NULL). */
typedef struct powner {
    proxy *p;
    char *address; /* NULL: one connection's own */
    size_t refs;   /* clients and requests holding it */
    /* Its requests on workers, and those waiting for a slot (oldest first,
     * through q_node) with their bytes. */
    size_t active, queued, queued_bytes;
    cc_list queue;
    bool waiting;           /* in p->waiting (it has queued requests) */
    cc_list_node wait_node; /* in p->waiting */
    uint64_t refused_limits;
    cc_list_node node; /* in p->owners */
} powner;

/* proxy_owner.c. The client's owner (made on first use); the owner of
 * `address` shared by the connections that announce it (a new reference;
 * address NULL: a fresh private one); references are dropped with put. */
powner *proxy_client_owner(pclient *c);
powner *proxy_owner_get(proxy *p, const char *address);
void proxy_owner_put(powner *o);
/* Moves c to the owner of address (its connectToProxy); kept as it is while
 * c has requests. */
void proxy_client_set_owner(pclient *c, const char *address);

/* proxy_client.c: c's request with the client's id rid (NULL: none), and
 * the index behind it (add with c_node, remove likewise). */
struct preq *proxy_client_request(const pclient *c, const tl_int256 *rid);
void proxy_client_add_request(pclient *c, struct preq *r);
void proxy_client_remove_request(pclient *c, struct preq *r);

struct pclient {
    proxy *p;
    net_conn *conn;
    uint64_t id;
    bool connected, authorized;
    int proto_version;
    char *owner_address; /* from client.connectToProxy (NULL: none given) */
    ledger_client *acct; /* its owner's ledger account (proxy_money_client) */
    cc_list reqs;        /* preq of this client (through c_node) */
    /* The same requests by the first 8 bytes of their client id (chained
     * through rid_next when a client's ids share them): a credit, cancel or
     * new request finds its own without a walk over the client's list. */
    cc_map by_rid;
    uint64_t requests;
    /* Whose fair share its requests count against (proxy_owner.c): shared
     * by every connection that announced the same owner address. */
    struct powner *owner;
    bool flow;            /* speaks per-stream flow control (DAEMON_PARAMS_FLAG_FLOW) */
    uint32_t hello_flags; /* its connectToProxy's sealing and flow bits, echoed */
    struct pauth *auth;   /* with a chain, while it authorizes (proxy_auth.c) */
    cc_list_node node;    /* in p->clients */
};

struct preq {
    proxy *p;
    pclient *client;
    pworker *worker;
    tl_int256 client_rid;
    tl_int256 worker_rid; /* the id on the worker leg (ours, random) */
    uint64_t wkey;        /* first 8 bytes of worker_rid: key in p->by_wkey */
    char *model;
    int32_t max_coefficient;
    int64_t max_tokens;
    double timeout;
    bool enable_debug;
    cc_buf query;       /* the http.request (sealed: its sealed body), kept until the first
                         * byte is relayed (retry) */
    struct pseal *seal; /* a sealed request's keys and receipt (NULL: plain) */
    bool relayed_any;   /* some answer bytes reached the client: no retry any more */
    int attempts;
    double start_wall, start_mono, worker_start_mono;
    double head_wall;     /* when the answer's head came from the worker */
    char debug_json[224]; /* proxy_debug, enable_debug only */
    struct event *timer;
    struct event *first_byte_timer; /* armed while on a worker with no answer byte yet */
    bool queued;                    /* waiting in client->queue for a free worker slot */
    /* Money: the client account's tokens held for this request (COCOON's
     * to_reserve), released when it ends; the accounts it runs under. */
    int64_t reserved;
    ledger_client *acct;
    ledger_worker *wacct; /* the worker account counting it as running */
    /* Flow control (proxy_flow.c; NULL when the client does not speak it). */
    struct pflow *flow;
    bool parked;           /* done, kept only until the client's credit takes what waits */
    struct powner *owner;  /* its client's owner (a reference: it may outlive the client) */
    cc_list_node w_node;   /* in worker->reqs */
    cc_list_node c_node;   /* in client->reqs */
    struct preq *rid_next; /* in client->by_rid, the next with the same key */
    cc_list_node q_node;   /* in owner->queue */
};

struct proxy {
    struct event_base *base;
    const proxy_io *io; /* &proxy_io_net except in unit tests */
    registry *reg;
    daemon_chain *chain;       /* NULL with chain "none": reg then stays as loaded */
    daemon_tee tee;            /* provider, identity, workers' policy (no proxy_registry) */
    tee_policy *client_policy; /* the client port's own policy (owned) */
    net_listener *wl, *cl;
    struct event *rotate_ev; /* renews the RA-TLS certificate before it expires */
    http_server *http;
    char *owner_address;
    bool disabled; /* POST /request/disable (proxy_control.c) */
    int pow_difficulty;
    double request_timeout, idle_timeout;
    cc_list all_workers;      /* every pworker connection */
    cc_list clients;          /* every pclient connection */
    uint64_t seal_generation; /* changes of the sealing workers (proxy_seal_workers_changed) */
    /* READY workers, for routing (parallel arrays). */
    pworker **workers;
    const proxy_route_worker **route;
    size_t n_workers, cap_workers;
    cc_map by_wkey; /* worker-leg request id -> preq */
    proxy_limits lim;
    /* Requests waiting because every worker of their model is at its cap
     * (or their client at client_max_active); served as slots free up (a
     * burst waits, not fails), one client after another: each client keeps
     * its own queue, and `waiting` holds the clients with one, in turn. */
    cc_list waiting; /* of powner, through wait_node */
    cc_list owners;  /* every powner, through node */
    size_t queue_len, queued_bytes;
    struct event *drain_ev;
    /* Money (proxy_money.c): the ledger of every client and worker account,
     * flushed by commit_ev every 1-2 s as COCOON's alarm() does. */
    ledger *ledger;
    uint8_t signing_pub[32]; /* of the signing seed (proxy_money_open): announced in proxy.params */
    struct event *commit_ev;
    int64_t price_per_token; /* the registry's (0 without one: unlimited credit) */
    /* A client account's contract figures without a chain (nanoTON). */
    int64_t free_balance, free_stake;
    /* The proxy's persistent Ed25519 signing key (state_dir; a fresh one for
     * a proxy without state): its MAC key for the ledger, the
     * proxy_public_key it announces, the key its contract holds. */
    uint8_t sign_seed[32], sign_pub[32];
    /* Money on chain (proxy_chain.c): NULL with chain "none". */
    struct proxy_onchain *onchain;
    /* The retirement of old proxy contracts after params changes
     * (proxy_redeploy.c): NULL without a proxy contract. */
    struct proxy_redeploy *redeploy;
    /* COCOON's authorization with a chain (proxy_auth.c): NULL with chain
     * "none" or without a proxy contract (every client is accepted). One
     * scan of the proxy contract's transactions serves every waiting client. */
    const struct proxy_auth_chain *auth_chain;
    double auth_timeout, auth_scan_delay;
    struct event *auth_scan_ev;
    bool auth_scanning;
    char auth_scan_error[200];
    uint64_t next_id;
    uint64_t tie_rng; /* xorshift state for routing ties (seeded randomly; no syscall per pick) */
    /* Prefix affinity: the worker that last served each conversation key (the
     * last 8 bytes of a client's request id; docs/confidentiality.md). */
    proxy_affinity *affinity;
    crypto_rand_pool ids; /* worker-leg request ids (one RAND_bytes call per 32 ids) */
    struct {
        uint64_t requests, ok, failed, retried, cancelled, timeouts, no_worker;
        uint64_t first_byte_timeouts, refused_limits;
        uint64_t active, bytes_relayed, parts_relayed, queued;
        uint64_t workers_accepted, workers_refused, clients_accepted;
        uint64_t refused_balance, over_claims, ledger_commits, ledger_commit_failures;
        uint64_t sealed, receipts_refused, affinity_hits;
        uint64_t auth_refused, auth_scans;
        /* The last refused worker, for /jsonstats: peer, image hash, reason. */
        char last_refused_peer[64], last_refused_image[65], last_refused_reason[200];
    } stats;
};

/* proxy.c */
/* The part of proxy_new() that opens nothing (no registry, TEE or
 * listeners): the request machinery on `base`, sending through `io`.
 * proxy_new() builds on it; unit tests use it alone. Free with proxy_free(). */
proxy *proxy_new_detached(struct event_base *base, const proxy_config *cfg, const proxy_io *io);

/* proxy_worker.c */
extern const proxy_io proxy_io_net;
void proxy_on_worker_accept(net_listener *l, net_conn *c, void *ud);
void proxy_worker_free_all(proxy *p);
/* Closes every worker link with why (their requests retry or fail). */
void proxy_worker_close_all(proxy *p, const char *why);
/* After a registry change: a ready worker whose model or image hash the
 * registry no longer allows leaves the routing table (its connection and its
 * requests in flight stay), and such a worker whose hashes are allowed again
 * comes back. */
void proxy_workers_recheck(proxy *p);
/* Puts a worker whose handshake completed into the routing table. */
void proxy_worker_table_add(pworker *w);
/* Forgets a worker whose link is gone (its requests retry or fail); frees w. */
void proxy_worker_destroy(pworker *w, const char *why);
/* A packet from a worker's link (net_conn_callbacks.on_packet; conn unused). */
void proxy_worker_on_packet(net_conn *conn, void *w, const uint8_t *data, size_t len);

/* proxy_peer.c: COCOON's checks of a peer's connectToProxy params. 0 when
 * they pass, else COCOON's error code with its text in *why (static). */
int proxy_check_client_params(const proxy *p, const tl_client_params *cp,
                              int32_t min_config_version, const char **why);
/* The network config version the proxy runs (the registry's params_version,
 * 0 without one), and COCOON's refusal of a peer that wants a newer one. */
int64_t proxy_config_version(const proxy *p);
/* proxy_control.c: COCOON's POST /request/disable and /request/enable. */
void proxy_control_register(proxy *p);
int proxy_check_config_version(const proxy *p, int32_t min_config_version, const char **why);
int proxy_check_worker_params(const proxy *p, const tl_worker_params *wp, const char **why);
/* The owner address to announce: the configured one, else TON_ADDR_ZERO_RAW. */
const char *proxy_owner_or_zero(const proxy *p);

/* proxy_client.c */
void proxy_on_client_accept(net_listener *l, net_conn *c, void *ud);
void proxy_client_free_all(proxy *p);
/* Closes every client link with why (their requests are cancelled). */
void proxy_client_close_all(proxy *p, const char *why);
/* Forgets a client whose link is gone (its requests are cancelled); frees c. */
void proxy_client_destroy(pclient *c, const char *why);
/* A packet from a client's link (net_conn_callbacks.on_packet; conn unused). */
void proxy_client_on_packet(net_conn *conn, void *c, const uint8_t *data, size_t len);
/* A query from a client's link (net_conn_callbacks.on_query; conn unused). */
void proxy_client_on_query(net_conn *conn, void *c, uint64_t qid, const uint8_t *data, size_t len);

/* proxy_auth.c: COCOON's client authorization with a chain (the file's
 * comment has the flow). What it reads from the chain goes through this table
 * (proxy_chain.c's reads the TON API; unit tests install a fake); each read
 * answers later, never from inside the call, through proxy_auth_on_contract
 * and proxy_auth_registered + proxy_auth_scan_done. -1: not started. */
typedef struct pauth pauth;
typedef struct proxy_auth_chain {
    /* The client contract of owner (connection client_id). */
    int (*read_client)(proxy *p, uint64_t client_id, const char *owner);
    /* The proxy contract's recent transactions: every client_proxy_request
     * with a register payload from the client contract of the owner it
     * names goes to proxy_auth_registered, then proxy_auth_scan_done. */
    int (*scan)(proxy *p);
} proxy_auth_chain;
/* Turns authorization on (timeout: the bound on one client's whole
 * authorization, s; <= 0: 120). */
void proxy_auth_start(proxy *p, const proxy_auth_chain *chain, double timeout);
void proxy_auth_stop(proxy *p);
/* After a connectToProxy passed its checks: false without a chain (answer
 * as before); true when authorization took over the query (it answers). */
bool proxy_auth_begin(pclient *c, uint64_t qid);
/* An authorize* query (c->auth set); may refuse and free c. */
void proxy_auth_on_query(pclient *c, uint64_t qid, const tl_obj *q);
/* The contract read: error NULL and st NULL when there is no contract. */
void proxy_auth_on_contract(proxy *p, uint64_t client_id, const char *error,
                            const ton_client_state *st);
void proxy_auth_registered(proxy *p, const ton_addr *owner, uint64_t nonce,
                           const ton_client_state_data *st);
void proxy_auth_scan_done(proxy *p, const char *error);
void proxy_auth_client_gone(pclient *c);
json_t *proxy_auth_json(const proxy *p);

/* proxy_client.c: the answers authorization gives. hash NULL: the long offer. */
void proxy_client_send_connected(pclient *c, uint64_t qid, const uint8_t *hash, uint64_t nonce,
                                 const char *client_sc);
void proxy_client_auth_success(pclient *c, uint64_t qid);

/* proxy_chain.c */
/* With a chain: derives the proxy contract's address from the root's params,
 * the owner and the signing key, opens the wallet (wallet_key_file) and
 * deploys the contract through it when it is not active (as COCOON's proxy
 * does at start), then follows its state. Nothing with chain "none". */
int proxy_chain_start(proxy *p, const proxy_config *cfg, cc_err *err);
void proxy_chain_free(proxy *p);
/* "onchain" of /jsonstats: key, contract, wallet. */
void proxy_chain_json(const proxy *p, json_t *o);
/* The proxy contract's address to announce (raw), else TON_ADDR_ZERO_RAW. */
const char *proxy_sc_or_zero(const proxy *p);
/* The contract of a worker's / client's account (derived as COCOON does from
 * the owner, our contract, key and params; kept in the account), else
 * TON_ADDR_ZERO_RAW. */
const char *proxy_chain_worker_sc(proxy *p, ledger_worker *a);
const char *proxy_chain_client_sc(proxy *p, ledger_client *a);
/* The account's voucher as a proxy.signedPayment in buf, or empty when it has
 * none (no chain, or nothing covered by a save_state yet). */
tl_obj *proxy_signed_payment(const ledger_payments *pay, tl_proxy_signedPayment *buf,
                             tl_obj *empty);
/* Sends a save_state now (the stats port's /request/save); -1 when one is
 * already on its way or there is no chain wallet. */
int proxy_chain_save_now(proxy *p);
/* COCOON's client_charge / worker_payout: sends the account's voucher to its
 * contract through the wallet; -1 with COCOON's answer in why ("nothing to
 * charge", "request already running", ...). */
int proxy_chain_charge(proxy *p, ledger_client *a, char *why, size_t n);
/* Account a has less than half its stake's tokens of credit left, or was just
 * refused for credit: its contract is read again (a charge or top-up it made
 * itself; at most once per PROXY_CREDIT_PROBE_GAP seconds), and when half its
 * stake is used uncharged it is charged after a save_state sent now (at most
 * one per gap for all), whatever min_charge says. Nothing without a wallet. */
#define PROXY_CREDIT_PROBE_GAP 2.0
void proxy_chain_credit_short(proxy *p, ledger_client *a);
/* A client of account a connected: its contract is read (asynchronously) and
 * its state, balance, stake and charged tokens replace the account's figures
 * (a contract charged beyond the ledger refuses the account); without a
 * contract the account keeps its figures. Nothing without a chain. */
void proxy_chain_client_seen(proxy *p, ledger_client *a);
int proxy_chain_payout(proxy *p, ledger_worker *a, char *why, size_t n);
/* The same for a worker's account (when its worker connects, and every
 * refresh): a contract paid for more than the ledger knows refuses it. */
void proxy_chain_worker_seen(proxy *p, ledger_worker *a);

/* proxy_stake.c: the proxy contract's stake and earned share (COCOON's
 * run_withdraw / http_withdraw). api and wallet stay the caller's; the
 * contract is read with every refresh and the share withdrawn to the owner
 * once it is worth min_withdraw (0: only on request). */
typedef struct proxy_stake proxy_stake;
proxy_stake *proxy_stake_new(ton_api *api, daemon_wallet *wallet, const ton_addr *contract,
                             int64_t min_withdraw, uint64_t min_stake);
void proxy_stake_free(proxy_stake *s);
/* Reads get_proxy_data (asynchronously) unless a read is on its way. */
void proxy_stake_refresh(proxy_stake *s);
/* /request/withdraw, /request/topup: 0 with "request sent" in why, else -1
 * with COCOON-style text ("nothing to withdraw", "withdraw already
 * running", ...). s may be NULL ("proxy is disabled"). amount 0 tops the
 * stake up to the root's min_proxy_stake. */
int proxy_stake_withdraw(proxy_stake *s, char *why, size_t n);
int proxy_stake_topup(proxy_stake *s, uint64_t amount, char *why, size_t n);
json_t *proxy_stake_json(const proxy_stake *s);
/* The proxy's, or NULL without a contract or a wallet (proxy_chain.c). */
proxy_stake *proxy_chain_stake(proxy *p);
/* The chain reader has new root params: a params_version above the one our
 * contract was derived with moves the proxy to a new contract, COCOON's
 * on_root_contract_config_update with need_redeploy (docs/payments.md, "When
 * the root's params change"): every link closed, the accounts retired with
 * the old contract (ledger_retire), the new contract derived and deployed.
 * A retirement that could not be written is tried again at the next call. */
void proxy_chain_params_changed(proxy *p);
/* What proxy_redeploy.c sends and reads with (NULL without a chain or
 * without a wallet). */
ton_api *proxy_chain_api(proxy *p);
daemon_wallet *proxy_chain_wallet(proxy *p);
/* A voucher signed with the proxy's key, the excess to its wallet: a payment
 * of tokens (cumulative) with op to target, or with tokens < 0 the close
 * layout (op target). New reference, NULL with err. */
ton_cell *proxy_chain_voucher(proxy *p, uint32_t op, const ton_addr *target, int64_t tokens,
                              cc_err *err);
/* The StateInit of owner's client (or worker) contract under proxy contract
 * sc with params, as the contracts derive it. New reference. */
ton_cell *proxy_chain_party_init(proxy *p, bool client, const char *owner, const ton_addr *sc,
                                 const ton_root_params *params, cc_err *err);

/* proxy_redeploy.c: COCOON's OldProxyContract. At start (contract derived):
 * records it as the live accounts' contract in the ledger, retiring the one
 * recorded when it differs (the params changed while the proxy was down),
 * and drives the retirement of every old contract not closed yet: the
 * signed close request, each client's final charge, each worker's last
 * payout, then the close completion once the contract's unlock time has
 * passed on the chain's clock. One wallet message at a time; each step is
 * recorded in the ledger when the wallet confirms it. */
int proxy_redeploy_start(proxy *p, const char *contract, const ton_root_params *params,
                         double refresh, cc_err *err);
/* A contract was just retired (ledger_retire): start on it. */
void proxy_redeploy_kick(proxy *p);
/* Before the wallet and API are freed (they drop callbacks). */
void proxy_redeploy_free(proxy *p);
/* The old contracts for /jsonstats onchain.old_contracts (a new array). */
json_t *proxy_redeploy_json(const proxy *p);
/* The BoC of params' cell (codes included), for the ledger's records. */
int proxy_redeploy_params_boc(const ton_root_params *params, cc_buf *out, cc_err *err);

/* proxy_money.c */
/* Opens the ledger at path (NULL: in memory) keyed by the 32-byte signing
 * seed, replacing the current one (whose accounts must be unused). */
int proxy_money_open(proxy *p, const char *path, const uint8_t seed[32], cc_err *err);
/* The ledger as the config says (state_dir, ledger), after the registry is loaded. */
int proxy_money_open_config(proxy *p, const proxy_config *cfg, cc_err *err);
/* The registry was replaced: its price reaches the ledger. */
void proxy_money_registry_changed(proxy *p);
/* Writes what changed (COCOON's all_to_db); -1 when the commit failed. */
int proxy_money_commit(proxy *p);
/* Commits a last time and closes the ledger. */
void proxy_money_close(proxy *p);
/* The accounts of a peer's owner (created on first use; NULL when the owner
 * address does not fit an account key). */
ledger_client *proxy_money_client(pclient *c);
ledger_worker *proxy_money_worker(pworker *w);
/* The client.accountStatus figures of account a (all but signed_payment). */
void proxy_money_account_status(const proxy *p, const ledger_client *a,
                                tl_client_accountStatus *out);
/* Reserves a new request's tokens (COCOON's forward_query checks): 0, or an
 * error code with COCOON's text in why. */
int proxy_money_reserve(preq *r, const tl_client_runQueryEx *q, char *why, size_t why_size);
/* Bills a finished request: the worker's claimed total, capped at the
 * reservation, moves from the client to the worker. Returns what was billed. */
int64_t proxy_money_bill(preq *r, int64_t claimed);
/* Gives back what the request still holds (every ending goes through it). */
void proxy_money_release(preq *r);
/* The worker's running-request count follows the worker the request is on. */
void proxy_money_attach_worker(preq *r, pworker *w);
void proxy_money_detach_worker(preq *r);
/* Per-client and per-worker rows for /jsonstats. */
void proxy_money_json(proxy *p, json_t *o);

/* proxy_seal.c: sealed requests (docs/confidentiality.md). The proxy routes
 * and bills them but holds no key that opens them. */
typedef struct pseal pseal;
/* Remembers the certificate and keys of a worker whose certificate claims
 * sealing (called once its handshake is accepted). */
void proxy_seal_worker_init(pworker *w, X509 *cert, const tee_peer_info *info);
void proxy_seal_worker_clear(pworker *w);
/* The set of sealing workers clients may be offered changed (one became
 * ready, left, or was enabled or disabled): tells every client that keeps
 * candidate lists (DAEMON_PARAMS_FLAG_SEAL_LISTS), which drops them. */
void proxy_seal_workers_changed(proxy *p);
/* client.getSealingCandidates: ready sealing workers of the model, least
 * loaded first. */
void proxy_seal_answer_candidates(pclient *c, uint64_t qid,
                                  const tl_client_getSealingCandidates *q);
pseal *proxy_seal_new(const tl_client_runSealedQuery *q, const char **why);
void proxy_seal_free(pseal *s);
/* Index in p->workers of the candidate to use (-1: none qualifies);
 * why_none (optional) as proxy_route_why_none over the candidates. */
long proxy_seal_pick(preq *r, uint64_t exclude_id, uint64_t prefer_id, uint64_t rnd, int *why_none);
/* Sends proxy.runSealedQuery for r to its worker r->worker. */
int proxy_seal_dispatch(preq *r, double timeout);
/* Worker side: store a receipt; hash a relayed part; on the final part
 * check the receipt (0) or refuse it (-1, why set). */
void proxy_seal_on_receipt(pworker *w, const tl_proxy_queryReceipt *m);
void proxy_seal_on_part(preq *r, const tl_bytes *answer);
int proxy_seal_check_receipt(preq *r, const tl_proxy_queryFinalInfo *fi, char *why, size_t n);
/* Forwards the checked receipt to the client (before the final part). */
void proxy_seal_forward_receipt(preq *r);

/* proxy_request.c */
void proxy_request_start(pclient *c, const tl_client_runQueryEx *q);
void proxy_request_start_sealed(pclient *c, const tl_client_runSealedQuery *q);
preq *proxy_request_lookup(pworker *w, const tl_int256 *rid);
void proxy_request_cancel_from_client(pclient *c, const tl_int256 *rid);
/* Worker answers (decoded in borrow mode). */
void proxy_relay_answer(pworker *w, const tl_obj *msg);
/* Ends r: frees it, or parks it while answer parts wait for the client's
 * credit (proxy_flow.c ends a parked one once they went). */
void proxy_request_finish(preq *r);

/* ---- proxy_flow.c: per-stream flow control (docs/net.md) ----
 * The client grants the proxy credit per request; the proxy passes every
 * grant on to a worker that speaks flow control as its own, so the worker
 * never has more in flight than the client can take and the proxy holds
 * nothing. A worker that does not speak it is followed: parts over the
 * client's credit wait here, up to PROXY_FLOW_QUEUE_MAX bytes, past which
 * the request (never the link) fails. */
#define PROXY_FLOW_QUEUE_MAX ((size_t)16 << 20)
void proxy_flow_start(preq *r);      /* at the request's start (client speaks it) */
void proxy_flow_dispatched(preq *r); /* sent to r->worker: its initial credit */
/* A part of n answer bytes came from the worker: -1 when it is over the
 * credit the worker was granted (err says so). */
int proxy_flow_from_worker(preq *r, size_t n, cc_err *err);
/* A message for the client carrying n counted bytes (0: head, not counted):
 * 1 send it now (credit spent), 0 it was queued, -1 the queue is full. */
int proxy_flow_to_client(preq *r, const tl_obj *msg, size_t n);
bool proxy_flow_holds(const preq *r); /* parts wait for the client's credit */
void proxy_flow_drop_queue(preq *r);
void proxy_flow_free(preq *r);
void proxy_flow_on_credit(pclient *c, const tl_client_streamCredit *m);
void proxy_requests_worker_gone(pworker *w);
void proxy_requests_client_gone(pclient *c);
/* Capacity may have appeared (a slot freed, a worker became ready or
 * enabled): serve waiting requests soon, from the loop. */
void proxy_requests_kick(proxy *p);
void proxy_requests_init(proxy *p);
void proxy_requests_free(proxy *p);

#endif
