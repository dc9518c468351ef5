/* The model identifier that pins a file's exact bytes (DESIGN §5.3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "engine/engine.h"

char *engine_model_identifier(const char *path, const char *name, cc_err *err)
{
    uint8_t h[32];
    if (crypto_sha256_file(path, h, err)) return NULL;
    char hex[65];
    cc_hex_encode(h, 32, hex);
    char *dflt = NULL;
    if (!name || !name[0]) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".gguf")) bl -= 5;
        dflt = cc_strndup(base, bl);
        name = dflt;
    }
    size_t len = strlen(name) + 8 + 64 + 1;
    char *id = cc_malloc(len);
    snprintf(id, len, "%s@sha256:%s", name, hex);
    free(dflt);
    return id;
}
