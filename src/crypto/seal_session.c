/* Sealing sessions (docs/confidentiality.md, "Sessions"): one HPKE
 * encapsulation per (client daemon, worker key) establishes a session secret
 * both sides keep; each request then derives its own wrap, answer and
 * receipt-MAC keys from that secret and a fresh request nonce with HKDF, so a
 * request costs symmetric work only. The worker's table below refuses a
 * request nonce it has seen (per session, within a sliding window), a resumed
 * session it does not hold, and an establishment outside a time window, so a
 * request key never opens twice. */
#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_INFO "cocoon/seal/v2 session"
#define SECRET_LABEL "cocoon/seal/v2 session secret"
#define REQUEST_INFO "cocoon/seal/v2 request"
#define RECEIPT_MAC_LABEL "cocoon/seal/v2 receipt"

/* Sequence numbers more than this far below the highest seen are refused:
 * the window a proxy may reorder a client's concurrent requests within. */
#define WINDOW_BITS 256

static const uint8_t zero_nonce[12];

static void session_info(const uint8_t cert_hash[32], int64_t created_at,
                         uint8_t info[sizeof(SESSION_INFO) + 40])
{
    memcpy(info, SESSION_INFO, sizeof(SESSION_INFO));
    memcpy(info + sizeof(SESSION_INFO), cert_hash, 32);
    cc_store_u64le(info + sizeof(SESSION_INFO) + 32, (uint64_t)created_at);
}

int crypto_seal_session_new(const uint8_t worker_x25519[32], const uint8_t cert_hash[32],
                            int64_t created_at, uint8_t enc[32], uint8_t secret[32], cc_err *err)
{
    uint8_t info[sizeof(SESSION_INFO) + 40];
    session_info(cert_hash, created_at, info);
    crypto_hpke_ctx ctx;
    int rc = crypto_hpke_setup_sender(CRYPTO_HPKE_CHACHA20POLY1305, worker_x25519, info,
                                      sizeof(info), NULL, 0, enc, &ctx, err);
    if (rc == 0)
        rc = crypto_hpke_export(&ctx, SECRET_LABEL, sizeof(SECRET_LABEL) - 1, secret, 32, err);
    crypto_hpke_clear(&ctx);
    return rc;
}

static int session_accept(const uint8_t sk[32], const uint8_t cert_hash[32], int64_t created_at,
                          const uint8_t enc[32], uint8_t secret[32], cc_err *err)
{
    uint8_t info[sizeof(SESSION_INFO) + 40];
    session_info(cert_hash, created_at, info);
    crypto_hpke_ctx ctx;
    int rc = crypto_hpke_setup_receiver(CRYPTO_HPKE_CHACHA20POLY1305, enc, sk, info, sizeof(info),
                                        &ctx, err);
    if (rc == 0)
        rc = crypto_hpke_export(&ctx, SECRET_LABEL, sizeof(SECRET_LABEL) - 1, secret, 32, err);
    crypto_hpke_clear(&ctx);
    return rc;
}

/* HKDF-Expand (RFC 5869) of the session secret (already uniform, so it is
 * the PRK) with info = label ‖ kind ‖ nonce: wrap key, answer key, receipt
 * MAC key. The kind byte is in it so a proxy that flips its flags (asks for
 * no signature, say) makes the key not open. */
static void request_keys(const uint8_t secret[32],
                         const uint8_t kind_nonce[1 + CRYPTO_SEAL_NONCE_LEN], crypto_seal_keys *k)
{
    uint8_t in[32 + sizeof(REQUEST_INFO) + 1 + CRYPTO_SEAL_NONCE_LEN + 1];
    uint8_t *out[3] = {k->wrap, k->answer, k->mac};
    size_t info_len = sizeof(REQUEST_INFO) + 1 + CRYPTO_SEAL_NONCE_LEN;
    for (int i = 0; i < 3; i++) {
        /* T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i) */
        size_t off = i ? 32 : 0;
        if (i) memcpy(in, out[i - 1], 32);
        memcpy(in + off, REQUEST_INFO, sizeof(REQUEST_INFO));
        memcpy(in + off + sizeof(REQUEST_INFO), kind_nonce, 1 + CRYPTO_SEAL_NONCE_LEN);
        in[off + info_len] = (uint8_t)(i + 1);
        crypto_hmac_sha256(secret, 32, in, off + info_len + 1, out[i]);
    }
    explicit_bzero(in, sizeof(in));
}

