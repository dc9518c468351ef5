/* TL wire format: the constructor ids of DESIGN §4.2, hand-computed byte
 * vectors, and rejection of malformed input and of unencodable objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tl/tl.h"

/* ------------------------------------------------------------------ ids */

static void test_ids_match_cocoon(void **state)
{
    /* Ids from COCOON's compiled schema, as listed in DESIGN §4.2. */
    static const struct {
        const char *name;
        uint32_t want, generated;
    } ids[] = {
        {"tcp.ping", 0xbbe9627c, TL_ID_tcp_ping},
        {"tcp.pong", 0x0bd4302c, TL_ID_tcp_pong},
        {"tcp.packet", 0x9c17baf8, TL_ID_tcp_packet},
        {"tcp.queryAnswer", 0xc048c311, TL_ID_tcp_queryAnswer},
        {"tcp.queryError", 0x4cd2f602, TL_ID_tcp_queryError},
        {"tcp.query", 0x3af51908, TL_ID_tcp_query},
        {"tcp.connected", 0x636d41d6, TL_ID_tcp_connected},
        {"tcp.connect", 0xa57c4261, TL_ID_tcp_connect},
        {"tokensUsed", 0x70c5b15c, TL_ID_tokensUsed},
        {"worker.params", 0x869c73ed, TL_ID_worker_params},
        {"proxy.params", 0xd5c5609f, TL_ID_proxy_params},
        {"client.params", 0x40fdca64, TL_ID_client_params},
        {"client.connectToProxy", 0xff5fa0f4, TL_ID_client_connectToProxy},
        {"client.connectedToProxy", 0x95317ad1, TL_ID_client_connectedToProxy},
        {"client.runQueryEx", 0xf54cb74b, TL_ID_client_runQueryEx},
        {"client.queryAnswerEx", 0xcd524720, TL_ID_client_queryAnswerEx},
        {"client.queryAnswerPartEx", 0xc07bfaec, TL_ID_client_queryAnswerPartEx},
        {"client.queryAnswerErrorEx", 0x072562a8, TL_ID_client_queryAnswerErrorEx},
        {"client.getWorkerTypesV2", 0xb2133d72, TL_ID_client_getWorkerTypesV2},
        {"proxy.runQueryEx", 0xc805e7e2, TL_ID_proxy_runQueryEx},
        {"proxy.queryAnswerEx", 0x1ce574e8, TL_ID_proxy_queryAnswerEx},
        {"proxy.queryAnswerPartEx", 0x6d85b50f, TL_ID_proxy_queryAnswerPartEx},
        {"proxy.signedPayment", 0x02998182, TL_ID_proxy_signedPayment},
        {"proxy.signedPaymentEmpty", 0xb347ce64, TL_ID_proxy_signedPaymentEmpty},
        {"worker.connectToProxy", 0xcc484c5d, TL_ID_worker_connectToProxy},
        {"worker.connectedToProxy", 0x66bc82ee, TL_ID_worker_connectedToProxy},
        {"worker.compareBalanceWithProxy", 0xdb386501, TL_ID_worker_compareBalanceWithProxy},
        {"worker.proxyHandshakeComplete", 0xf843b066, TL_ID_worker_proxyHandshakeComplete},
        {"http.header", 0x8e9be511, TL_ID_http_header},
        {"http.request", 0x47492de5, TL_ID_http_request},
        {"http.response", 0x1cd0c42b, TL_ID_http_response},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(ids); i++) {
        if (ids[i].generated != ids[i].want)
            fail_msg("%s: generated %08x, COCOON %08x", ids[i].name, ids[i].generated, ids[i].want);
        const tl_ctor_info *info = tl_ctor_find(ids[i].want);
        assert_non_null(info);
        assert_string_equal(info->name, ids[i].name);
        assert_string_equal(tl_ctor_name(ids[i].want), ids[i].name);
    }
    /* Hand-pinned ids are flagged; CRC ids are not. */
    assert_true(tl_ctor_find(TL_ID_worker_params)->pinned_id);
    assert_false(tl_ctor_find(TL_ID_tcp_ping)->pinned_id);
    /* Built-in ids: CRC-32 of "boolTrue = Bool" etc. */
    assert_int_equal(cc_crc32("boolTrue = Bool", 15), TL_ID_boolTrue);
    assert_int_equal(cc_crc32("boolFalse = Bool", 16), TL_ID_boolFalse);
    assert_string_equal(tl_ctor_name(0x12345678), "unknown");
    assert_null(tl_ctor_find(0x12345678));
    /* Schema metadata. */
    const tl_ctor_info *q = tl_ctor_find(TL_ID_client_runQueryEx);
    assert_true(q->is_function);
    assert_string_equal(q->result, "client.QueryAnswerEx");
    assert_string_equal(tl_type_name(TL_TYPE_tcp_Packet), "tcp.Packet");
    assert_true(tl_ctor_is_type(TL_ID_tcp_query, TL_TYPE_tcp_Packet));
    assert_false(tl_ctor_is_type(TL_ID_client_runQueryEx, TL_TYPE_tcp_Packet));
    /* The cocoon extensions exist and do not collide. */
    assert_true(tl_ctor_find(TL_ID_proxy_cancelQuery)->is_function);
    assert_true(tl_ctor_find(TL_ID_client_cancelQuery)->is_function);
}

