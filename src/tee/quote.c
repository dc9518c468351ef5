/* TDX quote parsing (Intel DCAP quote format v4 and v5). Every length read
 * from the quote is checked against what is left before it is used. */
#include <ctype.h>
#include <string.h>

#include "crypto/crypto.h"
#include "tee/tee.h"
#include "tee/tee_internal.h"

/* A bounds-checked cursor over the quote bytes. */
typedef struct rd {
    const uint8_t *p;
    size_t len, off;
} rd;

static int rd_take(rd *r, size_t n, const uint8_t **out, const char *what, cc_err *err)
{
    if (n > r->len - r->off) {
        *out = NULL;
        return cc_err_set(err, "quote truncated: %s needs %zu bytes at offset %zu, %zu left", what,
                          n, r->off, r->len - r->off);
    }
    *out = r->p + r->off;
    r->off += n;
    return 0;
}

static int rd_u16(rd *r, uint16_t *v, const char *what, cc_err *err)
{
    const uint8_t *p = NULL;
    if (rd_take(r, 2, &p, what, err)) return -1;
    *v = (uint16_t)(p[0] | p[1] << 8);
    return 0;
}

static int rd_u32(rd *r, uint32_t *v, const char *what, cc_err *err)
{
    const uint8_t *p = NULL;
    if (rd_take(r, 4, &p, what, err)) return -1;
    *v = cc_load_u32le(p);
    return 0;
}

static void parse_td_body(const uint8_t *b, bool td15, tee_td_report *td)
{
    memcpy(td->tee_tcb_svn, b + 0, 16);
    memcpy(td->mr_seam, b + 16, 48);
    memcpy(td->mr_signer_seam, b + 64, 48);
    memcpy(td->seam_attributes, b + 112, 8);
    memcpy(td->td_attributes, b + 120, 8);
    memcpy(td->xfam, b + 128, 8);
    memcpy(td->mr_td, b + 136, 48);
    memcpy(td->mr_config_id, b + 184, 48);
    memcpy(td->mr_owner, b + 232, 48);
    memcpy(td->mr_owner_config, b + 280, 48);
    for (int i = 0; i < 4; i++)
        memcpy(td->rtmr[i], b + 328 + 48 * i, 48);
    memcpy(td->report_data, b + 520, 64);
    td->is_td15 = td15;
    if (td15) {
        memcpy(td->tee_tcb_svn_2, b + 584, 16);
        memcpy(td->mr_service_td, b + 600, 48);
    }
}

void tee__parse_sgx_report(const uint8_t *b, tee_sgx_report *r)
{
    memcpy(r->cpu_svn, b, 16);
    r->misc_select = cc_load_u32le(b + 16);
    memcpy(r->attributes, b + 48, 16);
    memcpy(r->mr_enclave, b + 64, 32);
    memcpy(r->mr_signer, b + 128, 32);
    r->isv_prod_id = (uint16_t)(b[256] | b[257] << 8);
    r->isv_svn = (uint16_t)(b[258] | b[259] << 8);
    memcpy(r->report_data, b + 320, 64);
}

/* Header and body: fills q and returns the signed length. */
static int parse_header_body(rd *r, tee_quote *q, cc_err *err)
{
    const uint8_t *h = NULL;
    if (r->len < 2)
        return cc_err_set(err, "quote truncated: %zu bytes, need at least a 48-byte header",
                          r->len);
    q->version = (uint16_t)(r->p[0] | r->p[1] << 8);
    if (q->version != 4 && q->version != 5)
        return cc_err_set(err, "unsupported quote version %u (want 4 or 5)", q->version);
    if (rd_take(r, TEE_QUOTE_HEADER_LEN, &h, "header", err)) return -1;
    q->att_key_type = (uint16_t)(h[2] | h[3] << 8);
    q->tee_type = cc_load_u32le(h + 4);
    memcpy(q->qe_vendor_id, h + 12, 16);
    memcpy(q->user_data, h + 28, 20);
    if (q->tee_type != TEE_QUOTE_TEE_TYPE_TDX)
        return cc_err_set(err, "not a TDX quote: tee_type 0x%08x (0x00000000 is SGX, TDX is 0x81)",
                          q->tee_type);
    if (q->att_key_type != 2)
        return cc_err_set(err, "unsupported attestation key type %u (want 2, ECDSA P-256)",
                          q->att_key_type);
    bool td15 = false;
    if (q->version == 4) {
        q->body_type = 2;
        q->body_size = TEE_TD10_BODY_LEN;
    } else {
        if (rd_u16(r, &q->body_type, "v5 body type", err) ||
            rd_u32(r, &q->body_size, "v5 body size", err))
            return -1;
        if (q->body_type == 2 && q->body_size == TEE_TD10_BODY_LEN) {
            td15 = false;
        } else if (q->body_type == 3 && q->body_size == TEE_TD15_BODY_LEN) {
            td15 = true;
        } else if (q->body_type == 1) {
            return cc_err_set(err, "v5 body type 1 is an SGX enclave report, not a TD report");
        } else {
            return cc_err_set(err, "unsupported v5 body: type %u size %u (want 2/584 or 3/648)",
                              q->body_type, q->body_size);
        }
    }
    const uint8_t *body = NULL;
    if (rd_take(r, q->body_size, &body, "TD report body", err)) return -1;
    parse_td_body(body, td15, &q->td);
    q->signed_len = r->off;
    return 0;
}

