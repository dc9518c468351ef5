/* `cocoon up`, step 1: the options and the plan. Everything here is a pure
 * function of its inputs (no files, sockets or processes), so the configs,
 * the registry and the children's command lines are unit-tested as data. */
#include <stdlib.h>
#include <string.h>

#include "cli/up.h"
#include "crypto/crypto.h"
#include "engine/engine.h"

static const cc_opt up_options[] = {
    {"--port", "N", "client HTTP port (0 = any free port)", "10000"},
    {"--workers", "N", "number of workers (1..32)", "1"},
    {"--backend", "KIND", "embedded (the built-in engine) or openai-http", "embedded"},
    {"--backend-url", "URL", "an OpenAI-compatible server for openai-http",
     "start the fake backend"},
    {"--model", "M", "GGUF file (embedded) or the served model name (openai-http)",
     "stories260K.gguf / fake-model"},
    {"--dir", "DIR", "configs, registry and logs", "a new temporary folder"},
    {"--pow-difficulty", "N", "proof-of-work difficulty of the proxy (0..28)", "12"},
    {"--threads", "N", "engine threads per embedded worker (0 = one per core)", "0"},
    {"--slots", "N", "requests an embedded worker runs at once (0 = the engine's default)", "0"},
    {"--context", "N", "tokens per slot of an embedded worker (0 = the model's, at most 4096)",
     "0"},
    {"--kv-type", "TYPE", "an embedded worker's KV cache: f16 or q8_0 (half the memory)", "f16"},
    {"--context-overflow", "MODE",
     "error: a prompt plus max_tokens beyond the context is refused (400); shift: the context "
     "is shifted and the generation goes on",
     "error"},
    {"--context-keep", "WHAT",
     "what a shift keeps: system (a chat's system prompt, BOS included) or bos (BOS only)",
     "system"},
    {"--tee", "KIND",
     "fake: every link attested with the fake TEE, the registry lists the genuine images; "
     "none: no attestation",
     "fake"},
    {"--chain", "KIND",
     "local: a local chain (tools/tonsim) whose root contract holds the images, models and "
     "prices; none: free mode with a registry file",
     "local"},
    {"--chain-refresh", "SECONDS", "how often the daemons read the root contract", "60"},
    {"--api-key", "KEY",
     "require this key (Authorization: Bearer KEY) on the client's API; its config keeps only "
     "the SHA-256",
     "none: no key needed"},
    {"--crash-limit", "N",
     "a child that dies N times within the crash window stops everything (1..32); "
     "before that it is restarted with a growing delay",
     "5"},
    {"--crash-window", "SECONDS", "the crash window (1..86400)", "60"},
    {"--sealing", "MODE",
     "required: prompts only ever leave the client sealed to a verified worker; "
     "preferred; off (docs/confidentiality.md)",
     "required"},
    {"--sealing-receipts", "WHEN",
     "always: every sealed answer carries a signed receipt; on_request: only when the caller "
     "sends X-Cocoon-Receipt: signed (cheaper; docs/confidentiality.md)",
     "always"},
};

void up_usage(FILE *f)
{
    fprintf(f, "usage: cocoon up [OPTIONS]\n"
               "\n"
               "Starts a proxy, N workers and a client on 127.0.0.1 and prints\n"
               "`ready http://127.0.0.1:PORT` when the OpenAI API answers. A child that\n"
               "dies is restarted (with a growing delay); Ctrl-C stops all.\n"
               "\n");
    cc_args_usage(f, up_options, CC_ARRAY_LEN(up_options));
}

