/* Attestation policies and the TLS verify hook (DESIGN §5.2). */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "tee/tee_internal.h"

#define CACHE_SLOTS 256

typedef struct cache_entry {
    uint8_t key[32];                /* SHA-256 of the quote */
    double expires;                 /* clock seconds; 0 = empty slot */
    time_t valid_from, valid_until; /* verification times the result holds for */
    tee_tcb_status tcb;
} cache_entry;

struct tee_policy {
    tee_policy_kind kind;
    X509 *root; /* fake: the network's fake root; tdx: Intel SGX Root CA */
    /* collateral by FMSPC (tee_policy_set_collateral: one, any FMSPC) */
    tee_collateral *cols[TEE_POLICY_MAX_COLLATERALS];
    size_t n_cols;
    uint8_t missing[TEE_POLICY_MAX_COLLATERALS][6]; /* FMSPCs seen without one */
    size_t n_missing;
    uint32_t tcb_allowed;
    cc_buf mrtds;  /* n * 48 */
    cc_buf rtmrs;  /* n * 192 */
    cc_buf images; /* n * 32 */
    bool allow_debug;
    double cache_ttl;
    time_t fixed_time;
    long max_cert_lifetime;    /* seconds; 0 = unlimited */
    long long min_eval_number; /* tdx with collateral; 0 = any */
    tee_clock_fn clock;        /* cache clock; NULL = cc_now_mono */
    void *clock_ud;
    tee_verify_cache *platforms; /* verified PCK chains, QE reports, collateral */
    tee_policy_check_fn check;
    void *check_ud;
    cache_entry cache[CACHE_SLOTS];
    uint64_t hits, misses;
};

tee_policy *tee_policy_new(tee_policy_kind kind)
{
    tee_policy *p = cc_calloc(1, sizeof(*p));
    p->kind = kind;
    p->cache_ttl = 600;
    p->max_cert_lifetime = TEE_MAX_CERT_LIFETIME_DEFAULT;
    p->platforms = tee_verify_cache_new(p->cache_ttl);
    p->tcb_allowed = TEE_TCB_ALLOWED_DEFAULT;
    /* tdx pins Intel's root (parsed once here rather than per verification). */
    if (kind == TEE_POLICY_TDX) p->root = tee_intel_root_ca();
    return p;
}

void tee_policy_free(tee_policy *p)
{
    if (!p) return;
    X509_free(p->root);
    for (size_t i = 0; i < p->n_cols; i++)
        tee_collateral_free(p->cols[i]);
    tee_verify_cache_free(p->platforms);
    cc_buf_free(&p->mrtds);
    cc_buf_free(&p->rtmrs);
    cc_buf_free(&p->images);
    free(p);
}

static void cache_clear(tee_policy *p)
{
    memset(p->cache, 0, sizeof(p->cache));
    tee_verify_cache_clear(p->platforms);
}

static double clock_now(const tee_policy *p)
{
    return p->clock ? p->clock(p->clock_ud) : cc_now_mono();
}

tee_policy_kind tee_policy_kind_of(const tee_policy *p)
{
    return p->kind;
}

const char *tee_policy_kind_name(tee_policy_kind k)
{
    switch (k) {
    case TEE_POLICY_FAKE:
        return "fake";
    case TEE_POLICY_TDX:
        return "tdx";
    case TEE_POLICY_FAKE_TDX:
        return "fake_tdx";
    case TEE_POLICY_ANY:
        break;
    }
    return "any";
}

int tee_policy_kind_parse(const char *s, tee_policy_kind *out, cc_err *err)
{
    if (!strcmp(s, "any"))
        *out = TEE_POLICY_ANY;
    else if (!strcmp(s, "fake"))
        *out = TEE_POLICY_FAKE;
    else if (!strcmp(s, "tdx"))
        *out = TEE_POLICY_TDX;
    else if (!strcmp(s, "fake_tdx"))
        *out = TEE_POLICY_FAKE_TDX;
    else
        return cc_err_set(err,
                          "unknown attestation policy \"%s\" (want any, fake, tdx or fake_tdx)", s);
    return 0;
}

void tee_policy_set_root(tee_policy *p, X509 *root)
{
    if (root) X509_up_ref(root);
    X509_free(p->root);
    p->root = root;
    cache_clear(p);
}

void tee_policy_set_collateral(tee_policy *p, tee_collateral *c, uint32_t allowed_mask)
{
    for (size_t i = 0; i < p->n_cols; i++)
        tee_collateral_free(p->cols[i]);
    p->n_cols = 0;
    if (c) p->cols[p->n_cols++] = c;
    if (allowed_mask) p->tcb_allowed = allowed_mask;
    cache_clear(p);
}

