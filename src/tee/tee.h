/*
 * tee — attestation: Intel TDX quote parsing and verification (DCAP, ECDSA
 * P-256), TEE providers (none / fake / tdx), RA-TLS certificates and the
 * attestation policies that the TLS verify callback runs (DESIGN §5).
 *
 * Layer rules: uses base, crypto and OpenSSL's libcrypto only (not net).
 *
 * Ownership in short:
 *  - tee_quote_parse() copies the input; tee_quote_free() releases it.
 *  - tee_identity owns its EVP_PKEY and X509; callers that want to keep either
 *    beyond tee_identity_free() take their own reference (EVP_PKEY_up_ref /
 *    X509_up_ref).
 *  - tee_verify_peer() never keeps the X509 it is given; the tee_peer_info it
 *    returns is heap memory released with tee_peer_info_free().
 *  - A tee_policy holds a verification cache, so it is mutable: use one policy
 *    from one thread (the daemons run one libevent loop) or lock around it.
 */
#ifndef COCOON_TEE_H
#define COCOON_TEE_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"

/* ------------------------------------------------------------ quotes */

#define TEE_QUOTE_TEE_TYPE_TDX 0x00000081u
#define TEE_QUOTE_HEADER_LEN 48
#define TEE_TD10_BODY_LEN 584
#define TEE_TD15_BODY_LEN 648
#define TEE_SGX_REPORT_LEN 384
/* td_attributes bit 0 (TUD.DEBUG): a debug TD, whose memory the host can read. */
#define TEE_TD_ATTR_DEBUG 0x1ull

