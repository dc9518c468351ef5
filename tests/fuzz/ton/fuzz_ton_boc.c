/* Fuzzes the bag-of-cells parser (binary, and the hex / base64 text forms) and
 * everything that reads parsed cells from outside: a parsed bag must
 * re-serialize and parse back to the same hash, and the voucher, dictionary,
 * message, registry, root storage and client_proxy_request readers must fail
 * cleanly on any cell. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ton/ton.h"

/* The text forms `cocoon ton boc` and the API replies accept. */
static void parse_text_forms(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    cc_err err;
    ton_cell_unref(ton_boc_parse_hex(text, &err));
    ton_cell_unref(ton_boc_parse_base64(text, &err));
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_text_forms(data, size);
    cc_err err;
    ton_cell *c = ton_boc_parse(data, size, &err);
    if (!c) return 0;
    cc_buf out = CC_BUF_INIT;
    if (ton_boc_serialize(c, (ton_boc_opts){.crc32c = true, .index = (size & 1) != 0}, &out,
                          &err) != 0)
        abort();
    ton_cell *again = ton_boc_parse(out.data, out.len, &err);
    if (!again || !ton_cell_equal(again, c)) abort();
    ton_cell_unref(again);
    cc_buf_free(&out);

    ton_voucher v;
    ton_voucher_parse(c, &v, &err);
    static const uint8_t pub[32] = {1};
    ton_voucher_verify(c, pub, &v, &err);
    ton_slice s;
    ton_slice_init(&s, c);
    char text[128];
    ton_proxy_info_parse(&s, text, sizeof text, &err);
    uint8_t h[32];
    ton_msg_external_normalized_hash(c, h, &err);
    ton_dict d;
    if (ton_dict_parse(&d, c, 1 + (unsigned)(size % 256), &err) == 0) ton_dict_free(&d);
    ton_client_proxy_msg cpm;
    ton_client_proxy_request_parse(c, &cpm, &err);
    ton_root_params p;
    if (ton_root_params_parse(c, &p, &err) == 0) ton_root_params_clear(&p);
    ton_root_data rd;
    if (ton_root_data_parse(c, &rd, &err) == 0) {
        /* what `cocoon root show --registry-json` prints of a chain's registry */
        ton_root_state st = {.data = rd};
        json_decref(ton_root_state_to_registry_json(&st));
        ton_root_data_free(&rd);
    }
    /* the root's storage as daemons read it from getAddressInformation */
    ton_root_state rs;
    if (ton_root_state_from_storage(c, &rs, &err) == 0) {
        json_decref(ton_root_state_to_registry_json(&rs));
        ton_root_state_free(&rs);
    }
    ton_cell_unref(c);
    return 0;
}