int up_parse_opts(int argc, char **argv, up_opts *o, cc_err *err)
{
    *o = (up_opts){.port = 10000,
                   .workers = 1,
                   .backend = "embedded",
                   .pow = 12,
                   .tee = "fake",
                   .chain = "local",
                   .chain_refresh = 60,
                   .crash_limit = 5,
                   .crash_window = 60,
                   .sealing = "required"};
    cc_args a;
    if (cc_args_parse(up_options, CC_ARRAY_LEN(up_options), argc - 1, argv + 1, &a, err) < 0)
        return -1;
    o->help = a.help;
    if (a.help) return 0;
    if (a.n_pos > 0) return cc_err_set(err, "unexpected argument \"%s\"", a.pos[0]);
    if (cc_args_int(&a, "--port", 0, 65535, &o->port, err) < 0 ||
        cc_args_int(&a, "--workers", 1, UP_MAX_WORKERS, &o->workers, err) < 0 ||
        cc_args_int(&a, "--pow-difficulty", 0, 28, &o->pow, err) < 0 ||
        cc_args_int(&a, "--threads", 0, 1024, &o->threads, err) < 0 ||
        cc_args_int(&a, "--slots", 0, 1024, &o->slots, err) < 0 ||
        cc_args_int(&a, "--context", 0, 1 << 20, &o->context, err) < 0 ||
        cc_args_int(&a, "--crash-limit", 1, UP_MAX_CRASH_LIMIT, &o->crash_limit, err) < 0 ||
        cc_args_int(&a, "--crash-window", 1, 86400, &o->crash_window, err) < 0)
        return -1;
    const char *v;
    if ((v = cc_args_get(&a, "--backend"))) {
        if (strcmp(v, "embedded") && strcmp(v, "openai-http"))
            return cc_err_set(err, "--backend: expected embedded or openai-http, got \"%s\"", v);
        o->backend = v;
    }
    if ((v = cc_args_get(&a, "--kv-type"))) {
        engine_kv_type kv;
        if (!engine_kv_type_parse(v, &kv))
            return cc_err_set(err, "--kv-type: expected f16 or q8_0, got \"%s\"", v);
        o->kv_type = v;
    }
    if ((v = cc_args_get(&a, "--context-overflow"))) {
        engine_overflow ov;
        if (!engine_overflow_parse(v, &ov))
            return cc_err_set(err, "--context-overflow: expected error or shift, got \"%s\"", v);
        o->context_overflow = v;
    }
    if ((v = cc_args_get(&a, "--context-keep"))) {
        engine_keep keep;
        if (!engine_keep_parse(v, &keep))
            return cc_err_set(err, "--context-keep: expected system or bos, got \"%s\"", v);
        o->context_keep = v;
    }
    if ((v = cc_args_get(&a, "--tee"))) {
        if (strcmp(v, "fake") && strcmp(v, "none"))
            return cc_err_set(err, "--tee: expected fake or none, got \"%s\"", v);
        o->tee = v;
    }
    if ((v = cc_args_get(&a, "--chain"))) {
        if (strcmp(v, "local") && strcmp(v, "none"))
            return cc_err_set(err, "--chain: expected local or none, got \"%s\"", v);
        o->chain = v;
    }
    if ((v = cc_args_get(&a, "--chain-refresh"))) {
        char *end;
        o->chain_refresh = strtod(v, &end);
        if (*end || !(o->chain_refresh >= 0.1 && o->chain_refresh <= 86400))
            return cc_err_set(err,
                              "--chain-refresh: expected seconds from 0.1 to 86400, got \"%s\"", v);
    }
    if ((v = cc_args_get(&a, "--sealing"))) {
        if (strcmp(v, "required") && strcmp(v, "preferred") && strcmp(v, "off"))
            return cc_err_set(err, "--sealing: expected required, preferred or off, got \"%s\"", v);
        o->sealing = v;
    }
    if ((v = cc_args_get(&a, "--sealing-receipts"))) {
        if (strcmp(v, "always") && strcmp(v, "on_request"))
            return cc_err_set(err, "--sealing-receipts: expected always or on_request, got \"%s\"",
                              v);
        o->sealing_receipts = v;
    }
    o->backend_url = cc_args_get(&a, "--backend-url");
    o->api_key = cc_args_get(&a, "--api-key");
    if (o->api_key && strlen(o->api_key) < 8)
        return cc_err_set(err, "--api-key: use at least 8 characters");
    o->model = cc_args_get(&a, "--model");
    o->dir = cc_args_get(&a, "--dir");
    if (o->backend_url && strcmp(o->backend, "openai-http") != 0)
        return cc_err_set(err, "--backend-url needs --backend openai-http");
    return 0;
}

static json_t *loopback(int port)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    return json_string(addr);
}

/* tee / policy / fake_root fields of a daemon config; workers and clients
 * also get the registry, so they refuse a proxy whose image is not listed. */
