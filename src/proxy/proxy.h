/*
 * proxy — the cocoon-proxy daemon (DESIGN §1, §4.3): accepts workers and
 * clients over COCOON's transport, keeps a table of ready workers per model,
 * routes each client request to a worker and relays the answer stream.
 *
 * Ownership: proxy_config strings are heap copies owned by the config and
 * released by proxy_config_clear().  proxy_new() copies what it keeps from
 * the config; the caller may clear it afterwards.  A proxy runs on the
 * caller's event_base and is released with proxy_free().
 */
#ifndef COCOON_PROXY_H
#define COCOON_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "daemon/daemon.h"

struct event_base;

typedef struct proxy_listen_addr {
    char host[64];
    uint16_t port;
} proxy_listen_addr;

/* Fair limits and hung-worker deadlines (docs/security.md). Counts and
 * bytes of requests waiting for a worker slot; "client" is one client
 * connection (one attested client identity). */
typedef struct proxy_limits {
    double first_byte_timeout;      /* no answer byte this long after a request reached a worker:
                                     * retried on another one (default 120 s; 0 = off) */
    double worker_liveness_timeout; /* a worker link silent this long is dropped; the proxy pings
                                     * it after a quarter of it (default 8 s) */
    size_t max_queued;              /* requests waiting, all clients (default 4096) */
    size_t max_queued_bytes;        /* their bytes, all clients (default 256 MiB) */
    size_t client_max_active;       /* one client's requests on workers at once (default 256) */
    size_t client_max_queued;       /* one client's requests waiting (default 1024) */
    size_t client_max_queued_bytes; /* their bytes (default 64 MiB) */
} proxy_limits;

typedef struct proxy_config {
    proxy_listen_addr workers; /* "listen_workers", default 0.0.0.0:11001 */
    proxy_listen_addr clients; /* "listen_clients", default 0.0.0.0:11002 */
    proxy_listen_addr http;    /* "listen_http" (stats), default 127.0.0.1:11000 */
    int pow_difficulty;        /* 0..28, default 20 */
    char *client_policy;       /* clients' attestation policy: any (default, as COCOON deploys
                                * its client port) | fake | tdx | fake_tdx; common.policy is
                                * the workers' (COCOON deploys "tdx" on that port) */
    double request_timeout;    /* cap on one request, seconds (default 600) */
    double idle_timeout;       /* drop links silent this long, seconds (default 60) */
    proxy_limits limits;       /* the keys of the same names */
    /* "http": the stats port's listener limits */
    daemon_http_limits http_limits;
    /* owner, TEE, policy, log level, the chain (common.chain, root_address,
     * chain_refresh) and common.registry: the registry JSON with chain "none"
     * (relative to the config file); the reconnect settings are not used */
    daemon_config common;
    /* "state_dir": the proxy's persistent state (signing seed, ledger),
     * relative to the config file. NULL (default): nothing is kept, the
     * ledger lives in memory under a fresh key (a throwaway local proxy). */
    char *state_dir;
    /* "ledger": the SQLite ledger file, relative to the config file; default
     * <state_dir>/ledger.sqlite. */
    char *ledger;
    /* Without a chain every client owner gets COCOON's ton_disabled account:
     * "free_client_balance_nano" (default 100 TON) and "free_client_stake_nano"
     * (default 1 TON) at the registry's price. Small values let a test run a
     * client out of credit. */
    int64_t free_client_balance_nano;
    int64_t free_client_stake_nano;
    /* "wallet_key_file": the key of the proxy's TON wallet (daemon_wallet_key_load
     * formats, mode 0600), relative to the config file. With a chain it pays
     * for the proxy's messages (its contract's deployment, ...); NULL: the
     * proxy sends nothing on chain. */
    char *wallet_key_file;
    /* "save_interval": seconds between save_state notes to the proxy contract
     * (default 45; COCOON waits 30-60 s); vouchers cover what they save. */
    double save_interval;
    /* COCOON's thresholds: a client contract is charged once what is ready
     * is worth "min_charge_nano" (default 1 TON), a worker paid once its due
     * is worth "min_payout_nano" (default 10 TON); POST /request/charge and
     * /request/payout act at once. */
    int64_t min_charge_nano, min_payout_nano;
    /* "charge_short_credit" (default true): a client is charged as soon as
     * half its stake is used uncharged, whatever min_charge says
     * (proxy_chain_credit_short); false behaves as COCOON's proxy. */
    bool charge_short_credit;
    /* "min_withdraw_nano": the proxy's earned share is withdrawn to its owner
     * once it is worth this much (default 10 TON, COCOON's
     * min_withdraw_amount; 0: only on GET /request/withdraw). */
    int64_t min_withdraw_nano;
    /* "auth_timeout": with a chain and a proxy contract, the seconds a
     * client's authorization may take (its contract read, and for the long
     * form its owner_client_register seen on chain) before it is refused
     * with the reason (default 120; COCOON's client gives up after 300). */
    double auth_timeout;
} proxy_config;

/* Fills defaults. */
void proxy_config_init(proxy_config *c);
/* Reads a JSON config and checks each field (unknown fields are refused;
 * messages name the field).  `path` is used to resolve relative file names.
 * Checks across fields are left to proxy_config_validate(), so command-line
 * overrides (--chain, --registry) can be applied in between. */
int proxy_config_from_json(const json_t *obj, const char *path, proxy_config *c, cc_err *err);
/* Overrides: --chain C, --registry FILE, --log-level L. Unknown flags are
 * errors. */
int proxy_config_apply_flags(proxy_config *c, int argc, char **argv, cc_err *err);
int proxy_config_validate(const proxy_config *c, cc_err *err);
/* from_json + validate of a file. */
int proxy_config_load(const char *path, proxy_config *c, cc_err *err);
void proxy_config_clear(proxy_config *c);
/* The functions above as daemon_config_load_file() and daemon_main() take
 * them. */
extern const daemon_config_ops proxy_config_ops;
/* The measured part of the configuration (RTMR2 of the fake TEE, DESIGN
 * §5.4), appended to out: role, tee, policy, chain, client_policy and the fake root's
 * certificate hash; `cocoon up` uses it to list the genuine image hash. */
int proxy_config_measure(const proxy_config *c, cc_buf *out, cc_err *err);

typedef struct proxy proxy;

/* Loads the registry, opens the three listeners. */
proxy *proxy_new(struct event_base *base, const proxy_config *cfg, cc_err *err);
void proxy_free(proxy *p);
/* Bound ports (useful with port 0 in tests). */
uint16_t proxy_worker_port(const proxy *p);
uint16_t proxy_client_port(const proxy *p);
uint16_t proxy_http_port(const proxy *p);

/* The daemon's main (used by src/proxy/main.c). */
int proxy_main(int argc, char **argv);

#endif
