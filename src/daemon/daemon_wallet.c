/* A daemon's TON wallet on its loop (daemon.h, "a wallet on the loop").
 *
 * COCOON's runners send their chain messages through one wallet each
 * (runners/smartcontracts/CocoonWallet.cpp): a queue of outgoing messages,
 * at most one signed external message in flight, a few queued messages
 * packed into it, and a resend when it does not land. We do the same with a
 * standard wallet v5r1 and the TON HTTP API: read the wallet's state
 * (getAddressInformation: balance, seqno from the data, the chain's clock),
 * sign up to WALLET_BATCH queued messages with that seqno, sendBoc, then
 * poll until the seqno rises, which is when the messages left the wallet.
 *
 * Why a resend is safe: every signed transfer carries the seqno it was read
 * with, and the wallet accepts one external message per seqno, so two signed
 * copies of the same batch can never both land. A transfer not landed by its
 * valid_until (chain time) never will, and is signed again with the then
 * current seqno; a seqno that rose while we were not looking is taken as our
 * batch having landed (the wallet is the daemon's alone). */
#include "daemon/daemon.h"
#include "crypto/crypto.h"
#include "ton/ton.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#define WALLET_BATCH 4         /* messages per transfer, as COCOON's wallet */
#define WALLET_QUEUE_MAX 1024  /* beyond this daemon_wallet_send refuses */
#define WALLET_VALID_FOR 60    /* s of chain time a signed transfer stays valid */
#define WALLET_FEE_RESERVE 5e7 /* nanoTON kept for fees per message (0.05 TON) */

typedef struct wallet_msg {
    ton_cell *msg; /* MessageRelaxed */
    uint64_t value;
    daemon_wallet_done done;
    void *ud;
} wallet_msg;

typedef enum {
    W_IDLE = 0,
    W_READING, /* getAddressInformation in flight */
    W_SENDING, /* sendBoc in flight */
    W_WAITING, /* timer armed: poll, or retry after a failure */
} wallet_phase;

struct daemon_wallet {
    struct event_base *base;
    ton_api *api;
    ton_api_op *op;
    struct event *timer;
    ton_wallet wallet;
    uint8_t seed[32];
    ton_addr addr;
    char addr_raw[80], addr_friendly[TON_ADDR_FRIENDLY_LEN + 1];
    bool testnet;
    wallet_phase phase;
    /* The queue; the first batch_n entries are the batch in flight. */
    wallet_msg *q;
    size_t qn, qcap, batch_n;
    /* A copy of the batch signed with batch_seqno may be out there (sent,
     * or its sendBoc failed without telling whether it arrived); sent_ok:
     * the API took it, valid until batch_valid_until (chain time). */
    bool batch_signed, sent_ok;
    uint32_t batch_seqno;
    uint64_t batch_valid_until;
    int attempts; /* sends of the batch in flight */
    /* Timing: first poll after a send, its growth cap; failure backoff. */
    double poll_min, poll_max, poll;
    net_backoff backoff;
    int max_attempts;
    /* The last read of the wallet. */
    bool known, active;
    uint32_t seqno;
    uint64_t balance, chain_now;
    /* Counters for /jsonstats. */
    uint64_t transfers, sent, failed, send_errors, read_errors;
    double last_ok;
    char last_error[256];
};

/* ---- keys ---------------------------------------------------------------- */

/* The seed from `text` (whitespace trimmed): hex of 32 bytes or of 64
 * (seed ‖ public key, the secret key form of tonsim and tweetnacl), or base64
 * of 32 bytes (COCOON's node_wallet_key). */
