/* Intel PCS collateral: TCB info, QE identity, CRLs, and the TCB status. */
#include <string.h>

#include "tee/tee_internal.h"

struct tee_collateral {
    json_t *root;
};

tee_collateral *tee_collateral_parse(const char *json_text, size_t len, cc_err *err)
{
    json_t *j = cc_json_loadb(json_text, len, err);
    if (!j) return NULL;
    tee_collateral *c = cc_calloc(1, sizeof(*c));
    c->root = j;
    return c;
}

tee_collateral *tee_collateral_load(const char *path, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(path, &b, err)) return NULL;
    tee_collateral *c = tee_collateral_parse((const char *)b.data, b.len, err);
    cc_buf_free(&b);
    return c;
}

void tee_collateral_free(tee_collateral *c)
{
    if (!c) return;
    json_decref(c->root);
    free(c);
}

int tee__collateral_check(const tee_collateral *c, const tee_quote *q, X509 *leaf,
                          STACK_OF(X509) * chain, X509 *root, time_t at, tee_quote_result *res,
                          cc_err *err)
{
    tee__log_check(res, false, "collateral", "evaluation not implemented yet");
    return cc_err_set(err, "collateral evaluation not implemented yet");
}