int crypto_seal_session_wrap(const uint8_t secret[32], bool establish, bool sign,
                             int64_t created_at, uint64_t seq, const cc_buf *aad,
                             const uint8_t dek[32], struct crypto_rand_pool *pool,
                             uint8_t out[CRYPTO_SEAL_SESSION_WRAP_MAX], size_t *out_len,
                             crypto_seal_keys *keys, cc_err *err)
{
    uint8_t *p = out;
    *p++ = (establish ? CRYPTO_SEAL_KIND_ESTABLISH : CRYPTO_SEAL_KIND_RESUME) |
           (sign ? CRYPTO_SEAL_FLAG_SIGN : 0);
    cc_store_u64le(p, seq);
    if (pool)
        crypto_rand_pool_get(pool, p + 8, CRYPTO_SEAL_NONCE_LEN - 8);
    else
        crypto_random(p + 8, CRYPTO_SEAL_NONCE_LEN - 8);
    p += CRYPTO_SEAL_NONCE_LEN;
    if (establish) {
        cc_store_u64le(p, (uint64_t)created_at);
        p += 8;
    }
    request_keys(secret, out, keys);
    if (crypto_aead_seal(CRYPTO_AEAD_CHACHA20POLY1305, keys->wrap, zero_nonce, aad->data, aad->len,
                         dek, CRYPTO_SEAL_KEY_LEN, p, err) < 0)
        return -1;
    p += CRYPTO_SEAL_WRAPPED_LEN;
    *out_len = (size_t)(p - out);
    return 0;
}

/* ------------------------------------------------------ the worker's table */

typedef struct wsession {
    uint8_t sid[32]; /* SHA-256(enc) */
    uint8_t secret[32];
    double created_at;                 /* the client's establishment time, bound into the secret */
    double expires;                    /* usable until (worker wall clock) */
    uint64_t top;                      /* 1 + the highest sequence number used, 0: none yet */
    uint64_t window[WINDOW_BITS / 64]; /* bit i: sequence top - 1 - i used */
    struct wsession *prev, *next;      /* LRU: head most recently used */
} wsession;

struct crypto_seal_sessions {
    cc_map map; /* first 8 bytes of sid -> wsession */
    wsession *head, *tail;
    size_t cap;
    double lifetime; /* seconds a session lives after its establishment */
    double skew;     /* how far an establishment's time may be from ours */
};

crypto_seal_sessions *crypto_seal_sessions_new(size_t cap, double lifetime, double skew)
{
    crypto_seal_sessions *t = cc_calloc(1, sizeof(*t));
    cc_map_init(&t->map);
    t->cap = cap ? cap : 1;
    t->lifetime = lifetime;
    t->skew = skew;
    return t;
}

static void unlink_lru(crypto_seal_sessions *t, wsession *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        t->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        t->tail = s->prev;
    s->prev = s->next = NULL;
}

static void push_lru(crypto_seal_sessions *t, wsession *s)
{
    s->next = t->head;
    s->prev = NULL;
    if (t->head) t->head->prev = s;
    t->head = s;
    if (!t->tail) t->tail = s;
}

static void drop(crypto_seal_sessions *t, wsession *s)
{
    unlink_lru(t, s);
    cc_map_del(&t->map, cc_load_u64le(s->sid));
    explicit_bzero(s, sizeof(*s));
    free(s);
}

void crypto_seal_sessions_clear(crypto_seal_sessions *t)
{
    while (t->head)
        drop(t, t->head);
}

