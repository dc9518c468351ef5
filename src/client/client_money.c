/* The client's view of its money at each proxy, as COCOON's ClientProxyInfo
 * keeps it (runners/client/ClientProxyInfo.h): the contract's balance and
 * stake, the tokens the proxy has counted against it, and our own requests
 * in flight. It decides which proxy can take a request (the reservation the
 * proxy will make must fit the credit there), refuses at once a request no
 * proxy can cover, and fills "payments" on /jsonstats.
 *
 * COCOON's client reads its contract from the chain, and so does ours when
 * it has one (client_chain.c feeds client_money_on_contract). Without a
 * chain there is none to read, so the contract figures come from the proxy's
 * client.accountStatus (a cocoon extension); a proxy that does not answer it
 * leaves them unknown and the proxy alone decides. */
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

void client_money_init(client *c)
{
    c->money = cc_calloc(c->links.n + 1, sizeof(*c->money));
}

void client_money_free(client *c)
{
    free(c->money);
    c->money = NULL;
}

cmoney *client_money_of(client *c, const clink *l)
{
    return &c->money[daemon_links_index(&c->links, l)];
}

void client_money_on_totals(clink *l, int64_t db_tokens, int64_t max_tokens)
{
    cmoney *m = client_money_of(clink_client(l), l);
    /* Totals only grow (COCOON's update_tokens_used): a late or reordered
     * status cannot give credit back. */
    if (db_tokens > m->db_tokens) m->db_tokens = db_tokens;
    if (max_tokens > m->max_tokens) m->max_tokens = max_tokens;
}

void client_money_on_contract(clink *l, uint32_t state, int64_t balance, int64_t stake,
                              int64_t tokens_used, int64_t price, const ledger_multipliers *mult)
{
    cmoney *m = client_money_of(clink_client(l), l);
    m->known = m->from_chain = true;
    m->status = (int32_t)state;
    m->balance = balance;
    m->stake = stake;
    m->sc_tokens_used = tokens_used;
    m->price = price;
    m->mult = *mult;
}

void client_money_on_account(clink *l, const tl_client_accountStatus *a)
{
    cmoney *m = client_money_of(clink_client(l), l);
    if (m->from_chain) {
        /* Our own read of the contract decides (COCOON's client reads it
         * too); the proxy's totals still count what it has charged. */
        client_money_on_totals(l, a->db_tokens, a->max_tokens);
        return;
    }
    m->known = true;
    m->status = a->status;
    m->balance = a->balance;
    m->stake = a->stake;
    m->sc_tokens_used = a->sc_tokens_used;
    m->price = a->price_per_token;
    m->mult = (ledger_multipliers){a->prompt_multiplier, a->cached_multiplier,
                                   a->completion_multiplier, a->reasoning_multiplier};
    client_money_on_totals(l, a->db_tokens, a->max_tokens);
}

static void on_account(net_conn *conn, void *ud, int32_t code, const char *msg, const uint8_t *data,
                       size_t len)
{
    clink *l = ud;
    client *c = clink_client(l);
    cmoney *m = client_money_of(c, l);
    m->query_pending = false;
    if (l->conn != conn) return; /* the link moved on */
    if (code != 0) {
        /* Not asked again on this connection: a proxy without the extension
         * would log every query it does not know. */
        m->unsupported = true;
        CC_INFO("event=account_status_unavailable proxy=%s code=%d error=\"%s\"", l->addr, code,
                msg ? msg : "");
        return;
    }
    cc_err err;
    tl_decode_opts o = {.expect_type = TL_TYPE_client_AccountStatus};
    tl_obj *t = tl_decode_ex(data, len, &o, &err);
    if (!t) {
        CC_WARN("event=bad_account_status proxy=%s error=\"%s\"", l->addr, err.msg);
        return;
    }
    client_money_on_account(l, (const tl_client_accountStatus *)t);
    tl_obj_free(t);
}

void client_money_refresh(clink *l)
{
    cmoney *m = client_money_of(clink_client(l), l);
    if (l->state != DAEMON_LINK_READY || m->query_pending || m->unsupported) return;
    tl_client_getAccountStatus q = TL_INIT(client_getAccountStatus);
    cc_err err;
    if (daemon_link_query(l, &q.hdr, on_account, l, &err) == 0) m->query_pending = true;
}

void client_money_link_ready(clink *l)
{
    client_money_of(clink_client(l), l)->unsupported = false;
    client_money_refresh(l);
}

int64_t client_money_available(const cmoney *m)
{
    if (!m->known) return INT64_MAX;
    if (m->status != LEDGER_SC_OPEN) return 0;
    /* ProxyClientInfo's available tokens, with our own reservations for
     * the proxy's (we only know ours; another client of the same owner
     * shows up in max_tokens once its requests end). */
    int64_t payed = m->sc_tokens_used + ledger_safe_div(m->balance, m->price);
    int64_t staked = m->sc_tokens_used + ledger_safe_div(m->stake, m->price);
    int64_t v = CC_MIN(payed, staked) - m->max_tokens - m->reserved;
    return v > 0 ? v : 0;
}

int64_t client_money_reservation(int64_t max_tokens, size_t query_len, int max_coefficient)
{
    return ledger_adjust_tokens(max_tokens + (int64_t)query_len, max_coefficient, 10000);
}