/* ------------------------------------------------------- byte vectors */

static void expect_bytes(const tl_obj *o, const uint8_t *want, size_t n)
{
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    if (tl_encode(o, &b, &err) != 0) fail_msg("encode: %s", err.msg);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    tl_obj *d = tl_decode(want, n, &err);
    if (!d) fail_msg("decode: %s", err.msg);
    assert_true(tl_obj_equal(o, d));
    tl_obj_free(d);
    cc_buf_free(&b);
}

static void test_tcp_ping_bytes(void **state)
{
    tl_tcp_ping p = TL_INIT(tcp_ping);
    p.id = 0x0102030405060708;
    static const uint8_t want[] = {0x7c, 0x62, 0xe9, 0xbb, 8, 7, 6, 5, 4, 3, 2, 1};
    expect_bytes(&p.hdr, want, sizeof(want));
    cc_err err = {0};
    tl_obj *d = tl_decode(want, sizeof(want), &err);
    assert_int_equal(tl_as_tcp_ping(d)->id, 0x0102030405060708);
    tl_obj_free(d);
}

static void test_typed_wrappers(void **state)
{
    tl_tcp_pong p = TL_INIT(tcp_pong);
    p.id = -5;
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode_tcp_pong(&p, &b, &err), 0);
    tl_tcp_pong *d = tl_decode_tcp_pong(b.data, b.len, TL_DECODE_BORROW, &err);
    assert_non_null(d);
    assert_int_equal(d->id, -5);
    tl_free_tcp_pong(d);
    tl_free_tcp_pong(NULL);
    assert_null(tl_decode_tcp_ping(b.data, b.len, 0, &err));
    assert_string_equal(err.msg, "tl decode: expected tcp.ping, got tcp.pong");
    b.len--;
    assert_null(tl_decode_tcp_pong(b.data, b.len, 0, &err));
    assert_non_null(strstr(err.msg, "truncated"));
    cc_buf_free(&b);
}

static void test_equal_is_structural(void **state)
{
    tl_proxy_queryAnswerPartEx a = TL_INIT(proxy_queryAnswerPartEx);
    tl_proxy_queryAnswerPartEx b = TL_INIT(proxy_queryAnswerPartEx);
    a.answer = tl_str("xy");
    b.answer = tl_mem("xyz", 2);        /* other memory, same bytes */
    b.final_info.worker_start_time = 9; /* absent: flags bit 0 clear */
    assert_true(tl_obj_equal(&a.hdr, &b.hdr));
    a.flags = b.flags = 1;
    assert_true(tl_obj_equal(&a.hdr, &b.hdr));   /* final info present, its times not */
    a.final_info.flags = b.final_info.flags = 2; /* times present now */
    assert_false(tl_obj_equal(&a.hdr, &b.hdr));
    a.final_info.worker_start_time = 9;
    assert_true(tl_obj_equal(&a.hdr, &b.hdr));
    a.request_id.b[31] = 1;
    assert_false(tl_obj_equal(&a.hdr, &b.hdr));
    tl_tcp_ping p = TL_INIT(tcp_ping);
    assert_false(tl_obj_equal(&a.hdr, &p.hdr));
    assert_false(tl_obj_equal(&p.hdr, NULL));
    assert_true(tl_obj_equal(NULL, NULL));
}

