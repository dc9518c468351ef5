/* Built and run by test_tlgen against code generated from schema.tl: checks
 * ids, the `true` flag and boxed Vector encodings, and round-trips every
 * constructor. Exit status 0 = all good; messages on stderr otherwise. */
#include <stdio.h>
#include <string.h>

#include "tl/tl.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int round_trip_all(void)
{
    for (size_t i = 0; i < TL_CTOR_COUNT; i++) {
        const tl_ctor_info *info = tl_ctor_at(i);
        for (uint32_t seed = 0; seed < 8; seed++) {
            tl_obj *o = tl_sample_new(info->id, seed);
            cc_buf a = CC_BUF_INIT, b = CC_BUF_INIT;
            cc_err err = {0};
            CHECK(tl_encode(o, &a, &err) == 0);
            tl_obj *d = tl_decode(a.data, a.len, &err);
            if (!d) fprintf(stderr, "%s: %s\n", info->name, err.msg);
            CHECK(d != NULL);
            CHECK(tl_encode(d, &b, &err) == 0);
            CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
            for (size_t cut = 0; cut < a.len; cut++)
                CHECK(tl_decode(a.data, cut, &err) == NULL);
            tl_obj_free(d);
            tl_obj_free(o);
            cc_buf_free(&a);
            cc_buf_free(&b);
        }
    }
    return 0;
}

int main(void)
{
    CHECK(TL_ID_test_pinned == 0x12345678u);
    CHECK(TL_ID_test_circle == cc_crc32("test.circle r:double = test.Shape", 33));
    CHECK(TL_CTOR_COUNT == 8);

    /* A `true` field costs no bytes: only its flag bit. */
    tl_test_flagsAll f = TL_INIT(test_flagsAll);
    f.flags = 1;
    f.other = 0x80000000u;
    f.o = -2;
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    CHECK(tl_encode(&f.hdr, &b, &err) == 0);
    CHECK(b.len == 4 + 4 + 4 + 8);
    tl_obj *d = tl_decode(b.data, b.len, &err);
    CHECK(d && tl_as_test_flagsAll(d)->yes && tl_as_test_flagsAll(d)->o == -2);
    tl_obj_free(d);

    /* Boxed Vector: 0x1cb5c415 then the count; bare vector: count only. */
    tl_test_group g = TL_INIT(test_group);
    int64_t longs[2] = {1, 2};
    g.longs.n = 2;
    g.longs.items = longs;
    cc_buf_reset(&b);
    CHECK(tl_encode(&g.hdr, &b, &err) == 0);
    CHECK(b.len == 4 + 8 + 4 + 4 + 4 + (8 + 16) + 4);
    CHECK(cc_load_u32le(b.data + 4) == TL_ID_vector);
    CHECK(cc_load_u32le(b.data + 8) == 0);
    CHECK(cc_load_u32le(b.data + 24) == TL_ID_vector && cc_load_u32le(b.data + 28) == 2);
    b.data[24] ^= 1; /* a wrong vector id is rejected */
    CHECK(tl_decode(b.data, b.len, &err) == NULL && strstr(err.msg, "expected vector id"));
    cc_buf_free(&b);

    /* %test.Pinned is bare: the embedded struct, no id on the wire. */
    tl_test_wrap w = TL_INIT(test_wrap);
    w.inner.a = 5;
    cc_buf c = CC_BUF_INIT;
    CHECK(tl_encode(&w.hdr, &c, &err) == 0);
    CHECK(cc_load_u32le(c.data + 4) == 5);
    cc_buf_free(&c);
    return round_trip_all();
}
