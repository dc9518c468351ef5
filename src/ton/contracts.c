/* Bodies, storage and initial data of the cocoon contracts (contracts/SPEC.md). */
#include "ton/ton_internal.h"

#include <string.h>

static void head(ton_builder *b, uint32_t op, uint64_t qid)
{
    ton_builder_init(b);
    ton_builder_store_uint(b, op, 32);
    ton_builder_store_uint(b, qid, 64);
}

static int store_int_addr(ton_builder *b, const ton_addr *a, cc_err *err)
{
    /* contracts accept only addr_std where an addr is written (SPEC §0) */
    if (!a || a->none) {
        ton_builder_clear(b);
        return cc_err_set(err, "an address is required (addr_none is rejected on-chain)");
    }
    return ton_builder_store_addr(b, a);
}

/* ---------------------------------------------------------------- root */

ton_cell *ton_root_params_build(const ton_root_params *p, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, p->struct_version, 8);
    ton_builder_store_uint(&b, p->params_version, 32);
    ton_builder_store_uint(&b, p->unique_id, 32);
    ton_builder_store_bit(&b, p->is_test);
    ton_builder_store_coins(&b, p->price_per_token);
    ton_builder_store_coins(&b, p->worker_fee_per_token);
    ton_builder_store_uint(&b, p->prompt_mult, 32);
    ton_builder_store_uint(&b, p->cached_mult, 32);
    ton_builder_store_uint(&b, p->completion_mult, 32);
    ton_builder_store_uint(&b, p->reasoning_mult, 32);
    ton_builder_store_uint(&b, p->proxy_delay_before_close, 32);
    ton_builder_store_uint(&b, p->client_delay_before_close, 32);
    ton_builder_store_coins(&b, p->min_proxy_stake);
    ton_builder_store_coins(&b, p->min_client_stake);
    ton_builder_store_maybe_ref(&b, p->proxy_code);
    ton_builder_store_maybe_ref(&b, p->worker_code);
    ton_builder_store_maybe_ref(&b, p->client_code);
    return ton_builder_end(&b, err);
}

void ton_root_params_clear(ton_root_params *p)
{
    ton_cell_unref(p->proxy_code);
    ton_cell_unref(p->worker_code);
    ton_cell_unref(p->client_code);
    memset(p, 0, sizeof *p);
}

int ton_root_params_parse(const ton_cell *c, ton_root_params *p, cc_err *err)
{
    memset(p, 0, sizeof *p);
    ton_slice s;
    ton_slice_init(&s, c);
    uint64_t v[9];
    const ton_cell *codes[3];
    if (ton_slice_load_uint(&s, 8, &v[0], err) < 0 || ton_slice_load_uint(&s, 32, &v[1], err) < 0 ||
        ton_slice_load_uint(&s, 32, &v[2], err) < 0 ||
        ton_slice_load_bit(&s, &p->is_test, err) < 0 ||
        ton_slice_load_coins(&s, &p->price_per_token, err) < 0 ||
        ton_slice_load_coins(&s, &p->worker_fee_per_token, err) < 0)
        return cc_err_prefix(err, "root params");
    for (int i = 3; i < 9; i++)
        if (ton_slice_load_uint(&s, 32, &v[i], err) < 0) return cc_err_prefix(err, "root params");
    if (ton_slice_load_coins(&s, &p->min_proxy_stake, err) < 0 ||
        ton_slice_load_coins(&s, &p->min_client_stake, err) < 0)
        return cc_err_prefix(err, "root params");
    for (int i = 0; i < 3; i++)
        if (ton_slice_load_maybe_ref(&s, &codes[i], err) < 0)
            return cc_err_prefix(err, "root params");
    if (ton_slice_expect_end(&s, err) < 0) return cc_err_prefix(err, "root params");
    p->struct_version = (uint8_t)v[0];
    p->params_version = (uint32_t)v[1];
    p->unique_id = (uint32_t)v[2];
    p->prompt_mult = (uint32_t)v[3];
    p->cached_mult = (uint32_t)v[4];
    p->completion_mult = (uint32_t)v[5];
    p->reasoning_mult = (uint32_t)v[6];
    p->proxy_delay_before_close = (uint32_t)v[7];
    p->client_delay_before_close = (uint32_t)v[8];
    p->proxy_code = ton_cell_ref((ton_cell *)codes[0]);
    p->worker_code = ton_cell_ref((ton_cell *)codes[1]);
    p->client_code = ton_cell_ref((ton_cell *)codes[2]);
    return 0;
}