static void test_query_error_bytes(void **state)
{
    tl_tcp_queryError e = TL_INIT(tcp_queryError);
    e.id = -1;
    e.code = 621;
    e.message = tl_str("ab");
    static const uint8_t want[] = {0x02, 0xf6, 0xd2, 0x4c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0x6d, 0x02, 0x00, 0x00, 0x02, 'a',  'b',  0x00};
    expect_bytes(&e.hdr, want, sizeof(want));
    cc_err err = {0};
    tl_obj *d = tl_decode(want, sizeof(want), &err);
    tl_tcp_queryError *m = tl_as_tcp_queryError(d);
    assert_non_null(m);
    assert_string_equal((const char *)m->message.data, "ab"); /* NUL-terminated copy */
    tl_obj_free(d);
}

static void check_packet_len(size_t len, const uint8_t *hdr, size_t hdr_len, size_t pad)
{
    uint8_t *data = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i + 1);
    tl_tcp_packet p = TL_INIT(tcp_packet);
    p.data = tl_mem(data, len);
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(tl_encode(&p.hdr, &b, NULL), 0);
    assert_int_equal(b.len, 4 + hdr_len + len + pad);
    assert_memory_equal(b.data, "\xf8\xba\x17\x9c", 4);
    assert_memory_equal(b.data + 4, hdr, hdr_len);
    assert_memory_equal(b.data + 4 + hdr_len, data, len);
    for (size_t i = 0; i < pad; i++)
        assert_int_equal(b.data[4 + hdr_len + len + i], 0);
    cc_err err = {0};
    tl_obj *d = tl_decode(b.data, b.len, &err);
    assert_non_null(d);
    assert_int_equal(tl_as_tcp_packet(d)->data.len, len);
    assert_memory_equal(tl_as_tcp_packet(d)->data.data, data, len);
    tl_obj_free(d);
    cc_buf_free(&b);
    free(data);
}

static void test_bytes_length_forms_and_padding(void **state)
{
    check_packet_len(0, (const uint8_t *)"\x00", 1, 3);
    check_packet_len(3, (const uint8_t *)"\x03", 1, 0);
    check_packet_len(4, (const uint8_t *)"\x04", 1, 3);
    check_packet_len(253, (const uint8_t *)"\xfd", 1, 2);
    check_packet_len(254, (const uint8_t *)"\xfe\xfe\x00\x00", 4, 2);
    check_packet_len(300, (const uint8_t *)"\xfe\x2c\x01\x00", 4, 0);
    check_packet_len(70000, (const uint8_t *)"\xfe\x70\x11\x01", 4, 0);
}

static void test_query_answer_part_bytes(void **state)
{
    /* Field order, bare embedded constructors, flags and doubles. */
    tl_proxy_queryAnswerPartEx m = TL_INIT(proxy_queryAnswerPartEx);
    for (int i = 0; i < 32; i++)
        m.request_id.b[i] = (uint8_t)i;
    m.answer = tl_str("hi");
    m.flags = 1;
    m.final_info.flags = 3;
    m.final_info.tokens_used = (tl_tokensUsed){.prompt_tokens_used = 1,
                                               .cached_tokens_used = 2,
                                               .completion_tokens_used = 3,
                                               .reasoning_tokens_used = 4,
                                               .total_tokens_used = 5};
    m.final_info.worker_debug = tl_str("d");
    m.final_info.worker_start_time = 1.5;
    m.final_info.worker_end_time = 2.0;
    uint8_t want[4 + 32 + 4 + 4 + 4 + 40 + 4 + 16];
    uint8_t *p = want;
    memcpy(p, "\x0f\xb5\x85\x6d", 4), p += 4;
    for (int i = 0; i < 32; i++)
        *p++ = (uint8_t)i;
    memcpy(p, "\x02hi\x00", 4), p += 4;
    memcpy(p, "\x01\x00\x00\x00", 4), p += 4;
    memcpy(p, "\x03\x00\x00\x00", 4), p += 4;
    for (int i = 1; i <= 5; i++) {
        memset(p, 0, 8);
        p[0] = (uint8_t)i;
        p += 8;
    }
    memcpy(p,
           "\x01"
           "d\x00\x00",
           4),
        p += 4;
    memcpy(p, "\x00\x00\x00\x00\x00\x00\xf8\x3f", 8), p += 8;
    memcpy(p, "\x00\x00\x00\x00\x00\x00\x00\x40", 8), p += 8;
    assert_int_equal(p - want, sizeof(want));
    expect_bytes(&m.hdr, want, sizeof(want));

    cc_buf j = CC_BUF_INIT;
    tl_obj_dump(&m.hdr, &j, 0);
    cc_buf_append_u8(&j, 0);
    assert_string_equal(
        (const char *)j.data,
        "{\"@type\":\"proxy.queryAnswerPartEx\",\"request_id\":"
        "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\",\"answer\":\"hi\","
        "\"flags\":1,\"final_info\":{\"@type\":\"proxy.queryFinalInfo\",\"flags\":3,"
        "\"tokens_used\":{\"@type\":\"tokensUsed\",\"prompt_tokens_used\":1,"
        "\"cached_tokens_used\":2,\"completion_tokens_used\":3,\"reasoning_tokens_used\":4,"
        "\"total_tokens_used\":5},\"worker_debug\":\"d\",\"worker_start_time\":1.5,"
        "\"worker_end_time\":2}}");
    cc_buf_free(&j);

    /* Without bit 0 the final info is not on the wire at all. */
    m.flags = 0;
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(tl_encode(&m.hdr, &b, NULL), 0);
    assert_int_equal(b.len, 4 + 32 + 4 + 4);
    cc_buf_free(&b);
}

