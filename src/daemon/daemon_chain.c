/* The network registry read from the chain (daemon.h, "the chain"): the root
 * contract's storage through the TON HTTP API, parsed into the same registry
 * snapshot a JSON file gives, at start and then every refresh period.
 *
 * COCOON's runners poll the root the same way (RootContractConfig, refreshed
 * from BaseRunner's loop). Reading getAddressInformation gives the whole
 * RootStorage in one call, so one refresh is one request. The refresh calls
 * are asynchronous on the daemon's loop; only the first read, before the
 * loop runs, waits. A failed refresh keeps the last good registry and is
 * retried sooner (doubling from one second up to the refresh period). */
#include "daemon/daemon.h"
#include "ton/ton.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define CHAIN_RETRY_MIN 1.0

struct daemon_chain {
    struct event_base *base;
    ton_api *api; /* bound to base */
    ton_api_op *op;
    struct event *timer;
    char *url, *root_text, *query;
    double refresh, retry;
    daemon_chain_update on_update;
    void *ud;
    char *last_json; /* the registry last handed out, compact JSON */
    /* The root's params of the last good read (with the contract codes), for
     * daemons that derive contract addresses; has_params after a read. */
    ton_root_params params;
    ton_addr root;
    bool has_params;
    int64_t version;
    double last_ok; /* wall clock of the last good read, 0 = none */
    char last_error[512];
    uint64_t reads, failures, updates;
};

/* getAddressInformation's query for the root: the raw form, ':' escaped. */
static char *root_query(const ton_addr *a)
{
    char raw[80];
    ton_addr_to_raw(a, raw, sizeof raw);
    char *colon = strchr(raw, ':');
    *colon = 0;
    cc_buf q = CC_BUF_INIT;
    cc_buf_append_fmt(&q, "address=%s%%3A%s", raw, colon + 1);
    return cc_buf_steal_str(&q);
}

/* The registry JSON (new reference) from a getAddressInformation result;
 * the root's params go to c->params. */
static json_t *registry_json_of(daemon_chain *c, const json_t *result, cc_err *err)
{
    ton_account acc;
    if (ton_account_from_json(result, &acc, err) < 0) return NULL;
    json_t *j = NULL;
    if (!acc.data)
        cc_err_set(err, "the root contract is not active (state \"%s\")", acc.state);
    else {
        ton_root_state st;
        if (ton_root_state_from_storage(acc.data, &st, err) == 0) {
            j = ton_root_state_to_registry_json(&st);
            /* the params (and their code references) move to c */
            ton_root_params_clear(&c->params);
            c->params = st.params;
            c->has_params = true;
            memset(&st.params, 0, sizeof st.params);
            ton_root_state_free(&st);
        }
    }
    ton_account_clear(&acc);
    return j;
}

/* Takes a fresh read: hands out a new registry when anything changed. */
static int take(daemon_chain *c, const json_t *result, registry **out, cc_err *err)
{
    json_t *j = registry_json_of(c, result, err);
    if (!j) return -1;
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = 0;
    if (!c->last_json || strcmp(text, c->last_json) != 0) {
        registry *r = registry_from_json(j, err);
        if (!r) {
            cc_err_prefix(err, "root registry");
            rc = -1;
        } else {
            free(c->last_json);
            c->last_json = text;
            text = NULL;
            c->version = registry_version(r);
            c->updates++;
            *out = r;
        }
    }
    free(text);
    json_decref(j);
    if (rc == 0) {
        c->last_ok = cc_now_wall();
        c->last_error[0] = 0;
    }
    return rc;
}

static void schedule(daemon_chain *c, double after)
{
    struct timeval tv = cc_timeval(after);
    evtimer_add(c->timer, &tv);
}

static void on_read(void *ud, json_t *result, const cc_err *rerr)
{
    daemon_chain *c = ud;
    c->op = NULL;
    c->reads++;
    cc_err err = {0};
    registry *r = NULL;
    if (!result) err = *rerr;
    if (result && take(c, result, &r, &err) == 0) {
        c->retry = CHAIN_RETRY_MIN;
        schedule(c, c->refresh);
        if (r) {
            CC_INFO("event=chain_registry_updated version=%lld root=%s", (long long)c->version,
                    c->root_text);
            c->on_update(c->ud, r);
        }
        return;
    }
    c->failures++;
    snprintf(c->last_error, sizeof c->last_error, "%s", err.msg);
    CC_WARN("event=chain_read_failed root=%s retry_in=%g error=\"%s\"", c->root_text, c->retry,
            err.msg);
    schedule(c, c->retry);
    c->retry = c->retry * 2 < c->refresh ? c->retry * 2 : c->refresh;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    daemon_chain *c = arg;
    cc_err err = {0};
    c->op = ton_api_call_async(c->api, "getAddressInformation", c->query, NULL, on_read, c, &err);
    if (!c->op) { /* only bad arguments fail here; report as a failed read */
        on_read(c, NULL, &err);
    }
}

