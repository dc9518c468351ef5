/* Readers of the cocoon contracts' get-method results and fetchers that call
 * them over the TON HTTP API (contracts/SPEC.md get-method tables). */
#include "ton/ton_internal.h"

#include <string.h>

static int want_entries(const ton_stack *st, size_t n, const char *what, cc_err *err)
{
    /* exact: a stack of another shape is another get-method or another contract */
    if (st->n != n) return cc_err_set(err, "%s: %zu stack entries, expected %zu", what, st->n, n);
    return 0;
}

static int u32_at(const ton_stack *st, size_t i, uint32_t *out, cc_err *err)
{
    uint64_t v;
    if (ton_stack_uint64(st, i, &v, err) < 0) return -1;
    if (v > UINT32_MAX) return cc_err_set(err, "stack entry %zu exceeds 32 bits", i);
    *out = (uint32_t)v;
    return 0;
}

int ton_root_params_from_stack(const ton_stack *st, ton_root_params *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (want_entries(st, 17, "get_params", err) < 0) return -1;
    uint32_t v[14];
    int64_t is_test;
    uint64_t coins[4];
    /* order: struct_version params_version unique_id is_test price fee 4 mults 2 delays 2 stakes */
    if (u32_at(st, 0, &v[0], err) < 0 || u32_at(st, 1, &v[1], err) < 0 ||
        u32_at(st, 2, &v[2], err) < 0 || ton_stack_int64(st, 3, &is_test, err) < 0 ||
        ton_stack_uint64(st, 4, &coins[0], err) < 0 || ton_stack_uint64(st, 5, &coins[1], err) < 0)
        return cc_err_prefix(err, "get_params");
    for (size_t i = 6; i < 12; i++)
        if (u32_at(st, i, &v[i], err) < 0) return cc_err_prefix(err, "get_params");
    if (ton_stack_uint64(st, 12, &coins[2], err) < 0 ||
        ton_stack_uint64(st, 13, &coins[3], err) < 0)
        return cc_err_prefix(err, "get_params");
    const ton_cell *codes[3];
    for (size_t i = 0; i < 3; i++)
        if (ton_stack_cell(st, 14 + i, &codes[i], err) < 0) return cc_err_prefix(err, "get_params");
    if (v[0] > 255) return cc_err_set(err, "get_params: struct_version %u", v[0]);
    out->struct_version = (uint8_t)v[0];
    out->params_version = v[1];
    out->unique_id = v[2];
    out->is_test = is_test != 0;
    out->price_per_token = coins[0];
    out->worker_fee_per_token = coins[1];
    out->prompt_mult = v[6];
    out->cached_mult = v[7];
    out->completion_mult = v[8];
    out->reasoning_mult = v[9];
    out->proxy_delay_before_close = v[10];
    out->client_delay_before_close = v[11];
    out->min_proxy_stake = coins[2];
    out->min_client_stake = coins[3];
    out->proxy_code = ton_cell_ref((ton_cell *)codes[0]);
    out->worker_code = ton_cell_ref((ton_cell *)codes[1]);
    out->client_code = ton_cell_ref((ton_cell *)codes[2]);
    return 0;
}

void ton_root_state_free(ton_root_state *s)
{
    ton_root_params_clear(&s->params);
    ton_root_data_free(&s->data);
    memset(s, 0, sizeof *s);
}

/* Runs a get-method without arguments and hands the stack to `read`. */
typedef int (*stack_reader)(const ton_stack *st, void *out, cc_err *err);

static int run_and_read(ton_api *api, const ton_addr *addr, const char *method, stack_reader read,
                        void *out, cc_err *err)
{
    ton_stack st;
    if (ton_api_run_get_method(api, addr, method, NULL, 0, &st, err) < 0) return -1;
    int rc = read(&st, out, err);
    ton_stack_free(&st);
    if (rc < 0) cc_err_prefix(err, "%s", method);
    return rc;
}

static int read_version(const ton_stack *st, void *out, cc_err *err)
{
    return u32_at(st, 0, out, err);
}

static int read_owner(const ton_stack *st, void *out, cc_err *err)
{
    return ton_stack_addr(st, 0, out, err);
}

static int read_params(const ton_stack *st, void *out, cc_err *err)
{
    return ton_root_params_from_stack(st, out, err);
}

