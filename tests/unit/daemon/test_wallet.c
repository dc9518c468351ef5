/*
 * The daemon's wallet (daemon_wallet.c) against a fake TON HTTP API on a
 * loopback port that plays a wallet v5r1: it answers getAddressInformation
 * with the wallet's data (seqno), and on sendBoc checks the transfer's seqno,
 * counts its messages and lands it, or fails, loses the reply or drops the
 * message as a test asks. Also the key file formats and their refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto/crypto.h"
#include "daemon/daemon.h"

#define MAX_DONE 64

typedef struct fake {
    struct event_base *base;
    http_server *srv;
    char url[96];
    ton_wallet wallet;
    bool active;
    uint32_t seqno;
    uint64_t balance, now;
    uint64_t advance_per_read; /* chain seconds each read moves the clock */
    int fail_reads;            /* next reads answered 500 */
    int fail_sends;            /* next sends refused (not landed) */
    int lost_sends;            /* next sends landed but answered 500 */
    int drop_sends;            /* next sends answered ok, never landed (-1: all) */
    int sends, lands, wrong_seqno, with_init;
    size_t batch[32];
    int n_batch;
    /* callbacks */
    int n_done;
    bool sent[MAX_DONE];
    int order[MAX_DONE];
    char error[MAX_DONE][128];
    int want_done;
} fake;

static fake *F;

static void reply_json(http_req *r, int status, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_reply(r, status, "application/json", t, strlen(t));
    free(t);
}

static void reply_refused(http_req *r, const char *why)
{
    reply_json(r, 500, json_pack("{s:b,s:s,s:i}", "ok", 0, "error", why, "code", 500));
}

static void h_info(http_req *r, void *ud)
{
    fake *f = ud;
    if (f->fail_reads > 0) {
        f->fail_reads--;
        reply_refused(r, "lite server timeout");
        return;
    }
    f->now += f->advance_per_read;
    json_t *res = json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "balance", "0", "state",
                            f->active ? "active" : "uninitialized", "sync_utime",
                            (json_int_t)f->now, "last_transaction_id", "lt", "0", "hash", "");
    char bal[32];
    snprintf(bal, sizeof bal, "%llu", (unsigned long long)f->balance);
    json_object_set_new(res, "balance", json_string(bal));
    if (f->active) {
        ton_builder b;
        ton_builder_init(&b);
        ton_builder_store_bit(&b, true);
        ton_builder_store_uint(&b, f->seqno, 32);
        ton_builder_store_uint(&b, f->wallet.wallet_id, 32);
        ton_builder_store_bytes(&b, f->wallet.pub, 32);
        ton_builder_store_bit(&b, false);
        ton_cell *data = ton_builder_end(&b, NULL);
        char *b64 = ton_boc_to_base64(data, NULL);
        json_object_set_new(res, "data", json_string(b64));
        free(b64);
        ton_cell_unref(data);
    }
    reply_json(r, 200, json_pack("{s:b,s:o}", "ok", 1, "result", res));
}

/* The seqno and the number of messages of a v5r1 transfer, parsed from the
 * external message: ext_in_msg_info, init (inline StateInit: 5 bits and the
 * code and data refs), body (signed_external wallet_id valid_until seqno
 * Maybe ^OutList ...); the out list is a chain of prev refs. */
static int parse_transfer(const ton_cell *ext, uint32_t *seqno, size_t *n, bool *init)
{
    ton_slice s;
    ton_slice_init(&s, ext);
    uint64_t v;
    ton_addr a;
    bool bit;
    const ton_cell *r;
    if (ton_slice_load_uint(&s, 4, &v, NULL) < 0 || ton_slice_load_addr(&s, &a, NULL) < 0 ||
        ton_slice_load_coins(&s, &v, NULL) < 0 || ton_slice_load_bit(&s, init, NULL) < 0)
        return -1;
    if (*init) {
        if (ton_slice_load_bit(&s, &bit, NULL) < 0) return -1;
        if (bit) {
            if (ton_slice_load_ref(&s, &r, NULL) < 0) return -1;
        } else if (ton_slice_load_uint(&s, 5, &v, NULL) < 0 ||
                   ton_slice_load_ref(&s, &r, NULL) < 0 || ton_slice_load_ref(&s, &r, NULL) < 0)
            return -1;
    }
    if (ton_slice_load_bit(&s, &bit, NULL) < 0) return -1;
    ton_slice body = s;
    if (bit) {
        if (ton_slice_load_ref(&s, &r, NULL) < 0) return -1;
        ton_slice_init(&body, r);
    }
    uint64_t op, wid, until, sq;
    if (ton_slice_load_uint(&body, 32, &op, NULL) < 0 || op != 0x7369676e ||
        ton_slice_load_uint(&body, 32, &wid, NULL) < 0 ||
        ton_slice_load_uint(&body, 32, &until, NULL) < 0 ||
        ton_slice_load_uint(&body, 32, &sq, NULL) < 0 ||
        ton_slice_load_maybe_ref(&body, &r, NULL) < 0)
        return -1;
    *seqno = (uint32_t)sq;
    *n = 0;
    while (r && r->n_refs > 0) { /* out_list$_ prev:^OutList action */
        ton_slice o;
        ton_slice_init(&o, r);
        const ton_cell *prev;
        if (ton_slice_load_ref(&o, &prev, NULL) < 0) return -1;
        (*n)++;
        r = prev;
    }
    return 0;
}

