/* Fuzz target: the local registry file (JSON) and its validation. */
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err;
    json_t *j = cc_json_loadb((const char *)data, size, &err);
    if (!j)
        return 0;
    registry *r = registry_from_json(j, &err);
    if (r) {
        uint8_t h[REGISTRY_HASH_LEN] = {0};
        (void)registry_worker_image_allowed(r, h);
        (void)registry_model_allowed(r, "m");
        for (size_t i = 0; i < registry_proxy_count(r); i++)
            (void)registry_proxy_at(r, i)->address;
        registry_free(r);
    }
    json_decref(j);
    return 0;
}
