/*
 * daemon — the plumbing cocoon-proxy, cocoon-worker and cocoon-client share:
 * the configuration fields every daemon has (JSON loading and validation),
 * the TEE set-up (provider, identity, policy, the registry's proxy image
 * check), the stats/health HTTP server and the signal-driven main loop.
 *
 * Ownership: a daemon_config_fields only points into the daemon's own config
 * struct; the strings stay owned by that config (heap copies, replaced with
 * free()+cc_strdup()). A daemon_tee owns what it holds until
 * daemon_tee_clear().
 */
#ifndef COCOON_DAEMON_H
#define COCOON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "http/http.h"
#include "net/net.h"
#include "registry/registry.h"
#include "tee/tee.h"
#include "tl/tl.h"
#include "ton/ton.h"

struct event;
struct event_base;

/* Bit 8 of client.params.flags and proxy.params.flags: the peer speaks our
 * sealing extension (proto/cocoon_ext.tl). COCOON sets and reads only bits 0
 * and 1, so its peers never see the extension. */
#define DAEMON_PARAMS_FLAG_SEALING (1u << 8)
/* Bit 9 of client.params / worker.params / proxy.params flags: per-stream
 * flow control (client.streamCredit, proxy.streamCredit; docs/net.md). */
#define DAEMON_PARAMS_FLAG_FLOW (1u << 9)
/* Bit 10 of client.params and proxy.params flags (with bit 8): the client
 * keeps candidate lists and reads client.sealingWorkersChanged; the proxy
 * echoes it when it sends that message (docs/confidentiality.md, "Candidate
 * lists"). A client of an earlier version never gets the message (it would
 * not decode it), and a client keeps lists only from a proxy that tells. */
#define DAEMON_PARAMS_FLAG_SEAL_LISTS (1u << 10)

/* ---- configuration (daemon_config.c) ------------------------------------ */

/* Reads the optional string `key` into *dst (a heap copy; the old value is
 * freed). Absent: *dst is left alone. */
int daemon_json_get_strdup(const json_t *obj, const char *key, char **dst, cc_err *err);

/* As daemon_json_get_strdup(), but the value is a file name resolved
 * relative to the folder of the config file `config_path`. */
int daemon_json_get_path(const json_t *obj, const char *key, const char *config_path, char **dst,
                         cc_err *err);

/* Reads the optional "host:port" string `key` into host/port; a bad one
 * reads `field "<key>": ...`. Absent: left alone. */
int daemon_json_get_hostport(const json_t *obj, const char *key, char *host, size_t host_size,
                             uint16_t *port, cc_err *err);

/* 0 when v is one of the NULL-terminated `allowed`, else
 * `field "<key>": unknown value "<v>"`. */
int daemon_check_choice(const char *key, const char *v, const char *const *allowed, cc_err *err);

/* A list of proxies to dial, "host:port" heap strings (client and worker). */
void daemon_proxies_clear(char ***list, size_t *n);
/* Appends addr after checking it parses and its port is not 0; `where`
 * names it in the message ("proxies[2]", "--proxy"). */
int daemon_proxies_add(char ***list, size_t *n, const char *addr, const char *where, cc_err *err);
/* Replaces the list with the JSON field "proxies" if present. */
int daemon_proxies_from_json(const json_t *obj, char ***list, size_t *n, cc_err *err);

/* The configuration every daemon has: a `common` member of the proxy's, the
 * worker's and the client's config structs. Strings are heap copies owned
 * by it (replaced with free()+cc_strdup()). */
typedef struct daemon_config {
    char *owner_address; /* TON address of the owner ("" allowed locally) */
    char *tee;           /* TEE provider: none (default) | fake | tdx */
    char *policy;        /* peers' attestation check: any (default) | fake | tdx */
    char *fake_root;     /* fake TEE root folder; required with tee or policy fake */
    /* Registry JSON: the proxy's network registry; for the client and the
     * worker an optional list of proxy images, checked in the TLS handshake
     * (DESIGN §5.3). Resolved relative to the config file. */
    char *registry;
    /* Backoff between dials of a proxy, s (client and worker; 0.2 and 10). */
    double reconnect_min, reconnect_max;
    char *log_level; /* debug | info (default) | warn | error */
    /* Attestation freshness and TCB (docs/security.md): our certificates
     * live at most max_cert_lifetime seconds (default 24 h, at least 1 h) and
     * peers' certificates living longer are refused; under policy tdx the
     * collateral file (Intel PCS JSON) evaluates the TCB, whose status must be
     * in allowed_tcb (default UpToDate, SWHardeningNeeded) and whose
     * tcbEvaluationDataNumber must reach min_tcb_eval_number. */
    long max_cert_lifetime;
    char *collateral;
    char *collateral_url;      /* or fetched from here (daemon_collateral) */
    double collateral_refresh; /* s between fetches at most; default 3600 */
    /* "document" (one collateral JSON document at collateral_url) or "pcs"
     * (collateral_url is the base of Intel's PCS API v4 or a PCCS) */
    char *collateral_api;
    uint8_t collateral_fmspcs[TEE_POLICY_MAX_COLLATERALS][6]; /* pcs: asked from the start */
    size_t n_collateral_fmspcs;
    uint32_t allowed_tcb;
    long long min_tcb_eval_number;
    bool policy_explicit; /* "policy" was written in the config */
    /* The chain: "none" (default; the registry file is the network) or a TON
     * HTTP API v2 URL whose root contract `root_address` is read at start and
     * every `chain_refresh` seconds (default 60; daemon_chain). */
    char *chain;
    char *root_address;
    double chain_refresh;
} daemon_config;