void crypto_seal_sessions_free(crypto_seal_sessions *t)
{
    if (!t) return;
    crypto_seal_sessions_clear(t);
    cc_map_free(&t->map);
    free(t);
}

size_t crypto_seal_sessions_count(const crypto_seal_sessions *t)
{
    return cc_map_count(&t->map);
}

static wsession *lookup(crypto_seal_sessions *t, const uint8_t sid[32])
{
    wsession *s = cc_map_get(&t->map, cc_load_u64le(sid));
    return s && memcmp(s->sid, sid, 32) == 0 ? s : NULL;
}

/* An entry may go once its establishment is outside the time window: the
 * establishing request can then never be replayed to bring it back. */
static bool forgettable(const crypto_seal_sessions *t, const wsession *s, double now)
{
    return now > s->created_at + t->skew;
}

/* 0 when seq is fresh (and marks it), -1 when used or below the window. */
static int window_take(wsession *s, uint64_t seq, cc_err *err)
{
    if (seq >= s->top) {
        uint64_t shift = seq + 1 - s->top;
        if (shift >= WINDOW_BITS) {
            memset(s->window, 0, sizeof(s->window));
        } else {
            for (uint64_t k = 0; k < shift; k++) { /* shift the bitmap left by one */
                for (int i = WINDOW_BITS / 64 - 1; i > 0; i--)
                    s->window[i] = (s->window[i] << 1) | (s->window[i - 1] >> 63);
                s->window[0] <<= 1;
            }
        }
        s->top = seq + 1;
        s->window[0] |= 1;
        return 0;
    }
    uint64_t back = s->top - 1 - seq;
    if (back >= WINDOW_BITS)
        return cc_err_set(err, "sealed request nonce %llu is below the replay window",
                          (unsigned long long)seq);
    uint64_t bit = 1ull << (back % 64);
    if (s->window[back / 64] & bit)
        return cc_err_set(err, "sealed request nonce %llu was already used (a replay)",
                          (unsigned long long)seq);
    s->window[back / 64] |= bit;
    return 0;
}

void crypto_seal_sessions_release(crypto_seal_sessions *t, const uint8_t sid[32], uint64_t seq)
{
    wsession *s = cc_map_get(&t->map, cc_load_u64le(sid));
    if (!s || memcmp(s->sid, sid, 32) != 0 || seq >= s->top) return;
    uint64_t back = s->top - 1 - seq;
    if (back < WINDOW_BITS) s->window[back / 64] &= ~(1ull << (back % 64));
}

/* Room for one more session: the least recently used goes, but only once
 * its establishment is outside the time window (it cannot be replayed
 * afterwards); a table full of younger sessions refuses new ones. */
static int make_room(crypto_seal_sessions *t, double now, cc_err *err)
{
    while (cc_map_count(&t->map) >= t->cap) {
        wsession *old = t->tail;
        if (!forgettable(t, old, now))
            return cc_err_set(err, "this worker's sealing session table is full (%zu sessions)",
                              t->cap);
        drop(t, old);
    }
    return 0;
}

