/* The client's contract at each proxy, on chain (COCOON's ClientProxyInfo
 * with its ClientContract): with a chain, the client derives the address of
 * its contract for a proxy from the proxy's key and owner (its proxy contract
 * is derived likewise when the proxy announces none), the owner and the
 * root's params; it reads the contract every 2 s (with the model list) through the TON
 * HTTP API on its loop (getAddressInformation, then get_client_data when it
 * is active), and with a wallet it deploys and tops the contract up as
 * COCOON's client does (ClientProxyInfo::check): when the tokens paid for
 * less those used fall under half the stake, it adds the stake (rounded to
 * whole tokens) with 0.7 TON for gas. Our first top-up carries the StateInit,
 * so deploying and the first top-up are one message (COCOON sends a bare
 * deploy of 0.8 TON first).
 *
 * It also keeps the proxy's latest signed charge voucher and, as COCOON's
 * client does, relays it to its own contract when the proxy has let the
 * uncharged use grow past half the stake (a forced charge): otherwise a
 * proxy that charges only past its own threshold would leave the client's
 * credit, capped by its stake, spent.
 *
 * The figures are shown on /jsonstats (payments.proxies[].contract) and,
 * once read, decide the client's credit there (client_money_on_contract):
 * the proxy, which authorizes a client only after reading its contract,
 * keeps the same figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

static const char *const state_names[] = {"open", "closing", "closed"};

static cchain *chain_of(client *c, const clink *l)
{
    return &c->chain[daemon_links_index(&c->links, l)];
}

int client_secret_load(client *c, const char *state_dir, cc_err *err)
{
    c->secret[0] = 0;
    if (state_dir && *state_dir) {
        /* The secret is the client's own, like its signing key: kept so that
         * the hash on its contracts stays valid across restarts. */
        daemon_identity id;
        if (daemon_identity_load(&id, state_dir, "client-secret.seed", "client-secret", err) < 0)
            return -1;
        cc_hex_encode(id.seed, 32, c->secret);
        daemon_identity_clear(&id);
    }
    crypto_sha256(c->secret, strlen(c->secret), c->secret_hash);
    return 0;
}

int client_chain_open(client *c, const client_config *cfg, cc_err *err)
{
    c->chain = cc_calloc(c->links.n + 1, sizeof(*c->chain));
    c->n_chain = c->links.n; /* the links are gone before client_chain_free */
    c->topup_nano = cfg->topup_nano;
    c->min_balance_nano = cfg->min_balance_nano;
    if (!c->tee.chain) return 0; /* free mode: no contract */
    c->chain_api =
        ton_api_new_on(c->base, daemon_chain_url(c->tee.chain), getenv("COCOON_TON_API_KEY"), err);
    if (!c->chain_api) return -1;
    ton_api_set_timeout(c->chain_api, 10);
    if (cfg->wallet_key_file) {
        daemon_wallet_key k;
        if (daemon_wallet_key_load(cfg->wallet_key_file, &k, err) < 0) return -1;
        c->wallet = daemon_wallet_new(c->base, daemon_chain_url(c->tee.chain), &k, c->is_test, err);
        memset(&k, 0, sizeof(k));
        if (!c->wallet) return -1;
    }
    /* The contract's owner: the configured one, else our wallet (COCOON's
     * client owns its contracts through its wallet). */
    if (*c->owner_address) {
        if (ton_addr_parse(c->owner_address, &c->contract_owner, NULL, NULL, err) < 0)
            return cc_err_prefix(err, "owner_address");
        c->has_contract_owner = true;
    } else if (c->wallet) {
        c->contract_owner = *daemon_wallet_address(c->wallet);
        c->has_contract_owner = true;
    }
    return 0;
}

void client_chain_free(client *c)
{
    for (size_t i = 0; c->chain && i < c->n_chain; i++) {
        if (c->chain[i].op) ton_api_cancel(c->chain[i].op);
        ton_cell_unref(c->chain[i].init);
        free(c->chain[i].voucher);
    }
    if (c->wallet) daemon_wallet_free(c->wallet);
    ton_api_free(c->chain_api);
    free(c->chain);
    c->chain = NULL;
    c->wallet = NULL;
    c->chain_api = NULL;
}

