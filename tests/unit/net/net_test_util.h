/*
 * Helpers shared by the net unit tests: identities, a verify hook that
 * accepts one public key, and running the event loop until a condition holds.
 */
#ifndef COCOON_NET_TEST_UTIL_H
#define COCOON_NET_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net/net.h"

/* Raw Ed25519 public key of a certificate. */
static inline void tu_cert_pubkey(X509 *cert, uint8_t out[32])
{
    size_t len = 32;
    memset(out, 0, 32);
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    assert_non_null(pk);
    assert_int_equal(EVP_PKEY_get_raw_public_key(pk, out, &len), 1);
    assert_int_equal(len, 32);
}

/* Verify hook: accepts only the certificate whose key is in ud (32 bytes,
 * or any key when ud is NULL); peer_info = heap copy of the key. */
static inline int tu_verify_key(void *ud, X509 *cert, void **info, cc_err *err)
{
    uint8_t key[32];
    size_t len = 32;
    if (EVP_PKEY_get_raw_public_key(X509_get0_pubkey(cert), key, &len) != 1 || len != 32)
        return cc_err_set(err, "not an Ed25519 key");
    if (ud && memcmp(ud, key, 32) != 0) return cc_err_set(err, "unknown public key");
    uint8_t *copy = malloc(32);
    memcpy(copy, key, 32);
    *info = copy;
    return 0;
}

static inline net_verify tu_verify(const uint8_t *expected_key)
{
    net_verify v = {tu_verify_key, (void *)expected_key, free};
    return v;
}

static inline double tu_now(void)
{
    return cc_now_mono();
}

static void tu_tick_cb(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until *flag becomes true or `timeout` seconds pass. A 1 ms
 * ticker keeps EVLOOP_ONCE returning so conditions on raw sockets work too. */
typedef bool (*tu_cond_fn)(void *arg);
static inline bool tu_run_until(struct event_base *base, tu_cond_fn cond, void *arg, double timeout)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, tu_tick_cb, NULL);
    struct timeval tv = {0, 1000};
    event_add(tick, &tv);
    double end = tu_now() + timeout;
    bool ok;
    while (!(ok = cond(arg)) && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return ok;
}

static inline bool tu_flag_cond(void *arg)
{
    return *(volatile bool *)arg;
}
static inline bool tu_int_ge_cond(void *arg)
{
    int *p = arg; /* p[0] >= p[1] */
    return p[0] >= p[1];
}

/* Runs the loop for `seconds` (lets timers fire). */
static inline void tu_run_for(struct event_base *base, double seconds)
{
    bool never = false;
    tu_run_until(base, tu_flag_cond, &never, seconds);
}

#endif