/* Fills the defaults. */
void daemon_config_init(daemon_config *c);
/* Reads the shared keys ("owner_address", "tee", "policy", "fake_root",
 * "registry", "reconnect_min", "reconnect_max", "log_level", "chain",
 * "root_address", "chain_refresh") from obj, each
 * only if present, in that order; paths relative to the config file
 * `path`. Which keys a role accepts at all is its own key list's business. */
int daemon_config_from_json(const json_t *obj, const char *path, daemon_config *c, cc_err *err);
/* Refuses a top-level field that is neither one of the shared ones
 * daemon_config_from_json reads (owner, TEE and collateral, chain, log, "http",
 * "comment") nor in role_keys (NULL-terminated): "config: unknown field". */
int daemon_config_check_keys(const json_t *obj, const char *const *role_keys, cc_err *err);
/* Checks the shared fields: tee none|fake|tdx, policy any|fake|tdx,
 * log_level debug|info|warn|error, fake_root given with tee or policy
 * "fake", reconnect_min <= reconnect_max, chain "none" or an http(s) URL
 * with a root_address that parses. */
int daemon_config_check(const daemon_config *c, cc_err *err);
/* Frees the strings (and sets them to NULL). */
void daemon_config_clear(daemon_config *c);
/* Secure default for daemons that dial proxies (client, worker): unless the
 * config names a policy, every proxy must be on the loopback (127.0.0.0/8,
 * ::1, localhost), where the default policy any is a local test set-up;
 * a remote proxy without an explicit policy is refused with a message. */
int daemon_config_check_peer_policy(const daemon_config *c, char *const *proxies, size_t n,
                                    cc_err *err);

/* Where the command-line overrides land. A NULL target makes its flag
 * unknown (the proxy has no --http or --proxy). */
typedef struct daemon_flag_targets {
    char *http_host; /* --http HOST:PORT */
    size_t http_host_size;
    uint16_t *http_port;
    char ***proxies;   /* --proxy HOST:PORT: the first replaces the configured list, */
    size_t *n_proxies; /* later ones add to it */
    char **log_level;  /* --log-level L (checked later with the config) */
    /* --chain URL|none, --root ADDR, --chain-refresh SECONDS (NULL: unknown) */
    daemon_config *chain;
} daemon_flag_targets;

/* Applies "--flag value" pairs in order: --http, --proxy and --log-level
 * into t, any other flag through extra(ud, flag, value, err), which returns
 * 1 when it took the flag, 0 when it does not know it, -1 on a bad value
 * (extra may be NULL). extra is first asked with value NULL (and err NULL)
 * only whether it knows the flag: it must then change nothing. Messages:
 * "unknown flag F" (whatever follows it), "flag F needs a value" (nothing or
 * another --flag follows), "unexpected argument \"X\"", "--http: ...",
 * "--proxy: ...". */
int daemon_flags_apply(const daemon_flag_targets *t, int argc, char **argv,
                       int (*extra)(void *ud, const char *flag, const char *value, cc_err *err),
                       void *ud, cc_err *err);

/* A role's typed config functions behind void pointers, so that one loader
 * and one main() serve the three daemons (see DAEMON_DEFINE_CONFIG_OPS). */
typedef struct daemon_config_ops {
    size_t size;          /* of the role's config struct */
    size_t common_offset; /* of its daemon_config member */
    void (*init)(void *cfg);
    int (*from_json)(const json_t *obj, const char *path, void *cfg, cc_err *err);
    int (*apply_flags)(void *cfg, int argc, char **argv, cc_err *err);
    int (*validate)(const void *cfg, cc_err *err);
    void (*clear)(void *cfg);
} daemon_config_ops;

/* Defines `const daemon_config_ops PREFIX_config_ops` from the functions
 * PREFIX_config_{init,from_json,apply_flags,validate,clear} of config type
 * TYPE (whose daemon_config member is `common`): the pointer adapters are
 * written here once rather than in each role. */