static void forget_missing(tee_policy *p, const uint8_t fmspc[6])
{
    for (size_t i = 0; i < p->n_missing; i++)
        if (!memcmp(p->missing[i], fmspc, 6)) {
            memmove(p->missing[i], p->missing[i + 1], (p->n_missing - i - 1) * 6);
            p->n_missing--;
            return;
        }
}

int tee_policy_put_collateral(tee_policy *p, tee_collateral *c, cc_err *err)
{
    uint8_t f[6], g[6];
    if (tee_collateral_fmspc(c, f) < 0) {
        tee_collateral_free(c);
        return cc_err_set(err, "collateral: the TCB info names no fmspc");
    }
    size_t i = 0;
    while (i < p->n_cols && !(tee_collateral_fmspc(p->cols[i], g) == 0 && !memcmp(f, g, 6)))
        i++;
    if (i == TEE_POLICY_MAX_COLLATERALS) {
        tee_collateral_free(c);
        return cc_err_set(err, "collateral: already %d platform families",
                          TEE_POLICY_MAX_COLLATERALS);
    }
    if (i < p->n_cols)
        tee_collateral_free(p->cols[i]);
    else
        p->n_cols++;
    p->cols[i] = c;
    forget_missing(p, f);
    cache_clear(p);
    return 0;
}

size_t tee_policy_collateral_count(const tee_policy *p)
{
    return p->n_cols;
}

/* Most recent first; the oldest falls off a full list. */
static void note_missing(tee_policy *p, const uint8_t fmspc[6])
{
    forget_missing(p, fmspc);
    size_t n = p->n_missing < TEE_POLICY_MAX_COLLATERALS ? p->n_missing : p->n_missing - 1;
    memmove(p->missing[1], p->missing[0], n * 6);
    memcpy(p->missing[0], fmspc, 6);
    p->n_missing = n + 1;
}

size_t tee_policy_missing_fmspcs(const tee_policy *p, uint8_t (*out)[6], size_t max)
{
    size_t n = p->n_missing < max ? p->n_missing : max;
    if (n) memcpy(out, p->missing, n * 6);
    return n;
}

void tee_policy_set_allowed_tcb(tee_policy *p, uint32_t allowed_mask)
{
    p->tcb_allowed = allowed_mask;
    cache_clear(p);
}

void tee_policy_allow_mrtd(tee_policy *p, const uint8_t mrtd[48])
{
    cc_buf_append(&p->mrtds, mrtd, 48);
}
void tee_policy_allow_rtmrs(tee_policy *p, const uint8_t rtmr[4][48])
{
    cc_buf_append(&p->rtmrs, rtmr, 192);
}
void tee_policy_allow_image_hash(tee_policy *p, const uint8_t hash[32])
{
    cc_buf_append(&p->images, hash, 32);
}
void tee_policy_clear_image_hashes(tee_policy *p)
{
    cc_buf_reset(&p->images);
}
void tee_policy_allow_debug(tee_policy *p, bool allow)
{
    p->allow_debug = allow;
}
void tee_policy_set_cache_ttl(tee_policy *p, double seconds)
{
    p->cache_ttl = seconds;
    tee_verify_cache_set_ttl(p->platforms, seconds);
    cache_clear(p);
}
void tee_policy_set_clock(tee_policy *p, tee_clock_fn fn, void *ud)
{
    p->clock = fn;
    p->clock_ud = ud;
    tee_verify_cache_set_clock(p->platforms, fn, ud);
    cache_clear(p);
}
void tee_policy_set_max_cert_lifetime(tee_policy *p, long seconds)
{
    p->max_cert_lifetime = seconds;
}
void tee_policy_set_min_tcb_eval_number(tee_policy *p, long long n)
{
    p->min_eval_number = n;
    cache_clear(p);
}
void tee_policy_platform_cache_stats(const tee_policy *p, uint64_t *hits, uint64_t *misses)
{
    tee_verify_cache_stats(p->platforms, hits, misses);
}
void tee_policy_set_time(tee_policy *p, time_t at)
{
    p->fixed_time = at;
    cache_clear(p);
}
void tee_policy_set_check(tee_policy *p, tee_policy_check_fn fn, void *ud)
{
    p->check = fn;
    p->check_ud = ud;
}
void tee_policy_cache_stats(const tee_policy *p, uint64_t *hits, uint64_t *misses)
{
    if (hits) *hits = p->hits;
    if (misses) *misses = p->misses;
}

void tee_peer_info_free(void *info)
{
    free(info);
}

