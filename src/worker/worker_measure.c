/* What the worker measures into its fake-TEE quote (RTMR2): whom it trusts
 * (policy, fake root, whether it checks proxies against a registry) and where
 * prompts go (the backend and its URL). The model is not measured: the proxy
 * checks it separately against the registry's model hashes. */
#include "daemon/daemon.h"
#include "worker/worker.h"

int worker_config_measure(const worker_config *c, cc_buf *out, cc_err *err)
{
    const daemon_measure_item items[] = {{"proxy_check", c->registry ? "registry" : "off"},
                                         {"backend", c->backend},
                                         {"backend_url", c->backend_url}};
    return daemon_measure(out, "worker", c->tee, c->policy, items, 3, c->fake_root, err);
}
