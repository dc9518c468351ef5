/*
 * cocoon-net-bench: figures for the net transport, one JSON object per line.
 *   - PoW: solve time at difficulty 20 and the raw hash rate of the solver;
 *   - TLS link on loopback (server in a forked child, so each end has its own
 *     core): frames/s and MB/s of one-way tcp.packet at 128 B and 16 KiB,
 *     query round-trip latency, and connection set-up time.
 * usage: cocoon-net-bench [--quick]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto/crypto.h"
#include "net/net.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_pow(int runs)
{
    double total = 0, lo = 1e9, hi = 0;
    for (int i = 0; i < runs; i++) {
        uint8_t salt[16];
        crypto_random(salt, 16);
        int64_t n = 0;
        double t0 = cc_now_mono();
        while (!net_pow_search(salt, 20, &n, 1u << 15)) {
        }
        double dt = cc_now_mono() - t0;
        total += dt;
        lo = CC_MIN(lo, dt);
        hi = CC_MAX(hi, dt);
    }
    printf("{\"bench\":\"net_pow_solve\",\"difficulty\":20,\"runs\":%d,\"mean_ms\":%.1f,"
           "\"min_ms\":%.1f,\"max_ms\":%.1f}\n",
           runs, total / runs * 1e3, lo * 1e3, hi * 1e3);
    uint8_t salt[16] = {0};
    int64_t n = 0;
    uint64_t tries = 1u << 22;
    double t0 = cc_now_mono();
    net_pow_search(salt, 64, &n, tries); /* difficulty 64: never found, pure hashing */
    double dt = cc_now_mono() - t0;
    printf(
        "{\"bench\":\"net_pow_hash_rate\",\"hashes_per_s\":%.0f,\"expected_solve_ms_d20\":%.1f}\n",
        (double)tries / dt, (double)(1u << 20) / ((double)tries / dt) * 1e3);
    fflush(stdout);
}

/* ------------------------------------------------------------ server */

typedef struct {
    struct event_base *base;
    uint64_t packets;
} server;

static void srv_packet(net_conn *c, void *ud, const uint8_t *d, size_t n)
{
    ((server *)ud)->packets++;
}

static void srv_query(net_conn *c, void *ud, uint64_t qid, const uint8_t *d, size_t n)
{
    uint8_t out[8];
    cc_store_u64le(out, ((server *)ud)->packets);
    net_conn_answer(c, qid, out, 8, NULL);
}

static void srv_close(net_conn *c, void *ud, const char *reason) {}

static void srv_accept(net_listener *l, net_conn *c, void *ud)
{
    static const net_conn_callbacks cbs = {NULL, srv_packet, srv_query, srv_close};
    net_conn_set_callbacks(c, &cbs, ud);
}

static void run_server(int port_pipe, const net_tls_identity *id)
{
    server s = {.base = event_base_new()};
    net_listen_config lc = {.host = "127.0.0.1",
                            .pow_difficulty = 0,
                            .identity = *id,
                            .verify = {net_verify_accept_any, NULL, NULL},
                            .on_accept = srv_accept,
                            .ud = &s};
    cc_err err;
    net_listener *l = net_listen(s.base, &lc, &err);
    uint16_t port = l ? net_listener_port(l) : 0;
    if (write(port_pipe, &port, sizeof port) != sizeof port || !l) _exit(1);
    close(port_pipe);
    event_base_dispatch(s.base); /* until the parent kills us */
    _exit(0);
}

/* ------------------------------------------------------------ client */

typedef struct {
    struct event_base *base;
    bool ready, closed, answered;
    uint64_t answer_count;
    uint64_t counted_before; /* packets the server counted in earlier rounds */
} client;

static void cli_ready(net_conn *c, void *ud)
{
    ((client *)ud)->ready = true;
}
static void cli_close(net_conn *c, void *ud, const char *reason)
{
    fprintf(stderr, "net-bench: connection closed: %s\n", reason);
    ((client *)ud)->closed = true;
}

static void cli_answer(net_conn *c, void *ud, int32_t code, const char *msg, const uint8_t *d,
                       size_t n)
{
    client *cl = ud;
    cl->answered = true;
    cl->answer_count = (code == 0 && n == 8) ? cc_load_u64le(d) : 0;
}

static void loop_until(client *cl, bool *flag)
{
    while (!*flag && !cl->closed)
        event_base_loop(cl->base, EVLOOP_ONCE);
}

static net_conn *dial(client *cl, uint16_t port, const net_tls_identity *id)
{
    static const net_conn_callbacks cbs = {cli_ready, NULL, NULL, cli_close};
    net_connect_config cc = {.host = "127.0.0.1",
                             .port = port,
                             .identity = *id,
                             .verify = {net_verify_accept_any, NULL, NULL},
                             .cbs = cbs,
                             .ud = cl};
    cl->ready = cl->closed = false;
    cc_err err;
    net_conn *c = net_connect(cl->base, &cc, &err);
    if (!c) {
        fprintf(stderr, "net-bench: %s\n", err.msg);
        exit(1);
    }
    loop_until(cl, &cl->ready);
    if (!cl->ready) exit(1);
    return c;
}