int client_chain_on_connected(clink *l, const tl_client_connectedToProxy *a)
{
    client *c = clink_client(l);
    if (!c->chain_api || !c->has_contract_owner) return 0;
    cchain *ch = chain_of(c, l);
    const ton_root_params *p = daemon_chain_root_params(c->tee.chain);
    if (!p) return 0;
    char *sc = tl_bytes_strdup(a->params.proxy_sc_address);
    char *owner = tl_bytes_strdup(a->params.proxy_owner_address);
    ton_addr proxy_sc;
    cc_err err = {0};
    char mismatch[200];
    /* COCOON's client checks the announced proxy contract against the one
     * it derives (ClientRunner::register_proxy). */
    int rc = daemon_chain_proxy_contract(c->tee.chain, sc, owner, a->params.proxy_public_key.b,
                                         &proxy_sc, mismatch, sizeof(mismatch), &err);
    free(sc);
    free(owner);
    if (rc == 1) {
        snprintf(ch->last_error, sizeof(ch->last_error), "proxy sc address mismatch: %s", mismatch);
        CC_WARN("event=client_contract_unknown proxy=%s error=\"%s\"", l->addr, ch->last_error);
        daemon_link_fail(l, ch->last_error);
        return -1;
    }
    bool ok = rc == 0;
    ton_cell *cinit = NULL;
    if (ok) {
        cinit = ton_client_contract_init(&c->contract_owner, &proxy_sc,
                                         a->params.proxy_public_key.b, p, &err);
        ok = cinit != NULL;
    }
    if (ok) {
        ton_addr contract;
        ton_state_init_address(cinit, 0, &contract);
        if (ch->has_addr && !ton_addr_equal(&contract, &ch->contract)) {
            ch->read_ok = false; /* another proxy key or params: start over */
            free(ch->voucher);   /* its vouchers name the old contract */
            ch->voucher = NULL;
            ch->voucher_len = 0;
            ch->voucher_tokens = 0;
        }
        ch->contract = contract;
        ch->proxy_sc = proxy_sc;
        memcpy(ch->proxy_pub, a->params.proxy_public_key.b, 32);
        ton_cell_unref(ch->init);
        ch->init = cinit;
        cinit = NULL;
        if (!ch->has_addr) {
            char raw[80];
            ton_addr_to_raw(&contract, raw, sizeof(raw));
            CC_INFO("event=client_contract proxy=%s address=%s", l->addr, raw);
        }
        ch->has_addr = true;
        ch->price = (int64_t)p->price_per_token;
        ch->min_stake = (int64_t)p->min_client_stake;
    } else if (err.msg[0]) {
        snprintf(ch->last_error, sizeof(ch->last_error), "%s", err.msg);
    }
    if (!ok)
        CC_WARN("event=client_contract_unknown proxy=%s error=\"%s\"", l->addr, ch->last_error);
    ton_cell_unref(cinit);
    client_chain_refresh(l);
    return 0;
}

/* ------------------------------------------------------------ top-up */

static void on_sent(void *ud, bool sent, const char *error)
{
    cchain *ch = ud;
    ch->tx_pending = false;
    if (!sent) {
        ch->tx_failures++;
        snprintf(ch->last_error, sizeof(ch->last_error), "message not sent: %s",
                 error ? error : "?");
    }
    /* The contract is read again before anything else is decided. */
    ch->read_ok = false;
}

/* -------------------------------------------------------- forced charge */

