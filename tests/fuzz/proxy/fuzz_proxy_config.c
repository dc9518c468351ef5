/* Fuzz target: role configuration files (JSON), proxy's loader. */
#include <stddef.h>
#include <stdint.h>

#include "proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err;
    json_t *j = cc_json_loadb((const char *)data, size, &err);
    if (!j)
        return 0;
    proxy_config c;
    proxy_config_init(&c);
    (void)proxy_config_from_json(j, "/etc/cocoon/proxy.json", &c, &err);
    proxy_config_clear(&c);
    json_decref(j);
    return 0;
}
