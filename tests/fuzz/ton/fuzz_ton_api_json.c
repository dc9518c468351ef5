/* Fuzzes the TON HTTP API v2 reply readers: envelope, runGetMethod stacks and
 * the typed readers of the contracts' get-method results, account, wallet and
 * transaction objects (all outside input). */
#include <stdint.h>
#include <stdlib.h>

#include "ton/ton.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err;
    /* An error status takes the path that quotes the (unterminated) body. */
    json_decref(ton_api_parse_reply((const char *)data, size, 502, &err));
    json_t *r = ton_api_parse_reply((const char *)data, size, 200, &err);
    if (!r) return 0;
    ton_stack st;
    if (ton_stack_parse_json(r, &st, &err) == 0) {
        int64_t i;
        uint64_t u;
        uint8_t h[32];
        const ton_cell *c;
        ton_addr a;
        for (size_t k = 0; k < st.n; k++) {
            ton_stack_int64(&st, k, &i, &err);
            ton_stack_uint64(&st, k, &u, &err);
            ton_stack_uint256(&st, k, h, &err);
            ton_stack_cell(&st, k, &c, &err);
            ton_stack_addr(&st, k, &a, &err);
        }
        ton_root_params p;
        if (ton_root_params_from_stack(&st, &p, &err) == 0) ton_root_params_clear(&p);
        ton_client_state cs;
        ton_client_state_from_stack(&st, &cs, &err);
        ton_proxy_state ps;
        ton_proxy_state_from_stack(&st, &ps, &err);
        ton_worker_state ws;
        ton_worker_state_from_stack(&st, &ws, &err);
        ton_stack_free(&st);
    }
    /* The one reading of a get-method result the daemons share. */
    ton_client_state cs;
    ton_client_state_from_result(r, &cs, &err);
    ton_proxy_state ps;
    ton_proxy_state_from_result(r, &ps, &err);
    ton_worker_state ws;
    ton_worker_state_from_result(r, &ws, &err);
    ton_account acc;
    if (ton_account_from_json(r, &acc, &err) == 0) ton_account_clear(&acc);
    ton_wallet_info wi;
    ton_wallet_info_from_json(r, &wi, &err);
    ton_tx *txs;
    size_t n;
    if (ton_txs_from_json(r, &txs, &n, &err) == 0) free(txs);
    json_decref(r);
    return 0;
}
