/* Framing (length/seqno rules, incremental deframing) and tcp.Packet coding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "net/net.h"
#include "net/net_internal.h"
#include "net/tcp_codec.h"

static void put_header(uint8_t *p, uint32_t len, int32_t seqno)
{
    cc_store_u32le(p, len);
    cc_store_u32le(p + 4, (uint32_t)seqno);
}

static void test_header_rules(void **state)
{
    uint8_t h[8];
    uint32_t len = 0;
    cc_err err;
    put_header(h, 4, 0);
    assert_int_equal(net_frame_check_header(h, 0, &len, &err), 0);
    assert_int_equal(len, 4);
    put_header(h, 1u << 24, 7);
    assert_int_equal(net_frame_check_header(h, 7, &len, &err), 0);
    assert_int_equal(len, 1u << 24);
    put_header(h, (1u << 24) + 1, 0);
    assert_int_equal(net_frame_check_header(h, 0, &len, &err), -1);
    assert_int_equal(err.code, NET_ERR_PROTOCOL);
    put_header(h, 3, 0);
    assert_int_equal(net_frame_check_header(h, 0, &len, &err), -1);
    put_header(h, 0xffffffffu, 0);
    assert_int_equal(net_frame_check_header(h, 0, &len, &err), -1);
    put_header(h, 16, 1);
    assert_int_equal(net_frame_check_header(h, 0, &len, &err), -1);
    assert_non_null(strstr(err.msg, "seqno"));
    put_header(h, 16, -1);
    assert_int_equal(net_frame_check_header(h, -1, &len, &err), 0);
}

/* Three frames fed one byte at a time come out whole, in order, with seqno
 * advancing; a fourth with a repeated seqno is a violation. */
static void test_deframer_bytewise(void **state)
{
    uint8_t stream[256];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        uint32_t len = 4 + 4 * (uint32_t)i;
        put_header(stream + n, len, i);
        n += 8;
        for (uint32_t j = 0; j < len; j++)
            stream[n++] = (uint8_t)(i * 16 + j);
    }
    put_header(stream + n, 4, 2);
    n += 8;
    memset(stream + n, 0xaa, 4);
    n += 4;

    struct evbuffer *in = evbuffer_new();
    net_deframer d;
    net_deframer_init(&d);
    int got = 0, violations = 0;
    for (size_t i = 0; i < n && !violations; i++) {
        evbuffer_add(in, stream + i, 1);
        for (;;) {
            const uint8_t *p;
            size_t len;
            cc_err err;
            int r = net_deframer_next(&d, in, &p, &len, &err);
            if (r == 0) break;
            if (r < 0) {
                assert_int_equal(err.code, NET_ERR_PROTOCOL);
                violations++;
                break;
            }
            assert_int_equal(len, 4 + 4 * got);
            for (size_t j = 0; j < len; j++)
                assert_int_equal(p[j], got * 16 + j);
            net_deframer_consume(&d, in);
            got++;
        }
    }
    assert_int_equal(got, 3);
    assert_int_equal(violations, 1);
    assert_int_equal(d.seqno, 3);
    evbuffer_free(in);
}

/* A hostile length is refused as soon as its header is complete, without
 * waiting for (and buffering) the body. */
static void test_deframer_rejects_early(void **state)
{
    struct evbuffer *in = evbuffer_new();
    net_deframer d;
    net_deframer_init(&d);
    uint8_t h[8];
    put_header(h, (1u << 24) + 1, 0);
    evbuffer_add(in, h, 7);
    const uint8_t *p;
    size_t len;
    cc_err err;
    assert_int_equal(net_deframer_next(&d, in, &p, &len, &err), 0);
    evbuffer_add(in, h + 7, 1);
    assert_int_equal(net_deframer_next(&d, in, &p, &len, &err), -1);
    assert_non_null(strstr(err.msg, "length"));
    evbuffer_free(in);
}

