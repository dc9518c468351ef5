/* `cocoon up --chain local`: the network's own chain. tools/tonsim (a TON
 * HTTP API v2 over @ton/sandbox) deploys the root contract and the role
 * wallets; the owner wallet then registers this network's image and model
 * hashes in the root, and the proxy reads everything from there. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/up.h"

/* The network's prices (DESIGN §7): the proxy keeps 5 % of what a client
 * pays (worker fee 19 of 20 nanoton per token), every token category
 * counts once (multipliers 1.0). */
#define UP_PARAMS                                                                                  \
    "{\"price_per_token\":20,\"worker_fee_per_token\":19,\"prompt_multiplier\":10000,"             \
    "\"cached_multiplier\":10000,\"completion_multiplier\":10000,\"reasoning_multiplier\":10000,"  \
    "\"is_test\":true}"

static bool find_in_path(const char *prog, char *out, size_t n)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len && (size_t)snprintf(out, n, "%.*s/%s", (int)len, path, prog) < n &&
            access(out, X_OK) == 0)
            return true;
        path += len + (colon ? 1 : 0);
    }
    return false;
}

/* tools/tonsim/tonsim.js: $COCOON_TONSIM, else beside a parent of bin_dir
 * (build/bin -> the repository). */
static bool find_tonsim(const char *bin_dir, char *out, size_t n)
{
    const char *env = getenv("COCOON_TONSIM");
    if (env && *env) return (size_t)snprintf(out, n, "%s", env) < n && access(out, R_OK) == 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", bin_dir);
    for (int up = 0; up < 5; up++) {
        if ((size_t)snprintf(out, n, "%s/tools/tonsim/tonsim.js", dir) < n &&
            access(out, R_OK) == 0)
            return true;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) break;
        *slash = 0;
    }
    return false;
}

/* tonsim's one start-up line (JSON) from its stdout. */
static json_t *read_startup(int fd, double timeout, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    double end = cc_now_mono() + timeout;
    json_t *j = NULL;
    while (!j && cc_now_mono() < end && b.len < (4u << 20)) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char chunk[16384];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r <= 0) break;
        cc_buf_append(&b, chunk, (size_t)r);
        const char *nl = memchr(b.data, '\n', b.len);
        if (nl) j = cc_json_loadb((const char *)b.data, (size_t)(nl - (const char *)b.data), err);
        if (nl && !j) break;
    }
    if (!j && !err->msg[0]) cc_err_set(err, "no start-up line");
    cc_buf_free(&b);
    return j;
}

/* DIR/<role>-wallet.json from tonsim's wallets.<role>; name receives the file
 * name ("" when tonsim has no such wallet). */
static int write_wallet(const json_t *start, const char *role, const char *dir, json_int_t gid,
                        char *name, size_t name_size, cc_err *err)
{
    name[0] = 0;
    const json_t *w = json_object_get(json_object_get(start, "wallets"), role);
    if (!json_is_string(json_object_get(w, "secret_key"))) return 0;
    char path[PATH_MAX];
    snprintf(name, name_size, "%s-wallet.json", role);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *k = json_pack("{s:O,s:I}", "secret_key", json_object_get(w, "secret_key"),
                          "network_global_id", gid ? gid : (json_int_t)-239);
    char *text = k ? json_dumps(k, JSON_INDENT(1)) : NULL;
    json_decref(k);
    int rc = text ? cc_write_file_atomic(path, text, strlen(text), 0600, err)
                  : cc_err_set(err, "out of memory");
    free(text);
    if (rc < 0) name[0] = 0;
    return rc;
}

/* tonsim's proxy wallet becomes the proxy's: its key in a 0600 file the
 * proxy's config names, its address the proxy's owner address; the client's
 * wallet's address owns its account (and contracts). */
static int write_proxy_wallet(const json_t *startup, const char *dir, json_int_t gid, up_chain *c,
                              cc_err *err)
{
    const json_t *ws = json_object_get(startup, "wallets");
    const char *addr = json_string_value(json_object_get(json_object_get(ws, "proxy"), "address"));
    if (!addr || strlen(addr) >= sizeof c->proxy_owner)
        return cc_err_set(err, "tonsim's start-up line has no proxy wallet");
    snprintf(c->proxy_owner, sizeof c->proxy_owner, "%s", addr);
    const char *ca = json_string_value(json_object_get(json_object_get(ws, "client"), "address"));
    snprintf(c->client_owner, sizeof c->client_owner, "%s", ca ? ca : "");
    char name[32];
    if (write_wallet(startup, "proxy", dir, gid, name, sizeof name, err) < 0) return -1;
    if (!name[0]) return cc_err_set(err, "tonsim's start-up line has no proxy wallet key");
    if ((size_t)snprintf(c->proxy_key_file, sizeof c->proxy_key_file, "%s/%s", dir, name) >=
        sizeof c->proxy_key_file)
        return cc_err_set(err, "path too long under %s", dir);
    return 0;
}