void ton_root_data_init(ton_root_data *d)
{
    memset(d, 0, sizeof *d);
    ton_dict_init(&d->proxy_hashes, 256);
    ton_dict_init(&d->proxies, 32);
    ton_dict_init(&d->worker_hashes, 256);
    ton_dict_init(&d->model_hashes, 256);
}

void ton_root_data_free(ton_root_data *d)
{
    ton_dict_free(&d->proxy_hashes);
    ton_dict_free(&d->proxies);
    ton_dict_free(&d->worker_hashes);
    ton_dict_free(&d->model_hashes);
}

ton_cell *ton_root_data_build(const ton_root_data *d, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    if (ton_builder_store_dict(&b, &d->proxy_hashes, err) < 0 ||
        ton_builder_store_dict(&b, &d->proxies, err) < 0) {
        ton_builder_clear(&b);
        return NULL;
    }
    ton_builder_store_uint(&b, d->last_proxy_seqno, 32);
    if (ton_builder_store_dict(&b, &d->worker_hashes, err) < 0 ||
        ton_builder_store_dict(&b, &d->model_hashes, err) < 0) {
        ton_builder_clear(&b);
        return NULL;
    }
    return ton_builder_end(&b, err);
}

int ton_root_data_parse(const ton_cell *c, ton_root_data *d, cc_err *err)
{
    ton_root_data_init(d);
    ton_slice s;
    ton_slice_init(&s, c);
    uint64_t seq;
    if (ton_slice_load_dict(&s, 256, &d->proxy_hashes, err) < 0 ||
        ton_slice_load_dict(&s, 32, &d->proxies, err) < 0 ||
        ton_slice_load_uint(&s, 32, &seq, err) < 0 ||
        ton_slice_load_dict(&s, 256, &d->worker_hashes, err) < 0 ||
        ton_slice_load_dict(&s, 256, &d->model_hashes, err) < 0 ||
        ton_slice_expect_end(&s, err) < 0) {
        ton_root_data_free(d);
        return cc_err_prefix(err, "root data");
    }
    d->last_proxy_seqno = (uint32_t)seq;
    return 0;
}

ton_cell *ton_root_storage_build(const ton_addr *owner, ton_cell *data, ton_cell *params,
                                 uint32_t version, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    if (store_int_addr(&b, owner, err) < 0) return NULL;
    ton_builder_store_ref(&b, data);
    ton_builder_store_ref(&b, params);
    ton_builder_store_uint(&b, version, 32);
    return ton_builder_end(&b, err);
}

ton_cell *ton_proxy_info_build(const char *text, cc_err *err)
{
    size_t n = strlen(text);
    if (n > 127) {
        cc_err_set(err, "proxy info text longer than 127 bytes");
        return NULL;
    }
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0, 1);
    ton_builder_store_uint(&b, n, 7);
    ton_builder_store_bytes(&b, text, n);
    return ton_builder_end(&b, err);
}

int ton_proxy_info_parse(ton_slice *s, char *text, size_t out_len, cc_err *err)
{
    uint64_t type, len;
    if (ton_slice_load_uint(s, 1, &type, err) < 0 || ton_slice_load_uint(s, 7, &len, err) < 0)
        return cc_err_prefix(err, "proxy info");
    if (type != 0) return cc_err_set(err, "proxy info: unknown type %u", (unsigned)type);
    if (len + 1 > out_len) return cc_err_set(err, "proxy info: text too long for the buffer");
    if (ton_slice_load_bits(s, (unsigned)len * 8, (uint8_t *)text, err) < 0)
        return cc_err_prefix(err, "proxy info");
    text[len] = 0;
    if (strlen(text) != len) return cc_err_set(err, "proxy info: text contains NUL");
    return 0;
}

ton_cell *ton_body_root_hash(uint32_t op, uint64_t qid, const uint8_t hash[32], cc_err *err)
{
    ton_builder b;
    head(&b, op, qid);
    ton_builder_store_bits(&b, hash, 256);
    return ton_builder_end(&b, err);
}

