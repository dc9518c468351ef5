/* The fake TEE's PKI: the network-wide fake root (a directory with
 * fake_root.key and fake_root.pem), certificates shaped like Intel's PCK
 * chain (root → "PCK Platform CA" → PCK leaf carrying the Intel SGX
 * extension with FMSPC, PCE-ID and TCB components), and raw ECDSA signing. */
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "tee/tee_provider.h"

#define FAKE_ROOT_KEY "fake_root.key"
#define FAKE_ROOT_CERT "fake_root.pem"

/* ------------------------------------------------ DER for the SGX extension */

static void der_len(cc_buf *b, size_t n)
{
    if (n < 128) {
        cc_buf_append_u8(b, (uint8_t)n);
    } else if (n < 256) {
        cc_buf_append_u8(b, 0x81);
        cc_buf_append_u8(b, (uint8_t)n);
    } else {
        cc_buf_append_u8(b, 0x82);
        cc_buf_append_u8(b, (uint8_t)(n >> 8));
        cc_buf_append_u8(b, (uint8_t)n);
    }
}

static void der_tlv(cc_buf *b, uint8_t tag, const void *v, size_t n)
{
    cc_buf_append_u8(b, tag);
    der_len(b, n);
    cc_buf_append(b, v, n);
}

/* OID 1.2.840.113741.1.13.1[.a[.b]] */
static void sgx_oid(cc_buf *b, int a, int sub)
{
    uint8_t o[12] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
    size_t n = 9;
    if (a) o[n++] = (uint8_t)a;
    if (sub) o[n++] = (uint8_t)sub;
    der_tlv(b, 0x06, o, n);
}

static void der_uint(cc_buf *b, unsigned v)
{
    uint8_t x[3];
    size_t n = 0;
    if (v > 0x7fff) x[n++] = 0;
    if (v > 0x7f) {
        if (v <= 0xff)
            x[n++] = 0;
        else
            x[n++] = (uint8_t)(v >> 8);
    }
    x[n++] = (uint8_t)v;
    der_tlv(b, 0x02, x, n);
}

/* SEQUENCE { OID, value } with the value already encoded. */
static void item(cc_buf *out, int a, int sub, const cc_buf *value)
{
    cc_buf pair = CC_BUF_INIT;
    sgx_oid(&pair, a, sub);
    cc_buf_append(&pair, value->data, value->len);
    der_tlv(out, 0x30, pair.data, pair.len);
    cc_buf_free(&pair);
}

void tee__fake_sgx_ext_der(const tee_pck_info *info, cc_buf *out)
{
    cc_buf items = CC_BUF_INIT, v = CC_BUF_INIT, tcb = CC_BUF_INIT;
    uint8_t ppid[16] = {0};
    der_tlv(&v, 0x04, ppid, 16);
    item(&items, 1, 0, &v);
    for (int i = 1; i <= 18; i++) {
        cc_buf_reset(&v);
        if (i <= 16)
            der_uint(&v, info->comp_svn[i - 1]);
        else if (i == 17)
            der_uint(&v, info->pcesvn);
        else
            der_tlv(&v, 0x04, info->cpusvn, 16);
        item(&tcb, 2, i, &v);
    }
    cc_buf_reset(&v);
    der_tlv(&v, 0x30, tcb.data, tcb.len);
    item(&items, 2, 0, &v);
    cc_buf_reset(&v);
    der_tlv(&v, 0x04, info->pceid, 2);
    item(&items, 3, 0, &v);
    cc_buf_reset(&v);
    der_tlv(&v, 0x04, info->fmspc, 6);
    item(&items, 4, 0, &v);
    cc_buf_reset(&v);
    uint8_t standard = 0;
    der_tlv(&v, 0x0a, &standard, 1);
    item(&items, 5, 0, &v);
    der_tlv(out, 0x30, items.data, items.len);
    cc_buf_free(&items);
    cc_buf_free(&v);
    cc_buf_free(&tcb);
}

/* ----------------------------------------------------------- certificates */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int add_sgx_ext(X509 *x, const tee_pck_info *sgx)
{
    cc_buf der = CC_BUF_INIT;
    tee__fake_sgx_ext_der(sgx, &der);
    ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = obj && os && ASN1_OCTET_STRING_set(os, der.data, (int)der.len) == 1 &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) &&
             X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    cc_buf_free(&der);
    return ok ? 0 : -1;
}

