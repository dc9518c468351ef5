/* Internal state of the cocoon-client daemon (shared by its .c files). */
#ifndef COCOON_CLIENT_INTERNAL_H
#define COCOON_CLIENT_INTERNAL_H

#include <event2/event.h>

#include "client/client.h"
#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "net/net.h"
#include "registry/registry.h"
#include "tee/tee.h"
#include "tl/tl.h"

typedef struct creq creq;

/* One proxy the client can use: the daemon layer's link object, whose
 * env->ud is the client. */
typedef daemon_link clink;

/* One model as announced by the proxy (for /v1/models and the 404 check). */
typedef struct cmodel {
    char *name;      /* as announced, e.g. "tiny@sha256:<hex>" */
    int workers;     /* instances */
    int enabled;     /* instances taking requests */
    int active, max; /* summed load */
    int coefficient_min;
} cmodel;

/* A pending client.getWorkerTypesV2 query; `done` is cleared when the
 * waiting request goes away first. */
typedef struct models_call {
    clink *l;
    void (*done)(client *c, void *ud, bool ok);
    void *ud;
} models_call;

/* What the client knows of its account at one proxy (client_money.c), as
 * COCOON's ClientProxyInfo tracks it: the contract figures (from
 * client.accountStatus; COCOON reads them from the chain) and the proxy's
 * payment totals (authorization, client.paymentStatus and the
 * proxy.clientRequestPayment after each request). */
typedef struct cmoney {
    bool known; /* contract figures arrived (a COCOON proxy never sends them) */
    /* They come from our own read of the contract (client_chain.c), as
     * COCOON's client takes them; the proxy's client.accountStatus then
     * gives only its totals. */
    bool from_chain;
    int32_t status;
    int64_t balance, stake, sc_tokens_used, price; /* nanoTON, tokens, nanoTON per token */
    ledger_multipliers mult;
    int64_t db_tokens, max_tokens; /* the proxy's totals for our account */
    int64_t reserved;              /* our requests in flight there, as the proxy reserves them */
    bool query_pending;
    /* The proxy refused client.getAccountStatus on this connection (COCOON's
     * logs an error for each unknown query): not asked again until the link
     * reconnects. */
    bool unsupported;
} cmoney;

/* The client's contract at one proxy, read from the chain (client_chain.c). */
typedef struct cchain {
    bool has_addr;
    ton_addr contract, proxy_sc;
    uint8_t proxy_pub[32];
    ton_cell *init; /* the contract's StateInit (deploys it with the first top-up) */
    int64_t price, min_stake;
    ton_api_op *op; /* the read in flight */
    bool read_ok, deployed;
    char account_state[16];
    uint64_t ton_balance;
    ton_client_state st;
    uint64_t reads, failures, deploys, topups, tx_failures, secret_updates;
    bool tx_pending;
    /* Long authorization (COCOON's authorize_long): the proxy's nonce, sent
     * with owner_client_register through the wallet once the contract is
     * deployed (the proxy waits to see it on chain). */
    uint64_t register_nonce;
    bool register_wanted, register_pending;
    uint64_t registers;
    /* The proxy's latest signed charge for this contract (COCOON's
     * ClientProxyInfo::signed_charge_message_): relayed to the contract by
     * our wallet when the proxy lets uncharged use pile up (forced charge). */
    uint8_t *voucher;
    size_t voucher_len;
    int64_t voucher_tokens;
    uint64_t charges, bad_vouchers;
    uint8_t refused[32]; /* SHA-256 of the last voucher refused: not checked again */
    double last_ok;
    double credit_read_at; /* the last read client_chain_credit_short asked for */
    char last_error[600];
} cchain;

typedef enum { CREQ_MODELS = 1, CREQ_COMPLETION } creq_kind;

/* The debug objects of the last requests sent with a request_guid, by the
 * guid's SHA-256 (COCOON keeps one; a few more cost nothing). */
