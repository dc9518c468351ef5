/* Writes the seed corpus of fuzz_tl_decode: the encoding of sample values of
 * every constructor (seed 1: all optional fields present; seed 2: a mix).
 * Not part of the build; regenerate after a schema change with
 *   cc -std=c17 -Isrc -I<build>/generated tests/fuzz/tl/make_seeds.c \
 *      <build>/libcocoon_tl.a <build>/libcocoon_base.a -ljansson -lm -o make_seeds
 *   ./make_seeds tests/fuzz/tl/seeds/fuzz_tl_decode
 */
#include <stdio.h>
#include <stdlib.h>

#include "tl/tl.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < TL_CTOR_COUNT; i++) {
        const tl_ctor_info *info = tl_ctor_at(i);
        for (uint32_t seed = 1; seed <= 2; seed++) {
            tl_obj *o = tl_sample_new(info->id, seed);
            cc_buf b = CC_BUF_INIT;
            cc_err err = {0};
            if (tl_encode(o, &b, &err) != 0) {
                fprintf(stderr, "%s: %s\n", info->name, err.msg);
                return 1;
            }
            char path[512];
            snprintf(path, sizeof(path), "%s/%s-%u.bin", argv[1], info->name, seed);
            if (cc_write_file_atomic(path, b.data, b.len, 0644, &err) != 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            cc_buf_free(&b);
            tl_obj_free(o);
        }
    }
    return 0;
}
