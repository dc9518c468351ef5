/* The outbound link to a proxy that the client and the worker share: its
 * state, the dial with our RA-TLS identity, the reconnect backoff, handshake
 * queries and their answers, sending, and its stats entry. What differs (the
 * handshake messages, what a packet means, what dies with a connection)
 * comes from the role's daemon_link_ops. */
#include "daemon/daemon.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

static void link_connect(daemon_link *l);

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    link_connect(ud);
}

/* Into WAITING with the timer armed for the next backoff delay. */
static void schedule_reconnect(daemon_link *l, const char *why)
{
    l->state = DAEMON_LINK_WAITING;
    l->conn = NULL;
    double delay = net_backoff_next(&l->backoff);
    cc_str_copy(l->last_error, sizeof(l->last_error), why);
    CC_INFO("event=proxy_reconnect proxy=%s delay=%.2f reason=\"%s\"", l->addr, delay,
            l->last_error);
    struct timeval tv = cc_timeval(delay);
    evtimer_add(l->timer, &tv);
}

/* Forgets the connection before anything else runs: closing it fails its
 * pending queries, and their callbacks must find a stale connection and do
 * nothing. */
static void drop_conn(daemon_link *l)
{
    l->conn = NULL;
    l->state = DAEMON_LINK_WAITING;
    if (l->env->ops->on_gone) l->env->ops->on_gone(l);
}

void daemon_link_fail(daemon_link *l, const char *why)
{
    char reason[200];
    cc_str_copy(reason, sizeof(reason), why); /* why may die with the connection */
    CC_WARN("event=proxy_link_failed proxy=%s reason=\"%s\"", l->addr, reason);
    net_conn *conn = l->conn;
    drop_conn(l);
    if (conn) net_conn_close(conn, reason);
    schedule_reconnect(l, reason);
}

void daemon_link_restart(daemon_link *l, const char *why)
{
    char reason[200];
    cc_str_copy(reason, sizeof(reason), why);
    CC_INFO("event=proxy_link_restart proxy=%s reason=\"%s\"", l->addr, reason);
    net_conn *conn = l->conn;
    drop_conn(l);
    if (conn) net_conn_close_after_flush(conn, reason, 0);
    schedule_reconnect(l, reason);
}

static void on_close(net_conn *conn, void *ud, const char *reason)
{
    (void)conn;
    daemon_link *l = ud;
    CC_INFO("event=proxy_closed proxy=%s reason=\"%s\"", l->addr, reason ? reason : "");
    drop_conn(l);
    schedule_reconnect(l, reason);
}

static void on_packet(net_conn *conn, void *ud, const uint8_t *data, size_t len)
{
    (void)conn;
    daemon_link *l = ud;
    if (l->state != DAEMON_LINK_READY) {
        CC_WARN("event=packet_before_ready proxy=%s", l->addr);
        return;
    }
    l->env->ops->on_packet(l, data, len);
}

static void on_tls_ready(net_conn *conn, void *ud)
{
    (void)conn;
    daemon_link *l = ud;
    l->state = DAEMON_LINK_HANDSHAKE;
    l->connects++;
    l->env->ops->hello(l);
}

static void link_connect(daemon_link *l)
{
    static const net_conn_callbacks cbs = {
        .on_ready = on_tls_ready, .on_packet = on_packet, .on_close = on_close};
    cc_err err;
    l->state = DAEMON_LINK_CONNECTING;
    l->conn = daemon_link_dial(l->env->base, l->env->tee, l->host, l->port, &cbs, l, &err);
    if (!l->conn) schedule_reconnect(l, err.msg);
}

int daemon_link_init(daemon_link *l, const daemon_link_env *env, const char *addr, cc_err *err)
{
    if (cc_parse_hostport(addr, l->host, sizeof(l->host), &l->port, err) < 0) return -1;
    l->env = env;
    cc_str_copy(l->addr, sizeof(l->addr), addr);
    l->state = DAEMON_LINK_WAITING;
    net_backoff_init(&l->backoff, env->reconnect_min, env->reconnect_max);
    l->timer = evtimer_new(env->base, on_timer, l);
    return 0;
}

void daemon_link_start(daemon_link *l)
{
    link_connect(l);
}

void daemon_link_stop(daemon_link *l, const char *reason)
{
    net_conn *conn = l->conn;
    if (conn) drop_conn(l);
    if (conn) net_conn_close(conn, reason);
    if (l->timer) event_free(l->timer);
    l->timer = NULL;
}

void daemon_link_set_ready(daemon_link *l)
{
    l->state = DAEMON_LINK_READY;
    l->ready_since = cc_now_wall();
    net_backoff_reset(&l->backoff);
    l->last_error[0] = 0;
    CC_INFO("event=proxy_ready proxy=%s proto=%d", l->addr, l->proto_version);
    if (l->env->ops->on_ready) l->env->ops->on_ready(l);
}

static int query_for(daemon_link *l, const tl_obj *msg, double timeout, net_answer_fn cb, void *ud,
                     cc_err *err)
{
    if (!l->conn) return cc_err_setc(err, NET_ERR_NOT_READY, "not connected to %s", l->addr);
    cc_buf b = CC_BUF_INIT;
    int rc = 0;
    if (tl_encode(msg, &b, err) < 0 ||
        net_conn_query(l->conn, b.data, b.len, timeout, cb, ud, NULL, err) < 0)
        rc = -1;
    cc_buf_free(&b);
    return rc;
}

int daemon_link_query(daemon_link *l, const tl_obj *msg, net_answer_fn cb, void *ud, cc_err *err)
{
    return query_for(l, msg, l->env->query_timeout > 0 ? l->env->query_timeout : 10, cb, ud, err);
}