daemon_chain *daemon_chain_start(struct event_base *base, const daemon_config *common,
                                 registry **first, daemon_chain_update on_update, void *ud,
                                 cc_err *err)
{
    ton_addr root;
    if (ton_addr_parse(common->root_address ? common->root_address : "", &root, NULL, NULL, err) <
        0) {
        cc_err_prefix(err, "root_address");
        return NULL;
    }
    daemon_chain *c = cc_calloc(1, sizeof *c);
    c->base = base;
    c->url = cc_strdup(common->chain);
    c->root_text = cc_strdup(common->root_address);
    c->query = root_query(&root);
    c->root = root;
    c->refresh = common->chain_refresh > 0 ? common->chain_refresh : 60;
    c->retry = CHAIN_RETRY_MIN;
    c->on_update = on_update;
    c->ud = ud;
    c->timer = evtimer_new(base, on_timer, c);
    /* Reads are small: a stuck endpoint must not hold a refresh for long. */
    long timeout = c->refresh < 30 ? (long)(c->refresh > 2 ? c->refresh : 2) : 30;
    /* The first read waits (the daemon cannot start without a registry); its
     * own private loop keeps the daemon's loop out of it. */
    ton_api *once = ton_api_new(c->url, getenv("COCOON_TON_API_KEY"), err);
    c->api = once ? ton_api_new_on(base, c->url, getenv("COCOON_TON_API_KEY"), err) : NULL;
    if (!once || !c->api) {
        ton_api_free(once);
        daemon_chain_free(c);
        return NULL;
    }
    ton_api_set_timeout(once, 30); /* once, at start: a slow endpoint may take its time */
    ton_api_set_timeout(c->api, timeout);
    json_t *res = ton_api_call(once, "getAddressInformation", c->query, NULL, err);
    ton_api_free(once);
    *first = NULL;
    if (!res || take(c, res, first, err) < 0) {
        json_decref(res);
        cc_err_prefix(err, "chain %s, root %s", c->url, c->root_text);
        daemon_chain_free(c);
        return NULL;
    }
    json_decref(res);
    c->reads = 1;
    schedule(c, c->refresh);
    CC_INFO("event=chain_registry_loaded version=%lld root=%s url=%s refresh=%g",
            (long long)c->version, c->root_text, c->url, c->refresh);
    return c;
}

void daemon_chain_free(daemon_chain *c)
{
    if (!c) return;
    if (c->op) ton_api_cancel(c->op);
    ton_api_free(c->api);
    if (c->timer) event_free(c->timer);
    free(c->url);
    free(c->root_text);
    free(c->query);
    free(c->last_json);
    ton_root_params_clear(&c->params);
    free(c);
}

const ton_root_params *daemon_chain_root_params(const daemon_chain *c)
{
    return c && c->has_params ? &c->params : NULL;
}

const ton_addr *daemon_chain_root(const daemon_chain *c)
{
    return &c->root;
}

const char *daemon_chain_url(const daemon_chain *c)
{
    return c->url;
}

json_t *daemon_chain_json(const daemon_chain *c)
{
    return json_pack("{s:s,s:s,s:f,s:f,s:s,s:I,s:I,s:I,s:I}", "url", c->url, "root", c->root_text,
                     "refresh", c->refresh, "last_ok", c->last_ok, "last_error", c->last_error,
                     "version", (json_int_t)c->version, "reads", (json_int_t)c->reads, "failures",
                     (json_int_t)c->failures, "updates", (json_int_t)c->updates);
}

int daemon_chain_proxy_contract(const daemon_chain *c, const char *announced, const char *owner,
                                const uint8_t pub[32], ton_addr *out, char *why, size_t why_size,
                                cc_err *err)
{
    const ton_root_params *p = daemon_chain_root_params(c);
    if (!p) return cc_err_set(err, "the root's params are not read yet");
    ton_addr sc, proxy_owner;
    if (ton_addr_parse(announced, &sc, NULL, NULL, err) < 0 ||
        ton_addr_parse(owner, &proxy_owner, NULL, NULL, err) < 0)
        return -1;
    ton_cell *init = ton_proxy_contract_init(&proxy_owner, daemon_chain_root(c), pub, p, err);
    if (!init) return -1;
    ton_addr expected, zero = {0};
    ton_state_init_address(init, 0, &expected);
    ton_cell_unref(init);
    /* A proxy that has no contract yet announces the zero address. */
    if (!ton_addr_equal(&sc, &zero) && !ton_addr_equal(&sc, &expected)) {
        char want[80], got[80];
        ton_addr_to_raw(&expected, want, sizeof(want));
        ton_addr_to_raw(&sc, got, sizeof(got));
        snprintf(why, why_size, "expected %s got %s", want, got);
        return 1;
    }
    *out = expected;
    return 0;
}