#define CLIENT_DEBUG_LOG_SIZE 16
typedef struct client_debug_entry {
    uint8_t key[32];
    const struct ckey *api_key; /* the key that sent the request (NULL without keys) */
    char *json;                 /* NULL = free slot */
} client_debug_entry;
typedef struct client_debug_log {
    client_debug_entry e[CLIENT_DEBUG_LOG_SIZE];
    size_t next; /* the slot written next (the oldest) */
} client_debug_log;

/* Where the API sends: to a proxy link and back to the HTTP caller. The
 * request logic goes through this table so unit tests can drive it without
 * sockets (client_io_net holds the real link and HTTP server functions; the
 * caller-side ones mirror src/http/http.h). */
typedef struct client_io {
    int (*send)(clink *l, const tl_obj *msg); /* -1 when the link cannot take it */
    models_call *(*query_models)(clink *l, void (*done)(client *c, void *ud, bool ok), void *ud);
    const char *(*req_path)(const http_req *h);
    const char *(*req_query)(const http_req *h);
    const uint8_t *(*req_body)(const http_req *h, size_t *len);
    /* A request header (case-insensitive) or NULL; may itself be NULL (no
     * headers at all). */
    const char *(*req_header)(const http_req *h, const char *name);
    /* Back-pressure (flow control); either may be NULL (then the caller
     * counts as reading everything at once). */
    size_t (*stream_pending)(const http_req *h);
    void (*on_drain)(http_req *h, size_t low_water, void (*cb)(http_req *h, void *ud), void *ud);
    void (*on_caller_gone)(http_req *h, void (*cb)(http_req *h, void *ud), void *ud);
    void (*reply_header)(http_req *h, const char *name, const char *value);
    void (*reply)(http_req *h, int status, const char *content_type, const void *body, size_t len);
    void (*reply_error)(http_req *h, const openai_error *e);
    void (*reply_json)(http_req *h, int status, const json_t *obj);
    void (*stream_start)(http_req *h, int status, const char *content_type);
    int (*stream_write)(http_req *h, const void *data, size_t len);
    void (*stream_end)(http_req *h);
    /* Sealing: a query to the proxy (daemon_link_query); NULL in tables
     * that do without. */
    int (*query)(clink *l, const tl_obj *msg, net_answer_fn cb, void *ud, cc_err *err);
} client_io;

/* An API key with what it has spent (client_keys.c). */
typedef struct ckey {
    client_api_key cfg;
    int64_t day; /* UTC day (days since 1970) the *_day figures count */
    int64_t tokens_day, tokens_total, nano_day, nano_total;
    uint64_t requests, refused_quota;
} ckey;

/* An HTTP request being served. */
struct creq {
    client *c;
    creq_kind kind;
    clink *link;
    http_req *hreq; /* NULL once finished */
    tl_int256 rid;
    uint64_t key;      /* first 8 bytes of rid, key in c->reqs */
    uint64_t affinity; /* its conversation's key, the last 8 bytes of rid (0: none) */
    models_call *pending_models;
    bool stream;
    bool head_done;    /* the answer head arrived */
    bool http_started; /* bytes went to the HTTP caller: no retry any more */
    int status;
    char content_type[96];
    cc_buf body;  /* non-streamed answers are collected here */
    cc_buf query; /* the encoded http.request, for one retry on another proxy */
    char *model;
    int64_t max_tokens;
    int max_coefficient; /* the body's max_coefficient, else the client's */
    /* The reservation the proxy makes for this request (client_money.c) and
     * the link it is counted on (NULL: none). */
    int64_t reserved;
    clink *reserved_on;
    int attempts;
    double start;
    double timeout; /* seconds: the body's "timeout" (at most the config's), else the config's */
    /* COCOON's debugging (client_debug.c) */
    bool debug;    /* "enable_debug": true */
    bool has_guid; /* "request_guid" given: guid_key = its SHA-256 */
    uint8_t guid_key[32];
    double start_wall; /* X-Cocoon-Client-Start */
    double head_wall;  /* X-Cocoon-Client-End: when the answer's head arrived */
    struct event *timer;
    /* Drops the usage-only SSE event workers request for billing when the
     * caller did not ask for it (NULL otherwise). */
    openai_sse_filter *sse_filter;
    ckey *api_key;       /* the caller's key (NULL when no keys are configured) */
    bool usage_recorded; /* its final token count was charged to api_key */
    bool first_byte;     /* the caller got its first byte (TTFT recorded) */
    struct cseal *seal;  /* a sealed request's keys and answer state (client_seal.c) */
    /* Flow control (client_flow.c): what this request lets the proxy send. */
    bool flow;
    bool drain_wait; /* an on_drain is registered: grants wait for the caller */
    net_flow_rx rx;
    char sealing_note[160]; /* why a plain answer was not sealed (X-Cocoon-Sealing) */
    cc_list_node node;      /* in c->all */
};

