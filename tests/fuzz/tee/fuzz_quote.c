/* Fuzz target: TDX quote parser (binary and hex text), the JSON view (which
 * parses the embedded PCK chain and its SGX extension) and the verifier. */
#include <stddef.h>
#include <stdint.h>

#include "tee/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tee_quote q;
    cc_err err;
    if (tee_quote_parse_any(data, size, &q, &err) != 0) return 0;
    json_t *j = tee_quote_to_json(&q);
    json_decref(j);
    uint8_t ih[32];
    tee_image_hash(&q.td, ih);
    /* A fixed time inside the validity of the seeds' certificates. */
    tee_quote_verify_opts o = {.at = 1795219200};
    tee_quote_result res;
    tee_quote_verify(&q, &o, &res, &err);
    tee_quote_result_free(&res);
    tee_quote_free(&q);
    return 0;
}
