/* The cocoon-proxy daemon: set-up, stats pages and main(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

static void stats_fill(void *ud, json_t *o)
{
    proxy *p = ud;
    json_t *req = json_object();
    json_object_set_new(req, "total", json_integer((json_int_t)p->stats.requests));
    json_object_set_new(req, "active", json_integer((json_int_t)p->stats.active));
    json_object_set_new(req, "ok", json_integer((json_int_t)p->stats.ok));
    json_object_set_new(req, "failed", json_integer((json_int_t)p->stats.failed));
    json_object_set_new(req, "retried", json_integer((json_int_t)p->stats.retried));
    json_object_set_new(req, "cancelled", json_integer((json_int_t)p->stats.cancelled));
    json_object_set_new(req, "timeouts", json_integer((json_int_t)p->stats.timeouts));
    json_object_set_new(req, "no_worker", json_integer((json_int_t)p->stats.no_worker));
    json_object_set_new(req, "sealed", json_integer((json_int_t)p->stats.sealed));
    json_object_set_new(req, "receipts_refused",
                        json_integer((json_int_t)p->stats.receipts_refused));
    json_object_set_new(req, "affinity_hits", json_integer((json_int_t)p->stats.affinity_hits));
    json_object_set_new(req, "queued_total", json_integer((json_int_t)p->stats.queued));
    json_object_set_new(req, "waiting", json_integer((json_int_t)p->queue_len));
    json_object_set_new(req, "waiting_bytes", json_integer((json_int_t)p->queued_bytes));
    json_object_set_new(req, "first_byte_timeouts",
                        json_integer((json_int_t)p->stats.first_byte_timeouts));
    json_object_set_new(req, "refused_limits", json_integer((json_int_t)p->stats.refused_limits));
    json_object_set_new(req, "parts_relayed", json_integer((json_int_t)p->stats.parts_relayed));
    json_object_set_new(req, "bytes_relayed", json_integer((json_int_t)p->stats.bytes_relayed));
    json_object_set_new(o, "requests", req);
    json_t *ws = json_array();
    for (size_t i = 0; i < p->n_workers; i++) {
        pworker *w = p->workers[i];
        json_t *e = json_object();
        json_object_set_new(e, "id", json_integer((json_int_t)w->rw.id));
        json_object_set_new(e, "peer", json_string(w->conn ? net_conn_peer_addr(w->conn) : ""));
        json_object_set_new(e, "model", json_string(w->model));
        json_object_set_new(e, "model_base",
                            json_stringn(w->model, registry_model_base_len(w->model)));
        json_object_set_new(e, "enabled", json_boolean(w->rw.enabled));
        json_object_set_new(e, "barred", json_boolean(w->rw.barred));
        json_object_set_new(e, "coefficient", json_integer(w->rw.coefficient));
        json_object_set_new(e, "active", json_integer(w->rw.active));
        json_object_set_new(e, "max_active", json_integer(w->rw.max_active));
        json_object_set_new(e, "avg_time_ms", json_real(w->rw.avg_time * 1e3));
        json_object_set_new(e, "requests", json_integer((json_int_t)w->requests));
        json_object_set_new(e, "failures", json_integer((json_int_t)w->failures));
        json_object_set_new(e, "proto_version", json_integer(w->proto_version));
        json_object_set_new(e, "sealing", json_boolean(w->sealing));
        /* What the worker's RA-TLS certificate proved (tee_peer_info). */
        daemon_json_add_peer_info(e, w->conn ? net_conn_peer_info(w->conn) : NULL);
        json_array_append_new(ws, e);
    }
    json_object_set_new(o, "workers", ws);
    json_object_set_new(o, "workers_ready", json_integer((json_int_t)p->n_workers));
    json_object_set_new(o, "workers_accepted", json_integer((json_int_t)p->stats.workers_accepted));
    json_object_set_new(o, "workers_refused", json_integer((json_int_t)p->stats.workers_refused));
    if (p->stats.workers_refused)
        json_object_set_new(o, "last_refused_worker",
                            json_pack("{s:s,s:s,s:s}", "peer", p->stats.last_refused_peer,
                                      "image_hash", p->stats.last_refused_image, "reason",
                                      p->stats.last_refused_reason));
    size_t nc = 0;
    json_t *cs = json_array();
    cc_list_foreach (pclient, c, &p->clients, node) {
        nc++;
        /* What each client's RA-TLS certificate proved, as for workers. */
        json_t *e = json_object();
        json_object_set_new(e, "id", json_integer((json_int_t)c->id));
        json_object_set_new(e, "peer", json_string(c->conn ? net_conn_peer_addr(c->conn) : ""));
        /* The fair limits count per owner: these are its owner's figures. */
        const powner *ow = proxy_client_owner(c);
        json_object_set_new(e, "owner", json_string(ow->address ? ow->address : ""));
        json_object_set_new(e, "active", json_integer((json_int_t)ow->active));
        json_object_set_new(e, "waiting", json_integer((json_int_t)ow->queued));
        json_object_set_new(e, "waiting_bytes", json_integer((json_int_t)ow->queued_bytes));
        json_object_set_new(e, "refused_limits", json_integer((json_int_t)ow->refused_limits));
        daemon_json_add_peer_info(e, c->conn ? net_conn_peer_info(c->conn) : NULL);
        json_array_append_new(cs, e);
    }
    json_object_set_new(o, "clients", cs);
    json_object_set_new(o, "clients_connected", json_integer((json_int_t)nc));
    json_object_set_new(o, "clients_accepted", json_integer((json_int_t)p->stats.clients_accepted));
    json_object_set_new(o, "registry_version", json_integer(registry_version(p->reg)));
    if (tee_policy_kind_of(p->tee.policy) == TEE_POLICY_ANY)
        json_object_set_new(o, "attestation_warning",
                            json_string("policy any: workers are not attested"));
    if (p->chain) json_object_set_new(o, "chain", daemon_chain_json(p->chain));
    proxy_chain_json(p, o);
    if (p->auth_chain) json_object_set_new(o, "auth", proxy_auth_json(p));
    proxy_money_json(p, o);
}