static void test_bool_boxed_and_bare_vector_bytes(void **state)
{
    tl_worker_proxyHandshakeComplete h = TL_INIT(worker_proxyHandshakeComplete);
    h.is_disabled = true;
    expect_bytes(&h.hdr, (const uint8_t *)"\x66\xb0\x43\xf8\xb5\x75\x72\x99", 8);
    h.is_disabled = false;
    expect_bytes(&h.hdr, (const uint8_t *)"\x66\xb0\x43\xf8\x37\x97\x79\xbc", 8);

    /* (vector http.header) is bare: a count, no 0x1cb5c415. */
    tl_http_header hdrs[1] = {{.name = tl_str("a"), .value = tl_str("b")}};
    tl_http_request r = TL_INIT(http_request);
    r.method = tl_str("GET");
    r.url = tl_str("/");
    r.http_version = tl_str("HTTP/1.1");
    r.headers.n = 1;
    r.headers.items = hdrs;
    static const uint8_t want[] = {0xe5, 0x2d, 0x49, 0x47, 3,   'G', 'E', 'T', 1, '/', 0, 0, 8, 'H',
                                   'T',  'T',  'P',  '/',  '1', '.', '1', 0,   0, 0,   1, 0, 0, 0,
                                   1,    'a',  0,    0,    1,   'b', 0,   0,   0, 0,   0, 0};
    expect_bytes(&r.hdr, want, sizeof(want));

    /* A boxed field carries its constructor id. */
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    tl_proxy_runQueryEx q = TL_INIT(proxy_runQueryEx);
    q.signed_payment = &empty.hdr;
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(tl_encode(&q.hdr, &b, NULL), 0);
    assert_int_equal(b.len, 4 + 4 + 4 + 8 + 8 + 32 + 4);
    assert_memory_equal(b.data + 8, "\x64\xce\x47\xb3", 4);
    cc_err err = {0};
    tl_obj *d = tl_decode(b.data, b.len, &err);
    assert_non_null(d);
    assert_non_null(tl_as_proxy_signedPaymentEmpty(tl_as_proxy_runQueryEx(d)->signed_payment));
    tl_obj_free(d);
    cc_buf_free(&b);
}

static void test_dump_escapes_and_cuts(void **state)
{
    tl_tcp_queryError e = TL_INIT(tcp_queryError);
    e.id = 7;
    e.message = tl_mem("a\"\\\n\xff"
                       "bcdef",
                       10);
    cc_buf j = CC_BUF_INIT;
    tl_obj_dump(&e.hdr, &j, 6);
    cc_buf_append_u8(&j, 0);
    assert_string_equal((const char *)j.data,
                        "{\"@type\":\"tcp.queryError\",\"id\":7,\"code\":0,"
                        "\"message\":\"a\\\"\\\\\\u000a\\u00ffb...(10 bytes)\"}");
    cc_buf_reset(&j);
    tl_proxy_runQueryEx q = TL_INIT(proxy_runQueryEx); /* NULL boxed field */
    tl_obj_dump(&q.hdr, &j, 0);
    cc_buf_append_u8(&j, 0);
    assert_non_null(strstr((const char *)j.data, "\"signed_payment\":null"));
    cc_buf_free(&j);
}