struct client {
    struct event_base *base;
    const client_io *io; /* &client_io_net except in unit tests */
    int max_coefficient;
    bool is_test; /* sent in client.params */
    int64_t max_tokens;
    double request_timeout;
    int64_t stream_window;
    char *owner_address;
    /* The persistent signing key (daemon_identity; "state_dir"). */
    daemon_identity ident;
    /* provider, identity, policy; proxy_registry checks the proxies' image
     * hashes (optional) */
    daemon_tee tee;

    daemon_links links; /* one per configured proxy (their env points at tee) */
    http_server *http;
    http_server *admin; /* stats listener of its own, or NULL (stats on http) */
    cc_map reqs;        /* rid key -> creq (completions in flight) */
    cc_list all;        /* every creq being served, for shutdown */
    cmodel *models;
    size_t n_models;
    double models_at; /* cc_now_mono() of the last list */
    struct event *models_timer;
    crypto_rand_pool
        ids; /* request ids, sealing's data keys and nonces (one RAND_bytes per 1 KiB) */
    /* Prefix affinity ("prefix_affinity"): the HMAC key of conversation keys,
     * random per start so that keys mean nothing outside this client. */
    bool affinity;
    uint8_t affinity_secret[32];
    client_debug_log debug_log;
    ckey *keys; /* "api_keys" with their usage */
    size_t n_keys;
    char *keys_path;          /* <state_dir>/api_key_usage.json, or NULL: usage in memory only */
    bool keys_dirty;          /* charges not yet written there */
    struct event *keys_timer; /* writes them FLUSH_DELAY after the first */
    int64_t price_per_token;
    uint64_t unauthorized; /* requests refused with 401 */
    /* seconds from the request to its last byte, and to its first byte */
    http_histogram latency, ttft;
    client_sealing sealing;
    tee_policy *worker_policy;    /* candidates' certificates (NULL: refuse them all) */
    cc_map seal_cache;            /* first 8 bytes of a certificate hash -> verified candidate */
    cc_map seal_sessions;         /* first 8 bytes of a certificate hash -> sealing session */
    int seal_candidates;          /* candidates a request is wrapped for (0: 2) */
    double seal_session_lifetime; /* seconds a session is used (0: 600) */
    bool seal_sign_on_request;    /* signed receipts only when the caller asks */
    /* Each proxy's verified candidates per model, kept seal_lists_ttl
     * seconds (0: 2; < 0: asked before every request) or until the proxy
     * says its sealing workers changed (client_seal.c). */
    struct clist *seal_lists;
    size_t n_seal_lists;
    double seal_lists_ttl;
    cmoney *money; /* one per link, same order */
    /* client_chain.c: with a chain, the contract at each proxy (per link),
     * the API on our loop and the wallet that deploys and tops up. */
    cchain *chain;
    size_t n_chain;
    ton_api *chain_api;
    daemon_wallet *wallet;
    ton_addr contract_owner;
    bool has_contract_owner;
    int64_t topup_nano, min_balance_nano;
    /* The secret of short authorization (COCOON's secret_string): 64 hex
     * digits kept in the state folder, "" without one; its SHA-256 is what
     * the client contracts hold (client_chain.c sets it). */
    char secret[65];
    uint8_t secret_hash[32];
    struct {
        uint64_t requests, ok, failed, cancelled, retried, not_found, bad_request;
        uint64_t refused_quota; /* refused at once for want of credit at every proxy */
        uint64_t bytes_out;
        uint64_t sealed, plain, sealing_refused, candidates_refused, receipts_refused;
        uint64_t candidate_queries; /* client.getSealingCandidates sent */
    } stats;
};

