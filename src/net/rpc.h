/* Internal to src/net: frame output and the RPC layer over a connection. */
#ifndef COCOON_NET_RPC_H
#define COCOON_NET_RPC_H

#include "net/net_internal.h"
#include "net/tcp_codec.h"

/* Sends ping/pong/connect/connected regardless of the ready state. */
int net_rpc_send_id_msg(net_conn *c, net_tcp_kind kind, uint64_t id);
/* Handles a decoded message on a ready connection; -1 if it got closed. */
int net_rpc_dispatch(net_conn *c, const net_tcp_msg *m);
/* Fails every pending outbound query with code/reason. */
void net_rpc_fail_all(net_conn *c, int code, const char *reason);

#endif