static void test_borrow_points_into_input(void **state)
{
    static const uint8_t in[] = {0xf8, 0xba, 0x17, 0x9c, 3, 'x', 'y', 'z'};
    cc_err err = {0};
    tl_obj *d = tl_decode_ex(in, sizeof(in), &(tl_decode_opts){.flags = TL_DECODE_BORROW}, &err);
    assert_non_null(d);
    assert_ptr_equal(tl_as_tcp_packet(d)->data.data, in + 5);
    tl_obj_free(d);
    d = tl_decode(in, sizeof(in), &err);
    assert_ptr_not_equal(tl_as_tcp_packet(d)->data.data, in + 5);
    assert_true(tl_bytes_eq_str(tl_as_tcp_packet(d)->data, "xyz"));
    char *s = tl_bytes_strdup(tl_as_tcp_packet(d)->data);
    assert_string_equal(s, "xyz");
    free(s);
    tl_obj_free(d);
}

/* ------------------------------------------------------- bad input */

static void expect_reject(const uint8_t *p, size_t n, const tl_decode_opts *opts,
                          const char *needle)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    cc_err err = {0};
    tl_obj *d = tl_decode_ex(copy, n, opts, &err);
    if (d) fail_msg("accepted input expected to fail with '%s'", needle);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
    free(copy);
}

static void test_rejects_malformed_input(void **state)
{
    expect_reject(NULL, 0, NULL, "truncated");
    expect_reject((const uint8_t *)"\x7c\x62", 2, NULL, "truncated");
    expect_reject((const uint8_t *)"\x78\x56\x34\x12", 4, NULL, "unknown constructor id 12345678");
    /* tcp.ping with one trailing byte. */
    expect_reject((const uint8_t *)"\x7c\x62\xe9\xbb\1\2\3\4\5\6\7\x8\x9", 13, NULL,
                  "1 trailing bytes after tcp.ping");
    /* tcp.packet claiming 16 MB with 4 bytes present. */
    expect_reject((const uint8_t *)"\xf8\xba\x17\x9c\xfe\xff\xff\xff\0\0\0\0", 12, NULL,
                  "tcp.packet.data: length 16777215 exceeds the remaining");
    expect_reject((const uint8_t *)"\xf8\xba\x17\x9c\x05"
                                   "abc",
                  8, NULL, "length 5 exceeds");
    expect_reject((const uint8_t *)"\xf8\xba\x17\x9c\xff\0\0\0", 8, NULL,
                  "invalid length byte 0xff");
    /* Bool that is neither boolTrue nor boolFalse. */
    expect_reject((const uint8_t *)"\x66\xb0\x43\xf8\x7c\x62\xe9\xbb", 8, NULL,
                  "worker.proxyHandshakeComplete.is_disabled: expected Bool");
    /* client.workerTypesV2 with a vector count of 2^31 - 1. */
    expect_reject((const uint8_t *)"\x67\xdc\xf0\x0c\xff\xff\xff\x7f", 8, NULL,
                  "client.workerTypesV2.types: vector count 2147483647 exceeds");
    /* proxy.runQueryEx whose signed_payment is a tcp.ping. */
    uint8_t q[64] = {0xe2, 0xe7, 0x05, 0xc8, 0, 0, 0, 0, 0x7c, 0x62, 0xe9, 0xbb};
    expect_reject(q, 4 + 4 + 4 + 8 + 8 + 32 + 4, NULL,
                  "proxy.runQueryEx.signed_payment: expected proxy.SignedPayment, got tcp.ping");
    /* A whole message of the wrong type. */
    expect_reject((const uint8_t *)"\x7c\x62\xe9\xbb\1\2\3\4\5\6\7\x8", 12,
                  &(tl_decode_opts){.expect_type = TL_TYPE_proxy_SignedPayment},
                  "expected proxy.SignedPayment, got tcp.ping");
    expect_reject((const uint8_t *)"\x72\x3d\x13\xb2", 4,
                  &(tl_decode_opts){.expect_type = TL_TYPE_client_WorkerTypesV2},
                  "got client.getWorkerTypesV2");
    expect_reject((const uint8_t *)"\x72\x3d\x13\xb2", 4, &(tl_decode_opts){.expect_type = 999},
                  "bad expected type");
}