static int parse_signature_data(rd *r, tee_quote *q, cc_err *err)
{
    const uint8_t *p = NULL;
    if (rd_take(r, 64, &p, "quote signature", err)) return -1;
    memcpy(q->signature, p, 64);
    if (rd_take(r, 64, &p, "attestation key", err)) return -1;
    memcpy(q->attestation_key, p, 64);
    uint32_t cert_size;
    if (rd_u16(r, &q->cert_type, "certification data type", err) ||
        rd_u32(r, &cert_size, "certification data size", err))
        return -1;
    if (q->cert_type != 6)
        return cc_err_set(err,
                          "unsupported certification data type %u (want 6, QE report "
                          "certification data)",
                          q->cert_type);
    const uint8_t *cert = NULL;
    if (rd_take(r, cert_size, &cert, "certification data", err)) return -1;
    /* The QE report certification data is parsed within its own bounds. */
    rd c = {cert, cert_size, 0};
    if (rd_take(&c, TEE_SGX_REPORT_LEN, &p, "QE report", err)) return -1;
    memcpy(q->qe_report_raw, p, TEE_SGX_REPORT_LEN);
    tee__parse_sgx_report(p, &q->qe_report);
    if (rd_take(&c, 64, &p, "QE report signature", err)) return -1;
    memcpy(q->qe_report_signature, p, 64);
    uint16_t auth_len;
    if (rd_u16(&c, &auth_len, "QE auth data size", err) ||
        rd_take(&c, auth_len, &q->qe_auth_data, "QE auth data", err))
        return -1;
    q->qe_auth_data_len = auth_len;
    uint32_t inner_size;
    if (rd_u16(&c, &q->inner_cert_type, "inner certification data type", err) ||
        rd_u32(&c, &inner_size, "inner certification data size", err))
        return -1;
    if (q->inner_cert_type != 5)
        return cc_err_set(err,
                          "unsupported inner certification data type %u (want 5, PCK "
                          "certificate chain)",
                          q->inner_cert_type);
    if (rd_take(&c, inner_size, &q->pck_chain_pem, "PCK certificate chain", err)) return -1;
    q->pck_chain_pem_len = inner_size;
    return 0;
}

int tee_quote_parse(const uint8_t *data, size_t len, tee_quote *q, cc_err *err)
{
    memset(q, 0, sizeof(*q));
    rd r = {data, len, 0};
    if (parse_header_body(&r, q, err)) goto fail;
    uint32_t sig_len;
    if (rd_u32(&r, &sig_len, "signature data length", err)) goto fail;
    if (sig_len > len - r.off) {
        cc_err_set(err, "quote truncated: signature data length %u but only %zu bytes follow",
                   sig_len, len - r.off);
        goto fail;
    }
    q->len = r.off + sig_len;
    q->trailing = len - q->len;
    /* Re-read from an owned copy so the pointers into it stay valid. */
    q->raw = cc_malloc(q->len ? q->len : 1);
    memcpy(q->raw, data, q->len);
    rd s = {q->raw, q->len, r.off};
    if (parse_signature_data(&s, q, err)) goto fail;
    return 0;
fail:
    tee_quote_free(q);
    return -1;
}

static bool looks_like_hex_text(const uint8_t *d, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        int c = d[i];
        if (!isxdigit(c) && !isspace(c) && c != 'x' && c != 'X') return false;
    }
    return true;
}

int tee_quote_parse_any(const uint8_t *data, size_t len, tee_quote *q, cc_err *err)
{
    if (!looks_like_hex_text(data, len)) return tee_quote_parse(data, len, q, err);
    cc_buf bin = CC_BUF_INIT;
    if (cc_hex_decode_loose((const char *)data, len, &bin, err)) {
        memset(q, 0, sizeof(*q));
        cc_buf_free(&bin);
        return cc_err_prefix(err, "quote hex text");
    }
    int rc = tee_quote_parse(bin.data, bin.len, q, err);
    cc_buf_free(&bin);
    return rc;
}

void tee_quote_free(tee_quote *q)
{
    if (!q) return;
    free(q->raw);
    memset(q, 0, sizeof(*q));
}

