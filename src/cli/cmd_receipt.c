/* `cocoon receipt verify FILE`: checks a sealed answer's receipt and its
 * evidence chain offline (docs/confidentiality.md). FILE is JSON with
 * "receipt" (the X-Cocoon-Receipt header's base64) and "certificate" (the
 * worker's DER certificate in base64, as GET /v1/attestation lists it). The
 * chain: the certificate verifies under the policy (its quote binds its key,
 * its key signs the claims), it hashes to the receipt's certificate hash, its
 * receipt key claim verifies the receipt's signature, its model claim is the
 * receipt's model hash, and with --registry its image and model are listed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "registry/registry.h"
#include "tee/tee.h"

static const cc_opt verify_opts[] = {
    {"--policy", "KIND", "any, fake, tdx or fake_tdx: how the worker's quote is checked", "any"},
    {"--fake-root", "DIR", "the fake TEE root (policy fake)", NULL},
    {"--registry", "FILE", "registry JSON whose worker images and models must list the worker",
     NULL},
};

#define SYNOPSIS                                                                                   \
    "cocoon receipt verify FILE [--policy any|fake|tdx|fake_tdx] [--fake-root DIR] "               \
    "[--registry FILE]"

/* Standard base64 of a JSON string field into out; -1 with a message. */
static int b64_field(const json_t *o, const char *key, cc_buf *out, cc_err *err)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) return cc_err_set(err, "field \"%s\": a base64 string is required", key);
    size_t n = strlen(s);
    if (n == 0 || n % 4 != 0) return cc_err_set(err, "field \"%s\": not base64", key);
    cc_buf_reserve(out, n / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out->data, (const unsigned char *)s, (int)n);
    if (got < 0) return cc_err_set(err, "field \"%s\": not base64", key);
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    out->len = (size_t)got - pad;
    return 0;
}

static int verify(const char *file, const char *policy, const char *fake_root, const char *reg_path)
{
    cc_err err = {0};
    cc_buf text = CC_BUF_INIT, rb = CC_BUF_INIT, der = CC_BUF_INIT;
    json_t *j = NULL;
    X509 *x = NULL;
    tee_policy *pol = NULL;
    tee_peer_info *info = NULL;
    registry *reg = NULL;
    crypto_receipt r;
    int rc = 1;
    json_error_t je;
    if (cc_read_file(file, &text, &err) < 0) goto out;
    j = json_loadb((const char *)text.data, text.len, 0, &je);
    if (!j || !json_is_object(j)) {
        cc_err_set(&err, "%s: not a JSON object (%s)", file, j ? "" : je.text);
        goto out;
    }
    if (b64_field(j, "receipt", &rb, &err) < 0 || b64_field(j, "certificate", &der, &err) < 0 ||
        crypto_receipt_parse(rb.data, rb.len, &r, &err) < 0)
        goto out;
    const unsigned char *p = der.data;
    x = d2i_X509(NULL, &p, (long)der.len);
    if (!x || p != der.data + der.len) {
        cc_err_set(&err, "certificate: not one DER certificate");
        goto out;
    }
    pol = daemon_tee_policy_new(policy, fake_root, &err);
    if (!pol || tee_verify_peer(pol, x, (void **)&info, &err) < 0) goto out;
    uint8_t h[32];
    crypto_sha256(der.data, der.len, h);
    if (memcmp(h, r.cert_hash, 32) != 0) {
        cc_err_set(&err, "the receipt names another certificate");
        goto out;
    }
    if (!info->claims.has_receipt_key) {
        cc_err_set(&err, "the certificate claims no receipt key");
        goto out;
    }
    if (crypto_receipt_verify(rb.data, rb.len, info->claims.receipt_pub, &r, &err) < 0) goto out;
    if (!info->claims.has_model_hash || memcmp(info->claims.model_hash, r.model_hash, 32) != 0) {
        cc_err_set(&err, "the receipt's model hash is not the certificate's model claim");
        goto out;
    }
    if (reg_path) {
        reg = registry_load_json_file(reg_path, &err);
        if (!reg) goto out;
        static const uint8_t zero[32];
        if (!registry_worker_image_allowed(reg, info->quote_verified ? info->image_hash : zero)) {
            cc_err_set(&err, "the worker's image is not in the registry");
            goto out;
        }
        if (!registry_model_hash_allowed(reg, r.model_hash)) {
            cc_err_set(&err, "the model is not in the registry");
            goto out;
        }
    }
    char hx[5][65], img[65] = "";
    cc_hex_encode(r.cert_hash, 32, hx[0]);
    cc_hex_encode(r.model_hash, 32, hx[1]);
    cc_hex_encode(r.request_hash, 32, hx[2]);
    cc_hex_encode(r.answer_hash, 32, hx[3]);
    cc_hex_encode(r.request_id, 32, hx[4]);
    if (info->quote_verified) cc_hex_encode(info->image_hash, 32, img);
    json_t *o =
        json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:I, "
                  "s:I, s:I, s:I, s:I, s:I}",
                  "ok", 1, "certificate_hash", hx[0], "model_hash", hx[1], "sealed_request_hash",
                  hx[2], "sealed_answer_hash", hx[3], "proxy_request_id", hx[4], "policy", policy,
                  "quote_verified", info->quote_verified, "image_hash", img, "attestation",
                  info->summary, "prompt_tokens", (json_int_t)r.prompt_tokens, "cached_tokens",
                  (json_int_t)r.cached_tokens, "completion_tokens", (json_int_t)r.completion_tokens,
                  "reasoning_tokens", (json_int_t)r.reasoning_tokens, "total_tokens",
                  (json_int_t)r.total_tokens, "coefficient", (json_int_t)r.coefficient, "parts",
                  (json_int_t)r.parts, "issued_at", (json_int_t)r.issued_at);
    char *s = json_dumps(o, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(o);
    rc = 0;
out:
    if (rc) fprintf(stderr, "cocoon receipt verify: %s\n", err.msg);
    if (info) tee_peer_info_free(info);
    if (pol) tee_policy_free(pol);
    if (reg) registry_free(reg);
    X509_free(x);
    json_decref(j);
    cc_buf_free(&text);
    cc_buf_free(&rb);
    cc_buf_free(&der);
    return rc;
}

int cli_cmd_receipt(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        printf("usage: " SYNOPSIS "\n"
               "FILE is JSON: {\"receipt\": BASE64 (X-Cocoon-Receipt), \"certificate\": BASE64\n"
               "(the worker's certificate from GET /v1/attestation)}. Exits 0 when the chain\n"
               "holds, 1 when it does not, 2 on bad arguments.\n");
        return argc < 2 || strcmp(argv[1], "--help") ? 2 : 0;
    }
    cc_args a;
    cc_err err = {0};
    if (cc_args_parse(verify_opts, CC_ARRAY_LEN(verify_opts), argc - 2, argv + 2, &a, &err) < 0 ||
        (!a.help && a.n_pos != 1 && cc_err_set(&err, "one FILE is required"))) {
        fprintf(stderr, "cocoon receipt verify: %s\nusage: %s\n", err.msg, SYNOPSIS);
        return 2;
    }
    if (a.help) {
        printf("usage: %s\n\noptions:\n", SYNOPSIS);
        cc_args_usage(stdout, verify_opts, CC_ARRAY_LEN(verify_opts));
        return 0;
    }
    const char *policy = cc_args_get(&a, "--policy");
    return verify(a.pos[0], policy ? policy : "any", cc_args_get(&a, "--fake-root"),
                  cc_args_get(&a, "--registry"));
}