static int read_data(const ton_stack *st, void *out, cc_err *err)
{
    const ton_cell *c;
    if (ton_stack_cell(st, 0, &c, err) < 0) return -1;
    if (!c) return cc_err_set(err, "data cell is null");
    return ton_root_data_parse(c, out, err);
}

int ton_root_fetch(ton_api *api, const ton_addr *root, ton_root_state *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    ton_root_data_init(&out->data);
    if (run_and_read(api, root, "get_version", read_version, &out->version, err) < 0 ||
        run_and_read(api, root, "get_owner", read_owner, &out->owner, err) < 0 ||
        run_and_read(api, root, "get_params", read_params, &out->params, err) < 0 ||
        run_and_read(api, root, "get_data_cell", read_data, &out->data, err) < 0) {
        ton_root_state_free(out);
        return cc_err_prefix(err, "root registry");
    }
    return 0;
}

int ton_root_state_from_storage(const ton_cell *storage, ton_root_state *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    ton_root_data_init(&out->data);
    ton_slice s;
    ton_slice_init(&s, storage);
    const ton_cell *data = NULL, *params = NULL;
    uint64_t version = 0;
    if (ton_slice_load_addr(&s, &out->owner, err) < 0 || ton_slice_load_ref(&s, &data, err) < 0 ||
        ton_slice_load_ref(&s, &params, err) < 0 ||
        ton_slice_load_uint(&s, 32, &version, err) < 0 || ton_slice_expect_end(&s, err) < 0 ||
        ton_root_data_parse(data, &out->data, err) < 0 ||
        ton_root_params_parse(params, &out->params, err) < 0) {
        ton_root_state_free(out);
        return cc_err_prefix(err, "root storage");
    }
    out->version = (uint32_t)version;
    return 0;
}

int ton_client_state_from_stack(const ton_stack *st, ton_client_state *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (want_entries(st, 6, "get_client_data", err) < 0) return -1;
    if (u32_at(st, 0, &out->state, err) < 0 || ton_stack_uint64(st, 1, &out->balance, err) < 0 ||
        ton_stack_uint64(st, 2, &out->stake, err) < 0 ||
        ton_stack_uint64(st, 3, &out->tokens_used, err) < 0 ||
        u32_at(st, 4, &out->unlock_ts, err) < 0 ||
        ton_stack_uint256(st, 5, out->secret_hash, err) < 0)
        return cc_err_prefix(err, "get_client_data");
    return 0;
}

int ton_proxy_state_from_stack(const ton_stack *st, ton_proxy_state *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (want_entries(st, 4, "get_proxy_data", err) < 0) return -1;
    if (u32_at(st, 0, &out->state, err) < 0 || ton_stack_uint64(st, 1, &out->balance, err) < 0 ||
        ton_stack_uint64(st, 2, &out->stake, err) < 0 || u32_at(st, 3, &out->unlock_ts, err) < 0)
        return cc_err_prefix(err, "get_proxy_data");
    return 0;
}

int ton_worker_state_from_stack(const ton_stack *st, ton_worker_state *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (want_entries(st, 5, "get_worker_data", err) < 0) return -1;
    if (u32_at(st, 0, &out->state, err) < 0 || ton_stack_uint64(st, 1, &out->tokens, err) < 0 ||
        ton_stack_addr(st, 2, &out->owner, err) < 0 ||
        ton_stack_addr(st, 3, &out->proxy_contract, err) < 0 ||
        ton_stack_uint256(st, 4, out->proxy_pub, err) < 0)
        return cc_err_prefix(err, "get_worker_data");
    return 0;
}

/* A get-method's result as the API returns it: the stack parsed, TVM's two
 * success codes (0, 1) accepted and any other named, then read. */
static int from_result(const json_t *result, const char *method, stack_reader read, void *out,
                       cc_err *err)
{
    ton_stack st;
    if (!result) return cc_err_set(err, "%s: no result", method);
    if (ton_stack_parse_json(result, &st, err) < 0) return cc_err_prefix(err, "%s", method);
    int rc = st.exit_code == 0 || st.exit_code == 1
                 ? read(&st, out, err)
                 : cc_err_set(err, "%s: exit code %d", method, st.exit_code);
    ton_stack_free(&st);
    return rc;
}

