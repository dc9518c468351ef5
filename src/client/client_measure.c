/* What the client measures into its fake-TEE quote (RTMR2): whom it trusts
 * (policy, fake root, whether it checks proxies against a registry). */
#include "client/client.h"
#include "daemon/daemon.h"

int client_config_measure(const client_config *c, cc_buf *out, cc_err *err)
{
    const daemon_measure_item items[] = {{"proxy_check", c->registry ? "registry" : "off"}};
    return daemon_measure(out, "client", c->tee, c->policy, items, 1, c->fake_root, err);
}
