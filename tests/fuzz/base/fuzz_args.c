/* Fuzz target: command lines through cc_args (words separated by newlines),
 * then every typed read of every option. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static const cc_opt opts[] = {
    {"--port", "N", "a port", "10000"}, {"--name", "NAME", "a name", NULL},
    {"--ratio", "R", "a number", NULL}, {"--json", NULL, "a flag", NULL},
    {"--x", "V", "a short name", NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *words[64];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(text, "\n", &save); w && n < 64;
         w = strtok_r(NULL, "\n", &save))
        words[n++] = w;
    cc_args a;
    cc_err err;
    if (cc_args_parse(opts, CC_ARRAY_LEN(opts), n, words, &a, &err) == 0) {
        int64_t i64 = 0;
        int port = 0;
        double d = 0;
        for (size_t k = 0; k < CC_ARRAY_LEN(opts); k++) {
            (void)cc_args_get(&a, opts[k].name);
            (void)cc_args_i64(&a, opts[k].name, INT64_MIN, INT64_MAX, &i64, &err);
            (void)cc_args_int(&a, opts[k].name, 0, 65535, &port, &err);
            (void)cc_args_double(&a, opts[k].name, &d, &err);
        }
        for (int k = 0; k < a.n_pos; k++)
            if (!a.pos[k]) abort(); /* every counted positional is set */
    } else if (!err.msg[0]) {
        abort(); /* a refusal always says why */
    }
    free(text);
    return 0;
}
