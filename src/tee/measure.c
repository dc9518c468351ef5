/* The measured part of a daemon's configuration (DESIGN §5.4: RTMR2 of the
 * fake TEE). Only settings that change what the code trusts or where data
 * goes are measured, so a host that edits them gets another image hash and is
 * refused by a registry listing the genuine one; ports, timeouts and log
 * levels stay out so operators can still move a daemon around. */
#include <string.h>

#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "tee/tee.h"

int tee_measure_add(cc_buf *out, const char *key, const char *value, cc_err *err)
{
    if (!value) value = "";
    /* One "key=value\n" line per setting: a newline inside a value could
     * forge another line, so refuse it rather than escape it. */
    if (strpbrk(key, "=\n") || strchr(value, '\n'))
        return cc_err_set(err, "measured setting %s: newline or '=' not allowed", key);
    cc_buf_append(out, key, strlen(key));
    cc_buf_append(out, "=", 1);
    cc_buf_append(out, value, strlen(value));
    cc_buf_append(out, "\n", 1);
    return 0;
}

int tee_measure_add_fake_root(cc_buf *out, const char *fake_root, cc_err *err)
{
    X509 *x = tee_fake_root_load_cert(fake_root, err);
    if (!x) return -1;
    uint8_t *der = NULL;
    int n = i2d_X509(x, &der);
    X509_free(x);
    if (n <= 0) return cc_err_set(err, "fake root %s: cannot encode its certificate", fake_root);
    uint8_t h[32];
    char hex[65];
    crypto_sha256(der, (size_t)n, h);
    OPENSSL_free(der);
    cc_hex_encode(h, 32, hex);
    return tee_measure_add(out, "fake_root_sha256", hex, err);
}