int crypto_seal_sessions_open(crypto_seal_sessions *t, const uint8_t sk[32],
                              const uint8_t cert_hash[32], double now, const uint8_t enc[32],
                              const uint8_t *wk, size_t wk_len, const cc_buf *aad,
                              crypto_seal_opened *out, cc_err *err)
{
    memset(out, 0, sizeof(*out));
    if (wk_len != CRYPTO_SEAL_SESSION_WRAP_MAX && wk_len != CRYPTO_SEAL_SESSION_WRAP_MAX - 8)
        return cc_err_set(err, "session key of %zu bytes", wk_len);
    uint8_t kind = wk[0] & (uint8_t)~CRYPTO_SEAL_FLAG_SIGN;
    bool establish = kind == CRYPTO_SEAL_KIND_ESTABLISH;
    if (!establish && kind != CRYPTO_SEAL_KIND_RESUME)
        return cc_err_set(err, "unknown session key kind %u", kind);
    if (establish != (wk_len == CRYPTO_SEAL_SESSION_WRAP_MAX))
        return cc_err_set(err, "session key of %zu bytes for its kind", wk_len);
    const uint8_t *nonce = wk + 1;
    const uint8_t *wrapped = nonce + CRYPTO_SEAL_NONCE_LEN + (establish ? 8 : 0);
    uint64_t seq = cc_load_u64le(nonce);
    crypto_sha256(enc, 32, out->sid);
    wsession *s = lookup(t, out->sid), *fresh = NULL;
    if (s && now >= s->expires) {
        /* Expired: kept (unusable) while its establishment could still be
         * replayed, then forgotten. The client starts a new session. */
        if (!forgettable(t, s, now))
            return cc_err_set(err, "%s", CRYPTO_SEAL_SESSION_UNKNOWN_MSG),
                   CRYPTO_SEAL_SESSION_UNKNOWN;
        drop(t, s);
        s = NULL;
    }
    if (!s && !establish)
        return cc_err_set(err, "%s", CRYPTO_SEAL_SESSION_UNKNOWN_MSG), CRYPTO_SEAL_SESSION_UNKNOWN;
    if (!s) {
        int64_t created_at = (int64_t)cc_load_u64le(nonce + CRYPTO_SEAL_NONCE_LEN);
        if ((double)created_at < now - t->skew || (double)created_at > now + t->skew)
            return cc_err_set(err,
                              "sealing session established at %lld, outside %.0f s of our clock",
                              (long long)created_at, t->skew);
        if (cc_map_get(&t->map, cc_load_u64le(out->sid)))
            return cc_err_set(err, "sealing session id collides with another");
        if (make_room(t, now, err) < 0) return -1;
        fresh = cc_calloc(1, sizeof(*fresh));
        memcpy(fresh->sid, out->sid, 32);
        if (session_accept(sk, cert_hash, created_at, enc, fresh->secret, err) < 0) {
            free(fresh);
            return -1;
        }
        fresh->created_at = (double)created_at;
        fresh->expires = now + t->lifetime;
        s = fresh;
    }
    request_keys(s->secret, wk, &out->keys);
    if (crypto_aead_open(CRYPTO_AEAD_CHACHA20POLY1305, out->keys.wrap, zero_nonce, aad->data,
                         aad->len, wrapped, CRYPTO_SEAL_WRAPPED_LEN, out->dek, err) < 0) {
        explicit_bzero(out, sizeof(*out));
        if (fresh) {
            explicit_bzero(fresh, sizeof(*fresh));
            free(fresh);
        }
        return cc_err_set(err, "session-wrapped key does not open (not for this worker, or "
                               "altered)");
    }
    /* Only a session whose first key opened enters the table: garbage
     * establishments cost the sender an HPKE each and us nothing kept. */
    if (fresh) {
        cc_map_put(&t->map, cc_load_u64le(fresh->sid), fresh);
        push_lru(t, fresh);
    } else {
        unlink_lru(t, s);
        push_lru(t, s);
    }
    if (window_take(s, seq, err) < 0) {
        explicit_bzero(out, sizeof(*out));
        return -1;
    }
    out->seq = seq;
    out->sign = (wk[0] & CRYPTO_SEAL_FLAG_SIGN) != 0;
    return 0;
}

void crypto_receipt_mac(const uint8_t mac_key[32], const uint8_t *receipt, size_t len,
                        uint8_t out[CRYPTO_RECEIPT_MAC_LEN])
{
    uint8_t in[sizeof(RECEIPT_MAC_LABEL) + CRYPTO_RECEIPT_MAX_LEN];
    if (len > CRYPTO_RECEIPT_MAX_LEN) len = CRYPTO_RECEIPT_MAX_LEN; /* callers check first */
    memcpy(in, RECEIPT_MAC_LABEL, sizeof(RECEIPT_MAC_LABEL));
    memcpy(in + sizeof(RECEIPT_MAC_LABEL), receipt, len);
    crypto_hmac_sha256(mac_key, 32, in, sizeof(RECEIPT_MAC_LABEL) + len, out);
}