static void h_send(http_req *r, void *ud)
{
    fake *f = ud;
    size_t len;
    const uint8_t *body = http_req_body(r, &len);
    json_t *j = cc_json_loadb((const char *)body, len, NULL);
    const char *boc = json_string_value(json_object_get(j, "boc"));
    ton_cell *ext = boc ? ton_boc_parse_base64(boc, NULL) : NULL;
    json_decref(j);
    uint32_t seqno = 0;
    size_t n = 0;
    bool init = false;
    f->sends++;
    if (!ext || parse_transfer(ext, &seqno, &n, &init) < 0) {
        ton_cell_unref(ext);
        reply_refused(r, "cannot parse the message");
        return;
    }
    ton_cell_unref(ext);
    if (seqno != f->seqno) {
        f->wrong_seqno++;
        reply_refused(r, "exit code 33");
        return;
    }
    if (f->fail_sends > 0) {
        f->fail_sends--;
        reply_refused(r, "not accepted");
        return;
    }
    if (f->drop_sends != 0) {
        if (f->drop_sends > 0) f->drop_sends--;
        reply_json(r, 200, json_pack("{s:b,s:{s:s}}", "ok", 1, "result", "@type", "ok"));
        return;
    }
    f->lands++;
    f->seqno++;
    if (init) f->with_init++;
    f->active = true;
    if (f->n_batch < 32) f->batch[f->n_batch++] = n;
    if (f->lost_sends > 0) {
        f->lost_sends--;
        reply_refused(r, "gateway timeout");
        return;
    }
    reply_json(r, 200, json_pack("{s:b,s:{s:s}}", "ok", 1, "result", "@type", "ok"));
}

