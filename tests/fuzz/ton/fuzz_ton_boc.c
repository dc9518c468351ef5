/* Fuzzes the bag-of-cells parser and everything that reads parsed cells from
 * outside: a parsed bag must re-serialize and parse back to the same hash, and
 * the voucher, dictionary and message readers must fail cleanly on any cell. */
#include <stdint.h>
#include <stdlib.h>

#include "ton/ton.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
    uint8_t h[32];
    ton_msg_external_normalized_hash(c, h, &err);
    ton_dict d;
    if (ton_dict_parse(&d, c, 1 + (unsigned)(size % 256), &err) == 0) ton_dict_free(&d);
    ton_root_params p;
    if (ton_root_params_parse(c, &p, &err) == 0) ton_root_params_clear(&p);
    ton_root_data rd;
    if (ton_root_data_parse(c, &rd, &err) == 0) ton_root_data_free(&rd);
    ton_cell_unref(c);
    return 0;
}