/* client_chain.c */
/* After the TEE (and its chain) is set up: the API, the wallet
 * ("wallet_key_file") and the contracts' owner. Nothing in free mode. */
int client_chain_open(client *c, const client_config *cfg, cc_err *err);
/* The short-authorization secret from state_dir ("client-secret", created
 * 0600 once), or "" without a state folder. */
int client_secret_load(client *c, const char *state_dir, cc_err *err);
void client_chain_free(client *c);
/* The proxy's params give the contract's address; it is read at once. -1
 * when the proxy announces a proxy contract other than the one we derive
 * (the link is failed with the reason, as COCOON's register_proxy refuses
 * it: after a params change one of us has not read the new params yet, and
 * the next connection, after our next chain read, agrees). */
int client_chain_on_connected(clink *l, const tl_client_connectedToProxy *a);
void client_chain_refresh(clink *l);
/* Our credit at l fell under half the stake's tokens, or a request was
 * refused for it: the contract is read now (and topped up or charged by the
 * usual rules), not at the next refresh. At most every 2 s per link. */
void client_chain_credit_short(clink *l);
/* A proxy.SignedPayment from the proxy (at connect, authorization and after
 * each request): kept when it is a valid charge voucher for our contract,
 * signed by the proxy's key, above the one we hold. */
void client_chain_on_signed_payment(clink *l, const tl_obj *signed_payment);
/* The proxy offered the long authorization with nonce: registers it on
 * chain (owner_client_register to our contract) as soon as the contract is
 * deployed. false when this client cannot (no chain, wallet or contract). */
bool client_chain_register(clink *l, uint64_t nonce);
/* The 503 text when no proxy link is ready, with the first link's last
 * error when it has one (buf holds it). */
const char *client_no_proxy_why(client *c, char *buf, size_t n);
/* Every few seconds: read every known contract again. */
void client_chain_tick(client *c);
/* payments.proxies[].contract (NULL in free mode) and "wallet" (NULL without one). */
json_t *client_chain_json(client *c, const clink *l);
json_t *client_wallet_json(client *c);

/* client_link.c */
/* The client's handshake and packets on its links (env->ud: the client). */
extern const daemon_link_ops client_link_ops;
/* The first ready link other than `avoid` (the configured order is the
 * user's preference), or NULL. */
clink *client_pick_link(client *c, const clink *avoid);

/* client_models.c: the catalogue of models the proxies announce */
/* Asks the proxy for its worker types; the answer updates c->models and then
 * calls done(ud, ok) (ud may be a creq). NULL when l is NULL or not ready. */
models_call *client_query_models(clink *l, void (*done)(client *c, void *ud, bool ok), void *ud);
const cmodel *client_find_model(const client *c, const char *name);
/* Refreshes the catalogue every couple of seconds from a ready proxy. */
void client_models_start(client *c);
void client_models_stop(client *c);

/* client_money.c */
void client_money_init(client *c);
void client_money_free(client *c);
/* The link's account state (same index as the link). */
cmoney *client_money_of(client *c, const clink *l);
/* Asks the proxy for the account's contract figures (client.getAccountStatus);
 * a proxy that does not know the query (COCOON's) leaves them unknown. */
