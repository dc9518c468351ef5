/* The fake TEE (DESIGN §5.4): a software stand-in for TDX that produces
 * v4-layout quotes checked by the same verifier as real ones. The network-wide
 * fake root CA certifies a per-process fake "PCK Platform CA", which certifies
 * a per-process PCK key (with an Intel-style SGX extension: FMSPC, PCE-ID,
 * TCB), which signs a fake QE report binding a per-process attestation key,
 * which signs the quote.
 * Measurements are meaningful: RTMR1 = SHA-384 of the executable, RTMR2 =
 * SHA-384 of the measured configuration, so a changed binary changes the
 * image hash. This proves nothing about confidentiality: anybody holding the
 * fake root key can forge quotes; it exists for development and tests. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "tee/tee_provider.h"

#define FAKE_FIRMWARE_LABEL "cocoon fake TDX firmware v1"
#define FAKE_SEAM_LABEL "cocoon fake TDX module v1"

static const uint8_t fake_qe_vendor_id[16] = "cocoon-fake-QE01";

const tee_pck_info tee__fake_platform = {
    .has_sgx_ext = true,
    .fmspc = {0xfa, 0x4e, 0x00, 0x00, 0x00, 0x00},
    .pceid = {0, 0},
    .pcesvn = 11,
    .cpusvn = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
    .comp_svn = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
};

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
    EVP_PKEY *root_key = tee__fake_root_load_key(dir, err);
    X509 *root = root_key ? tee_fake_root_load_cert(dir, err) : NULL;
    tee_provider *p = cc_calloc(1, sizeof(*p));
    p->kind = TEE_PROVIDER_FAKE;
    if (!root) goto fail;
    if (X509_check_private_key(root, root_key) != 1) {
        cc_err_set(err, "fake root key and certificate in %s do not match", dir);
        goto fail;
    }
    time_t nb = time(NULL) - 3600;
    p->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p->pck_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p->att_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!p->ca_key || !p->pck_key || !p->att_key || tee__ec_pub_xy(p->att_key, p->att_pub, err))
        goto fail;
    p->ca_cert = tee__fake_cert(p->ca_key, "cocoon fake PCK Platform CA", root, root_key, true, nb,
                                3650, NULL);
    p->pck_cert = p->ca_cert ? tee__fake_cert(p->pck_key, "cocoon fake PCK Certificate", p->ca_cert,
                                              p->ca_key, false, nb, 365, &tee__fake_platform)
                             : NULL;
    if (!p->pck_cert) {
        cc_err_set(err, "cannot issue the fake PCK certificates");
        goto fail;
    }
    tee__append_pem(&p->chain_pem, p->pck_cert);
    tee__append_pem(&p->chain_pem, p->ca_cert);
    tee__append_pem(&p->chain_pem, root);
    if (tee_fake_measure(exe_path, config_measure, config_len, &p->measurements, err)) goto fail;
    X509_free(root);
    EVP_PKEY_free(root_key);
    return p;
fail:
    ERR_clear_error();
    X509_free(root);
    EVP_PKEY_free(root_key);
    tee_provider_free(p);
    return NULL;
}

void tee__fake_free(tee_provider *p)
{
    EVP_PKEY_free(p->ca_key);
    X509_free(p->ca_cert);
    X509_free(p->pck_cert);
    EVP_PKEY_free(p->pck_key);
    EVP_PKEY_free(p->att_key);
    cc_buf_free(&p->chain_pem);
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
    uint8_t quote_sig[64];
    if (!p->has_qe_sig)
        p->has_qe_sig = tee__ecdsa_sign_rs(p->pck_key, qe, sizeof(qe), p->qe_sig) == 0;
    if (!p->has_qe_sig || tee__ecdsa_sign_rs(p->att_key, q.data, signed_len, quote_sig)) {
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
    cc_buf_append(&q, p->qe_sig, 64);
    put16(&q, sizeof(auth));
    cc_buf_append(&q, auth, sizeof(auth));
    put16(&q, 5);
    put32(&q, (uint32_t)inner);
    cc_buf_append(&q, p->chain_pem.data, inner);
    cc_buf_append(out, q.data, q.len);
    cc_buf_free(&q);
    return 0;
}
