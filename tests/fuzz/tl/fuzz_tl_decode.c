/* Fuzz target for the TL decoder (every constructor of the schema): decoding
 * must never crash, leak or over-read, and whatever decodes must re-encode to
 * bytes that decode again to the same encoding (canonical round trip). */
#include <stdlib.h>
#include <string.h>

#include "tl/tl.h"

static void check_round_trip(const tl_obj *o)
{
    cc_buf a = CC_BUF_INIT, b = CC_BUF_INIT;
    cc_err err = {0};
    if (tl_encode(o, &a, &err) != 0) abort(); /* a decoded object is always encodable */
    tl_obj *again = tl_decode(a.data, a.len, &err);
    if (!again || !tl_obj_equal(o, again) || tl_encode(again, &b, &err) != 0 || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0)
        abort();
    tl_obj_free(again);
    cc_buf_reset(&b);
    tl_obj_dump(o, &b, 64);
    if (b.len < 2 || b.data[0] != '{' || b.data[b.len - 1] != '}') abort();
    cc_buf_free(&a);
    cc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err = {0};
    tl_obj *o = tl_decode(data, size, &err);
    if (o) {
        check_round_trip(o);
        tl_obj_free(o);
    } else if (!err.msg[0]) {
        abort(); /* every rejection says why */
    }
    /* Borrow mode and a type restriction take other paths. */
    tl_decode_opts opts = {.flags = TL_DECODE_BORROW,
                           .max_depth = size ? 1 + data[size - 1] % 8 : 0,
                           .expect_type = size ? data[0] % TL_TYPE_COUNT : 0};
    o = tl_decode_ex(data, size, &opts, &err);
    if (o) {
        check_round_trip(o);
        tl_obj_free(o);
    }
    return 0;
}
