/* PCK certificate chain helpers: PEM bundles, the Intel SGX extension of the
 * PCK leaf, ECDSA with keys from certificates, chain verification at a time. */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "tee/tee_internal.h"

#define SGX_EXT_OID "1.2.840.113741.1.13.1"
#define MAX_CHAIN 8

STACK_OF(X509) * tee__pem_chain(const uint8_t *pem, size_t len, cc_err *err)
{
    if (len > INT32_MAX) {
        cc_err_set(err, "certificate chain too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *chain = sk_X509_new_null();
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) break;
        if (sk_X509_num(chain) >= MAX_CHAIN) {
            X509_free(x);
            cc_err_set(err, "certificate chain has more than %d certificates", MAX_CHAIN);
            goto fail;
        }
        sk_X509_push(chain, x);
    }
    /* The loop ends at the first thing that is not a certificate: fine when it
     * is the end of the data (trailing NUL or whitespace is common). */
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (sk_X509_num(chain) == 0) {
        cc_err_set(err, "no certificate in the PEM chain");
        goto fail;
    }
    if (e && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        cc_err_set(err, "malformed certificate #%d in the PEM chain", sk_X509_num(chain) + 1);
        goto fail;
    }
    BIO_free(bio);
    return chain;
fail:
    BIO_free(bio);
    sk_X509_pop_free(chain, X509_free);
    return NULL;
}

static bool obj_is(const ASN1_OBJECT *o, const char *oid)
{
    char txt[80];
    if (OBJ_obj2txt(txt, sizeof(txt), o, 1) <= 0) return false;
    return strcmp(txt, oid) == 0;
}

/* Reads the OID-keyed items of an SGX extension sequence; each item is
 * SEQUENCE { OID, value }. Returns the number of items or -1. */
typedef struct sgx_item {
    char oid[80];
    const ASN1_TYPE *val;
} sgx_item;

static int read_items(const unsigned char *der, long len, STACK_OF(ASN1_TYPE) * *holder,
                      sgx_item *items, int max)
{
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    if (!seq) return -1;
    *holder = seq;
    int n = 0, count = sk_ASN1_TYPE_num(seq); /* values get appended below */
    for (int i = 0; i < count && n < max; i++) {
        ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, i);
        if (t->type != V_ASN1_SEQUENCE) return -1;
        /* The inner pair is decoded into a second stack kept alive by
         * appending it to the caller's holder list. */
        const unsigned char *q = t->value.sequence->data;
        STACK_OF(ASN1_TYPE) *pair = d2i_ASN1_SEQUENCE_ANY(NULL, &q, t->value.sequence->length);
        if (!pair) return -1;
        if (sk_ASN1_TYPE_num(pair) != 2 || sk_ASN1_TYPE_value(pair, 0)->type != V_ASN1_OBJECT) {
            sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
            return -1;
        }
        if (OBJ_obj2txt(items[n].oid, sizeof(items[n].oid),
                        sk_ASN1_TYPE_value(pair, 0)->value.object, 1) <= 0) {
            sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
            return -1;
        }
        /* Move the value out of the pair into the holder so it outlives it. */
        ASN1_TYPE *v = sk_ASN1_TYPE_delete(pair, 1);
        sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
        sk_ASN1_TYPE_push(seq, v);
        items[n].val = v;
        n++;
    }
    return n;
}

static int octets(const ASN1_TYPE *v, uint8_t *out, int want)
{
    if (v->type != V_ASN1_OCTET_STRING || v->value.octet_string->length != want) return -1;
    memcpy(out, v->value.octet_string->data, (size_t)want);
    return 0;
}

static int small_int(const ASN1_TYPE *v, long max, long *out)
{
    if (v->type != V_ASN1_INTEGER && v->type != V_ASN1_ENUMERATED) return -1;
    long x = ASN1_INTEGER_get(v->value.integer);
    if (x < 0 || x > max) return -1;
    *out = x;
    return 0;
}

static int parse_tcb(const ASN1_TYPE *v, tee_pck_info *out, cc_err *err)
{
    if (v->type != V_ASN1_SEQUENCE)
        return cc_err_set(err, "PCK SGX extension: TCB is not a sequence");
    STACK_OF(ASN1_TYPE) *holder = NULL;
    sgx_item items[24];
    int n = read_items(v->value.sequence->data, v->value.sequence->length, &holder, items, 24);
    int rc = -1, seen = 0;
    if (n < 0) {
        cc_err_set(err, "PCK SGX extension: malformed TCB");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *prefix = SGX_EXT_OID ".2.";
        if (strncmp(items[i].oid, prefix, strlen(prefix)) != 0) continue;
        long idx = strtol(items[i].oid + strlen(prefix), NULL, 10), x;
        if (idx >= 1 && idx <= 16) {
            if (small_int(items[i].val, 255, &x)) {
                cc_err_set(err, "PCK SGX extension: bad TCB component %ld", idx);
                goto out;
            }
            out->comp_svn[idx - 1] = (uint8_t)x;
            seen |= 1;
        } else if (idx == 17) {
            if (small_int(items[i].val, 65535, &x)) {
                cc_err_set(err, "PCK SGX extension: bad PCESVN");
                goto out;
            }
            out->pcesvn = (uint16_t)x;
            seen |= 2;
        } else if (idx == 18) {
            if (octets(items[i].val, out->cpusvn, 16)) {
                cc_err_set(err, "PCK SGX extension: bad CPUSVN");
                goto out;
            }
        }
    }
    if (seen != 3) {
        cc_err_set(err, "PCK SGX extension: TCB components or PCESVN missing");
        goto out;
    }
    rc = 0;
out:
    sk_ASN1_TYPE_pop_free(holder, ASN1_TYPE_free);
    return rc;
}