static ton_cell *proxy_info_body(uint32_t op, uint64_t qid, const uint32_t *seqno, const char *info,
                                 cc_err *err)
{
    ton_cell *pi = ton_proxy_info_build(info, err);
    if (!pi) return NULL;
    ton_builder b;
    head(&b, op, qid);
    if (seqno) ton_builder_store_uint(&b, *seqno, 32);
    ton_builder_store_ref(&b, pi);
    ton_cell_unref(pi);
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_root_register_proxy(uint64_t qid, const char *info, cc_err *err)
{
    return proxy_info_body(TON_OP_ROOT_REGISTER_PROXY, qid, NULL, info, err);
}

ton_cell *ton_body_root_update_proxy(uint64_t qid, uint32_t seqno, const char *info, cc_err *err)
{
    return proxy_info_body(TON_OP_ROOT_UPDATE_PROXY, qid, &seqno, info, err);
}

ton_cell *ton_body_root_unregister_proxy(uint64_t qid, uint32_t seqno, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_ROOT_UNREGISTER_PROXY, qid);
    ton_builder_store_uint(&b, seqno, 32);
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_root_change_price(uint64_t qid, uint64_t price_per_token,
                                     uint64_t worker_fee_per_token, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_ROOT_CHANGE_PRICE, qid);
    ton_builder_store_coins(&b, price_per_token);
    ton_builder_store_coins(&b, worker_fee_per_token);
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_root_change_params(uint64_t qid, const ton_root_change_params *p, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_ROOT_CHANGE_PARAMS, qid);
    ton_builder_store_coins(&b, p->price_per_token);
    ton_builder_store_coins(&b, p->worker_fee_per_token);
    ton_builder_store_uint(&b, p->proxy_delay_before_close, 32);
    ton_builder_store_uint(&b, p->client_delay_before_close, 32);
    ton_builder_store_coins(&b, p->min_proxy_stake);
    ton_builder_store_coins(&b, p->min_client_stake);
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_root_change_params_full(uint64_t qid, ton_cell *params, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_ROOT_CHANGE_PARAMS_FULL, qid);
    ton_builder_store_ref(&b, params);
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_root_upgrade_contracts(uint64_t qid, ton_cell *proxy_code, ton_cell *worker_code,
                                          ton_cell *client_code, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_ROOT_UPGRADE_CONTRACTS, qid);
    ton_builder_store_ref(&b, proxy_code);
    ton_builder_store_ref(&b, worker_code);
    ton_builder_store_ref(&b, client_code);
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_root_change_owner(uint64_t qid, const ton_addr *owner, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_ROOT_CHANGE_OWNER, qid);
    if (store_int_addr(&b, owner, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

/* ------------------------------------------------- client, proxy, worker */

ton_cell *ton_body_coins_addr(uint32_t op, uint64_t qid, uint64_t amount, const ton_addr *excess_to,
                              cc_err *err)
{
    ton_builder b;
    head(&b, op, qid);
    ton_builder_store_coins(&b, amount);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_addr(uint32_t op, uint64_t qid, const ton_addr *excess_to, cc_err *err)
{
    ton_builder b;
    head(&b, op, qid);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_client_change_secret_hash(uint64_t qid, const uint8_t hash[32],
                                             const ton_addr *excess_to, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_CLIENT_CHANGE_SECRET_HASH, qid);
    ton_builder_store_bits(&b, hash, 256);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_client_register(uint64_t qid, uint64_t nonce, const ton_addr *excess_to,
                                   cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_CLIENT_REGISTER, qid);
    ton_builder_store_uint(&b, nonce, 64);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_client_change_secret_hash_and_top_up(uint64_t qid, uint64_t amount,
                                                        const uint8_t hash[32],
                                                        const ton_addr *excess_to, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP, qid);
    ton_builder_store_coins(&b, amount);
    ton_builder_store_bits(&b, hash, 256);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

ton_cell *ton_body_proxy_save_state(uint64_t qid, uint32_t seqno, const uint8_t unique_hash[32],
                                    cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_DO_NOT_PROCESS, qid);
    ton_builder_store_uint(&b, TON_OP_PROXY_SAVE_STATE, 32);
    ton_builder_store_uint(&b, seqno, 32);
    ton_builder_store_bits(&b, unique_hash, 256);
    return ton_builder_end(&b, err);
}

/* --------------------------------------- client/worker -> proxy contract */

static void store_maybe_ref(ton_builder *b, ton_cell *c)
{
    ton_builder_store_uint(b, c ? 1 : 0, 1);
    if (c) ton_builder_store_ref(b, c);
}

ton_cell *ton_body_client_proxy_request(uint64_t qid, const ton_addr *owner,
                                        const ton_client_state_data *st, ton_cell *payload,
                                        cc_err *err)
{
    ton_builder sb;
    ton_builder_init(&sb);
    ton_builder_store_uint(&sb, st->state, 2);
    ton_builder_store_coins(&sb, st->balance);
    ton_builder_store_coins(&sb, st->stake);
    ton_builder_store_uint(&sb, st->tokens_used, 64);
    ton_builder_store_bits(&sb, st->secret_hash, 256);
    ton_cell *state = ton_builder_end(&sb, err);
    if (!state) return NULL;
    ton_builder b;
    head(&b, TON_OP_CLIENT_PROXY_REQUEST, qid);
    if (store_int_addr(&b, owner, err) < 0) {
        ton_cell_unref(state);
        return NULL;
    }
    ton_builder_store_ref(&b, state);
    ton_cell_unref(state);
    store_maybe_ref(&b, payload);
    return ton_builder_end(&b, err);
}

ton_cell *ton_payload_client_proxy_coins(uint32_t op, uint64_t amount, const ton_addr *excess_to,
                                         cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, op, 32);
    ton_builder_store_coins(&b, amount);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

ton_cell *ton_payload_client_proxy_register(uint64_t nonce, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, TON_OP_CLIENT_PROXY_REGISTER, 32);
    ton_builder_store_uint(&b, nonce, 64);
    return ton_builder_end(&b, err);
}

int ton_client_proxy_request_parse(const ton_cell *body, ton_client_proxy_msg *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    ton_slice s, ss;
    uint64_t op, qid, v;
    const ton_cell *state, *payload;
    ton_slice_init(&s, body);
    if (ton_slice_load_uint(&s, 32, &op, err) < 0) return cc_err_prefix(err, "op");
    if (op != TON_OP_CLIENT_PROXY_REQUEST)
        return cc_err_set(err, "op 0x%08llx is not client_proxy_request", (unsigned long long)op);
    if (ton_slice_load_uint(&s, 64, &qid, err) < 0) return cc_err_prefix(err, "query_id");
    if (ton_slice_load_addr(&s, &out->owner, err) < 0) return cc_err_prefix(err, "owner");
    if (out->owner.none) return cc_err_set(err, "owner: no address");
    if (ton_slice_load_ref(&s, &state, err) < 0) return cc_err_prefix(err, "state");
    if (ton_slice_load_maybe_ref(&s, &payload, err) < 0) return cc_err_prefix(err, "payload");
    if (ton_slice_expect_end(&s, err) < 0) return cc_err_prefix(err, "body");
    ton_slice_init(&ss, state);
    if (ton_slice_load_uint(&ss, 2, &v, err) < 0) return cc_err_prefix(err, "state.state");
    out->st.state = (uint32_t)v;
    if (ton_slice_load_coins(&ss, &out->st.balance, err) < 0 ||
        ton_slice_load_coins(&ss, &out->st.stake, err) < 0 ||
        ton_slice_load_uint(&ss, 64, &out->st.tokens_used, err) < 0 ||
        ton_slice_load_bits(&ss, 256, out->st.secret_hash, err) < 0 ||
        ton_slice_expect_end(&ss, err) < 0)
        return cc_err_prefix(err, "state");
    if (!payload) return 0;
    out->has_payload = true;
    ton_slice_init(&ss, payload);
    if (ton_slice_load_uint(&ss, 32, &v, err) < 0) return cc_err_prefix(err, "payload op");
    out->payload_op = (uint32_t)v;
    if (v != TON_OP_CLIENT_PROXY_REGISTER) return 0;
    if (ton_slice_load_uint(&ss, 64, &out->nonce, err) < 0 || ton_slice_expect_end(&ss, err) < 0)
        return cc_err_prefix(err, "register nonce");
    out->has_nonce = true;
    return 0;
}

ton_cell *ton_body_worker_proxy_request(uint64_t qid, const ton_addr *owner, uint32_t state,
                                        uint64_t tokens, ton_cell *payload, cc_err *err)
{
    ton_builder b;
    head(&b, TON_OP_WORKER_PROXY_REQUEST, qid);
    if (store_int_addr(&b, owner, err) < 0) return NULL;
    ton_builder_store_uint(&b, state, 2);
    ton_builder_store_uint(&b, tokens, 64);
    store_maybe_ref(&b, payload);
    return ton_builder_end(&b, err);
}

ton_cell *ton_payload_worker_proxy_payout(uint64_t worker_part, uint64_t proxy_part,
                                          const ton_addr *excess_to, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, TON_OP_WORKER_PROXY_PAYOUT_REQUEST, 32);
    ton_builder_store_coins(&b, worker_part);
    ton_builder_store_coins(&b, proxy_part);
    if (store_int_addr(&b, excess_to, err) < 0) return NULL;
    return ton_builder_end(&b, err);
}

/* ------------------------------------------------ initial data, StateInit */

/* The params cell a party contract keeps: p with only the codes in `keep`
 * (COCOON's serialize_params_cell(mask): 1 proxy, 2 worker, 4 client). */
enum { KEEP_PROXY = 1, KEEP_WORKER = 2, KEEP_CLIENT = 4 };
static ton_cell *params_cell(const ton_root_params *p, int keep, cc_err *err)
{
    ton_root_params q = *p;
    if (!(keep & KEEP_PROXY)) q.proxy_code = NULL;
    if (!(keep & KEEP_WORKER)) q.worker_code = NULL;
    if (!(keep & KEEP_CLIENT)) q.client_code = NULL;
    return ton_root_params_build(&q, err);
}

ton_cell *ton_client_contract_data(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err)
{
    ton_builder cb;
    ton_builder_init(&cb);
    if (store_int_addr(&cb, owner, err) < 0 || store_int_addr(&cb, proxy_contract, err) < 0)
        return NULL;
    ton_builder_store_bits(&cb, proxy_pub, 256);
    ton_cell *consts = ton_builder_end(&cb, err);
    if (!consts) return NULL;
    ton_cell *params = params_cell(p, 0, err);
    if (!params) {
        ton_cell_unref(consts);
        return NULL;
    }
    uint8_t zero[32] = {0};
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0, 2); /* state open */
    ton_builder_store_coins(&b, 0);   /* balance */
    ton_builder_store_coins(&b, p->min_client_stake);
    ton_builder_store_uint(&b, 0, 64);     /* tokens_used */
    ton_builder_store_uint(&b, 0, 32);     /* unlock_ts */
    ton_builder_store_bits(&b, zero, 256); /* secret_hash */
    ton_builder_store_ref(&b, consts);
    ton_builder_store_ref(&b, params);
    ton_cell_unref(consts);
    ton_cell_unref(params);
    return ton_builder_end(&b, err);
}

ton_cell *ton_worker_contract_data(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err)
{
    ton_cell *params = params_cell(p, 0, err);
    if (!params) return NULL;
    ton_builder b;
    ton_builder_init(&b);
    if (store_int_addr(&b, owner, err) < 0 || store_int_addr(&b, proxy_contract, err) < 0) {
        ton_cell_unref(params);
        return NULL;
    }
    ton_builder_store_bits(&b, proxy_pub, 256);
    ton_builder_store_uint(&b, 0, 2);  /* state */
    ton_builder_store_uint(&b, 0, 64); /* tokens */
    ton_builder_store_ref(&b, params);
    ton_cell_unref(params);
    return ton_builder_end(&b, err);
}

ton_cell *ton_proxy_contract_data(const ton_addr *owner, const ton_addr *root,
                                  const uint8_t proxy_pub[32], const ton_root_params *p,
                                  cc_err *err)
{
    ton_cell *params = params_cell(p, KEEP_WORKER | KEEP_CLIENT, err);
    if (!params) return NULL;
    ton_builder b;
    ton_builder_init(&b);
    if (store_int_addr(&b, owner, err) < 0) {
        ton_cell_unref(params);
        return NULL;
    }
    ton_builder_store_bits(&b, proxy_pub, 256);
    if (store_int_addr(&b, root, err) < 0) {
        ton_cell_unref(params);
        return NULL;
    }
    ton_builder_store_uint(&b, 0, 2);  /* state */
    ton_builder_store_coins(&b, 0);    /* balance */
    ton_builder_store_coins(&b, 0);    /* stake */
    ton_builder_store_uint(&b, 0, 32); /* unlock_ts */
    ton_builder_store_ref(&b, params);
    ton_cell_unref(params);
    return ton_builder_end(&b, err);
}

static ton_cell *init_with(ton_cell *code, ton_cell *data, const char *what, cc_err *err)
{
    if (!data) return NULL;
    ton_cell *si = NULL;
    if (!code)
        cc_err_set(err, "%s contract code is missing from the root params", what);
    else
        si = ton_state_init(code, data, err);
    ton_cell_unref(data);
    return si;
}

ton_cell *ton_client_contract_init(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err)
{
    return init_with(p->client_code,
                     ton_client_contract_data(owner, proxy_contract, proxy_pub, p, err), "client",
                     err);
}

ton_cell *ton_worker_contract_init(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err)
{
    return init_with(p->worker_code,
                     ton_worker_contract_data(owner, proxy_contract, proxy_pub, p, err), "worker",
                     err);
}

ton_cell *ton_proxy_contract_init(const ton_addr *owner, const ton_addr *root,
                                  const uint8_t proxy_pub[32], const ton_root_params *p,
                                  cc_err *err)
{
    return init_with(p->proxy_code, ton_proxy_contract_data(owner, root, proxy_pub, p, err),
                     "proxy", err);
}

ton_cell *ton_body_op_qid(uint32_t op, uint64_t qid, cc_err *err)
{
    ton_builder b;
    head(&b, op, qid);
    return ton_builder_end(&b, err);
}