static void test_rejects_deep_nesting(void **state)
{
    /* client.workerTypesV2 -> vector -> client.workerTypeV2 -> vector ->
     * client.workerInstanceV2: five levels. */
    tl_client_workerInstanceV2 inst = TL_INIT(client_workerInstanceV2);
    tl_client_workerTypeV2 type = TL_INIT(client_workerTypeV2);
    type.name = tl_str("m");
    type.workers.n = 1;
    type.workers.items = &inst;
    tl_client_workerTypesV2 types = TL_INIT(client_workerTypesV2);
    types.types.n = 1;
    types.types.items = &type;
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(tl_encode(&types.hdr, &b, NULL), 0);
    cc_err err = {0};
    tl_obj *d = tl_decode_ex(b.data, b.len, &(tl_decode_opts){.max_depth = 5}, &err);
    assert_non_null(d);
    tl_client_workerTypesV2 *t = tl_as_client_workerTypesV2(d);
    assert_int_equal(t->types.n, 1);
    assert_true(tl_bytes_eq_str(t->types.items[0].name, "m"));
    assert_int_equal(t->types.items[0].workers.n, 1);
    assert_int_equal(t->types.items[0].workers.items[0].hdr.id, TL_ID_client_workerInstanceV2);
    tl_obj_free(d);
    expect_reject(b.data, b.len, &(tl_decode_opts){.max_depth = 4}, "nesting deeper than 4");
    cc_buf_free(&b);
}

/* ------------------------------------------------------- bad objects */

static void expect_encode_fail(const tl_obj *o, const char *needle)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_append(&b, "keep", 4);
    cc_err err = {0};
    assert_int_equal(tl_encode(o, &b, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
    assert_int_equal(b.len, 4); /* unchanged */
    cc_buf_free(&b);
}

static void test_rejects_unencodable_objects(void **state)
{
    tl_proxy_runQueryEx q = TL_INIT(proxy_runQueryEx);
    expect_encode_fail(&q.hdr, "proxy.runQueryEx.signed_payment: missing value (NULL) of type "
                               "proxy.SignedPayment");
    tl_tcp_ping ping = TL_INIT(tcp_ping);
    q.signed_payment = &ping.hdr;
    expect_encode_fail(&q.hdr, "tcp.ping is not a constructor of proxy.SignedPayment");
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    q.signed_payment = &empty.hdr;
    q.query.len = 5; /* data NULL */
    expect_encode_fail(&q.hdr, "proxy.runQueryEx.query: NULL data with length 5");
    q.query = tl_mem("x", (size_t)1 << 24);
    expect_encode_fail(&q.hdr, "16777216 bytes exceed the TL limit");
    tl_obj bogus = {.id = 0x12345678};
    expect_encode_fail(&bogus, "unknown constructor id 12345678");
    expect_encode_fail(NULL, "missing value");
    tl_http_response r = TL_INIT(http_response);
    r.headers.n = 2;
    expect_encode_fail(&r.hdr, "http.response.headers: vector of 2 elements with NULL items");
    tl_obj_free(NULL);
    tl_obj_free(&ping.hdr); /* not a decode root: no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_match_cocoon),
        cmocka_unit_test(test_tcp_ping_bytes),
        cmocka_unit_test(test_typed_wrappers),
        cmocka_unit_test(test_equal_is_structural),
        cmocka_unit_test(test_query_error_bytes),
        cmocka_unit_test(test_bytes_length_forms_and_padding),
        cmocka_unit_test(test_query_answer_part_bytes),
        cmocka_unit_test(test_bool_boxed_and_bare_vector_bytes),
        cmocka_unit_test(test_dump_escapes_and_cuts),
        cmocka_unit_test(test_borrow_points_into_input),
        cmocka_unit_test(test_rejects_malformed_input),
        cmocka_unit_test(test_rejects_deep_nesting),
        cmocka_unit_test(test_rejects_unencodable_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