void client_chain_on_signed_payment(clink *l, const tl_obj *sp)
{
    client *c = clink_client(l);
    if (!sp || sp->id != TL_ID_proxy_signedPayment || !c->chain_api || !c->chain) return;
    cchain *ch = chain_of(c, l);
    const tl_bytes *data = &((const tl_proxy_signedPayment *)sp)->data;
    if (!ch->has_addr || !data->len) return;
    /* The same voucher comes with every request until the next save_state:
     * checked once. */
    if (ch->voucher && ch->voucher_len == data->len && !memcmp(ch->voucher, data->data, data->len))
        return;
    /* ... and so is a refused one (the proxy repeats it too). */
    uint8_t h[32];
    crypto_sha256(data->data, data->len, h);
    if (ch->bad_vouchers && !memcmp(h, ch->refused, 32)) return;
    cc_err err = {0};
    ton_cell *cell = ton_boc_parse(data->data, data->len, &err);
    ton_voucher v;
    int rc = cell ? ton_voucher_verify(cell, ch->proxy_pub, &v, &err) : -1;
    ton_cell_unref(cell);
    if (rc == 0 && (v.is_close || v.op != TON_OP_CLIENT_CHARGE_SIGNED))
        rc = cc_err_set(&err, "not a charge voucher (op 0x%08x)", v.op);
    if (rc == 0 && !ton_addr_equal(&v.target, &ch->contract))
        rc = cc_err_set(&err, "for another contract");
    if (rc < 0) {
        ch->bad_vouchers++;
        memcpy(ch->refused, h, 32);
        CC_WARN("event=client_voucher_refused proxy=%s error=\"%s\"", l->addr, err.msg);
        return;
    }
    if ((int64_t)v.tokens <= ch->voucher_tokens) return;
    free(ch->voucher);
    ch->voucher = cc_malloc(data->len);
    memcpy(ch->voucher, data->data, data->len);
    ch->voucher_len = data->len;
    ch->voucher_tokens = (int64_t)v.tokens;
}

/* COCOON's rule (ClientProxyInfo::check): the proxy's count past the
 * contract's charged tokens by more than half the stake's tokens, and a
 * voucher above what is charged -> send that voucher, repacked with our
 * wallet as excess_to, with 0.7 TON. Returns whether a message went out. */
static bool maybe_force_charge(client *c, clink *l, cchain *ch)
{
    if (!ch->voucher || !ch->deployed || ch->st.state != 0) return false;
    int64_t used = (int64_t)ch->st.tokens_used;
    int64_t half_stake = (int64_t)ch->st.stake / ch->price / 2;
    if (client_money_of(c, l)->max_tokens <= used + half_stake || ch->voucher_tokens <= used)
        return false;
    cc_err err = {0};
    ton_cell *cell = ton_boc_parse(ch->voucher, ch->voucher_len, &err), *body = NULL;
    ton_voucher v;
    if (cell && ton_voucher_parse(cell, &v, &err) == 0) {
        v.excess_to = *daemon_wallet_address(c->wallet);
        body = ton_voucher_outer(&v, &err);
    }
    ton_cell_unref(cell);
    ton_int_msg m = {
        .dest = ch->contract, .value = TON_CONTRACT_MSG_NANO, .bounce = true, .body = body};
    if (!body || daemon_wallet_send(c->wallet, &m, on_sent, ch, &err) < 0) {
        ton_cell_unref(body);
        snprintf(ch->last_error, sizeof(ch->last_error), "charge: %s", err.msg);
        return true;
    }
    ton_cell_unref(body);
    ch->tx_pending = true;
    ch->charges++;
    CC_INFO("event=client_forced_charge proxy=%s tokens=%lld charged=%lld", l->addr,
            (long long)ch->voucher_tokens, (long long)used);
    return true;
}

/* COCOON's client sets its secret's hash on the contract when it differs
 * (ClientProxyInfo::check, before the top-up rule), so that the proxy can
 * offer the short authorization next time. */
static bool maybe_set_secret(client *c, clink *l, cchain *ch)
{
    if (!ch->deployed || ch->st.state == 2 || crypto_memeq(ch->st.secret_hash, c->secret_hash, 32))
        return false;
    cc_err err = {0};
    ton_cell *body = ton_body_client_change_secret_hash(crypto_random_u64(), c->secret_hash,
                                                        daemon_wallet_address(c->wallet), &err);
    if (!body) {
        snprintf(ch->last_error, sizeof(ch->last_error), "%s", err.msg);
        return true;
    }
    ton_int_msg m = {
        .dest = ch->contract, .value = TON_CONTRACT_MSG_NANO, .bounce = true, .body = body};
    int rc = daemon_wallet_send(c->wallet, &m, on_sent, ch, &err);
    ton_cell_unref(body);
    if (rc < 0) {
        snprintf(ch->last_error, sizeof(ch->last_error), "secret hash: %s", err.msg);
        return true;
    }
    ch->tx_pending = true;
    ch->secret_updates++;
    CC_INFO("event=client_secret_hash_set proxy=%s", l->addr);
    return true;
}

