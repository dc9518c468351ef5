/* What the worker measures into its fake-TEE quote (RTMR2): whom it trusts
 * (policy, fake root, whether it checks proxies against a registry) and where
 * prompts go (the backend and its URL). The model is not measured: the proxy
 * checks it separately against the registry's model hashes. */
#include <string.h>

#include "tee/tee.h"
#include "worker/worker.h"

int worker_config_measure(const worker_config *c, cc_buf *out, cc_err *err)
{
    if (tee_measure_add(out, "role", "worker", err) < 0 ||
        tee_measure_add(out, "tee", c->tee, err) < 0 ||
        tee_measure_add(out, "policy", c->policy, err) < 0 ||
        tee_measure_add(out, "proxy_check", c->registry ? "registry" : "off", err) < 0 ||
        tee_measure_add(out, "backend", c->backend, err) < 0 ||
        tee_measure_add(out, "backend_url", c->backend_url, err) < 0)
        return -1;
    if (!strcmp(c->policy, "fake") && tee_measure_add_fake_root(out, c->fake_root, err) < 0)
        return -1;
    return 0;
}
