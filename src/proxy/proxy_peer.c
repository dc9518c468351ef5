/* The checks COCOON's proxy makes of a peer's connectToProxy params before
 * anything else, with COCOON's error codes and texts, so that a COCOON peer
 * refused by us reads the refusal it would read from COCOON
 * (ProxyInboundClientConnection.cpp receive_connect_to_proxy_query,
 * ProxyInboundWorkerConnection.cpp likewise). */
#include <stdio.h>
#include <string.h>

#include "proxy/proxy_internal.h"
#include "ton/ton.h"

/* COCOON's ton::ErrorCode::error and ::protoviolation. */
#define ERR_ERROR NET_ERR_ERROR
#define ERR_PROTOVIOLATION NET_ERR_PROTOCOL

static bool is_test_network(const proxy *p)
{
    /* A proxy without a registry (unit tests of the request logic) is on the
     * test network, the registry's default. */
    return p->reg ? registry_get_params(p->reg)->is_test : true;
}

/* COCOON parses owner addresses with block::StdAddress::parse: the raw
 * "wc:hex" form or the 48-character user-friendly one. An empty or garbled
 * address is a refusal, not "no owner". */
static bool owner_address_ok(tl_bytes b)
{
    char text[80];
    if (b.len == 0 || b.len >= sizeof(text) || memchr(b.data, 0, b.len)) return false;
    memcpy(text, b.data, b.len);
    text[b.len] = 0;
    ton_addr a;
    cc_err err = {0};
    return ton_addr_parse(text, &a, NULL, NULL, &err) == 0 && !a.none;
}

/* ProxyRunner.cpp register_client / register_worker on a disabled proxy. */
static int check_enabled(const proxy *p, const char **why)
{
    if (!p->disabled) return 0;
    *why = "proxy is not participating in this iteration";
    return NET_ERR_NOT_READY;
}

int64_t proxy_config_version(const proxy *p)
{
    /* COCOON's active_config_version is the root contract's version (the
     * counter every change of the root bumps; ProxyRunner.cpp:457, :914);
     * ours is the registry's, which is that version when it comes from the
     * chain (0 without a registry). */
    return p->reg ? registry_version(p->reg) : 0;
}

int proxy_check_config_version(const proxy *p, int32_t min_config_version, const char **why)
{
    /* COCOON compares as unsigned (ProxyInboundClientConnection.cpp:47,
     * ProxyRunner.cpp:1427): a negative version is "too new" too. */
    if ((uint64_t)(uint32_t)min_config_version > (uint64_t)proxy_config_version(p)) {
        *why = "active config version is too low";
        return ERR_ERROR;
    }
    return 0;
}

int proxy_check_client_params(const proxy *p, const tl_client_params *cp,
                              int32_t min_config_version, const char **why)
{
    /* Bit 0 says the owner address and is_test are meaningful. COCOON's text
     * is "tool old client" (sic); ours is spelled right. */
    if (!(cp->flags & 1u)) {
        *why = "too old client";
        return ERR_ERROR;
    }
    if (cp->is_test != is_test_network(p)) {
        *why = "test mode mismatch";
        return ERR_ERROR;
    }
    if (!owner_address_ok(cp->client_owner_address)) {
        *why = "cannot parse client owner address";
        return ERR_ERROR;
    }
    if (proxy_check_config_version(p, min_config_version, why)) return ERR_ERROR;
    return check_enabled(p, why);
}

int proxy_check_worker_params(const proxy *p, const tl_worker_params *wp, const char **why)
{
    if (!(wp->flags & 1u)) {
        *why = "too old worker";
        return ERR_ERROR;
    }
    if (wp->is_test != is_test_network(p)) {
        *why = "test mode mismatch";
        return ERR_ERROR;
    }
    if (wp->model.len == 0) {
        *why = "invalid worker hash or worker type";
        return ERR_PROTOVIOLATION;
    }
    /* COCOON takes 0; we refuse it below (a free worker would win every
     * routing tie and bill nothing), but the upper bound is COCOON's. */
    if (wp->coefficient < 0 || wp->coefficient >= 1000000000) {
        *why = "invalid coefficient value";
        return ERR_PROTOVIOLATION;
    }
    if (wp->max_active_requests < 1) {
        *why = "invalid max_active_requests value";
        return ERR_PROTOVIOLATION;
    }
    if (wp->proxy_cnt < 1) {
        *why = "invalid proxy_cnt value";
        return ERR_PROTOVIOLATION;
    }
    if (!owner_address_ok(wp->worker_owner_address)) {
        *why = "cannot parse worker owner address";
        return ERR_ERROR;
    }
    return check_enabled(p, why);
}

const char *proxy_owner_or_zero(const proxy *p)
{
    return p->owner_address && *p->owner_address ? p->owner_address : TON_ADDR_ZERO_RAW;
}