X509 *tee__fake_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                     time_t not_before, long days, const tee_pck_info *sgx)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    uint8_t serial[16];
    crypto_random(serial, sizeof(serial));
    serial[0] = (serial[0] & 0x7f) | 1;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    bool ok =
        x && name && ai && X509_set_version(x, X509_VERSION_3) == 1 &&
        X509_set_serialNumber(x, ai) == 1 &&
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   (const unsigned char *)"cocoon fake TEE", -1, -1, 0) == 1 &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) == 1 &&
        X509_set_subject_name(x, name) == 1 &&
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
        ASN1_TIME_set(X509_getm_notBefore(x), not_before) &&
        ASN1_TIME_set(X509_getm_notAfter(x), not_before + days * 86400L) &&
        X509_set_pubkey(x, key) == 1;
    X509 *iss = issuer ? issuer : x;
    if (ok)
        ok = add_ext(x, iss, NID_basic_constraints,
                     ca ? "critical,CA:TRUE" : "critical,CA:FALSE") == 0 &&
             add_ext(x, iss, NID_key_usage,
                     ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") == 0 &&
             add_ext(x, iss, NID_subject_key_identifier, "hash") == 0 &&
             (!issuer || add_ext(x, iss, NID_authority_key_identifier, "keyid:always") == 0) &&
             (!sgx || add_sgx_ext(x, sgx) == 0) && X509_sign(x, issuer_key, EVP_sha256()) > 0;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }
    return x;
}

static void path_join(char *out, size_t cap, const char *dir, const char *file)
{
    snprintf(out, cap, "%s/%s", dir, file);
}

int tee_fake_root_init(const char *dir, bool force, cc_err *err)
{
    char kpath[1024], cpath[1024];
    path_join(kpath, sizeof(kpath), dir, FAKE_ROOT_KEY);
    path_join(cpath, sizeof(cpath), dir, FAKE_ROOT_CERT);
    struct stat st;
    if (!force && (stat(kpath, &st) == 0 || stat(cpath, &st) == 0))
        return cc_err_set(err, "%s already holds a fake root (use --force to replace it)", dir);
    if (cc_mkdirs(dir, 0700, err)) return -1;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *cert = key ? tee__fake_cert(key, "cocoon fake TEE root CA", NULL, key, true,
                                      time(NULL) - 3600, 3650, NULL)
                     : NULL;
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    int rc = -1;
    if (!cert || PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(cb, cert) != 1) {
        cc_err_set(err, "cannot generate the fake root");
        goto out;
    }
    char *kd, *cd;
    long kn = BIO_get_mem_data(kb, &kd), cn = BIO_get_mem_data(cb, &cd);
    if (cc_write_file_atomic(kpath, kd, (size_t)kn, 0600, err) ||
        cc_write_file_atomic(cpath, cd, (size_t)cn, 0644, err))
        goto out;
    rc = 0;
out:
    ERR_clear_error();
    BIO_free(kb);
    BIO_free(cb);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

X509 *tee_fake_root_load_cert(const char *path, cc_err *err)
{
    char cpath[1024];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        path_join(cpath, sizeof(cpath), path, FAKE_ROOT_CERT);
    else
        snprintf(cpath, sizeof(cpath), "%s", path);
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(cpath, &b, err)) return NULL;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cc_buf_free(&b);
    ERR_clear_error();
    if (!x) cc_err_set(err, "%s: not a PEM certificate", cpath);
    return x;
}

EVP_PKEY *tee__fake_root_load_key(const char *dir, cc_err *err)
{
    char path[1024];
    path_join(path, sizeof(path), dir, FAKE_ROOT_KEY);
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(path, &b, err)) return NULL;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    OPENSSL_cleanse(b.data, b.len);
    cc_buf_free(&b);
    ERR_clear_error();
    if (!k) cc_err_set(err, "%s: not a PEM private key", path);
    return k;
}

int tee__ecdsa_sign_rs(EVP_PKEY *key, const void *msg, size_t n, uint8_t rs[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dlen = sizeof(der);
    int rc = -1;
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, der, &dlen, msg, n) == 1) {
        const unsigned char *pp = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &pp, (long)dlen);
        if (sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) == 32)
            rc = 0;
        ECDSA_SIG_free(sig);
    }
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}

void tee__append_pem(cc_buf *out, X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *d;
    long n = BIO_get_mem_data(bio, &d);
    cc_buf_append(out, d, (size_t)n);
    BIO_free(bio);
}
