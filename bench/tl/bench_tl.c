/* TL coding throughput on the streaming hot path: every token chunk a worker
 * sends is a proxy.queryAnswerPartEx that the proxy decodes and re-encodes as
 * client.queryAnswerPartEx. Prints one JSON line per operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl/tl.h"

typedef struct {
    const uint8_t *wire;
    size_t wire_len;
    tl_proxy_queryAnswerPartEx msg;
    cc_buf out;
    size_t sink;
} bench_ctx;

static void op_encode(bench_ctx *c)
{
    cc_buf_reset(&c->out);
    if (tl_encode(&c->msg.hdr, &c->out, NULL) != 0) abort();
    c->sink += c->out.len;
}

static void decode_with(bench_ctx *c, unsigned flags)
{
    tl_decode_opts opts = {.flags = flags};
    tl_obj *o = tl_decode_ex(c->wire, c->wire_len, &opts, NULL);
    if (!o) abort();
    c->sink += tl_as_proxy_queryAnswerPartEx(o)->answer.len;
    tl_obj_free(o);
}

static void op_decode_copy(bench_ctx *c)
{
    decode_with(c, 0);
}
static void op_decode_borrow(bench_ctx *c)
{
    decode_with(c, TL_DECODE_BORROW);
}

/* What the proxy does per chunk: decode (borrowing), re-wrap, encode. */
static void op_relay(bench_ctx *c)
{
    tl_decode_opts opts = {.flags = TL_DECODE_BORROW, .expect_type = TL_TYPE_proxy_QueryAnswerEx};
    tl_obj *o = tl_decode_ex(c->wire, c->wire_len, &opts, NULL);
    tl_proxy_queryAnswerPartEx *in = tl_as_proxy_queryAnswerPartEx(o);
    if (!in) abort();
    tl_client_queryAnswerPartEx out = TL_INIT(client_queryAnswerPartEx);
    out.request_id = in->request_id;
    out.answer = in->answer;
    out.flags = in->flags;
    cc_buf_reset(&c->out);
    if (tl_encode(&out.hdr, &c->out, NULL) != 0) abort();
    c->sink += c->out.len;
    tl_obj_free(o);
}

static void run(const char *name, void (*op)(bench_ctx *), bench_ctx *c, double seconds)
{
    for (int i = 0; i < 10000; i++) /* warm up */
        op(c);
    uint64_t n = 0, t0 = cc_now_mono_ns(), t1;
    do {
        for (int i = 0; i < 4096; i++)
            op(c);
        n += 4096;
        t1 = cc_now_mono_ns();
    } while ((double)(t1 - t0) < seconds * 1e9);
    double s = (double)(t1 - t0) / 1e9;
    printf("{\"bench\":\"tl\",\"op\":\"%s\",\"message\":\"proxy.queryAnswerPartEx\","
           "\"chunk_bytes\":128,\"wire_bytes\":%zu,\"messages\":%llu,\"seconds\":%.3f,"
           "\"msgs_per_s\":%.0f,\"mb_per_s\":%.1f,\"ns_per_msg\":%.1f}\n",
           name, c->wire_len, (unsigned long long)n, s, (double)n / s,
           (double)n * (double)c->wire_len / s / 1e6, s * 1e9 / (double)n);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    if (seconds <= 0) seconds = 0.5;
    static uint8_t chunk[128];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)('a' + i % 26);
    bench_ctx c = {.msg = TL_INIT(proxy_queryAnswerPartEx), .out = CC_BUF_INIT};
    memset(c.msg.request_id.b, 7, 32);
    c.msg.answer = tl_mem(chunk, sizeof(chunk));
    cc_buf wire = CC_BUF_INIT;
    if (tl_encode(&c.msg.hdr, &wire, NULL) != 0) return 1;
    c.wire = wire.data;
    c.wire_len = wire.len;
    run("encode", op_encode, &c, seconds);
    run("decode_copy", op_decode_copy, &c, seconds);
    run("decode_borrow", op_decode_borrow, &c, seconds);
    run("relay", op_relay, &c, seconds);
    cc_buf_free(&wire);
    cc_buf_free(&c.out);
    return c.sink == 0;
}