/* COCOON's rule (ClientProxyInfo::check): tokens paid for less tokens used
 * under half the stake's tokens -> add the stake's worth (with the used
 * tokens the proxy reports, not only those charged). Configurable:
 * min_balance_nano replaces the threshold, topup_nano the amount. */
static void maybe_top_up(client *c, clink *l, cchain *ch)
{
    if (!c->wallet || ch->tx_pending || !ch->read_ok || ch->price <= 0) return;
    if (maybe_set_secret(c, l, ch)) return;
    if (ch->deployed && ch->st.state != 0) return; /* closing or closed: not ours to refill */
    int64_t stake = ch->deployed ? (int64_t)ch->st.stake : ch->min_stake;
    int64_t paid = ch->deployed ? (int64_t)ch->st.balance / ch->price : 0;
    /* COCOON counts only what is charged on chain. The proxy's total beyond
     * it (use not charged yet) is spent too: counted, the top-up lands
     * before the credit is gone rather than after requests were refused. */
    int64_t uncharged = client_money_of(c, l)->max_tokens - (int64_t)ch->st.tokens_used;
    if (ch->deployed && uncharged > 0) paid -= uncharged;
    int64_t threshold =
        c->min_balance_nano > 0 ? c->min_balance_nano / ch->price : (stake / ch->price) / 2;
    if (ch->deployed && paid >= threshold) {
        maybe_force_charge(c, l, ch);
        return;
    }
    int64_t coins = c->topup_nano > 0 ? c->topup_nano : stake - stake % ch->price;
    if (coins <= 0) return;
    cc_err err = {0};
    const ton_addr *excess = daemon_wallet_address(c->wallet);
    ton_cell *body = ton_body_coins_addr(TON_OP_CLIENT_TOP_UP, crypto_random_u64(), (uint64_t)coins,
                                         excess, &err);
    if (!body) {
        snprintf(ch->last_error, sizeof(ch->last_error), "%s", err.msg);
        return;
    }
    ton_int_msg m = {.dest = ch->contract,
                     .value = (uint64_t)coins + TON_CONTRACT_MSG_NANO,
                     .bounce = ch->deployed,
                     .init = ch->deployed ? NULL : ch->init,
                     .body = body};
    int rc = daemon_wallet_send(c->wallet, &m, on_sent, ch, &err);
    ton_cell_unref(body);
    if (rc < 0) {
        snprintf(ch->last_error, sizeof(ch->last_error), "top-up: %s", err.msg);
        return;
    }
    ch->tx_pending = true;
    ch->topups++;
    if (!ch->deployed) ch->deploys++;
    CC_INFO("event=client_contract_top_up proxy=%s deploy=%d amount=%lld paid_tokens=%lld "
            "threshold_tokens=%lld",
            l->addr, !ch->deployed, (long long)coins, (long long)paid, (long long)threshold);
}

/* ------------------------------------------------------- registration */

#define REGISTER_NANO 1000000000ull /* COCOON's authorize_long sends to_nano(1.0) */

static void on_register_sent(void *ud, bool sent, const char *error)
{
    cchain *ch = ud;
    ch->register_pending = false;
    if (!sent) {
        ch->tx_failures++;
        ch->register_wanted = true; /* tried again after the next read */
        snprintf(ch->last_error, sizeof(ch->last_error), "register not sent: %s",
                 error ? error : "?");
    }
}

/* COCOON's ClientProxyConnection::authorize_long: owner_client_register with
 * the proxy's nonce, which the contract reports to the proxy contract. An
 * undeployed contract would drop it, so it waits for the deployment (our
 * first top-up, which the same reads trigger). */
static void maybe_register(client *c, clink *l, cchain *ch)
{
    if (!ch->register_wanted || ch->register_pending || !ch->deployed || ch->st.state != 0) return;
    cc_err err = {0};
    ton_cell *body = ton_body_client_register(crypto_random_u64(), ch->register_nonce,
                                              daemon_wallet_address(c->wallet), &err);
    ton_int_msg m = {.dest = ch->contract, .value = REGISTER_NANO, .bounce = true, .body = body};
    if (!body || daemon_wallet_send(c->wallet, &m, on_register_sent, ch, &err) < 0) {
        ton_cell_unref(body);
        snprintf(ch->last_error, sizeof(ch->last_error), "register: %s", err.msg);
        return;
    }
    ton_cell_unref(body);
    ch->register_wanted = false;
    ch->register_pending = true;
    ch->registers++;
    CC_INFO("event=client_register_sent proxy=%s nonce=%llu", l->addr,
            (unsigned long long)ch->register_nonce);
}