#define DAEMON_DEFINE_CONFIG_OPS(prefix, type)                                                     \
    static void prefix##_ops_init(void *c)                                                         \
    {                                                                                              \
        prefix##_config_init(c);                                                                   \
    }                                                                                              \
    static int prefix##_ops_from_json(const json_t *o, const char *path, void *c, cc_err *err)     \
    {                                                                                              \
        return prefix##_config_from_json(o, path, c, err);                                         \
    }                                                                                              \
    static int prefix##_ops_flags(void *c, int argc, char **argv, cc_err *err)                     \
    {                                                                                              \
        return prefix##_config_apply_flags(c, argc, argv, err);                                    \
    }                                                                                              \
    static int prefix##_ops_validate(const void *c, cc_err *err)                                   \
    {                                                                                              \
        return prefix##_config_validate(c, err);                                                   \
    }                                                                                              \
    static void prefix##_ops_clear(void *c)                                                        \
    {                                                                                              \
        prefix##_config_clear(c);                                                                  \
    }                                                                                              \
    const daemon_config_ops prefix##_config_ops = {                                                \
        sizeof(type),       offsetof(type, common), prefix##_ops_init, prefix##_ops_from_json,     \
        prefix##_ops_flags, prefix##_ops_validate,  prefix##_ops_clear}

/* Loads the JSON file `path` into cfg with ops->from_json; a failure reads
 * "PATH:LINE:COL: field ..." where the field the error names is in the file
 * (an unknown key, a bad value), else "PATH: ...". */
int daemon_config_load_file(const daemon_config_ops *ops, const char *path, void *cfg, cc_err *err);
/* Prefixes err with "PATH:LINE:COL" when the field it names is in the file
 * at path; otherwise with "PATH" when always_file, else leaves it. */
void daemon_config_error_at(const char *path, bool always_file, cc_err *err);

/* ---- TEE set-up (daemon_tee.c) ------------------------------------------ */

/* One measured setting: a "key=value" line of the fake TEE's RTMR2. */
typedef struct daemon_measure_item {
    const char *key, *value; /* value NULL = "" */
} daemon_measure_item;

/* The measured part of a daemon's configuration (DESIGN §5.4), appended to
 * out: role, tee, policy, the daemon's own items in order, then under policy
 * "fake" the fake root certificate's hash (its trust anchor). */
/* The measured "proxy_check" item of a client or worker: "root ADDR" with a
 * chain (the root's proxy images are the check), "registry" with a registry
 * file, else "off". */
void daemon_proxy_check_text(const daemon_config *d, char *out, size_t n);
int daemon_measure(cc_buf *out, const char *role, const char *tee, const char *policy,
                   const daemon_measure_item *items, size_t n_items, const char *fake_root,
                   cc_err *err);

/* What a daemon proves and whom it trusts. */
typedef struct daemon_tee_config {
    const char *role;      /* "proxy", "worker", "client": the certificate's role claim */
    const char *tee;       /* provider: none | fake | tdx */
    const char *policy;    /* peers' check: any | fake | tdx */
    const char *fake_root; /* needed with tee or policy fake */
    /* The daemon's loop: needed to fetch collateral from collateral_url. */
    struct event_base *base;
    /* Freshness and TCB settings (max_cert_lifetime, collateral, ...);
     * NULL = the defaults. */
    const daemon_config *common;
    /* Registry file whose proxy image list every proxy must pass in the TLS
     * handshake (client, worker); NULL = no such check. */
    const char *proxy_registry;
    const uint8_t *model_hash; /* 32 bytes claimed in the certificate, or NULL */
    /* Workers: make the sealing keys (X25519 for requests, Ed25519 for
     * receipts) here, next to the identity, and claim them in the certificate. */
    bool sealing_keys;
    /* Appends the measured settings (only called for tee "fake", whose RTMR2
     * measures them, so that changing them changes the image hash). */
    int (*measure)(const void *cfg, cc_buf *out, cc_err *err);
    const void *measure_cfg;
} daemon_tee_config;

/* ---- Collateral from a URL (daemon_collateral.c) ----------------------- */

/* Keeps the TDX collateral of the watched policies current from an HTTP(S)
 * URL serving one collateral JSON document (the shape tee_collateral_parse
 * reads, e.g. a local PCCS-style cache in front of Intel's PCS). Fetched on
 * the loop without blocking it, refetched after min(refresh, half the time
 * to the earliest nextUpdate) (at least 5 s), failures retried from 5 s
 * doubling up to `refresh`, keeping the old collateral. */
typedef struct daemon_collateral daemon_collateral;
daemon_collateral *daemon_collateral_new(struct event_base *base, const char *url, double refresh,
                                         cc_err *err);
/* Makes the URL the base of Intel's PCS API v4 or a PCCS instead of one
 * document: each round asks for the QE identity, the PCK and root CRLs and
 * the TCB info of every FMSPC in fmspcs (collateral_fmspcs) and of every
 * genuine platform the watched policies met without collateral (noticed
 * within 2 s, fetched at once), up to TEE_POLICY_MAX_COLLATERALS families. */
