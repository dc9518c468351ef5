/* What the proxy measures into its fake-TEE quote (RTMR2): the settings that
 * decide whom it trusts. Ports and limits stay out. */
#include "daemon/daemon.h"
#include "proxy/proxy.h"

#include <string.h>

int proxy_config_measure(const proxy_config *c, cc_buf *out, cc_err *err)
{
    const daemon_measure_item items[] = {{"chain", c->chain}, {"client_policy", c->client_policy}};
    if (daemon_measure(out, "proxy", c->tee, c->policy, items, 2, c->fake_root, err) < 0) return -1;
    /* The fake root is the client port's trust anchor too. */
    if (strcmp(c->policy, "fake") != 0 && !strcmp(c->client_policy, "fake"))
        return tee_measure_add_fake_root(out, c->fake_root, err);
    return 0;
}