static bool in_list(const cc_buf *list, const uint8_t *v, size_t sz)
{
    for (size_t off = 0; off + sz <= list->len; off += sz)
        if (memcmp(list->data + off, v, sz) == 0) return true;
    return false;
}

static cache_entry *cache_find(tee_policy *p, const uint8_t key[32], double now, time_t at)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_entry *e = &p->cache[i];
        if (e->expires > now && memcmp(e->key, key, 32) == 0)
            return at >= e->valid_from && at <= e->valid_until ? e : NULL;
    }
    return NULL;
}

static void cache_put(tee_policy *p, const uint8_t key[32], const tee_quote_result *res, double now)
{
    cache_entry *slot = &p->cache[0];
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (p->cache[i].expires <= now || memcmp(p->cache[i].key, key, 32) == 0) {
            slot = &p->cache[i];
            break;
        }
        if (p->cache[i].expires < slot->expires) slot = &p->cache[i];
    }
    memcpy(slot->key, key, 32);
    slot->expires = now + p->cache_ttl;
    slot->valid_from = res->valid_from;
    slot->valid_until = res->valid_until;
    slot->tcb = res->tcb_status;
}

/* Only the extensions we understand may be critical (DESIGN §5.2). */
static int check_extensions(X509 *cert, cc_err *err)
{
    ASN1_OBJECT *oq = OBJ_txt2obj(TEE_OID_QUOTE, 1), *oc = OBJ_txt2obj(TEE_OID_CLAIMS, 1);
    int rc = 0;
    for (int i = 0; i < X509_get_ext_count(cert) && rc == 0; i++) {
        X509_EXTENSION *e = X509_get_ext(cert, i);
        if (!X509_EXTENSION_get_critical(e)) continue;
        ASN1_OBJECT *o = X509_EXTENSION_get_object(e);
        int nid = OBJ_obj2nid(o);
        if (nid == NID_basic_constraints || nid == NID_key_usage || nid == NID_ext_key_usage ||
            nid == NID_subject_alt_name || OBJ_cmp(o, oq) == 0 || OBJ_cmp(o, oc) == 0)
            continue;
        char txt[80] = "?";
        OBJ_obj2txt(txt, sizeof(txt), o, 1);
        rc = cc_err_set(err, "certificate has an unknown critical extension %s", txt);
    }
    ASN1_OBJECT_free(oq);
    ASN1_OBJECT_free(oc);
    return rc;
}

/* An Ed25519 end-entity certificate, self-issued, valid at `now` and for no
 * longer than the maximum lifetime. No signature work here: the
 * self-signature is checked last (check_self_signature), so refusals for
 * anything else cost no public-key operation. */
static int check_cert_shape(const tee_policy *p, X509 *cert, time_t now, uint8_t pub[32],
                            cc_err *err)
{
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    size_t publen = 32;
    if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1 || publen != 32)
        return cc_err_set(err, "certificate key is not Ed25519");
    if (X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) != 0)
        return cc_err_set(err, "certificate is not self-issued");
    uint32_t flags = X509_get_extension_flags(cert);
    if (flags & EXFLAG_CA) return cc_err_set(err, "certificate is a CA certificate");
    if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0)
        return cc_err_set(err, "certificate is not yet valid");
    if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0)
        return cc_err_set(err, "certificate has expired");
    /* A long-lived certificate keeps a quote (and whatever TCB it was made
     * on) acceptable long after it was taken: bound the lifetime, which also
     * bounds the quote's age since the quote is made with the certificate. */
    int days = 0, secs = 0;
    if (p->max_cert_lifetime > 0) {
        if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)) != 1)
            return cc_err_set(err, "certificate validity dates are malformed");
        long long life = (long long)days * 86400 + secs;
        if (life > p->max_cert_lifetime)
            return cc_err_set(err,
                              "certificate lifetime %lld s exceeds the maximum %ld s "
                              "(max_cert_lifetime)",
                              life, p->max_cert_lifetime);
    }
    return check_extensions(cert, err);
}

/* Not X509_check_issued(): it would want keyCertSign, which an end-entity
 * RA-TLS certificate must not have. */
static int check_self_signature(X509 *cert, cc_err *err)
{
    if (X509_verify(cert, X509_get0_pubkey(cert)) != 1)
        return cc_err_set(err, "certificate is not validly self-signed");
    return 0;
}

/* Measurements and allowlists of a quote that has been authenticated (or,
 * under `any`, merely parsed). */
