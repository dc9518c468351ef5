/* Per-stream flow control bookkeeping (net.h): windows never go negative,
 * grants out of range are refused, a sender over its window is refused,
 * grants go back in batches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "net/net.h"

static void test_tx_spend_within_credit(void **state)
{
    (void)state;
    net_flow_tx tx = {0};
    cc_err err;
    assert_int_equal(net_flow_tx_avail(&tx), 0);
    assert_int_equal(net_flow_tx_spend(&tx, 0), 0); /* an empty part needs no credit */
    assert_int_equal(net_flow_tx_spend(&tx, 1), -1);
    assert_int_equal(net_flow_tx_avail(&tx), 0); /* never negative */
    assert_int_equal(net_flow_tx_grant(&tx, 1000, &err), 0);
    assert_int_equal(net_flow_tx_spend(&tx, 600), 0);
    assert_int_equal(net_flow_tx_avail(&tx), 400);
    assert_int_equal(net_flow_tx_spend(&tx, 401), -1); /* over: refused, clamped at 0 */
    assert_int_equal(net_flow_tx_avail(&tx), 0);
}

static void test_tx_bad_grants(void **state)
{
    (void)state;
    net_flow_tx tx = {0};
    cc_err err;
    assert_int_equal(net_flow_tx_grant(&tx, 0, &err), -1);
    assert_int_equal(err.code, NET_ERR_PROTOCOL);
    assert_int_equal(net_flow_tx_grant(&tx, -5, &err), -1);
    assert_int_equal(net_flow_tx_grant(&tx, NET_FLOW_GRANT_MAX + 1, &err), -1);
    assert_int_equal(net_flow_tx_avail(&tx), 0);
    /* Grants that add up past the largest window: a peer returning more
     * than it was ever sent. */
    assert_int_equal(net_flow_tx_grant(&tx, NET_FLOW_WINDOW_MAX, &err), 0);
    assert_int_equal(net_flow_tx_grant(&tx, 1, &err), -1);
    assert_int_equal(net_flow_tx_avail(&tx), NET_FLOW_WINDOW_MAX);
}

static void test_rx_window_and_violation(void **state)
{
    (void)state;
    net_flow_rx rx;
    cc_err err;
    net_flow_rx_init(&rx, 100); /* clamped up to the minimum */
    assert_int_equal(rx.window, NET_FLOW_WINDOW_MIN);
    net_flow_rx_init(&rx, NET_FLOW_WINDOW_MAX * 2);
    assert_int_equal(rx.window, NET_FLOW_WINDOW_MAX);
    int64_t w = NET_FLOW_WINDOW_DEFAULT;
    net_flow_rx_init(&rx, w);
    assert_int_equal(rx.avail, w);
    assert_int_equal(net_flow_rx_receive(&rx, (size_t)w - 10, &err), 0);
    assert_int_equal(rx.avail, 10);
    /* 11 more bytes than granted: refused, nothing recorded. */
    assert_int_equal(net_flow_rx_receive(&rx, 11, &err), -1);
    assert_int_equal(err.code, NET_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "over its stream window"));
    assert_int_equal(rx.avail, 10);
    assert_int_equal(rx.held, w - 10);
    assert_int_equal(net_flow_rx_receive(&rx, 10, &err), 0);
    assert_int_equal(rx.avail, 0);
    assert_int_equal(net_flow_rx_receive(&rx, 1, &err), -1);
    assert_int_equal(rx.avail + rx.held + rx.owed, w);
}

static void test_rx_batched_grants(void **state)
{
    (void)state;
    net_flow_rx rx;
    cc_err err;
    int64_t w = NET_FLOW_WINDOW_DEFAULT;
    net_flow_rx_init(&rx, w);
    assert_int_equal(net_flow_rx_receive(&rx, (size_t)w, &err), 0);
    /* Below a quarter of the window, nothing goes back yet. */
    assert_int_equal(net_flow_rx_consumed(&rx, (size_t)(w / 4 - 1)), 0);
    assert_int_equal(rx.owed, w / 4 - 1);
    /* Reaching it returns everything owed at once. */
    assert_int_equal(net_flow_rx_consumed(&rx, 1), w / 4);
    assert_int_equal(rx.owed, 0);
    assert_int_equal(rx.avail, w / 4);
    /* Consuming more than is held is clamped: no grant beyond the window. */
    assert_int_equal(net_flow_rx_consumed(&rx, (size_t)w * 4), w - w / 4);
    assert_int_equal(rx.avail, w);
    assert_int_equal(rx.held, 0);
    assert_int_equal(net_flow_rx_consumed(&rx, 100), 0);
    assert_int_equal(net_flow_rx_flush(&rx), 0);
    assert_int_equal(rx.avail + rx.held + rx.owed, w);
}

static void test_rx_flush(void **state)
{
    (void)state;
    net_flow_rx rx;
    cc_err err;
    net_flow_rx_init(&rx, NET_FLOW_WINDOW_MIN);
    assert_int_equal(net_flow_rx_receive(&rx, 100, &err), 0);
    assert_int_equal(net_flow_rx_consumed(&rx, 100), 0);
    assert_int_equal(net_flow_rx_flush(&rx), 100);
    assert_int_equal(rx.avail, NET_FLOW_WINDOW_MIN);
    assert_int_equal(net_flow_rx_flush(&rx), 0);
}

/* A drained caller releases everything held, however little or much, and
 * what was owed below the batching mark goes back with it. */
static void test_rx_release(void **state)
{
    (void)state;
    net_flow_rx rx;
    cc_err err;
    int64_t w = NET_FLOW_WINDOW_DEFAULT;
    net_flow_rx_init(&rx, w);
    assert_int_equal(net_flow_rx_receive(&rx, (size_t)w, &err), 0);
    assert_int_equal(net_flow_rx_consumed(&rx, 10), 0);
    assert_int_equal(net_flow_rx_release(&rx), w);
    assert_int_equal(rx.avail, w);
    assert_int_equal(rx.held + rx.owed, 0);
    assert_int_equal(net_flow_rx_release(&rx), 0);
    /* Held bytes well past a quarter of the window come back whole too. */
    assert_int_equal(net_flow_rx_receive(&rx, (size_t)w - 100, &err), 0);
    assert_int_equal(net_flow_rx_release(&rx), w - 100);
    assert_int_equal(rx.avail, w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_spend_within_credit),
        cmocka_unit_test(test_tx_bad_grants),
        cmocka_unit_test(test_rx_window_and_violation),
        cmocka_unit_test(test_rx_batched_grants),
        cmocka_unit_test(test_rx_flush),
        cmocka_unit_test(test_rx_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