/* A link's flat input queue as tls_read() and net_conn_on_input() use it:
 * frames written into its tail in pieces of every size come out whole and
 * in order through net_deframer_next_mem(); the bytes taken are dropped from
 * the front, the rest is kept (and moved down only when room is needed). */
static void test_fifo_deframing(void **state)
{
    enum { FRAMES = 40 };
    cc_buf stream = CC_BUF_INIT;
    for (int i = 0; i < FRAMES; i++) {
        uint32_t len = 4 + (uint32_t)(i * 997 % 20000); /* from 4 bytes to over 16 KiB */
        uint8_t h[8];
        put_header(h, len, i);
        cc_buf_append(&stream, h, 8);
        for (uint32_t j = 0; j < len; j++)
            cc_buf_append_u8(&stream, (uint8_t)(i + j));
    }
    static const size_t pieces[] = {1, 7, 300, 4096, 16384, 5};
    net_fifo in = {0};
    net_deframer d;
    net_deframer_init(&d);
    size_t fed = 0;
    int got = 0;
    for (size_t k = 0; fed < stream.len; k++) {
        size_t n = CC_MIN(pieces[k % CC_ARRAY_LEN(pieces)], stream.len - fed);
        memcpy(net_fifo_tail(&in, n), stream.data + fed, n);
        in.b.len += n;
        fed += n;
        for (;;) {
            const uint8_t *p;
            size_t len;
            cc_err err;
            int r =
                net_deframer_next_mem(&d, net_fifo_data(&in), net_fifo_len(&in), &p, &len, &err);
            assert_int_not_equal(r, -1);
            if (r == 0) break;
            assert_int_equal(len, 4 + (uint32_t)(got * 997 % 20000));
            for (size_t j = 0; j < len; j++)
                assert_int_equal(p[j], (uint8_t)(got + j));
            net_fifo_consume(&in, net_deframer_take(&d));
            got++;
        }
    }
    assert_int_equal(got, FRAMES);
    assert_int_equal(net_fifo_len(&in), 0);
    assert_int_equal(d.seqno, FRAMES);
    net_fifo_free(&in);
    cc_buf_free(&stream);
}

/* The output queue: bytes come out in order after partial sends, room at the
 * tail is made by moving the unsent rest down (never past what was sent),
 * and an emptied queue gives back a large block. */
static void test_fifo_queue(void **state)
{
    net_fifo out = {0};
    net_fifo_append(&out, "first", 5);
    net_fifo_append(&out, "second", 6);
    assert_int_equal(net_fifo_len(&out), 11);
    assert_memory_equal(net_fifo_data(&out), "firstsecond", 11);
    net_fifo_consume(&out, 5);
    assert_memory_equal(net_fifo_data(&out), "second", 6);
    /* 5 bytes sent, 6 left: not worth moving yet; the block grows instead */
    size_t cap = out.b.cap;
    uint8_t *t = net_fifo_tail(&out, cap);
    assert_int_equal(out.off, 5);
    assert_ptr_equal(t, out.b.data + out.b.len);
    net_fifo_consume(&out, 3); /* 8 sent, 3 left: moved down when room is needed */
    (void)net_fifo_tail(&out, out.b.cap - out.b.len + 1);
    assert_int_equal(out.off, 0);
    assert_int_equal(net_fifo_len(&out), 3);
    assert_memory_equal(net_fifo_data(&out), "ond", 3);
    net_fifo_consume(&out, 3);
    assert_int_equal(net_fifo_len(&out), 0);
    assert_int_equal(out.off, 0);
    assert_non_null(out.b.data); /* a small block is kept */

    size_t mib = (size_t)1 << 20;
    memset(net_fifo_tail(&out, mib), 7, mib);
    out.b.len += mib;
    net_fifo_consume(&out, mib);
    assert_null(out.b.data); /* a megabyte is not kept for the life of the link */
    net_fifo_free(&out);
}