static void on_done(void *ud, bool sent, const char *error)
{
    fake *f = F;
    int i = f->n_done++;
    assert_true(i < MAX_DONE);
    f->sent[i] = sent;
    f->order[i] = (int)(intptr_t)ud;
    snprintf(f->error[i], sizeof f->error[i], "%s", error ? error : "");
    if (f->n_done >= f->want_done) event_base_loopbreak(f->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Runs the loop until want callbacks came (or 30 s passed). */
static void run_until(fake *f, int want)
{
    f->want_done = want;
    struct event *t = evtimer_new(f->base, on_deadline, f->base);
    struct timeval tv = {30, 0};
    evtimer_add(t, &tv);
    if (f->n_done < want) event_base_dispatch(f->base);
    event_free(t);
    assert_int_equal(f->n_done, want);
}

static daemon_wallet_key test_key(void)
{
    daemon_wallet_key k = {.network_global_id = TON_GLOBAL_ID_MAINNET};
    for (int i = 0; i < 32; i++)
        k.seed[i] = (uint8_t)(i * 7 + 1);
    return k;
}

static int setup(void **state)
{
    fake *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    http_server_config cfg = {.host = "127.0.0.1"};
    f->srv = http_server_new(f->base, &cfg, NULL);
    assert_non_null(f->srv);
    http_server_route(f->srv, NULL, "/api/v2/getAddressInformation", h_info, f);
    http_server_route(f->srv, NULL, "/api/v2/sendBoc", h_send, f);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/api/v2/", http_server_port(f->srv));
    daemon_wallet_key k = test_key();
    uint8_t pub[32];
    crypto_ed25519_public(k.seed, pub, NULL);
    ton_wallet_init(&f->wallet, TON_WALLET_V5R1, 0, pub, k.network_global_id);
    f->active = true;
    f->seqno = 5;
    f->balance = 10000000000ull;
    f->now = 1700000000;
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake *f = *state;
    http_server_free(f->srv);
    event_base_free(f->base);
    free(f);
    return 0;
}

static daemon_wallet *new_wallet(fake *f, int max_attempts)
{
    daemon_wallet_key k = test_key();
    cc_err err = {0};
    daemon_wallet *w = daemon_wallet_new(f->base, f->url, &k, false, &err);
    assert_non_null(w);
    daemon_wallet_set_timing(w, 0.01, 0.05, 0.01, 0.05, max_attempts);
    return w;
}

static void queue(daemon_wallet *w, int tag, uint64_t value)
{
    ton_int_msg m = {.value = value, .bounce = true};
    m.dest.hash[0] = (uint8_t)tag;
    cc_err err = {0};
    assert_int_equal(daemon_wallet_send(w, &m, on_done, (void *)(intptr_t)tag, &err), 0);
}

static void test_address_matches_the_wallet(void **state)
{
    fake *f = *state;
    daemon_wallet *w = new_wallet(f, 3);
    ton_addr want;
    assert_int_equal(ton_wallet_address(&f->wallet, &want, NULL), 0);
    assert_true(ton_addr_equal(daemon_wallet_address(w), &want));
    daemon_wallet_free(w);
}

static void test_in_order_batched(void **state)
{
    fake *f = *state;
    daemon_wallet *w = new_wallet(f, 3);
    for (int i = 0; i < 6; i++)
        queue(w, i, 1000000);
    assert_int_equal(daemon_wallet_pending(w), 6);
    run_until(f, 6);
    for (int i = 0; i < 6; i++) {
        assert_true(f->sent[i]);
        assert_int_equal(f->order[i], i);
    }
    /* 4 then 2, with seqnos 5 and 6, none refused for a wrong seqno */
    assert_int_equal(f->n_batch, 2);
    assert_int_equal(f->batch[0], 4);
    assert_int_equal(f->batch[1], 2);
    assert_int_equal(f->seqno, 7);
    assert_int_equal(f->wrong_seqno, 0);
    assert_int_equal(f->with_init, 0);
    assert_int_equal(daemon_wallet_pending(w), 0);
    json_t *j = daemon_wallet_json(w);
    assert_int_equal(json_integer_value(json_object_get(j, "sent")), 6);
    assert_int_equal(json_integer_value(json_object_get(j, "seqno")), 7);
    json_decref(j);
    daemon_wallet_free(w);
}

static void test_deploys_when_uninitialized(void **state)
{
    fake *f = *state;
    f->active = false;
    f->seqno = 0;
    daemon_wallet *w = new_wallet(f, 3);
    queue(w, 1, 5);
    run_until(f, 1);
    assert_true(f->sent[0]);
    assert_int_equal(f->with_init, 1);
    queue(w, 2, 5);
    run_until(f, 2);
    assert_true(f->sent[1]);
    assert_int_equal(f->with_init, 1); /* only the first carried the StateInit */
    assert_int_equal(f->seqno, 2);
    daemon_wallet_free(w);
}

static void test_survives_failures(void **state)
{
    fake *f = *state;
    f->fail_reads = 3;
    f->fail_sends = 2;
    daemon_wallet *w = new_wallet(f, 4);
    queue(w, 1, 5);
    run_until(f, 1);
    assert_true(f->sent[0]);
    assert_int_equal(f->lands, 1);
    /* A send whose reply was lost but which landed is confirmed by the seqno,
     * not sent twice. */
    f->lost_sends = 1;
    queue(w, 2, 5);
    run_until(f, 2);
    assert_true(f->sent[1]);
    assert_int_equal(f->lands, 2);
    assert_int_equal(f->wrong_seqno, 0);
    json_t *j = daemon_wallet_json(w);
    assert_true(json_integer_value(json_object_get(j, "read_errors")) >= 3);
    assert_int_equal(json_integer_value(json_object_get(j, "send_errors")), 3);
    json_decref(j);
    daemon_wallet_free(w);
}

static void test_expired_transfer_is_resent_then_given_up(void **state)
{
    fake *f = *state;
    f->advance_per_read = 40; /* a 60 s transfer expires after two reads */
    f->drop_sends = 1;
    daemon_wallet *w = new_wallet(f, 3);
    queue(w, 1, 5);
    run_until(f, 1);
    assert_true(f->sent[0]); /* dropped once, signed again, landed */
    assert_int_equal(f->lands, 1);
    assert_int_equal(f->sends, 2);
    f->drop_sends = -1;
    queue(w, 2, 5);
    queue(w, 3, 5);
    run_until(f, 3);
    assert_false(f->sent[1]);
    assert_false(f->sent[2]);
    assert_non_null(strstr(f->error[1], "given up after 3 attempts"));
    assert_int_equal(f->sends, 5);
    /* the next message goes through once the chain takes messages again */
    f->drop_sends = 0;
    queue(w, 4, 5);
    run_until(f, 4);
    assert_true(f->sent[3]);
    assert_int_equal(f->order[3], 4);
    daemon_wallet_free(w);
}

static void test_low_balance_not_sent(void **state)
{
    fake *f = *state;
    f->balance = 1000;
    daemon_wallet *w = new_wallet(f, 2);
    queue(w, 1, 5);
    run_until(f, 1);
    assert_false(f->sent[0]);
    assert_non_null(strstr(f->error[0], "balance 1000 nanoTON"));
    assert_int_equal(f->sends, 0);
    daemon_wallet_free(w);
}

/* ---- key files ----------------------------------------------------------- */

static char *write_key(const void *data, size_t len, int mode)
{
    static char path[256];
    cc_tmp_template(path, sizeof path, "walletkey");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    chmod(path, (mode_t)mode);
    return path;
}

static void expect_key(const char *text, size_t len, int mode, int rc, const char *msg, int32_t gid)
{
    char *path = write_key(text, len, mode);
    daemon_wallet_key k;
    cc_err err = {0};
    int got = daemon_wallet_key_load(path, &k, &err);
    unlink(path);
    if (rc == 0) {
        if (got != 0) fail_msg("%s", err.msg);
        daemon_wallet_key want = test_key();
        assert_memory_equal(k.seed, want.seed, 32);
        assert_int_equal(k.network_global_id, gid);
    } else {
        assert_int_equal(got, -1);
        if (!strstr(err.msg, msg)) fail_msg("\"%s\" lacks \"%s\"", err.msg, msg);
    }
}

static void test_key_formats(void **state)
{
    (void)state;
    daemon_wallet_key k = test_key();
    uint8_t pub[32];
    crypto_ed25519_public(k.seed, pub, NULL);
    char hex[129], hex_pub[65], text[512];
    cc_hex_encode(k.seed, 32, hex);
    cc_hex_encode(pub, 32, hex_pub);
    expect_key((const char *)k.seed, 32, 0600, 0, NULL, TON_GLOBAL_ID_MAINNET);
    snprintf(text, sizeof text, "%s\n", hex);
    expect_key(text, strlen(text), 0400, 0, NULL, TON_GLOBAL_ID_MAINNET);
    snprintf(text, sizeof text, "%s%s", hex, hex_pub);
    expect_key(text, strlen(text), 0600, 0, NULL, TON_GLOBAL_ID_MAINNET);
    char *b64 = ton_base64_encode(k.seed, 32, false);
    expect_key(b64, strlen(b64), 0600, 0, NULL, TON_GLOBAL_ID_MAINNET);
    free(b64);
    snprintf(text, sizeof text, "{\"private_key\":\"%s\",\"network_global_id\":-3}", hex);
    expect_key(text, strlen(text), 0600, 0, NULL, -3);
    snprintf(text, sizeof text, "{\"secret_key\":\"%s%s\",\"seed\":\"x\"}", hex, hex_pub);
    expect_key(text, strlen(text), 0600, 0, NULL, TON_GLOBAL_ID_MAINNET);
    /* refusals */
    expect_key((const char *)k.seed, 32, 0644, -1, "lets others read it", 0);
    snprintf(text, sizeof text, "%s%s", hex, hex); /* public half wrong */
    expect_key(text, strlen(text), 0600, -1, "does not match", 0);
    expect_key("hello", 5, 0600, -1, "not a wallet key", 0);
    snprintf(text, sizeof text, "{\"private_key\":\"%s\",\"version\":\"v4r2\"}", hex);
    expect_key(text, strlen(text), 0600, -1, "v5r1", 0);
    expect_key("{\"public_key\":\"00\"}", 19, 0600, -1, "no \"private_key\"", 0);
    expect_key("{\"private_key\":", 15, 0600, -1, "wallet key", 0);
    daemon_wallet_key none;
    cc_err err = {0};
    assert_int_equal(daemon_wallet_key_load("/nonexistent/key", &none, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_address_matches_the_wallet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_order_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deploys_when_uninitialized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_transfer_is_resent_then_given_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_low_balance_not_sent, setup, teardown),
        cmocka_unit_test(test_key_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
