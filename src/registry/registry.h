/*
 * registry — what the network allows: proxy and worker image hashes, model
 * hashes, the registered proxies, prices and network parameters.
 *
 * A `registry` is an immutable snapshot.  Today it comes from a JSON file
 * (`--chain none`); a chain-backed source (the root contract's get-methods)
 * will produce the same snapshot through registry_open().  Callers only ever
 * see the snapshot accessors below, so they do not care where it came from.
 *
 * The file also holds COCOON's protocol-version negotiation, because the
 * version ranges are network parameters shared by all three roles.
 *
 * Ownership: registry_* constructors return a heap snapshot the caller frees
 * with registry_free(); pointers returned by accessors are borrowed from the
 * snapshot and live as long as it.
 */
#ifndef COCOON_REGISTRY_H
#define COCOON_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define REGISTRY_HASH_LEN 32

/* Network parameters (the root contract's params; prices in nanoTON,
 * multipliers x10000 where 10000 = 1.0). */
typedef struct registry_params {
    int64_t params_version;
    bool is_test;
    int64_t price_per_token;
    int64_t worker_fee_per_token;
    int64_t prompt_multiplier;
    int64_t cached_multiplier;
    int64_t completion_multiplier;
    int64_t reasoning_multiplier;
    int64_t proxy_delay_before_close; /* seconds */
    int64_t client_delay_before_close;
    int64_t min_proxy_stake; /* nanoTON */
    int64_t min_client_stake;
} registry_params;

typedef struct registry_proxy {
    int64_t seqno;
    char *address;        /* "host:port" the clients dial (the proxy's client port) */
    char *worker_address; /* "host:port" for workers, or NULL when not published */
} registry_proxy;

typedef struct registry registry;

/* Builds a snapshot from a parsed JSON object (the format of configs/registry.json).
 * Messages name the offending field, e.g. `model_hashes[2]: expected 64 hex digits`. */
registry *registry_from_json(const json_t *obj, cc_err *err);
registry *registry_load_json_file(const char *path, cc_err *err);

/* Opens the registry for a `--chain` setting: "none" reads `file` (JSON);
 * any other value is refused for now with a message saying so. */
registry *registry_open(const char *chain, const char *file, cc_err *err);

void registry_free(registry *r);

/* Version of the snapshot (the root contract bumps it on every change). */
int64_t registry_version(const registry *r);
const registry_params *registry_get_params(const registry *r);

/* Allowlists.  A list given as the string "any" in the JSON allows every
 * hash (development networks without attestation); an empty list allows none. */
bool registry_proxy_image_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN]);
bool registry_worker_image_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN]);
/* Client images are optional ("client_image_hashes"; COCOON's clients' port
 * takes any client): without the key every client passes. */
bool registry_lists_client_images(const registry *r);
bool registry_client_image_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN]);
bool registry_model_hash_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN]);
/* Hashes the model identifier (SHA-256, DESIGN §5.3) and checks it. */
bool registry_model_allowed(const registry *r, const char *model_id);

/* Model names as COCOON keys them: a worker announces an identifier
 * "name@commit:verity" (ours: "name@sha256:<file hash>"); its base name, the
 * part before the first '@' (the whole identifier when there is none), is
 * what proxies key and list workers by and what a request's "model" must
 * equal. The model hash (registry and certificate claim) stays SHA-256 of the
 * whole identifier. Returns the base name's length. */
size_t registry_model_base_len(const char *model_id);
/* True when `name` is exactly the base name of model_id. */
bool registry_model_base_eq(const char *model_id, const char *name);

size_t registry_proxy_count(const registry *r);
const registry_proxy *registry_proxy_at(const registry *r, size_t i);

/* ------------------------------------------------- protocol versions */

/* The range each role speaks (DESIGN §4.3). COCOON's proxy also takes 0
 * (client.runQuery, client.getWorkerTypes and the answers without Ex); ours
 * does not advertise it, since it speaks none of those, and COCOON's own
 * clients and workers start at 1 (ClientRunner.hpp, WorkerRunner.h). */
#define REGISTRY_PROTO_CLIENT_MIN 1
#define REGISTRY_PROTO_CLIENT_MAX 2
#define REGISTRY_PROTO_PROXY_MIN 1
#define REGISTRY_PROTO_PROXY_MAX 2
#define REGISTRY_PROTO_WORKER_MIN 1
#define REGISTRY_PROTO_WORKER_MAX 2

/* Agrees on a version between our range and the peer's: min(own max, peer max)
 * when the ranges overlap.  Returns 0 and sets *out, or -1 with a message
 * naming both ranges.  A peer that sent no range (old COCOON peers omit the
 * optional fields) is treated as speaking only version 0..0 (peer_has_range=false). */
int registry_proto_negotiate(int own_min, int own_max, bool peer_has_range, int peer_min,
                             int peer_max, int *out, cc_err *err);

#endif
