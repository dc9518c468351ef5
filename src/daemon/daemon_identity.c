/* A daemon's persistent signing key (see daemon_identity in daemon.h).
 *
 * Under the fake TEE, and today under tdx too, the key is a plain 0600 file
 * in the state folder: docs/payments.md says what sealing it to the TD's
 * measurement would take. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "ton/ton.h"

/* Key bytes do not outlive their use in freed memory. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

static int read_seed(const char *path, uint8_t seed[32], cc_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0) return cc_err_set(err, "cannot read %s: %s", path, strerror(errno));
    /* A key others can read is a key others may hold: refuse rather than
     * sign with it. */
    if (st.st_mode & 077)
        return cc_err_set(err, "%s: a signing key must be readable by its owner only (mode %03o)",
                          path, (unsigned)(st.st_mode & 0777));
    cc_buf b = CC_BUF_INIT;
    int rc = cc_read_file(path, &b, err);
    if (rc == 0 && b.len != 32)
        rc = cc_err_set(err, "%s: a signing key is 32 bytes, this file has %zu", path, b.len);
    if (rc == 0) memcpy(seed, b.data, 32);
    if (b.data) wipe(b.data, b.len);
    cc_buf_free(&b);
    return rc;
}

int daemon_seed_load(const char *path, uint8_t seed[32], const char *role, cc_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0) return read_seed(path, seed, err);
    if (errno != ENOENT) return cc_err_set(err, "cannot read %s: %s", path, strerror(errno));
    crypto_random(seed, 32);
    if (cc_write_file_atomic(path, seed, 32, 0600, err) < 0) return -1;
    CC_INFO("event=signing_key_created role=%s path=%s", role, path);
    return 0;
}

int daemon_identity_load(daemon_identity *id, const char *state_dir, const char *file,
                         const char *role, cc_err *err)
{
    memset(id, 0, sizeof(*id));
    if (!state_dir || !*state_dir) {
        CC_WARN("event=identity_ephemeral role=%s reason=\"no state_dir in the config: a new "
                "signing key (and so new contract addresses) at every start\"",
                role);
        crypto_random(id->seed, 32);
    } else {
        if (cc_mkdirs(state_dir, 0700, err) < 0) return -1;
        size_t n = strlen(state_dir) + strlen(file) + 2;
        id->path = malloc(n);
        if (!id->path) return cc_err_set(err, "out of memory");
        snprintf(id->path, n, "%s/%s", state_dir, file);
        if (daemon_seed_load(id->path, id->seed, role, err) < 0) goto fail;
        id->persistent = true;
    }
    if (crypto_ed25519_public(id->seed, id->pub, err) < 0) goto fail;
    return 0;
fail:
    daemon_identity_clear(id);
    return -1;
}

void daemon_identity_clear(daemon_identity *id)
{
    wipe(id->seed, sizeof(id->seed));
    free(id->path);
    id->path = NULL;
    id->persistent = false;
}

json_t *daemon_identity_json(const daemon_identity *id)
{
    json_t *o = json_object();
    char hex[65];
    cc_hex_encode(id->pub, 32, hex);
    json_object_set_new(o, "public_key", json_string(hex));
    ton_wallet w;
    ton_wallet_init(&w, TON_WALLET_V5R1, 0, id->pub, TON_GLOBAL_ID_MAINNET);
    ton_addr a;
    cc_err err;
    if (ton_wallet_address(&w, &a, &err) == 0) {
        char raw[80];
        ton_addr_to_raw(&a, raw, sizeof(raw));
        json_object_set_new(o, "wallet_address", json_string(raw));
    }
    json_object_set_new(o, "persistent", json_boolean(id->persistent));
    if (id->path) json_object_set_new(o, "path", json_string(id->path));
    return o;
}