/* Worker i's wallet (tonsim's "worker" for the first, "worker-N" for the
 * N-th): its key file and its address, the owner of that worker's account
 * and contracts, so each worker's payouts reach an owner of its own. */
static int write_worker_wallet(const json_t *startup, const char *dir, json_int_t gid, int i,
                               up_chain *c, cc_err *err)
{
    char role[32]; /* "worker-" and any int */
    if (i == 0)
        snprintf(role, sizeof role, "worker");
    else
        snprintf(role, sizeof role, "worker-%d", i + 1);
    const json_t *w = json_object_get(json_object_get(startup, "wallets"), role);
    const char *addr = json_string_value(json_object_get(w, "address"));
    if (!addr || strlen(addr) >= sizeof c->worker_owner[i])
        return cc_err_set(err, "tonsim's start-up line has no %s wallet", role);
    snprintf(c->worker_owner[i], sizeof c->worker_owner[i], "%s", addr);
    return write_wallet(startup, role, dir, gid, c->worker_wallet[i], sizeof c->worker_wallet[i],
                        err);
}

int up_chain_start(const char *bin_dir, const char *dir, int workers, up_children *ch, up_chain *c,
                   cc_err *err)
{
    char node[PATH_MAX], script[PATH_MAX], state[PATH_MAX], nworkers[16];
    if (!find_in_path("node", node, sizeof node))
        return cc_err_set(err,
                          "node (Node.js) is not in PATH: install it (scripts/install-deps.sh) "
                          "or use --chain none");
    if (!find_tonsim(bin_dir, script, sizeof script))
        return cc_err_set(err,
                          "tools/tonsim/tonsim.js not found from %s (set COCOON_TONSIM, or "
                          "use --chain none)",
                          bin_dir);
    if (workers < 1 || workers > UP_MAX_WORKERS) return cc_err_set(err, "bad number of workers");
    memset(c, 0, sizeof *c);
    snprintf(state, sizeof state, "%s/tonsim.json", dir);
    snprintf(nworkers, sizeof nworkers, "%d", workers);
    char *args[] = {script,     "--port",  "0",         "--state", state,
                    "--params", UP_PARAMS, "--workers", nworkers,  NULL};
    int out = -1;
    pid_t pid = up_spawn(node, args, dir, "tonsim", &out, err);
    if (pid < 0) return -1;
    /* No argv: it listens on a port picked at start that every daemon was
     * given, so a dead chain ends the network rather than restarting. */
    ch->c[ch->n++] = (up_child){.name = "tonsim", .pid = pid, .running = true};
    cc_err e = {0};
    /* Generous: node loads the sandbox and deploys in a second or two, a
     * loaded machine may take much longer. */
    json_t *j = read_startup(out, 120, &e);
    close(out);
    if (!j) return cc_err_set(err, "tonsim did not start (%s; see %s/tonsim.log)", e.msg, dir);
    int rc = -1;
    json_int_t port = json_integer_value(json_object_get(j, "port"));
    const char *root = json_string_value(json_object_get(json_object_get(j, "root"), "address"));
    const json_t *ow = json_object_get(json_object_get(j, "wallets"), "owner");
    const char *secret = json_string_value(json_object_get(ow, "secret_key"));
    json_int_t gid = json_integer_value(json_object_get(ow, "network_global_id"));
    uint8_t sk[64];
    ton_addr ra;
    if (port <= 0 || port > 65535 || !root || !secret || strlen(secret) != 128 ||
        cc_hex_decode(secret, sk, 64, err) < 0 || ton_addr_parse(root, &ra, NULL, NULL, err) < 0) {
        cc_err_prefix(err, "tonsim's start-up line is not what cocoon up expects");
        goto out;
    }
    snprintf(c->url, sizeof c->url, "http://127.0.0.1:%d", (int)port);
    ton_addr_to_raw(&ra, c->root, sizeof c->root);
    memcpy(c->owner_priv, sk, 32);
    ton_wallet_init(&c->owner, TON_WALLET_V5R1, 0, sk + 32, gid ? (int32_t)gid : -239);
    if (write_proxy_wallet(j, dir, gid, c, err) < 0) goto out;
    /* The client's and the workers' wallets: tonsim's "client", "worker",
     * "worker-2", ... ones, each in a key file of its own
     * (daemon_wallet_key_load reads secret_key and network_global_id). */
    if (write_wallet(j, "client", dir, gid, c->client_wallet, sizeof c->client_wallet, err) < 0)
        goto out;
    for (int i = 0; i < workers; i++)
        if (write_worker_wallet(j, dir, gid, i, c, err) < 0) goto out;
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* Appends add-<kind>-type messages for every hash of a registry list. */
static int add_hashes(const json_t *list, uint32_t op, const ton_addr *root, ton_out_msg *msgs,
                      size_t *n, cc_err *err)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (*n == TON_WALLET_V5_MAX_MSGS) return cc_err_set(err, "too many hashes");
        uint8_t h[32];
        const char *hex = json_string_value(json_array_get(list, i));
        if (!hex || cc_hex_decode(hex, h, 32, err) < 0) return -1;
        ton_cell *body = ton_body_root_hash(op, *n, h, err);
        if (!body) return -1;
        /* 0.05 TON for gas; the root sends the rest back as excesses */
        ton_int_msg m = {.dest = *root, .value = 50000000, .bounce = true, .body = body};
        msgs[*n].mode = 3;
        msgs[*n].msg = ton_msg_internal(&m, err);
        ton_cell_unref(body);
        if (!msgs[*n].msg) return -1;
        (*n)++;
    }
    return 0;
}