static int check_measurements(tee_policy *p, const tee_peer_info *info, cc_err *err)
{
    const tee_td_report *td = &info->td;
    if ((tee_td_attributes(td) & TEE_TD_ATTR_DEBUG) && !p->allow_debug)
        return cc_err_set(err, "peer is a debug TD (td_attributes.DEBUG set)");
    /* Under `any` the quote is parsed but not verified: its measurements are
     * whatever the peer wrote, so they cannot satisfy an allowlist. */
    if (!info->quote_verified && (p->mrtds.len || p->rtmrs.len || p->images.len))
        return cc_err_set(err,
                          "peer measurements are not verified (policy %s) but the policy "
                          "has measurement allowlists",
                          tee_policy_kind_name(p->kind));
    if (p->mrtds.len && !in_list(&p->mrtds, td->mr_td, 48))
        return cc_err_set(err, "peer MRTD is not allowed");
    if (p->rtmrs.len && !in_list(&p->rtmrs, &td->rtmr[0][0], 192))
        return cc_err_set(err, "peer RTMRs are not an allowed set");
    if (p->images.len && !in_list(&p->images, info->image_hash, 32)) {
        char hex[65];
        cc_hex_encode(info->image_hash, 32, hex);
        return cc_err_set(err, "peer image hash %s is not allowed", hex);
    }
    return 0;
}

static int verify_quote_cached(tee_policy *p, const cc_buf *quote_bytes, const tee_quote *q,
                               time_t now, tee_peer_info *info, cc_err *err)
{
    uint8_t key[32];
    crypto_sha256(quote_bytes->data, quote_bytes->len, key);
    double mono = clock_now(p);
    cache_entry *hit = p->cache_ttl > 0 ? cache_find(p, key, mono, now) : NULL;
    if (hit) {
        p->hits++;
        info->from_cache = true;
        info->tcb_status = hit->tcb;
        return 0;
    }
    p->misses++;
    tee_quote_verify_opts o = {.root = p->root,
                               .at = now,
                               .collaterals = (const tee_collateral *const *)p->cols,
                               .n_collaterals = p->n_cols,
                               .cache = p->platforms,
                               .min_tcb_eval_number = p->min_eval_number};
    tee_quote_result res;
    int rc = tee_quote_verify(q, &o, &res, err);
    /* Under tdx the TCB status decides, and without collateral it is
     * NotEvaluated: refused unless explicitly allowed. The fake TEE has no
     * TCB to evaluate unless collateral was given for it. */
    bool judge_tcb = p->kind == TEE_POLICY_TDX || p->n_cols;
    /* a genuine platform (its chain reached the pinned root) without
     * collateral: noted for a collateral source to fetch its family's */
    if (rc == 0 && res.has_fmspc &&
        (res.collateral_missing || (p->kind == TEE_POLICY_TDX && !p->n_cols)))
        note_missing(p, res.fmspc);
    if (rc == 0 && judge_tcb && !(p->tcb_allowed & (1u << res.tcb_status)))
        rc = cc_err_set(err, "TCB status %s is not accepted%s", tee_tcb_status_name(res.tcb_status),
                        res.tcb_status == TEE_TCB_NOT_EVALUATED
                            ? (res.collateral_missing
                                   ? " (no collateral for this platform's FMSPC yet)"
                                   : " (policy tdx needs collateral to evaluate the TCB)")
                            : "");
    info->tcb_status = res.tcb_status;
    if (rc == 0 && p->cache_ttl > 0) cache_put(p, key, &res, mono);
    tee_quote_result_free(&res);
    return rc;
}

/* The claims extension, when present, must start with the certificate's key
 * (COCOON's whole claims); without it the key is the only claim. */
static int read_claims(const cc_buf *claims, tee_peer_info *info, cc_err *err)
{
    memset(&info->claims, 0, sizeof(info->claims));
    if (claims->len == 0) {
        memcpy(info->claims.ed25519_pub, info->pubkey, 32);
        return 0;
    }
    if (tee_claims_decode(claims->data, claims->len, &info->claims, err)) return -1;
    if (!crypto_memeq(info->claims.ed25519_pub, info->pubkey, 32))
        return cc_err_set(err, "claims do not start with the certificate's public key");
    info->has_claims = true;
    return 0;
}

