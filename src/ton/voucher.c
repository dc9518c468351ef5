/* Payment vouchers and signed proxy close requests (contracts/SPEC.md §0.3):
 * built and signed by the proxy, checked by clients and workers before they
 * relay them. */
#include "ton/ton_internal.h"

#include <string.h>

#include "crypto/crypto.h"

static bool is_close_op(uint32_t op)
{
    return op == TON_OP_PROXY_CLOSE_SIGNED || op == TON_OP_PROXY_CLOSE_COMPLETE_SIGNED;
}

ton_cell *ton_voucher_inner(const ton_voucher *v, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, v->op, 32);
    ton_builder_store_uint(&b, v->query_id, 64);
    if (!is_close_op(v->op)) ton_builder_store_uint(&b, v->tokens, 64);
    if (v->target.none) {
        ton_builder_clear(&b);
        cc_err_set(err, "voucher target must be a contract address");
        return NULL;
    }
    ton_builder_store_addr(&b, &v->target);
    return ton_builder_end(&b, err);
}

ton_cell *ton_voucher_outer(const ton_voucher *v, cc_err *err)
{
    if (v->excess_to.none) {
        cc_err_set(err, "voucher excess_to must be an address");
        return NULL;
    }
    ton_cell *inner = ton_voucher_inner(v, err);
    if (!inner) return NULL;
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, v->op, 32);
    ton_builder_store_uint(&b, v->query_id, 64);
    ton_builder_store_addr(&b, &v->excess_to);
    ton_builder_store_bits(&b, v->signature, 512);
    ton_builder_store_ref(&b, inner);
    ton_cell_unref(inner);
    return ton_builder_end(&b, err);
}

ton_cell *ton_voucher_sign(ton_voucher *v, const uint8_t priv[32], cc_err *err)
{
    v->is_close = is_close_op(v->op);
    ton_cell *inner = ton_voucher_inner(v, err);
    if (!inner) return NULL;
    int rc = crypto_ed25519_sign(priv, ton_cell_hash(inner), 32, v->signature, err);
    ton_cell_unref(inner);
    return rc < 0 ? NULL : ton_voucher_outer(v, err);
}

int ton_voucher_parse(const ton_cell *outer, ton_voucher *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    ton_slice s;
    ton_slice_init(&s, outer);
    uint64_t op, qid;
    const ton_cell *inner;
    if (ton_slice_load_uint(&s, 32, &op, err) < 0 || ton_slice_load_uint(&s, 64, &qid, err) < 0 ||
        ton_slice_load_addr(&s, &out->excess_to, err) < 0 ||
        ton_slice_load_bits(&s, 512, out->signature, err) < 0 ||
        ton_slice_load_ref(&s, &inner, err) < 0 || ton_slice_expect_end(&s, err) < 0)
        return cc_err_prefix(err, "voucher");
    out->op = (uint32_t)op;
    out->query_id = qid;
    out->is_close = is_close_op(out->op);
    ton_slice in;
    ton_slice_init(&in, inner);
    uint64_t iop, iqid;
    if (ton_slice_load_uint(&in, 32, &iop, err) < 0 || ton_slice_load_uint(&in, 64, &iqid, err) < 0)
        return cc_err_prefix(err, "voucher inner cell");
    if (iop != op || iqid != qid)
        return cc_err_set(err, "voucher inner op/query_id differ from the outer ones");
    if (!out->is_close && ton_slice_load_uint(&in, 64, &out->tokens, err) < 0)
        return cc_err_prefix(err, "voucher inner cell");
    if (ton_slice_load_addr(&in, &out->target, err) < 0 || ton_slice_expect_end(&in, err) < 0)
        return cc_err_prefix(err, "voucher inner cell");
    if (out->target.none) return cc_err_set(err, "voucher target is addr_none");
    return 0;
}

int ton_voucher_verify(const ton_cell *outer, const uint8_t pub[32], ton_voucher *out, cc_err *err)
{
    if (ton_voucher_parse(outer, out, err) < 0) return -1;
    const ton_cell *inner = outer->refs[0];
    if (!crypto_ed25519_verify(pub, ton_cell_hash(inner), 32, out->signature))
        return cc_err_set(err, "voucher signature does not verify");
    return 0;
}
