/* What the proxy measures into its fake-TEE quote (RTMR2): the settings that
 * decide whom it trusts. Ports and limits stay out. */
#include <string.h>

#include "proxy/proxy.h"
#include "tee/tee.h"

int proxy_config_measure(const proxy_config *c, cc_buf *out, cc_err *err)
{
    if (tee_measure_add(out, "role", "proxy", err) < 0 ||
        tee_measure_add(out, "tee", c->tee, err) < 0 ||
        tee_measure_add(out, "policy", c->policy, err) < 0 ||
        tee_measure_add(out, "chain", c->chain, err) < 0)
        return -1;
    /* The trust anchor of policy fake: another root means other peers pass. */
    if (!strcmp(c->policy, "fake") && tee_measure_add_fake_root(out, c->fake_root, err) < 0)
        return -1;
    return 0;
}
