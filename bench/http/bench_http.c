/*
 * HTTP layer figures (JSON lines), against a running cocoon-fake-backend:
 *   - streamed completions straight through the libcurl client (baseline);
 *   - the same through the openai-http worker backend (body rewrite, usage
 *     reading, header filtering) — the ratio is the backend's own cost;
 *   - usage accounting throughput over an SSE stream (the worker's scanner)
 *     and the client's filter of the usage-only event.
 * usage: bench_http PORT SECONDS CONCURRENCY | bench_http parsers SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http/http.h"
#include "openai/openai.h"
#include "worker/backend.h"

static const char BODY[] = "{\"model\":\"bench-model\",\"stream\":true,\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"hi\"}]}";

typedef struct bench {
    struct event_base *base;
    http_client *cli;
    worker_backend *be;
    char url[128];
    double end;
    long done, failed, in_flight;
    size_t bytes;
    double *lat;
    size_t n_lat, cap_lat;
} bench;

typedef struct one {
    bench *b;
    double t0;
} one;

static void record(bench *b, double t0, bool ok)
{
    if (!ok) b->failed++;
    b->done++;
    if (b->n_lat == b->cap_lat) {
        b->cap_lat = b->cap_lat ? b->cap_lat * 2 : 4096;
        b->lat = cc_realloc(b->lat, b->cap_lat * sizeof(double));
    }
    b->lat[b->n_lat++] = cc_now_mono() - t0;
}

/* -------------------------------------------------------- direct client */

static void start_direct(bench *b);

static void d_body(void *ud, const uint8_t *d, size_t n)
{
    ((one *)ud)->b->bytes += n;
}

static void d_done(void *ud, http_client_result res, const char *err)
{
    one *o = ud;
    bench *b = o->b;
    record(b, o->t0, res == HTTP_CLIENT_OK);
    free(o);
    b->in_flight--;
    if (cc_now_mono() < b->end)
        start_direct(b);
    else if (b->in_flight == 0)
        event_base_loopbreak(b->base);
}

static void start_direct(bench *b)
{
    static const http_client_callbacks cb = {NULL, d_body, d_done};
    http_header h = {"Content-Type", "application/json"};
    http_client_request req = {"POST", b->url, &h, 1, BODY, strlen(BODY), 30};
    one *o = cc_calloc(1, sizeof(*o));
    o->b = b;
    o->t0 = cc_now_mono();
    b->in_flight++;
    http_client_start(b->cli, &req, &cb, o, NULL);
}

/* ------------------------------------------------------ through backend */

static void start_backend(bench *b);

static void b_body(void *ud, const uint8_t *d, size_t n)
{
    ((one *)ud)->b->bytes += n;
}

static void b_done(void *ud, const backend_usage *u, int code, const char *err)
{
    one *o = ud;
    bench *b = o->b;
    record(b, o->t0, code == 0 && u->completion_tokens > 0);
    free(o);
    b->in_flight--;
    if (cc_now_mono() < b->end)
        start_backend(b);
    else if (b->in_flight == 0)
        event_base_loopbreak(b->base);
}

static void start_backend(bench *b)
{
    static const backend_callbacks cb = {NULL, b_body, b_done};
    backend_http_request req = {
        "POST", "/v1/chat/completions", NULL, 0, (const uint8_t *)BODY, strlen(BODY), 1000, 30};
    one *o = cc_calloc(1, sizeof(*o));
    o->b = b;
    o->t0 = cc_now_mono();
    b->in_flight++;
    backend_call *call;
    b->be->ops->start(b->be, &req, &cb, o, &call, NULL);
}

/* --------------------------------------------------------------- report */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double report(bench *b, const char *name, double secs, int conc)
{
    qsort(b->lat, b->n_lat, sizeof(double), cmp_double);
    double p50 = b->n_lat ? b->lat[b->n_lat / 2] : 0;
    double p99 = b->n_lat ? b->lat[(size_t)((double)b->n_lat * 0.99)] : 0;
    double rps = (double)b->done / secs;
    printf("{\"bench\":\"http\",\"figure\":\"%s\",\"requests_per_s\":%.0f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"mb_per_s\":%.1f,\"failed\":%ld,\"concurrency\":%d}\n",
           name, rps, p50 * 1e3, p99 * 1e3, (double)b->bytes / secs / 1e6, b->failed, conc);
    fflush(stdout);
    b->done = b->failed = 0;
    b->bytes = 0;
    b->n_lat = 0;
    return rps;
}

/* 50 chat chunks of 128 content bytes, the usage-only event and [DONE], as
 * a backend streams them; ends[i] is where event i ends. */
