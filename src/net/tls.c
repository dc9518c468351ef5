/*
 * TLS 1.3 contexts with mutual self-signed certificates.  The chain checks
 * COCOON does are done here; what the certificate *means* (attestation,
 * policy) is decided by the caller's verify hook (DESIGN §5.2).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "net/net_internal.h"

static int ssl_err(cc_err *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return cc_err_set(err, "%s: %s", what, buf);
}

int net_tls_identity_self_signed(const char *common_name, net_tls_identity *out, cc_err *err)
{
    out->key = NULL;
    out->cert = NULL;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key) return ssl_err(err, "ed25519 keygen");
    X509 *x = X509_new();
    uint8_t serial[16];
    crypto_random(serial, sizeof serial);
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    X509_NAME *name = X509_get_subject_name(x);
    int ok = X509_set_version(x, X509_VERSION_3) && bn &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                        (const unsigned char *)common_name, -1, -1, 0) &&
             X509_set_issuer_name(x, name) && X509_set_pubkey(x, key) &&
             X509_sign(x, key, NULL) > 0;
    BN_free(bn);
    if (!ok) {
        X509_free(x);
        EVP_PKEY_free(key);
        return ssl_err(err, "self-signed certificate");
    }
    out->key = key;
    out->cert = x;
    return 0;
}

void net_tls_identity_free(net_tls_identity *id)
{
    if (!id) return;
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    id->key = NULL;
    id->cert = NULL;
}

int net_verify_accept_any(void *ud, X509 *peer_cert, void **peer_info_out, cc_err *err)
{
    (void)ud;
    (void)peer_cert;
    (void)err;
    *peer_info_out = NULL;
    return 0;
}

static int verify_reject(net_conn *c, X509_STORE_CTX *sctx, const char *msg)
{
    if (!c->verify_msg[0]) {
        size_t n = CC_MIN(strlen(msg), sizeof c->verify_msg - 1);
        memcpy(c->verify_msg, msg, n);
        c->verify_msg[n] = 0;
    }
    c->verify_called = true;
    c->verify_ok = false;
    X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* Self-signed means: issuer == subject and the signature checks with the
 * certificate's own key.  X509_check_issued() is not used on purpose: it
 * demands keyCertSign, which an RA-TLS leaf (digitalSignature only) lacks. */
static bool cert_is_self_signed(X509 *cert)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    return pub && X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 &&
           X509_verify(cert, pub) == 1;
}

static int verify_callback(int preverify_ok, X509_STORE_CTX *sctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    net_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!c) return 0;
    if (c->verify_called && !c->verify_ok) return 0;
    int depth = X509_STORE_CTX_get_error_depth(sctx);
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(sctx);
    if (depth != 0 || (sent && sk_X509_num(sent) > 1))
        return verify_reject(c, sctx, "peer sent a certificate chain; expected one self-signed");
    if (!preverify_ok) {
        int e = X509_STORE_CTX_get_error(sctx);
        if (e != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT &&
            e != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION) {
            char msg[200];
            snprintf(msg, sizeof msg, "peer certificate: %s", X509_verify_cert_error_string(e));
            return verify_reject(c, sctx, msg);
        }
        X509_STORE_CTX_set_error(sctx, X509_V_OK);
    }
    if (c->verify_called) return 1;
    X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
    if (!cert || !cert_is_self_signed(cert))
        return verify_reject(c, sctx, "peer certificate is not self-signed");
    cc_err herr;
    cc_err_clear(&herr);
    void *info = NULL;
    if (c->verify.verify(c->verify.ud, cert, &info, &herr) < 0) {
        if (info && c->verify.free_info) c->verify.free_info(info);
        char msg[sizeof herr.msg + 40];
        snprintf(msg, sizeof msg, "peer certificate rejected: %s",
                 herr.msg[0] ? herr.msg : "verify hook said no");
        return verify_reject(c, sctx, msg);
    }
    c->verify_called = true;
    c->verify_ok = true;
    c->peer_info = info;
    X509_up_ref(cert);
    c->peer_cert = cert;
    return 1;
}

SSL_CTX *net_tls_ctx_new(bool server, const net_tls_identity *id, cc_err *err)
{
    if (!id || !id->key || !id->cert) {
        (void)cc_err_set(err, "TLS identity: key and certificate are required");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        ssl_err(err, "SSL_CTX_new");
        return NULL;
    }
    /* TLS 1.3 only, COCOON's two AES-GCM suites, no tickets or resumption:
     * every connection re-verifies the peer's attestation. */
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384") ||
        !SSL_CTX_set_num_tickets(ctx, 0))
        goto fail;
    /* Frames are self-delimiting, so a missing close_notify cannot truncate a
     * message unnoticed; treat it as a plain close. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate(ctx, id->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       verify_callback);
    return ctx;
fail:
    ssl_err(err, "TLS context");
    SSL_CTX_free(ctx);
    return NULL;
}