/* Authenticates the quote as the policy wants it (binding already checked). */
static int check_quote(tee_policy *p, const cc_buf *quote, const tee_quote *q, bool fake_tdx,
                       time_t now, tee_peer_info *info, cc_err *err)
{
    switch (p->kind) {
    case TEE_POLICY_ANY:
        return 0; /* parsed and bound, never verified */
    case TEE_POLICY_FAKE_TDX:
        /* COCOON's fake_tdx accepts exactly its 64-byte quote whose bytes are
         * the REPORTDATA: nothing else is there to verify. */
        if (!fake_tdx)
            return cc_err_set(err,
                              "policy fake_tdx wants COCOON's %d-byte fake quote, got a %zu-byte "
                              "quote",
                              TEE_FAKE_TDX_QUOTE_LEN, quote->len);
        info->quote_verified = true;
        return 0;
    case TEE_POLICY_FAKE:
    case TEE_POLICY_TDX:
        break;
    }
    if (fake_tdx)
        return cc_err_set(err,
                          "peer quote is COCOON's unsigned %d-byte fake_tdx quote, accepted only "
                          "by policy fake_tdx (this is %s)",
                          TEE_FAKE_TDX_QUOTE_LEN, tee_policy_kind_name(p->kind));
    if (p->kind == TEE_POLICY_FAKE && !p->root)
        return cc_err_set(err, "policy fake has no fake root configured");
    if (verify_quote_cached(p, quote, q, now, info, err))
        return cc_err_prefix(err, "peer quote (policy %s)", tee_policy_kind_name(p->kind));
    info->quote_verified = true;
    return 0;
}

static int verify_peer(tee_policy *p, X509 *cert, tee_peer_info *info, cc_err *err)
{
    time_t now = p->fixed_time ? p->fixed_time : time(NULL);
    if (check_cert_shape(p, cert, now, info->pubkey, err)) return -1;
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    tee_quote q = {0};
    int rc = -1;
    bool has_quote, fake_tdx = false;
    if (tee_cert_extract(cert, &claims, &quote, &has_quote, err) || read_claims(&claims, info, err))
        goto out;
    info->has_quote = has_quote;
    if (!has_quote) {
        if (p->kind != TEE_POLICY_ANY) {
            cc_err_set(err, "peer certificate carries no TEE quote (policy %s requires one)",
                       tee_policy_kind_name(p->kind));
            goto out;
        }
        if (p->images.len || p->mrtds.len || p->rtmrs.len) {
            cc_err_set(err, "peer has no quote but the policy has measurement allowlists");
            goto out;
        }
        if (check_self_signature(cert, err)) goto out;
        snprintf(info->summary, sizeof(info->summary), "policy=any quote=none claims=%s",
                 info->has_claims ? "yes" : "none");
        rc = 0;
        goto out;
    }
    if (tee__quote_td(quote.data, quote.len, &q, &fake_tdx, err)) {
        cc_err_prefix(err, "peer quote");
        goto out;
    }
    info->td = q.td;
    tee_image_hash(&q.td, info->image_hash);
    /* Binding first: it is cheap and a mismatch means a replayed quote.
     * REPORTDATA covers the key only (COCOON's rule); the claims items are
     * bound to that key by the certificate signature checked above. */
    uint8_t rd[64];
    tee__report_data_for_key(info->pubkey, rd);
    if (!crypto_memeq(rd, q.td.report_data, 64)) {
        cc_err_set(err, "quote REPORTDATA is not SHA-512 of the certificate's public key");
        goto out;
    }
    if (check_quote(p, &quote, &q, fake_tdx, now, info, err) || check_self_signature(cert, err) ||
        check_measurements(p, info, err))
        goto out;
    char ih[65];
    cc_hex_encode(info->image_hash, 32, ih);
    snprintf(info->summary, sizeof(info->summary),
             "policy=%s quote=%s%s image=%s tcb=%s claims=%s%s", tee_policy_kind_name(p->kind),
             info->quote_verified ? "verified" : "unverified", fake_tdx ? " form=fake_tdx" : "", ih,
             tee_tcb_status_name(info->tcb_status), info->has_claims ? "yes" : "none",
             info->from_cache ? " cached" : "");
    rc = 0;
out:
    tee_quote_free(&q);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    return rc;
}

int tee_verify_peer(void *policy_ud, X509 *cert, void **peer_info_out, cc_err *err)
{
    tee_policy *p = policy_ud;
    if (peer_info_out) *peer_info_out = NULL;
    if (!p || !cert) return cc_err_set(err, "attestation: no policy or no certificate");
    tee_peer_info *info = cc_calloc(1, sizeof(*info));
    int rc = verify_peer(p, cert, info, err);
    if (rc == 0 && p->check && p->check(p->check_ud, info, err)) rc = -1;
    ERR_clear_error();
    if (rc) {
        free(info);
        return cc_err_prefix(err, "attestation refused");
    }
    if (peer_info_out)
        *peer_info_out = info;
    else
        free(info);
    return 0;
}