/* The TD report body of a TDX quote, byte strings in quote order. */
typedef struct tee_td_report {
    uint8_t tee_tcb_svn[16];
    uint8_t mr_seam[48];
    uint8_t mr_signer_seam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t mr_td[48];
    uint8_t mr_config_id[48];
    uint8_t mr_owner[48];
    uint8_t mr_owner_config[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    bool is_td15; /* the two fields below are present (TDX 1.5 body) */
    uint8_t tee_tcb_svn_2[16];
    uint8_t mr_service_td[48];
} tee_td_report;

/* The SGX enclave report of the quoting enclave (QE). */
typedef struct tee_sgx_report {
    uint8_t cpu_svn[16];
    uint32_t misc_select;
    uint8_t attributes[16];
    uint8_t mr_enclave[32];
    uint8_t mr_signer[32];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint8_t report_data[64];
} tee_sgx_report;

typedef struct tee_quote {
    /* header */
    uint16_t version; /* 4 or 5 */
    uint16_t att_key_type;
    uint32_t tee_type;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    uint16_t body_type; /* v5: 2 = TDX 1.0, 3 = TDX 1.5; v4: 2 */
    uint32_t body_size;
    tee_td_report td;

    /* signature data */
    uint8_t signature[64];       /* r || s over bytes [0, signed_len) */
    uint8_t attestation_key[64]; /* x || y */
    uint16_t cert_type;          /* outer certification data type (6) */
    uint8_t qe_report_raw[TEE_SGX_REPORT_LEN];
    tee_sgx_report qe_report;
    uint8_t qe_report_signature[64];
    const uint8_t *qe_auth_data; /* points into raw */
    size_t qe_auth_data_len;
    uint16_t inner_cert_type;     /* 5 = PCK certificate chain (PEM) */
    const uint8_t *pck_chain_pem; /* points into raw, not NUL-terminated */
    size_t pck_chain_pem_len;

    uint8_t *raw;      /* owned copy of the quote (exactly len bytes) */
    size_t len;        /* quote length from the signature-data length */
    size_t signed_len; /* bytes covered by the quote signature */
    size_t trailing;   /* bytes after the quote in the input (tolerated) */
} tee_quote;

/* Parses a binary TDX quote (v4 or v5). Trailing bytes after the length given
 * by the signature-data length are tolerated (counted in q->trailing). Refuses
 * non-TDX and unknown layouts with a message. On failure q is left empty. */
int tee_quote_parse(const uint8_t *data, size_t len, tee_quote *q, cc_err *err);
/* As tee_quote_parse but also accepts hex text (optional 0x, whitespace). */
int tee_quote_parse_any(const uint8_t *data, size_t len, tee_quote *q, cc_err *err);
void tee_quote_free(tee_quote *q);

/* Image hash (DESIGN §5.3): SHA-256(MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG
 * ‖ RTMR0..3 ‖ 64 zero bytes). */
void tee_image_hash(const tee_td_report *td, uint8_t out[32]);
/* td_attributes as a little-endian u64. */
uint64_t tee_td_attributes(const tee_td_report *td);

/* The quote as JSON (version, tee_type, the body fields with the names of the
 * fixtures' expected.json, image_hash; fmspc when the PCK leaf carries it).
 * New reference, caller decrefs. */
json_t *tee_quote_to_json(const tee_quote *q);

/* ------------------------------------------------------ TCB and collateral */

typedef enum {
    TEE_TCB_NOT_EVALUATED = 0, /* no collateral given */
    TEE_TCB_UP_TO_DATE,
    TEE_TCB_SW_HARDENING_NEEDED,
    TEE_TCB_CONFIGURATION_NEEDED,
    TEE_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    TEE_TCB_OUT_OF_DATE,
    TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    TEE_TCB_REVOKED,
    TEE_TCB_NO_MATCH, /* no TCB level matches: TCB not supported */
} tee_tcb_status;

const char *tee_tcb_status_name(tee_tcb_status s);
/* Parses a name as tee_tcb_status_name() writes it (Intel's spelling). */
int tee_tcb_status_parse(const char *s, tee_tcb_status *out, cc_err *err);

/* Intel PCS collateral in the JSON shape of ../shared/fixtures/tdx (keys
 * tcb_info, tcb_info_signature, tcb_info_issuer_chain, qe_identity,
 * qe_identity_signature, qe_identity_issuer_chain, pck_crl, pck_crl_issuer_chain,
 * root_ca_crl). Opaque; parsed eagerly so errors name the field. */
typedef struct tee_collateral tee_collateral;
tee_collateral *tee_collateral_load(const char *path, cc_err *err);
tee_collateral *tee_collateral_parse(const char *json_text, size_t len, cc_err *err);
void tee_collateral_free(tee_collateral *c);
/* The smaller tcbEvaluationDataNumber of the TCB info and the QE identity;
 * -1 when either lacks one. */
long long tee_collateral_eval_number(const tee_collateral *c);
/* The earliest time at which some item of the collateral (signed JSON,
 * CRLs, issuer certificates) stops being current: fetch new collateral
 * before it. -1 when nothing has an end date. */
int tee_collateral_next_update(const tee_collateral *c, time_t *out);
/* One answer of Intel's PCS API v4 (or a PCCS): its body and, where the API
 * sends one, the percent-encoded issuer chain header (TCB-Info-Issuer-Chain,
 * SGX-Enclave-Identity-Issuer-Chain, SGX-PCK-CRL-Issuer-Chain). */
typedef struct tee_pcs_response {
    const uint8_t *body;
    size_t len;
    const char *issuer_chain; /* NULL when absent */
} tee_pcs_response;
/* Collateral from the answers to /tdx/certification/v4/tcb?fmspc=F,
 * /tdx/certification/v4/qe/identity, /sgx/certification/v4/pckcrl and the
 * root CA CRL (collateral_pcs.c). */
tee_collateral *tee_collateral_from_pcs(const tee_pcs_response *tcb, const tee_pcs_response *qe,
                                        const tee_pcs_response *pck_crl,
                                        const tee_pcs_response *root_crl, cc_err *err);
/* The FMSPC (platform family) its TCB info is for; -1 when it names none. */
int tee_collateral_fmspc(const tee_collateral *c, uint8_t fmspc[6]);

/* -------------------------------------------------------- verification */

/* Intel SGX Root CA (compiled in). New reference, caller X509_free()s. */
X509 *tee_intel_root_ca(void);

/* Verified-platform cache. What a quote proves about its platform (the PCK
 * chain to the root, the QE report and its signature, the attestation key's
 * binding and, with collateral, the TCB evaluation) is the same for every
 * quote that platform's QE signs, so it is verified once and remembered under
 * SHA-256 of every byte those checks read (root, collateral, PCK chain, QE
 * report, signature, auth data, attestation key and the TD fields the TCB
 * evaluation compares). A hit is used only while the verification time lies
 * inside the window where every certificate, CRL and collateral item involved
 * is valid, and before the TTL; each quote's own signature is still verified
 * every time. Only successes are cached. Not thread-safe (one loop). */
typedef struct tee_verify_cache tee_verify_cache;
/* A clock in seconds (monotonic by default); tests inject their own. */
typedef double (*tee_clock_fn)(void *ud);
/* ttl_seconds <= 0 disables the cache (nothing is stored). */
tee_verify_cache *tee_verify_cache_new(double ttl_seconds);
void tee_verify_cache_free(tee_verify_cache *c);
void tee_verify_cache_clear(tee_verify_cache *c);
void tee_verify_cache_set_ttl(tee_verify_cache *c, double ttl_seconds);
/* NULL fn = cc_now_mono. */
void tee_verify_cache_set_clock(tee_verify_cache *c, tee_clock_fn fn, void *ud);
void tee_verify_cache_stats(const tee_verify_cache *c, uint64_t *hits, uint64_t *misses);

typedef struct tee_quote_verify_opts {
    X509 *root;                       /* pinned root; NULL = Intel SGX Root CA */
    time_t at;                        /* verification time; 0 = now */
    const tee_collateral *collateral; /* optional; NULL = no TCB evaluation */
    /* Or a set, one per FMSPC: the one for the PCK certificate's FMSPC is
     * used; when none is for it the TCB is not evaluated and the result says
     * collateral_missing. Ignored when collateral is given. */
    const tee_collateral *const *collaterals;
    size_t n_collaterals;
    tee_verify_cache *cache; /* optional verified-platform cache */
    /* With collateral: the TCB info's and QE identity's
     * tcbEvaluationDataNumber must be at least this (0 = any). */
    long long min_tcb_eval_number;
} tee_quote_verify_opts;

typedef struct tee_quote_result {
    bool ok;                   /* every check that ran passed */
    tee_tcb_status tcb_status; /* TEE_TCB_NOT_EVALUATED without collateral */
    uint8_t fmspc[6];          /* from the PCK leaf when present */
    bool has_fmspc;
    bool collateral_missing; /* a collateral set had none for this FMSPC */
    bool platform_cached;    /* the platform checks came from opts->cache */
    /* When ok: the verification times for which the same verdict holds (every
     * certificate, CRL and collateral item involved is valid). */
    time_t valid_from, valid_until;
    /* One line per check, "ok   <what>" or "FAIL <what>: <why>"; heap, caller
     * frees with tee_quote_result_free. */
    cc_buf log;
} tee_quote_result;

/* Verifies quote signature, QE report signature and binding, the PCK chain to
 * the pinned root at opts->at and (with collateral) its checks and TCB status.
 * Checks run cheapest first and stop at the first failure, so a forged quote
 * costs less than a genuine one: QE report binding (a hash), the cache
 * lookup (a hash), the quote signature (one ECDSA verification; with a cached
 * platform the last check), the chain's root pinned by bytes, the QE report
 * signature, the chain, then the collateral. Returns 0
 * when every check passed (res->ok) and -1 with the failure in err; res
 * (optional) receives the checks that ran. A TCB status other than UpToDate
 * is reported in res but does not by itself fail. */
int tee_quote_verify(const tee_quote *q, const tee_quote_verify_opts *opts, tee_quote_result *res,
                     cc_err *err);
void tee_quote_result_free(tee_quote_result *res);

/* Parses an ISO-8601 UTC time: YYYY-MM-DD[THH:MM:SS[.frac]][Z|+00:00]. */
int tee_parse_iso_time(const char *s, time_t *out, cc_err *err);

/* ------------------------------------------------------------ providers */

typedef enum {
    TEE_PROVIDER_NONE = 0,
    TEE_PROVIDER_FAKE,
    TEE_PROVIDER_TDX,
    TEE_PROVIDER_FAKE_TDX, /* COCOON's fake_tdx test quotes (below) */
} tee_provider_kind;

/* COCOON's fake_tdx "quote" (tdx.cpp FakeTdxInterface) is the bare 64-byte
 * REPORTDATA: no signature, every measurement zero. Test networks only:
 * anybody can make one. */
#define TEE_FAKE_TDX_QUOTE_LEN 64

typedef struct tee_provider tee_provider;

/* none: produces no quote. */
tee_provider *tee_provider_new_none(void);
/* fake: software TEE. fake_root_dir holds the files written by
 * tee_fake_root_init (fake_root.key, fake_root.pem). config_measure is the
 * measured part of the configuration (hashed into RTMR2); may be NULL/0.
 * exe_path is the measured executable (RTMR1); NULL = /proc/self/exe. */
tee_provider *tee_provider_new_fake(const char *fake_root_dir, const void *config_measure,
                                    size_t config_len, const char *exe_path, cc_err *err);
/* tdx: configfs-tsm. Fails with a clear message outside a TD. */
tee_provider *tee_provider_new_tdx(cc_err *err);
/* fake_tdx: quotes are the 64 REPORTDATA bytes, as COCOON's fake_tdx runners
 * make them (accepted by policy fake_tdx, and parsed under any). */
tee_provider *tee_provider_new_fake_tdx(void);
void tee_provider_free(tee_provider *p);
tee_provider_kind tee_provider_kind_of(const tee_provider *p);
/* Produces a quote whose REPORTDATA is report_data into out (appended). The
 * none provider fails (it has no quotes). */
int tee_provider_quote(tee_provider *p, const uint8_t report_data[64], cc_buf *out, cc_err *err);
/* Parses "none" / "fake" / "tdx" / "fake_tdx". */
int tee_provider_kind_parse(const char *s, tee_provider_kind *out, cc_err *err);

/* The measurements the fake TEE reports for an executable (NULL =
 * /proc/self/exe) and a measured configuration: MRTD and RTMR0 from fixed
 * labels, RTMR1 = SHA-384(executable file), RTMR2 = SHA-384(config), RTMR3 = 0;
 * report_data zero. Lets `cocoon` and tests compute the genuine image hash a
 * registry should list. */
int tee_fake_measure(const char *exe_path, const void *config, size_t config_len,
                     tee_td_report *out, cc_err *err);
int tee_fake_image_hash(const char *exe_path, const void *config, size_t config_len,
                        uint8_t out[32], cc_err *err);

/* Measured configuration: what each daemon hands the fake TEE as
 * config_measure (RTMR2). Canonical text, one "key=value\n" line per setting
 * in the order the caller adds them; values with a newline are refused.
 * Daemons measure the settings that change what they trust or where data goes
 * (role, provider, peer policy, the fake root's certificate, the registry
 * source, a worker's backend), never ports or timeouts. */
int tee_measure_add(cc_buf *out, const char *key, const char *value, cc_err *err);
/* Adds "fake_root_sha256=<SHA-256 of the fake root certificate (DER)>" for
 * DIR/fake_root.pem (or the file itself). */
int tee_measure_add_fake_root(cc_buf *out, const char *fake_root, cc_err *err);

/* Writes a new network-wide fake TEE root (P-256 key fake_root.key, self-signed
 * certificate fake_root.pem) into dir (created). Refuses to overwrite unless
 * force. */
int tee_fake_root_init(const char *dir, bool force, cc_err *err);
/* Loads DIR/fake_root.pem (or the file itself when path is a file). New
 * reference. */
X509 *tee_fake_root_load_cert(const char *path, cc_err *err);

/* --------------------------------------------------------------- claims */

/* Claims (DESIGN §5.1): the 32-byte Ed25519 public key (COCOON's whole
 * claims extension), then optional TLV items `u16le tag ‖ u16le len ‖ value`;
 * unknown tags are skipped so the format can grow. The quote's REPORTDATA is
 * SHA-512 of the 32-byte key alone, as COCOON computes it; the items are bound
 * to that attested key because the key signs the certificate that carries
 * them. A certificate without the claims extension claims nothing beyond its
 * key. */
#define TEE_CLAIM_X25519 1      /* 32-byte X25519 key for end-to-end sealing */
#define TEE_CLAIM_MODEL_HASH 2  /* 32-byte model hash (DESIGN §5.3) */
#define TEE_CLAIM_ROLE 3        /* short text: "proxy", "worker", "client" */
#define TEE_CLAIM_RECEIPT_KEY 4 /* 32-byte Ed25519 key that signs the worker's receipts */

typedef struct tee_claims {
    uint8_t ed25519_pub[32];
    bool has_x25519;
    uint8_t x25519_pub[32];
    bool has_model_hash;
    uint8_t model_hash[32];
    char role[16]; /* empty when absent */
    bool has_receipt_key;
    uint8_t receipt_pub[32];
} tee_claims;

/* Encodes claims into out (appended). */
void tee_claims_encode(const tee_claims *c, cc_buf *out);
/* Decodes; refuses truncated items and wrong sizes of known tags. */
int tee_claims_decode(const uint8_t *data, size_t len, tee_claims *out, cc_err *err);

/* --------------------------------------------------- RA-TLS certificates */

#define TEE_OID_QUOTE "1.3.6.1.4.1.12345.1"
#define TEE_OID_CLAIMS "1.3.6.1.4.1.12345.2"
#define TEE_CERT_VALIDITY_SECONDS (24 * 3600)
/* Renew when less than this much validity is left. */
#define TEE_CERT_RENEW_BEFORE_SECONDS (6 * 3600)

typedef struct tee_identity {
    EVP_PKEY *key;      /* Ed25519 private key (owned) */
    X509 *cert;         /* self-signed RA-TLS certificate (owned) */
    uint8_t pubkey[32]; /* raw Ed25519 public key */
    time_t not_before;
    time_t not_after;
    bool has_quote;
    uint8_t image_hash[32]; /* of our own quote, when has_quote */
    tee_claims claims;      /* what the certificate claims (reused on rotation) */
} tee_identity;

typedef struct tee_identity_opts {
    const tee_claims *claims; /* extra claims (ed25519_pub is overwritten); NULL = none */
    time_t now;               /* 0 = now; tests set it to make expired certs */
    long validity_seconds;    /* 0 = TEE_CERT_VALIDITY_SECONDS */
} tee_identity_opts;

/* Generates a fresh Ed25519 key, asks the provider for a quote over
 * SHA-512(public key) (none: no quote extension) and builds the certificate
 * with the claims extension. */
tee_identity *tee_identity_new(tee_provider *p, const tee_identity_opts *opts, cc_err *err);
void tee_identity_free(tee_identity *id);
/* True when the certificate expires within TEE_CERT_RENEW_BEFORE_SECONDS (or
 * a quarter of its lifetime, when shorter) of now (0 = current time) and
 * should be replaced by a new identity. */
bool tee_identity_needs_renewal(const tee_identity *id, time_t now);
/* Replaces *idp by a fresh identity when it needs renewal; returns 1 when it
 * did, 0 when not needed, -1 on error (the old identity stays). The key stays
 * the same (a new certificate with a fresh quote and validity); with opts or
 * opts->claims NULL the new identity makes the same claims as the old one,
 * with validity_seconds 0 it keeps the old lifetime.
 * The old identity is freed: anything that must outlive it (a TLS context)
 * holds its own OpenSSL references, as net does. */
int tee_identity_rotate(tee_provider *p, const tee_identity_opts *opts, tee_identity **idp,
                        cc_err *err);
/* The same renewal, whether due or not (an operator's request, a rotation of
 * the keys the claims name); 0 or -1 (the old identity stays). */
int tee_identity_renew(tee_provider *p, const tee_identity_opts *opts, tee_identity **idp,
                       cc_err *err);
/* PEM of the certificate and of the private key (PKCS#8), appended to out. */
int tee_identity_write_pem(const tee_identity *id, cc_buf *cert_out, cc_buf *key_out, cc_err *err);

/* Test / tool helper: builds an RA-TLS certificate from explicit parts, so a
 * test can make a certificate whose quote does not match its key. quote may be
 * NULL; claims may be NULL (no claims extension, like COCOON's certificates
 * made without a TEE). claims must start with the key's public key for a
 * valid certificate but this function does not check it. */
X509 *tee_cert_build(EVP_PKEY *key, const uint8_t *claims, size_t claims_len, const uint8_t *quote,
                     size_t quote_len, time_t not_before, long validity_seconds, cc_err *err);

/* ------------------------------------------------------------- policies */

/* any: no quote needed (one present is parsed and must be bound to the key,
 * but is never verified); fake: our fake TEE's quotes to the network's fake
 * root; tdx: Intel TDX quotes to Intel's root; fake_tdx: COCOON's test policy,
 * a 64-byte quote equal to SHA-512(key) (no signature: test networks only). */
typedef enum {
    TEE_POLICY_ANY = 0,
    TEE_POLICY_FAKE,
    TEE_POLICY_TDX,
    TEE_POLICY_FAKE_TDX,
} tee_policy_kind;

typedef struct tee_policy tee_policy;

/* Everything the peer's certificate proved. Heap; tee_peer_info_free(). */
typedef struct tee_peer_info {
    uint8_t pubkey[32]; /* the peer's Ed25519 key (from the certificate) */
    tee_claims claims;
    bool has_quote;      /* the certificate carried a quote */
    bool quote_verified; /* the quote verified under the policy's root: only then are td and
                          * image_hash authenticated (policy any parses, never verifies;
                          * fake_tdx "verifies" as COCOON does: length and REPORTDATA) */
    bool has_claims;     /* the certificate carried our claims extension */
    tee_td_report td;    /* valid when has_quote */
    uint8_t image_hash[32];
    tee_tcb_status tcb_status;
    bool from_cache;   /* quote verification result came from the cache */
    char summary[256]; /* one line, for logs and /jsonstats */
} tee_peer_info;

void tee_peer_info_free(void *info);

tee_policy *tee_policy_new(tee_policy_kind kind);
void tee_policy_free(tee_policy *p);
tee_policy_kind tee_policy_kind_of(const tee_policy *p);
/* Parses "any" / "fake" / "tdx" / "fake_tdx". */
int tee_policy_kind_parse(const char *s, tee_policy_kind *out, cc_err *err);
const char *tee_policy_kind_name(tee_policy_kind k);
/* fake: the network's fake root certificate (takes its own reference). */
void tee_policy_set_root(tee_policy *p, X509 *root);
/* Default accepted TCB statuses: UpToDate and SWHardeningNeeded. */
#define TEE_TCB_ALLOWED_DEFAULT ((1u << TEE_TCB_UP_TO_DATE) | (1u << TEE_TCB_SW_HARDENING_NEEDED))
/* Verifiers refuse certificates valid for longer than this (default). */
#define TEE_MAX_CERT_LIFETIME_DEFAULT (24L * 3600)

/* tdx: collateral (the policy takes ownership; NULL removes it) for a TCB
 * status; only statuses in the allowed mask (1u << tee_tcb_status) pass.
 * allowed_mask 0 keeps the current mask (default TEE_TCB_ALLOWED_DEFAULT).
 * Under tdx without collateral the status is NotEvaluated, which is refused
 * unless the mask names it. */
void tee_policy_set_collateral(tee_policy *p, tee_collateral *c, uint32_t allowed_mask);
/* tdx: adds collateral for one more platform family, or replaces the one for
 * the same FMSPC (the policy takes ownership). A quote is judged by the
 * collateral of its PCK certificate's FMSPC. -1 (c freed) when c names no
 * FMSPC or the policy already holds TEE_POLICY_MAX_COLLATERALS others. */
#define TEE_POLICY_MAX_COLLATERALS 16
int tee_policy_put_collateral(tee_policy *p, tee_collateral *c, cc_err *err);
size_t tee_policy_collateral_count(const tee_policy *p);
/* FMSPCs of genuine platforms (PCK chain to the pinned root) whose quotes
 * found no collateral, so that a collateral source can fetch theirs: up to
 * max, most recent first. A FMSPC leaves the list when collateral for it is
 * put. */
size_t tee_policy_missing_fmspcs(const tee_policy *p, uint8_t (*out)[6], size_t max);
void tee_policy_set_allowed_tcb(tee_policy *p, uint32_t allowed_mask);
/* With collateral: the minimum tcbEvaluationDataNumber (0 = any). */
void tee_policy_set_min_tcb_eval_number(tee_policy *p, long long n);
/* Refuse certificates whose notAfter - notBefore exceeds this (seconds;
 * default TEE_MAX_CERT_LIFETIME_DEFAULT, 0 = unlimited). */
void tee_policy_set_max_cert_lifetime(tee_policy *p, long seconds);
/* Allowlists: empty = anything goes for that measurement. */
void tee_policy_allow_mrtd(tee_policy *p, const uint8_t mrtd[48]);
void tee_policy_allow_rtmrs(tee_policy *p, const uint8_t rtmr[4][48]);
void tee_policy_allow_image_hash(tee_policy *p, const uint8_t hash[32]);
void tee_policy_clear_image_hashes(tee_policy *p);
/* Debug TDs are refused unless allowed. */
void tee_policy_allow_debug(tee_policy *p, bool allow);
/* Verification cache TTL in seconds (default 600; 0 disables the cache). */
void tee_policy_set_cache_ttl(tee_policy *p, double seconds);
/* Fixed verification time for tests (0 = current time). */
void tee_policy_set_time(tee_policy *p, time_t at);
/* The clock of the caches' TTL (default monotonic); tests inject one. */
void tee_policy_set_clock(tee_policy *p, tee_clock_fn fn, void *ud);
/* Extra check run last on an otherwise accepted peer (e.g. the registry's
 * image and model hashes); returns 0 to accept, -1 with a reason to refuse. */
typedef int (*tee_policy_check_fn)(void *ud, const tee_peer_info *info, cc_err *err);
void tee_policy_set_check(tee_policy *p, tee_policy_check_fn fn, void *ud);
/* Cache statistics: whole quotes (by SHA-256 of the quote) and platforms. */
void tee_policy_cache_stats(const tee_policy *p, uint64_t *hits, uint64_t *misses);
void tee_policy_platform_cache_stats(const tee_policy *p, uint64_t *hits, uint64_t *misses);

/* The TLS verify hook (DESIGN §5.2), same shape as net's:
 *   int (*verify)(void *ud, X509 *peer_cert, void **peer_info_out, cc_err *err)
 * with a tee_policy * as ud. On success *peer_info_out receives a
 * tee_peer_info * (free with tee_peer_info_free). Returns 0 / -1. */
int tee_verify_peer(void *policy_ud, X509 *cert, void **peer_info_out, cc_err *err);

/* Extracts quote and claims from a certificate without any policy (for
 * `cocoon cert show`); both appended; *has_quote tells whether one is there.
 * A certificate without the claims extension leaves claims empty (COCOON's
 * non-TEE certificates); a repeated extension is refused. */
int tee_cert_extract(X509 *cert, cc_buf *claims, cc_buf *quote, bool *has_quote, cc_err *err);

#endif
