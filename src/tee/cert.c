/* RA-TLS certificates (DESIGN §5.1): self-signed Ed25519 X.509 carrying the
 * TEE quote and the claims in two critical extensions, laid out as COCOON's
 * tdx.cpp generate_tdx_self_signed_cert makes them: the quote's REPORTDATA is
 * SHA-512 of the public key, and the claims extension starts with that key
 * (our extra claims follow it, bound by the certificate's self-signature). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "tee/tee_internal.h"

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, cc_err *err)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ext || X509_add_ext(x, ext, -1) != 1) {
        X509_EXTENSION_free(ext);
        return cc_err_set(err, "cannot add certificate extension %s", OBJ_nid2sn(nid));
    }
    X509_EXTENSION_free(ext);
    return 0;
}

static int add_raw_ext(X509 *x, const char *oid, const uint8_t *data, size_t len, cc_err *err)
{
    if (len > INT32_MAX) return cc_err_set(err, "extension %s too large", oid);
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int rc = -1;
    if (obj && os && ASN1_OCTET_STRING_set(os, data, (int)len) == 1 &&
        (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os)) && X509_add_ext(x, ext, -1) == 1)
        rc = 0;
    else
        cc_err_set(err, "cannot add extension %s", oid);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return rc;
}

static int set_random_serial(X509 *x)
{
    uint8_t b[16];
    crypto_random(b, sizeof(b));
    b[0] &= 0x7f; /* positive */
    b[0] |= 0x01; /* and never zero, always 16 bytes */
    BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = ai && X509_set_serialNumber(x, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok ? 0 : -1;
}

X509 *tee_cert_build(EVP_PKEY *key, const uint8_t *claims, size_t claims_len, const uint8_t *quote,
                     size_t quote_len, time_t not_before, long validity_seconds, cc_err *err)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (!x || !name || X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"cocoon", -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"cocoon RA-TLS",
                                   -1, -1, 0) != 1 ||
        X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
        !ASN1_TIME_set(X509_getm_notBefore(x), not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), not_before + validity_seconds) ||
        X509_set_pubkey(x, key) != 1) {
        cc_err_set(err, "cannot build certificate fields");
        goto fail;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err) ||
        add_conf_ext(x, &ctx, NID_key_usage, "critical,digitalSignature", err) ||
        add_conf_ext(x, &ctx, NID_ext_key_usage, "critical,serverAuth,clientAuth", err) ||
        add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash", err) ||
        add_conf_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1", err))
        goto fail;
    if (quote && add_raw_ext(x, TEE_OID_QUOTE, quote, quote_len, err)) goto fail;
    if (claims && add_raw_ext(x, TEE_OID_CLAIMS, claims, claims_len, err)) goto fail;
    if (X509_sign(x, key, NULL) <= 0) {
        cc_err_set(err, "cannot sign the certificate");
        goto fail;
    }
    X509_NAME_free(name);
    return x;
fail:
    ERR_clear_error();
    X509_NAME_free(name);
    X509_free(x);
    return NULL;
}

/* A new identity for `key` (a reference is taken) or a fresh Ed25519 key. */
static tee_identity *identity_make(tee_provider *p, const tee_identity_opts *opts, EVP_PKEY *key,
                                   cc_err *err)
{
    tee_identity *id = cc_calloc(1, sizeof(*id));
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    time_t now = opts && opts->now ? opts->now : time(NULL);
    long validity =
        opts && opts->validity_seconds ? opts->validity_seconds : TEE_CERT_VALIDITY_SECONDS;
    if (key && EVP_PKEY_up_ref(key) == 1)
        id->key = key;
    else
        id->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    size_t publen = 32;
    if (!id->key || EVP_PKEY_get_raw_public_key(id->key, id->pubkey, &publen) != 1 ||
        publen != 32) {
        cc_err_set(err, "cannot generate an Ed25519 key");
        goto fail;
    }
    tee_claims c = {0};
    if (opts && opts->claims) c = *opts->claims;
    memcpy(c.ed25519_pub, id->pubkey, 32);
    id->claims = c;
    tee_claims_encode(&c, &claims);
    if (p && tee_provider_kind_of(p) != TEE_PROVIDER_NONE) {
        /* Over the key alone, as COCOON: its peers recompute exactly this. */
        uint8_t rd[64];
        tee__report_data_for_key(id->pubkey, rd);
        if (tee_provider_quote(p, rd, &quote, err)) goto fail;
        tee_quote q;
        bool fake_tdx;
        if (tee__quote_td(quote.data, quote.len, &q, &fake_tdx, err)) {
            cc_err_prefix(err, "own quote");
            goto fail;
        }
        tee_image_hash(&q.td, id->image_hash);
        tee_quote_free(&q);
        id->has_quote = true;
    }
    id->cert = tee_cert_build(id->key, claims.data, claims.len, id->has_quote ? quote.data : NULL,
                              quote.len, now, validity, err);
    if (!id->cert) goto fail;
    id->not_before = now;
    id->not_after = now + validity;
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    return id;
fail:
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    tee_identity_free(id);
    return NULL;
}