int daemon_collateral_use_pcs(daemon_collateral *c, const uint8_t (*fmspcs)[6], size_t n,
                              cc_err *err);
/* Borrowed: p must outlive the fetcher (at most 4 policies). */
int daemon_collateral_watch(daemon_collateral *c, tee_policy *p, cc_err *err);
/* The first fetch, from the loop. */
void daemon_collateral_start(daemon_collateral *c);
void daemon_collateral_stats(const daemon_collateral *c, uint64_t *fetches, uint64_t *failures,
                             time_t *next_update);
void daemon_collateral_free(daemon_collateral *c);
/* The delay before the next fetch (exposed for tests). */
double daemon_collateral_refresh_delay(time_t now, time_t next_update, double refresh);

typedef struct daemon_tee {
    tee_provider *provider;
    tee_identity *identity;
    tee_policy *policy;
    registry *proxy_registry;      /* NULL unless proxy_registry was given or a chain followed */
    daemon_collateral *collateral; /* NULL unless collateral_url was given */
    struct daemon_chain *chain;    /* daemon_tee_follow_chain, else NULL */
    bool sealing;                  /* the keys below exist and are claimed */
    uint8_t seal_sk[32];           /* X25519: opens the data keys wrapped for us */
    uint8_t receipt_sk[32];        /* Ed25519 seed: signs receipts */
    /* The certificate before the last renewal and the sealing keys it
     * claims (daemon_tee_rotate): a link made before the renewal still
     * presents it, so what clients wrap for it must still open, and its
     * receipts be signed by the key it claims. NULL before any renewal. */
    X509 *prev_cert;
    uint8_t prev_seal_sk[32], prev_receipt_sk[32];
    uint64_t renewals; /* how many certificates replaced the first */
} daemon_tee;

/* A policy of kind `kind` ("any", "fake", "tdx", "fake_tdx"); "fake" trusts
 * the fake root in fake_root. For listeners with their own policy (the
 * proxy's client port). */
tee_policy *daemon_tee_policy_new(const char *kind, const char *fake_root, cc_err *err);
/* Applies the shared freshness and TCB settings of c to p: maximum
 * certificate lifetime, and (with a collateral file) the collateral, the
 * allowed TCB statuses and the minimum tcbEvaluationDataNumber. */
int daemon_tee_policy_configure(tee_policy *p, const daemon_config *c, cc_err *err);

/* The part of a daemon_tee_config the shared settings give: role, tee,
 * policy, fake_root, and for a daemon that dials proxies (check_proxies)
 * common->registry as its proxy image check. The caller adds measure and
 * model_hash. */
daemon_tee_config daemon_tee_config_of(const char *role, const daemon_config *common,
                                       bool check_proxies);

/* Fills t (zeroed by the caller). On failure t keeps what was made:
 * daemon_tee_clear() releases it either way. */
int daemon_tee_setup(daemon_tee *t, const daemon_tee_config *c, cc_err *err);
void daemon_tee_clear(daemon_tee *t);
/* Renews the certificate when it is due (tee_identity_needs_renewal) or
 * when force is set: a fresh quote and validity for the same identity key,
 * and for a daemon with sealing keys new ones (both made here, in the TEE's
 * memory), claimed by the new certificate; the current keys and certificate
 * become the previous ones (those before are wiped). 1 when renewed, 0 when
 * not due, -1 with err (nothing changed). Links made afterwards present the
 * new certificate; the caller decides what happens to the others. */
int daemon_tee_rotate(daemon_tee *t, bool force, cc_err *err);
/* For a daemon that dials proxies, with a chain (common->chain not "none"):
 * reads the root (daemon_chain_start; a failure fails) and from then on
 * checks proxies' images against the root's latest list instead of a
 * registry file's. Does nothing with chain "none". After daemon_tee_setup. */
int daemon_tee_follow_chain(daemon_tee *t, struct event_base *base, const daemon_config *common,
                            cc_err *err);

/* ---- the chain (daemon_chain.c) ------------------------------------------ */

/* The registry read from the root contract common->root_address through the
 * TON HTTP API common->chain: once at start (waiting; the loop is not running
 * yet), then every common->chain_refresh seconds asynchronously on base. A
 * read that differs from the last one becomes a new registry, handed to
 * on_update (which takes it) from the loop; a failed read keeps the last good
 * registry in force and is retried with backoff (1 s doubling up to the
 * refresh period). */
typedef struct daemon_chain daemon_chain;
typedef void (*daemon_chain_update)(void *ud, registry *reg);
/* *first receives the first registry (the caller owns it). NULL with err
 * naming the chain and root when the first read fails. */
