/* Fuzz target: Intel PCS collateral JSON (TCB info, QE identity, CRLs and
 * issuer chains) and its evaluation against a fixed fake-TEE quote. The
 * checks do not stop at the first failure, so the TCB level, QE identity and
 * TDX module rules run on fuzzed JSON even when signatures fail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tee/tee.h"

/* One fake platform for the whole run (a fuzz target may keep state). */
static struct {
    bool ready;
    tee_quote quote;
    X509 *root;
} fx;

static void cleanup_dir(const char *dir)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/fake_root.key", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/fake_root.pem", dir);
    unlink(p);
    rmdir(dir);
}

static void init(void)
{
    char dir[512];
    cc_tmp_template(dir, sizeof(dir), "cocoon-fuzz-coll");
    cc_err err;
    if (!mkdtemp(dir) || tee_fake_root_init(dir, false, &err)) abort();
    tee_provider *p = tee_provider_new_fake(dir, NULL, 0, NULL, &err);
    uint8_t rd[64] = {0};
    cc_buf q = CC_BUF_INIT;
    if (!p || tee_provider_quote(p, rd, &q, &err) ||
        tee_quote_parse(q.data, q.len, &fx.quote, &err))
        abort();
    fx.root = tee_fake_root_load_cert(dir, &err);
    cc_buf_free(&q);
    tee_provider_free(p);
    cleanup_dir(dir);
    fx.ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fx.ready) init();
    cc_err err;
    tee_collateral *c = tee_collateral_parse((const char *)data, size, &err);
    if (!c) return 0;
    tee_quote_verify_opts o = {.root = fx.root, .collateral = c};
    tee_quote_result res;
    tee_quote_verify(&fx.quote, &o, &res, &err);
    tee_quote_result_free(&res);
    tee_collateral_free(c);
    return 0;
}