/* Sends `count` packets of `size` bytes, then a query that the server answers
 * with how many it got: the answer arrives after all of them were handled. */
static void bench_packets(client *cl, net_conn *c, size_t size, uint64_t count)
{
    uint8_t *payload = malloc(size);
    memset(payload, 0xab, size);
    net_conn_stats st0;
    net_conn_get_stats(c, &st0);
    double t0 = cc_now_mono();
    uint64_t sent = 0;
    while (sent < count) {
        /* keep the send queue bounded, as the proxy does when relaying */
        while (sent < count && net_conn_output_pending(c) < (1u << 20)) {
            if (net_conn_send_packet(c, payload, size, NULL) < 0) exit(1);
            sent++;
        }
        event_base_loop(cl->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    cl->answered = false;
    net_conn_query(c, "n", 1, 60, cli_answer, cl, NULL, NULL);
    loop_until(cl, &cl->answered);
    double dt = cc_now_mono() - t0;
    net_conn_stats st1;
    net_conn_get_stats(c, &st1);
    printf("{\"bench\":\"net_tls_packets\",\"payload_bytes\":%zu,\"frames\":%llu,"
           "\"server_counted\":%llu,\"seconds\":%.3f,\"frames_per_s\":%.0f,"
           "\"payload_mb_per_s\":%.1f,\"wire_mb_per_s\":%.1f}\n",
           size, (unsigned long long)count,
           (unsigned long long)(cl->answer_count - cl->counted_before), dt, (double)count / dt,
           (double)count * (double)size / dt / 1e6,
           (double)(st1.bytes_out - st0.bytes_out) / dt / 1e6);
    cl->counted_before = cl->answer_count;
    fflush(stdout);
    free(payload);
}

static void bench_rtt(client *cl, net_conn *c, int n)
{
    double *lat = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) {
        cl->answered = false;
        double t0 = cc_now_mono();
        net_conn_query(c, "q", 1, 10, cli_answer, cl, NULL, NULL);
        loop_until(cl, &cl->answered);
        lat[i] = cc_now_mono() - t0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf("{\"bench\":\"net_query_rtt\",\"queries\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", n,
           lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6);
    fflush(stdout);
    free(lat);
}

static void bench_connect(client *cl, uint16_t port, const net_tls_identity *id, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        double t0 = cc_now_mono();
        net_conn *c = dial(cl, port, id);
        total += cc_now_mono() - t0;
        net_conn_close(c, "bench");
    }
    printf("{\"bench\":\"net_connect\",\"pow_difficulty\":0,\"runs\":%d,\"mean_ms\":%.2f}\n", n,
           total / n * 1e3);
    fflush(stdout);
}

static const cc_opt options[] = {
    {"--quick", NULL, "fewer runs (a smoke test of the benchmark, not figures)", NULL},
    {"--version", NULL, "print the version and exit", NULL},
};

int main(int argc, char **argv)
{
    cc_args a;
    cc_err err = {0};
    if (cc_args_parse(options, CC_ARRAY_LEN(options), argc - 1, argv + 1, &a, &err) < 0 ||
        (a.n_pos > 0 && cc_err_set(&err, "unexpected argument \"%s\"", a.pos[0]))) {
        fprintf(stderr, "cocoon-net-bench: %s (--help lists the options)\n", err.msg);
        return 2;
    }
    if (a.help) {
        printf("usage: cocoon-net-bench [OPTIONS]\n"
               "Proof-of-work and TLS link figures on loopback, one JSON object per line.\n\n");
        cc_args_usage(stdout, options, CC_ARRAY_LEN(options));
        return 0;
    }
    if (cc_args_flag(&a, "--version")) {
        printf("cocoon-net-bench %s\n", COCOON_VERSION);
        return 0;
    }
    bool quick = cc_args_flag(&a, "--quick");
    cc_log_init("net-bench", CC_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    bench_pow(quick ? 3 : 8);

    net_tls_identity sid, cid;
    if (net_tls_identity_self_signed("bench-server", &sid, NULL) < 0 ||
        net_tls_identity_self_signed("bench-client", &cid, NULL) < 0)
        return 1;
    int pfd[2];
    if (pipe(pfd) < 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        run_server(pfd[1], &sid);
    }
    close(pfd[1]);
    uint16_t port = 0;
    if (read(pfd[0], &port, sizeof port) != sizeof port || !port) {
        fprintf(stderr, "net-bench: server did not start\n");
        return 1;
    }
    close(pfd[0]);

    client cl = {.base = event_base_new()};
    net_conn *c = dial(&cl, port, &cid);
    bench_packets(&cl, c, 128, quick ? 200000 : 1000000);
    bench_packets(&cl, c, 16384, quick ? 5000 : 40000);
    bench_rtt(&cl, c, quick ? 500 : 5000);
    net_conn_close(c, "bench done");
    bench_connect(&cl, port, &cid, quick ? 20 : 100);

    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    event_base_free(cl.base);
    net_tls_identity_free(&sid);
    net_tls_identity_free(&cid);
    return 0;
}