daemon_chain *daemon_chain_start(struct event_base *base, const daemon_config *common,
                                 registry **first, daemon_chain_update on_update, void *ud,
                                 cc_err *err);
void daemon_chain_free(daemon_chain *c);
/* The root's params of the last good read, with the contract codes (the
 * per-party contract addresses derive from them); borrowed until the next
 * read; NULL for c NULL. */
const ton_root_params *daemon_chain_root_params(const daemon_chain *c);
/* {url, root, refresh, last_ok (unix time, 0 = never), last_error ("" after a
 * good read), version, reads, failures, updates} for /jsonstats. */
json_t *daemon_chain_json(const daemon_chain *c);
/* The root contract's address and the chain's API URL. */
const ton_addr *daemon_chain_root(const daemon_chain *c);
const char *daemon_chain_url(const daemon_chain *c);
/* The proxy contract of a proxy that announced (announced, owner, pub), as
 * COCOON's register_proxy (client and worker) checks it: derived from the
 * owner, the key and c's root and params (*init gets its StateInit when init
 * is not NULL); an announced zero address gets the derived one. Returns 0
 * (out = the contract), 1 when the proxy announced another one (why =
 * "expected X got Y"), -1 when an address does not parse or c has no params
 * yet (err). */
int daemon_chain_proxy_contract(const daemon_chain *c, const char *announced, const char *owner,
                                const uint8_t pub[32], ton_addr *out, char *why, size_t why_size,
                                cc_err *err);

/* ---- a TON wallet on the loop (daemon_wallet.c) ------------------------- */

/* A wallet v5r1 that sends a daemon's chain messages (COCOON's runners each
 * have one: CocoonWallet). Messages are queued and leave in order, a few per
 * transfer, at most one transfer in flight: the wallet's state is read
 * (seqno, balance, the chain's clock), the transfer signed and sent with
 * sendBoc, and confirmed when the seqno rises. A transfer not landed within
 * its validity, or whose sending failed, is signed again with the same seqno
 * (so at most one copy can land) after a backoff, up to max_attempts times
 * (default 8); an unreachable chain is retried without limit. All of it runs
 * through ton_api_call_async on the daemon's loop and never blocks it. The
 * wallet must be the daemon's alone: a seqno that rises counts as our
 * transfer having landed. */
typedef struct daemon_wallet daemon_wallet;

/* The key of a wallet: its Ed25519 seed and the network id its wallet_id
 * (and so its address) depends on. */
typedef struct daemon_wallet_key {
    uint8_t seed[32];
    int32_t network_global_id; /* TON_GLOBAL_ID_MAINNET unless the file says */
} daemon_wallet_key;

/* Loads a key file (config `wallet_key_file`; mode 0600 or stricter, else
 * refused): the 32-byte seed itself; 64 or 128 hex digits (the seed, or
 * seed ‖ public key); base64 of the seed (COCOON's node_wallet_key); or JSON
 * with "private_key" (hex seed, `cocoon ton wallet` key files) or
 * "secret_key" (hex seed ‖ public key, tonsim's wallets) and optional
 * "network_global_id", "version" (v5r1) and "workchain" (0). */
int daemon_wallet_key_load(const char *path, daemon_wallet_key *k, cc_err *err);

/* Called once per message from the loop: sent (the transfer carrying it
 * landed), or not with the reason (given up). It may queue more messages but
 * must not free the wallet. */
typedef void (*daemon_wallet_done)(void *ud, bool sent, const char *error);

/* A wallet for key on base through the TON HTTP API at api_url; it reads its
 * state once at once (for /jsonstats). testnet only changes how the address
 * is shown. */
daemon_wallet *daemon_wallet_new(struct event_base *base, const char *api_url,
                                 const daemon_wallet_key *key, bool testnet, cc_err *err);
/* Cancels what is in flight; queued messages are dropped without callbacks. */
void daemon_wallet_free(daemon_wallet *w);
const ton_addr *daemon_wallet_address(const daemon_wallet *w);
/* Queues one internal message (m's cells are referenced, not taken); done
 * (may be NULL) reports it later. Fails only on a message that does not
 * build or a full queue (1024 waiting). */
int daemon_wallet_send(daemon_wallet *w, const ton_int_msg *m, daemon_wallet_done done, void *ud,
                       cc_err *err);
/* Messages queued or in flight. */
size_t daemon_wallet_pending(const daemon_wallet *w);
/* {address, address_friendly, known, active, balance, seqno, queued,
 * in_flight, transfers, sent, failed, send_errors, read_errors, last_ok,
 * last_error} for /jsonstats. */
json_t *daemon_wallet_json(const daemon_wallet *w);
/* Timing, s: polls for the seqno from poll_min doubling to poll_max after a
 * send (defaults 0.2 and 5), failures retried from retry_min doubling to
 * retry_max (1 and 30), a batch given up after max_attempts sends (8). */
