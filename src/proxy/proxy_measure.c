/* What the proxy measures into its fake-TEE quote (RTMR2): the settings that
 * decide whom it trusts. Ports and limits stay out. */
#include "daemon/daemon.h"
#include "proxy/proxy.h"

int proxy_config_measure(const proxy_config *c, cc_buf *out, cc_err *err)
{
    const daemon_measure_item items[] = {{"chain", c->chain}};
    return daemon_measure(out, "proxy", c->tee, c->policy, items, 1, c->fake_root, err);
}
