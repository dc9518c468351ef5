/* Collateral from the answers of Intel's PCS API v4 or a PCCS (the caching
 * service operators run beside their TDX hosts), which splits what
 * tee_collateral_parse reads into separate HTTP answers:
 *   GET /tdx/certification/v4/tcb?fmspc=F   {"tcbInfo":{...},"signature":"hex"}
 *                                            + header TCB-Info-Issuer-Chain
 *   GET /tdx/certification/v4/qe/identity   {"enclaveIdentity":{...},"signature"}
 *                                            + header SGX-Enclave-Identity-Issuer-Chain
 *   GET /sgx/certification/v4/pckcrl?ca=... the PCK CRL (PEM, DER or hex DER)
 *                                            + header SGX-PCK-CRL-Issuer-Chain
 *   GET /sgx/certification/v4/rootcacrl     the root CA CRL (PEM, DER or hex DER)
 * Issuer chains arrive percent-encoded. The signatures cover the signed
 * object's bytes exactly as sent, so "tcbInfo" and "enclaveIdentity" are cut
 * out of the body as raw text, not re-serialised. */
#include <string.h>

#include "tee/tee_internal.h"

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* s[i] is '"': the index after the closing quote, or n. */
static size_t string_end(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* The index after the value starting at s[i]. Only called on text jansson
 * accepted, but bounded all the same. */
static size_t value_end(const char *s, size_t n, size_t i)
{
    if (i >= n) return n;
    if (s[i] == '"') return string_end(s, n, i);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = string_end(s, n, i);
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && !is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
        i++;
    return i;
}

int tee__json_raw_member(const char *s, size_t n, const char *key, size_t *off, size_t *len)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{') return -1;
    i++;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != '"') return -1;
        size_t ks = i + 1, ke = string_end(s, n, i);
        if (ke >= n) return -1;
        bool match = ke - 1 - ks == klen && memcmp(s + ks, key, klen) == 0;
        i = skip_ws(s, n, ke);
        if (i >= n || s[i] != ':') return -1;
        i = skip_ws(s, n, i + 1);
        size_t ve = value_end(s, n, i);
        if (ve > n || ve == i) return -1;
        if (match) {
            *off = i;
            *len = ve - i;
            return 0;
        }
        i = skip_ws(s, n, ve);
        if (i >= n || s[i] != ',') return -1;
        i++;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decoding ('+' stays '+': base64 uses it). */
static char *pct_decode(const char *in, const char *what, cc_err *err)
{
    size_t n = strlen(in);
    char *out = cc_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != '%') {
            *o++ = in[i];
            continue;
        }
        if (i + 2 >= n || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0) {
            free(out);
            cc_err_set(err, "%s: bad %%-escape at byte %zu", what, i);
            return NULL;
        }
        *o++ = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
        i += 2;
    }
    *o = 0;
    if (memchr(out, 0, (size_t)(o - out))) {
        free(out);
        cc_err_set(err, "%s: NUL byte", what);
        return NULL;
    }
    return out;
}

/* A CRL body as text tee_collateral_parse takes: PEM or hex text as it came,
 * binary DER hex-encoded. */
static json_t *crl_text(const tee_pcs_response *r, const char *what, cc_err *err)
{
    if (!r->body || r->len == 0) {
        cc_err_set(err, "%s: empty answer", what);
        return NULL;
    }
    bool text = true;
    for (size_t i = 0; i < r->len && text; i++) {
        uint8_t c = r->body[i];
        text = c == '\n' || c == '\r' || (c >= ' ' && c < 127);
    }
    if (text) return json_stringn((const char *)r->body, r->len);
    char *hex = cc_hex_encode_alloc(r->body, r->len);
    json_t *j = json_string(hex);
    free(hex);
    return j;
}

/* {"<object_key>":{...},"signature":"hex"}: the signed text and the
 * signature into doc under <field> and <field>_signature. */
static int signed_part(json_t *doc, const tee_pcs_response *r, const char *object_key,
                       const char *field, const char *what, cc_err *err)
{
    if (!r->body || r->len == 0) return cc_err_set(err, "%s: empty answer", what);
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body, r->len, 0, &je);
    if (!j) return cc_err_set(err, "%s: not JSON: %s", what, je.text);
    const char *sig = json_string_value(json_object_get(j, "signature"));
    json_t *obj = json_object_get(j, object_key);
    if (!sig || !json_is_object(obj)) {
        json_decref(j);
        return cc_err_set(err, "%s: expected {\"%s\":{...},\"signature\":\"...\"}", what,
                          object_key);
    }
    size_t off, len;
    if (tee__json_raw_member((const char *)r->body, r->len, object_key, &off, &len) < 0) {
        json_decref(j);
        return cc_err_set(err, "%s: cannot find the text of \"%s\"", what, object_key);
    }
    char name[64];
    snprintf(name, sizeof(name), "%s_signature", field);
    json_object_set_new(doc, field, json_stringn((const char *)r->body + off, len));
    json_object_set_new(doc, name, json_string(sig));
    json_decref(j);
    return 0;
}

static int chain_part(json_t *doc, const tee_pcs_response *r, const char *field, const char *what,
                      cc_err *err)
{
    if (!r->issuer_chain || !*r->issuer_chain)
        return cc_err_set(err, "%s: no issuer chain header", what);
    char *pem = pct_decode(r->issuer_chain, what, err);
    if (!pem) return -1;
    json_object_set_new(doc, field, json_string(pem));
    free(pem);
    return 0;
}

tee_collateral *tee_collateral_from_pcs(const tee_pcs_response *tcb, const tee_pcs_response *qe,
                                        const tee_pcs_response *pck_crl,
                                        const tee_pcs_response *root_crl, cc_err *err)
{
    json_t *doc = json_object();
    tee_collateral *c = NULL;
    json_t *crl = NULL, *rcrl = NULL;
    if (signed_part(doc, tcb, "tcbInfo", "tcb_info", "TCB info", err) ||
        chain_part(doc, tcb, "tcb_info_issuer_chain", "TCB info", err) ||
        signed_part(doc, qe, "enclaveIdentity", "qe_identity", "QE identity", err) ||
        chain_part(doc, qe, "qe_identity_issuer_chain", "QE identity", err) ||
        chain_part(doc, pck_crl, "pck_crl_issuer_chain", "PCK CRL", err) ||
        !(crl = crl_text(pck_crl, "PCK CRL", err)) ||
        !(rcrl = crl_text(root_crl, "root CA CRL", err)))
        goto out;
    json_object_set_new(doc, "pck_crl", crl);
    json_object_set_new(doc, "root_ca_crl", rcrl);
    crl = rcrl = NULL;
    char *text = json_dumps(doc, JSON_COMPACT);
    c = tee_collateral_parse(text, strlen(text), err);
    free(text);
out:
    json_decref(crl);
    json_decref(rcrl);
    json_decref(doc);
    return c;
}