static int measure(const void *cfg, cc_buf *out, cc_err *err)
{
    return proxy_config_measure(cfg, out, err);
}

/* When the registry lists client images, a client proves one in the TLS
 * handshake on the clients' port: its quote verified under client_policy and
 * its image hash listed (without the list any client passes, as in COCOON). */
static int check_client_image(void *ud, const tee_peer_info *info, cc_err *err)
{
    const proxy *p = ud;
    static const uint8_t none[32];
    const uint8_t *h = info->quote_verified ? info->image_hash : none;
    if (!p->reg || registry_client_image_allowed(p->reg, h)) return 0;
    char hex[65];
    cc_hex_encode(h, 32, hex);
    return cc_err_set(err, "client image hash %s is not in the registry%s", hex,
                      info->quote_verified ? "" : " (no verified quote)");
}

static int setup_tee(proxy *p, const proxy_config *cfg, cc_err *err)
{
    /* The proxy's registry is the network's, not a check of other proxies. */
    daemon_tee_config tc = daemon_tee_config_of("proxy", &cfg->common, false);
    tc.base = p->base;
    tc.measure = measure;
    tc.measure_cfg = cfg;
    if (daemon_tee_setup(&p->tee, &tc, err) < 0) return -1;
    /* Per listener, as COCOON deploys its router: workers run in a TEE and
     * are held to `policy`; clients usually do not, so their port has its
     * own (default any). */
    p->client_policy = daemon_tee_policy_new(cfg->client_policy, cfg->common.fake_root, err);
    if (!p->client_policy || daemon_tee_policy_configure(p->client_policy, &cfg->common, err) < 0)
        return -1;
    tee_policy_set_check(p->client_policy, check_client_image, p);
    if (p->reg && registry_lists_client_images(p->reg) &&
        tee_policy_kind_of(p->client_policy) == TEE_POLICY_ANY)
        CC_WARN("event=client_images_unverifiable: the registry lists client images but "
                "client_policy is any (no quote is verified): every client is refused");
    return p->tee.collateral ? daemon_collateral_watch(p->tee.collateral, p->client_policy, err)
                             : 0;
}