bool client_chain_register(clink *l, uint64_t nonce)
{
    client *c = clink_client(l);
    if (!c->chain_api || !c->chain || !c->wallet) return false;
    cchain *ch = chain_of(c, l);
    if (!ch->has_addr) return false;
    ch->register_nonce = nonce;
    ch->register_wanted = true;
    if (ch->read_ok) maybe_register(c, l, ch);
    return true;
}

/* ------------------------------------------------------------- reading */

static void read_failed(cchain *ch, const char *what, const char *msg)
{
    ch->failures++;
    snprintf(ch->last_error, sizeof(ch->last_error), "%s: %s", what, msg);
}

static void on_client_data(void *ud, json_t *result, const cc_err *rerr)
{
    clink *l = ud;
    client *c = clink_client(l);
    cchain *ch = chain_of(c, l);
    ch->op = NULL;
    if (!result) {
        read_failed(ch, "get_client_data", rerr->msg);
        return;
    }
    cc_err err = {0};
    ton_client_state cs;
    if (ton_client_state_from_result(result, &cs, &err) < 0) {
        read_failed(ch, "contract", err.msg);
        return;
    }
    ch->st = cs;
    ch->deployed = true;
    ch->read_ok = true;
    /* The credit decision follows the contract, as COCOON's client's
     * (ClientProxyInfo reads the same figures). */
    const ton_root_params *rp = daemon_chain_root_params(c->tee.chain);
    if (rp) {
        ledger_multipliers mult = {(int32_t)rp->prompt_mult, (int32_t)rp->cached_mult,
                                   (int32_t)rp->completion_mult, (int32_t)rp->reasoning_mult};
        client_money_on_contract(l, cs.state, (int64_t)cs.balance, (int64_t)cs.stake,
                                 (int64_t)cs.tokens_used, ch->price, &mult);
    }
    ch->last_ok = cc_now_wall();
    ch->last_error[0] = 0;
    if (c->wallet) maybe_register(c, l, ch);
    maybe_top_up(c, l, ch);
}

static void on_account(void *ud, json_t *result, const cc_err *rerr)
{
    clink *l = ud;
    client *c = clink_client(l);
    cchain *ch = chain_of(c, l);
    ch->op = NULL;
    ch->reads++;
    if (!result) {
        read_failed(ch, "getAddressInformation", rerr->msg);
        return;
    }
    ton_account acc;
    cc_err err = {0};
    if (ton_account_from_json(result, &acc, &err) < 0) {
        read_failed(ch, "getAddressInformation", err.msg);
        return;
    }
    bool active = strcmp(acc.state, "active") == 0;
    snprintf(ch->account_state, sizeof(ch->account_state), "%s", acc.state);
    ch->ton_balance = acc.balance;
    ton_account_clear(&acc);
    if (!active) {
        memset(&ch->st, 0, sizeof(ch->st));
        ch->deployed = false;
        ch->read_ok = true;
        ch->last_ok = cc_now_wall();
        ch->last_error[0] = 0;
        maybe_top_up(c, l, ch);
        return;
    }
    char raw[80];
    ton_addr_to_raw(&ch->contract, raw, sizeof(raw));
    json_t *req = json_pack("{s:s,s:s,s:[]}", "address", raw, "method", "get_client_data", "stack");
    ch->op = ton_api_call_async(c->chain_api, "runGetMethod", NULL, req, on_client_data, l, &err);
    json_decref(req);
    if (!ch->op) read_failed(ch, "get_client_data", err.msg);
}

