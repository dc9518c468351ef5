/* TON library throughput: BoC parse and serialize of bags of growing size (the
 * time per cell should stay flat: both directions are linear), wallet v5r1
 * transfer construction + signing, and voucher signing/verification.
 * Prints one JSON line per figure. usage: bench_ton [SECONDS_PER_OP] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "ton/ton.h"

/* A tree of distinct cells: each cell has up to 4 children, n cells in all. */
static ton_cell *build_tree(size_t n, size_t *counter)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, (*counter)++, 64);
    ton_builder_store_uint(&b, 0xdeadbeef, 32);
    for (int i = 0; i < 4 && *counter < n; i++) {
        size_t share = (n - *counter) / (size_t)(4 - i);
        if (share == 0) share = 1;
        size_t target = *counter + share;
        ton_cell *child = build_tree(target, counter);
        ton_builder_store_ref(&b, child);
        ton_cell_unref(child);
    }
    return ton_builder_end(&b, NULL);
}

static void emit(const char *op, size_t cells, double secs, size_t iters, double per_unit_ns)
{
    printf(
        "{\"bench\":\"ton\",\"op\":\"%s\",\"cells\":%zu,\"ops_per_s\":%.1f,\"ns_per_cell\":%.1f}\n",
        op, cells, iters / secs, per_unit_ns);
}

int main(int argc, char **argv)
{
    double budget = argc > 1 ? atof(argv[1]) : 0.5;
    size_t sizes[] = {1000, 10000, 100000};
    for (size_t si = 0; si < 3; si++) {
        size_t counter = 0;
        ton_cell *root = build_tree(sizes[si], &counter);
        size_t cells = ton_cell_count(root);
        cc_buf boc = CC_BUF_INIT;
        double t0 = cc_now_mono(), t;
        size_t it = 0;
        do {
            cc_buf_reset(&boc);
            ton_boc_serialize(root, (ton_boc_opts){.crc32c = true}, &boc, NULL);
            it++;
        } while ((t = cc_now_mono() - t0) < budget);
        emit("boc_serialize", cells, t, it, t / it / cells * 1e9);
        t0 = cc_now_mono();
        it = 0;
        do {
            ton_cell *c = ton_boc_parse(boc.data, boc.len, NULL);
            if (!c) abort();
            ton_cell_unref(c);
            it++;
        } while ((t = cc_now_mono() - t0) < budget);
        emit("boc_parse", cells, t, it, t / it / cells * 1e9);
        cc_buf_free(&boc);
        ton_cell_unref(root);
    }

    uint8_t priv[32], pub[32];
    crypto_ed25519_keygen(priv, pub);
    ton_wallet w;
    ton_wallet_init(&w, TON_WALLET_V5R1, 0, pub, TON_GLOBAL_ID_MAINNET);
    ton_addr dest = {.wc = 0};
    memset(dest.hash, 0x42, 32);
    double t0 = cc_now_mono(), t;
    size_t it = 0;
    do {
        ton_cell *body = ton_msg_comment("benchmark", NULL);
        ton_int_msg m = {.dest = dest, .value = 1000000, .body = body};
        ton_cell *msg = ton_msg_internal(&m, NULL);
        ton_out_msg om = {.mode = 3, .msg = msg};
        ton_cell *ext =
            ton_wallet_transfer(&w, priv, (uint32_t)it, 1700000000, &om, 1, false, NULL);
        if (!ext) abort();
        ton_cell_unref(ext);
        ton_cell_unref(msg);
        ton_cell_unref(body);
        it++;
    } while ((t = cc_now_mono() - t0) < budget);
    printf("{\"bench\":\"ton\",\"op\":\"wallet_v5r1_transfer\",\"ops_per_s\":%.1f}\n", it / t);

    ton_voucher v = {.op = TON_OP_CLIENT_CHARGE_SIGNED, .target = dest, .excess_to = dest};
    ton_cell *last = NULL;
    t0 = cc_now_mono();
    it = 0;
    do {
        v.tokens = it;
        ton_cell_unref(last);
        last = ton_voucher_sign(&v, priv, NULL);
        it++;
    } while ((t = cc_now_mono() - t0) < budget);
    printf("{\"bench\":\"ton\",\"op\":\"voucher_sign\",\"ops_per_s\":%.1f}\n", it / t);
    t0 = cc_now_mono();
    it = 0;
    do {
        ton_voucher out;
        if (ton_voucher_verify(last, pub, &out, NULL) != 0) abort();
        it++;
    } while ((t = cc_now_mono() - t0) < budget);
    printf("{\"bench\":\"ton\",\"op\":\"voucher_verify\",\"ops_per_s\":%.1f}\n", it / t);
    ton_cell_unref(last);
    return 0;
}
