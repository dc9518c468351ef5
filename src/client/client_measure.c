/* What the client measures into its fake-TEE quote (RTMR2): whom it trusts
 * (policy, fake root, whether it checks proxies against a registry). */
#include <string.h>

#include "client/client.h"
#include "tee/tee.h"

int client_config_measure(const client_config *c, cc_buf *out, cc_err *err)
{
    if (tee_measure_add(out, "role", "client", err) < 0 ||
        tee_measure_add(out, "tee", c->tee, err) < 0 ||
        tee_measure_add(out, "policy", c->policy, err) < 0 ||
        tee_measure_add(out, "proxy_check", c->registry ? "registry" : "off", err) < 0)
        return -1;
    if (!strcmp(c->policy, "fake") && tee_measure_add_fake_root(out, c->fake_root, err) < 0)
        return -1;
    return 0;
}