void client_chain_refresh(clink *l)
{
    client *c = clink_client(l);
    if (!c->chain_api || !c->chain) return;
    cchain *ch = chain_of(c, l);
    if (!ch->has_addr || ch->op) return;
    char raw[80];
    ton_addr_to_raw(&ch->contract, raw, sizeof(raw));
    char *colon = strchr(raw, ':');
    *colon = 0;
    char query[128];
    snprintf(query, sizeof(query), "address=%s%%3A%s", raw, colon + 1);
    cc_err err = {0};
    ch->op =
        ton_api_call_async(c->chain_api, "getAddressInformation", query, NULL, on_account, l, &err);
    if (!ch->op) read_failed(ch, "getAddressInformation", err.msg);
}

/* A client busier than its stake spends its credit in seconds; seen only at
 * the next refresh (a minute), the top-up or forced charge that restores it
 * would come late and requests be refused meanwhile although we can pay. */
void client_chain_credit_short(clink *l)
{
    client *c = clink_client(l);
    if (!c->chain_api || !c->chain) return;
    cchain *ch = chain_of(c, l);
    double now = cc_now_mono();
    if (ch->credit_read_at > 0 && now - ch->credit_read_at < 2.0) return;
    ch->credit_read_at = now;
    client_chain_refresh(l);
}

void client_chain_tick(client *c)
{
    for (size_t i = 0; c->chain_api && i < c->links.n; i++)
        client_chain_refresh(&c->links.at[i]);
}

json_t *client_chain_json(client *c, const clink *l)
{
    if (!c->chain_api) return NULL;
    const cchain *ch = chain_of(c, l);
    json_t *o = json_object();
    char raw[80];
    if (ch->has_addr) {
        ton_addr_to_raw(&ch->contract, raw, sizeof(raw));
        json_object_set_new(o, "address", json_string(raw));
        ton_addr_to_raw(&ch->proxy_sc, raw, sizeof(raw));
        json_object_set_new(o, "proxy_contract", json_string(raw));
        char hex[65];
        cc_hex_encode(ch->proxy_pub, 32, hex);
        json_object_set_new(o, "proxy_public_key", json_string(hex));
    }
    json_object_set_new(o, "known", json_boolean(ch->read_ok));
    json_object_set_new(o, "deployed", json_boolean(ch->deployed));
    json_object_set_new(o, "account_state", json_string(ch->account_state));
    json_object_set_new(o, "ton_balance", json_integer((json_int_t)ch->ton_balance));
    if (ch->deployed) {
        json_object_set_new(o, "state",
                            json_string(ch->st.state < 3 ? state_names[ch->st.state] : "?"));
        json_object_set_new(o, "balance_nano", json_integer((json_int_t)ch->st.balance));
        json_object_set_new(o, "stake_nano", json_integer((json_int_t)ch->st.stake));
        json_object_set_new(o, "tokens_used", json_integer((json_int_t)ch->st.tokens_used));
        char hex[65];
        cc_hex_encode(ch->st.secret_hash, 32, hex);
        json_object_set_new(o, "secret_hash", json_string(hex));
        json_object_set_new(o, "secret_hash_ours",
                            json_boolean(crypto_memeq(ch->st.secret_hash, c->secret_hash, 32)));
    }
    json_object_set_new(o, "reads", json_integer((json_int_t)ch->reads));
    json_object_set_new(o, "failures", json_integer((json_int_t)ch->failures));
    json_object_set_new(o, "deploys", json_integer((json_int_t)ch->deploys));
    json_object_set_new(o, "topups", json_integer((json_int_t)ch->topups));
    json_object_set_new(o, "secret_updates", json_integer((json_int_t)ch->secret_updates));
    json_object_set_new(o, "registers", json_integer((json_int_t)ch->registers));
    json_object_set_new(o, "voucher_tokens", json_integer((json_int_t)ch->voucher_tokens));
    json_object_set_new(o, "forced_charges", json_integer((json_int_t)ch->charges));
    json_object_set_new(o, "bad_vouchers", json_integer((json_int_t)ch->bad_vouchers));
    json_object_set_new(o, "send_failures", json_integer((json_int_t)ch->tx_failures));
    json_object_set_new(o, "send_pending", json_boolean(ch->tx_pending || ch->register_pending));
    json_object_set_new(o, "last_ok", json_real(ch->last_ok));
    json_object_set_new(o, "last_error", json_string(ch->last_error));
    return o;
}

json_t *client_wallet_json(client *c)
{
    return c->wallet ? daemon_wallet_json(c->wallet) : NULL;
}