void daemon_wallet_set_timing(daemon_wallet *w, double poll_min, double poll_max, double retry_min,
                              double retry_max, int max_attempts);

/* ---- HTTP listener limits as config keys (daemon_http.c) ---------------- */

/* The "http" object of a daemon config: the hardening limits of its HTTP
 * listener (the client's API, every stats port), each optional, in
 * http_server_config's units; zero or NULL keeps the server's default. */
typedef struct daemon_http_limits {
    int max_connections;
    size_t max_headers, max_output;
    double header_timeout, body_timeout, body_min_rate, idle_timeout;
    char *allowed_hosts, *allowed_origins; /* owned */
} daemon_http_limits;

/* Reads obj[key] when present (an object; unknown fields are refused and
 * each error names "key.field"). */
int daemon_http_limits_from_json(const json_t *obj, const char *key, daemon_http_limits *l,
                                 cc_err *err);
/* Copies the limits set into hc (strings borrowed from l). */
void daemon_http_limits_apply(const daemon_http_limits *l, http_server_config *hc);
void daemon_http_limits_clear(daemon_http_limits *l);

/* ---- stats pages and the main loop (daemon_run.c) ----------------------- */

/* An HTTP server on host:port serving only the stats pages (/jsonstats,
 * /stats, /metrics, /healthz; see http_server_add_stats), with the config's
 * listener limits (NULL: the defaults; its Host check lets loopback names,
 * the listen host and the configured allowed_hosts in, else 421). A
 * failure reads "stats HTTP on HOST:PORT: ...". */
http_server *daemon_stats_http_new(struct event_base *base, const char *host, int port,
                                   const daemon_http_limits *lim, const char *title,
                                   http_stats_fill fill, http_health_fn healthy, void *ud,
                                   cc_err *err);

/* Adds "image_hash" (hex, "" unless the quote verified) and "attestation"
 * (the one-line summary) of a peer's certificate to a stats entry; pi NULL
 * adds nothing. */
void daemon_json_add_peer_info(json_t *entry, const tee_peer_info *pi);

/* One named counter of a stats page. */
typedef struct daemon_count {
    const char *name;
    int64_t value;
} daemon_count;

/* A new JSON object {NAME: VALUE, ...} of the n counters, in order. */
json_t *daemon_json_counts(const daemon_count *counts, size_t n);

/* Starts logging as `component` at log_level and ignores SIGPIPE (a peer
 * closing while we write must not kill the daemon). */
void daemon_log_start(const char *component, const char *log_level);

/* Splits the command line: "--config FILE" sets *config (else left alone),
 * the other arguments after argv[0] go to *rest in order (a NULL-terminated
 * heap array the caller frees; *nrest counts them). Returns 1 when --help or
 * -h is given, 2 for --version (then *rest is NULL), else 0. */
int daemon_args_split(int argc, char **argv, const char **config, char ***rest, int *nrest);

/* Runs base's loop until SIGINT or SIGTERM (logged as
 * "event=signal sig=N action=stop"). */
void daemon_run(struct event_base *base);

/* ---- main() of a daemon (daemon_main.c) --------------------------------- */

/* What main() needs to know of a role. */
typedef struct daemon_role {
    const char *name;  /* "proxy": the log component; messages say "cocoon-proxy" */
    const char *usage; /* for --help, and after a bad command line without --config */
    bool config_required;
    const daemon_config_ops *config;
    /* Starts the daemon on base; cfg stays valid until stop() returned.
     * NULL with err set on failure. */
    void *(*start)(struct event_base *base, const void *cfg, cc_err *err);
    void (*stop)(void *daemon);
} daemon_role;

/* Defines `static const daemon_role NAME_role` for a daemon made by
 * NEW(base, cfg, err) and released by FREE(daemon), both typed on the
 * role's own structs: the adapters to daemon_role's void pointers are
 * written once here rather than in each role. */
#define DAEMON_DEFINE_ROLE(name, usage_, required, config_ops, new_fn, free_fn)                    \
    static void *name##_role_start(struct event_base *b, const void *cfg, cc_err *err)             \
    {                                                                                              \
        return new_fn(b, cfg, err);                                                                \
    }                                                                                              \
    static void name##_role_stop(void *d)                                                          \
    {                                                                                              \
        free_fn(d);                                                                                \
    }                                                                                              \
    static const daemon_role name##_role = {                                                       \
        #name, usage_, required, config_ops, name##_role_start, name##_role_stop}

/* The sequence the three daemons share: split the arguments, load
 * --config, apply the overrides, validate (a failure prints
 * "cocoon-NAME: MESSAGE" and returns 2), start logging at the configured
 * level, start the daemon (a failure logs event=start_failed and returns
 * 1), run until SIGINT/SIGTERM, stop, and log event=exit. */