tee_identity *tee_identity_new(tee_provider *p, const tee_identity_opts *opts, cc_err *err)
{
    return identity_make(p, opts, NULL, err);
}

void tee_identity_free(tee_identity *id)
{
    if (!id) return;
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    free(id);
}

bool tee_identity_needs_renewal(const tee_identity *id, time_t now)
{
    if (!now) now = time(NULL);
    /* Short-lived certificates (a lower max_cert_lifetime) renew in their
     * last quarter rather than their last 6 hours. */
    time_t before = (id->not_after - id->not_before) / 4;
    if (before > TEE_CERT_RENEW_BEFORE_SECONDS) before = TEE_CERT_RENEW_BEFORE_SECONDS;
    return id->not_after - now < before;
}

int tee_identity_rotate(tee_provider *p, const tee_identity_opts *opts, tee_identity **idp,
                        cc_err *err)
{
    time_t now = opts && opts->now ? opts->now : time(NULL);
    if (*idp && !tee_identity_needs_renewal(*idp, now)) return 0;
    return tee_identity_renew(p, opts, idp, err) < 0 ? -1 : 1;
}

int tee_identity_renew(tee_provider *p, const tee_identity_opts *opts, tee_identity **idp,
                       cc_err *err)
{
    tee_identity_opts same = {0};
    if (*idp && (!opts || !opts->claims || !opts->validity_seconds)) {
        if (opts) same = *opts;
        if (!same.claims) same.claims = &(*idp)->claims;
        /* The new certificate lives as long as the old one did. */
        if (!same.validity_seconds) same.validity_seconds = (*idp)->not_after - (*idp)->not_before;
        opts = &same;
    }
    /* Same key, fresh certificate and quote: the key is the proxy's public key
     * in COCOON's params, so peers see one key for the process' life. */
    tee_identity *fresh = identity_make(p, opts, *idp ? (*idp)->key : NULL, err);
    if (!fresh) return -1;
    tee_identity_free(*idp);
    *idp = fresh;
    return 0;
}

static void bio_drain(BIO *bio, cc_buf *out)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) cc_buf_append(out, data, (size_t)n);
}

int tee_identity_write_pem(const tee_identity *id, cc_buf *cert_out, cc_buf *key_out, cc_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = -1;
    if (cert_out) {
        if (PEM_write_bio_X509(bio, id->cert) != 1) goto out;
        bio_drain(bio, cert_out);
        BIO_reset(bio);
    }
    if (key_out) {
        if (PEM_write_bio_PrivateKey(bio, id->key, NULL, NULL, 0, NULL, NULL) != 1) goto out;
        bio_drain(bio, key_out);
    }
    rc = 0;
out:
    if (rc) cc_err_set(err, "cannot write PEM");
    BIO_free(bio);
    return rc;
}

int tee_cert_extract(X509 *cert, cc_buf *claims, cc_buf *quote, bool *has_quote, cc_err *err)
{
    ASN1_OBJECT *oq = OBJ_txt2obj(TEE_OID_QUOTE, 1), *oc = OBJ_txt2obj(TEE_OID_CLAIMS, 1);
    int nq = 0, nc = 0, rc = -1;
    *has_quote = false;
    for (int i = 0; i < X509_get_ext_count(cert); i++) {
        X509_EXTENSION *e = X509_get_ext(cert, i);
        ASN1_OBJECT *o = X509_EXTENSION_get_object(e);
        ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(e);
        if (OBJ_cmp(o, oq) == 0) {
            nq++;
            if (quote) cc_buf_append(quote, d->data, (size_t)d->length);
        } else if (OBJ_cmp(o, oc) == 0) {
            nc++;
            if (claims) cc_buf_append(claims, d->data, (size_t)d->length);
        }
    }
    /* No claims extension is fine: COCOON's certificates made without a TEE
     * have none, and the key is then the only claim. */
    if (nq > 1 || nc > 1)
        cc_err_set(err, "certificate repeats the quote or claims extension");
    else
        rc = 0;
    *has_quote = nq == 1;
    ASN1_OBJECT_free(oq);
    ASN1_OBJECT_free(oc);
    return rc;
}