void client_money_refresh(clink *l);
/* A new connection: its account figures are asked afresh. */
void client_money_link_ready(clink *l);
void client_money_on_account(clink *l, const tl_client_accountStatus *a);
/* The proxy's totals for our account; older (smaller) totals are ignored. */
void client_money_on_totals(clink *l, int64_t db_tokens, int64_t max_tokens);
/* Tokens the proxy would still let us reserve there (INT64_MAX when the
 * contract figures are unknown: the proxy decides). */
int64_t client_money_available(const cmoney *m);
/* Our contract at l as read from the chain: its figures replace the
 * proxy's account status (price: the root's, per token; mult: the root's
 * multipliers). */
void client_money_on_contract(clink *l, uint32_t state, int64_t balance, int64_t stake,
                              int64_t tokens_used, int64_t price, const ledger_multipliers *mult);
/* The reservation the proxy makes for a request (COCOON's forward_query). */
int64_t client_money_reservation(int64_t max_tokens, size_t query_len, int max_coefficient);
/* What r reserves at l's proxy: on its query, or on its sealed body (the
 * query and its tag) when it will be sealed there. */
int64_t client_money_request_reservation(const creq *r, const clink *l);
/* The first ready link other than avoid whose credit covers r, or NULL (then
 * *best, when not NULL, is the largest credit seen and *need what r would
 * reserve there). */
clink *client_money_pick(client *c, const clink *avoid, const creq *r, int64_t *best,
                         int64_t *need);
void client_money_reserve(creq *r, clink *l);
void client_money_release(creq *r);
/* The "payments" object of /jsonstats. */
json_t *client_money_json(client *c);
/* nanoTON per token by category at coefficient 1000 ("pricing" of
 * /v1/models), from the first proxy that told its prices; NULL when none did. */
json_t *client_money_pricing(client *c);

static inline client *clink_client(const clink *l)
{
    return l->env->ud;
}

/* client_keys.c: API keys and their budgets */
/* The network config version we ask proxies for (COCOON's client sends its
 * root contract's version in connectToProxy and runQueryEx): the version of
 * the root we follow, 0 without one. */