static int seed_from_text(const char *text, size_t len, uint8_t seed[32], cc_err *err)
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    while (len && (*text == ' ' || *text == '\n' || *text == '\t')) {
        text++;
        len--;
    }
    cc_buf b = CC_BUF_INIT;
    int rc = -1;
    bool hex = len == 64 || len == 128;
    for (size_t i = 0; hex && i < len; i++)
        hex = strchr("0123456789abcdefABCDEF", text[i]) != NULL;
    if (hex ? cc_hex_decode_loose(text, len, &b, NULL) == 0
            : ton_base64_decode(text, len, &b, NULL) == 0 && b.len == 32) {
        memcpy(seed, b.data, 32);
        rc = 0;
        if (b.len == 64) { /* seed ‖ public key: the halves must agree */
            uint8_t pub[32];
            if (crypto_ed25519_public(seed, pub, err) < 0 || memcmp(pub, b.data + 32, 32) != 0)
                rc = cc_err_set(err, "the secret key's public half does not match its seed");
        }
    } else
        cc_err_set(err, "not a wallet key: expected 32 bytes, 64 or 128 hex digits, base64 of 32 "
                        "bytes or a JSON key file");
    explicit_bzero(b.data, b.cap);
    cc_buf_free(&b);
    return rc;
}

/* {"private_key": hex32} (cocoon's key files) or {"secret_key": hex64}
 * (tonsim's wallets), with optional "version" (v5r1 only), "workchain" (0)
 * and "network_global_id". */
static int key_from_json(const char *text, size_t len, daemon_wallet_key *k, cc_err *err)
{
    json_t *j = cc_json_loadb(text, len, err);
    if (!j) return -1;
    const char *priv = NULL, *secret = NULL, *version = "v5r1";
    int64_t wc = 0, gid = TON_GLOBAL_ID_MAINNET;
    int rc = -1;
    if (cc_json_get_str(j, "private_key", false, &priv, err) < 0 ||
        cc_json_get_str(j, "secret_key", false, &secret, err) < 0 ||
        cc_json_get_str(j, "version", false, &version, err) < 0 ||
        cc_json_get_int(j, "workchain", false, -128, 127, &wc, err) < 0 ||
        cc_json_get_int(j, "network_global_id", false, INT32_MIN, INT32_MAX, &gid, err) < 0)
        goto out;
    if (strcmp(version, "v5r1") != 0) {
        cc_err_set(err, "wallet version \"%s\": the daemons use v5r1", version);
        goto out;
    }
    if (wc != 0) {
        cc_err_set(err, "workchain %lld: the daemons' wallets are on the basechain", (long long)wc);
        goto out;
    }
    const char *key = priv ? priv : secret;
    if (!key) {
        cc_err_set(err, "no \"private_key\" or \"secret_key\"");
        goto out;
    }
    if (seed_from_text(key, strlen(key), k->seed, err) < 0) goto out;
    k->network_global_id = (int32_t)gid;
    rc = 0;
out:
    json_decref(j);
    return rc;
}

