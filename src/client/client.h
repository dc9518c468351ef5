/*
 * client — the cocoon-client daemon (DESIGN §1, §9): serves the OpenAI HTTP
 * API on localhost and forwards each request over COCOON's transport to one of
 * the proxies in its config (the next one when a proxy fails).
 *
 * Ownership: client_config strings are heap copies owned by the config and
 * released by client_config_clear(). client_new() copies what it keeps.
 */
#ifndef COCOON_CLIENT_H
#define COCOON_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "daemon/daemon.h"

struct event_base;

/* Header of the http.request a client sends carrying its token cap for the
 * request (the body's max_tokens, else the client's default); the worker
 * enforces it on the backend and does not forward the header. */
#define CLIENT_MAX_TOKENS_HEADER "X-Cocoon-Max-Tokens"

/* One API key of "api_keys". Callers authenticate with
 * "Authorization: Bearer KEY", matched by the key's SHA-256 (only the hash
 * is kept, even when the config gives the key itself). Budgets are per UTC
 * day and in total, in tokens (the usage the network reports) and in
 * nanoTON (those tokens at price_per_token and the client's
 * max_coefficient: an upper bound of what the proxy charges); 0 = none. */
typedef struct client_api_key {
    char name[64];
    uint8_t sha256[32];
    int64_t budget_tokens_day, budget_tokens_total;
    int64_t budget_nano_day, budget_nano_total;
} client_api_key;

#define CLIENT_MAX_API_KEYS 1024
typedef enum {
    CLIENT_SEALING_PREFERRED = 0,
    CLIENT_SEALING_REQUIRED,
    CLIENT_SEALING_OFF
} client_sealing;

typedef struct client_config {
    char http_host[64]; /* "listen_http", default 127.0.0.1:10000 */
    uint16_t http_port;
    char **proxies; /* "host:port" of each proxy's client port ("proxies", required) */
    size_t n_proxies;
    int max_coefficient;    /* highest worker price coefficient accepted (default 1000000) */
    int64_t max_tokens;     /* default cap when the request gives none (default 4096) */
    double request_timeout; /* seconds (default 600) */
    int64_t max_body;       /* request body limit, bytes (default 8 MiB) */
    /* Flow control: answer bytes one request may have in flight from the
     * proxy (docs/net.md; default 256 KiB). */
    int64_t stream_window;
    bool is_test; /* "is_test": the network we join is a test one (default true) */
    /* "api_keys": when any is given, every /v1 request needs one of them */
    client_api_key *api_keys;
    size_t n_api_keys;
    int64_t price_per_token; /* nanoTON, for the nanoTON budgets (default 0) */
    /* "admin_listen": /stats, /jsonstats, /metrics and /healthz on their own
     * listener. Not given (admin_port -1): they stay on the API listener
     * when that is bound to loopback, else they move to 127.0.0.1 on the
     * API port + 1, so they are never public by default. */
    char admin_host[64];
    int admin_port;
    /* "cors_origins": origins browsers may call the API from (comma-joined;
     * "*" any), with CORS answers; NULL = no CORS, loopback pages only */
    char *cors_origins;
    /* "http": the API listener's other limits */
    daemon_http_limits http_limits;
    daemon_config common; /* owner, TEE, policy, registry (proxy check), backoff, log level */
    /* "sealing": seal prompts to attested workers (docs/confidentiality.md).
     * required: never send plaintext (503 when no candidate can open a sealed
     * request); preferred (default): seal when the proxy and a verified
     * worker can, else COCOON's plain mode, said in X-Cocoon-Sealing; off. */
    client_sealing sealing;
    /* "state_dir": where state kept across restarts lives (the client's
     * signing key, the API keys' usage so budgets hold); NULL = a new key at
     * every start and usage kept in memory only */
    char *state_dir;
    /* "sealing_candidates": how many verified workers a sealed request is
     * wrapped for (1..8, default 2): the proxy chooses among them by load. */
    int64_t sealing_candidates;
    /* "sealing_receipts": "always" (default): every sealed answer carries a
     * receipt signed by the worker (X-Cocoon-Receipt); "on_request": only
     * when the caller sends X-Cocoon-Receipt: signed (the client then also
     * checks the signature); other answers are vouched for by a MAC only the
     * worker and this client can make, and carry no X-Cocoon-Receipt. */
    bool sealing_receipts_on_request;
    /* "prefix_affinity" (default true): a chat request's id carries a key of
     * its conversation's opening (a keyed hash, meaningless to others), so
     * the proxy sends the conversation's turns to the worker that holds its
     * cached prefix; docs/confidentiality.md says what the proxy learns. */
    bool prefix_affinity;
    /* With a chain: "wallet_key_file" (the wallet that deploys and tops up
     * the client contracts; daemon_wallet_key_load's formats), "topup_nano"
     * (what a top-up adds; 0 = the contract's stake, COCOON's rule) and
     * "min_balance_nano" (top up below this; 0 = half the stake, COCOON's). */
    char *wallet_key_file;
    int64_t topup_nano, min_balance_nano;
} client_config;

void client_config_init(client_config *c);
int client_config_from_json(const json_t *obj, const char *path, client_config *c, cc_err *err);
int client_config_load(const char *path, client_config *c, cc_err *err);
/* Overrides: --http HOST:PORT, --proxy HOST:PORT (replaces the list; may
 * repeat), --log-level L. */
int client_config_apply_flags(client_config *c, int argc, char **argv, cc_err *err);
int client_config_validate(const client_config *c, cc_err *err);
void client_config_clear(client_config *c);
/* The functions above as daemon_config_load_file() and daemon_main() take
 * them. */
extern const daemon_config_ops client_config_ops;
/* The measured part of the configuration (RTMR2 of the fake TEE, DESIGN
 * §5.4), appended to out: role, tee, policy, proxy check and the fake root's
 * certificate hash. */
int client_config_measure(const client_config *c, cc_buf *out, cc_err *err);

typedef struct client client;

client *client_new(struct event_base *base, const client_config *cfg, cc_err *err);
void client_free(client *c);
uint16_t client_http_port(const client *c);

int client_main(int argc, char **argv);

#endif