static inline int32_t client_config_version(const client *c)
{
    int64_t v = c->tee.proxy_registry ? registry_version(c->tee.proxy_registry) : 0;
    return v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

void client_keys_init(client *c, const client_config *cfg);
/* Checks the caller's Authorization when keys are configured: returns 0
 * with *out the key (NULL when no keys are configured), or -1 after
 * answering 401 invalid_api_key or 429 insufficient_quota. */
int client_keys_check(client *c, http_req *h, ckey **out);
/* The caller's key without the budget checks (for reads such as the debug
 * log): 0 with *out the key or NULL when no keys are configured, or -1
 * after answering 401. */
int client_keys_identify(client *c, http_req *h, ckey **out);
/* Charges a finished request's tokens to its key. */
void client_keys_charge(client *c, ckey *k, int64_t total_tokens);
/* The keys' usage for /jsonstats (no hashes). */
json_t *client_keys_stats(const client *c);
/* client_keys_store.c: the keys' usage across restarts ("state_dir") */
/* Reads <state_dir>/api_key_usage.json into the keys (none: nothing spent);
 * -1 when it cannot be read. Nothing when state_dir is NULL or no keys. */
int client_keys_store_open(client *c, const char *state_dir, cc_err *err);
/* A charge happened: written soon. */
void client_keys_store_mark(client *c);
/* Writes the usage now when it changed. */
int client_keys_store_flush(client *c, cc_err *err);
/* Writes what is pending and lets go (at exit). */
void client_keys_store_close(client *c);
/* client_seal.c: sealed requests (docs/confidentiality.md) */
typedef struct cseal cseal;
/* What to do when r cannot go sealed: status 0 sends it plain (why becomes
 * the X-Cocoon-Sealing note), else the request fails with status and why. */
typedef void (*client_seal_fallback)(creq *r, int status, const char *why);
/* Asks l for candidates, verifies them, seals r->query to them and sends
 * client.runSealedQuery; falls back to plain (preferred) or refuses
 * (required) when nothing can be sealed to. r->rid and r->link are set. */
void client_seal_start(creq *r, clink *l, client_seal_fallback fallback);
void client_seal_free(cseal *s);
/* Opens one answer message of a sealed request into out. -1 with err when
 * it does not open (the request must then fail). */
int client_seal_open(creq *r, bool final, tl_bytes answer, cc_buf *out, cc_err *err);
void client_seal_on_receipt(clink *l, const tl_client_queryReceipt *m);
/* The final part opened: checks the receipt against the whole answer and the
 * final info (before any byte of that part reaches the caller). */
int client_seal_check(creq *r, const tl_client_queryFinalInfo *fi, cc_err *err);
/* After a passed check: the evidence as response headers, or for a started
 * stream the closing SSE comment (heap, returned); NULL when none. */
char *client_seal_evidence(creq *r);
/* Headers naming the worker, set when the first part opened. */
void client_seal_head_headers(creq *r);
void client_seal_cache_clear(client *c);
/* Drops the candidate lists kept from l's proxy (its connection is new or
 * gone, or its sealing workers changed), all of them with l NULL. */
void client_seal_lists_forget(client *c, const clink *l);
void client_seal_on_workers_changed(clink *l, const tl_client_sealingWorkersChanged *m);
void client_seal_sessions_clear(client *c);
/* True when msg says a worker lost the session r used: r's sessions are
 * dropped, and the caller may send r again once (it then re-encapsulates). */
bool client_seal_session_lost(creq *r, const char *msg);
/* The evidence of every worker that served a sealed answer (its
 * certificate, quote status, image and model hashes, verification time). */
json_t *client_seal_attestation_json(client *c);

/* client.c */
/* The part of client_new() that opens nothing (no TEE, HTTP server or
 * dials): settings and the proxy links (not started), sending through `io`.
 * client_new() builds on it; unit tests use it alone. Free with client_free(). */
client *client_new_detached(struct event_base *base, const client_config *cfg, const client_io *io,
                            cc_err *err);

/* client_debug.c: COCOON's timing headers and enable_debug */
/* Adds the X-Cocoon-* headers of the answer head (resp may be NULL) and the
 * client's own to the HTTP reply; records when the head arrived. */
void client_debug_timing_headers(creq *r, const tl_http_response *resp);
/* At the end of a request with enable_debug: adds the debug object to the
 * collected body, or for a stream to tail (written after the last bytes),
 * and keeps it under the request's guid. fi may be NULL. */
void client_debug_finish(creq *r, const tl_client_queryFinalInfo *fi, cc_buf *tail);
/* The kept debug JSON of a guid, or NULL. */
const char *client_debug_find(const client *c, const char *guid, const struct ckey *api_key);
void client_debug_log_clear(client *c);
/* GET /request/debuglogentry (ud is the client). */
void client_api_debuglog(http_req *hreq, void *ud);

/* client_api.c */
extern const client_io client_io_net;
void client_api_register(client *c);
/* The HTTP handlers (routes POST /v1/chat/completions, /v1/completions and
 * GET /v1/models; ud is the client). */
void client_api_completion(http_req *hreq, void *ud);
void client_api_models(http_req *hreq, void *ud);
void client_api_attestation(http_req *hreq, void *ud);
/* The chat page at `/` (client_page.c). */
void client_page_register(client *c);
void client_handle_answer(clink *l, const tl_obj *msg);

/* ---- client_flow.c: per-stream flow control toward the proxy ---- */
/* The request was sent on r->link: when the proxy speaks flow control,
 * grant it the initial window for r. */
void client_flow_begin(creq *r);
/* An answer part of n counted bytes arrived: -1 (err set) when the proxy
 * sent more than it was granted. */
int client_flow_receive(creq *r, size_t n, cc_err *err);
/* n counted bytes went to the caller: grant them back now, or once the
 * caller's socket has drained when it is not reading. */
void client_flow_delivered(creq *r, size_t n);
void client_link_gone(clink *l);
void client_requests_abort_all(client *c);

#endif