int64_t client_money_request_reservation(const creq *r, const clink *l)
{
    /* Sealed, the proxy reserves on the sealed body: the query and its tag. */
    bool sealed =
        r->c->sealing != CLIENT_SEALING_OFF && (l->peer_flags & DAEMON_PARAMS_FLAG_SEALING);
    return client_money_reservation(
        r->max_tokens, r->query.len + (sealed ? CRYPTO_SEAL_TAG_LEN : 0), r->max_coefficient);
}

clink *client_money_pick(client *c, const clink *avoid, const creq *r, int64_t *best, int64_t *need)
{
    int64_t top = 0;
    *need = 0;
    for (size_t i = 0; i < c->links.n; i++) {
        clink *l = &c->links.at[i];
        if (l == avoid || l->state != DAEMON_LINK_READY) continue;
        int64_t avail = client_money_available(&c->money[i]);
        int64_t to_reserve = client_money_request_reservation(r, l);
        /* The proxy's two checks, in its order: the request's cap, then the
         * reservation. */
        if (avail >= r->max_tokens && avail >= to_reserve) return l;
        if (avail >= top) {
            top = avail;
            *need = to_reserve;
        }
    }
    if (best) *best = top;
    return NULL;
}

void client_money_reserve(creq *r, clink *l)
{
    client_money_release(r);
    cmoney *m = client_money_of(r->c, l);
    r->reserved = client_money_request_reservation(r, l);
    r->reserved_on = l;
    m->reserved += r->reserved;
    /* Topped up or charged before the credit runs out, not after. */
    if (m->from_chain && client_money_available(m) < ledger_safe_div(m->stake, m->price) / 2)
        client_chain_credit_short(l);
}

void client_money_release(creq *r)
{
    if (!r->reserved_on) return;
    cmoney *m = client_money_of(r->c, r->reserved_on);
    m->reserved -= r->reserved;
    if (m->reserved < 0) m->reserved = 0;
    r->reserved = 0;
    r->reserved_on = NULL;
}

/* ---------------------------------------------------------------- stats */

typedef struct money_figures {
    int64_t tokens_charged, nano_charged, balance_nano, stake_nano;
} money_figures;

/* Tokens and nanoTON charged since the contract opened (the proxy's whole
 * total for our account), and the balance as the latest payment status shows
 * it: the contract's balance less what is charged but not yet taken from it
 * on chain. So balance_nano falls by exactly what nano_charged rises. */
static money_figures figures(const cmoney *m)
{
    money_figures f = {.tokens_charged = m->max_tokens};
    f.nano_charged = m->max_tokens * m->price;
    f.balance_nano = m->balance - (m->max_tokens - m->sc_tokens_used) * m->price;
    f.stake_nano = m->stake;
    return f;
}

static void put_figures(json_t *o, const money_figures *f)
{
    json_object_set_new(o, "tokens_charged", json_integer(f->tokens_charged));
    json_object_set_new(o, "nano_charged", json_integer(f->nano_charged));
    json_object_set_new(o, "balance_nano", json_integer(f->balance_nano));
    json_object_set_new(o, "stake_nano", json_integer(f->stake_nano));
}

json_t *client_money_json(client *c)
{
    money_figures total = {0};
    json_t *ps = json_array();
    for (size_t i = 0; i < c->links.n; i++) {
        const cmoney *m = &c->money[i];
        json_t *e = json_object();
        json_object_set_new(e, "address", json_string(c->links.at[i].addr));
        json_object_set_new(e, "known", json_boolean(m->known));
        json_object_set_new(e, "db_tokens", json_integer(m->db_tokens));
        json_object_set_new(e, "reserved", json_integer(m->reserved));
        if (m->known) {
            money_figures f = figures(m);
            put_figures(e, &f);
            int64_t avail = client_money_available(m);
            json_object_set_new(e, "available_tokens", json_integer(avail));
            json_object_set_new(e, "price_per_token", json_integer(m->price));
            total.tokens_charged += f.tokens_charged;
            total.nano_charged += f.nano_charged;
            total.balance_nano += f.balance_nano;
            total.stake_nano += f.stake_nano;
        } else {
            json_object_set_new(e, "tokens_charged", json_integer(m->max_tokens));
        }
        json_t *sc = client_chain_json(c, &c->links.at[i]);
        if (sc) json_object_set_new(e, "contract", sc);
        json_array_append_new(ps, e);
    }
    json_t *o = json_object();
    put_figures(o, &total);
    json_object_set_new(o, "refused_quota", json_integer((json_int_t)c->stats.refused_quota));
    json_object_set_new(o, "proxies", ps);
    json_t *w = client_wallet_json(c);
    if (w) json_object_set_new(o, "wallet", w);
    return o;
}

static json_t *nano_per_token(int64_t price, int32_t mult)
{
    /* Integral in practice (multipliers are round), a fraction otherwise. */
    if ((price * mult) % 10000 == 0) return json_integer(price * mult / 10000);
    return json_real((double)price * mult / 10000.0);
}

json_t *client_money_pricing(client *c)
{
    for (size_t i = 0; i < c->links.n; i++) {
        const cmoney *m = &c->money[i];
        if (!m->known) continue;
        json_t *o = json_object();
        json_object_set_new(o, "prompt", nano_per_token(m->price, m->mult.prompt));
        json_object_set_new(o, "cached", nano_per_token(m->price, m->mult.cached));
        json_object_set_new(o, "completion", nano_per_token(m->price, m->mult.completion));
        json_object_set_new(o, "reasoning", nano_per_token(m->price, m->mult.reasoning));
        json_object_set_new(o, "unit", json_string("nanoTON per token at coefficient 1000"));
        return o;
    }
    return NULL;
}