static size_t bench_stream(cc_buf *s, size_t *ends)
{
    size_t n = 0;
    for (int i = 0; i < 50; i++) {
        cc_buf_append_str(s, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\","
                             "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
        for (int j = 0; j < 128; j++)
            cc_buf_append_u8(s, (uint8_t)('a' + (i + j) % 26));
        cc_buf_append_str(s, "\"},\"finish_reason\":null}]}\n\n");
        ends[n++] = s->len;
    }
    cc_buf_append_str(s, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
                         "\"completion_tokens\":50,\"total_tokens\":59}}\n\n");
    ends[n++] = s->len;
    cc_buf_append_str(s, "data: [DONE]\n\n");
    ends[n++] = s->len;
    return n;
}

/* The worker's usage scanner over a whole stream. */
static void bench_usage_parser(double secs)
{
    cc_buf s = CC_BUF_INIT;
    size_t ends[64];
    bench_stream(&s, ends);
    double t0 = cc_now_mono(), t;
    long n = 0;
    openai_usage u;
    do {
        for (int k = 0; k < 100; k++) {
            openai_usage_scanner p;
            openai_usage_scanner_init(&p, OPENAI_USAGE_SSE);
            openai_usage_scanner_feed(&p, s.data, s.len);
            if (!openai_usage_scanner_result(&p, &u) || u.completion_tokens != 50) abort();
        }
        n += 100;
        t = cc_now_mono() - t0;
    } while (t < secs);
    printf("{\"bench\":\"http\",\"figure\":\"usage_parser_sse\",\"mb_per_s\":%.0f,"
           "\"streams_per_s\":%.0f,\"stream_bytes\":%zu}\n",
           (double)s.len * (double)n / t / 1e6, (double)n / t, s.len);
    cc_buf_free(&s);
}

/* The client's filter of the usage-only event, fed one event per call as the
 * client receives a stream's parts. */
static void bench_sse_filter(double secs)
{
    cc_buf s = CC_BUF_INIT, out = CC_BUF_INIT;
    size_t ends[64];
    size_t n_ev = bench_stream(&s, ends);
    double t0 = cc_now_mono(), t;
    long n = 0;
    do {
        for (int k = 0; k < 100; k++) {
            openai_sse_filter *f = openai_sse_filter_new();
            cc_buf_reset(&out);
            for (size_t e = 0, from = 0; e < n_ev; from = ends[e++])
                openai_sse_filter_feed(f, s.data + from, ends[e] - from, &out);
            openai_sse_filter_finish(f, &out);
            if (openai_sse_filter_dropped(f) != 1) abort();
            openai_sse_filter_free(f);
        }
        n += 100;
        t = cc_now_mono() - t0;
    } while (t < secs);
    printf("{\"bench\":\"http\",\"figure\":\"sse_filter\",\"mb_per_s\":%.0f,"
           "\"streams_per_s\":%.0f,\"stream_bytes\":%zu}\n",
           (double)s.len * (double)n / t / 1e6, (double)n / t, s.len);
    cc_buf_free(&s);
    cc_buf_free(&out);
}

/* ------------------------------------------- server mode (for wrk) */

typedef struct serve_ctx {
    char events[50][320];
    size_t lens[50];
} serve_ctx;

/* Relays 50 SSE events one write each, the way the client daemon relays the
 * parts it gets from the network. */
static void serve_completion(http_req *r, void *ud)
{
    serve_ctx *sc = ud;
    http_stream_start(r, 200, "text/event-stream");
    for (int i = 0; i < 50; i++)
        http_stream_write(r, sc->events[i], sc->lens[i]);
    http_stream_write(r, "data: [DONE]\n\n", 14);
    http_stream_end(r);
}

static int serve(void)
{
    static serve_ctx sc;
    for (int i = 0; i < 50; i++) {
        int n = snprintf(sc.events[i], sizeof(sc.events[i]),
                         "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":"
                         "[{\"index\":0,\"delta\":{\"content\":\"");
        for (int j = 0; j < 128; j++)
            sc.events[i][n++] = (char)('a' + (i + j) % 26);
        n += snprintf(sc.events[i] + n, sizeof(sc.events[i]) - (size_t)n, "\"}}]}\n\n");
        sc.lens[i] = (size_t)n;
    }
    struct event_base *base = event_base_new();
    http_server_config cfg = {.port = 0};
    http_server *srv = http_server_new(base, &cfg, NULL);
    http_server_route(srv, "POST", "/v1/chat/completions", serve_completion, &sc);
    printf("listening %d\n", http_server_port(srv));
    fflush(stdout);
    event_base_dispatch(base);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
    if (argc == 3 && strcmp(argv[1], "parsers") == 0) { /* no server needed */
        bench_usage_parser(atof(argv[2]));
        bench_sse_filter(atof(argv[2]));
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: bench_http PORT SECONDS CONCURRENCY\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double secs = atof(argv[2]);
    int conc = atoi(argv[3]);
    cc_log_init("bench", CC_LOG_WARN);
    bench b = {0};
    b.base = event_base_new();
    b.cli = http_client_new(b.base, NULL, NULL);
    snprintf(b.url, sizeof(b.url), "http://127.0.0.1:%d/v1/chat/completions", port);

    b.end = cc_now_mono() + secs;
    for (int i = 0; i < conc; i++)
        start_direct(&b);
    event_base_dispatch(b.base);
    double direct = report(&b, "client_direct_stream", secs, conc);

    char base_url[64];
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", port);
    backend_openai_http_config cfg = {
        .url = base_url, .model = "bench-model", .health_interval = 60};
    b.be = backend_openai_http_new(b.base, &cfg, NULL);
    b.end = cc_now_mono() + secs;
    for (int i = 0; i < conc; i++)
        start_backend(&b);
    event_base_dispatch(b.base);
    double via = report(&b, "openai_http_backend_stream", secs, conc);
    printf("{\"bench\":\"http\",\"figure\":\"backend_vs_direct\",\"ratio\":%.3f}\n",
           direct > 0 ? via / direct : 0);

    bench_usage_parser(secs / 2);
    bench_sse_filter(secs / 2);
    b.be->ops->destroy(b.be);
    http_client_free(b.cli);
    event_base_free(b.base);
    free(b.lat);
    return 0;
}