static void add_tee_fields(json_t *cfg, const char *fake_root, bool check_proxy)
{
    if (!fake_root) return;
    json_object_set_new(cfg, "tee", json_string("fake"));
    json_object_set_new(cfg, "policy", json_string("fake"));
    json_object_set_new(cfg, "fake_root", json_string(fake_root));
    if (check_proxy) json_object_set_new(cfg, "registry", json_string("registry.json"));
}

/* With a chain every daemon reads the root contract: the proxy its whole
 * registry, workers and the client the proxy images they accept. */
static void add_chain_fields(json_t *cfg, const up_plan_input *in)
{
    if (!in->chain_url) return;
    json_object_set_new(cfg, "chain", json_string(in->chain_url));
    json_object_set_new(cfg, "root_address", json_string(in->root));
    json_object_set_new(cfg, "chain_refresh", json_real(in->opts->chain_refresh));
}

static int add_daemon(up_plan *p, const up_plan_input *in, const char *name, const char *role,
                      json_t *config, cc_err *err)
{
    up_daemon *d = &p->daemon[p->n_daemons];
    memset(d, 0, sizeof(*d));
    d->config = config;
    if ((size_t)snprintf(d->exe, sizeof(d->exe), "%s/cocoon-%s", in->bin_dir, role) >=
            sizeof(d->exe) ||
        (size_t)snprintf(d->config_path, sizeof(d->config_path), "%s/%s.json", in->dir, name) >=
            sizeof(d->config_path)) {
        json_decref(config);
        return cc_err_set(err, "path too long under %s", in->dir);
    }
    p->n_daemons++;
    cc_str_copy(d->name, sizeof(d->name), name);
    cc_str_copy(d->role, sizeof(d->role), role);
    d->argv[0] = d->exe;
    d->argv[1] = "--config";
    d->argv[2] = d->config_path;
    d->argv[3] = NULL;
    return 0;
}

