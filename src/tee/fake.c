/* The fake TEE (DESIGN §5.4): a software stand-in for TDX that produces
 * v4-layout quotes checked by the same verifier as real ones. A network-wide
 * fake root CA certifies a per-process fake PCK key, which signs a fake QE
 * report binding a per-process attestation key, which signs the quote.
 * Measurements are meaningful: RTMR1 = SHA-384 of the executable, RTMR2 =
 * SHA-384 of the measured configuration, so a changed binary changes the
 * image hash. This proves nothing about confidentiality: anybody holding the
 * fake root key can forge quotes; it exists for development and tests. */
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
#define FAKE_FIRMWARE_LABEL "cocoon fake TDX firmware v1"
#define FAKE_SEAM_LABEL "cocoon fake TDX module v1"

static const uint8_t fake_qe_vendor_id[16] = "cocoon-fake-QE01";

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A P-256 certificate for `key` issued by issuer/issuer_key (self-signed
 * when issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                       time_t not_before, long days)
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
             X509_sign(x, issuer_key, EVP_sha256()) > 0;
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
    X509 *cert =
        key ? make_cert(key, "cocoon fake TEE root CA", NULL, key, true, time(NULL) - 3600, 3650)
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

static EVP_PKEY *load_key(const char *path, cc_err *err)
{
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

static int sha384_file(const char *path, uint8_t out[48], cc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cc_err_set(err, "cannot measure %s: cannot open it", path);
    crypto_hash *h = crypto_hash_new(CRYPTO_HASH_SHA384);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        crypto_hash_update(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    crypto_hash_final(h, out);
    return bad ? cc_err_set(err, "cannot measure %s: read error", path) : 0;
}

static void append_pem(cc_buf *out, X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *d;
    long n = BIO_get_mem_data(bio, &d);
    cc_buf_append(out, d, (size_t)n);
    BIO_free(bio);
}

int tee_fake_measure(const char *exe_path, const void *config, size_t config_len, tee_td_report *m,
                     cc_err *err)
{
    memset(m, 0, sizeof(*m));
    static const uint8_t tcb[16] = {1, 1, 0, 0};
    memcpy(m->tee_tcb_svn, tcb, 16);
    crypto_sha384(FAKE_SEAM_LABEL, strlen(FAKE_SEAM_LABEL), m->mr_seam);
    crypto_sha384(FAKE_FIRMWARE_LABEL, strlen(FAKE_FIRMWARE_LABEL), m->mr_td);
    static const uint8_t xfam[8] = {0xe7, 0x02, 0x06, 0, 0, 0, 0, 0};
    memcpy(m->xfam, xfam, 8);
    /* td_attributes: SEPT_VE_DISABLE like a production TD, DEBUG off. */
    cc_store_u64le(m->td_attributes, 0x10000000ull);
    crypto_sha384(FAKE_FIRMWARE_LABEL " boot", strlen(FAKE_FIRMWARE_LABEL " boot"), m->rtmr[0]);
    if (sha384_file(exe_path ? exe_path : "/proc/self/exe", m->rtmr[1], err)) return -1;
    crypto_sha384(config ? config : "", config ? config_len : 0, m->rtmr[2]);
    return 0;
}

int tee_fake_image_hash(const char *exe_path, const void *config, size_t config_len,
                        uint8_t out[32], cc_err *err)
{
    tee_td_report m;
    if (tee_fake_measure(exe_path, config, config_len, &m, err)) return -1;
    tee_image_hash(&m, out);
    return 0;
}

tee_provider *tee_provider_new_fake(const char *dir, const void *config_measure, size_t config_len,
                                    const char *exe_path, cc_err *err)
{
    char kpath[1024];
    path_join(kpath, sizeof(kpath), dir, FAKE_ROOT_KEY);
    EVP_PKEY *root_key = load_key(kpath, err);
    X509 *root = root_key ? tee_fake_root_load_cert(dir, err) : NULL;
    X509 *pck = NULL;
    tee_provider *p = cc_calloc(1, sizeof(*p));
    p->kind = TEE_PROVIDER_FAKE;
    if (!root) goto fail;
    if (X509_check_private_key(root, root_key) != 1) {
        cc_err_set(err, "fake root key and certificate in %s do not match", dir);
        goto fail;
    }
    p->pck_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p->att_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!p->pck_key || !p->att_key || tee__ec_pub_xy(p->att_key, p->att_pub, err)) goto fail;
    pck = make_cert(p->pck_key, "cocoon fake PCK certificate", root, root_key, false,
                    time(NULL) - 3600, 365);
    if (!pck) {
        cc_err_set(err, "cannot issue the fake PCK certificate");
        goto fail;
    }
    append_pem(&p->chain_pem, pck);
    append_pem(&p->chain_pem, root);

    if (tee_fake_measure(exe_path, config_measure, config_len, &p->measurements, err)) goto fail;
    X509_free(pck);
    X509_free(root);
    EVP_PKEY_free(root_key);
    return p;
fail:
    ERR_clear_error();
    X509_free(pck);
    X509_free(root);
    EVP_PKEY_free(root_key);
    tee_provider_free(p);
    return NULL;
}

void tee__fake_free(tee_provider *p)
{
    EVP_PKEY_free(p->pck_key);
    EVP_PKEY_free(p->att_key);
    cc_buf_free(&p->chain_pem);
}

/* ECDSA P-256/SHA-256 signature as raw r || s. */
static int sign_rs(EVP_PKEY *key, const void *msg, size_t n, uint8_t rs[64])
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
    return rc;
}