void tee_image_hash(const tee_td_report *td, uint8_t out[32])
{
    static const uint8_t zeros[64];
    crypto_hash *h = crypto_hash_new(CRYPTO_HASH_SHA256);
    crypto_hash_update(h, td->mr_td, 48);
    crypto_hash_update(h, td->mr_config_id, 48);
    crypto_hash_update(h, td->mr_owner, 48);
    crypto_hash_update(h, td->mr_owner_config, 48);
    for (int i = 0; i < 4; i++)
        crypto_hash_update(h, td->rtmr[i], 48);
    crypto_hash_update(h, zeros, sizeof(zeros));
    crypto_hash_final(h, out);
}

uint64_t tee_td_attributes(const tee_td_report *td)
{
    return cc_load_u64le(td->td_attributes);
}

static void put_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
    char *s = cc_hex_encode_alloc(b, n);
    json_object_set_new(o, key, json_string(s));
    free(s);
}

json_t *tee_quote_to_json(const tee_quote *q)
{
    json_t *o = json_object();
    char buf[16];
    json_object_set_new(o, "version", json_integer(q->version));
    snprintf(buf, sizeof(buf), "0x%08x", q->tee_type);
    json_object_set_new(o, "tee_type", json_string(buf));
    json_object_set_new(o, "att_key_type", json_integer(q->att_key_type));
    json_object_set_new(o, "body_type", json_integer(q->body_type));
    json_object_set_new(o, "body_size", json_integer(q->body_size));
    put_hex(o, "qe_vendor_id", q->qe_vendor_id, 16);
    put_hex(o, "user_data", q->user_data, 20);
    const tee_td_report *td = &q->td;
    put_hex(o, "tee_tcb_svn", td->tee_tcb_svn, 16);
    put_hex(o, "mr_seam", td->mr_seam, 48);
    put_hex(o, "mr_signer_seam", td->mr_signer_seam, 48);
    put_hex(o, "seam_attributes", td->seam_attributes, 8);
    put_hex(o, "td_attributes", td->td_attributes, 8);
    put_hex(o, "xfam", td->xfam, 8);
    put_hex(o, "mr_td", td->mr_td, 48);
    put_hex(o, "mr_config_id", td->mr_config_id, 48);
    put_hex(o, "mr_owner", td->mr_owner, 48);
    put_hex(o, "mr_owner_config", td->mr_owner_config, 48);
    char key[8];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "rtmr%d", i);
        put_hex(o, key, td->rtmr[i], 48);
    }
    put_hex(o, "report_data", td->report_data, 64);
    if (td->is_td15) {
        put_hex(o, "tee_tcb_svn_2", td->tee_tcb_svn_2, 16);
        put_hex(o, "mr_service_td", td->mr_service_td, 48);
    }
    json_object_set_new(o, "debug", json_boolean(tee_td_attributes(td) & TEE_TD_ATTR_DEBUG));
    uint8_t ih[32];
    tee_image_hash(td, ih);
    put_hex(o, "image_hash", ih, 32);
    json_object_set_new(o, "quote_length", json_integer((json_int_t)q->len));
    json_object_set_new(o, "signed_length", json_integer((json_int_t)q->signed_len));
    json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing));
    put_hex(o, "attestation_key", q->attestation_key, 64);
    put_hex(o, "quote_signature", q->signature, 64);
    json_t *qe = json_object();
    put_hex(qe, "cpu_svn", q->qe_report.cpu_svn, 16);
    /* Hex in quote byte order, like every other field of the command. */
    put_hex(qe, "misc_select", q->qe_report_raw + 16, 4);
    put_hex(qe, "attributes", q->qe_report.attributes, 16);
    put_hex(qe, "mr_enclave", q->qe_report.mr_enclave, 32);
    put_hex(qe, "mr_signer", q->qe_report.mr_signer, 32);
    json_object_set_new(qe, "isv_prod_id", json_integer(q->qe_report.isv_prod_id));
    json_object_set_new(qe, "isv_svn", json_integer(q->qe_report.isv_svn));
    put_hex(qe, "report_data", q->qe_report.report_data, 64);
    json_object_set_new(o, "qe_report", qe);
    put_hex(o, "qe_auth_data", q->qe_auth_data, q->qe_auth_data_len);
    tee_pck_info pck;
    cc_err perr = {0};
    if (tee__pck_info_from_quote(q, &pck, &perr) == 0) {
        put_hex(o, "fmspc", pck.fmspc, 6);
        put_hex(o, "pceid", pck.pceid, 2);
        json_object_set_new(o, "pcesvn", json_integer(pck.pcesvn));
        put_hex(o, "cpusvn", pck.cpusvn, 16);
        json_object_set_new(o, "pck_chain_length", json_integer(pck.chain_len));
    } else {
        json_object_set_new(o, "pck_error", json_string(perr.msg));
    }
    return o;
}