int up_chain_register(const up_chain *c, const json_t *registry, cc_err *err)
{
    ton_addr root, self;
    if (ton_addr_parse(c->root, &root, NULL, NULL, err) < 0 ||
        ton_wallet_address(&c->owner, &self, err) < 0)
        return -1;
    static ton_out_msg msgs[TON_WALLET_V5_MAX_MSGS];
    size_t n = 0;
    int rc = -1;
    ton_api *api = ton_api_new(c->url, NULL, err);
    if (!api) return -1;
    const json_t *ph = json_object_get(registry, "proxy_image_hashes");
    const json_t *wh = json_object_get(registry, "worker_image_hashes");
    if (add_hashes(ph, TON_OP_ROOT_ADD_PROXY_TYPE, &root, msgs, &n, err) < 0 ||
        add_hashes(wh, TON_OP_ROOT_ADD_WORKER_TYPE, &root, msgs, &n, err) < 0 ||
        add_hashes(json_object_get(registry, "model_hashes"), TON_OP_ROOT_ADD_MODEL_TYPE, &root,
                   msgs, &n, err) < 0)
        goto out;
    if (!json_is_array(ph) || !json_is_array(wh)) {
        /* "any" (no attestation) has no place on the chain */
        cc_err_set(err, "--chain local needs the image hashes of --tee fake");
        goto out;
    }
    /* The seqno from the wallet's data (v5r1: is_signature_allowed:1
     * seqno:32 ...) rather than its seqno get-method: tonsim's first
     * get-method costs seconds of warm-up, half of `cocoon up`'s time. */
    ton_account acc;
    if (ton_api_get_address_information(api, &self, &acc, err) < 0) goto out;
    uint64_t now = acc.sync_utime ? acc.sync_utime : (uint64_t)cc_now_wall();
    bool deployed = !strcmp(acc.state, "active") && acc.data;
    uint64_t seqno = 0;
    if (deployed) {
        ton_slice sl;
        bool allowed;
        ton_slice_init(&sl, acc.data);
        if (ton_slice_load_bit(&sl, &allowed, err) < 0 ||
            ton_slice_load_uint(&sl, 32, &seqno, err) < 0) {
            ton_account_clear(&acc);
            cc_err_prefix(err, "owner wallet data");
            goto out;
        }
    }
    ton_account_clear(&acc);
    ton_cell *ext = ton_wallet_transfer(&c->owner, c->owner_priv, (uint32_t)seqno,
                                        (uint32_t)now + 120, msgs, n, !deployed, err);
    if (!ext) goto out;
    /* tonsim runs the message and every transaction it causes before it
     * answers, so the root holds the hashes once this returns. */
    rc = ton_api_send_boc(api, ext, NULL, err);
    ton_cell_unref(ext);
out:
    for (size_t i = 0; i < n; i++)
        ton_cell_unref(msgs[i].msg);
    ton_api_free(api);
    if (rc < 0) cc_err_prefix(err, "registering the network in the root");
    return rc;
}
