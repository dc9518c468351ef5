/* The pieces of an outbound link to a proxy that the client and the worker
 * share: dialing with our RA-TLS identity, handshake queries and their
 * answers, and the reconnect schedule. What a link does once connected
 * (its handshake messages, its state) stays with each daemon. */
#include "daemon/daemon.h"

#include <stdio.h>

#include <event2/event.h>

double daemon_link_schedule(const char *addr, net_backoff *backoff, struct event *timer,
                            char *last_error, size_t last_error_size, const char *why)
{
    double delay = net_backoff_next(backoff);
    cc_str_copy(last_error, last_error_size, why);
    CC_INFO("event=proxy_reconnect proxy=%s delay=%.2f reason=\"%s\"", addr, delay, last_error);
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    evtimer_add(timer, &tv);
    return delay;
}

net_conn *daemon_link_dial(struct event_base *base, daemon_tee *t, const char *host, uint16_t port,
                           const net_conn_callbacks *cbs, void *ud, cc_err *err)
{
    /* A day-long certificate is renewed before it expires (DESIGN §5.1). */
    if (tee_identity_rotate(t->provider, NULL, &t->identity, err) < 0)
        CC_ERROR("event=cert_rotate_failed reason=\"%s\"", err->msg);
    net_connect_config cc = {
        .host = host,
        .port = port,
        .identity = {t->identity->key, t->identity->cert},
        .verify = {tee_verify_peer, t->policy, tee_peer_info_free},
        .cbs = *cbs,
        .ud = ud,
    };
    return net_connect(base, &cc, err);
}

int daemon_link_query(net_conn *conn, const tl_obj *msg, double timeout_s, net_answer_fn cb,
                      void *ud, uint64_t *qid, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    int rc = 0;
    if (tl_encode(msg, &b, err) < 0 ||
        net_conn_query(conn, b.data, b.len, timeout_s, cb, ud, qid, err) < 0)
        rc = -1;
    cc_buf_free(&b);
    return rc;
}

tl_obj *daemon_link_decode_answer(const char *what, int32_t code, const char *msg,
                                  const uint8_t *data, size_t len, int expect_type, char *why,
                                  size_t why_size)
{
    if (code != 0) {
        snprintf(why, why_size, "%s failed: %d %s", what, code, msg ? msg : "");
        return NULL;
    }
    cc_err err;
    tl_decode_opts o = {.expect_type = expect_type};
    tl_obj *obj = tl_decode_ex(data, len, &o, &err);
    if (!obj) snprintf(why, why_size, "%s: bad answer: %s", what, err.msg);
    return obj;
}

const char *daemon_link_state_name(int state)
{
    static const char *const names[] = {"waiting", "connecting", "handshake", "ready"};
    return state >= 0 && state < 4 ? names[state] : "unknown";
}

json_t *daemon_link_stats_json(const daemon_link_stats *s)
{
    json_t *e = json_object();
    json_object_set_new(e, "address", json_string(s->addr));
    json_object_set_new(e, "state", json_string(daemon_link_state_name(s->state)));
    json_object_set_new(e, "proto_version", json_integer(s->proto_version));
    json_object_set_new(e, "connects", json_integer((json_int_t)s->connects));
    json_object_set_new(e, "requests", json_integer((json_int_t)s->requests));
    if (s->last_error && s->last_error[0])
        json_object_set_new(e, "last_error", json_string(s->last_error));
    /* What the proxy's RA-TLS certificate proved (tee_peer_info). */
    daemon_json_add_peer_info(e, s->conn ? net_conn_peer_info(s->conn) : NULL);
    return e;
}