static net_listener *listen_on(proxy *p, const proxy_listen_addr *a, tee_policy *policy,
                               const net_timeouts *to,
                               void (*on_accept)(net_listener *, net_conn *, void *), cc_err *err)
{
    net_listen_config lc = {
        .host = a->host,
        .port = a->port,
        .pow_difficulty = p->pow_difficulty,
        .identity = {p->tee.identity->key, p->tee.identity->cert},
        .verify = {tee_verify_peer, policy, tee_peer_info_free},
        .timeouts = *to,
        .on_accept = on_accept,
        .ud = p,
    };
    net_listener *l = net_listen(p->base, &lc, err);
    if (!l) cc_err_prefix(err, "listen on %s:%u", a->host, a->port);
    return l;
}

/* Certificates are valid for a day: renew in their last hours and present
 * the new one on both listeners (existing links keep theirs). */
static void on_rotate(evutil_socket_t fd, short what, void *arg)
{
    proxy *p = arg;
    cc_err err = {0};
    int r = tee_identity_rotate(p->tee.provider, NULL, &p->tee.identity, &err);
    if (r < 0) {
        CC_ERROR("event=cert_rotate_failed reason=\"%s\"", err.msg);
        return;
    }
    if (r == 0) return;
    net_tls_identity id = {p->tee.identity->key, p->tee.identity->cert};
    if (net_listener_set_identity(p->wl, &id, &err) < 0 ||
        net_listener_set_identity(p->cl, &id, &err) < 0)
        CC_ERROR("event=cert_rotate_failed reason=\"%s\"", err.msg);
    else
        CC_INFO("event=cert_rotated not_after=%lld", (long long)p->tee.identity->not_after);
}

proxy *proxy_new_detached(struct event_base *base, const proxy_config *cfg, const proxy_io *io)
{
    proxy *p = cc_calloc(1, sizeof(*p));
    p->base = base;
    p->io = io;
    p->owner_address = cc_strdup(cfg->common.owner_address ? cfg->common.owner_address : "");
    p->pow_difficulty = cfg->pow_difficulty;
    p->request_timeout = cfg->request_timeout;
    p->idle_timeout = cfg->idle_timeout;
    p->lim = cfg->limits;
    p->free_balance = cfg->free_client_balance_nano;
    p->free_stake = cfg->free_client_stake_nano;
    cc_map_init(&p->by_wkey);
    proxy_requests_init(p);
    /* Every proxy has a ledger from the start; proxy_new() replaces this
     * throwaway one with the configured file once the registry is known. */
    uint8_t seed[32];
    cc_err err = {0};
    crypto_random(seed, sizeof(seed));
    if (proxy_money_open(p, NULL, seed, &err) < 0) {
        CC_ERROR("event=ledger_open_failed error=\"%s\"", err.msg);
        abort(); /* an in-memory SQLite that cannot open: nothing sensible to do */
    }
    return p;
}

/* A new registry from the chain: it takes effect at once, without a
 * restart (a new price for the ledger, hashes for the routing table). */
static void on_registry(void *ud, registry *reg)
{
    proxy *p = ud;
    registry *old = p->reg;
    p->reg = reg;
    registry_free(old);
    proxy_money_registry_changed(p);
    proxy_chain_params_changed(p);
    proxy_workers_recheck(p);
}

