/* Fuzzes address text parsing (raw and user-friendly forms): accepted
 * addresses must print and parse back to the same address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ton/ton.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    ton_addr a, b;
    bool bounce, test;
    cc_err err;
    if (ton_addr_parse(text, &a, &bounce, &test, &err) == 0) {
        char out[80];
        ton_addr_to_friendly(&a, bounce, test, (size & 1) != 0, out);
        if (ton_addr_parse(out, &b, NULL, NULL, &err) != 0 || !ton_addr_equal(&a, &b)) abort();
        ton_addr_to_raw(&a, out, sizeof out);
        if (ton_addr_parse(out, &b, NULL, NULL, &err) != 0 || !ton_addr_equal(&a, &b)) abort();
    }
    free(text);
    return 0;
}