static void roundtrip(const net_tcp_msg *m)
{
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(net_tcp_encode(&b, m, NULL), 0);
    assert_int_equal(b.len % 4, 0);
    net_tcp_msg d;
    assert_int_equal(net_tcp_decode(b.data, b.len, &d, NULL), 0);
    assert_int_equal(d.kind, m->kind);
    assert_int_equal(d.len, m->len);
    if (m->len) assert_memory_equal(d.data, m->data, m->len);
    if (m->kind != NET_TCP_PACKET) assert_int_equal(d.id, m->id);
    if (m->kind == NET_TCP_QUERY_ERROR) {
        assert_int_equal(d.code, m->code);
        assert_string_equal(d.message, m->message);
    }
    net_tcp_msg_free(&d);
    /* truncated and trailing input are rejected */
    cc_err err;
    assert_int_equal(net_tcp_decode(b.data, b.len - 1, &d, &err), -1);
    assert_int_equal(err.code, NET_ERR_PROTOCOL);
    net_tcp_msg_free(&d);
    cc_buf_append(&b, "\0\0\0\0", 4);
    assert_int_equal(net_tcp_decode(b.data, b.len, &d, &err), -1);
    net_tcp_msg_free(&d);
    cc_buf_free(&b);
}

static void test_codec(void **state)
{
    uint8_t big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    net_tcp_msg msgs[] = {
        {.kind = NET_TCP_PING, .id = 0x0102030405060708ull},
        {.kind = NET_TCP_PONG, .id = 1},
        {.kind = NET_TCP_CONNECT, .id = ~0ull},
        {.kind = NET_TCP_CONNECTED, .id = 42},
        {.kind = NET_TCP_PACKET, .data = big, .len = 0},
        {.kind = NET_TCP_PACKET, .data = big, .len = 253},
        {.kind = NET_TCP_PACKET, .data = big, .len = 254},
        {.kind = NET_TCP_QUERY, .id = 9, .data = big, .len = 1000},
        {.kind = NET_TCP_QUERY_ANSWER, .id = 10, .data = big, .len = 3},
        {.kind = NET_TCP_QUERY_ERROR,
         .id = 11,
         .code = 652,
         .message = "timeout",
         .message_len = 7},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(msgs); i++)
        roundtrip(&msgs[i]);
}

/* Bytes on the wire for tcp.ping id=1 and tcp.packet "abc" (ids from DESIGN §4.2). */
static void test_codec_wire_bytes(void **state)
{
    cc_buf b = CC_BUF_INIT;
    net_tcp_msg ping = {.kind = NET_TCP_PING, .id = 1};
    assert_int_equal(net_tcp_encode(&b, &ping, NULL), 0);
    const uint8_t want_ping[] = {0x7c, 0x62, 0xe9, 0xbb, 1, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(b.len, sizeof want_ping);
    assert_memory_equal(b.data, want_ping, sizeof want_ping);
    cc_buf_reset(&b);
    net_tcp_msg pk = {.kind = NET_TCP_PACKET, .data = (const uint8_t *)"abc", .len = 3};
    assert_int_equal(net_tcp_encode(&b, &pk, NULL), 0);
    const uint8_t want_pk[] = {0xf8, 0xba, 0x17, 0x9c, 3, 'a', 'b', 'c'};
    assert_int_equal(b.len, sizeof want_pk);
    assert_memory_equal(b.data, want_pk, sizeof want_pk);
    cc_buf_free(&b);

    /* an id of another type (boolTrue) and an unknown id are rejected */
    net_tcp_msg d;
    const uint8_t bool_true[] = {0xb5, 0x75, 0x72, 0x99};
    assert_int_equal(net_tcp_decode(bool_true, 4, &d, NULL), -1);
    net_tcp_msg_free(&d);
    const uint8_t unknown[] = {1, 2, 3, 4, 0, 0, 0, 0};
    assert_int_equal(net_tcp_decode(unknown, 8, &d, NULL), -1);
    net_tcp_msg_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_rules),
        cmocka_unit_test(test_deframer_bytewise),
        cmocka_unit_test(test_deframer_rejects_early),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_codec_wire_bytes),
        cmocka_unit_test(test_fifo_deframing),
        cmocka_unit_test(test_fifo_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