proxy *proxy_new(struct event_base *base, const proxy_config *cfg, cc_err *err)
{
    proxy *p = proxy_new_detached(base, cfg, &proxy_io_net);
    if (strcmp(cfg->common.chain, "none") != 0)
        p->chain = daemon_chain_start(base, &cfg->common, &p->reg, on_registry, p, err);
    else
        p->reg = registry_open("none", cfg->common.registry, err);
    if (!p->reg || setup_tee(p, cfg, err) < 0 || proxy_money_open_config(p, cfg, err) < 0 ||
        proxy_chain_start(p, cfg, err) < 0)
        goto fail;
    /* A stopped worker holds its requests until its link is dropped: the
     * proxy pings workers itself and drops one silent for the liveness
     * timeout, in seconds rather than after the minute of idle_timeout. */
    double live = CC_MIN(p->idle_timeout, p->lim.worker_liveness_timeout);
    const net_timeouts wto = {
        .idle_timeout = live, .ping_interval = live / 4, .ping_inbound = true};
    const net_timeouts cto = {.idle_timeout = p->idle_timeout};
    p->wl = listen_on(p, &cfg->workers, p->tee.policy, &wto, proxy_on_worker_accept, err);
    if (!p->wl) goto fail;
    p->cl = listen_on(p, &cfg->clients, p->client_policy, &cto, proxy_on_client_accept, err);
    if (!p->cl) goto fail;
    p->http = daemon_stats_http_new(base, cfg->http.host, cfg->http.port, &cfg->http_limits,
                                    "cocoon-proxy", stats_fill, NULL, p, err);
    if (!p->http) goto fail;
    proxy_control_register(p);
    p->rotate_ev = event_new(base, -1, EV_PERSIST, on_rotate, p);
    struct timeval every = cc_timeval(600);
    event_add(p->rotate_ev, &every);
    CC_INFO("event=proxy_start worker_port=%u client_port=%u http_port=%d pow=%d chain=%s",
            proxy_worker_port(p), proxy_client_port(p), http_server_port(p->http),
            p->pow_difficulty, cfg->common.chain);
    return p;
fail:
    proxy_free(p);
    return NULL;
}

void proxy_free(proxy *p)
{
    if (!p) return;
    proxy_chain_free(p);         /* its wallet's callbacks reach the ledger */
    daemon_chain_free(p->chain); /* first: no registry update after this */
    if (p->rotate_ev) event_free(p->rotate_ev);
    if (p->wl) net_listener_free(p->wl);
    if (p->cl) net_listener_free(p->cl);
    proxy_client_free_all(p);
    proxy_auth_stop(p); /* after the clients: their authorizations are gone */
    proxy_worker_free_all(p);
    proxy_requests_free(p);
    proxy_money_close(p); /* after the requests: they give their reservations back */
    if (p->http) http_server_free(p->http);
    cc_map_free(&p->by_wkey);
    free(p->workers);
    free(p->route);
    registry_free(p->reg);
    daemon_tee_clear(&p->tee);
    tee_policy_free(p->client_policy);
    free(p->owner_address);
    explicit_bzero(p->sign_seed, sizeof p->sign_seed);
    free(p);
}

uint16_t proxy_worker_port(const proxy *p)
{
    return net_listener_port(p->wl);
}
uint16_t proxy_client_port(const proxy *p)
{
    return net_listener_port(p->cl);
}
uint16_t proxy_http_port(const proxy *p)
{
    return (uint16_t)http_server_port(p->http);
}

DAEMON_DEFINE_ROLE(proxy,
                   "usage: cocoon-proxy --config FILE.json [--chain none] [--registry FILE.json]\n"
                   "                    [--chain URL --root ADDR [--chain-refresh SECONDS]]\n"
                   "                    [--log-level LEVEL] [--version]\n"
                   "defaults: --chain none, --chain-refresh 60, --log-level info;\n"
                   "          listen_workers 0.0.0.0:11001, listen_clients 0.0.0.0:11002,\n"
                   "          listen_http 127.0.0.1:11000 (stats)\n",
                   true, &proxy_config_ops, proxy_new, proxy_free);

int proxy_main(int argc, char **argv)
{
    return daemon_main(&proxy_role, argc, argv);
}