int up_plan_build(const up_plan_input *in, up_plan *out, cc_err *err)
{
    memset(out, 0, sizeof(*out));
    const up_opts *o = in->opts;
    if (o->workers < 1 || o->workers > UP_MAX_WORKERS)
        return cc_err_set(err, "workers must be 1..%d", UP_MAX_WORKERS);

    /* The daemons' configs come first: with the fake TEE, their measured
     * settings are part of the image hashes the registry lists. */
    json_t *pc = json_object();
    json_object_set_new(pc, "listen_workers", loopback(in->proxy_workers_port));
    json_object_set_new(pc, "listen_clients", loopback(in->proxy_clients_port));
    json_object_set_new(pc, "listen_http", loopback(in->proxy_http_port));
    json_object_set_new(pc, "registry", json_string("registry.json"));
    json_object_set_new(pc, "pow_difficulty", json_integer(o->pow));
    /* Its own signing seed and ledger, kept across restarts of this network. */
    json_object_set_new(pc, "state_dir", json_string("proxy-state"));
    add_tee_fields(pc, in->fake_root, false);
    add_chain_fields(pc, in);
    /* Free mode charges nothing on chain, and a client's uncharged use is
     * capped by its stake (COCOON's ton_disabled: 1 TON, 50M tokens at these
     * prices), which a busy local network spends in minutes and never gets
     * back. Its stake here is its whole free balance (5G tokens). */
    if (!in->chain_url)
        json_object_set_new(pc, "free_client_stake_nano", json_integer(100000000000LL));
    if (in->proxy_wallet_key) { /* money on chain: its wallet pays, its owner earns */
        json_object_set_new(pc, "wallet_key_file", json_string(in->proxy_wallet_key));
        json_object_set_new(pc, "owner_address", json_string(in->proxy_owner));
    }
    if (add_daemon(out, in, "proxy", "proxy", pc, err) < 0) goto fail;

    for (int i = 0; i < o->workers; i++) {
        json_t *wc = json_object();
        json_object_set_new(wc, "proxies", json_pack("[o]", loopback(in->proxy_workers_port)));
        json_object_set_new(wc, "listen_http", loopback(in->worker_http_port[i]));
        json_object_set_new(wc, "backend", json_string(o->backend));
        json_object_set_new(wc, "model", json_string(in->model));
        if (in->backend_url) json_object_set_new(wc, "backend_url", json_string(in->backend_url));
        if (o->threads) json_object_set_new(wc, "threads", json_integer(o->threads));
        if (o->slots) json_object_set_new(wc, "slots", json_integer(o->slots));
        if (o->context) json_object_set_new(wc, "context", json_integer(o->context));
        if (o->kv_type) json_object_set_new(wc, "kv_type", json_string(o->kv_type));
        if (o->context_overflow)
            json_object_set_new(wc, "context_overflow", json_string(o->context_overflow));
        if (o->context_keep) json_object_set_new(wc, "context_keep", json_string(o->context_keep));
        add_tee_fields(wc, in->fake_root, true);
        add_chain_fields(wc, in);
        if (in->worker_owner[i] && *in->worker_owner[i]) /* its account and contract's owner */
            json_object_set_new(wc, "owner_address", json_string(in->worker_owner[i]));
        char name[32], state[48];
        snprintf(name, sizeof(name), "worker-%d", i + 1);
        /* Its signing key and its proxies' keys, kept across restarts. */
        snprintf(state, sizeof(state), "%s-state", name);
        json_object_set_new(wc, "state_dir", json_string(state));
        /* A wallet sends one daemon's transfers only (its seqno): each
         * worker has its own, to claim its payouts on the local chain. */
        if (in->chain_url && in->worker_wallet[i])
            json_object_set_new(wc, "wallet_key_file", json_string(in->worker_wallet[i]));
        if (add_daemon(out, in, name, "worker", wc, err) < 0) goto fail;
    }

    json_t *cc = json_object();
    json_object_set_new(cc, "listen_http", loopback(o->port));
    json_object_set_new(cc, "proxies", json_pack("[o]", loopback(in->proxy_clients_port)));
    if (o->api_key) {
        uint8_t h[32];
        char hex[65];
        crypto_sha256(o->api_key, strlen(o->api_key), h);
        cc_hex_encode(h, 32, hex);
        json_object_set_new(cc, "api_keys",
                            json_pack("[{s:s,s:s}]", "name", "up", "key_sha256", hex));
    }
    add_tee_fields(cc, in->fake_root, true);
    add_chain_fields(cc, in);
    if (in->client_owner && *in->client_owner)
        json_object_set_new(cc, "owner_address", json_string(in->client_owner));
    json_object_set_new(cc, "state_dir", json_string("client-state"));
    /* On the local chain the client deploys and tops up its contract. */
    if (in->chain_url && in->client_wallet)
        json_object_set_new(cc, "wallet_key_file", json_string(in->client_wallet));
    /* All three pieces are ours: by default the prompt never leaves unsealed. */
    json_object_set_new(cc, "sealing", json_string(o->sealing));
    if (o->sealing_receipts)
        json_object_set_new(cc, "sealing_receipts", json_string(o->sealing_receipts));
    if (add_daemon(out, in, "client", "client", cc, err) < 0) goto fail;

    /* Registry: the served model only, and any image; with the fake TEE,
     * up_write_files replaces "any" with the genuine proxy and worker images. */
    out->registry = json_pack(
        "{s:i, s:s, s:s, s:[s], s:[{s:o, s:o}]}", "version", 1, "proxy_image_hashes", "any",
        "worker_image_hashes", "any", "model_hashes", in->model_hash, "proxies", "address",
        loopback(in->proxy_clients_port), "worker_address", loopback(in->proxy_workers_port));
    if (!out->registry) {
        cc_err_set(err, "cannot build the registry");
        goto fail;
    }
    if ((size_t)snprintf(out->registry_path, sizeof(out->registry_path), "%s/registry.json",
                         in->dir) >= sizeof(out->registry_path)) {
        cc_err_set(err, "path too long under %s", in->dir);
        goto fail;
    }
    return 0;
fail:
    up_plan_free(out);
    return -1;
}

void up_plan_free(up_plan *p)
{
    for (size_t i = 0; i < p->n_daemons; i++)
        json_decref(p->daemon[i].config);
    json_decref(p->registry);
    memset(p, 0, sizeof(*p));
}