int tee__pck_ext_parse(X509 *leaf, tee_pck_info *out, cc_err *err)
{
    memset(out, 0, sizeof(*out));
    X509_EXTENSION *ext = NULL;
    for (int i = 0; i < X509_get_ext_count(leaf); i++) {
        X509_EXTENSION *e = X509_get_ext(leaf, i);
        if (obj_is(X509_EXTENSION_get_object(e), SGX_EXT_OID)) {
            ext = e;
            break;
        }
    }
    if (!ext) return 0;
    ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(ext);
    STACK_OF(ASN1_TYPE) *holder = NULL;
    sgx_item items[16];
    int n = read_items(data->data, data->length, &holder, items, 16);
    int rc = -1, seen = 0;
    if (n < 0) {
        cc_err_set(err, "PCK SGX extension is malformed");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *o = items[i].oid;
        if (!strcmp(o, SGX_EXT_OID ".2")) {
            if (parse_tcb(items[i].val, out, err)) goto out;
            seen |= 1;
        } else if (!strcmp(o, SGX_EXT_OID ".3")) {
            if (octets(items[i].val, out->pceid, 2)) {
                cc_err_set(err, "PCK SGX extension: bad PCE-ID");
                goto out;
            }
            seen |= 2;
        } else if (!strcmp(o, SGX_EXT_OID ".4")) {
            if (octets(items[i].val, out->fmspc, 6)) {
                cc_err_set(err, "PCK SGX extension: bad FMSPC");
                goto out;
            }
            seen |= 4;
        }
    }
    if (seen != 7) {
        cc_err_set(err, "PCK SGX extension lacks TCB, PCE-ID or FMSPC");
        goto out;
    }
    out->has_sgx_ext = true;
    rc = 0;
out:
    sk_ASN1_TYPE_pop_free(holder, ASN1_TYPE_free);
    return rc;
}

int tee__pck_info_from_quote(const tee_quote *q, tee_pck_info *out, cc_err *err)
{
    memset(out, 0, sizeof(*out));
    STACK_OF(X509) *chain = tee__pem_chain(q->pck_chain_pem, q->pck_chain_pem_len, err);
    if (!chain) return -1;
    int rc = tee__pck_ext_parse(sk_X509_value(chain, 0), out, err);
    out->chain_len = sk_X509_num(chain);
    sk_X509_pop_free(chain, X509_free);
    if (rc == 0 && !out->has_sgx_ext) return cc_err_set(err, "PCK leaf has no Intel SGX extension");
    return rc;
}

static bool is_p256(EVP_PKEY *pk)
{
    char group[32];
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC) return false;
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1)
        return false;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

int tee__ec_pub_xy(EVP_PKEY *pk, uint8_t xy[64], cc_err *err)
{
    if (!pk || !is_p256(pk)) return cc_err_set(err, "key is not ECDSA P-256");
    BIGNUM *x = NULL, *y = NULL;
    int rc = -1;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
        BN_bn2binpad(x, xy, 32) == 32 && BN_bn2binpad(y, xy + 32, 32) == 32)
        rc = 0;
    else
        cc_err_set(err, "cannot read the EC public key");
    BN_free(x);
    BN_free(y);
    return rc;
}

EVP_PKEY *tee__ec_key_from_xy(const uint8_t xy[64])
{
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
        OSSL_PARAM_construct_end(),
    };
    if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    return pk;
}

int tee__verify_chain(X509 *leaf, STACK_OF(X509) * untrusted, X509 *root, time_t at,
                      STACK_OF(X509_CRL) * crls, int *x509_err, cc_err *err)
{
    if (x509_err) *x509_err = 0;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;
    if (!store || !ctx || X509_STORE_add_cert(store, root) != 1 ||
        X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        cc_err_set(err, "cannot set up certificate verification");
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, at);
    if (crls) {
        X509_STORE_CTX_set0_crls(ctx, crls);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    if (X509_verify_cert(ctx) == 1) {
        rc = 0;
    } else {
        int e = X509_STORE_CTX_get_error(ctx);
        if (x509_err) *x509_err = e;
        if (x509_err) *x509_err = e;
        cc_err_set(err, "certificate chain does not verify at depth %d: %s",
                   X509_STORE_CTX_get_error_depth(ctx), X509_verify_cert_error_string(e));
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}