static void put16(cc_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    cc_buf_append(b, x, 2);
}

static void put32(cc_buf *b, uint32_t v)
{
    uint8_t x[4];
    cc_store_u32le(x, v);
    cc_buf_append(b, x, 4);
}

static void td_body(const tee_td_report *td, uint8_t b[TEE_TD10_BODY_LEN])
{
    memset(b, 0, TEE_TD10_BODY_LEN);
    memcpy(b + 0, td->tee_tcb_svn, 16);
    memcpy(b + 16, td->mr_seam, 48);
    memcpy(b + 64, td->mr_signer_seam, 48);
    memcpy(b + 112, td->seam_attributes, 8);
    memcpy(b + 120, td->td_attributes, 8);
    memcpy(b + 128, td->xfam, 8);
    memcpy(b + 136, td->mr_td, 48);
    memcpy(b + 184, td->mr_config_id, 48);
    memcpy(b + 232, td->mr_owner, 48);
    memcpy(b + 280, td->mr_owner_config, 48);
    for (int i = 0; i < 4; i++)
        memcpy(b + 328 + 48 * i, td->rtmr[i], 48);
    memcpy(b + 520, td->report_data, 64);
}

int tee__fake_quote(tee_provider *p, const uint8_t report_data[64], cc_buf *out, cc_err *err)
{
    cc_buf q = CC_BUF_INIT;
    /* Header: version 4, ECDSA P-256 key, TDX. */
    put16(&q, 4);
    put16(&q, 2);
    put32(&q, TEE_QUOTE_TEE_TYPE_TDX);
    put32(&q, 0);
    cc_buf_append(&q, fake_qe_vendor_id, 16);
    uint8_t user_data[20] = {0};
    cc_buf_append(&q, user_data, 20);
    tee_td_report td = p->measurements;
    memcpy(td.report_data, report_data, 64);
    uint8_t body[TEE_TD10_BODY_LEN];
    td_body(&td, body);
    cc_buf_append(&q, body, sizeof(body));
    size_t signed_len = q.len;

    /* QE report binding the attestation key, signed by the fake PCK key. */
    uint8_t auth[32];
    for (int i = 0; i < 32; i++)
        auth[i] = (uint8_t)i;
    uint8_t qe[TEE_SGX_REPORT_LEN] = {0};
    crypto_sha256("cocoon fake QE", 14, qe + 64);   /* mr_enclave */
    crypto_sha256("cocoon fake TEE", 15, qe + 128); /* mr_signer */
    qe[256] = 2;                                    /* isv_prod_id */
    qe[258] = 1;                                    /* isv_svn */
    crypto_hash *h = crypto_hash_new(CRYPTO_HASH_SHA256);
    crypto_hash_update(h, p->att_pub, 64);
    crypto_hash_update(h, auth, sizeof(auth));
    crypto_hash_final(h, qe + 320);
    uint8_t qe_sig[64], quote_sig[64];
    if (sign_rs(p->pck_key, qe, sizeof(qe), qe_sig) ||
        sign_rs(p->att_key, q.data, signed_len, quote_sig)) {
        cc_buf_free(&q);
        ERR_clear_error();
        return cc_err_set(err, "fake TEE: signing failed");
    }
    size_t inner = p->chain_pem.len;
    size_t cert_data = TEE_SGX_REPORT_LEN + 64 + 2 + sizeof(auth) + 2 + 4 + inner;
    size_t sig_data = 64 + 64 + 2 + 4 + cert_data;
    put32(&q, (uint32_t)sig_data);
    cc_buf_append(&q, quote_sig, 64);
    cc_buf_append(&q, p->att_pub, 64);
    put16(&q, 6);
    put32(&q, (uint32_t)cert_data);
    cc_buf_append(&q, qe, sizeof(qe));
    cc_buf_append(&q, qe_sig, 64);
    put16(&q, sizeof(auth));
    cc_buf_append(&q, auth, sizeof(auth));
    put16(&q, 5);
    put32(&q, (uint32_t)inner);
    cc_buf_append(&q, p->chain_pem.data, inner);
    cc_buf_append(out, q.data, q.len);
    cc_buf_free(&q);
    return 0;
}