int daemon_main(const daemon_role *role, int argc, char **argv);

/* ---- the outbound link to a proxy (daemon_link.c; client and worker) ---- */

/* A link's life: WAITING (reconnect timer armed) -> CONNECTING (TCP, proof
 * of work, TLS) -> HANDSHAKE (the role's COCOON queries) -> READY, and back
 * to WAITING whenever the connection fails or closes. */
typedef enum {
    DAEMON_LINK_WAITING = 0,
    DAEMON_LINK_CONNECTING,
    DAEMON_LINK_HANDSHAKE,
    DAEMON_LINK_READY,
} daemon_link_state;

typedef struct daemon_link daemon_link;

/* What a role does with the answer to one of its handshake queries. */
typedef void (*daemon_link_step)(daemon_link *l, const tl_obj *answer);

/* What a role (client, worker) does on its links; the link does the rest.
 * The role's daemon is env->ud; per-link role data can be kept by
 * daemon_links_index(). */
typedef struct daemon_link_ops {
    /* TLS is up (state HANDSHAKE): send the first handshake query. */
    void (*hello)(daemon_link *l);
    /* The handshake finished (state READY). May be NULL. */
    void (*on_ready)(daemon_link *l);
    /* A packet from the proxy while READY (earlier ones are dropped). */
    void (*on_packet)(daemon_link *l, const uint8_t *data, size_t len);
    /* The connection is gone (state WAITING, conn NULL already): drop or move
     * what ran on it. May be NULL. */
    void (*on_gone)(daemon_link *l);
} daemon_link_ops;

/* What all links of one daemon share; it must outlive them. */
typedef struct daemon_link_env {
    struct event_base *base;
    daemon_tee *tee; /* our identity and the check of the proxies */
    const daemon_link_ops *ops;
    void *ud;                            /* the role's daemon (client, worker) */
    double query_timeout;                /* handshake (and role) queries, s (0: 10) */
    double reconnect_min, reconnect_max; /* backoff bounds, s (daemon_links_init sets them) */
} daemon_link_env;

struct daemon_link {
    const daemon_link_env *env;
    char addr[96]; /* as configured */
    char host[64];
    uint16_t port;
    daemon_link_state state;
    net_conn *conn; /* NULL while WAITING */
    net_backoff backoff;
    struct event *timer;
    int proto_version;   /* agreed in the handshake */
    uint32_t peer_flags; /* the flags of the proxy's params in the handshake answer */
    uint64_t connects, requests;
    double ready_since; /* wall clock */
    char last_error[160];
    /* The handshake query in flight (one at a time): its name, the answer
     * type and what to do with the answer. */
    const char *step_what;
    int step_type;
    daemon_link_step step;
};

/* Sets up l (zeroed by the caller) for proxy "host:port" `addr`; no dial
 * yet. On failure l needs no clean-up. */
int daemon_link_init(daemon_link *l, const daemon_link_env *env, const char *addr, cc_err *err);
/* Dials; a failure to even start schedules the next try. */
void daemon_link_start(daemon_link *l);
/* Closes the connection (on_gone runs if there was one) and frees the timer:
 * l may then be freed. */
void daemon_link_stop(daemon_link *l, const char *reason);
/* Drops the connection (logged as proxy_link_failed), runs on_gone and
 * schedules a reconnect after the next backoff delay. */
void daemon_link_fail(daemon_link *l, const char *why);
/* A planned reconnect (a renewed certificate to present): like
 * daemon_link_fail, but what is queued on the connection is written out
 * first, and it is logged as proxy_link_restart. */
void daemon_link_restart(daemon_link *l, const char *why);
/* The handshake finished: state READY, backoff and last error reset, then
 * on_ready. */
void daemon_link_set_ready(daemon_link *l);

/* Sends msg as a query on l's connection with env->query_timeout; the answer
 * goes to cb(ud). Fails (without touching the link) when not connected or
 * when msg does not encode. */
int daemon_link_query(daemon_link *l, const tl_obj *msg, net_answer_fn cb, void *ud, cc_err *err);
/* A handshake step: sends the query msg; its answer, decoded as
 * expect_type, goes to next() (and is freed after it). An error answer, an
 * undecodable one or a query that cannot be sent fails the link ("NAME
 * failed: CODE MSG", "NAME: bad answer: ...", NAME being msg's constructor);
 * an answer on a connection the link has since dropped is ignored. */
void daemon_link_handshake(daemon_link *l, const tl_obj *msg, int expect_type,
                           daemon_link_step next);
/* The same with its own answer timeout (s; <= 0: env->query_timeout): a
 * step the peer answers only after an event of its own (the client's long
 * authorization waits for the chain). */
void daemon_link_handshake_for(daemon_link *l, const tl_obj *msg, int expect_type,
                               daemon_link_step next, double timeout);