static int read_client(const ton_stack *st, void *out, cc_err *err)
{
    return ton_client_state_from_stack(st, out, err);
}
static int read_proxy(const ton_stack *st, void *out, cc_err *err)
{
    return ton_proxy_state_from_stack(st, out, err);
}
static int read_worker(const ton_stack *st, void *out, cc_err *err)
{
    return ton_worker_state_from_stack(st, out, err);
}

int ton_client_state_from_result(const json_t *result, ton_client_state *out, cc_err *err)
{
    return from_result(result, "get_client_data", read_client, out, err);
}

int ton_proxy_state_from_result(const json_t *result, ton_proxy_state *out, cc_err *err)
{
    return from_result(result, "get_proxy_data", read_proxy, out, err);
}

int ton_worker_state_from_result(const json_t *result, ton_worker_state *out, cc_err *err)
{
    return from_result(result, "get_worker_data", read_worker, out, err);
}

int ton_client_state_fetch(ton_api *api, const ton_addr *addr, ton_client_state *out, cc_err *err)
{
    return run_and_read(api, addr, "get_client_data", read_client, out, err);
}

int ton_proxy_state_fetch(ton_api *api, const ton_addr *addr, ton_proxy_state *out, cc_err *err)
{
    return run_and_read(api, addr, "get_proxy_data", read_proxy, out, err);
}

int ton_worker_state_fetch(ton_api *api, const ton_addr *addr, ton_worker_state *out, cc_err *err)
{
    return run_and_read(api, addr, "get_worker_data", read_worker, out, err);
}

static json_t *hash_list(const ton_dict *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        char hex[65];
        cc_hex_encode(d->items[i].key, 32, hex);
        json_array_append_new(arr, json_string(hex));
    }
    return arr;
}

json_t *ton_root_state_to_registry_json(const ton_root_state *s)
{
    const ton_root_params *p = &s->params;
    json_t *params = json_pack(
        "{s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "params_version",
        (json_int_t)p->params_version, "is_test", p->is_test, "price_per_token",
        (json_int_t)p->price_per_token, "worker_fee_per_token", (json_int_t)p->worker_fee_per_token,
        "prompt_multiplier", (json_int_t)p->prompt_mult, "cached_multiplier",
        (json_int_t)p->cached_mult, "completion_multiplier", (json_int_t)p->completion_mult,
        "reasoning_multiplier", (json_int_t)p->reasoning_mult, "proxy_delay_before_close",
        (json_int_t)p->proxy_delay_before_close, "client_delay_before_close",
        (json_int_t)p->client_delay_before_close, "min_proxy_stake", (json_int_t)p->min_proxy_stake,
        "min_client_stake", (json_int_t)p->min_client_stake);
    json_t *proxies = json_array();
    for (size_t i = 0; i < s->data.proxies.n; i++) {
        const ton_dict_entry *e = &s->data.proxies.items[i];
        ton_slice sl;
        ton_slice_init(&sl, e->value);
        char text[128];
        if (ton_proxy_info_parse(&sl, text, sizeof text, NULL) < 0)
            continue; /* an unreadable entry is not a proxy anyone can dial */
        uint32_t seqno = (uint32_t)e->key[0] << 24 | (uint32_t)e->key[1] << 16 |
                         (uint32_t)e->key[2] << 8 | e->key[3];
        char *space = strchr(text, ' ');
        if (space) *space = 0;
        /* text from the chain may not be UTF-8: such an entry is skipped */
        json_t *addr = json_string(space ? space + 1 : text);
        json_t *waddr = space ? json_string(text) : NULL;
        if (!addr || (space && !waddr)) {
            json_decref(addr);
            json_decref(waddr);
            continue;
        }
        json_t *item = json_pack("{s:I,s:o}", "seqno", (json_int_t)seqno, "address", addr);
        if (waddr) json_object_set_new(item, "worker_address", waddr);
        json_array_append_new(proxies, item);
    }
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "version", (json_int_t)s->version, "params",
                     params, "proxy_image_hashes", hash_list(&s->data.proxy_hashes),
                     "worker_image_hashes", hash_list(&s->data.worker_hashes), "model_hashes",
                     hash_list(&s->data.model_hashes), "proxies", proxies);
}