int daemon_wallet_key_load(const char *path, daemon_wallet_key *k, cc_err *err)
{
    memset(k, 0, sizeof *k);
    k->network_global_id = TON_GLOBAL_ID_MAINNET;
    struct stat st;
    if (stat(path, &st) < 0) return cc_err_set(err, "wallet key %s: cannot read it", path);
    if (!S_ISREG(st.st_mode)) return cc_err_set(err, "wallet key %s: not a regular file", path);
    /* The key spends the wallet's money: nobody else may read it. */
    if (st.st_mode & 077)
        return cc_err_set(err, "wallet key %s: mode %03o lets others read it (chmod 600)", path,
                          (unsigned)(st.st_mode & 0777));
    cc_buf b = CC_BUF_INIT;
    int rc = cc_read_file(path, &b, err);
    if (rc == 0) {
        const char *t = (const char *)b.data;
        size_t i = 0;
        while (i < b.len && (t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r'))
            i++;
        if (b.len == 32)
            memcpy(k->seed, b.data, 32);
        else if (i < b.len && t[i] == '{')
            rc = key_from_json(t, b.len, k, err);
        else
            rc = seed_from_text(t, b.len, k->seed, err);
    }
    explicit_bzero(b.data, b.cap);
    cc_buf_free(&b);
    if (rc < 0) {
        explicit_bzero(k->seed, sizeof k->seed);
        cc_err_prefix(err, "wallet key %s", path);
    }
    return rc;
}

/* ---- the transfer state machine ------------------------------------------ */

static void arm(daemon_wallet *w, double after)
{
    w->phase = W_WAITING;
    struct timeval tv = cc_timeval(after);
    evtimer_add(w->timer, &tv);
}

static void set_error(daemon_wallet *w, const char *what, const char *msg)
{
    snprintf(w->last_error, sizeof w->last_error, "%.40s: %.200s", what, msg);
}

/* Calls back the first n queued messages and drops them from the queue. */
static void finish(daemon_wallet *w, size_t n, bool sent, const char *error)
{
    wallet_msg done[WALLET_BATCH];
    memcpy(done, w->q, n * sizeof *done);
    memmove(w->q, w->q + n, (w->qn - n) * sizeof *w->q);
    w->qn -= n;
    w->batch_n = 0;
    w->batch_signed = w->sent_ok = false;
    w->attempts = 0;
    if (sent)
        w->sent += n;
    else
        w->failed += n;
    /* The callbacks may queue more (or free nothing: they must not free w). */
    for (size_t i = 0; i < n; i++) {
        ton_cell_unref(done[i].msg);
        if (done[i].done) done[i].done(done[i].ud, sent, error);
    }
}

static void start_read(daemon_wallet *w);

static void on_sent(void *ud, json_t *result, const cc_err *rerr)
{
    daemon_wallet *w = ud;
    w->op = NULL;
    if (!result) {
        /* It may still have landed (a lost reply): the next read tells. */
        w->send_errors++;
        set_error(w, "sendBoc", rerr->msg);
        CC_WARN("event=wallet_send_failed wallet=%s seqno=%u attempt=%d error=\"%s\"", w->addr_raw,
                w->batch_seqno, w->attempts, rerr->msg);
        arm(w, net_backoff_next(&w->backoff));
        return;
    }
    w->sent_ok = true;
    w->poll = w->poll_min;
    arm(w, w->poll);
}

/* Signs the batch at the head of the queue with the seqno just read. */
static void send_batch(daemon_wallet *w)
{
    if (!w->batch_n) w->batch_n = w->qn < WALLET_BATCH ? w->qn : WALLET_BATCH;
    uint64_t need = 0;
    ton_out_msg om[WALLET_BATCH];
    for (size_t i = 0; i < w->batch_n; i++) {
        need += w->q[i].value + (uint64_t)WALLET_FEE_RESERVE;
        om[i] = (ton_out_msg){.mode = 3, .msg = w->q[i].msg};
    }
    w->attempts++;
    cc_err err = {0};
    /* As COCOON's wallet: not enough money is said and retried later (an
     * owner may top the wallet up), never sent to fail on chain, where a
     * transfer with send mode 3 would consume the seqno and drop the
     * messages silently. */
    if (w->balance < need) {
        cc_err_set(&err, "balance %llu nanoTON is below the %llu the batch needs",
                   (unsigned long long)w->balance, (unsigned long long)need);
    } else {
        uint32_t valid_until = (uint32_t)(w->chain_now + WALLET_VALID_FOR);
        ton_cell *ext = ton_wallet_transfer(&w->wallet, w->seed, w->seqno, valid_until, om,
                                            w->batch_n, !w->active, &err);
        char *b64 = ext ? ton_boc_to_base64(ext, &err) : NULL;
        ton_cell_unref(ext);
        if (b64) {
            json_t *body = json_pack("{s:s}", "boc", b64);
            free(b64);
            w->batch_signed = true;
            w->sent_ok = false;
            w->batch_seqno = w->seqno;
            w->batch_valid_until = valid_until;
            w->transfers++;
            w->phase = W_SENDING;
            w->op = ton_api_call_async(w->api, "sendBoc", NULL, body, on_sent, w, &err);
            json_decref(body);
            if (w->op) {
                CC_DEBUG("event=wallet_transfer wallet=%s seqno=%u messages=%zu attempt=%d",
                         w->addr_raw, w->seqno, w->batch_n, w->attempts);
                return;
            }
        }
    }
    set_error(w, "transfer", err.msg);
    CC_WARN("event=wallet_transfer_failed wallet=%s seqno=%u attempt=%d error=\"%s\"", w->addr_raw,
            w->seqno, w->attempts, err.msg);
    bool live = w->batch_signed && w->chain_now <= w->batch_valid_until;
    if (w->attempts >= w->max_attempts && !live) {
        char why[320];
        snprintf(why, sizeof why, "given up after %d attempts: %.256s", w->attempts, err.msg);
        finish(w, w->batch_n, false, why);
        if (w->qn) {
            start_read(w);
            return;
        }
        w->phase = W_IDLE;
        return;
    }
    arm(w, net_backoff_next(&w->backoff));
}

/* What the wallet's state says about the batch in flight, then on. */
static void advance(daemon_wallet *w)
{
    if (w->batch_n && w->batch_signed) {
        bool landed = w->active && w->seqno > w->batch_seqno;
        bool live = w->chain_now <= w->batch_valid_until; /* a signed copy may still land */
        if (landed) {
            CC_INFO("event=wallet_transfer_confirmed wallet=%s seqno=%u messages=%zu", w->addr_raw,
                    w->batch_seqno, w->batch_n);
            w->last_ok = cc_now_wall();
            w->last_error[0] = 0;
            net_backoff_reset(&w->backoff);
            finish(w, w->batch_n, true, NULL);
        } else if (live && (w->sent_ok || w->attempts >= w->max_attempts)) {
            /* Sent and still valid, or out of attempts but a copy may still
             * land: look again a little later. */
            w->poll = w->poll * 2 < w->poll_max ? w->poll * 2 : w->poll_max;
            arm(w, w->poll);
            return;
        } else if (!live && w->attempts >= w->max_attempts) {
            char why[96];
            snprintf(why, sizeof why, "given up after %d attempts: not landed", w->attempts);
            CC_WARN("event=wallet_transfer_given_up wallet=%s seqno=%u messages=%zu", w->addr_raw,
                    w->batch_seqno, w->batch_n);
            finish(w, w->batch_n, false, why);
        } else {
            /* Expired unlanded, or its sendBoc failed: sign it again with the
             * current seqno (the same one, since it did not rise). */
            if (w->sent_ok) {
                CC_WARN("event=wallet_transfer_expired wallet=%s seqno=%u attempt=%d", w->addr_raw,
                        w->batch_seqno, w->attempts);
                set_error(w, "transfer", "expired before it landed");
            }
            w->sent_ok = false;
        }
    }
    if (!w->qn) {
        w->phase = W_IDLE;
        return;
    }
    send_batch(w);
}

static void on_state(void *ud, json_t *result, const cc_err *rerr)
{
    daemon_wallet *w = ud;
    w->op = NULL;
    cc_err err = {0};
    ton_account acc;
    if (!result) {
        err = *rerr;
    } else if (ton_account_from_json(result, &acc, &err) == 0) {
        uint64_t seqno = 0;
        bool active = !strcmp(acc.state, "active") && acc.data;
        int rc = 0;
        if (active) { /* v5r1 data: is_signature_allowed:1 seqno:32 ... */
            ton_slice sl;
            bool allowed;
            ton_slice_init(&sl, acc.data);
            rc = ton_slice_load_bit(&sl, &allowed, &err) < 0 ||
                         ton_slice_load_uint(&sl, 32, &seqno, &err) < 0
                     ? cc_err_prefix(&err, "wallet data")
                     : 0;
        }
        if (rc == 0) {
            w->known = true;
            w->active = active;
            w->seqno = (uint32_t)seqno;
            w->balance = acc.balance;
            w->chain_now = acc.sync_utime ? acc.sync_utime : (uint64_t)cc_now_wall();
        }
        ton_account_clear(&acc);
        if (rc == 0) {
            advance(w);
            return;
        }
    }
    w->read_errors++;
    set_error(w, "getAddressInformation", err.msg);
    CC_WARN("event=wallet_read_failed wallet=%s error=\"%s\"", w->addr_raw, err.msg);
    arm(w, net_backoff_next(&w->backoff));
}

static void start_read(daemon_wallet *w)
{
    char q[160];
    char *colon = strchr(w->addr_raw, ':');
    snprintf(q, sizeof q, "address=%.*s%%3A%s", (int)(colon - w->addr_raw), w->addr_raw, colon + 1);
    cc_err err = {0};
    w->phase = W_READING;
    w->op = ton_api_call_async(w->api, "getAddressInformation", q, NULL, on_state, w, &err);
    if (!w->op) on_state(w, NULL, &err);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    start_read(arg);
}

/* ---- public -------------------------------------------------------------- */

daemon_wallet *daemon_wallet_new(struct event_base *base, const char *api_url,
                                 const daemon_wallet_key *key, bool testnet, cc_err *err)
{
    daemon_wallet *w = cc_calloc(1, sizeof *w);
    w->base = base;
    memcpy(w->seed, key->seed, 32);
    uint8_t pub[32];
    if (crypto_ed25519_public(w->seed, pub, err) < 0) goto fail;
    ton_wallet_init(&w->wallet, TON_WALLET_V5R1, 0, pub, key->network_global_id);
    if (ton_wallet_address(&w->wallet, &w->addr, err) < 0) goto fail;
    w->testnet = testnet;
    ton_addr_to_raw(&w->addr, w->addr_raw, sizeof w->addr_raw);
    ton_addr_to_friendly(&w->addr, false, testnet, true, w->addr_friendly);
    w->api = ton_api_new_on(base, api_url, getenv("COCOON_TON_API_KEY"), err);
    if (!w->api) goto fail;
    ton_api_set_timeout(w->api, 20);
    w->timer = evtimer_new(base, on_timer, w);
    daemon_wallet_set_timing(w, 0.2, 5, 1, 30, 8);
    arm(w, 0); /* the first read: address state and balance for /jsonstats */
    return w;
fail:
    cc_err_prefix(err, "wallet");
    daemon_wallet_free(w);
    return NULL;
}

void daemon_wallet_set_timing(daemon_wallet *w, double poll_min, double poll_max, double retry_min,
                              double retry_max, int max_attempts)
{
    w->poll_min = w->poll = poll_min;
    w->poll_max = poll_max;
    net_backoff_init(&w->backoff, retry_min, retry_max);
    w->max_attempts = max_attempts > 0 ? max_attempts : 1;
}

void daemon_wallet_free(daemon_wallet *w)
{
    if (!w) return;
    if (w->op) ton_api_cancel(w->op);
    ton_api_free(w->api);
    if (w->timer) event_free(w->timer);
    for (size_t i = 0; i < w->qn; i++)
        ton_cell_unref(w->q[i].msg);
    free(w->q);
    explicit_bzero(w->seed, sizeof w->seed);
    free(w);
}

const ton_addr *daemon_wallet_address(const daemon_wallet *w)
{
    return &w->addr;
}

int daemon_wallet_send(daemon_wallet *w, const ton_int_msg *m, daemon_wallet_done done, void *ud,
                       cc_err *err)
{
    if (w->qn >= WALLET_QUEUE_MAX)
        return cc_err_set(err, "wallet %s: %d messages already wait to be sent", w->addr_raw,
                          WALLET_QUEUE_MAX);
    ton_cell *msg = ton_msg_internal(m, err);
    if (!msg) return cc_err_prefix(err, "wallet message");
    if (w->qn == w->qcap) {
        w->qcap = w->qcap ? w->qcap * 2 : 8;
        w->q = cc_realloc(w->q, w->qcap * sizeof *w->q);
    }
    w->q[w->qn++] = (wallet_msg){.msg = msg, .value = m->value, .done = done, .ud = ud};
    /* Idle: read the seqno now. Otherwise the message waits for its turn:
     * the state machine picks up the queue when the transfer in flight is
     * settled (never from inside this call: callbacks come from the loop). */
    if (w->phase == W_IDLE) arm(w, 0);
    return 0;
}

size_t daemon_wallet_pending(const daemon_wallet *w)
{
    return w->qn;
}

json_t *daemon_wallet_json(const daemon_wallet *w)
{
    return json_pack("{s:s,s:s,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s}", "address",
                     w->addr_raw, "address_friendly", w->addr_friendly, "known", w->known, "active",
                     w->active, "balance", (json_int_t)w->balance, "seqno", (json_int_t)w->seqno,
                     "queued", (json_int_t)w->qn, "in_flight", (json_int_t)w->batch_n, "transfers",
                     (json_int_t)w->transfers, "sent", (json_int_t)w->sent, "failed",
                     (json_int_t)w->failed, "send_errors", (json_int_t)w->send_errors,
                     "read_errors", (json_int_t)w->read_errors, "last_ok", w->last_ok, "last_error",
                     w->last_error);
}