/* The answer to handshake query `what` that arrived on conn: NULL when conn
 * is no longer l's (the link moved on: ignore it), or after failing the link
 * on an error answer or an undecodable one; else the decoded object (the
 * caller frees it). */
tl_obj *daemon_link_answer(daemon_link *l, net_conn *conn, const char *what, int32_t code,
                           const char *msg, const uint8_t *data, size_t len, int expect_type);
/* The protocol version the proxy stated in its connect answer (bit 2 of
 * `flags` says it stated one) must lie within [min, max]: then it becomes
 * l->proto_version and 0 is returned; else the link fails and -1. */
int daemon_link_set_version(daemon_link *l, int min, int max, uint32_t flags, int32_t stated);
/* Sends msg as a one-way packet (net_conn_send_msg); -1 when not connected. */
int daemon_link_send(daemon_link *l, const tl_obj *msg);

/* All links of one daemon, one per configured proxy, in configuration
 * order. The set holds the env its links point at: it must not move. */
typedef struct daemon_links {
    daemon_link_env env;
    daemon_link *at;
    size_t n;
} daemon_links;

/* Sets up one link per "host:port" of addrs (no dial yet), with env and the
 * reconnect bounds of common. On failure the links made so far are counted
 * in n; daemon_links_stop() frees either way. */
int daemon_links_init(daemon_links *s, const daemon_link_env *env, const daemon_config *common,
                      char *const *addrs, size_t n, cc_err *err);
void daemon_links_start(daemon_links *s);
/* Stops every link (see daemon_link_stop) and frees them. */
void daemon_links_stop(daemon_links *s, const char *reason);
/* The first READY link other than `avoid` (configuration order is the
 * user's preference), or NULL. */
daemon_link *daemon_links_pick(const daemon_links *s, const daemon_link *avoid);
/* The position of l in s (for per-link role data). */
size_t daemon_links_index(const daemon_links *s, const daemon_link *l);
/* A JSON array of the links' stats entries; *ready (may be NULL) counts
 * the READY ones. */
json_t *daemon_links_stats_json(const daemon_links *s, size_t *ready);

/* "waiting", "connecting", "handshake", "ready"; out of range: "unknown". */
const char *daemon_link_state_name(daemon_link_state state);
/* A new JSON object for /jsonstats: address, state, proto_version, connects,
 * requests, last_error (if any), image_hash and attestation (if connected). */
json_t *daemon_link_stats_json(const daemon_link *l);

/* Dials host:port with our RA-TLS identity (renewed first when it nears
 * expiry; a failed renewal is logged and the old one used) and checks the
 * proxy's certificate under t->policy in the handshake. */
net_conn *daemon_link_dial(struct event_base *base, daemon_tee *t, const char *host, uint16_t port,
                           const net_conn_callbacks *cbs, void *ud, cc_err *err);

/* Decodes the answer to the handshake query `what` (a new object the caller
 * frees). An error answer or an undecodable one gives NULL and a reason in
 * why: "WHAT failed: CODE MSG" or "WHAT: bad answer: ...". */
tl_obj *daemon_link_decode_answer(const char *what, int32_t code, const char *msg,
                                  const uint8_t *data, size_t len, int expect_type, char *why,
                                  size_t why_size);

/* ---- persistent identity (daemon_identity.c) ----------------------------- */

/* A daemon's signing key: an Ed25519 seed kept across restarts in its state
 * folder, apart from the RA-TLS key (which rotates with the certificate), so
 * that what is derived from it (its wallet, hence the contract addresses
 * that name that wallet) stays the same; COCOON keeps its node key likewise. */
typedef struct daemon_identity {
    uint8_t seed[32];
    uint8_t pub[32];
    bool persistent; /* read from, or created in, a state folder */
    char *path;      /* the key file (heap), or NULL when not persistent */
} daemon_identity;

/* Reads `file` in state_dir (created 0700 when missing), or creates it with
 * a new random seed (0600, written atomically). A file that is not exactly 32
 * bytes, or one readable by others, is refused with the path named. A NULL
 * state_dir gives a new key that lasts until the daemon stops (with a
 * warning naming `role`). */
int daemon_identity_load(daemon_identity *id, const char *state_dir, const char *file,
                         const char *role, cc_err *err);
/* The key file alone: reads the 32-byte seed at path (refused when readable
 * by others or not 32 bytes), or creates it with a new random seed (0600,
 * written atomically) when it does not exist. */
int daemon_seed_load(const char *path, uint8_t seed[32], const char *role, cc_err *err);
/* Wipes the seed and frees the path. */
void daemon_identity_clear(daemon_identity *id);
/* /jsonstats "identity": public_key (hex), wallet_address (the v5r1 wallet
 * of that key on basechain, raw form, network_global_id -239), persistent,
 * path. */
json_t *daemon_identity_json(const daemon_identity *id);

#endif