static void on_step_answer(net_conn *conn, void *ud, int32_t code, const char *msg,
                           const uint8_t *data, size_t len)
{
    daemon_link *l = ud;
    tl_obj *o = daemon_link_answer(l, conn, l->step_what, code, msg, data, len, l->step_type);
    if (!o) return;
    l->step(l, o);
    tl_obj_free(o);
}

void daemon_link_handshake_for(daemon_link *l, const tl_obj *msg, int expect_type,
                               daemon_link_step next, double timeout)
{
    l->step_what = tl_ctor_name(msg->id);
    l->step_type = expect_type;
    l->step = next;
    cc_err err;
    if (timeout <= 0) timeout = l->env->query_timeout > 0 ? l->env->query_timeout : 10;
    if (query_for(l, msg, timeout, on_step_answer, l, &err) < 0) daemon_link_fail(l, err.msg);
}

void daemon_link_handshake(daemon_link *l, const tl_obj *msg, int expect_type,
                           daemon_link_step next)
{
    daemon_link_handshake_for(l, msg, expect_type, next, 0);
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

tl_obj *daemon_link_answer(daemon_link *l, net_conn *conn, const char *what, int32_t code,
                           const char *msg, const uint8_t *data, size_t len, int expect_type)
{
    if (!conn || l->conn != conn) return NULL;
    char why[640];
    tl_obj *obj =
        daemon_link_decode_answer(what, code, msg, data, len, expect_type, why, sizeof(why));
    if (!obj) daemon_link_fail(l, why);
    return obj;
}

int daemon_link_set_version(daemon_link *l, int min, int max, uint32_t flags, int32_t stated)
{
    /* The proxy states one agreed version; it must lie within ours. */
    bool has = (flags & 2u) != 0;
    int v = 0;
    cc_err err;
    if (registry_proto_negotiate(min, max, has, has ? stated : 0, has ? stated : 0, &v, &err) < 0) {
        daemon_link_fail(l, err.msg);
        return -1;
    }
    l->proto_version = v;
    return 0;
}

int daemon_link_send(daemon_link *l, const tl_obj *msg)
{
    return net_conn_send_msg(l->conn, msg);
}

net_conn *daemon_link_dial(struct event_base *base, daemon_tee *t, const char *host, uint16_t port,
                           const net_conn_callbacks *cbs, void *ud, cc_err *err)
{
    /* A day-long certificate is renewed before it expires (DESIGN §5.1).
     * Not here for a daemon with sealing keys (the worker): its renewal
     * changes them, and its own check (worker_renew.c) then reconnects every
     * link, not just the one dialing. */
    if (!t->sealing && daemon_tee_rotate(t, false, err) < 0)
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

const char *daemon_link_state_name(daemon_link_state state)
{
    static const char *const names[] = {"waiting", "connecting", "handshake", "ready"};
    return (int)state >= 0 && (size_t)state < CC_ARRAY_LEN(names) ? names[state] : "unknown";
}

json_t *daemon_link_stats_json(const daemon_link *l)
{
    json_t *e = json_object();
    json_object_set_new(e, "address", json_string(l->addr));
    json_object_set_new(e, "state", json_string(daemon_link_state_name(l->state)));
    json_object_set_new(e, "proto_version", json_integer(l->proto_version));
    json_object_set_new(e, "connects", json_integer((json_int_t)l->connects));
    json_object_set_new(e, "requests", json_integer((json_int_t)l->requests));
    if (l->last_error[0]) json_object_set_new(e, "last_error", json_string(l->last_error));
    /* What the proxy's RA-TLS certificate proved (tee_peer_info). */
    daemon_json_add_peer_info(e, l->conn ? net_conn_peer_info(l->conn) : NULL);
    if (l->env->tee && l->env->tee->policy &&
        tee_policy_kind_of(l->env->tee->policy) == TEE_POLICY_ANY)
        json_object_set_new(e, "attestation_warning",
                            json_string("policy any: the proxy is not attested"));
    return e;
}

int daemon_links_init(daemon_links *s, const daemon_link_env *env, const daemon_config *common,
                      char *const *addrs, size_t n, cc_err *err)
{
    s->env = *env;
    s->env.reconnect_min = common->reconnect_min;
    s->env.reconnect_max = common->reconnect_max;
    s->at = cc_calloc(n + 1, sizeof(*s->at));
    s->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (daemon_link_init(&s->at[i], &s->env, addrs[i], err) < 0) return -1;
        s->n++;
    }
    return 0;
}

void daemon_links_start(daemon_links *s)
{
    for (size_t i = 0; i < s->n; i++)
        daemon_link_start(&s->at[i]);
}

void daemon_links_stop(daemon_links *s, const char *reason)
{
    for (size_t i = 0; i < s->n; i++)
        daemon_link_stop(&s->at[i], reason);
    free(s->at);
    s->at = NULL;
    s->n = 0;
}

daemon_link *daemon_links_pick(const daemon_links *s, const daemon_link *avoid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->at[i].state == DAEMON_LINK_READY && &s->at[i] != avoid) return &s->at[i];
    return NULL;
}

size_t daemon_links_index(const daemon_links *s, const daemon_link *l)
{
    return (size_t)(l - s->at);
}

json_t *daemon_links_stats_json(const daemon_links *s, size_t *ready)
{
    json_t *a = json_array();
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        json_array_append_new(a, daemon_link_stats_json(&s->at[i]));
        k += s->at[i].state == DAEMON_LINK_READY;
    }
    if (ready) *ready = k;
    return a;
}
